//! Ad hoc timing of one plugin: `gocost WASM [CALLS]`.
#![allow(clippy::print_stdout)]
use kiln::{Digest, Limits, Resource, Runtime, RuntimeConfig};
use serde_json::json;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        println!("usage: plugin-cost PLUGIN.wasm [CALLS] [NATIVE-BUILD]");
        std::process::exit(2);
    };
    let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read `{path}`: {e}"));
    let calls: usize = args
        .get(2)
        .map_or(200, |s| s.parse().expect("CALLS is a number"));
    let digest = Digest::of(&wasm);
    let config = json!({"namespace": "shop", "annotations": {"example.com/owner": "{{.Kind | lower}}/{{.Name}}"}, "requireLabels": {"app": "[a-z][a-z0-9-]*"}});
    let input = kiln_benches::plugin_items();
    let cache = tempfile::tempdir().expect("temp dir");
    let dir = std::env::var_os("CACHE").map_or(cache.path().to_path_buf(), Into::into);
    let rt = || {
        Runtime::new(RuntimeConfig {
            module_cache_dir: Some(dir.clone()),
        })
        .expect("runtime starts")
    };
    let run = |r: &Runtime| {
        r.run(
            "p",
            &digest,
            &wasm,
            Some(&config),
            &Limits::default(),
            input.clone(),
        )
        .map(|o| o.items.len())
    };
    let t = Instant::now();
    let r = rt();
    r.prepare("p", &digest, &wasm).expect("the plugin compiles");
    println!("cold compile (prepare): {:?}", t.elapsed());
    let t = Instant::now();
    let out = run(&r);
    println!(
        "first call after compile: {:?} -> {:?}",
        t.elapsed(),
        out.as_ref().map_err(|e| e.to_string())
    );
    drop(r);
    let hits: usize = std::env::var("HITS").map_or(3, |s| s.parse().expect("HITS is a number"));
    for _ in 0..hits {
        let t = Instant::now();
        let r = rt();
        let t1 = t.elapsed();
        let _ = run(&r);
        println!(
            "cache-hit first call in a fresh runtime: {:?} (runtime start {:?})",
            t.elapsed(),
            t1
        );
    }
    let r = rt();
    let _ = run(&r);
    let t = Instant::now();
    for _ in 0..calls {
        let _ = run(&r);
    }
    println!(
        "warm call: {:?} avg over {calls}",
        t.elapsed() / calls as u32
    );
    if let Some(native) = args.get(3) {
        let stdin = serde_json::to_vec(&json!({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
            "items": input.iter().map(Resource::to_value).collect::<Vec<_>>(), "functionConfig": config})).expect("JSON");
        let t = Instant::now();
        for _ in 0..calls {
            kiln_benches::fork_native(native, &stdin);
        }
        println!(
            "native fork: {:?} avg over {calls}",
            t.elapsed() / calls as u32
        );
    }
}
