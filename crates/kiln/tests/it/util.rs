//! Shared helpers: finding cases, blessing expected files, and one tester that drives
//! every render path (no cache, cold cache, warm cache, -j1, -jN).

use std::path::{Path, PathBuf};

use kiln::{Engine, Release};

/// The repository's `testdata/` folder.
pub(crate) fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The case folders of a suite, sorted.
pub(crate) fn cases(suite: &str) -> Vec<PathBuf> {
    let dir = testdata().join(suite);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// Whether expected files should be rewritten (`KILN_BLESS=1`).
pub(crate) fn blessing() -> bool {
    std::env::var_os("KILN_BLESS").is_some_and(|v| v != "0")
}

/// Compares `actual` with the file at `path`, or rewrites it when blessing. Returns a
/// description of the difference.
pub(crate) fn check_file(path: &Path, actual: &str) -> Result<(), String> {
    if blessing() {
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e} (run with KILN_BLESS=1 to create it)",
            path.display()
        )
    })?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ))
    }
}

/// The release of a case: `release.yaml` at its top, else `release/release.yaml`.
pub(crate) fn case_release(case: &Path) -> PathBuf {
    let top = case.join("release.yaml");
    if top.exists() {
        top
    } else {
        case.join("release/release.yaml")
    }
}

/// Loads a case's release with the case folder as the project root.
pub(crate) fn load(case: &Path) -> Result<Release, kiln::Error> {
    Release::load_with_root(case_release(case), Some(case))
}

/// An engine without cache.
pub(crate) fn engine_no_cache() -> Engine {
    Engine::builder().no_cache(true).build().unwrap()
}

/// An engine with a cache in `dir` and `jobs` threads.
pub(crate) fn engine_with_cache(dir: &Path, jobs: usize) -> Engine {
    Engine::builder().cache_dir(dir).jobs(jobs).build().unwrap()
}

/// Runs `check` on every case and reports every failure at once.
pub(crate) fn run_all(cases: &[PathBuf], check: impl Fn(&Path) -> Result<(), String>) {
    assert!(!cases.is_empty(), "no cases found");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(c).err().map(|e| {
                format!(
                    "case {}: {e}",
                    c.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
