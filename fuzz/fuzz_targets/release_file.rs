//! Release files: loading any `release.yaml` never panics.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A project root of its own per process, holding only `release.yaml`.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kiln-fuzz-release-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz root");
        dir.canonicalize().expect("canonicalize the fuzz root")
    })
}

fuzz_target!(|data: &[u8]| {
    let root = root();
    std::fs::write(root.join(kiln::RELEASE_FILE), data).expect("write release.yaml");
    if let Ok(release) = kiln::Release::load_with_root(root, Some(root)) {
        assert!(!release.name().is_empty());
    }
});
