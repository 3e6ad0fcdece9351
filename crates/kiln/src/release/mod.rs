//! Release files: loading, checking and finding them.

mod v1alpha1;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, InputError, ReleaseError, YamlError, strip_location};
use crate::input::{find_project_root, relative_to};
use crate::plugin::{Digest, Limits};

pub(crate) use v1alpha1::Spec;

/// The file name looked for when a release is given as a folder.
pub const RELEASE_FILE: &str = "release.yaml";

/// A loaded, checked release: what one customer cluster runs.
///
/// Loading reads and validates the release file only; the files it names are read when it
/// is rendered. A `Release` is immutable and cheap to share between threads.
#[derive(Clone, Debug)]
pub struct Release {
    name: String,
    path: PathBuf,
    dir: PathBuf,
    root: PathBuf,
    pub(crate) spec: Spec,
    pub(crate) plugins: Vec<PluginDecl>,
    pub(crate) source: String,
}

/// A plugin entry of a release, checked: digest parsed, limits parsed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PluginDecl {
    pub(crate) name: String,
    pub(crate) wasm: String,
    pub(crate) digest: Digest,
    pub(crate) config: Option<Value>,
    /// Config keys whose values are read from files at render time (paths relative to
    /// the release file).
    pub(crate) config_files: BTreeMap<String, String>,
    pub(crate) limits: Limits,
}

/// A release file read from disk, before parsing: its text, canonical path, folder,
/// project root and the path shown in messages (relative to the root).
struct Located {
    source: String,
    path: PathBuf,
    dir: PathBuf,
    root: PathBuf,
    display: PathBuf,
}

/// A release file's error without a position.
fn invalid(display: &Path, message: String) -> Error {
    Error::from(ReleaseError::Invalid {
        path: display.to_path_buf(),
        line: None,
        column: None,
        message,
    })
}

impl Release {
    /// Loads a release from a `release.yaml` file or a folder holding one. The project root
    /// is the top of the git work tree that holds it, or its own folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Release, Error> {
        Self::load_with_root(path, None::<&Path>)
    }

    /// Loads a release with an explicit project root (the `--root` flag). Paths the release
    /// names may not leave the root.
    pub fn load_with_root(
        path: impl AsRef<Path>,
        root: Option<impl AsRef<Path>>,
    ) -> Result<Release, Error> {
        let at = Self::read_source(path.as_ref(), root)?;
        let file = Self::parse(&at.source, &at.display)?;
        Self::checked(file, at)
    }

    /// Reads a release file: its text, canonical path, folder, project root and the path
    /// shown in messages.
    fn read_source(given: &Path, root: Option<impl AsRef<Path>>) -> Result<Located, Error> {
        let file = release_file(given)?;
        let path = fs::canonicalize(&file).map_err(|source| InputError::Read {
            path: file.clone(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let root = match root {
            Some(r) => {
                let r = r.as_ref();
                fs::canonicalize(r).map_err(|source| InputError::Read {
                    path: r.to_path_buf(),
                    source,
                })?
            }
            None => find_project_root(&dir),
        };
        let display = relative_to(&path, &root);
        if !path.starts_with(&root) {
            return Err(InputError::OutsideRoot {
                referrer: PathBuf::from("--root"),
                path: file,
                resolved: display,
            }
            .into());
        }
        let meta = fs::metadata(&path).map_err(|source| InputError::Read {
            path: display.clone(),
            source,
        })?;
        if meta.len() > crate::yaml::MAX_FILE_BYTES {
            return Err(InputError::TooLarge {
                path: display,
                size: meta.len(),
                limit: crate::yaml::MAX_FILE_BYTES,
            }
            .into());
        }
        let bytes = fs::read(&path).map_err(|source| InputError::Read {
            path: display.clone(),
            source,
        })?;
        let source = String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
            path: display.clone(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Ok(Located {
            source,
            path,
            dir,
            root,
            display,
        })
    }

    /// Like [`Release::load_with_root`], taking the release file's schema-checked form from
    /// `cache` when a file with the same bytes was loaded before (parsing YAML is most of
    /// the cost of loading), and storing it there otherwise. Every check past the schema
    /// runs each time; a file that fails to load is not stored.
    pub(crate) fn load_cached(
        path: &Path,
        root: Option<&Path>,
        cache: &crate::cache::Cache,
    ) -> Result<Release, Error> {
        let at = Self::read_source(path, root)?;
        let key = crate::cache::release_file_key(&at.source);
        let stored = cache
            .get_release_file(&key)
            .and_then(|bytes| serde_json::from_slice::<v1alpha1::ReleaseFile>(&bytes).ok());
        let (file, fresh) = match stored {
            Some(file) => (file, None),
            None => {
                let file = Self::parse(&at.source, &at.display)?;
                let bytes = serde_json::to_vec(&file).ok();
                (file, bytes)
            }
        };
        let release = Self::checked(file, at)?;
        if let Some(bytes) = fresh {
            cache.put_release_file(&key, &bytes);
        }
        Ok(release)
    }

    /// Reads a release file's text into its schema, with the line and column of an error.
    fn parse(source: &str, display: &Path) -> Result<v1alpha1::ReleaseFile, Error> {
        let invalid = |message: String| invalid(display, message);
        // Syntax first (with positions), then the type, then the schema (with positions).
        let doc = crate::yaml::parse_one(source, display).map_err(Error::from)?;
        let Value::Object(top) = &doc else {
            return Err(invalid(format!(
                "a release file must be a mapping, found {}",
                crate::resource::type_name(&doc)
            )));
        };
        let api_version = top.get("apiVersion").and_then(Value::as_str);
        let kind = top.get("kind").and_then(Value::as_str);
        match (api_version, kind) {
            (Some(v1alpha1::API_VERSION), Some("Release")) => {}
            (None, _) => return Err(invalid("missing field `apiVersion`".into())),
            (Some(v), _) if v != v1alpha1::API_VERSION => {
                return Err(invalid(format!(
                    "unsupported `apiVersion: {v}`, expected `{}`",
                    v1alpha1::API_VERSION
                )));
            }
            (_, Some(k)) => {
                return Err(invalid(format!(
                    "`kind: {k}` is not a release, expected `kind: Release`"
                )));
            }
            (_, None) => return Err(invalid("missing field `kind`".into())),
        }
        // The document read above gives the schema at once when every field has its
        // type as written; otherwise (a number where a string goes, say, which serde_yaml
        // reads as its text) the text is read again for that coercion, and for the
        // line and column of a schema error.
        match serde_json::from_value(doc) {
            Ok(file) => Ok(file),
            Err(_) => serde_yaml::from_str(source).map_err(|e| yaml_err(display, &e)),
        }
    }

    /// The checks of a release file past its schema, and the release they give.
    fn checked(file: v1alpha1::ReleaseFile, at: Located) -> Result<Release, Error> {
        let Located {
            source,
            path,
            dir,
            root,
            display,
        } = at;
        let invalid = |message: String| invalid(&display, message);
        let name = file.metadata.name;
        if !is_valid_name(&name) {
            return Err(invalid(format!(
                "metadata.name `{name}` is not a valid release name (lowercase letters, digits, `-` and `.`, at most 253 characters)"
            )));
        }
        let spec = file.spec;
        if let Some(v) = &spec.values
            && !(v.is_object() || v.is_null())
        {
            return Err(invalid("spec.values: expected a mapping".into()));
        }
        for (i, p) in spec.patches.iter().enumerate() {
            match (&p.path, &p.patch) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "spec.patches[{i}]: set either `path` or `patch`, not both"
                    )));
                }
                (None, None) => {
                    return Err(invalid(format!(
                        "spec.patches[{i}]: missing `path` or `patch`"
                    )));
                }
                _ => {}
            }
        }
        let mut plugins = Vec::new();
        for (i, p) in spec.plugins.iter().enumerate() {
            let at = |m: String| invalid(format!("spec.plugins[{i}] (`{}`): {m}", p.name));
            let digest: Digest = p
                .sha256
                .parse()
                .map_err(|e: String| at(format!("sha256: {e}")))?;
            let mut limits = Limits::default();
            if let Some(t) = &p.timeout {
                limits.timeout = parse_duration(t).map_err(|e| at(format!("timeout: {e}")))?;
            }
            if let Some(m) = &p.memory {
                limits.memory = parse_bytes(m).map_err(|e| at(format!("memory: {e}")))?;
            }
            let config = match (&p.config, &p.config_map) {
                (Some(_), Some(_)) => {
                    return Err(at(
                        "set `config` (a whole object) or `configMap` (string data), \
                                   not both"
                            .into(),
                    ));
                }
                (None, Some(data)) => Some(crate::plugin::config_map(&p.name, data)),
                (config, None) => config.clone(),
            };
            if !p.config_files.is_empty() {
                match &config {
                    _ if p.config_map.is_some() => {
                        return Err(at("`configFiles` fills keys of `config`, not of \
                                       `configMap` (string data)"
                            .into()));
                    }
                    Some(Value::Object(map)) => {
                        if let Some(key) = p.config_files.keys().find(|k| map.contains_key(*k)) {
                            return Err(at(format!(
                                "`{key}` is set in both `config` and `configFiles`"
                            )));
                        }
                    }
                    Some(_) => {
                        return Err(at("`configFiles` needs `config` to be a mapping".into()));
                    }
                    None => {}
                }
            }
            plugins.push(PluginDecl {
                name: p.name.clone(),
                wasm: p.wasm.clone(),
                digest,
                config,
                config_files: p.config_files.clone(),
                limits,
            });
        }
        Ok(Release {
            name,
            path,
            dir,
            root,
            spec,
            plugins,
            source,
        })
    }

    /// `metadata.name`: names the output (`<name>.yaml`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The release file (canonical path).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder holding the release file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The project root: paths the release names may not leave it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The string values of the terraform outputs marked `sensitive` in the release's
    /// `valuesFiles` (read now): they must never be shown, in messages or in diffs.
    pub fn sensitive_values(&self) -> Result<Vec<String>, Error> {
        crate::render::sensitive_values(self).map_err(|e| e.in_release(self.name()))
    }

    /// The release file's path relative to the project root.
    pub fn display_path(&self) -> PathBuf {
        relative_to(&self.path, &self.root)
    }

    /// `spec.values` as written in the release file (without its `valuesFiles`).
    pub fn values(&self) -> Option<&Value> {
        self.spec.values.as_ref()
    }
}

fn yaml_err(display: &Path, e: &serde_yaml::Error) -> Error {
    let pos = e.location().map(|l| (l.line(), l.column()));
    let message = strip_location(&e.to_string());
    // serde_yaml says "spec: unknown field `x`, expected one of …"; keep the path it gives.
    Error::from(ReleaseError::Invalid {
        path: display.to_path_buf(),
        line: pos.map(|p| p.0),
        column: pos.map(|p| p.1),
        message,
    })
}

impl From<YamlError> for ReleaseError {
    fn from(e: YamlError) -> Self {
        ReleaseError::Invalid {
            path: e.file,
            line: e.line,
            column: e.column,
            message: e.message,
        }
    }
}

fn release_file(given: &Path) -> Result<PathBuf, Error> {
    let meta = fs::metadata(given).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::from(ReleaseError::NotFound {
                path: given.to_path_buf(),
            })
        } else {
            Error::from(InputError::Read {
                path: given.to_path_buf(),
                source: e,
            })
        }
    })?;
    if meta.is_dir() {
        let f = given.join(RELEASE_FILE);
        if f.is_file() {
            return Ok(f);
        }
        return Err(ReleaseError::NotFound {
            path: given.to_path_buf(),
        }
        .into());
    }
    Ok(given.to_path_buf())
}

/// Expands the paths given on a command line into release files: a release file, a folder
/// holding `release.yaml`, or a folder of such folders (one level, in name order).
pub fn discover(paths: &[PathBuf]) -> Vec<Result<PathBuf, Error>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() && !p.join(RELEASE_FILE).is_file() {
            let mut found: Vec<PathBuf> = match fs::read_dir(p) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|d| d.join(RELEASE_FILE).is_file())
                    .collect(),
                Err(source) => {
                    out.push(Err(InputError::Read {
                        path: p.clone(),
                        source,
                    }
                    .into()));
                    continue;
                }
            };
            if found.is_empty() {
                out.push(Err(ReleaseError::NotFound { path: p.clone() }.into()));
            }
            found.sort();
            out.extend(found.into_iter().map(Ok));
        } else {
            out.push(Ok(p.clone()));
        }
    }
    out
}

/// A DNS subdomain name, as Kubernetes names are.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// Parses an age for `kiln cache prune`: `30m`, `12h`, `7d`.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    if let Some(days) = s.trim().strip_suffix('d') {
        let n: u64 = days
            .parse()
            .map_err(|_| format!("`{s}` is not an age (e.g. `7d`, `12h`)"))?;
        return Ok(Duration::from_secs(n.saturating_mul(86_400)));
    }
    parse_duration(s)
}

/// Parses a size such as `64Mi`, `1Gi` or `500M`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_bytes(s)
}

/// Parses `500ms`, `5s`, `2m`, `1h` or a combination (`1m30s`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (e.g. `500ms`, `5s`, `1m30s`)");
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(d);
    }
    if total.is_zero() {
        return Err(format!("`{s}` must be more than zero"));
    }
    Ok(total)
}

/// Parses a Kubernetes-style quantity of bytes: `64Mi`, `1Gi`, `512Ki`, `100M`, `1048576`.
pub(crate) fn parse_bytes(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size (e.g. `64Mi`, `1Gi`)");
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if split == 0 {
        return Err(bad());
    }
    let n: u64 = t[..split].parse().map_err(|_| bad())?;
    let mult: u64 = match &t[split..] {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return Err(bad()),
    };
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    if v == 0 {
        return Err(format!("`{s}` must be more than zero"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_bytes("64Mi").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1_000_000_000);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn config_map_becomes_a_configmap_function_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("release.yaml"),
            "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata: {name: r}\nspec:\n  \
             plugins:\n  - name: set-namespace\n    wasm: f.wasm\n    sha256: \
             0000000000000000000000000000000000000000000000000000000000000000\n    \
             configMap: {namespace: shop, replicas: 3, debug: false, mask: 0x1F, ratio: 1.50, \
             yes: yes, empty: , none: ~, quoted: \"~\"}\n",
        )
        .unwrap();
        let release = Release::load_with_root(dir.path(), Some(dir.path())).unwrap();
        assert_eq!(
            release.plugins[0].config,
            Some(serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "set-namespace"},
                // Each value as written, as kpt reads a Kptfile's `configMap:`.
                "data": {"debug": "false", "namespace": "shop", "replicas": "3",
                    "mask": "0x1F", "ratio": "1.50", "yes": "yes", "empty": "", "none": "",
                    "quoted": "~"},
            }))
        );
    }

    #[test]
    fn names() {
        assert!(is_valid_name("acme-prod"));
        assert!(!is_valid_name("Acme"));
        assert!(!is_valid_name("-a"));
    }
}
