//! Reading input files inside the project root, and recording what was read.
//!
//! Every file a render reads goes through [`Inputs`]: it resolves paths relative to the
//! file that names them, refuses paths that leave the project root (symlinks resolved
//! first), caps file sizes, and records each file's digest (and each folder listing), which
//! is what the render key is made of.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use crate::error::{InputError, read_err};
use crate::yaml::MAX_FILE_BYTES;

/// A SHA-256 digest.
pub(crate) type Sha = [u8; 32];

/// One thing a render read: a file's bytes, a folder's listing, or where a path through a
/// symlink led.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Read {
    /// A file's content digest.
    File(Sha),
    /// A folder listing's digest (sorted entry names and types).
    Dir(Sha),
    /// The path (relative to the root) that a path through a symlink resolved to: the
    /// file read is recorded under this target, so pointing the link elsewhere must
    /// change the key too.
    Link(String),
}

/// The files of one render, resolved under one project root.
///
/// Clones share the record of reads.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    root: Arc<PathBuf>,
    reads: Arc<Mutex<BTreeMap<String, Read>>>,
    memo: Arc<FileMemo>,
}

impl Inputs {
    /// `root` must be canonical (absolute, symlinks resolved).
    #[cfg(test)]
    pub(crate) fn new(root: PathBuf) -> Self {
        Self::with_memo(root, Arc::new(FileMemo::default()))
    }

    /// Like [`Inputs::new`], reusing file digests known to `memo`.
    pub(crate) fn with_memo(root: PathBuf, memo: Arc<FileMemo>) -> Self {
        Inputs {
            root: Arc::new(root),
            reads: Arc::new(Mutex::new(BTreeMap::new())),
            memo,
        }
    }

    /// The project root (canonical).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The path relative to the project root, for messages and the render key.
    pub(crate) fn display(&self, path: &Path) -> PathBuf {
        relative_to(path, &self.root)
    }

    /// Resolves `rel`, written in `referrer`, against the folder `base`; symlinks are
    /// followed and the result must stay under the project root.
    pub(crate) fn resolve(
        &self,
        base: &Path,
        rel: &str,
        referrer: &Path,
    ) -> Result<PathBuf, InputError> {
        let joined = base.join(rel);
        let resolved = match fs::canonicalize(&joined) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Report an escape even when the target does not exist.
                let lexical = normalize(&joined);
                if !lexical.starts_with(self.root.as_path()) {
                    return Err(self.outside(referrer, rel, &lexical));
                }
                return Err(InputError::Missing {
                    referrer: self.display(referrer),
                    path: PathBuf::from(rel),
                });
            }
            Err(source) => {
                return Err(InputError::Read {
                    path: self.display(&joined),
                    source,
                });
            }
        };
        if !resolved.starts_with(self.root.as_path()) {
            return Err(self.outside(referrer, rel, &resolved));
        }
        let lexical = normalize(&joined);
        if lexical != resolved && lexical.starts_with(self.root.as_path()) {
            self.record(&lexical, Read::Link(key_path(&resolved, &self.root)));
        }
        Ok(resolved)
    }

    fn outside(&self, referrer: &Path, rel: &str, resolved: &Path) -> InputError {
        // A target that shares nothing with the root but `/` is shown as it is: a path
        // climbing out of the root to the top says nothing and depends on where the
        // project is checked out.
        let shared = resolved
            .components()
            .zip(self.root.components())
            .take_while(|(a, b)| a == b)
            .count();
        InputError::OutsideRoot {
            referrer: self.display(referrer),
            path: PathBuf::from(rel),
            resolved: if shared <= 1 {
                resolved.to_path_buf()
            } else {
                self.display(resolved)
            },
        }
    }

    /// Reads a file (capped at 64 MiB) and records its digest.
    pub(crate) fn read(&self, path: &Path) -> Result<Vec<u8>, InputError> {
        self.read_hashed(path).map(|(bytes, _)| bytes)
    }

    /// Reads a UTF-8 text file; gives its text and digest, and records the digest.
    pub(crate) fn read_text_hashed(&self, path: &Path) -> Result<(String, Sha), InputError> {
        let (bytes, digest) = self.read_hashed(path)?;
        let text = String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
            path: self.display(path),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Ok((text, digest))
    }

    /// Reads a file (capped at 64 MiB); gives its bytes and digest, and records the digest.
    pub(crate) fn read_hashed(&self, path: &Path) -> Result<(Vec<u8>, Sha), InputError> {
        let meta = fs::metadata(path).map_err(read_err(&self.display(path)))?;
        if meta.is_dir() {
            return Err(InputError::Unsupported {
                path: self.display(path),
                message: "is a folder, expected a file".into(),
            });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(InputError::TooLarge {
                path: self.display(path),
                size: meta.len(),
                limit: MAX_FILE_BYTES,
            });
        }
        let bytes = fs::read(path).map_err(|source| InputError::Read {
            path: self.display(path),
            source,
        })?;
        let digest: Sha = Sha256::digest(&bytes).into();
        self.memo.remember(path, &meta, digest);
        self.record(path, Read::File(digest));
        Ok((bytes, digest))
    }

    /// A file's digest, recorded as read, without reading it again when this process
    /// already hashed it and its stamp (size, mtime, ctime, inode) did not change.
    pub(crate) fn digest(&self, path: &Path) -> Result<Sha, InputError> {
        let meta = fs::metadata(path).map_err(read_err(&self.display(path)))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(InputError::TooLarge {
                path: self.display(path),
                size: meta.len(),
                limit: MAX_FILE_BYTES,
            });
        }
        let digest = self
            .memo
            .digest(path)
            .map_err(read_err(&self.display(path)))?;
        self.record(path, Read::File(digest));
        Ok(digest)
    }

    /// Reads a UTF-8 text file and records its digest.
    pub(crate) fn read_text(&self, path: &Path) -> Result<String, InputError> {
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
            path: self.display(path),
            offset: e.utf8_error().valid_up_to(),
        })
    }

    /// Lists a folder: its entries sorted by name, hidden ones (`.…`) left out; records the
    /// listing so that adding or removing a file changes the render key.
    pub(crate) fn list_dir(&self, dir: &Path) -> Result<Vec<DirItem>, InputError> {
        let items = list_dir(dir).map_err(read_err(&self.display(dir)))?;
        self.record(dir, Read::Dir(listing_digest(&items)));
        Ok(items)
    }

    fn record(&self, path: &Path, read: Read) {
        let key = key_path(path, &self.root);
        self.reads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, read);
    }

    /// Everything read so far, by path relative to the root.
    pub(crate) fn reads(&self) -> BTreeMap<String, Read> {
        self.reads.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// File digests computed in this process, reused while a file's stamp is unchanged (the
/// way git's index avoids re-hashing): a shared base read by a thousand releases is hashed
/// once.
#[derive(Debug, Default)]
pub(crate) struct FileMemo {
    files: StampedDigests,
    /// Listing digests of folders without symlinks, by the folder's own stamp: adding,
    /// removing or renaming an entry changes it, and so does replacing a file by a folder.
    dirs: StampedDigests,
}

impl FileMemo {
    /// The digest of the file at `path`.
    pub(crate) fn digest(&self, path: &Path) -> std::io::Result<Sha> {
        let meta = fs::metadata(path)?;
        let stamp = Stamp::of(&meta);
        if let Some(d) = self.files.get(path, stamp) {
            return Ok(d);
        }
        let bytes = fs::read(path)?;
        let d: Sha = Sha256::digest(&bytes).into();
        self.files.put(path, stamp, d);
        Ok(d)
    }

    /// The digest of a folder's listing, as [`Inputs::list_dir`] records it.
    pub(crate) fn dir_digest(&self, dir: &Path) -> std::io::Result<Sha> {
        let stamp = Stamp::of(&fs::metadata(dir)?);
        if let Some(d) = self.dirs.get(dir, stamp) {
            return Ok(d);
        }
        let (items, links) = list_dir_links(dir)?;
        let d = listing_digest(&items);
        // A symlink can turn from a file into a folder without the folder changing.
        if !links {
            self.dirs.put(dir, stamp, d);
        }
        Ok(d)
    }

    /// Records the digest of a file read with metadata `meta` (taken before the read).
    pub(crate) fn remember(&self, path: &Path, meta: &fs::Metadata, digest: Sha) {
        self.files.put(path, Stamp::of(meta), digest);
    }
}

/// Digests by path, valid while the path's stamp is the one recorded with them.
#[derive(Debug, Default)]
struct StampedDigests(Mutex<HashMap<PathBuf, (Stamp, Sha)>>);

impl StampedDigests {
    const MAX: usize = 200_000;

    fn get(&self, path: &Path, stamp: Stamp) -> Option<Sha> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(path).filter(|(s, _)| *s == stamp).map(|(_, d)| *d)
    }

    fn put(&self, path: &Path, stamp: Stamp, digest: Sha) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // A resident engine sees a fresh copy of the repository per request (Argo CD):
        // bounded, it starts over instead of growing without end.
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(path.to_path_buf(), (stamp, digest));
    }
}

/// A file's identity and change stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: i128,
    ctime: i128,
    ino: u64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                len: meta.len(),
                mtime: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
                ctime: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
                ino: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            Stamp {
                len: meta.len(),
                mtime,
                ctime: 0,
                ino: 0,
            }
        }
    }
}

/// An entry of a folder listing.
#[derive(Clone, Debug)]
pub(crate) struct DirItem {
    /// File name.
    pub(crate) name: String,
    /// Full path.
    pub(crate) path: PathBuf,
    /// Whether it is a folder (symlinks followed).
    pub(crate) is_dir: bool,
}

/// A folder's entries sorted by name, hidden ones (`.…`) left out.
fn list_dir(dir: &Path) -> std::io::Result<Vec<DirItem>> {
    Ok(list_dir_links(dir)?.0)
}

/// [`list_dir`], and whether any entry (hidden ones included) is a symlink.
fn list_dir_links(dir: &Path) -> std::io::Result<(Vec<DirItem>, bool)> {
    let mut items = Vec::new();
    let mut links = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        links |= kind.is_symlink();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follow symlinks for the type; a dangling one counts as a file and fails on read.
        let is_dir = if kind.is_symlink() {
            fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false)
        } else {
            kind.is_dir()
        };
        items.push(DirItem { name, path, is_dir });
    }
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((items, links))
}

fn listing_digest(items: &[DirItem]) -> Sha {
    let mut h = Sha256::new();
    for i in items {
        h.update(if i.is_dir { b"d" } else { b"f" });
        h.update((i.name.len() as u64).to_le_bytes());
        h.update(i.name.as_bytes());
    }
    h.finalize().into()
}

/// A path as reads are keyed: relative to the root, with `/` separators.
pub(crate) fn key_path(path: &Path, root: &Path) -> String {
    relative_to(path, root).to_string_lossy().replace('\\', "/")
}

/// Where `path` (through a symlink) leads now, as [`Inputs::resolve`] records it; `None`
/// when it does not resolve or leaves the root.
pub(crate) fn link_target(path: &Path, root: &Path) -> Option<String> {
    let target = fs::canonicalize(path).ok()?;
    target.starts_with(root).then(|| key_path(&target, root))
}

/// Removes `.` and `..` components without touching the file system.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Removes `.` and `..` from a relative path without touching the file system; `..` that
/// climbs above the start is kept, so the root check still sees it.
pub(crate) fn normalize_relative(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    let mut ups = 0usize;
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if parts.pop().is_none() {
                    ups += 1;
                }
            }
            Component::CurDir => {}
            other => parts.push(other.as_os_str()),
        }
    }
    let mut out = PathBuf::new();
    for _ in 0..ups {
        out.push("..");
    }
    for p in parts {
        out.push(p);
    }
    out
}

/// `path` relative to `base`, with `..` where it is outside; `path` itself when they share
/// no prefix.
pub(crate) fn relative_to(path: &Path, base: &Path) -> PathBuf {
    if let Ok(rel) = path.strip_prefix(base) {
        return if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel.to_path_buf()
        };
    }
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// The project root for a release: the top of the git work tree holding `dir`, else
/// `dir` itself. `dir` must be canonical.
pub(crate) fn find_project_root(dir: &Path) -> PathBuf {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        cur = d.parent();
    }
    dir.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/a/b/c"), Path::new("/a")),
            PathBuf::from("b/c")
        );
        assert_eq!(
            relative_to(Path::new("/a/x"), Path::new("/a/b")),
            PathBuf::from("../x")
        );
        assert_eq!(
            relative_to(Path::new("/a"), Path::new("/a")),
            PathBuf::from(".")
        );
    }

    #[test]
    fn escapes_are_refused_even_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::write(root.join("r.yaml"), "x").unwrap();
        let inputs = Inputs::new(root.clone());
        let referrer = root.join("r.yaml");
        let err = inputs
            .resolve(&root, "../nope.yaml", &referrer)
            .unwrap_err();
        assert!(matches!(err, InputError::OutsideRoot { .. }), "{err}");
        let err = inputs.resolve(&root, "nope.yaml", &referrer).unwrap_err();
        assert_eq!(err.to_string(), "`r.yaml`: `nope.yaml` does not exist");
    }

    #[cfg(unix)]
    #[test]
    fn symlink_escape_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.yaml"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), root.join("link.yaml"))
            .unwrap();
        let inputs = Inputs::new(root.clone());
        let err = inputs
            .resolve(&root, "link.yaml", &root.join("r.yaml"))
            .unwrap_err();
        assert!(matches!(err, InputError::OutsideRoot { .. }), "{err}");
    }
}
