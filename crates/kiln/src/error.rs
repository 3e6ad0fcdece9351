//! Errors. Every message names its subject: the release, the file (with line and column
//! for YAML), the resource, the patch or the plugin.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use crate::plugin::PluginError;
pub use crate::transform::PatchError;

/// Everything that can go wrong in kiln.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A release could not be loaded or rendered; wraps the cause with the release's name.
    #[error("release `{release}`: {source}")]
    Release {
        /// The release's `metadata.name` (or its path when the name is not known yet).
        release: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// Loading or checking a release file.
    #[error(transparent)]
    Spec(#[from] ReleaseError),
    /// Reading, parsing or resolving an input file.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A YAML document could not be parsed.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A template could not be rendered.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A transform (namespace, images, patches) failed.
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// A kustomization could not be built.
    #[error(transparent)]
    Kustomize(#[from] crate::kustomize::KustomizeError),
    /// A parameter override could not be applied to the release's values.
    #[error(transparent)]
    Param(#[from] crate::overrides::ParamError),
    /// A plugin failed or broke a limit.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The render cache failed in a way that cannot be ignored (cache trouble during a
    /// render only costs a miss).
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A plugin's wasm does not have the digest its release pins: it is not run.
    #[error("plugin `{plugin}`: `{}` has sha256 {found}, but the release pins {expected}; refusing to run it", path.display())]
    DigestMismatch {
        /// The plugin's name.
        plugin: String,
        /// The wasm file.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The file's digest.
        found: String,
    },
    /// Two resources have the same identity.
    #[error("duplicate resource {id}: defined in `{first}` and in `{second}`")]
    Duplicate {
        /// `Kind/name` or `Kind/namespace/name`.
        id: String,
        /// Where the first one came from.
        first: String,
        /// Where the second one came from.
        second: String,
    },
}

impl Error {
    /// Wraps an error with the release it happened in.
    pub(crate) fn in_release(self, release: &str) -> Error {
        match self {
            e @ Error::Release { .. } => e,
            e => Error::Release {
                release: release.to_string(),
                source: Box::new(e),
            },
        }
    }

    /// The error without the release wrapper.
    pub fn root(&self) -> &Error {
        match self {
            Error::Release { source, .. } => source.root(),
            e => e,
        }
    }
}

/// A release file that is not a valid release.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The file is not a `kiln.dev/v1alpha1` `Release`, or a field is unknown, missing or
    /// of the wrong type.
    #[error("`{}`{}: {message}", path.display(), fmt_pos(*line, *column))]
    Invalid {
        /// The release file.
        path: PathBuf,
        /// Line, when known.
        line: Option<usize>,
        /// Column, when known.
        column: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The path given is neither a release file nor a folder holding `release.yaml`.
    #[error("`{}`: no release found (expected a release file or a folder with `release.yaml`)", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
}

/// A file that could not be read, or a path that is not allowed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file or folder could not be read.
    #[error("`{}`: {source}", path.display())]
    Read {
        /// The path, as written where it was named (or relative to the project root).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A path named in `referrer` does not exist.
    #[error("`{}`: `{}` does not exist", referrer.display(), path.display())]
    Missing {
        /// The file that names the path.
        referrer: PathBuf,
        /// The path as written.
        path: PathBuf,
    },
    /// A path leaves the project root (directly, or through a symlink).
    #[error("`{}`: `{}` leaves the project root (it resolves to `{}`; the root is the git work tree holding the release, else its folder, or `--root DIR`)", referrer.display(), path.display(), resolved.display())]
    OutsideRoot {
        /// The file that names the path.
        referrer: PathBuf,
        /// The path as written.
        path: PathBuf,
        /// Where it resolves to, symlinks followed, relative to the project root.
        resolved: PathBuf,
    },
    /// A file is bigger than kiln reads.
    #[error("`{}`: file is {size} bytes, over the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A file is not UTF-8 text.
    #[error("`{}`: not valid UTF-8 at byte {offset}", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// A path has a file type kiln cannot use for this field.
    #[error("`{}`: {message}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// A YAML document that could not be parsed, or that is not what was expected.
#[derive(Debug, thiserror::Error)]
#[error("`{}`{}: {message}", file.display(), fmt_pos(*line, *column))]
pub struct YamlError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl YamlError {
    pub(crate) fn new(
        file: &Path,
        pos: Option<(usize, usize)>,
        message: impl Into<String>,
    ) -> Self {
        YamlError {
            file: file.to_path_buf(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message: message.into(),
        }
    }

    pub(crate) fn from_serde(file: &Path, e: &serde_yaml::Error) -> Self {
        let pos = e.location().map(|l| (l.line(), l.column()));
        YamlError::new(file, pos, strip_location(&e.to_string()))
    }
}

/// serde_yaml appends " at line L column C" to its messages; the position is kept in
/// fields instead, so it is printed once.
pub(crate) fn strip_location(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_string();
    };
    let rest = &msg[i + " at line ".len()..];
    // Skip "L column C".
    let mut words = rest.splitn(4, ' ');
    let (line, col_word, col) = (words.next(), words.next(), words.next());
    let numeric = |w: Option<&str>| {
        w.is_some_and(|w| {
            let w = w.trim_end_matches(',');
            !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
        })
    };
    if !(numeric(line) && col_word == Some("column") && numeric(col)) {
        return msg.to_string();
    }
    let tail = words.next().unwrap_or("");
    let mut out = msg[..i].to_string();
    if !tail.is_empty() {
        out.push_str(if col.is_some_and(|c| c.ends_with(',')) {
            ", "
        } else {
            " "
        });
        out.push_str(tail);
    }
    out
}

/// `:L:C`, `:L` or nothing.
pub(crate) fn fmt_pos(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// A template that could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A name the template uses is not defined.
    #[error("`{}`{}: undefined variable `{name}`", template.display(), fmt_pos(*line, None))]
    Undefined {
        /// The template file.
        template: PathBuf,
        /// The line of the use.
        line: Option<usize>,
        /// The undefined expression, e.g. `values.replicas`.
        name: String,
    },
    /// Any other template error: syntax, a failing filter, the fuel limit.
    #[error("`{}`{}: {message}", template.display(), fmt_pos(*line, None))]
    Render {
        /// The template file.
        template: PathBuf,
        /// The line, when known.
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
    /// A values file could not be used.
    #[error("`{}`: {message}", file.display())]
    Values {
        /// The values file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A cache that could not be used for a command that needs it (`kiln cache …`).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache folder could not be read or written.
    #[error("cache `{}`: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// No cache folder is configured and no default could be found.
    #[error("no cache folder: set `--cache-dir` or `KILN_CACHE_DIR`")]
    NoDir,
}

/// Adds a path to I/O errors.
pub(crate) fn read_err(path: &Path) -> impl FnOnce(io::Error) -> InputError + '_ {
    move |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// A displayable list, `a, b and c`.
pub(crate) struct Listed<'a>(pub &'a [String]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == self.0.len() { " and " } else { ", " })?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// `Result` with kiln's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
