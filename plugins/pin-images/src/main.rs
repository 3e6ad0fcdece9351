//! `pin-images`: rewrites container images from tags to pinned digests.
//!
//! functionConfig: `{images: {"example.com/api:1.42.0": "sha256:…", "example.com/web": "sha256:…"}}`.
//! A key with a tag matches that tag only; a key without one matches the
//! image at any tag. Every `image:` of a container or init container in a
//! Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob
//! becomes `name@sha256:…`. Images already pinned by digest stay as they
//! are; an image missing from the table is an error result naming the
//! resource and the field.

use kiln_plugin::{KrmResult, ResourceList, Result, kind, pod_spec_path};
use serde::Deserialize;
use serde_json::{Map, Value};

fn main() {
    kiln_plugin::run(pin_images)
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    images: Map<String, Value>,
}

fn pin_images(rl: &mut ResourceList) -> Result<()> {
    let config: Config = rl.function_config()?;
    let mut table = Vec::with_capacity(config.images.len());
    for (image, digest) in config.images {
        let Some(digest) = digest.as_str() else {
            return Err(format!("functionConfig: the digest of `{image}` must be a string").into());
        };
        let digest = if digest.starts_with("sha256:") {
            digest.to_owned()
        } else {
            format!("sha256:{digest}")
        };
        table.push((image, digest));
    }
    let mut results = Vec::new();
    for item in &mut rl.items {
        let Some(spec_path) = pod_spec_path(kind(item)) else {
            continue;
        };
        let mut missing = Vec::new();
        let pointer = format!("/{}", spec_path.replace('.', "/"));
        if let Some(spec) = item.pointer_mut(&pointer) {
            for list in ["initContainers", "containers"] {
                let Some(Value::Array(containers)) = spec.get_mut(list) else {
                    continue;
                };
                for (i, container) in containers.iter_mut().enumerate() {
                    let Some(Value::String(image)) = container.get_mut("image") else {
                        continue;
                    };
                    if image.contains('@') {
                        continue;
                    }
                    match lookup(&table, image) {
                        Some(pinned) => *image = pinned,
                        None => {
                            missing.push((format!("{spec_path}.{list}[{i}].image"), image.clone()))
                        }
                    }
                }
            }
        }
        for (field, image) in missing {
            results.push(
                KrmResult::error(format!("image `{image}` is not in the lock table"))
                    .resource(item)
                    .field(field),
            );
        }
    }
    rl.results.extend(results);
    Ok(())
}

/// Splits `name[:tag]` at the tag, minding registry ports (`host:5000/app`).
fn split_tag(image: &str) -> (&str, Option<&str>) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(colon) => (&image[..slash + colon], Some(&image[slash + colon + 1..])),
        None => (image, None),
    }
}

/// The pinned reference for `image`: an exact `name:tag` entry first, then
/// an entry for the name alone.
fn lookup(table: &[(String, String)], image: &str) -> Option<String> {
    let (name, _) = split_tag(image);
    let digest = table
        .iter()
        .find(|(key, _)| key == image)
        .or_else(|| table.iter().find(|(key, _)| key == name))?;
    Some(format!("{name}@{}", digest.1))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(images: &[&str]) -> Value {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect();
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "api", "namespace": "shop"},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    fn config() -> Value {
        json!({"images": {
            "example.com/api:1.0": "sha256:aaaa",
            "registry:5000/web": "bbbb",
        }})
    }

    #[test]
    fn pins_tags_and_names() {
        let mut rl = ResourceList::new(vec![
            deployment(&["example.com/api:1.0", "registry:5000/web:2.1"]),
            json!({"kind": "CronJob", "metadata": {"name": "job"}, "spec": {"jobTemplate": {"spec": {
                "template": {"spec": {"initContainers": [{"image": "registry:5000/web"}]}}}}}}),
        ])
        .with_function_config(config());
        pin_images(&mut rl).unwrap();
        assert!(rl.results.is_empty(), "{:?}", rl.results);
        let containers = &rl.items[0]["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "example.com/api@sha256:aaaa");
        assert_eq!(containers[1]["image"], "registry:5000/web@sha256:bbbb");
        let init =
            &rl.items[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"];
        assert_eq!(init[0]["image"], "registry:5000/web@sha256:bbbb");
    }

    #[test]
    fn leaves_digests_and_other_kinds_alone() {
        let pinned = "example.com/other@sha256:cccc";
        let service = json!({"kind": "Service", "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        let mut rl = ResourceList::new(vec![deployment(&[pinned]), service.clone()])
            .with_function_config(config());
        pin_images(&mut rl).unwrap();
        assert!(rl.results.is_empty());
        assert_eq!(
            rl.items[0]["spec"]["template"]["spec"]["containers"][0]["image"],
            pinned
        );
        assert_eq!(rl.items[1], service);
    }

    #[test]
    fn missing_image_names_resource_and_field() {
        let mut rl = ResourceList::new(vec![deployment(&[
            "example.com/api:1.0",
            "example.com/api:2.0",
        ])])
        .with_function_config(config());
        pin_images(&mut rl).unwrap();
        assert!(rl.has_errors());
        let result = serde_json::to_value(&rl.results).unwrap();
        assert_eq!(
            result,
            json!([{
                "message": "image `example.com/api:2.0` is not in the lock table",
                "severity": "error",
                "resourceRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "namespace": "shop"},
                "field": {"path": "spec.template.spec.containers[1].image"},
            }])
        );
    }

    #[test]
    fn split_tag_minds_ports() {
        assert_eq!(split_tag("host:5000/app"), ("host:5000/app", None));
        assert_eq!(split_tag("host:5000/app:1"), ("host:5000/app", Some("1")));
        assert_eq!(split_tag("nginx:latest"), ("nginx", Some("latest")));
    }
}
