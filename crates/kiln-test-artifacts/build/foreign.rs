//! Plugins in other languages: `plugins/go/<name>` (a Go main package, standard
//! library only) and `plugins/c/<name>/<name>.c`, each built for WASI and for the
//! host when its toolchain is here.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// What one build produced, or why there is none.
type Built = Result<(PathBuf, PathBuf), String>;

/// Builds every foreign plugin into `out` and appends one constant per plugin to
/// `code`: `GO_<NAME>` / `C_<NAME>`, a `Result<Artifact, &str>`.
pub(crate) fn build_all(root: &Path, out: &Path, code: &mut String) {
    let required = env::var_os("KILN_REQUIRE_FOREIGN_PLUGINS").is_some_and(|v| v == "1");
    let mut all = Vec::new();
    for (language, build) in [
        ("go", build_go as fn(&Path, &Path, &str) -> Built),
        ("c", build_c),
    ] {
        let dir = root.join("plugins").join(language);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let src = dir.join(&name);
            let dest = out.join(language).join(&name);
            fs::create_dir_all(&dest).unwrap();
            let constant = format!(
                "{}_{}",
                language.to_uppercase(),
                name.to_uppercase().replace('-', "_")
            );
            let value = match build(&src, &dest, &name) {
                Ok((wasm, native)) => {
                    let bytes = fs::read(&wasm).unwrap();
                    format!(
                        "Ok(Artifact {{\n    name: {name:?},\n    path: {:?},\n    native: {:?},\n    sha256: {:?},\n}})",
                        wasm.display().to_string(),
                        native.display().to_string(),
                        hex::encode(Sha256::digest(&bytes)),
                    )
                }
                Err(why) if required => panic!(
                    "plugins/{language}/{name} cannot be built and KILN_REQUIRE_FOREIGN_PLUGINS=1: {why}"
                ),
                Err(why) => {
                    println!("cargo:warning=plugins/{language}/{name} not built: {why}");
                    format!("Err({why:?})")
                }
            };
            writeln!(
                code,
                "/// The `{name}` plugin in {lang} (`plugins/{language}/{name}`), or why it was \
                 not built here.\npub const {constant}: Result<Artifact, &str> = {value};",
                lang = if language == "go" { "Go" } else { "C" },
            )
            .unwrap();
            all.push(constant);
        }
    }
    writeln!(
        code,
        "/// Every plugin in another language than Rust, built or not.\n\
         pub const FOREIGN: &[Result<Artifact, &str>] = &[{}];",
        all.join(", ")
    )
    .unwrap();
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!("{shown} failed: {}", stderr.trim()))
}

/// `GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false`, and the same for the
/// host. `-trimpath` and `-buildvcs=false` keep the checkout's path and git state out
/// of the binary, so its pin does not depend on them.
fn build_go(src: &Path, dest: &Path, name: &str) -> Built {
    let go = env::var_os("GO").unwrap_or_else(|| "go".into());
    run(Command::new(&go).arg("version"))
        .map_err(|_| "no Go toolchain (`go`) on PATH".to_string())?;
    let wasm = dest.join(format!("{name}.wasm"));
    let native = dest.join(name);
    for (goos, goarch, output) in [(Some("wasip1"), Some("wasm"), &wasm), (None, None, &native)] {
        let mut cmd = Command::new(&go);
        cmd.current_dir(src)
            .args(["build", "-trimpath", "-buildvcs=false", "-o"])
            .arg(output)
            .arg(".")
            // No module downloads, no toolchain switch: standard library only.
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("CGO_ENABLED", "0")
            .env_remove("GOOS")
            .env_remove("GOARCH");
        if let (Some(os), Some(arch)) = (goos, goarch) {
            cmd.env("GOOS", os).env("GOARCH", arch);
        }
        run(&mut cmd)?;
    }
    println!("cargo:rerun-if-env-changed=GO");
    Ok((wasm, native))
}

/// `clang --target=wasm32-wasi` against wasi-libc, and the host C compiler.
fn build_c(src: &Path, dest: &Path, name: &str) -> Built {
    let clang = env::var_os("KILN_WASI_CC").unwrap_or_else(|| "clang".into());
    let source = src.join(format!("{name}.c"));
    if !source.is_file() {
        return Err(format!("no `{name}.c` in `{}`", src.display()));
    }
    let wasm = dest.join(format!("{name}.wasm"));
    let native = dest.join(name);
    let flags = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"];
    run(Command::new(&clang)
        .args(["--target=wasm32-wasi", "-s"])
        .args(flags)
        .arg("-o")
        .arg(&wasm)
        .arg(&source))
    .map_err(|e| format!("no working clang for wasm32-wasi with wasi-libc ({e})"))?;
    let cc = env::var_os("CC").unwrap_or_else(|| "cc".into());
    run(Command::new(&cc)
        .args(flags)
        .arg("-o")
        .arg(&native)
        .arg(&source))?;
    println!("cargo:rerun-if-env-changed=KILN_WASI_CC");
    println!("cargo:rerun-if-env-changed=CC");
    Ok((wasm, native))
}
