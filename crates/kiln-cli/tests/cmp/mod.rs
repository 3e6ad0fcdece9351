//! The part of `argocd-cmp-server` the Argo CD tests play: the plugin's commands read
//! from `deploy/argocd/plugin.yaml`, the fixture repository, a fresh unpacked copy per
//! request, discovery, Argo CD's environment, a timeout; and a running `kiln serve`.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kiln_test_artifacts::{ADD_OWNER, FIXTURE, SET_LABELS};
use serde::Deserialize as _;
use serde_yaml::Value;

use crate::common::write;

pub(crate) const TIMEOUT: Duration = Duration::from_secs(180);

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn kiln_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln"))
}

// ------------------------------------------------------------------ plugin.yaml

/// The parts of a `ConfigManagementPlugin` the cmp-server uses.
pub(crate) struct Plugin {
    pub(crate) discover_file: Option<String>,
    pub(crate) find_command: Option<Vec<String>>,
    pub(crate) init: Option<Vec<String>>,
    pub(crate) generate: Vec<String>,
    pub(crate) parameters: Option<Vec<String>>,
}

pub(crate) fn command_of(v: &Value) -> Option<Vec<String>> {
    let mut out: Vec<String> = v
        .get("command")?
        .as_sequence()?
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    if let Some(args) = v.get("args").and_then(Value::as_sequence) {
        out.extend(args.iter().map(|x| x.as_str().unwrap().to_string()));
    }
    Some(out)
}

pub(crate) fn plugin() -> Plugin {
    let text = fs::read_to_string(workspace().join("deploy/argocd/plugin.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(doc["apiVersion"].as_str(), Some("argoproj.io/v1alpha1"));
    assert_eq!(doc["kind"].as_str(), Some("ConfigManagementPlugin"));
    let spec = &doc["spec"];
    let discover = spec.get("discover");
    Plugin {
        discover_file: discover
            .and_then(|d| d.get("fileName"))
            .and_then(Value::as_str)
            .map(str::to_string),
        find_command: discover.and_then(|d| d.get("find")).and_then(command_of),
        init: spec.get("init").and_then(command_of),
        generate: command_of(&spec["generate"]).expect("generate.command"),
        parameters: spec
            .get("parameters")
            .and_then(|p| p.get("dynamic"))
            .and_then(command_of),
    }
}

// ------------------------------------------------------------------ the fixture repository

/// A git repository holding the example fleet and a few apps.
pub(crate) fn fixture_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    write(repo.join(".git/HEAD"), "ref: refs/heads/main\n");
    copy_tree(&workspace().join("examples"), &repo.join("examples"));
    // A kustomize app with two wasip1 functions.
    let case = workspace().join("testdata/kustomize/fn-transformer-wasip1");
    let kustom = repo.join("apps/kustom");
    for f in ["kustomization.yaml", "deployment.yaml", "service.yaml"] {
        fs::create_dir_all(&kustom).unwrap();
        fs::copy(case.join(f), kustom.join(f)).unwrap();
    }
    for (f, art) in [("owner.yaml", &ADD_OWNER), ("labels.yaml", &SET_LABELS)] {
        let text = fs::read_to_string(case.join(f))
            .unwrap()
            .replace(&format!("@SHA256:{}@", art.name), art.sha256);
        write(kustom.join(f), text);
        write(kustom.join(format!("{}.wasm", art.name)), art.bytes());
    }
    // A release whose template shows values, kube facts and per-app variables.
    write(repo.join("plugins/add-owner.wasm"), ADD_OWNER.bytes());
    write(
        repo.join("apps/templated/release.yaml"),
        format!(
            "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: templated\nspec:\n  \
             resources: [settings.yaml.j2]\n  values:\n    replicas: 1\n    region: eu-west-1\n    \
             labels: {{team: payments}}\n    zones: [a]\n    db: {{host: db1}}\n  plugins:\n  \
             - name: owner\n    wasm: ../../plugins/add-owner.wasm\n    sha256: {}\n    config: {{team: payments}}\n",
            ADD_OWNER.sha256
        ),
    );
    write(
        repo.join("apps/templated/settings.yaml.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  \
         replicas: \"{{ values.replicas }}\"\n  region: \"{{ values.region }}\"\n  \
         labels: \"{{ values.labels | dictsort | map('join', '=') | join(',') }}\"\n  \
         zones: \"{{ values.zones | join(',') }}\"\n  db: \"{{ values.db.host }}:{{ values.db.port | default('5432') }}\"\n  \
         kube: \"{{ kube.version }}\"\n  apis: \"{{ kube.apiVersions | join(',') }}\"\n  \
         flavour: \"{{ env.FLAVOUR }}\"\n",
    );
    // Eight more releases for concurrent requests: acme-prod's (with its plugins), renamed,
    // each with its own owning team.
    let acme = fs::read_to_string(workspace().join("examples/releases/acme-prod/release.yaml"))
        .unwrap()
        .replace("../../base", "../../../examples/base")
        .replace("../../plugins/", "../../../examples/plugins/")
        .replace(
            "tf-outputs.json",
            "../../../examples/releases/acme-prod/tf-outputs.json",
        )
        .replace(
            "path: patches/",
            "path: ../../../examples/releases/acme-prod/patches/",
        );
    assert!(
        acme.contains("team: payments-platform"),
        "acme-prod's add-owner config"
    );
    for i in 0..8 {
        let text = acme
            .replace("name: acme-prod", &format!("name: c{i}"))
            .replace("namespace: acme", &format!("namespace: c{i}"))
            .replace("region: eu-west-1", &format!("region: r{i}"))
            .replace("team: payments-platform", &format!("team: team-{i}"));
        write(repo.join(format!("apps/fleet/c{i}/release.yaml")), text);
    }
    write(repo.join("apps/empty/README.md"), "nothing to render\n");
    // A release whose plugin spins until its time limit: a render that takes a while.
    write(repo.join("plugins/fixture.wasm"), FIXTURE.bytes());
    write(
        repo.join("apps/slow/release.yaml"),
        format!(
            "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: slow\nspec:\n  \
             resources: [cm.yaml]\n  plugins:\n  - name: spin\n    wasm: ../../plugins/fixture.wasm\n    \
             sha256: {}\n    config: {{mode: loop}}\n    timeout: 2s\n",
            FIXTURE.sha256
        ),
    );
    write(
        repo.join("apps/slow/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: slow\n",
    );
    repo
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// What `kiln render` (a release) or `kiln build` (a kustomization) prints for the app in
/// the repository itself.
pub(crate) fn expected(repo: &Path, app: &str, cache: &Path) -> String {
    let dir = repo.join(app);
    let cmd = if dir.join("release.yaml").is_file() {
        "render"
    } else {
        "build"
    };
    let out = Command::new(kiln_bin())
        .arg(cmd)
        .arg(&dir)
        .env("KILN_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// ------------------------------------------------------------------ the cmp-server's part

/// The sidecar: its own environment (cache, socket) and where it unpacks requests.
pub(crate) struct Sidecar {
    pub(crate) cache: PathBuf,
    pub(crate) socket: Option<PathBuf>,
    pub(crate) workdir: PathBuf,
}

/// One application's request.
#[derive(Default, Clone)]
pub(crate) struct App {
    pub(crate) path: String,
    pub(crate) parameters: Option<String>,
    pub(crate) env: Vec<(String, String)>,
}

impl App {
    pub(crate) fn new(path: &str) -> App {
        App {
            path: path.into(),
            ..App::default()
        }
    }
}

pub(crate) struct Reply {
    pub(crate) discovered: bool,
    pub(crate) output: Output,
}

impl Reply {
    pub(crate) fn stdout(&self) -> &str {
        std::str::from_utf8(&self.output.stdout).unwrap()
    }
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub(crate) fn ok(&self) -> &str {
        assert!(
            self.output.status.success(),
            "generate failed: {}",
            self.stderr()
        );
        self.stdout()
    }
    /// The failure's message (the last line of stderr), checking nothing reached stdout.
    pub(crate) fn failure(&self) -> String {
        assert!(
            !self.output.status.success(),
            "succeeded: {}",
            self.stdout()
        );
        assert_eq!(self.stdout(), "", "a failure wrote to stdout");
        self.stderr().lines().last().unwrap_or("").to_string()
    }
}

pub(crate) fn run_with_timeout(mut cmd: Command) -> Output {
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        so.read_to_end(&mut b).unwrap();
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        se.read_to_end(&mut b).unwrap();
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("command timed out after {TIMEOUT:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

impl Sidecar {
    pub(crate) fn new(dir: &Path) -> Sidecar {
        Sidecar {
            cache: dir.join("cache"),
            socket: None,
            workdir: dir.join("_cmp_server"),
        }
    }

    /// The environment a command gets: the sidecar's own, then Argo CD's build env.
    pub(crate) fn command(&self, argv: &[String], cwd: &Path, app: &App) -> Command {
        let path = format!("{}:/usr/bin:/bin", kiln_bin().parent().unwrap().display());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(cwd)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.workdir)
            .env("KILN_CACHE_DIR", &self.cache)
            .env("ARGOCD_APP_NAME", app.path.replace('/', "-"))
            .env("ARGOCD_APP_NAMESPACE", "default")
            .env("ARGOCD_APP_PROJECT_NAME", "default")
            .env(
                "ARGOCD_APP_REVISION",
                "0123456789abcdef0123456789abcdef01234567",
            )
            .env("ARGOCD_APP_REVISION_SHORT", "0123456")
            .env("ARGOCD_APP_SOURCE_PATH", &app.path)
            .env(
                "ARGOCD_APP_SOURCE_REPO_URL",
                "https://git.example.com/fleet.git",
            )
            .env("ARGOCD_APP_SOURCE_TARGET_REVISION", "HEAD")
            .env("KUBE_VERSION", "1.31.2")
            .env("KUBE_API_VERSIONS", "v1,apps/v1,networking.k8s.io/v1");
        if let Some(s) = &self.socket {
            cmd.env("KILN_SOCKET", s);
        }
        if let Some(p) = &app.parameters {
            cmd.env("ARGOCD_APP_PARAMETERS", p);
        }
        for (k, v) in &app.env {
            cmd.env(format!("ARGOCD_ENV_{k}"), v);
        }
        cmd
    }

    /// Packs `repo` without `.git`, unpacks it into a fresh folder, and serves one request.
    pub(crate) fn request(&self, plugin: &Plugin, repo: &Path, app: &App) -> Reply {
        fs::create_dir_all(&self.workdir).unwrap();
        let fresh = tempfile::tempdir_in(&self.workdir).unwrap();
        let pack = Command::new("tar")
            .args(["--exclude=./.git", "-czf", "-", "-C"])
            .arg(repo)
            .arg(".")
            .output()
            .unwrap();
        assert!(pack.status.success());
        let mut unpack = Command::new("tar")
            .args(["-xzf", "-", "-C"])
            .arg(fresh.path())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        unpack
            .stdin
            .take()
            .unwrap()
            .write_all(&pack.stdout)
            .unwrap();
        assert!(unpack.wait().unwrap().success());
        assert!(!fresh.path().join(".git").exists());
        let app_dir = fresh.path().join(&app.path);
        let discovered = self.discover(plugin, &app_dir, app);
        if let Some(init) = &plugin.init {
            let out = run_with_timeout(self.command(init, &app_dir, app));
            if !out.status.success() {
                return Reply {
                    discovered,
                    output: out,
                };
            }
        }
        let output = run_with_timeout(self.command(&plugin.generate, &app_dir, app));
        Reply { discovered, output }
    }

    /// `discover`: `fileName` is a glob in the app folder; `find.command` must exit 0 and
    /// print something.
    pub(crate) fn discover(&self, plugin: &Plugin, app_dir: &Path, app: &App) -> bool {
        if let Some(name) = &plugin.discover_file {
            assert!(
                !name.contains(['*', '?', '[']),
                "this harness matches plain file names only"
            );
            return app_dir.join(name).exists();
        }
        if let Some(cmd) = &plugin.find_command {
            let out = run_with_timeout(self.command(cmd, app_dir, app));
            return out.status.success() && !out.stdout.is_empty();
        }
        true
    }
}

/// A running `kiln serve`, stopped with SIGTERM on drop (checking it exits cleanly).
pub(crate) struct Server {
    pub(crate) child: Option<Child>,
    pub(crate) socket: PathBuf,
}

impl Server {
    pub(crate) fn start(socket: &Path, cache: &Path) -> Server {
        let child = Command::new(kiln_bin())
            .args(["serve", "--socket"])
            .arg(socket)
            .env("KILN_CACHE_DIR", cache)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while UnixStream::connect(socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Server {
            child: Some(child),
            socket: socket.to_path_buf(),
        }
    }

    /// SIGTERM; returns its stderr after checking it exited 0 and removed its socket.
    pub(crate) fn stop(mut self) -> String {
        self.stop_inner()
    }

    pub(crate) fn stop_inner(&mut self) -> String {
        let Some(child) = self.child.take() else {
            return String::new();
        };
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "server exit {:?}: {stderr}",
            out.status
        );
        assert!(!self.socket.exists(), "the socket file was left behind");
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop_inner();
        } else if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(crate) fn parse_stream(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

pub(crate) const FALLBACK: &str = "rendering in-process";
