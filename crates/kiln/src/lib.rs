//! kiln renders Kubernetes release bundles: a release (manifests, templates, kustomize
//! overlays, image versions, patches and WASM plugins) goes in; deterministic,
//! ready-to-apply manifests come out.
//!
//! Plugins are [KRM functions] compiled to WASI preview 1, pinned by sha256 and run
//! in-process in a wasmtime sandbox. Renders are cached by the content hash of everything
//! they read, so a release whose inputs did not change costs a hash and a read.
//!
//! ```no_run
//! # fn main() -> Result<(), kiln::Error> {
//! // One engine per process: it keeps compiled plugins warm and owns the cache.
//! let engine = kiln::Engine::builder()
//!     .cache_dir("/tmp/kiln-cache")
//!     .build()?;
//!
//! // Load a release (a `release.yaml`, or a folder holding one) and render it.
//! let release = kiln::Release::load("examples/releases/acme-prod")?;
//! let rendered = engine.render(&release)?;
//! println!("{}", rendered.yaml());
//! eprintln!("key {:?}, from cache: {}", rendered.key(), rendered.cache_hit());
//!
//! // Render a fleet in parallel: one result per release, a failure does not stop the rest.
//! let releases = vec![release.clone(), kiln::Release::load("examples/releases/globex-prod")?];
//! for result in engine.render_all(&releases) {
//!     match result {
//!         Ok(r) => println!("{}: {} bytes", r.name(), r.yaml().len()),
//!         Err(e) => eprintln!("error: {e}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Core concepts
//!
//! - [`Engine`]: one per process, `Send + Sync`. Holds the plugin runtime (one wasmtime
//!   engine, each plugin compiled once per digest) and the render [`Cache`].
//! - [`Release`]: a `kiln.dev/v1alpha1` `Release` file, loaded once and checked strictly;
//!   immutable.
//! - [`Rendered`]: the output bytes of one release, its [`RenderKey`] and whether it came
//!   from the cache.
//! - Errors ([`Error`]) name their subject: the release, the file (line and column for
//!   YAML), the resource, the patch or the plugin with its digest.
//!
//! [KRM functions]: https://github.com/kubernetes-sigs/kustomize/blob/master/cmd/config/docs/api-conventions/functions-spec.md
#![deny(missing_docs)]

mod cache;
pub mod diff;
mod engine;
mod error;
mod input;
mod kustomize;
mod output;
mod overrides;
mod plugin;
mod release;
mod render;
mod resource;
mod shard;
mod template;
mod transform;
mod yaml;

pub use cache::{
    Bucket, Cache, Counters, FsStore, PruneReport, RenderKey, Stats, Store, VerifyReport,
};
pub use engine::{Engine, EngineBuilder, Progress, Rendered, default_cache_dir};
pub use error::{
    CacheError, Error, InputError, PatchError, PluginError, ReleaseError, Result, TemplateError,
    YamlError,
};
pub use kustomize::KustomizeError;
pub use output::write_if_changed;
pub use overrides::{Overrides, Param, ParamError};
pub use plugin::{
    Digest, Limits, ModuleInfo, PluginOutput, Runtime, RuntimeConfig, RuntimeStats, check_module,
};
pub use release::{RELEASE_FILE, Release, discover, parse_age, parse_size};
pub use resource::{ResId, Resource};
pub use shard::Shard;

/// Internals for benches and fuzz targets. Not a stable API.
#[cfg(feature = "unstable-internals")]
pub mod internals {
    /// Sorts resources in kustomize's default output order.
    pub fn sort_legacy(resources: &mut [crate::Resource]) {
        crate::resource::sort_legacy(resources)
    }

    pub use crate::transform::{ImageSpec, Patch, PatchBody, Target, apply_patch, parse_patches};

    /// Parses a YAML stream into resources.
    pub fn parse_resources(text: &str) -> Result<Vec<crate::Resource>, crate::YamlError> {
        crate::yaml::parse_resources(text, std::path::Path::new("input.yaml"))
    }

    /// Writes resources as a YAML stream.
    pub fn emit(resources: &[crate::Resource]) -> String {
        crate::yaml::emit_stream(resources)
    }

    /// Renders a template (with the fuel and recursion limits of a render) seeing `context`;
    /// `{% include %}` loads from `includes`, keyed by path.
    pub fn render_template(
        source: &str,
        context: serde_json::Value,
        includes: std::collections::BTreeMap<String, String>,
    ) -> Result<String, crate::Error> {
        let ctx = crate::template::Context {
            value: context,
            sensitive: Vec::new(),
        };
        crate::template::render(
            std::path::Path::new("t.yaml.j2"),
            source,
            &ctx,
            move |name| Ok(includes.get(name).cloned()),
        )
        .map_err(crate::Error::from)
    }

    /// Decodes a plugin's stdout (a `ResourceList`, YAML or JSON) into its items; the error
    /// is the reason the output is refused.
    pub fn decode_plugin_output(stdout: &[u8]) -> Result<Vec<crate::Resource>, String> {
        crate::plugin::krm::decode(stdout, &crate::plugin::krm::Provenance::of(&[]))
            .map(|d| d.items)
    }
}
