//! The same two jobs as plugins in three languages, over the 40-item list of the `plugin`
//! bench: `set-namespace` in Rust and Go (standard library only), `default-resources`
//! in Rust and C (wasi-libc); and `annotate-policy`, a Go function of realistic size
//! (typed JSON decoding, reflect, text/template, regexp, net/http linked in: a 10 MB
//! module). For each plugin:
//!
//! - `first-call`: a fresh runtime with no module cache, so the call compiles the module
//!   (a cold render);
//! - `cache-hit`: a fresh runtime whose cache folder holds the compiled module (the first
//!   call of a new process);
//! - `warm-call`: compiled and instantiated before, a fresh store per call;
//! - `native-fork`: the same source built for the host, run as a kustomize exec function.
//!
//! Plugins whose toolchain is not on this machine are left out (the bench says so), and so
//! is `annotate-policy` with `KILN_BENCH_SMALL=1` (its compile alone takes seconds).
//!
//! `cargo bench -p kiln-benches --bench languages`
#![allow(clippy::print_stdout)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kiln::RuntimeConfig;
use kiln::{Digest, Limits, Resource, Runtime};
use kiln_test_artifacts::{
    Artifact, C_DEFAULT_RESOURCES, DEFAULT_RESOURCES, GO_ANNOTATE_POLICY, GO_SET_NAMESPACE,
    SET_NAMESPACE,
};
use serde_json::{Value, json};

fn call(runtime: &Runtime, plugin: &Artifact, wasm: &[u8], config: &Value, items: Vec<Resource>) {
    let digest: Digest = plugin.sha256.parse().expect("pin");
    let out = runtime
        .run(
            plugin.name,
            &digest,
            wasm,
            Some(config),
            &Limits::default(),
            items,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", plugin.name));
    assert_eq!(out.items.len(), kiln_benches::PLUGIN_ITEMS);
}

fn bench_one(c: &mut Criterion, label: &str, plugin: &Artifact, config: Value) {
    let wasm = plugin.bytes();
    let input = kiln_benches::plugin_items();
    let mut group = c.benchmark_group(format!("languages/{label}"));

    group.sample_size(10);
    group.bench_function("first-call", |b| {
        b.iter_batched(
            || Runtime::new(Default::default()).expect("runtime starts"),
            |runtime| call(&runtime, plugin, &wasm, &config, input.clone()),
            BatchSize::PerIteration,
        )
    });

    let cache = tempfile::tempdir().expect("temp dir");
    let cached = || {
        Runtime::new(RuntimeConfig {
            module_cache_dir: Some(cache.path().to_path_buf()),
        })
        .expect("runtime starts")
    };
    call(&cached(), plugin, &wasm, &config, input.clone());
    group.bench_function("cache-hit", |b| {
        b.iter_batched(
            cached,
            |runtime| {
                call(&runtime, plugin, &wasm, &config, input.clone());
                assert_eq!(runtime.stats().disk_hits, 1, "loaded from the cache folder");
            },
            BatchSize::PerIteration,
        )
    });

    group.sample_size(50);
    let runtime = Runtime::new(Default::default()).expect("runtime starts");
    call(&runtime, plugin, &wasm, &config, input.clone());
    group.bench_function("warm-call", |b| {
        b.iter_batched(
            || input.clone(),
            |items| call(&runtime, plugin, &wasm, &config, items),
            BatchSize::SmallInput,
        )
    });

    let stdin = serde_json::to_vec(&json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": input.iter().map(Resource::to_value).collect::<Vec<_>>(),
        "functionConfig": config,
    }))
    .expect("JSON");
    group.bench_function("native-fork", |b| {
        b.iter(|| kiln_benches::fork_native(plugin.native, &stdin))
    });
    group.finish();
}

fn languages(c: &mut Criterion) {
    let namespace = json!({"namespace": "shop"});
    let defaults = json!({"cpu": "50m", "memory": "64Mi", "limitsMemory": "128Mi"});
    bench_one(c, "set-namespace/rust", &SET_NAMESPACE, namespace.clone());
    match GO_SET_NAMESPACE {
        Ok(go) => bench_one(c, "set-namespace/go", &go, namespace),
        Err(why) => println!("languages/set-namespace/go: skipped: {why}"),
    }
    bench_one(
        c,
        "default-resources/rust",
        &DEFAULT_RESOURCES,
        defaults.clone(),
    );
    match C_DEFAULT_RESOURCES {
        Ok(c_plugin) => bench_one(c, "default-resources/c", &c_plugin, defaults),
        Err(why) => println!("languages/default-resources/c: skipped: {why}"),
    }
    let policy = json!({
        "annotations": {
            "example.com/owner": "{{.Kind | lower}}/{{.Name}}",
            "example.com/doc": "https://docs.example.com/{{.Kind | pathEsc}}?name={{.Name | queryEsc}}",
        },
        "requireLabels": {"app": "[a-z][a-z0-9-]*"},
    });
    match GO_ANNOTATE_POLICY {
        Ok(_) if std::env::var_os("KILN_BENCH_SMALL").is_some() => {
            println!("languages/annotate-policy/go: skipped with KILN_BENCH_SMALL")
        }
        Ok(go) => bench_one(c, "annotate-policy/go", &go, policy),
        Err(why) => println!("languages/annotate-policy/go: skipped: {why}"),
    }
}

criterion_group!(benches, languages);
criterion_main!(benches);
