//! `set-namespace`: sets `metadata.namespace` on every namespaced item to
//! `functionConfig.namespace` (or `data.namespace` of a ConfigMap config). The same
//! job as `plugins/go/set-namespace`, in Rust, so the two can be compared.

use kiln_plugin::{ResourceList, Result, kind};
use serde_json::{Map, Value};

/// The kinds that carry no namespace (as `plugins/go/set-namespace` lists them).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
];

fn main() {
    kiln_plugin::run(set_namespace)
}

fn set_namespace(rl: &mut ResourceList) -> Result<()> {
    let config = rl.function_config.clone().unwrap_or(Value::Null);
    let namespace = config
        .pointer("/data/namespace")
        .or_else(|| config.get("namespace"))
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .ok_or("set-namespace: functionConfig.namespace is missing or empty")?
        .to_owned();
    for item in &mut rl.items {
        if CLUSTER_SCOPED.contains(&kind(item)) {
            continue;
        }
        let Some(obj) = item.as_object_mut() else {
            continue;
        };
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("namespace".into(), namespace.clone().into());
        }
    }
    Ok(())
}
