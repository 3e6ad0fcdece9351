//! The engine: one per process, shared by every render.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::cache::{Cache, RenderKey, Subject};
use crate::error::{Error, InputError};
use crate::input::{FileMemo, Inputs, find_project_root};
use crate::overrides::Overrides;
use crate::plugin::{Runtime, RuntimeConfig};
use crate::release::Release;
use crate::render::ParseCache;
use crate::resource::Resource;

/// Renders releases. Build one per process with [`Engine::builder`] and share it: it is
/// `Send + Sync`, keeps compiled plugins warm, and owns the render cache.
pub struct Engine {
    runtime: Runtime,
    cache: Option<Cache>,
    pool: rayon::ThreadPool,
    memo: Arc<FileMemo>,
    parsed: ParseCache,
}

/// Configures an [`Engine`].
#[derive(Debug, Default, Clone)]
pub struct EngineBuilder {
    cache_dir: Option<PathBuf>,
    no_cache: bool,
    jobs: Option<usize>,
}

impl EngineBuilder {
    /// The cache folder (renders and compiled plugins). Default: `KILN_CACHE_DIR`, else the
    /// platform cache folder (`~/.cache/kiln` on Linux).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Renders without reading or writing the cache.
    pub fn no_cache(mut self, yes: bool) -> Self {
        self.no_cache = yes;
        self
    }

    /// How many releases render at once in [`Engine::render_all`]. Default: all cores.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = Some(jobs.max(1));
        self
    }

    /// Builds the engine: starts the plugin runtime and opens the cache.
    pub fn build(self) -> Result<Engine, Error> {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.or_else(default_cache_dir)
        };
        let memo = Arc::new(FileMemo::default());
        let cache = cache_dir.map(|dir| {
            let mut c = Cache::open(dir);
            c.set_memo(memo.clone());
            c
        });
        let runtime = Runtime::new(RuntimeConfig {
            module_cache_dir: cache.as_ref().map(|c| c.dir().to_path_buf()),
        })?;
        let threads = self.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kiln-render-{i}"))
            .build()
            .map_err(|e| InputError::Unsupported {
                path: PathBuf::from("."),
                message: format!("cannot start render threads: {e}"),
            })?;
        Ok(Engine {
            runtime,
            cache,
            pool,
            memo,
            parsed: ParseCache::default(),
        })
    }
}

/// The default cache folder: `KILN_CACHE_DIR`, else the platform cache folder.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("KILN_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("dev", "kiln", "kiln").map(|p| p.cache_dir().to_path_buf())
}

/// One rendered release: the output bytes, the render key and whether it came from the
/// cache.
#[derive(Clone, Debug)]
pub struct Rendered {
    name: String,
    yaml: Arc<str>,
    key: Option<RenderKey>,
    cache_hit: bool,
    warnings: Vec<String>,
    elapsed: Duration,
}

impl Rendered {
    /// The release name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The output: a multi-document YAML stream, ready to apply.
    pub fn yaml(&self) -> &str {
        &self.yaml
    }

    /// The rendered resources, parsed from the output.
    pub fn resources(&self) -> Result<Vec<Resource>, Error> {
        Ok(crate::yaml::parse_resources(
            &self.yaml,
            Path::new(&format!("{}.yaml", self.name)),
        )?)
    }

    /// The render key: a digest of everything the render read. `None` when the cache is off.
    pub fn key(&self) -> Option<&RenderKey> {
        self.key.as_ref()
    }

    /// Whether the output came from the cache.
    pub fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Warnings and infos reported by plugins. A cache hit gives back those of the render
    /// it stored.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How long the render took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// A step of [`Engine::render_all_with`], for progress reporting.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A release finished (successfully or not).
    Finished {
        /// Its index in the input slice.
        index: usize,
        /// The result.
        result: &'a Result<Rendered, Error>,
    },
}

impl Engine {
    /// A builder with the defaults: cache in the default folder, all cores.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The cache, when enabled.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// The plugin runtime.
    pub fn plugins(&self) -> &Runtime {
        &self.runtime
    }

    /// Loads a release like [`Release::load_with_root`]; with a cache, a release file whose
    /// bytes were loaded before is not parsed again (its schema-checked form is stored in
    /// the cache by content; every other check runs each time).
    pub fn load_release(
        &self,
        path: impl AsRef<Path>,
        root: Option<impl AsRef<Path>>,
    ) -> Result<Release, Error> {
        let root = root.as_ref().map(AsRef::as_ref);
        match &self.cache {
            Some(cache) => Release::load_cached(path.as_ref(), root, cache),
            None => Release::load_with_root(path, root),
        }
    }

    /// Renders one release (from the cache when nothing it reads changed).
    pub fn render(&self, release: &Release) -> Result<Rendered, Error> {
        self.render_with(release, &Overrides::default())
    }

    /// Renders one release with parameter overrides and template variables (see
    /// [`Overrides`]); they are part of the render key. Empty overrides render exactly
    /// like [`Engine::render`].
    pub fn render_with(&self, release: &Release, overrides: &Overrides) -> Result<Rendered, Error> {
        self.render_inner(release, overrides)
            .map_err(|e| e.in_release(release.name()))
    }

    fn render_inner(&self, release: &Release, overrides: &Overrides) -> Result<Rendered, Error> {
        let subject = Subject::Release(release, overrides);
        self.cached(release.name(), &subject, |inputs| {
            let out = crate::render::render_release(
                release,
                overrides,
                &self.runtime,
                &self.parsed,
                inputs,
            )?;
            Ok((out.resources, out.warnings))
        })
    }

    /// Serves `subject` from the cache, or renders it with `render` (reading through the
    /// given inputs) and stores the result.
    fn cached(
        &self,
        name: &str,
        subject: &Subject<'_>,
        render: impl FnOnce(&Inputs) -> Result<(Vec<Resource>, Vec<String>), Error>,
    ) -> Result<Rendered, Error> {
        let start = Instant::now();
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.lookup(subject)
        {
            return Ok(Rendered {
                name: name.to_string(),
                yaml: hit.yaml.into(),
                key: Some(hit.key),
                cache_hit: true,
                warnings: hit.warnings,
                elapsed: start.elapsed(),
            });
        }
        let inputs = Inputs::with_memo(subject.root().to_path_buf(), self.memo.clone());
        let (resources, warnings) = render(&inputs)?;
        let yaml: Arc<str> = crate::yaml::emit_stream_as(&resources, subject.output_style()).into();
        let key = self
            .cache
            .as_ref()
            .map(|cache| cache.store(subject, &inputs.reads(), &yaml, &warnings));
        Ok(Rendered {
            name: name.to_string(),
            yaml,
            key,
            cache_hit: false,
            warnings,
            elapsed: start.elapsed(),
        })
    }

    /// Renders many releases in parallel; one result per release, in order. A failing
    /// release does not stop the others.
    pub fn render_all(&self, releases: &[Release]) -> Vec<Result<Rendered, Error>> {
        self.render_all_with(releases, &|_| {})
    }

    /// Like [`Engine::render_all`], calling `progress` as each release finishes (from the
    /// render threads).
    pub fn render_all_with(
        &self,
        releases: &[Release],
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Vec<Result<Rendered, Error>> {
        self.pool.install(|| {
            releases
                .par_iter()
                .enumerate()
                .map(|(index, r)| {
                    let result = self.render(r);
                    progress(Progress::Finished {
                        index,
                        result: &result,
                    });
                    result
                })
                .collect()
        })
    }

    /// Builds a kustomization folder like `kustomize build DIR`, running `wasip1` KRM
    /// functions in-process. The project root is the git work tree holding `dir` (or `dir`).
    pub fn build_kustomization(&self, dir: impl AsRef<Path>) -> Result<Rendered, Error> {
        self.build_kustomization_with_root(dir, None::<&Path>)
    }

    /// Like [`Engine::build_kustomization`] with an explicit project root.
    pub fn build_kustomization_with_root(
        &self,
        dir: impl AsRef<Path>,
        root: Option<impl AsRef<Path>>,
    ) -> Result<Rendered, Error> {
        let dir = dir.as_ref();
        let canonical = std::fs::canonicalize(dir).map_err(|source| InputError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let root = match root {
            Some(r) => std::fs::canonicalize(r.as_ref()).map_err(|source| InputError::Read {
                path: r.as_ref().to_path_buf(),
                source,
            })?,
            None => find_project_root(&canonical),
        };
        let name = canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let subject = Subject::Kustomization {
            root: &root,
            dir: &canonical,
        };
        self.cached(&name, &subject, |inputs| {
            let built = crate::kustomize::build(inputs, Some(&self.runtime), &canonical)?;
            Ok((built.resources, built.warnings))
        })
    }
}
