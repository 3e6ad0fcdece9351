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

/// The token a case file writes for a plugin's pin: `"@SHA256:NAME@"`, NAME a plugin under
/// `plugins/`.
pub(crate) const PIN_TOKEN: &str = "@SHA256:";

/// Copies `from` into `to`, writing next to each file that names a plugin by its pin
/// token the module `kiln-test-artifacts` built (`NAME.wasm`), and the pin in place of the
/// token. Returns whether the tree names any plugin.
pub(crate) fn copy_with_plugins(from: &Path, to: &Path) -> bool {
    let mut any = false;
    std::fs::create_dir_all(to).expect("create case copy");
    for entry in std::fs::read_dir(from).expect("read case").flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            any |= copy_with_plugins(&src, &dst);
            continue;
        }
        let bytes = std::fs::read(&src).expect("read case file");
        let Ok(mut text) = String::from_utf8(bytes.clone()) else {
            std::fs::write(&dst, bytes).expect("write case file");
            continue;
        };
        while let Some(start) = text.find(PIN_TOKEN) {
            any = true;
            let rest = &text[start + PIN_TOKEN.len()..];
            let name = rest[..rest.find('@').expect("token ends with @")].to_string();
            let artifact = kiln_test_artifacts::Artifact::find(&name)
                .unwrap_or_else(|| panic!("no plugin `{name}` in kiln-test-artifacts"));
            std::fs::write(dst.with_file_name(format!("{name}.wasm")), artifact.bytes())
                .expect("write module");
            text.replace_range(
                start..start + PIN_TOKEN.len() + name.len() + 1,
                artifact.sha256,
            );
        }
        std::fs::write(&dst, text).expect("write case file");
    }
    any
}

/// Whether any file under `dir` names a plugin by its pin token.
pub(crate) fn names_plugins(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let p = e.path();
            if p.is_dir() {
                names_plugins(&p)
            } else {
                std::fs::read_to_string(&p).is_ok_and(|t| t.contains(PIN_TOKEN))
            }
        })
}

/// `message` with the pins of plugins built from source (which change with their code)
/// written as their tokens.
pub(crate) fn unpin(message: &str) -> String {
    let mut message = message.to_string();
    for a in kiln_test_artifacts::ALL {
        let token = format!("{PIN_TOKEN}{}@", a.name);
        message = message
            .replace(a.sha256, &token)
            .replace(&a.sha256[..12], &token);
    }
    message
}

/// Runs the cases of `testdata/plugins/` whose names start with `prefix`: each is copied
/// with its plugins (see [`copy_with_plugins`]), `build` makes its output from the copy,
/// and the output must equal `expected.yaml`, or the error (pins as tokens) `expected.err`.
pub(crate) fn run_plugin_cases(prefix: &str, build: impl Fn(&Path) -> Result<String, kiln::Error>) {
    let cases: Vec<PathBuf> = cases("plugins")
        .into_iter()
        .filter(|c| {
            c.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    run_all(&cases, |case| {
        let scratch = tempfile::tempdir().expect("tempdir");
        let root = scratch.path().join(case.file_name().unwrap_or_default());
        copy_with_plugins(case, &root);
        let yaml = case.join("expected.yaml");
        match build(&root) {
            Ok(out) if !case.join("expected.err").exists() => check_file(&yaml, &out),
            Ok(out) => Err(format!("built instead of failing:\n{out}")),
            Err(e) if !yaml.exists() => check_file(
                &case.join("expected.err"),
                &format!("{}\n", unpin(&e.to_string())),
            ),
            Err(e) => Err(format!("failed: {e}")),
        }
    });
}
