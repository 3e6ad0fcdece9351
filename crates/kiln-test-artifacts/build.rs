//! Builds every crate under `plugins/` for `wasm32-wasip1` and for the host,
//! in release mode, and writes `$OUT_DIR/artifacts.rs` with one `Artifact`
//! constant per plugin binary.
//!
//! The plugins are built by a nested `cargo build` with its own target dir
//! (see [`plugin_target_dir`]): sharing the outer one would deadlock on its
//! lock. One invocation builds both targets for all plugins.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

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
    fs::write(out_dir.join("artifacts.rs"), code).unwrap();
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
