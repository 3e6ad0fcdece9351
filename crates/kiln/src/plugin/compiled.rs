//! Compiled plugins on disk: `<dir>/modules-v1/<digest>-<engine>.cwasm`, and
//! `<digest>-<engine>.failed` for a module that did not compile or link (its reason).
//!
//! `<engine>` is a hash of [`wasmtime::Engine::precompile_compatibility_hash`], so an
//! artifact compiled by another wasmtime version or configuration is never looked up.
//! A file is a header (magic line, then the length and CRC-32 of the rest) followed by the output of
//! [`wasmtime::Module::serialize`]. Files are written to a temporary file in the same
//! folder and renamed into place, so readers see a whole file or none; the header is
//! checked on every read. Any failure is a miss: a bad entry is deleted and the
//! plugin recompiled, never a failed render.
//!
//! This is the one place kiln uses `unsafe`: loading compiled machine code.
//!
//! Compiled modules stay on this machine, outside the cache's [`Store`] interface, on
//! purpose: loading one trusts it as native code, so a store shared between machines
//! (renders are verified data; modules would be code) must not feed it. Sharing them
//! would need signed artifacts.
//!
//! [`Store`]: crate::cache::Store

use std::fs;
use std::hash::{Hash as _, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::{Engine, Module};

use super::Digest;

/// The cache folder (bump its version when the file layout changes).
const BUCKET: crate::cache::Bucket = crate::cache::Bucket::Modules;

const MAGIC: &[u8; 14] = b"kiln-cwasm-v2\n";
/// The magic line, the payload's length (u64) and its CRC-32 (u32), little-endian.
const HEADER: usize = MAGIC.len() + 8 + 4;

/// Why a cached module was not used (a file that does not exist is not a rejection).
#[derive(Debug)]
pub(crate) enum Miss {
    /// No file.
    Absent,
    /// The file was unreadable, truncated, corrupt or incompatible, and was removed.
    Rejected,
}

/// The on-disk module cache of one engine.
pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_key: String,
}

impl DiskCache {
    pub(crate) fn new(cache_dir: &Path, engine: &Engine) -> DiskCache {
        DiskCache {
            dir: cache_dir.join(BUCKET.dir_name()),
            engine_key: engine_key(engine),
        }
    }

    /// The file for `digest`.
    pub(crate) fn path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", digest.to_hex(), self.engine_key))
    }

    /// Loads the module compiled for `digest`, if a sound one is cached.
    pub(crate) fn load(&self, engine: &Engine, digest: &Digest) -> Result<Module, Miss> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(_) => return Err(self.reject(&path)),
        };
        let Some(payload) = verified_payload(&bytes) else {
            return Err(self.reject(&path));
        };
        match deserialize(engine, payload) {
            Ok(m) => Ok(m),
            Err(_) => Err(self.reject(&path)),
        }
    }

    fn reject(&self, path: &Path) -> Miss {
        // Best effort: another process may have removed or replaced it already.
        let _ = fs::remove_file(path);
        Miss::Rejected
    }

    /// Stores `module` for `digest`, atomically. Errors are for the stats only.
    pub(crate) fn store(&self, digest: &Digest, module: &Module) -> Result<(), String> {
        let payload = module.serialize().map_err(|e| e.to_string())?;
        fs::create_dir_all(&self.dir).map_err(|e| format!("`{}`: {e}", self.dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(|e| format!("`{}`: {e}", self.dir.display()))?;
        let write = |f: &mut fs::File| -> std::io::Result<()> {
            f.write_all(&header(&payload))?;
            f.write_all(&payload)?;
            f.flush()
        };
        write(tmp.as_file_mut()).map_err(|e| format!("`{}`: {e}", tmp.path().display()))?;
        let path = self.path(digest);
        tmp.persist(&path)
            .map_err(|e| format!("`{}`: {}", path.display(), e.error))?;
        Ok(())
    }
}

impl DiskCache {
    /// The record of a failed compile or link of `digest`.
    fn failure_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.failed", digest.to_hex(), self.engine_key))
    }

    /// Why `digest` could not be compiled or linked by this engine, if a record says so and
    /// was written under the same limits (a kiln with other limits compiles again).
    pub(crate) fn load_failure(&self, digest: &Digest) -> Option<String> {
        let text = fs::read_to_string(self.failure_path(digest)).ok()?;
        let (stamp, reason) = text.split_once('\n')?;
        (stamp == failure_stamp() && !reason.is_empty()).then(|| reason.to_string())
    }

    /// Records why `digest` could not be compiled or linked, atomically.
    pub(crate) fn store_failure(&self, digest: &Digest, reason: &str) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        write!(tmp, "{}\n{reason}", failure_stamp())?;
        tmp.persist(self.failure_path(digest))
            .map_err(|e| e.error)?;
        Ok(())
    }
}

/// The first line of a failure record: what the failure depends on besides the engine.
fn failure_stamp() -> String {
    format!(
        "kiln-failed-v1 kiln={} table-elements={} tables={} memories={}",
        env!("CARGO_PKG_VERSION"),
        super::sandbox::MAX_TABLE_ELEMENTS,
        super::sandbox::MAX_TABLES,
        super::sandbox::MAX_MEMORIES
    )
}

/// The header of a cache file holding `payload`.
fn header(payload: &[u8]) -> [u8; HEADER] {
    let mut h = [0; HEADER];
    h[..MAGIC.len()].copy_from_slice(MAGIC);
    h[MAGIC.len()..][..8].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[MAGIC.len() + 8..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    h
}

/// The payload of a cache file whose header checks out.
///
/// The header catches a damaged or truncated file, not a forged one: whoever can write the
/// cache folder can write any checksum, so a cryptographic hash would add nothing but time
/// (sha256 of a 22 MB Go artifact took a third of a first call; CRC-32 takes 2 ms).
fn verified_payload(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER {
        return None;
    }
    let (head, payload) = bytes.split_at(HEADER);
    (head == header(payload)).then_some(payload)
}

/// Loads a module from bytes that [`Module::serialize`] wrote.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Module> {
    // SAFETY: `Module::deserialize` trusts its input to be a module that wasmtime
    // serialized; arbitrary bytes could run arbitrary code. `payload` is kiln's own
    // output of `Module::serialize`: it comes from `<cache>/modules-v1/`, under a name
    // that binds the wasm digest and this engine's compatibility hash, files there are
    // only ever written whole (temporary file + rename) by `DiskCache::store`, and its
    // length and CRC-32 were checked against the header just before this call, so a truncated or
    // damaged file never gets here. wasmtime itself still rejects an artifact built for
    // another engine configuration with an error, which is a cache miss.
    unsafe { Module::deserialize(engine, payload) }
}

/// A hex key for the engine's compatibility hash (a stable hash: sha256 of what the
/// engine feeds to `Hash`).
fn engine_key(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_checked() {
        let payload = b"compiled code";
        let mut file = header(payload).to_vec();
        file.extend_from_slice(payload);
        assert_eq!(verified_payload(&file), Some(&payload[..]));
        assert_eq!(verified_payload(&file[..file.len() - 1]), None);
        assert_eq!(verified_payload(&file[..10]), None);
        let mut bad = file.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(verified_payload(&bad), None);
        let mut longer = file.clone();
        longer.push(0);
        assert_eq!(verified_payload(&longer), None);
        let mut old = file.clone();
        old[MAGIC.len() - 2] = b'1';
        assert_eq!(verified_payload(&old), None);
    }
}
