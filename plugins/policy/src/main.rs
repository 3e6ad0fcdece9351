//! `policy`: a validator; reports resources that break simple policies.
//!
//! functionConfig: `{requireLimits: true, forbidLatest: true, requireLabels: [app, team]}`.
//! - `requireLimits` (default true): every container of a Deployment,
//!   StatefulSet or DaemonSet sets `resources.limits`;
//! - `forbidLatest` (default true): every container image of a workload has a
//!   tag (or digest) other than `latest`;
//! - `requireLabels`: every item carries these labels.
//!
//! Each violation is an error result with the resource and the field path.
//! Items pass through unchanged.

use kiln_plugin::{KrmResult, ResourceList, Result, kind, pod_spec_path};
use serde::Deserialize;
use serde_json::Value;

fn main() {
    kiln_plugin::run(policy)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Config {
    #[serde(default = "yes")]
    require_limits: bool,
    #[serde(default = "yes")]
    forbid_latest: bool,
    #[serde(default)]
    require_labels: Vec<String>,
}

fn yes() -> bool {
    true
}

fn policy(rl: &mut ResourceList) -> Result<()> {
    let config: Config = rl.function_config()?;
    let mut results = Vec::new();
    for item in &rl.items {
        for label in &config.require_labels {
            let present = item
                .pointer("/metadata/labels")
                .and_then(|labels| labels.get(label))
                .is_some();
            if !present {
                results.push(
                    KrmResult::error(format!("missing required label `{label}`"))
                        .resource(item)
                        .field("metadata.labels"),
                );
            }
        }
        let Some(spec_path) = pod_spec_path(kind(item)) else {
            continue;
        };
        let needs_limits = matches!(kind(item), "Deployment" | "StatefulSet" | "DaemonSet");
        let pointer = format!("/{}", spec_path.replace('.', "/"));
        let Some(spec) = item.pointer(&pointer) else {
            continue;
        };
        for list in ["initContainers", "containers"] {
            let Some(containers) = spec.get(list).and_then(Value::as_array) else {
                continue;
            };
            for (i, container) in containers.iter().enumerate() {
                let at = format!("{spec_path}.{list}[{i}]");
                let container_name = container.get("name").and_then(Value::as_str).unwrap_or("");
                if config.require_limits && needs_limits && !has_limits(container) {
                    results.push(
                        KrmResult::error(format!(
                            "container `{container_name}` sets no resources.limits"
                        ))
                        .resource(item)
                        .field(format!("{at}.resources.limits")),
                    );
                }
                let image = container.get("image").and_then(Value::as_str).unwrap_or("");
                if config.forbid_latest && floats(image) {
                    results.push(
                        KrmResult::error(format!(
                            "container `{container_name}` image `{image}` has no tag or uses `latest`"
                        ))
                        .resource(item)
                        .field(format!("{at}.image")),
                    );
                }
            }
        }
    }
    rl.results.extend(results);
    Ok(())
}

fn has_limits(container: &Value) -> bool {
    container
        .pointer("/resources/limits")
        .and_then(Value::as_object)
        .is_some_and(|limits| !limits.is_empty())
}

/// Whether the image moves under you: no tag, or `latest`, and no digest.
fn floats(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = &image[image.rfind('/').map_or(0, |i| i + 1)..];
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn workload(kind: &str, containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w", "labels": {"app": "w"}},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    fn fields(rl: &ResourceList) -> Vec<String> {
        rl.results
            .iter()
            .map(|r| r.field.as_ref().unwrap().path.clone())
            .collect()
    }

    #[test]
    fn reports_missing_limits_and_latest() {
        let good =
            json!({"name": "a", "image": "nginx:1.27", "resources": {"limits": {"cpu": "1"}}});
        let bad = json!({"name": "b", "image": "nginx"});
        let items = vec![
            workload("Deployment", json!([good, bad])),
            workload(
                "Job",
                json!([{"name": "c", "image": "host:5000/app:latest"}]),
            ),
        ];
        let mut rl = ResourceList::new(items.clone());
        policy(&mut rl).unwrap();
        assert_eq!(rl.items, items, "items pass through unchanged");
        assert_eq!(
            fields(&rl),
            [
                "spec.template.spec.containers[1].resources.limits",
                "spec.template.spec.containers[1].image",
                "spec.template.spec.containers[0].image",
            ]
        );
        assert!(rl.results.iter().all(KrmResult::is_error));
        let reference = rl.results[2].resource_ref.as_ref().unwrap();
        assert_eq!(
            (reference.kind.as_str(), reference.name.as_str()),
            ("Job", "w")
        );
    }

    #[test]
    fn rules_can_be_switched_off() {
        let mut rl = ResourceList::new(vec![workload(
            "Deployment",
            json!([{"name": "b", "image": "nginx"}]),
        )])
        .with_function_config(json!({"requireLimits": false, "forbidLatest": false}));
        policy(&mut rl).unwrap();
        assert!(rl.results.is_empty());
    }

    #[test]
    fn required_labels() {
        let mut rl = ResourceList::new(vec![
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}}),
        ])
        .with_function_config(json!({"requireLabels": ["team"]}));
        policy(&mut rl).unwrap();
        assert_eq!(rl.results[0].message, "missing required label `team`");
        assert_eq!(fields(&rl), ["metadata.labels"]);
    }

    #[test]
    fn pinned_images_are_fine() {
        assert!(!floats("nginx@sha256:abcd"));
        assert!(!floats("host:5000/nginx:1"));
        assert!(floats("host:5000/nginx"));
        assert!(floats("nginx:latest"));
    }
}
