//! The plugin host against the real plugins built from `plugins/`: every sandbox limit,
//! every failure form, the sandbox itself, pins, versions side by side and the compiled
//! module cache.

use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use kiln::{Digest, Engine, Error, Limits, PluginError, Release, Resource, Runtime, check_module};
use kiln_test_artifacts::{ADD_OWNER, ADD_OWNER_V2, Artifact, FIXTURE, PLAIN_YAML};
use serde_json::{Value, json};

/// One engine for the tests that do not look at the cache, so each plugin compiles once.
static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::builder().no_cache(true).build().unwrap());

fn runtime() -> &'static Runtime {
    ENGINE.plugins()
}

/// Small limits, so a misbehaving plugin is stopped quickly.
fn limits() -> Limits {
    Limits {
        timeout: Duration::from_millis(500),
        memory: 64 << 20,
        stdout: 1 << 20,
        stderr: 4 << 10,
    }
}

type Output = Result<(Vec<Resource>, Vec<String>), PluginError>;

fn call_with(
    rt: &Runtime,
    plugin: &Artifact,
    config: Value,
    limits: &Limits,
    items: Vec<Resource>,
) -> Output {
    let wasm = plugin.bytes();
    let digest: Digest = plugin.sha256.parse().unwrap();
    rt.run(plugin.name, &digest, &wasm, Some(&config), limits, items)
        .map(|out| (out.items, out.messages))
}

/// Runs the fixture in `mode` on two ConfigMaps.
fn fixture(mode: &str, extra: Value, limits: &Limits) -> Output {
    let mut config = json!({ "mode": mode });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    call_with(runtime(), &FIXTURE, config, limits, two_configmaps())
}

/// Two ConfigMaps, `a` and `b`, made by the fixture's generator.
fn two_configmaps() -> Vec<Resource> {
    let mut items = Vec::new();
    for name in ["a", "b"] {
        let config = json!({"mode": "generate", "name": name, "data": {"k": name}});
        items = call_with(runtime(), &FIXTURE, config, &limits(), items)
            .unwrap()
            .0;
    }
    items
}

fn annotation<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
    r.metadata_map("annotations")?.get(key)?.as_str()
}

fn short(a: &Artifact) -> String {
    a.sha256[..12].to_string()
}

#[test]
fn ok_passes_items_through() {
    let (items, messages) = fixture("ok", json!({}), &limits()).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].name(), "a");
    assert!(
        items
            .iter()
            .all(|i| annotation(i, "kiln.dev/fixture") == Some("ok"))
    );
    assert!(messages.is_empty());
    let (items, _) = fixture("yaml-out", json!({}), &limits()).unwrap();
    assert!(
        items
            .iter()
            .all(|i| annotation(i, "kiln.dev/fixture") == Some("ok"))
    );
}

#[test]
fn generate_and_drop() {
    let (items, _) = fixture("generate", json!({"name": "extra"}), &limits()).unwrap();
    assert_eq!(
        items.iter().map(Resource::name).collect::<Vec<_>>(),
        ["a", "b", "extra"]
    );
    let (items, _) = fixture("drop", json!({"kinds": ["ConfigMap"]}), &limits()).unwrap();
    assert!(items.is_empty());
}

#[test]
fn time_limit() {
    let started = Instant::now();
    let err = fixture("loop", json!({}), &limits()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, PluginError::Timeout { limit, .. } if *limit == Duration::from_millis(500)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "plugin `fixture` (sha256:{}): timed out after 500ms (time limit)",
            short(&FIXTURE)
        )
    );
}

#[test]
fn memory_limit() {
    for (mode, extra) in [
        ("alloc", json!({})),
        ("alloc-huge", json!({"bytes": 512 << 20})),
    ] {
        let err = fixture(mode, extra, &limits()).unwrap_err();
        let PluginError::MemoryLimit { limit, plugin, .. } = &err else {
            panic!("{mode}: {err:?}")
        };
        assert_eq!((*limit, plugin.as_str()), (64 << 20, "fixture"));
        assert!(
            err.to_string().contains("the memory limit is 64 MiB"),
            "{err}"
        );
    }
    // A huge allocation within a generous limit succeeds.
    let roomy = Limits {
        memory: 256 << 20,
        ..limits()
    };
    fixture("alloc-huge", json!({"bytes": 100 << 20}), &roomy).unwrap();
}

#[test]
fn output_limit() {
    let small = Limits {
        stdout: 64 << 10,
        ..limits()
    };
    let err = fixture("flood-stdout", json!({}), &small).unwrap_err();
    assert!(
        matches!(&err, PluginError::OutputLimit { limit, .. } if *limit == 64 << 10),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("wrote more than the output limit of 64 KiB to stdout")
    );
}

#[test]
fn stderr_is_truncated_not_an_error() {
    // Writing stderr forever is only stopped by the time limit; what was kept is capped.
    let err = fixture("flood-stderr", json!({}), &limits()).unwrap_err();
    let PluginError::Timeout { stderr, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(stderr.len(), 4 << 10);
}

#[test]
fn stack_overflow() {
    let err = fixture("recurse", json!({}), &limits()).unwrap_err();
    assert!(
        matches!(err, PluginError::StackOverflow { .. }),
        "{err:?}\n{err}"
    );
}

#[test]
fn exit_code_and_stderr() {
    let err = fixture("exit", json!({"code": 7}), &limits()).unwrap_err();
    let PluginError::Exit { code, stderr, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, 7);
    assert_eq!(stderr, "fixture: exiting with code 7 on purpose\n");
    assert_eq!(
        err.to_string(),
        format!(
            "plugin `fixture` (sha256:{}): exited with code 7; stderr:\n  fixture: exiting with code 7 on purpose",
            short(&FIXTURE)
        )
    );
}

#[test]
fn error_and_warning_results() {
    let err = fixture("error-result", json!({}), &limits()).unwrap_err();
    let PluginError::Results { results, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        results,
        &["error: fixture: error result on purpose (ConfigMap/a field metadata.name)"]
    );
    assert!(
        err.to_string()
            .contains("reported 1 error:\n  error: fixture"),
        "{err}"
    );

    let (items, messages) = fixture("warning-result", json!({}), &limits()).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(messages, ["warning: fixture: warning result on purpose"]);
}

#[test]
fn a_panic_is_an_error_result() {
    let err = fixture("panic", json!({}), &limits()).unwrap_err();
    let PluginError::Results { results, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(results.len(), 1);
    assert!(
        results[0].contains("fixture: panic on purpose"),
        "{results:?}"
    );
}

#[test]
fn malformed_output() {
    for mode in ["garbage", "partial"] {
        let err = fixture(mode, json!({}), &limits()).unwrap_err();
        assert!(
            matches!(err, PluginError::BadOutput { .. }),
            "{mode}: {err:?}"
        );
        assert!(
            err.to_string().contains("output is not a ResourceList"),
            "{err}"
        );
    }
}

#[test]
fn sandbox_sees_no_files_and_no_environment() {
    let (items, _) = fixture("read-file", json!({}), &limits()).unwrap();
    assert_eq!(annotation(&items[0], "kiln.dev/fs"), Some("denied"));
    let (items, _) = fixture("read-env", json!({}), &limits()).unwrap();
    assert_eq!(annotation(&items[0], "kiln.dev/env-count"), Some("0"));
    assert_eq!(annotation(&items[0], "kiln.dev/args"), Some("1"));
}

#[test]
fn clock_and_randomness_are_deterministic() {
    let first = fixture("clock-random", json!({}), &limits()).unwrap().0;
    let second = fixture("clock-random", json!({}), &limits()).unwrap().0;
    assert_eq!(first, second);
    assert_eq!(annotation(&first[0], "kiln.dev/time"), Some("946684800"));
    assert_eq!(annotation(&first[0], "kiln.dev/random").unwrap().len(), 32);
    // A fresh runtime (another process) sees the same.
    let other = Runtime::new(Default::default()).unwrap();
    let third = call_with(
        &other,
        &FIXTURE,
        json!({"mode": "clock-random"}),
        &limits(),
        two_configmaps(),
    )
    .unwrap()
    .0;
    assert_eq!(first, third);
}

#[test]
fn pins_and_module_checks() {
    for plugin in [&ADD_OWNER, &ADD_OWNER_V2, &FIXTURE, &PLAIN_YAML] {
        let wasm = plugin.bytes();
        let info = check_module(&wasm).unwrap();
        assert_eq!(info.digest, plugin.sha256.parse::<Digest>().unwrap());
        assert_eq!(info.digest, Digest::of(&wasm));
        assert_eq!(info.digest.to_hex(), plugin.sha256);
        assert_eq!(info.size, wasm.len() as u64);
    }
    // SDK plugins carry the SDK version; a plugin written without it does not.
    assert!(
        check_module(&ADD_OWNER.bytes())
            .unwrap()
            .sdk_version
            .is_some()
    );
    assert_eq!(check_module(&PLAIN_YAML.bytes()).unwrap().sdk_version, None);
    // Pins parse with or without the `sha256:` prefix.
    let d: Digest = format!("sha256:{}", ADD_OWNER.sha256).parse().unwrap();
    assert_eq!(d, Digest::of(&ADD_OWNER.bytes()));
    assert!("sha256:5f0c".parse::<Digest>().is_err());
}

#[test]
fn plain_yaml_plugin_runs() {
    let (items, _) = call_with(
        runtime(),
        &PLAIN_YAML,
        json!({}),
        &limits(),
        two_configmaps(),
    )
    .unwrap();
    assert!(
        items
            .iter()
            .all(|i| i.metadata_map("labels").unwrap()["kiln.dev/plain"] == "true")
    );
}

#[test]
fn two_versions_of_one_plugin_in_one_process() {
    let config = json!({"team": "payments"});
    let (v1, _) = call_with(
        runtime(),
        &ADD_OWNER,
        config.clone(),
        &limits(),
        two_configmaps(),
    )
    .unwrap();
    let (v2, _) = call_with(
        runtime(),
        &ADD_OWNER_V2,
        config,
        &limits(),
        two_configmaps(),
    )
    .unwrap();
    for (a, b) in v1.iter().zip(&v2) {
        assert_eq!(annotation(a, "kiln.dev/owner"), Some("payments"));
        assert_eq!(annotation(b, "kiln.dev/owner"), Some("payments"));
        assert_eq!(annotation(a, "kiln.dev/owner-version"), None);
        assert_eq!(annotation(b, "kiln.dev/owner-version"), Some("2"));
    }
}

#[test]
fn compiled_once_then_loaded_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let engine = || Engine::builder().cache_dir(dir.path()).build().unwrap();
    let config = json!({"team": "payments"});
    let digest: Digest = ADD_OWNER.sha256.parse().unwrap();

    let first = engine();
    for _ in 0..2 {
        call_with(
            first.plugins(),
            &ADD_OWNER,
            config.clone(),
            &limits(),
            Vec::new(),
        )
        .unwrap();
    }
    let s = first.plugins().stats();
    assert_eq!((s.compiles, s.disk_hits, s.memory_hits), (1, 0, 1));
    let cwasm = first.plugins().module_cache_path(&digest).unwrap();
    assert!(cwasm.exists(), "{}", cwasm.display());
    let name = cwasm.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with(ADD_OWNER.sha256) && name.ends_with(".cwasm"),
        "{name}"
    );
    assert_eq!(cwasm.parent().unwrap().file_name().unwrap(), "modules-v1");

    let second = engine();
    call_with(
        second.plugins(),
        &ADD_OWNER,
        config.clone(),
        &limits(),
        Vec::new(),
    )
    .unwrap();
    let s = second.plugins().stats();
    assert_eq!((s.compiles, s.disk_hits), (0, 1));

    // A corrupt entry is a miss: removed, recompiled and rewritten.
    let good = std::fs::read(&cwasm).unwrap();
    let mut bad = good.clone();
    let at = bad.len() / 3;
    bad[at] ^= 0x5a;
    std::fs::write(&cwasm, &bad).unwrap();
    let third = engine();
    call_with(
        third.plugins(),
        &ADD_OWNER,
        config.clone(),
        &limits(),
        Vec::new(),
    )
    .unwrap();
    let s = third.plugins().stats();
    assert_eq!((s.compiles, s.disk_hits, s.disk_rejects), (1, 0, 1));
    assert_eq!(std::fs::read(&cwasm).unwrap().len(), good.len());

    // So is a truncated one.
    std::fs::write(&cwasm, &good[..good.len() / 2]).unwrap();
    let fourth = engine();
    call_with(fourth.plugins(), &ADD_OWNER, config, &limits(), Vec::new()).unwrap();
    let s = fourth.plugins().stats();
    assert_eq!((s.compiles, s.disk_rejects), (1, 1));
}

/// Writes a release that runs `plugins` (YAML list entries) over two ConfigMaps.
fn release_with(dir: &Path, plugins: &str) -> Release {
    for a in [&ADD_OWNER, &ADD_OWNER_V2, &FIXTURE] {
        std::fs::copy(a.path, dir.join(format!("{}.wasm", a.name))).unwrap();
    }
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("release.yaml"),
        format!(
            "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: plugins\nspec:\n  resources: [cm.yaml]\n  plugins:\n{plugins}"
        ),
    )
    .unwrap();
    Release::load_with_root(dir.join("release.yaml"), Some(dir)).unwrap()
}

#[test]
fn a_release_runs_two_versions_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let release = release_with(
        dir.path(),
        &format!(
            "  - name: owner-v1\n    wasm: add-owner.wasm\n    sha256: {}\n    config: {{team: payments}}\n  - name: owner-v2\n    wasm: add-owner-v2.wasm\n    sha256: {}\n    config: {{team: search, annotation: kiln.dev/team}}\n",
            ADD_OWNER.sha256, ADD_OWNER_V2.sha256
        ),
    );
    let rendered = ENGINE.render(&release).unwrap();
    for r in rendered.resources().unwrap() {
        assert_eq!(annotation(&r, "kiln.dev/owner"), Some("payments"));
        assert_eq!(annotation(&r, "kiln.dev/team"), Some("search"));
        assert_eq!(annotation(&r, "kiln.dev/owner-version"), Some("2"));
    }
}

#[test]
fn a_release_reports_the_limit_a_plugin_broke() {
    let dir = tempfile::tempdir().unwrap();
    let release = release_with(
        dir.path(),
        &format!(
            "  - name: spin\n    wasm: fixture.wasm\n    sha256: {}\n    config: {{mode: loop}}\n    timeout: 300ms\n",
            FIXTURE.sha256
        ),
    );
    let err = ENGINE.render(&release).unwrap_err();
    let Error::Plugin(PluginError::Timeout { plugin, limit, .. }) = err.root() else {
        panic!("{err:?}")
    };
    assert_eq!(
        (plugin.as_str(), *limit),
        ("spin", Duration::from_millis(300))
    );
    assert!(
        err.to_string()
            .contains("timed out after 300ms (time limit)"),
        "{err}"
    );
}
