//! What a plugin call costs: a 40-item ResourceList through `add-owner`.
//!
//! - `first-call`: a fresh runtime without a module cache, so the call compiles;
//! - `cache-hit`: a fresh engine whose cache folder holds the compiled module (a warm
//!   start of a new process);
//! - `warm-call`: compiled and instantiated before, a fresh store per call;
//! - `native-in-process`: the plugin's own work (parse, annotate, write) as a native
//!   function call;
//! - `native-fork`: the same plugin built for the host, run as a subprocess (what a
//!   kustomize exec function costs).
//!
//! `cargo bench -p kiln-benches --bench plugin`

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kiln::{Digest, Engine, Limits, Resource, Runtime};
use kiln_test_artifacts::ADD_OWNER;
use serde_json::{Value, json};

const ITEMS: usize = 40;

/// 40 resources: Deployments, Services and ConfigMaps.
fn items() -> Vec<Resource> {
    let mut yaml = String::new();
    for i in 0..ITEMS {
        let doc = match i % 3 {
            0 => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels: {{app: app-{i}}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: example.com/app-{i}:1.0.{i}\n        ports: [{{containerPort: 8080}}]\n"
            ),
            1 => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  selector: {{app: app-{i}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
            ),
            _ => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  key: value-{i}\n  other: more-{i}\n"
            ),
        };
        yaml.push_str("---\n");
        yaml.push_str(&doc);
    }
    kiln::internals::parse_resources(&yaml).expect("bench input parses")
}

fn config() -> Value {
    json!({"team": "payments"})
}

fn call(runtime: &Runtime, wasm: &[u8], digest: &Digest, items: Vec<Resource>) {
    let out = runtime
        .run(
            "add-owner",
            digest,
            wasm,
            Some(&config()),
            &Limits::default(),
            items,
        )
        .expect("add-owner runs");
    assert_eq!(out.items.len(), ITEMS);
}

fn plugin(c: &mut Criterion) {
    let wasm = ADD_OWNER.bytes();
    let digest = Digest::of(&wasm);
    let input = items();

    let mut group = c.benchmark_group("plugin/add-owner-40-items");

    group.sample_size(10);
    group.bench_function("first-call", |b| {
        b.iter_batched(
            || Runtime::new(Default::default()).expect("runtime starts"),
            |runtime| call(&runtime, &wasm, &digest, input.clone()),
            BatchSize::PerIteration,
        )
    });

    let cache = tempfile::tempdir().expect("temp dir");
    let engine = || {
        Engine::builder()
            .cache_dir(cache.path())
            .build()
            .expect("engine starts")
    };
    call(engine().plugins(), &wasm, &digest, input.clone());
    group.bench_function("cache-hit", |b| {
        b.iter_batched(
            engine,
            |engine| call(engine.plugins(), &wasm, &digest, input.clone()),
            BatchSize::PerIteration,
        )
    });

    group.sample_size(100);
    let runtime = Runtime::new(Default::default()).expect("runtime starts");
    call(&runtime, &wasm, &digest, input.clone());
    group.bench_function("warm-call", |b| {
        b.iter_batched(
            || input.clone(),
            |items| call(&runtime, &wasm, &digest, items),
            BatchSize::SmallInput,
        )
    });

    let stdin = serde_json::to_vec(&json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": input.iter().map(Resource::to_value).collect::<Vec<_>>(),
        "functionConfig": config(),
    }))
    .expect("JSON");
    // The plugin's own work, natively and in-process: parse the ResourceList, annotate,
    // write it back. The bar a warm sandboxed call is held to.
    let stdin_text = String::from_utf8(stdin.clone()).expect("UTF-8");
    group.bench_function("native-in-process", |b| {
        b.iter(|| {
            let mut rl = kiln_plugin::ResourceList::parse(&stdin_text).expect("parses");
            kiln_plugin_add_owner::add_owner(&mut rl).expect("annotates");
            let out = rl.to_json();
            assert!(out.len() > stdin_text.len());
        })
    });

    group.bench_function("native-fork", |b| {
        b.iter(|| kiln_benches::fork_native(ADD_OWNER.native, &stdin))
    });
    group.finish();
}

criterion_group!(benches, plugin);
criterion_main!(benches);
