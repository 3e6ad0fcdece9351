//! Plugins written in Go and C (`plugins/go`, `plugins/c`): the module kiln runs in its
//! sandbox and the same source built for the host, run as a kustomize exec function
//! (ResourceList on stdin, ResourceList on stdout), give the same items; each stays within
//! kiln's default limits and fails the way the KRM spec says on bad config. Skipped, with
//! the reason, when the language's toolchain is not on this machine.

use std::io::Write;
use std::process::{Command, Stdio};

use kiln::{Digest, Engine, Limits, PluginError, Resource};
use kiln_test_artifacts::{
    Artifact, C_DEFAULT_RESOURCES, DEFAULT_RESOURCES, GO_SET_NAMESPACE, SET_NAMESPACE,
};
use serde_json::{Value, json};

fn built(artifact: Result<Artifact, &'static str>) -> Option<Artifact> {
    match artifact {
        Ok(a) => Some(a),
        Err(why) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipped: {why}");
            }
            None
        }
    }
}

fn items() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "old"},
               "data": {"greeting": "h\u{e9}llo \"world\"\n", "n": "1"}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
               "spec": {"replicas": 2, "template": {"spec": {
                   "initContainers": [{"name": "migrate", "image": "api:1"}],
                   "containers": [
                       {"name": "api", "image": "api:1",
                        "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}},
                       {"name": "sidecar", "image": "proxy:2"}]}}}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
               "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                   "containers": [{"name": "job", "image": "job:3", "args": ["--big", 1e21]}]}}}}}}),
    ]
}

/// Runs the host build as a kustomize exec function would.
fn run_native(artifact: &Artifact, config: &Value) -> Value {
    let list = json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": items(),
        "functionConfig": config,
    });
    let mut child = Command::new(artifact.native)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", artifact.native));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} exited {}",
        artifact.name,
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_wasm(
    engine: &Engine,
    artifact: &Artifact,
    config: &Value,
) -> Result<Vec<Value>, PluginError> {
    let digest: Digest = artifact.sha256.parse().unwrap();
    let items: Vec<Resource> = items()
        .into_iter()
        .map(|v| Resource::try_from(v).unwrap())
        .collect();
    let out = engine.plugins().run(
        artifact.name,
        &digest,
        &artifact.bytes(),
        Some(config),
        &Limits::default(),
        items,
    )?;
    Ok(out.items.iter().map(Resource::to_value).collect())
}

/// Runs `artifact` sandboxed and natively, and its Rust twin (the same job) sandboxed:
/// all three must give the same items.
fn same_as_native(artifact: &Artifact, twin: &Artifact, config: Value) -> Vec<Value> {
    let engine = Engine::builder().no_cache(true).build().unwrap();
    let sandboxed = run_wasm(&engine, artifact, &config).unwrap();
    let native = run_native(artifact, &config);
    assert_eq!(
        Value::Array(sandboxed.clone()),
        native["items"],
        "{}",
        artifact.name
    );
    let rust = run_wasm(&engine, twin, &config).unwrap();
    assert_eq!(
        sandboxed, rust,
        "{} and its Rust twin differ",
        artifact.name
    );
    sandboxed
}

#[test]
fn go_set_namespace_matches_its_native_build() {
    let Some(go) = built(GO_SET_NAMESPACE) else {
        return;
    };
    let items = same_as_native(&go, &SET_NAMESPACE, json!({"namespace": "shop"}));
    assert_eq!(
        items[0]["metadata"].get("namespace"),
        None,
        "a Namespace has none"
    );
    for item in &items[1..] {
        assert_eq!(item["metadata"]["namespace"], "shop", "{item}");
    }
    // The kpt shape: a ConfigMap's data.
    let items = same_as_native(
        &go,
        &SET_NAMESPACE,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "set-namespace"},
               "data": {"namespace": "billing"}}),
    );
    assert_eq!(items[1]["metadata"]["namespace"], "billing");
}

#[test]
fn c_default_resources_matches_its_native_build() {
    let Some(c) = built(C_DEFAULT_RESOURCES) else {
        return;
    };
    let items = same_as_native(
        &c,
        &DEFAULT_RESOURCES,
        json!({"cpu": "50m", "memory": "64Mi", "limitsMemory": "128Mi"}),
    );
    let pod = &items[2]["spec"]["template"]["spec"];
    assert_eq!(
        pod["initContainers"][0]["resources"],
        json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}})
    );
    // What a container sets is kept; only the missing values are filled.
    assert_eq!(
        pod["containers"][0]["resources"],
        json!({"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"cpu": "2", "memory": "128Mi"}})
    );
    let cron = &items[3]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(cron["containers"][0]["resources"]["requests"]["cpu"], "50m");
    assert_eq!(cron["containers"][0]["args"][1], json!(1e21));
    // Items it has no business with pass through untouched.
    assert_eq!(items[1], self::items()[1]);
}

#[test]
fn bad_config_fails_with_the_plugins_result() {
    let engine = Engine::builder().no_cache(true).build().unwrap();
    for (artifact, expected) in [
        (
            built(GO_SET_NAMESPACE),
            "functionConfig.namespace is missing or empty",
        ),
        (
            built(C_DEFAULT_RESOURCES),
            "functionConfig needs at least one of `cpu`",
        ),
    ] {
        let Some(artifact) = artifact else { continue };
        let err = run_wasm(&engine, &artifact, &json!({}))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{}: {err}", artifact.name);
        assert!(
            err.contains(&artifact.sha256[..12]),
            "names the digest: {err}"
        );
    }
}

#[test]
fn foreign_plugins_run_within_a_small_memory_limit() {
    let engine = Engine::builder().no_cache(true).build().unwrap();
    for artifact in [built(GO_SET_NAMESPACE), built(C_DEFAULT_RESOURCES)]
        .into_iter()
        .flatten()
    {
        let digest: Digest = artifact.sha256.parse().unwrap();
        let limits = Limits {
            memory: 64 << 20,
            ..Limits::default()
        };
        let config = json!({"namespace": "x", "cpu": "1"});
        let out = engine.plugins().run(
            artifact.name,
            &digest,
            &artifact.bytes(),
            Some(&config),
            &limits,
            Vec::new(),
        );
        assert!(
            out.is_ok(),
            "{}: {:?}",
            artifact.name,
            out.err().map(|e| e.to_string())
        );
    }
}
