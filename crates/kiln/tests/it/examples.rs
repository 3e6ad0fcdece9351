//! `examples/`: the committed plugins are the ones `plugins/` builds (same bytes, same
//! pins in every release), the example fleet renders to its golden files with both
//! versions of `add-owner` side by side, and the broken example fails with the policy
//! plugin's result. `KILN_BLESS=1` copies freshly built plugins into `examples/plugins/`,
//! rewrites the pins in the example releases and rewrites the goldens.

use std::path::{Path, PathBuf};

use kiln::Release;
use kiln_test_artifacts::{
    ADD_OWNER, ADD_OWNER_V2, Artifact, C_DEFAULT_RESOURCES, POLICY, TF_OUTPUTS,
};
use sha2::{Digest, Sha256};

use crate::util::*;

fn examples() -> PathBuf {
    testdata().parent().unwrap().join("examples")
}

/// Each committed plugin and the artifact it must equal.
fn committed() -> Vec<(&'static str, Result<Artifact, &'static str>)> {
    vec![
        ("add-owner-v1.wasm", Ok(ADD_OWNER)),
        ("add-owner-v2.wasm", Ok(ADD_OWNER_V2)),
        ("tf-outputs.wasm", Ok(TF_OUTPUTS)),
        ("policy.wasm", Ok(POLICY)),
        ("default-resources.wasm", C_DEFAULT_RESOURCES),
    ]
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every release file under `examples/`.
fn release_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![examples()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "release.yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The `(wasm, sha256)` pairs of a release file's plugin entries, by line.
fn pins(text: &str) -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(wasm) = line.trim().strip_prefix("wasm: ") {
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
            let sha = next.strip_prefix("sha256: ").unwrap_or("").to_string();
            out.push((i + 1, wasm.to_string(), sha));
        }
    }
    out
}

#[test]
fn committed_plugins_are_built_from_plugins_and_pinned() {
    let dir = examples().join("plugins");
    let mut problems = Vec::new();
    for (file, artifact) in committed() {
        let path = dir.join(file);
        let artifact = match artifact {
            Ok(a) => a,
            Err(why) => {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("skipped: examples/plugins/{file} not rebuilt here: {why}");
                }
                continue;
            }
        };
        if blessing() {
            std::fs::write(&path, artifact.bytes()).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let found = sha256_hex(&bytes);
        if found != artifact.sha256 {
            problems.push(format!(
                "examples/plugins/{file} is {found}, but `{}` built from plugins/ is {} \
                 (run with KILN_BLESS=1 to refresh it and the pins)",
                artifact.name, artifact.sha256
            ));
        }
    }
    for release in release_files() {
        let mut text = std::fs::read_to_string(&release).unwrap();
        for (line, wasm, sha) in pins(&text.clone()) {
            let wasm_path = release.parent().unwrap().join(&wasm);
            let actual = sha256_hex(
                &std::fs::read(&wasm_path)
                    .unwrap_or_else(|e| panic!("{}: {e}", wasm_path.display())),
            );
            if blessing() && sha != actual {
                text = text.replacen(&format!("sha256: {sha}"), &format!("sha256: {actual}"), 1);
                std::fs::write(&release, &text).unwrap();
            } else if sha != actual {
                problems.push(format!(
                    "{}:{}: `{wasm}` is pinned to {sha} but is {actual}",
                    release.display(),
                    line + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn golden(name: &str) -> PathBuf {
    testdata().join("examples").join(format!("{name}.yaml"))
}

#[test]
fn the_example_fleet_renders_with_both_plugin_versions() {
    let engine = engine_no_cache();
    let paths: Vec<PathBuf> = kiln::discover(&[examples().join("releases")])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    let releases: Vec<Release> = paths.iter().map(|p| Release::load(p).unwrap()).collect();
    if blessing() {
        std::fs::create_dir_all(testdata().join("examples")).unwrap();
    }
    let mut failures = Vec::new();
    for (release, result) in releases.iter().zip(engine.render_all(&releases)) {
        let rendered = result.unwrap_or_else(|e| panic!("{}: {e}", release.name()));
        let yaml = rendered.yaml();
        // globex stays on add-owner v1; the others run v2, which stamps its version.
        let v2 = yaml.contains("kiln.dev/owner-version: '2'");
        assert_eq!(v2, release.name() != "globex-prod", "{}", release.name());
        assert!(yaml.contains("kiln.dev/owner:"), "{}", release.name());
        // The C plugin filled the init containers' requests; tf-outputs made the Secret
        // that the Deployments read, and the password is only there, base64-encoded.
        assert!(yaml.contains("name: infra-secret"), "{}", release.name());
        assert!(yaml.contains("name: migrate"), "{}", release.name());
        if let Err(e) = check_file(&golden(release.name()), yaml) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_sensitive_output_stays_out_of_the_configmap() {
    let release = Release::load(examples().join("releases/acme-prod")).unwrap();
    let out = engine_no_cache().render(&release).unwrap();
    let password = "Zq8v!acme-prod-7d3f";
    assert!(!out.yaml().contains(password), "the password is in clear");
    let resources = out.resources().unwrap();
    let secret = resources
        .iter()
        .find(|r| r.kind() == "Secret" && r.name() == "infra-secret")
        .expect("infra-secret");
    // "Zq8v!acme-prod-7d3f", base64-encoded by the plugin.
    assert_eq!(
        secret.to_value()["data"]["db_password"],
        "WnE4diFhY21lLXByb2QtN2QzZg=="
    );
    let config = resources
        .iter()
        .find(|r| r.kind() == "ConfigMap" && r.name() == "infra")
        .expect("infra");
    let data = &config.to_value()["data"];
    assert_eq!(data["db_user"], "app");
    assert!(data.get("db_password").is_none(), "{data}");
}

#[test]
fn the_broken_example_fails_with_the_policy_result() {
    let path: &Path = &examples().join("broken/latest-image");
    let release = Release::load(path).unwrap();
    let err = engine_no_cache().render(&release).unwrap_err().to_string();
    check_file(
        &testdata().join("examples/broken-latest-image.err"),
        &format!("{err}\n"),
    )
    .unwrap();
    for part in ["Deployment/reports", "policy", "image"] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
}
