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

/// A WASI command that copies stdin to stdout, with a funcref table of `entries` entries,
/// every one filled with a function that `_start` calls through the last entry first:
/// the shape of a Go module, whose table holds every function called indirectly.
fn echo_with_table(entries: usize) -> Vec<u8> {
    let refs = " $f".repeat(entries);
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (table {entries} funcref)
  (func $f)
  (elem (i32.const 0) func{refs})
  (func (export "_start")
    (local $n i32)
    (call_indirect (i32.const {last}))
    (loop $copy
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 65536))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.gt_u (local.get $n) (i32.const 0))
        (then
          (i32.store (i32.const 4) (local.get $n))
          (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (br $copy))))))"#,
        last = entries - 1
    ))
    .unwrap()
}

/// A release running the module `wasm` (written as `module.wasm`) as plugin `go-like`
/// over two ConfigMaps.
fn release_running(dir: &Path, wasm: &[u8]) -> Release {
    std::fs::write(dir.join("module.wasm"), wasm).unwrap();
    release_with(
        dir,
        &format!(
            "  - name: go-like\n    wasm: module.wasm\n    sha256: {}\n",
            Digest::of(wasm)
        ),
    )
}

#[test]
fn a_table_the_size_of_a_go_module_runs_in_a_release() {
    // 30,000 entries: more than the 27,736 of the largest kpt function measured, and over
    // the 20,000 kiln once allowed.
    let dir = tempfile::tempdir().unwrap();
    let wasm = echo_with_table(30_000);
    assert_eq!(check_module(&wasm).unwrap().digest, Digest::of(&wasm));
    let release = release_running(dir.path(), &wasm);
    let rendered = ENGINE.render(&release).unwrap();
    let names: Vec<String> = rendered
        .resources()
        .unwrap()
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn a_table_over_the_limit_is_refused_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = echo_with_table(250_000);
    let digest = Digest::of(&wasm);
    let reason = "table 0 declares 250000 entries; kiln allows at most 200000";
    let err = check_module(&wasm).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("module sha256:{}: {reason}", digest.short())
    );
    let release = release_running(dir.path(), &wasm);
    let engine = Engine::builder()
        .cache_dir(dir.path().join("cache"))
        .build()
        .unwrap();
    let err = engine.render(&release).unwrap_err();
    let Error::Plugin(plugin_err) = err.root() else {
        panic!("{err:?}")
    };
    assert_eq!(
        plugin_err.to_string(),
        format!("plugin `go-like` (sha256:{}): {reason}", digest.short())
    );
    // Refused by reading its table section: nothing was compiled, nothing recorded.
    let s = engine.plugins().stats();
    assert_eq!((s.compiles, s.compile_failures), (0, 0));
}

/// A module well formed enough for the structural check but whose body does not
/// type-check: only the compiler finds out.
fn does_not_compile() -> Vec<u8> {
    wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start") i32.add drop))"#)
        .unwrap()
}

#[test]
fn a_module_that_failed_to_compile_fails_the_next_render_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wasm = does_not_compile();
    let release = release_running(dir.path(), &wasm);
    let engine = || Engine::builder().cache_dir(&cache).build().unwrap();
    let message = |e: Error| match e.root() {
        Error::Plugin(p @ PluginError::NotCommand { plugin, .. }) if plugin == "go-like" => {
            p.to_string()
        }
        other => panic!("{other:?}"),
    };

    let first = engine();
    let failed = message(first.render(&release).unwrap_err());
    assert!(
        failed.starts_with(&format!(
            "plugin `go-like` (sha256:{}): invalid wasm: ",
            Digest::of(&wasm).short()
        )),
        "{failed}"
    );
    // The same process remembers it.
    assert_eq!(message(first.render(&release).unwrap_err()), failed);
    let s = first.plugins().stats();
    assert_eq!(
        (s.compiles, s.compile_failures, s.remembered_failures),
        (0, 1, 1)
    );
    // The record sits next to the compiled modules.
    let record = first
        .plugins()
        .module_cache_path(&Digest::of(&wasm))
        .unwrap()
        .with_extension("failed");
    assert!(record.is_file(), "{}", record.display());

    // So does the next process: the same message, and the compiler never ran.
    let second = engine();
    assert_eq!(message(second.render(&release).unwrap_err()), failed);
    let s = second.plugins().stats();
    assert_eq!(
        (s.compiles, s.compile_failures, s.remembered_failures),
        (0, 0, 1)
    );

    // Without the record, the next process compiles again (and fails the same way).
    std::fs::remove_file(&record).unwrap();
    let third = engine();
    assert_eq!(message(third.render(&release).unwrap_err()), failed);
    let s = third.plugins().stats();
    assert_eq!((s.compile_failures, s.remembered_failures), (1, 0));
}

#[test]
fn legacy_results_mapping_warns_and_fails() {
    // kyaml's framework before v0.13 writes `results: {name, items: [...]}`.
    let (items, messages) = fixture("legacy-warning", json!({}), &limits()).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        messages,
        ["warning: fixture: legacy warning on purpose (file `fixture.yaml`)"]
    );

    let err = fixture("legacy-error", json!({}), &limits()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "plugin `fixture` (sha256:{}): reported 1 error:\n  error: fixture: legacy error \
             on purpose (ConfigMap/a field data)",
            short(&FIXTURE)
        )
    );

    // In a release: the warning is the render's, the error fails it.
    let dir = tempfile::tempdir().unwrap();
    let entry = |mode: &str| {
        format!(
            "  - name: kyaml-fn\n    wasm: fixture.wasm\n    sha256: {}\n    config: {{mode: {mode}}}\n",
            FIXTURE.sha256
        )
    };
    let rendered = ENGINE
        .render(&release_with(dir.path(), &entry("legacy-warning")))
        .unwrap();
    assert_eq!(
        rendered.warnings(),
        ["plugin `kyaml-fn`: warning: fixture: legacy warning on purpose (file `fixture.yaml`)"]
    );
    let err = ENGINE
        .render(&release_with(dir.path(), &entry("legacy-error")))
        .unwrap_err();
    let Error::Plugin(PluginError::Results {
        plugin, results, ..
    }) = err.root()
    else {
        panic!("{err:?}")
    };
    assert_eq!(plugin, "kyaml-fn");
    assert_eq!(
        results,
        &["error: fixture: legacy error on purpose (ConfigMap/a field data)"]
    );
}

/// `testdata/plugins/release-*`: releases running plugins built from source, against
/// kiln's golden output (`configMap:` among them).
#[test]
fn plugin_cases_releases() {
    crate::util::run_plugin_cases("release-", |root| {
        let release = Release::load_with_root(root.join("release.yaml"), Some(root))?;
        Ok(ENGINE.render(&release)?.yaml().to_string())
    });
}
