//! WASM plugins: KRM functions compiled to WASI preview 1 commands, run in-process in a
//! wasmtime sandbox.
//!
//! A plugin reads a `ResourceList` on stdin and writes the resulting one on stdout (see
//! DESIGN §3). [`Runtime`] holds one wasmtime engine, compiles each plugin once per
//! [`Digest`] (in memory, and on disk when it has a module cache folder) and runs every
//! call in a fresh store whose sandbox starts from nothing: no files, no environment, no
//! network, a fixed clock, seeded randomness, and the [`Limits`] of the call.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

mod compiled;
pub(crate) mod krm;
mod module;
mod runtime;
mod sandbox;

pub use module::{ModuleInfo, check_module};
pub use runtime::{Runtime, RuntimeConfig, RuntimeStats};

use crate::resource::Resource;

/// A sha256 pin of a plugin's wasm bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest(sha2::Sha256::digest(bytes).into())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, as error messages show a digest.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = String;
    /// 64 hex digits, optionally prefixed with `sha256:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s.strip_prefix("sha256:").unwrap_or(s);
        if hex_part.len() != 64 {
            return Err(format!(
                "a sha256 digest has 64 hex digits, `{s}` has {}",
                hex_part.len()
            ));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part.to_ascii_lowercase(), &mut out)
            .map_err(|_| format!("`{s}` is not a hex sha256 digest"))?;
        Ok(Digest(out))
    }
}

/// Sandbox limits of one plugin call. Each limit, when hit, fails the call with its own
/// [`PluginError`] variant that names the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall time of the call (default 10 s), measured in 10 ms epochs: past it the guest
    /// is interrupted and the call fails with [`PluginError::Timeout`].
    pub timeout: Duration,
    /// Linear memory (default 256 MiB, at most [`Limits::MAX_MEMORY`]): a `memory.grow`
    /// past it fails inside the guest, and a call that then fails is reported as
    /// [`PluginError::MemoryLimit`].
    pub memory: u64,
    /// Bytes of stdout (default 64 MiB): the guest is stopped on the write that would
    /// pass it, and the call fails with [`PluginError::OutputLimit`].
    pub stdout: usize,
    /// Bytes of stderr kept (default 64 KiB): the rest is dropped, never an error.
    pub stderr: usize,
}

impl Limits {
    /// The largest memory limit a plugin may ask for: 4 GiB, all a 32-bit wasm memory
    /// can address. A larger one is [`PluginError::LimitTooLarge`].
    pub const MAX_MEMORY: u64 = 4 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            memory: 256 << 20,
            stdout: 64 << 20,
            stderr: 64 << 10,
        }
    }
}

/// A plugin failure. Every variant names the plugin and its digest; a broken limit names
/// the limit.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The wasm is not a WASI preview 1 command module kiln can run: a component, no
    /// `_start`, an import the sandbox does not provide, or invalid wasm.
    #[error("{}: {reason}", Subject(plugin, digest))]
    NotCommand {
        /// Plugin name (empty when checking a bare file).
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// What is wrong with the module.
        reason: String,
    },
    /// A limit asks for more than the host allows.
    #[error("{}: memory limit of {} is over the maximum of {}", Subject(plugin, digest), Bytes(*limit), Bytes(*max))]
    LimitTooLarge {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// The limit asked for, in bytes.
        limit: u64,
        /// The largest allowed, in bytes.
        max: u64,
    },
    /// The call ran past its time limit.
    #[error(
        "{}: timed out after {limit:?} (time limit){}",
        Subject(plugin, digest),
        Stderr(stderr)
    )]
    Timeout {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// The time limit.
        limit: Duration,
        /// What the plugin wrote to stderr, truncated.
        stderr: String,
    },
    /// The plugin needed more linear memory than its limit.
    #[error("{}: ran out of memory: needed {} but the memory limit is {}{}", Subject(plugin, digest), Bytes(*requested), Bytes(*limit), Stderr(stderr))]
    MemoryLimit {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// The memory limit, in bytes.
        limit: u64,
        /// The memory size the refused growth asked for, in bytes.
        requested: u64,
        /// What the plugin wrote to stderr, truncated.
        stderr: String,
    },
    /// The plugin wrote more to stdout than its limit.
    #[error("{}: wrote more than the output limit of {} to stdout", Subject(plugin, digest), Bytes(*limit as u64))]
    OutputLimit {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// The stdout limit, in bytes.
        limit: usize,
    },
    /// The plugin overflowed its stack: the wasm call stack, or its own stack in linear
    /// memory (seen as an out-of-bounds access deep in a recursion).
    #[error("{}: stack overflow{}", Subject(plugin, digest), Stderr(stderr))]
    StackOverflow {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// What the plugin wrote to stderr, truncated.
        stderr: String,
    },
    /// The plugin exited with a non-zero code.
    #[error(
        "{}: exited with code {code}{}",
        Subject(plugin, digest),
        Stderr(stderr)
    )]
    Exit {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// The exit code.
        code: i32,
        /// What the plugin wrote to stderr, truncated.
        stderr: String,
    },
    /// The plugin trapped (a wasm trap other than the limits above, e.g. `unreachable`
    /// from a panic or an abort).
    #[error("{}: {message}{}", Subject(plugin, digest), Stderr(stderr))]
    Trap {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// The trap and the innermost wasm frames.
        message: String,
        /// What the plugin wrote to stderr, truncated.
        stderr: String,
    },
    /// The plugin's stdout is not a `ResourceList` of resources.
    #[error(
        "{}: output is not a ResourceList: {message}{}",
        Subject(plugin, digest),
        Stderr(stderr)
    )]
    BadOutput {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// What is wrong with the output.
        message: String,
        /// What the plugin wrote to stderr, truncated.
        stderr: String,
    },
    /// The plugin reported results with `severity: error` (or no severity).
    #[error("{}: reported {}:{}", Subject(plugin, digest), Count(results.len(), "error"), Lines(results))]
    Results {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// Each error result, as `error: <message> (Kind/name field <path>)`.
        results: Vec<String>,
    },
    /// The plugin runtime could not start (wasmtime or its epoch thread).
    #[error("cannot start the plugin runtime: {message}")]
    Start {
        /// What went wrong.
        message: String,
    },
    /// The host could not start the call (the engine refused to instantiate the module).
    #[error("{}: cannot start the plugin: {message}", Subject(plugin, digest))]
    Host {
        /// Plugin name.
        plugin: String,
        /// Its digest.
        digest: Digest,
        /// What went wrong.
        message: String,
    },
}

impl PluginError {
    /// The plugin name the error is about (empty for a bare module check or a runtime
    /// that did not start).
    pub fn plugin(&self) -> &str {
        match self {
            PluginError::Start { .. } => "",
            PluginError::NotCommand { plugin, .. }
            | PluginError::LimitTooLarge { plugin, .. }
            | PluginError::Timeout { plugin, .. }
            | PluginError::MemoryLimit { plugin, .. }
            | PluginError::OutputLimit { plugin, .. }
            | PluginError::StackOverflow { plugin, .. }
            | PluginError::Exit { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::BadOutput { plugin, .. }
            | PluginError::Results { plugin, .. }
            | PluginError::Host { plugin, .. } => plugin,
        }
    }

    /// The digest of the plugin the error is about (`None` for a runtime that did not
    /// start).
    pub fn digest(&self) -> Option<&Digest> {
        Some(match self {
            PluginError::Start { .. } => return None,
            PluginError::NotCommand { digest, .. }
            | PluginError::LimitTooLarge { digest, .. }
            | PluginError::Timeout { digest, .. }
            | PluginError::MemoryLimit { digest, .. }
            | PluginError::OutputLimit { digest, .. }
            | PluginError::StackOverflow { digest, .. }
            | PluginError::Exit { digest, .. }
            | PluginError::Trap { digest, .. }
            | PluginError::BadOutput { digest, .. }
            | PluginError::Results { digest, .. }
            | PluginError::Host { digest, .. } => digest,
        })
    }
}

/// "plugin `name` (sha256:0123456789ab)", or "module sha256:0123456789ab" without a name.
struct Subject<'a>(&'a str, &'a Digest);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            write!(f, "module sha256:{}", self.1.short())
        } else {
            write!(f, "plugin `{}` (sha256:{})", self.0, self.1.short())
        }
    }
}

/// Captured stderr after a failure: nothing when empty, else its lines indented.
struct Stderr<'a>(&'a str);

impl fmt::Display for Stderr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.trim_end();
        if text.is_empty() {
            return Ok(());
        }
        f.write_str("; stderr:")?;
        for line in text.lines() {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// One entry per line, indented.
struct Lines<'a>(&'a [String]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.0 {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// `1 error`, `3 errors`.
struct Count(usize, &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{s}", self.0, self.1)
    }
}

/// A byte count for messages: `64 MiB`, `512 KiB`, `1000 bytes`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n >= 1 << shift && n.is_multiple_of(1 << shift) {
                return write!(f, "{} {unit}", n >> shift);
            }
        }
        write!(f, "{n} bytes")
    }
}

/// One value of a plugin's `configMap:`, as the text it was written with: `3`, `0x1F`,
/// `true` and `1.50` are the strings `"3"`, `"0x1F"`, `"true"` and `"1.50"`, and an empty or
/// null value is `""`, as kpt reads a Kptfile's `configMap:` (a Go `map[string]string`
/// decoded by yaml.v3). A mapping or a sequence is an error naming the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfigMapText(pub(crate) String);

impl serde::Serialize for ConfigMapText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ConfigMapText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = ConfigMapText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (configMap values are strings)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ConfigMapText, E> {
                Ok(ConfigMapText(v.to_string()))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<ConfigMapText, E> {
                Ok(ConfigMapText(String::new()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<ConfigMapText, E> {
                Ok(ConfigMapText(String::new()))
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<ConfigMapText, D::Error> {
                // Asked for a string, the YAML reader hands over a scalar's text as written.
                d.deserialize_str(Text)
            }
        }
        d.deserialize_option(Text)
    }
}

/// A plugin's `configMap:` (in a release's plugin entry or a kustomize function's
/// annotation) as the `functionConfig` kpt functions expect: a `v1` ConfigMap named after
/// the plugin, holding the data.
pub(crate) fn config_map(
    plugin: &str,
    data: &std::collections::BTreeMap<String, ConfigMapText>,
) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.0.clone())))
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": plugin},
        "data": data,
    })
}

/// What a plugin call returned.
#[derive(Debug)]
pub struct PluginOutput {
    /// The resulting items.
    pub items: Vec<Resource>,
    /// Non-error results (warnings and infos), rendered as text, e.g.
    /// `warning: image is not pinned (Deployment/api field spec.template)`.
    pub messages: Vec<String>,
}

#[cfg(test)]
mod tests;
