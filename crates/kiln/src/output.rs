//! Writing rendered output.

use std::io;
use std::path::Path;

/// Writes `bytes` to `path` only when the file does not already hold them, atomically
/// (temporary file + rename). Returns whether the file was written.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    match std::fs::read(path) {
        Ok(old) if old == bytes => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    crate::cache::write_atomic(path, bytes)?;
    // Temporary files are created private; rendered manifests are ordinary files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(true)
}
