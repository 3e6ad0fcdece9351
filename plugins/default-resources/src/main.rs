//! `default-resources`: every container and init container of a workload that does
//! not set them gets `resources.requests.cpu`/`memory` and `resources.limits.memory`
//! from `functionConfig` (`{cpu, memory, limitsMemory}`, or a ConfigMap's `data`). The
//! same job as `plugins/c/default-resources`, in Rust, so the two can be compared.

use kiln_plugin::{ResourceList, Result, kind, pod_spec_path};
use serde_json::{Map, Value};

fn main() {
    kiln_plugin::run(default_resources)
}

fn default_resources(rl: &mut ResourceList) -> Result<()> {
    let config = rl.function_config.clone().unwrap_or(Value::Null);
    let get = |key: &str| {
        config
            .pointer(&format!("/data/{key}"))
            .or_else(|| config.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (cpu, memory, limits_memory) = (get("cpu"), get("memory"), get("limitsMemory"));
    if cpu.is_none() && memory.is_none() && limits_memory.is_none() {
        return Err(
            "functionConfig needs at least one of `cpu`, `memory`, `limitsMemory` \
                    (strings, e.g. 100m, 128Mi)"
                .into(),
        );
    }
    for item in &mut rl.items {
        let Some(path) = pod_spec_path(kind(item)) else {
            continue;
        };
        let pointer = format!("/{}", path.replace('.', "/"));
        let Some(spec) = item.pointer_mut(&pointer) else {
            continue;
        };
        for list in ["containers", "initContainers"] {
            let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                let resources = object_at(container, "resources");
                if let Some(requests) = resources.and_then(|r| object_at(r, "requests")) {
                    set_if_missing(requests, "cpu", &cpu);
                    set_if_missing(requests, "memory", &memory);
                }
                if limits_memory.is_some() {
                    let resources = object_at(container, "resources");
                    if let Some(limits) = resources.and_then(|r| object_at(r, "limits")) {
                        set_if_missing(limits, "memory", &limits_memory);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The mapping under `key`, added when missing; `None` when `key` holds something else.
fn object_at<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    obj.entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

fn set_if_missing(obj: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        obj.entry(key).or_insert_with(|| value.clone().into());
    }
}
