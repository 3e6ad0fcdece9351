//! kiln as an Argo CD config management plugin, driven the way `argocd-cmp-server` drives
//! it: the commands come from `deploy/argocd/plugin.yaml`; per request the fixture
//! repository is packed with `tar` without `.git` and unpacked into a fresh folder, then
//! `discover` is checked, `init` (if any) and `generate` run in the app's folder with Argo
//! CD's environment and a timeout, and stdout is parsed as a YAML stream.

#![allow(clippy::print_stderr)] // a note when kubectl is missing

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_yaml::Value;

// Only `write` is used from here.
#[allow(dead_code)]
mod common;
use common::write;

mod cmp;
use cmp::{
    App, FALLBACK, Reply, Server, Sidecar, expected, fixture_repo, kiln_bin, parse_stream, plugin,
    run_with_timeout, workspace,
};

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
    // `kiln build`, as for any kustomization app.
    let kiln_out = expected(&workspace(), "deploy/argocd", tmp.path());
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
