//! Benchmark inputs: synthetic fleets made by `scripts/gen-fleet.py`, with the example
//! plugins built from source.

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::Release;
use kiln_test_artifacts::{ADD_OWNER, POLICY, SET_LABELS};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A generated fleet in a temporary folder (a git work tree, so it is the project root).
pub struct Fleet {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The release folders, in order.
    pub releases: Vec<PathBuf>,
}

impl Fleet {
    /// Generates `n` releases with `plugins` plugin steps each (0 to 3: add-owner,
    /// set-labels, policy).
    pub fn generate(n: usize, plugins: usize) -> Fleet {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path();
        std::fs::create_dir_all(out.join(".git")).expect("mark work tree");
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("scripts/gen-fleet.py")).arg(out).args([
            "-n",
            &n.to_string(),
            "-p",
            &plugins.to_string(),
        ]);
        for a in [&ADD_OWNER, &SET_LABELS, &POLICY].iter().take(plugins) {
            cmd.arg("--plugin")
                .arg(format!("{}={}:{}", a.name, a.path, a.sha256));
        }
        let status = cmd.status().expect("python3 runs scripts/gen-fleet.py");
        assert!(status.success(), "gen-fleet.py failed");
        let mut releases: Vec<PathBuf> = std::fs::read_dir(out.join("releases"))
            .expect("releases folder")
            .map(|e| e.expect("entry").path())
            .collect();
        releases.sort();
        assert_eq!(releases.len(), n);
        Fleet { dir, releases }
    }

    /// Loads every release.
    pub fn load(&self) -> Vec<Release> {
        self.releases
            .iter()
            .map(|p| Release::load(p).expect("generated release loads"))
            .collect()
    }

    /// Changes one release file (its values), so exactly one release re-renders.
    pub fn touch_one(&self, round: usize) {
        let path = self.releases[0].join("release.yaml");
        let text = std::fs::read_to_string(&path).expect("release file");
        let marker = "\n# round ";
        let base = text.split(marker).next().unwrap_or(&text).to_string();
        std::fs::write(&path, format!("{base}{marker}{round}\n")).expect("write release");
    }

    /// Replaces the first `from` by `to` in a file of the fleet (e.g. a base file, so every
    /// release changes).
    pub fn edit(&self, path: &str, from: &str, to: &str) {
        let path = self.dir.path().join(path);
        let text = std::fs::read_to_string(&path).expect("fleet file");
        assert!(text.contains(from), "{} has no `{from}`", path.display());
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write fleet file");
    }
}

/// Runs a plugin's host build as a kustomize exec function does: `stdin` in, the whole
/// stdout read, a successful exit required. Returns stdout.
pub fn fork_native(program: &str, stdin: &[u8]) -> Vec<u8> {
    use std::io::{Read as _, Write as _};
    use std::process::Stdio;
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read stdout");
    assert!(child.wait().expect("wait").success(), "{program} failed");
    assert!(!out.is_empty(), "{program} wrote nothing");
    out
}

/// How many resources [`plugin_items`] gives.
pub const PLUGIN_ITEMS: usize = 40;

/// The 40 resources plugin calls are measured on (the `languages` bench and the
/// `plugin-cost` example): Deployments (without resources, so `default-resources` has
/// work), Services and ConfigMaps.
pub fn plugin_items() -> Vec<kiln::Resource> {
    (0..PLUGIN_ITEMS)
        .map(|i| {
            let value = match i % 3 {
                0 => serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": format!("app-{i}"), "labels": {"app": format!("app-{i}")}},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": format!("app-{i}")}},
                        "template": {"metadata": {"labels": {"app": format!("app-{i}")}},
                            "spec": {"containers": [{"name": "app",
                                "image": format!("example.com/app-{i}:1.0.{i}"),
                                "ports": [{"containerPort": 8080}]}]}}}}),
                1 => serde_json::json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": format!("svc-{i}")},
                    "spec": {"selector": {"app": format!("app-{i}")},
                        "ports": [{"port": 80, "targetPort": 8080}]}}),
                _ => serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i}")},
                    "data": {"key": format!("value-{i}"), "other": format!("more-{i}")}}),
            };
            kiln::Resource::try_from(value).expect("a resource")
        })
        .collect()
}
