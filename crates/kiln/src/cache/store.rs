//! Where cache entries live: a small interface and its file-system implementation.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A group of cache entries with one format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Rendered output by render key.
    Renders,
    /// Inputs read by the last render of a release file.
    Index,
    /// Compiled plugin modules.
    Modules,
    /// Release files read into their schema, by content.
    Releases,
}

impl Bucket {
    /// Every bucket.
    pub const ALL: [Bucket; 4] = [
        Bucket::Renders,
        Bucket::Index,
        Bucket::Modules,
        Bucket::Releases,
    ];

    /// The versioned folder name.
    pub fn dir_name(self) -> &'static str {
        match self {
            Bucket::Renders => "renders-v1",
            Bucket::Index => "index-v1",
            Bucket::Modules => "modules-v1",
            Bucket::Releases => "releases-v1",
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// Stores opaque, already-framed entries by bucket and key. Implementations must make a
/// `put` atomic: a reader sees the old entry, the new one, or none, never a part.
pub trait Store: Send + Sync {
    /// The entry, or `None` when there is none.
    fn get(&self, bucket: Bucket, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// Writes (or replaces) an entry.
    fn put(&self, bucket: Bucket, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// Removes an entry; removing a missing one is not an error.
    fn remove(&self, bucket: Bucket, key: &str) -> io::Result<()>;
}

/// Entries as files: `<dir>/<bucket>/<first two hex digits>/<key>`.
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
}

impl FsStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        FsStore { dir }
    }

    fn path(&self, bucket: Bucket, key: &str) -> PathBuf {
        let shard = key.get(..2).unwrap_or("00");
        self.dir.join(bucket.dir_name()).join(shard).join(key)
    }
}

impl Store for FsStore {
    fn get(&self, bucket: Bucket, key: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(bucket, key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put(&self, bucket: Bucket, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(bucket, key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        ensure_tag(&self.dir);
        write_atomic(&path, bytes)
    }

    fn remove(&self, bucket: Bucket, key: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(bucket, key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Marks the folder as a cache for backup tools (`CACHEDIR.TAG`).
fn ensure_tag(dir: &Path) {
    let tag = dir.join("CACHEDIR.TAG");
    if !tag.exists() {
        let _ = write_atomic(
            &tag,
            b"Signature: 8a477f597d28d172789f06886806bc55\n# This file marks the kiln render cache.\n",
        );
    }
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // No fsync: entries are verified on read, so a torn write after a power loss is a
    // miss, not a wrong render.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
