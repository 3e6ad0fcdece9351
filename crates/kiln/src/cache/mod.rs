//! The render cache: renders stored by the content hash of everything they read.
//!
//! Layout under the cache folder (each bucket carries its format version):
//! - `renders-v1/<aa>/<key>`: rendered output, keyed by [`RenderKey`];
//! - `index-v1/<aa>/<id>`: for each release file (path + content) and kustomization
//!   folder, the inputs its last render read (file and listing digests, symlink targets)
//!   and the warnings it gave, so a warm run can compute the render key without rendering;
//! - `modules-v1/`: compiled plugins (written by the plugin runtime);
//! - `releases-v1/<aa>/<key>`: release files read into their schema (JSON), by content, so
//!   a release file that did not change is not parsed again;
//! - `runs-v1.log`: hits and misses of recent runs.
//!
//! Every entry is framed with a magic line and the SHA-256 of its payload, checked on read:
//! a corrupt, truncated or foreign entry is a miss that gets rewritten, never a wrong render.
//! Writes go to a temporary file that is renamed into place, so concurrent processes and a
//! process killed mid-write never leave a half-written entry under a valid name. Cache
//! trouble never fails a render: it is counted and reported as a warning.

mod key;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use key::RenderKey;
pub(crate) use key::{Subject, release_file_key};
pub(crate) use store::write_atomic;
pub use store::{Bucket, FsStore, Store};

use crate::error::CacheError;
use crate::input::{FileMemo, Read, Sha};

const MAGIC: &[u8] = b"kiln-cache-entry-v1\n";

/// A render found in the cache.
pub(crate) struct Hit {
    pub(crate) key: RenderKey,
    pub(crate) yaml: String,
    /// The warnings the render gave when it was stored.
    pub(crate) warnings: Vec<String>,
}

/// How many recent runs `runs-v1.log` keeps.
const RUNS_KEPT: usize = 50;

/// The render cache of one folder. Shared by every render of an [`crate::Engine`].
pub struct Cache {
    dir: PathBuf,
    store: Box<dyn Store>,
    hits: AtomicU64,
    misses: AtomicU64,
    write_errors: AtomicU64,
    warnings: Mutex<Vec<String>>,
    memo: Arc<FileMemo>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("dir", &self.dir).finish()
    }
}

/// Counters of this process's use of the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Renders served from the cache.
    pub hits: u64,
    /// Renders computed.
    pub misses: u64,
    /// Cache writes that failed (the renders still succeeded).
    pub write_errors: u64,
}

/// What `kiln cache stats` shows.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// The cache folder.
    pub dir: PathBuf,
    /// Entries and bytes per bucket.
    pub buckets: Vec<(Bucket, u64, u64)>,
    /// Recent runs, newest last: (unix time, hits, misses).
    pub runs: Vec<(u64, u64, u64)>,
}

/// What `kiln cache verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// Entries that failed their check, and were removed.
    pub removed: Vec<PathBuf>,
}

/// What `kiln cache prune` removed.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    /// Entries removed.
    pub removed: u64,
    /// Bytes freed.
    pub freed: u64,
    /// Entries kept.
    pub kept: u64,
}

impl Cache {
    /// Opens (lazily creates) the cache in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Cache {
        let dir = dir.into();
        Cache {
            store: Box::new(FsStore::new(dir.clone())),
            dir,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            warnings: Mutex::new(Vec::new()),
            memo: Arc::new(FileMemo::default()),
        }
    }

    /// Opens a cache over another store (for example one shared through a registry).
    pub fn with_store(dir: impl Into<PathBuf>, store: Box<dyn Store>) -> Cache {
        let mut c = Cache::open(dir);
        c.store = store;
        c
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This process's hits, misses and failed writes.
    pub fn counters(&self) -> Counters {
        Counters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }

    /// Warnings about cache trouble (each kind once), taken out.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn warn(&self, msg: String) {
        let mut w = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() < 10 && !w.contains(&msg) {
            w.push(msg);
        }
    }

    /// Looks a render up: `Some` when nothing it read last time changed and the stored
    /// render is intact.
    pub(crate) fn lookup(&self, subject: &Subject<'_>) -> Option<Hit> {
        let found = self.lookup_inner(subject);
        match found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    fn lookup_inner(&self, subject: &Subject<'_>) -> Option<Hit> {
        let root = subject.root();
        let id = hex::encode(subject.index_id());
        let index = self.get_entry(Bucket::Index, &id)?;
        let index: Value = serde_json::from_slice(&index).ok()?;
        let mut reads = BTreeMap::new();
        for item in index.get("reads")?.as_array()? {
            let path = item.get(0)?.as_str()?;
            let kind = item.get(1)?.as_str()?;
            let abs = safe_join(root, path)?;
            let read = match kind {
                "f" => Read::File(self.file_digest(&abs)?),
                "d" => Read::Dir(self.memo.dir_digest(&abs).ok()?),
                "l" => Read::Link(crate::input::link_target(&abs, root)?),
                _ => return None,
            };
            reads.insert(path.to_string(), read);
        }
        // Warnings of the render the index describes (an index without them is older).
        let warnings = match index.get("warnings") {
            None => Vec::new(),
            Some(w) => w
                .as_array()?
                .iter()
                .map(|w| w.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?,
        };
        let key = subject.render_key(&reads);
        let bytes = self.get_entry(Bucket::Renders, &key.to_hex())?;
        let yaml = String::from_utf8(bytes).ok()?;
        Some(Hit {
            key,
            yaml,
            warnings,
        })
    }

    /// Stores a render, the inputs it read and its warnings. Failures are counted, never
    /// raised.
    pub(crate) fn store(
        &self,
        subject: &Subject<'_>,
        reads: &BTreeMap<String, Read>,
        yaml: &str,
        warnings: &[String],
    ) -> RenderKey {
        let key = subject.render_key(reads);
        let list: Vec<Value> = reads
            .iter()
            .map(|(p, r)| match r {
                Read::File(d) => json!([p, "f", hex::encode(d)]),
                Read::Dir(d) => json!([p, "d", hex::encode(d)]),
                Read::Link(target) => json!([p, "l", target]),
            })
            .collect();
        let index =
            serde_json::to_vec(&json!({ "reads": list, "warnings": warnings })).unwrap_or_default();
        self.put_entry(Bucket::Renders, &key.to_hex(), yaml.as_bytes());
        self.put_entry(Bucket::Index, &hex::encode(subject.index_id()), &index);
        key
    }

    fn get_entry(&self, bucket: Bucket, key: &str) -> Option<Vec<u8>> {
        let raw = match self.store.get(bucket, key) {
            Ok(Some(raw)) => raw,
            Ok(None) => return None,
            Err(e) => {
                self.warn(format!("cache `{}`: cannot read: {e}", self.dir.display()));
                return None;
            }
        };
        match unframe(&raw) {
            Some(payload) => Some(payload.to_vec()),
            None => {
                // Corrupt or foreign: drop it so it is rewritten.
                let _ = self.store.remove(bucket, key);
                None
            }
        }
    }

    fn put_entry(&self, bucket: Bucket, key: &str, payload: &[u8]) {
        if let Err(e) = self.store.put(bucket, key, &frame(payload)) {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
            self.warn(format!(
                "cache `{}`: cannot write, rendering without cache: {e}",
                self.dir.display()
            ));
        }
    }

    /// A release file's schema-checked form stored by [`Cache::put_release_file`].
    pub(crate) fn get_release_file(&self, key: &str) -> Option<Vec<u8>> {
        self.get_entry(Bucket::Releases, key)
    }

    /// Stores a release file's schema-checked form (JSON) under its content key.
    pub(crate) fn put_release_file(&self, key: &str, json: &[u8]) {
        self.put_entry(Bucket::Releases, key, json);
    }

    /// Shares a memo of file digests (with the renders of the same engine).
    pub(crate) fn set_memo(&mut self, memo: Arc<FileMemo>) {
        self.memo = memo;
    }

    fn file_digest(&self, path: &Path) -> Option<Sha> {
        self.memo.digest(path).ok()
    }

    /// Appends this process's counters to the run log (kept to the last 50 runs).
    pub fn record_run(&self) {
        let c = self.counters();
        if c.hits + c.misses == 0 {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path = self.dir.join("runs-v1.log");
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.push(format!("{now} {} {}", c.hits, c.misses));
        let keep = lines.len().saturating_sub(RUNS_KEPT);
        let text = lines[keep..].join("\n") + "\n";
        if let Err(e) = store::write_atomic(&path, text.as_bytes()) {
            self.warn(format!(
                "cache `{}`: cannot write run log: {e}",
                self.dir.display()
            ));
        }
    }

    /// Entries and bytes per bucket, and the recent runs.
    pub fn stats(&self) -> Result<Stats, CacheError> {
        let mut stats = Stats {
            dir: self.dir.clone(),
            ..Stats::default()
        };
        for bucket in Bucket::ALL {
            let mut n = 0;
            let mut bytes = 0;
            for (_, meta) in self.entries(bucket)? {
                n += 1;
                bytes += meta.len();
            }
            stats.buckets.push((bucket, n, bytes));
        }
        let log = std::fs::read_to_string(self.dir.join("runs-v1.log")).unwrap_or_default();
        for line in log.lines() {
            let f: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
            if let [t, h, m] = f[..] {
                stats.runs.push((t, h, m));
            }
        }
        Ok(stats)
    }

    /// The entries of a bucket (temporary files of writes under way, or of writers that
    /// were killed, left out).
    fn entries(&self, bucket: Bucket) -> Result<Vec<(PathBuf, std::fs::Metadata)>, CacheError> {
        let mut all = self.files(bucket)?;
        all.retain(|(p, _)| !is_temporary(p));
        Ok(all)
    }

    fn files(&self, bucket: Bucket) -> Result<Vec<(PathBuf, std::fs::Metadata)>, CacheError> {
        let root = self.dir.join(bucket.dir_name());
        let mut out = Vec::new();
        walk(&root, &mut out).map_err(|source| CacheError::Io {
            path: root.clone(),
            source,
        })?;
        Ok(out)
    }

    /// Removes temporary files older than an hour: what a writer killed mid-write leaves.
    /// A live writer renames its file within moments, so an hour-old one is abandoned.
    fn remove_stale_temporaries(&self) -> Result<Vec<(PathBuf, u64)>, CacheError> {
        let mut removed = Vec::new();
        let now = SystemTime::now();
        for bucket in Bucket::ALL {
            for (path, meta) in self.files(bucket)? {
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > STALE_TEMPORARY);
                if is_temporary(&path) && old {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed.push((path, meta.len())),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => return Err(CacheError::Io { path, source }),
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Checks every render and index entry; removes the bad ones.
    pub fn verify(&self) -> Result<VerifyReport, CacheError> {
        let mut report = VerifyReport::default();
        report
            .removed
            .extend(self.remove_stale_temporaries()?.into_iter().map(|(p, _)| p));
        for bucket in [Bucket::Renders, Bucket::Index, Bucket::Releases] {
            for (path, _) in self.entries(bucket)? {
                report.checked += 1;
                let ok = std::fs::read(&path)
                    .ok()
                    .is_some_and(|raw| unframe(&raw).is_some());
                if !ok {
                    std::fs::remove_file(&path).map_err(|source| CacheError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    report.removed.push(path);
                }
            }
        }
        Ok(report)
    }

    /// Removes entries older than `max_age` (by last use), then the oldest until the cache
    /// is under `max_bytes`.
    pub fn prune(
        &self,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<PruneReport, CacheError> {
        let mut report = PruneReport::default();
        for (_, len) in self.remove_stale_temporaries()? {
            report.removed += 1;
            report.freed += len;
        }
        let mut all = Vec::new();
        for bucket in Bucket::ALL {
            all.extend(self.entries(bucket)?);
        }
        let now = SystemTime::now();
        let age = |m: &std::fs::Metadata| {
            m.modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default()
        };
        // Oldest first.
        all.sort_by_key(|(_, m)| std::cmp::Reverse(age(m)));
        let mut total: u64 = all.iter().map(|(_, m)| m.len()).sum();
        for (path, meta) in all {
            let too_old = max_age.is_some_and(|a| age(&meta) > a);
            let too_big = max_bytes.is_some_and(|b| total > b);
            if too_old || too_big {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        report.removed += 1;
                        report.freed += meta.len();
                        total -= meta.len();
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(CacheError::Io { path, source }),
                }
            } else {
                report.kept += 1;
            }
        }
        Ok(report)
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) -> std::io::Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(&entry.path(), out)?;
        } else {
            out.push((entry.path(), meta));
        }
    }
    Ok(())
}

/// How old a temporary file must be before `verify` and `prune` remove it.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".tmp"))
}

/// Joins a recorded relative path to the root, refusing anything that could leave it.
fn safe_join(root: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return None;
    }
    Some(if rel == "." {
        root.to_path_buf()
    } else {
        root.join(p)
    })
}

/// `MAGIC`, the hex SHA-256 of the payload, a newline, the payload.
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let digest = hex::encode(Sha256::digest(payload));
    let mut out = Vec::with_capacity(MAGIC.len() + 65 + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(digest.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

/// The payload of a framed entry, if the frame and digest check out.
pub(crate) fn unframe(raw: &[u8]) -> Option<&[u8]> {
    let rest = raw.strip_prefix(MAGIC)?;
    if rest.len() < 65 || rest[64] != b'\n' {
        return None;
    }
    let (digest, payload) = (&rest[..64], &rest[65..]);
    (hex::encode(Sha256::digest(payload)).as_bytes() == digest).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_detect_truncation_and_bit_flips() {
        let f = frame(b"hello: world\n");
        assert_eq!(unframe(&f), Some(&b"hello: world\n"[..]));
        assert_eq!(unframe(&f[..f.len() - 1]), None);
        let mut flipped = f.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 1;
        assert_eq!(unframe(&flipped), None);
        assert_eq!(unframe(b"something else"), None);
    }

    #[test]
    fn safe_join_refuses_escapes() {
        assert!(safe_join(Path::new("/r"), "../x").is_none());
        assert!(safe_join(Path::new("/r"), "/etc/passwd").is_none());
        assert_eq!(
            safe_join(Path::new("/r"), "a/b"),
            Some(PathBuf::from("/r/a/b"))
        );
    }
}
