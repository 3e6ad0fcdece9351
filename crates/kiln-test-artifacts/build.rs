//! Builds every crate under `plugins/` for `wasm32-wasip1` and for the host,
//! in release mode, and writes `$OUT_DIR/artifacts.rs` with one `Artifact`
//! constant per plugin binary.
//!
//! The plugins are built by a nested `cargo build` with its own target dir
//! (see [`plugin_target_dir`]): sharing the outer one would deadlock on its
//! lock. One invocation builds both targets for all plugins.
//!
//! Plugins in other languages (`plugins/go/*`, `plugins/c/*`) are built too
//! when their toolchain is on this machine (Go with `GOOS=wasip1`, clang with
//! wasi-libc); each gets a `Result<Artifact, &str>` constant whose error says
//! what is missing. `KILN_REQUIRE_FOREIGN_PLUGINS=1` turns a missing toolchain
//! into a build failure, so CI cannot skip them silently.
//!
//! Builds are reproducible: the same sources and toolchains give the same
//! bytes in any checkout folder (paths are remapped), which is what lets the
//! examples commit their `.wasm` files next to a test that rebuilds them.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "build/foreign.rs"]
mod foreign;

const WASM_TARGET: &str = "wasm32-wasip1";

/// Release settings for plugins (see DESIGN.md): opt-level "s" (never "z":
/// much slower code), fat LTO, one codegen unit, and `panic = "abort"`; the
/// SDK's panic hook still turns a panic into an error result under abort.
const PROFILE: &[&str] = &[
    "profile.release.opt-level=\"s\"",
    "profile.release.lto=true",
    "profile.release.codegen-units=1",
    "profile.release.panic=\"abort\"",
    "profile.release.debug=false",
    "profile.release.incremental=false",
];

struct Plugin {
    package: String,
    bins: Vec<String>,
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target_dir = plugin_target_dir(&out_dir);
    let host = env::var("HOST").unwrap();

    for path in ["plugins", "crates/kiln-plugin", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    println!("cargo:rerun-if-env-changed=KILN_REQUIRE_FOREIGN_PLUGINS");
    ensure_wasm_target();
    let plugins = discover(&root.join("plugins"));

    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--target",
            &host,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for setting in PROFILE {
        cmd.args(["--config", setting]);
    }
    // Paths into the checkout and into cargo's registry end up in panic messages:
    // remap them so the bytes do not depend on where the checkout or cargo lives.
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut remaps = vec![format!("--remap-path-prefix={}=/kiln", root.display())];
    if let Some(home) = cargo_home {
        remaps.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    let flags: Vec<String> = remaps.iter().map(|f| format!("{f:?}")).collect();
    cmd.args([
        "--config",
        &format!("target.{WASM_TARGET}.rustflags=[{}]", flags.join(", ")),
    ]);
    for plugin in &plugins {
        cmd.args(["--package", &plugin.package]);
    }
    // Settings of the outer build must not leak into the plugin build: flags
    // for the host could break the wasm build, the outer target dir is
    // locked, and `cargo clippy` sets a wrapper for workspace crates.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "building the plugins failed: {cmd:?}");

    let wasm_dir = target_dir.join(WASM_TARGET).join("release");
    let native_dir = target_dir.join(&host).join("release");
    let mut code = String::new();
    let mut all = Vec::new();
    for plugin in &plugins {
        for bin in &plugin.bins {
            let wasm = wasm_dir.join(format!("{bin}.wasm"));
            let native = native_dir.join(format!("{bin}{}", env::consts::EXE_SUFFIX));
            let bytes =
                fs::read(&wasm).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", wasm.display()));
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let name = bin.strip_prefix("kiln-plugin-").unwrap_or(bin);
            let constant = name.to_uppercase().replace('-', "_");
            writeln!(
                code,
                "/// The `{name}` plugin (package `{package}`, {size} bytes of wasm).\n\
                 pub const {constant}: Artifact = Artifact {{\n    \
                     name: {name:?},\n    \
                     path: {wasm:?},\n    \
                     native: {native:?},\n    \
                     sha256: {sha256:?},\n\
                 }};",
                package = plugin.package,
                size = bytes.len(),
                wasm = wasm.display().to_string(),
                native = native.display().to_string(),
            )
            .unwrap();
            all.push(constant);
        }
    }
    writeln!(
        code,
        "/// Every plugin, in name order.\npub const ALL: &[Artifact] = &[{}];",
        all.join(", ")
    )
    .unwrap();
    foreign::build_all(&root, &target_dir.join("foreign"), &mut code);
    fs::write(out_dir.join("artifacts.rs"), code).unwrap();
}

/// Makes sure the `wasm32-wasip1` standard library is installed for the compiler
/// this build uses, adding it with rustup when it is not (rustup does not add
/// targets on its own when `RUSTUP_AUTO_INSTALL=0`).
fn ensure_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = |root: &Path| {
        root.join("lib/rustlib")
            .join(WASM_TARGET)
            .join("lib")
            .is_dir()
    };
    if sysroot.as_deref().is_some_and(installed) {
        return;
    }
    println!(
        "cargo:warning=the {WASM_TARGET} target is missing: running `rustup target add {WASM_TARGET}`"
    );
    let added = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .output();
    match added {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the {WASM_TARGET} target is not installed and `rustup target add {WASM_TARGET}` \
             failed:\n{}\nInstall it by hand (`rustup target add {WASM_TARGET}`) and build again.",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "the {WASM_TARGET} target is not installed and rustup cannot be run ({e}): \
             install the target for this toolchain and build again"
        ),
    }
}

/// Where the nested build puts its output.
///
/// Every variant of the outer build (`build`, `test`, `clippy`, `doc`) gets its
/// own `OUT_DIR`; building all plugins in each would cost minutes and 80 MB a
/// time. So the nested build shares `<target>/kiln-plugins`, found from the
/// usual `OUT_DIR` layout `<target>/<profile>/build/<pkg>-<hash>/out`; cargo's
/// lock on that dir serializes concurrent builds. With another layout it
/// falls back to `OUT_DIR/target`.
fn plugin_target_dir(out_dir: &Path) -> PathBuf {
    let ancestors: Vec<&Path> = out_dir.ancestors().take(5).collect();
    match ancestors.as_slice() {
        [out, _, build, _, target] if out.ends_with("out") && build.ends_with("build") => {
            target.join("kiln-plugins")
        }
        _ => out_dir.join("target"),
    }
}

/// Each directory under `plugins/` with a `Cargo.toml` is a plugin crate; its
/// binaries are `src/main.rs` (named after the package) and `src/bin/*.rs`.
fn discover(plugins_dir: &Path) -> Vec<Plugin> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(plugins_dir)
        .unwrap_or_else(|e| panic!("cannot list `{}`: {e}", plugins_dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|dir| {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let package = manifest
                .lines()
                .find_map(|line| {
                    let value = line
                        .trim()
                        .strip_prefix("name")?
                        .trim_start()
                        .strip_prefix('=')?;
                    Some(value.trim().trim_matches('"').to_owned())
                })
                .unwrap_or_else(|| {
                    panic!("no package name in `{}`", dir.join("Cargo.toml").display())
                });
            let mut bins = Vec::new();
            if dir.join("src/main.rs").is_file() {
                bins.push(package.clone());
            }
            if let Ok(entries) = fs::read_dir(dir.join("src/bin")) {
                let mut extra: Vec<String> = entries
                    .map(|entry| entry.unwrap().path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
                    .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
                    .collect();
                extra.sort();
                bins.extend(extra);
            }
            Plugin { package, bins }
        })
        .collect()
}
