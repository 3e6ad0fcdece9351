//! Write kiln plugins: [KRM functions] compiled to `wasm32-wasip1`.
//!
//! A plugin is a program that reads a `ResourceList` on stdin and writes one
//! on stdout. This crate does the reading, writing and error reporting, so a
//! whole plugin is a function over a [`ResourceList`]:
//!
//! ```no_run
//! use kiln_plugin::{KrmResult, ResourceList, annotations_mut, kind};
//! use serde::Deserialize;
//!
//! /// functionConfig: `{team: payments}`.
//! #[derive(Deserialize)]
//! struct Config {
//!     team: String,
//! }
//!
//! fn main() {
//!     kiln_plugin::run(add_owner)
//! }
//!
//! fn add_owner(rl: &mut ResourceList) -> kiln_plugin::Result<()> {
//!     let config: Config = rl.function_config()?;
//!     if config.team.is_empty() {
//!         return Err("`team` must not be empty".into());
//!     }
//!     let mut results = Vec::new();
//!     for item in &mut rl.items {
//!         if kind(item) == "Secret" {
//!             results.push(KrmResult::warning("secrets get no owner").resource(item));
//!             continue;
//!         }
//!         annotations_mut(item).insert("kiln.dev/owner".into(), config.team.clone().into());
//!     }
//!     rl.results.extend(results);
//!     Ok(())
//! }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip1`, pin the
//! `.wasm` by its sha256 and name it in a release's `plugins:`. The same
//! source built for the host is a kustomize exec KRM function.
//!
//! # What [`run`] does
//!
//! - reads all of stdin and parses a `ResourceList` from JSON (input starting
//!   with `{`, which is what kiln sends) or YAML;
//! - calls the function, then writes the list to stdout as one line of JSON
//!   with fields in their original order;
//! - turns an `Err` from the function, or a panic (with either panic
//!   strategy), into a `results` entry with `severity: error`;
//! - exits with code 1 when any result is an error, 0 otherwise.
//!
//! Config is typed with [`ResourceList::function_config`]. Items are
//! [`serde_json::Value`]s; [`kind`], [`name`], [`annotations_mut`] and
//! [`labels_mut`] cover the common cases.
//!
//! [KRM functions]: https://github.com/kubernetes-sigs/kustomize/blob/master/cmd/config/docs/api-conventions/functions-spec.md

#![deny(missing_docs)]

mod io;
mod resource_list;
mod results;

use std::fmt;

pub use resource_list::{
    API_VERSION, ResourceList, annotation, annotations_mut, api_version, kind, labels_mut, name,
    namespace, pod_spec_path,
};
pub use results::{Field, File, KrmResult, ResourceRef, Severity};

/// The version of this SDK.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The SDK version, stamped into every plugin as the wasm custom section
/// `kiln-plugin-sdk` so that `kiln plugin digest` can report it.
#[cfg(target_family = "wasm")]
#[allow(unsafe_code)] // `link_section` only names the section; nothing unsafe happens.
#[used]
#[unsafe(link_section = "kiln-plugin-sdk")]
static SDK_VERSION: [u8; VERSION.len()] = {
    let mut bytes = [0; VERSION.len()];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = VERSION.as_bytes()[i];
        i += 1;
    }
    bytes
};

/// Runs a plugin: reads stdin, calls `f`, writes stdout and exits.
///
/// Call it as the whole of `main`. An `Err` from `f`, or a panic, becomes an
/// error result; the process exits with 1 when any result is an error and 0
/// otherwise. See the [crate docs](crate) for an example.
pub fn run<F>(f: F) -> !
where
    F: FnOnce(&mut ResourceList) -> Result<()>,
{
    io::run(f)
}

/// The result of a plugin function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a plugin failed; becomes the message of an error result.
///
/// Anything that converts to a message converts to an `Error`, so `?` works
/// on strings, I/O, JSON and YAML errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::new(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::new(e.to_string())
    }
}

impl From<serde_yaml::Error> for Error {
    fn from(e: serde_yaml::Error) -> Self {
        Self::new(e.to_string())
    }
}
