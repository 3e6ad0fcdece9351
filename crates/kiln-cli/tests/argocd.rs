//! kiln as an Argo CD config management plugin, driven the way `argocd-cmp-server` drives
//! it: the commands come from `deploy/argocd/plugin.yaml`; per request the fixture
//! repository is packed with `tar` without `.git` and unpacked into a fresh folder, then
//! `discover` is checked, `init` (if any) and `generate` run in the app's folder with Argo
//! CD's environment and a timeout, and stdout is parsed as a YAML stream.

#![allow(clippy::print_stderr)] // a note when kubectl is missing

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_test_artifacts::{ADD_OWNER, FIXTURE, SET_LABELS};
use serde_yaml::Value;

// Only `write` is used here.
#[allow(dead_code)]
mod common;
use common::write;

const TIMEOUT: Duration = Duration::from_secs(180);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kiln_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln"))
}

// ------------------------------------------------------------------ plugin.yaml

/// The parts of a `ConfigManagementPlugin` the cmp-server uses.
struct Plugin {
    discover_file: Option<String>,
    find_command: Option<Vec<String>>,
    init: Option<Vec<String>>,
    generate: Vec<String>,
    parameters: Option<Vec<String>>,
}

fn command_of(v: &Value) -> Option<Vec<String>> {
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

fn plugin() -> Plugin {
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
fn fixture_repo(dir: &Path) -> PathBuf {
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
    // Eight more releases for concurrent requests: acme-prod's, renamed, with a plugin.
    let acme = fs::read_to_string(workspace().join("examples/releases/acme-prod/release.yaml"))
        .unwrap()
        .replace("../../base", "../../../examples/base")
        .replace(
            "tf-outputs.json",
            "../../../examples/releases/acme-prod/tf-outputs.json",
        )
        .replace(
            "path: patches/",
            "path: ../../../examples/releases/acme-prod/patches/",
        );
    for i in 0..8 {
        let text = acme
            .replace("name: acme-prod", &format!("name: c{i}"))
            .replace("namespace: acme", &format!("namespace: c{i}"))
            .replace("region: eu-west-1", &format!("region: r{i}"));
        write(
            repo.join(format!("apps/fleet/c{i}/release.yaml")),
            format!(
                "{text}\n  plugins:\n  - name: owner\n    wasm: ../../../plugins/add-owner.wasm\n    \
                 sha256: {}\n    config: {{team: team-{i}}}\n",
                ADD_OWNER.sha256
            ),
        );
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

fn copy_tree(from: &Path, to: &Path) {
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
fn expected(repo: &Path, app: &str, cache: &Path) -> String {
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
struct Sidecar {
    cache: PathBuf,
    socket: Option<PathBuf>,
    workdir: PathBuf,
}

/// One application's request.
#[derive(Default, Clone)]
struct App {
    path: String,
    parameters: Option<String>,
    env: Vec<(String, String)>,
}

impl App {
    fn new(path: &str) -> App {
        App {
            path: path.into(),
            ..App::default()
        }
    }
}

struct Reply {
    discovered: bool,
    output: Output,
}

impl Reply {
    fn stdout(&self) -> &str {
        std::str::from_utf8(&self.output.stdout).unwrap()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn ok(&self) -> &str {
        assert!(
            self.output.status.success(),
            "generate failed: {}",
            self.stderr()
        );
        self.stdout()
    }
    /// The failure's message (the last line of stderr), checking nothing reached stdout.
    fn failure(&self) -> String {
        assert!(
            !self.output.status.success(),
            "succeeded: {}",
            self.stdout()
        );
        assert_eq!(self.stdout(), "", "a failure wrote to stdout");
        self.stderr().lines().last().unwrap_or("").to_string()
    }
}

fn run_with_timeout(mut cmd: Command) -> Output {
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
    fn new(dir: &Path) -> Sidecar {
        Sidecar {
            cache: dir.join("cache"),
            socket: None,
            workdir: dir.join("_cmp_server"),
        }
    }

    /// The environment a command gets: the sidecar's own, then Argo CD's build env.
    fn command(&self, argv: &[String], cwd: &Path, app: &App) -> Command {
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
    fn request(&self, plugin: &Plugin, repo: &Path, app: &App) -> Reply {
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
    fn discover(&self, plugin: &Plugin, app_dir: &Path, app: &App) -> bool {
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
struct Server {
    child: Option<Child>,
    socket: PathBuf,
}

impl Server {
    fn start(socket: &Path, cache: &Path) -> Server {
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
    fn stop(mut self) -> String {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> String {
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

fn parse_stream(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize as _;

const FALLBACK: &str = "rendering in-process";

// ------------------------------------------------------------------ tests

#[test]
fn example_fleet_and_kustomize_app_match_render_and_build_with_and_without_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    let apps = [
        "examples/releases/acme-prod",
        "examples/releases/acme-staging",
        "examples/releases/globex-prod",
        "examples/releases/initech-prod",
        "apps/kustom",
    ];
    let want: Vec<String> = apps
        .iter()
        .map(|a| expected(&repo, a, &tmp.path().join("expected-cache")))
        .collect();
    let mut sidecar = Sidecar::new(tmp.path());
    // No server: in-process, saying so once.
    for (app, want) in apps.iter().zip(&want) {
        let reply = sidecar.request(&plugin, &repo, &App::new(app));
        assert_eq!(
            reply.discovered,
            app.contains("releases"),
            "discover of {app}"
        );
        assert_eq!(reply.ok(), want, "{app}");
        assert_eq!(
            reply.stderr().matches(FALLBACK).count(),
            1,
            "{}",
            reply.stderr()
        );
        assert!(!parse_stream(reply.ok()).is_empty());
    }
    // A running server: the same bytes, no fallback; twice, the second from the cache of
    // a fresh copy.
    let socket = tmp.path().join("run/kiln.sock");
    let server = Server::start(&socket, &sidecar.cache);
    sidecar.socket = Some(socket.clone());
    for _ in 0..2 {
        for (app, want) in apps.iter().zip(&want) {
            let reply = sidecar.request(&plugin, &repo, &App::new(app));
            assert_eq!(reply.ok(), want, "{app}");
            assert!(!reply.stderr().contains(FALLBACK), "{}", reply.stderr());
        }
    }
    // The socket is the user's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    let log = server.stop();
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn a_changed_file_is_never_served_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    let mut sidecar = Sidecar::new(tmp.path());
    let socket = tmp.path().join("run/kiln.sock");
    let _server = Server::start(&socket, &sidecar.cache);
    sidecar.socket = Some(socket);
    let app = App::new("examples/releases/acme-prod");
    let before = sidecar.request(&plugin, &repo, &app).ok().to_string();
    let values = repo.join("examples/releases/acme-prod/release.yaml");
    let text = fs::read_to_string(&values).unwrap();
    fs::write(&values, text.replace("logLevel: info", "logLevel: trace")).unwrap();
    let after = sidecar.request(&plugin, &repo, &app).ok().to_string();
    assert_ne!(before, after);
    assert_eq!(after, expected(&repo, &app.path, &tmp.path().join("c2")));
    assert!(after.contains("trace"));
}

/// The data of the `settings` ConfigMap in a stream.
fn settings(stream: &str) -> BTreeMap<String, String> {
    let docs = parse_stream(stream);
    let cm = docs
        .iter()
        .find(|d| d["metadata"]["name"].as_str() == Some("settings"))
        .expect("settings ConfigMap");
    assert_eq!(
        cm["metadata"]["annotations"]["kiln.dev/owner"].as_str(),
        Some("payments"),
        "the plugin ran"
    );
    serde_yaml::from_value(cm["data"].clone()).unwrap()
}

#[test]
fn parameters_kube_facts_and_app_env_reach_the_render() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    let mut sidecar = Sidecar::new(tmp.path());
    let elsewhere = tmp.path().join("elsewhere");
    let app = App {
        path: "apps/templated".into(),
        parameters: Some(
            r#"[{"name":"replicas","string":"5"},{"name":"labels","map":{"tier":"gold"}},
               {"name":"zones","array":["b","c"]},{"name":"db.port","string":"6432"}]"#
                .into(),
        ),
        env: vec![
            ("FLAVOUR".into(), "vanilla".into()),
            // Per-app variables may not move kiln's cache or socket.
            (
                "KILN_CACHE_DIR".into(),
                elsewhere.join("cache").display().to_string(),
            ),
            (
                "KILN_SOCKET".into(),
                elsewhere.join("kiln.sock").display().to_string(),
            ),
        ],
    };
    let check = |reply: &Reply| {
        let data = settings(reply.ok());
        let want: BTreeMap<String, String> = [
            ("replicas", "5"),
            ("region", "eu-west-1"),
            ("labels", "team=payments,tier=gold"),
            ("zones", "b,c"),
            ("db", "db1:6432"),
            ("kube", "1.31.2"),
            ("apis", "v1,apps/v1,networking.k8s.io/v1"),
            ("flavour", "vanilla"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(data, want);
    };
    let reply = sidecar.request(&plugin, &repo, &app);
    assert!(reply.discovered);
    check(&reply);
    let socket = tmp.path().join("run/kiln.sock");
    let _server = Server::start(&socket, &sidecar.cache);
    sidecar.socket = Some(socket);
    let reply = sidecar.request(&plugin, &repo, &app);
    check(&reply);
    assert!(!reply.stderr().contains(FALLBACK), "{}", reply.stderr());
    assert!(!elsewhere.exists(), "ARGOCD_ENV_KILN_* redirected kiln");
    assert!(sidecar.cache.join("renders-v1").is_dir());

    // Another parameter value is another render, never the cached one.
    let mut other = app.clone();
    other.parameters = Some(r#"[{"name":"replicas","string":"7"}]"#.into());
    assert_eq!(
        settings(sidecar.request(&plugin, &repo, &other).ok())["replicas"],
        "7"
    );
    // Another per-app variable is another key: rendered afresh, still right.
    let mut cmd_app = app.clone();
    cmd_app.env.push(("X".into(), "1".into()));
    assert_eq!(
        settings(sidecar.request(&plugin, &repo, &cmd_app).ok())["replicas"],
        "5"
    );

    // The parameters announced for the UI: one per key of the release's values.
    let dynamic = plugin.parameters.as_ref().expect("dynamic parameters");
    let dir = repo.join("apps/templated");
    let out = run_with_timeout(sidecar.command(dynamic, &dir, &app));
    assert!(out.status.success());
    let announced: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = announced
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["replicas", "region", "labels", "zones", "db"]);
    assert_eq!(announced[2]["collectionType"].as_str(), Some("map"));
    assert_eq!(announced[3]["array"][0].as_str(), Some("a"));
}

#[test]
fn eight_concurrent_requests_for_different_apps_are_all_correct() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let apps: Vec<String> = (0..8).map(|i| format!("apps/fleet/c{i}")).collect();
    let want: Vec<String> = apps
        .iter()
        .map(|a| expected(&repo, a, &tmp.path().join("expected-cache")))
        .collect();
    let mut sidecar = Sidecar::new(tmp.path());
    let socket = tmp.path().join("run/kiln.sock");
    let _server = Server::start(&socket, &sidecar.cache);
    sidecar.socket = Some(socket);
    let sidecar = Arc::new(sidecar);
    let repo = Arc::new(repo);
    let handles: Vec<_> = apps
        .iter()
        .cloned()
        .map(|app| {
            let (sidecar, repo) = (sidecar.clone(), repo.clone());
            std::thread::spawn(move || {
                let reply = sidecar.request(&plugin(), &repo, &App::new(&app));
                (reply.ok().to_string(), reply.stderr())
            })
        })
        .collect();
    for ((h, want), app) in handles.into_iter().zip(&want).zip(&apps) {
        let (got, stderr) = h.join().unwrap();
        assert_eq!(&got, want, "{app}");
        assert!(!stderr.contains(FALLBACK), "{stderr}");
    }
}

fn bad(path: &str, parameters: Option<&str>) -> App {
    App {
        path: path.into(),
        parameters: parameters.map(str::to_string),
        env: vec![("FLAVOUR".into(), "x".into())],
    }
}

#[test]
fn bad_inputs_give_their_message_and_nothing_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    let cases: Vec<(App, &str)> = vec![
        (
            bad("apps/empty", None),
            "error: the app folder `apps/empty` holds neither a release.yaml nor a kustomization.yaml",
        ),
        (
            bad(
                "apps/templated",
                Some(r#"[{"name":"replicaz","string":"3"}]"#),
            ),
            "error: release `templated`: unknown parameter `replicaz`: the release's values have no `replicaz` (known: replicas, region, labels, zones, db)",
        ),
        (
            bad(
                "apps/templated",
                Some(r#"[{"name":"replicas","string":"3"}"#),
            ),
            "error: ARGOCD_APP_PARAMETERS is not valid JSON: EOF while parsing a list at line 1 column 33",
        ),
        (
            bad("apps/templated", Some(r#"{"replicas":"3"}"#)),
            "error: ARGOCD_APP_PARAMETERS must be a JSON array of parameters, found an object",
        ),
        (
            bad("apps/templated", Some(r#"[{"name":"zones","string":"a"}]"#)),
            "error: release `templated`: parameter `zones` is a string, but `values.zones` is a list",
        ),
        (
            bad(
                "apps/templated",
                Some(r#"[{"name":"labels","array":["a"]}]"#),
            ),
            "error: release `templated`: parameter `labels` is an array, but `values.labels` is a mapping",
        ),
        (
            bad(
                "apps/templated",
                Some(r#"[{"name":"labels","map":{"tier":1}}]"#),
            ),
            "error: parameter `labels`: `map` values must be strings, `tier` is a number",
        ),
        (
            bad("apps/templated", Some(r#"[{"name":"replicas"}]"#)),
            "error: parameter `replicas`: set one of `string`, `array` or `map`",
        ),
        (
            bad("apps/kustom", Some(r#"[{"name":"replicas","string":"3"}]"#)),
            "error: parameter `replicas`: the app `apps/kustom` is a kustomization, which takes no parameters (they override a release's values)",
        ),
        (
            // No ARGOCD_ENV_FLAVOUR: the template's variable is undefined.
            App::new("apps/templated"),
            "error: release `templated`: `apps/templated/settings.yaml.j2`:13: undefined variable `env.FLAVOUR`",
        ),
    ];
    let mut sidecar = Sidecar::new(tmp.path());
    for (app, want) in &cases {
        let reply = sidecar.request(&plugin, &repo, app);
        assert_eq!(&reply.failure(), want, "in-process, {}", app.path);
    }
    let socket = tmp.path().join("run/kiln.sock");
    let _server = Server::start(&socket, &sidecar.cache);
    sidecar.socket = Some(socket);
    for (app, want) in &cases {
        let reply = sidecar.request(&plugin, &repo, app);
        assert_eq!(&reply.failure(), want, "served, {}", app.path);
        assert!(!reply.stderr().contains(FALLBACK));
    }
}

#[test]
fn a_server_dying_mid_request_falls_back_or_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    // A server that reads the request's length and dies.
    let dir = tmp.path().join("run");
    fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("kiln.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let dying = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut len = [0u8; 4];
            s.read_exact(&mut len).unwrap();
            drop(s);
        }
    });
    let mut sidecar = Sidecar::new(tmp.path());
    sidecar.socket = Some(socket.clone());
    let app = App::new("examples/releases/acme-prod");
    let reply = sidecar.request(&plugin, &repo, &app);
    assert_eq!(
        reply.ok(),
        expected(&repo, &app.path, &tmp.path().join("c"))
    );
    assert_eq!(
        reply.stderr().lines().next().unwrap(),
        format!(
            "kiln: no render server answered at `{}` (the server closed the connection mid-request); rendering in-process",
            socket.display()
        )
    );
    // When the in-process render fails too: its message, nothing on stdout.
    let reply = sidecar.request(
        &plugin,
        &repo,
        &bad("apps/templated", Some(r#"[{"name":"nope","string":"1"}]"#)),
    );
    assert!(
        reply
            .failure()
            .starts_with("error: release `templated`: unknown parameter `nope`")
    );
    assert_eq!(reply.stderr().matches(FALLBACK).count(), 1);
    dying.join().unwrap();
}

#[test]
fn a_stale_socket_file_falls_back_and_is_replaced_by_a_new_server() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    let dir = tmp.path().join("run");
    fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let socket = dir.join("kiln.sock");
    drop(UnixListener::bind(&socket).unwrap()); // a server that died: its file remains
    assert!(socket.exists());
    let mut sidecar = Sidecar::new(tmp.path());
    sidecar.socket = Some(socket.clone());
    let app = App::new("examples/releases/globex-prod");
    let want = expected(&repo, &app.path, &tmp.path().join("c"));
    let reply = sidecar.request(&plugin, &repo, &app);
    assert_eq!(reply.ok(), want);
    assert_eq!(
        reply.stderr().lines().next().unwrap(),
        format!(
            "kiln: no render server answered at `{}` (Connection refused (os error 111)); rendering in-process",
            socket.display()
        )
    );
    // A new server replaces the stale file and serves.
    let server = Server::start(&socket, &sidecar.cache);
    let reply = sidecar.request(&plugin, &repo, &app);
    assert_eq!(reply.ok(), want);
    assert!(!reply.stderr().contains(FALLBACK));
    // A second server refuses to steal a live socket.
    let second = Command::new(kiln_bin())
        .args(["serve", "--socket"])
        .arg(&socket)
        .env("KILN_CACHE_DIR", &sidecar.cache)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&second.stderr).trim_end(),
        format!(
            "error: another kiln server is listening at `{}`",
            socket.display()
        )
    );
    let log = server.stop();
    assert!(log.contains("replaced the stale socket"), "{log}");
    // A socket folder other users can open is refused.
    let open = tmp.path().join("open");
    fs::create_dir_all(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(kiln_bin())
        .args(["serve", "--socket"])
        .arg(open.join("kiln.sock"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "error: socket folder `{}` is open to other users (mode 0755); give the socket a folder only kiln's user can open (mode 0700)",
            open.display()
        )
    );
}

#[test]
fn a_read_only_cache_volume_does_not_fail_a_render() {
    // Tests run as root, where file modes do not stop writes: the cache path lies under a
    // regular file, so every write fails (ENOTDIR) as on a read-only volume.
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    write(tmp.path().join("ro"), "not a folder\n");
    let mut sidecar = Sidecar::new(tmp.path());
    sidecar.cache = tmp.path().join("ro/cache");
    let app = App::new("apps/fleet/c3");
    let want = expected(&repo, &app.path, &tmp.path().join("c"));
    let reply = sidecar.request(&plugin, &repo, &app);
    assert_eq!(reply.ok(), want);
    assert!(
        reply.stderr().contains("warning: cache"),
        "{}",
        reply.stderr()
    );
    let socket = tmp.path().join("run/kiln.sock");
    let _server = Server::start(&socket, &sidecar.cache);
    sidecar.socket = Some(socket);
    for _ in 0..2 {
        let reply = sidecar.request(&plugin, &repo, &app);
        assert_eq!(reply.ok(), want);
        assert!(!reply.stderr().contains(FALLBACK));
    }
}

/// The Deployment's kiln container and the pod's volumes, from a kustomize build.
fn check_deploy(stream: &str) {
    let docs = parse_stream(stream);
    let deploy = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .expect("a Deployment");
    assert_eq!(
        deploy["metadata"]["name"].as_str(),
        Some("argocd-repo-server")
    );
    let spec = &deploy["spec"]["template"]["spec"];
    let containers = spec["containers"].as_sequence().unwrap();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // kustomize puts the patch's new list items first.
    assert_eq!(names, ["kiln", "argocd-repo-server"]);
    let kiln = &containers[0];
    assert_eq!(
        kiln["image"].as_str(),
        Some("registry.example.com/kiln/argocd-cmp:0.1.0")
    );
    let mounts: BTreeMap<String, (String, Option<String>)> = kiln["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap().to_string(),
                (
                    m["name"].as_str().unwrap().to_string(),
                    m.get("subPath").and_then(Value::as_str).map(str::to_string),
                ),
            )
        })
        .collect();
    assert_eq!(mounts["/var/run/argocd"].0, "var-files");
    assert_eq!(mounts["/home/argocd/cmp-server/plugins"].0, "plugins");
    assert_eq!(
        mounts["/home/argocd/cmp-server/config/plugin.yaml"],
        (
            "kiln-cmp-plugin".to_string(),
            Some("plugin.yaml".to_string())
        )
    );
    assert_eq!(mounts["/var/cache/kiln"].0, "kiln-cache");
    let volumes: Vec<&str> = spec["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for v in [
        "var-files",
        "plugins",
        "kiln-cmp-plugin",
        "kiln-cache",
        "kiln-tmp",
    ] {
        assert!(volumes.contains(&v), "volume {v} in {volumes:?}");
    }
    let env: BTreeMap<&str, &str> = kiln["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert_eq!(env["KILN_CACHE_DIR"], "/var/cache/kiln");
    let cm = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ConfigMap"))
        .expect("the plugin ConfigMap");
    assert_eq!(cm["metadata"]["name"].as_str(), Some("kiln-cmp-plugin"));
    assert_eq!(
        cm["data"]["plugin.yaml"].as_str().unwrap(),
        fs::read_to_string(workspace().join("deploy/argocd/plugin.yaml")).unwrap()
    );
}

#[test]
fn deploy_argocd_builds_with_kiln_and_kubectl_kustomize() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = workspace().join("deploy/argocd");
    let out = Command::new(kiln_bin())
        .arg("build")
        .arg(&dir)
        .env("KILN_CACHE_DIR", tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kiln_out = String::from_utf8(out.stdout).unwrap();
    check_deploy(&kiln_out);
    let kubectl = [
        workspace().join(".peers/kubectl/kubectl"),
        PathBuf::from("/usr/bin/kubectl"),
    ]
    .into_iter()
    .find(|p| p.is_file());
    let Some(kubectl) = kubectl else {
        eprintln!(
            "no kubectl (scripts/fetch-peers.sh fetches one): kubectl kustomize not compared"
        );
        return;
    };
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kubectl_out = String::from_utf8(out.stdout).unwrap();
    check_deploy(&kubectl_out);
    assert_eq!(parse_stream(&kiln_out), parse_stream(&kubectl_out));
}

#[test]
fn a_real_server_killed_mid_render_leaves_stdout_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    let mut sidecar = Sidecar::new(tmp.path());
    let socket = tmp.path().join("run/kiln.sock");
    let mut server = Server::start(&socket, &sidecar.cache);
    sidecar.socket = Some(socket.clone());
    let child = server.child.take().unwrap();
    let pid = child.id();
    // SIGKILL the server while it runs the spinning plugin (2 s time limit).
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    });
    let reply = sidecar.request(&plugin, &repo, &App::new("apps/slow"));
    let died = killer.join().unwrap();
    assert!(!died.status.success());
    // The client noticed, rendered in-process, and that render failed on its own.
    let stderr = reply.stderr();
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!(
            "kiln: no render server answered at `{}` (the server closed the connection mid-request); rendering in-process",
            socket.display()
        )
    );
    let last = reply.failure();
    assert!(
        last.starts_with("error: release `slow`: plugin `spin`") && last.contains("time limit"),
        "{last}"
    );
}

#[test]
fn the_sidecar_entrypoint_serves_and_stops_both_processes_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = fixture_repo(tmp.path());
    let plugin = plugin();
    // Stands in for argocd-cmp-server: runs until SIGTERM, then exits 0.
    let fake = tmp.path().join("argocd-cmp-server");
    write(
        &fake,
        "#!/bin/sh\ntrap 'echo cmp-server stopped >&2; exit 0' TERM\nwhile :; do sleep 0.05; done\n",
    );
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let mut sidecar = Sidecar::new(tmp.path());
    let socket = tmp.path().join("run/kiln.sock");
    let entry = Command::new("sh")
        .arg(workspace().join("deploy/argocd/entrypoint.sh"))
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", kiln_bin().parent().unwrap().display()),
        )
        .env("KILN_SOCKET", &socket)
        .env("KILN_CACHE_DIR", &sidecar.cache)
        .env("ARGOCD_CMP_SERVER", &fake)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "kiln serve did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sidecar.socket = Some(socket.clone());
    let app = App::new("examples/releases/initech-prod");
    let reply = sidecar.request(&plugin, &repo, &app);
    assert_eq!(
        reply.ok(),
        expected(&repo, &app.path, &tmp.path().join("c"))
    );
    assert!(!reply.stderr().contains(FALLBACK), "{}", reply.stderr());
    let status = Command::new("kill")
        .args(["-TERM", &entry.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = entry.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("cmp-server stopped"), "{log}");
    assert!(log.contains("kiln serve: stopped"), "{log}");
    assert!(!socket.exists());
}
