//! Helpers shared by the `kiln` binary's test files.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `kiln` with `args` and `KILN_CACHE_DIR` set to `cache`.
pub(crate) fn kiln(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env("KILN_CACHE_DIR", cache)
        .output()
        .unwrap()
}

/// `kiln render RELEASES -o OUT -j 2` with `KILN_CACHE_DIR` set to `cache`, not started,
/// stdout discarded, for tests that run several at once or kill one.
pub(crate) fn render_command(releases: &Path, out: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(["render", "-j", "2", "-o"])
        .arg(out)
        .arg(releases)
        .env("KILN_CACHE_DIR", cache)
        .stdout(std::process::Stdio::null());
    cmd
}

/// The captured stderr, as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a file, creating its folder.
pub(crate) fn write(path: impl AsRef<Path>, text: impl AsRef<[u8]>) {
    let path = path.as_ref();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}
