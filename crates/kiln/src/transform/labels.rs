//! kustomize's `commonLabels`/`labels`, `commonAnnotations` and `replicas`, with its field
//! lists.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::PatchError;
use super::fieldspec::{self, FieldSpec, fs};
use crate::resource::Resource;

/// `metadata.labels` everywhere, and the pod (and claim) templates of workloads.
const METADATA_LABELS: &[FieldSpec] = &[
    fs("", "", "", "metadata/labels", true),
    fs(
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    fs("", "", "Deployment", "spec/template/metadata/labels", true),
    fs("", "", "ReplicaSet", "spec/template/metadata/labels", true),
    fs("", "", "DaemonSet", "spec/template/metadata/labels", true),
    fs(
        "apps",
        "",
        "StatefulSet",
        "spec/template/metadata/labels",
        true,
    ),
    fs(
        "apps",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    fs("batch", "", "Job", "spec/template/metadata/labels", true),
    fs(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    fs(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// The selectors `commonLabels` (and `labels` with `includeSelectors`) also set.
const SELECTOR_LABELS: &[FieldSpec] = &[
    fs("", "v1", "Service", "spec/selector", true),
    fs("", "v1", "ReplicationController", "spec/selector", true),
    fs("", "", "Deployment", "spec/selector/matchLabels", true),
    fs("apps", "", "Deployment", AFFINITY_1, false),
    fs("apps", "", "Deployment", AFFINITY_2, false),
    fs("apps", "", "Deployment", AFFINITY_3, false),
    fs("apps", "", "Deployment", AFFINITY_4, false),
    fs("apps", "", "Deployment", SPREAD, false),
    fs("", "", "ReplicaSet", "spec/selector/matchLabels", true),
    fs("", "", "DaemonSet", "spec/selector/matchLabels", true),
    fs("apps", "", "StatefulSet", "spec/selector/matchLabels", true),
    fs("apps", "", "StatefulSet", AFFINITY_1, false),
    fs("apps", "", "StatefulSet", AFFINITY_2, false),
    fs("apps", "", "StatefulSet", AFFINITY_3, false),
    fs("apps", "", "StatefulSet", AFFINITY_4, false),
    fs("apps", "", "StatefulSet", SPREAD, false),
    fs("batch", "", "Job", "spec/selector/matchLabels", false),
    fs(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    fs(
        "policy",
        "",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ),
    fs(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ),
    fs(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    fs(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

const AFFINITY_1: &str = "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels";
const AFFINITY_2: &str = "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels";
const AFFINITY_3: &str = "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels";
const AFFINITY_4: &str = "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels";
const SPREAD: &str = "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels";

/// `commonAnnotations`: `metadata.annotations` everywhere and the pod templates.
const ANNOTATIONS: &[FieldSpec] = &[
    fs("", "", "", "metadata/annotations", true),
    fs(
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "",
        "",
        "Deployment",
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "",
        "",
        "ReplicaSet",
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "",
        "",
        "DaemonSet",
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "apps",
        "",
        "StatefulSet",
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "batch",
        "",
        "Job",
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    fs(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// The kinds `replicas:` applies to.
const REPLICAS: &[FieldSpec] = &[
    fs("", "", "Deployment", "spec/replicas", true),
    fs("", "", "ReplicationController", "spec/replicas", true),
    fs("", "", "ReplicaSet", "spec/replicas", true),
    fs("", "", "StatefulSet", "spec/replicas", true),
];

/// Adds labels with kustomize's semantics:
/// - always `metadata.labels` of every resource;
/// - with `include_selectors` (kustomize's `commonLabels`, or `labels` with
///   `includeSelectors: true`): also the pod templates and the selectors of Services,
///   workloads, PodDisruptionBudgets and NetworkPolicies (`include_templates` is then
///   implied);
/// - with `include_templates` only: also the pod templates (and StatefulSet claim
///   templates), not the selectors.
pub(crate) fn add_labels(
    resources: &mut [Resource],
    labels: &BTreeMap<String, String>,
    include_selectors: bool,
    include_templates: bool,
) {
    if labels.is_empty() {
        return;
    }
    let mut specs: Vec<&FieldSpec> = vec![&METADATA_LABELS[0]];
    if include_selectors || include_templates {
        specs.extend(&METADATA_LABELS[1..]);
    }
    if include_selectors {
        specs.extend(SELECTOR_LABELS);
    }
    set_maps(resources, &specs, labels);
}

/// Adds annotations to `metadata.annotations` of every resource and to the pod templates,
/// like kustomize's `commonAnnotations`.
pub(crate) fn add_annotations(resources: &mut [Resource], annotations: &BTreeMap<String, String>) {
    if annotations.is_empty() {
        return;
    }
    let specs: Vec<&FieldSpec> = ANNOTATIONS.iter().collect();
    set_maps(resources, &specs, annotations);
}

/// Sets every entry of `entries` in the string maps the specs point at, creating them where
/// the spec says so.
fn set_maps(resources: &mut [Resource], specs: &[&FieldSpec], entries: &BTreeMap<String, String>) {
    for r in resources.iter_mut() {
        let applicable: Vec<&FieldSpec> =
            specs.iter().copied().filter(|s| s.applies_to(r)).collect();
        for spec in applicable {
            let segments = spec.segments();
            fieldspec::visit(
                r.as_object_mut(),
                &segments,
                spec.create,
                &mut |parent: &mut Map<String, Value>, key| {
                    let slot = match parent.get_mut(key) {
                        Some(Value::Object(m)) => m,
                        Some(Value::Null) | None if spec.create => {
                            parent.insert(key.to_string(), Value::Object(Map::new()));
                            parent
                                .get_mut(key)
                                .and_then(Value::as_object_mut)
                                .expect("just inserted")
                        }
                        _ => return,
                    };
                    for (k, v) in entries {
                        slot.insert(k.clone(), Value::String(v.clone()));
                    }
                },
            );
        }
    }
}

/// Sets `spec.replicas` of the Deployments, ReplicationControllers, ReplicaSets and
/// StatefulSets named `name` (now, or before a prefix or suffix was added), like
/// kustomize's `replicas:`. Naming none of them is an error, as in kustomize.
pub(crate) fn set_replicas(
    resources: &mut [Resource],
    name: &str,
    count: i64,
) -> Result<(), PatchError> {
    let mut found = false;
    for r in resources.iter_mut() {
        let named = r.name() == name || r.original_name.as_deref() == Some(name);
        if !named || !REPLICAS.iter().any(|s| s.applies_to(r)) {
            continue;
        }
        found = true;
        let spec = r
            .as_object_mut()
            .entry("spec")
            .or_insert_with(|| Value::Object(Map::new()));
        if !spec.is_object() {
            *spec = Value::Object(Map::new());
        }
        if let Value::Object(spec) = spec {
            spec.insert("replicas".into(), Value::from(count));
        }
    }
    if found {
        Ok(())
    } else {
        Err(PatchError::Transform {
            transform: "replicas".into(),
            message: format!(
                "no Deployment, ReplicationController, ReplicaSet or StatefulSet is named `{name}`"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testutil::resources;

    /// The same input was run through `kustomize build` with `commonLabels`, `labels`
    /// (`includeTemplates`) and `commonAnnotations`; the assertions restate its output.
    const INPUT: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ss}
spec:
  selector: {matchLabels: {x: y}}
  template:
    metadata: {labels: {x: y}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {x: y}}
          - labelSelector: {matchExpressions: []}
      topologySpreadConstraints:
      - labelSelector: {matchLabels: {x: y}}
  volumeClaimTemplates:
  - metadata: {name: data}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  jobTemplate:
    spec:
      template:
        spec: {}
---
apiVersion: batch/v1
kind: Job
metadata: {name: job}
spec:
  template:
    spec: {}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {matchLabels: {a: b}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dep}
spec:
  replicas: 1
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  template:
    metadata: {}
";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn values(rs: &[Resource]) -> Vec<Value> {
        rs.iter().map(Resource::to_value).collect()
    }

    #[test]
    fn common_labels_reach_selectors_and_templates() {
        let mut rs = resources(INPUT);
        add_labels(&mut rs, &map(&[("zz", "1"), ("aa", "2")]), true, false);
        let v = values(&rs);
        let l = serde_json::json!({"aa": "2", "zz": "1"});
        let lx = serde_json::json!({"x": "y", "aa": "2", "zz": "1"});
        let ss = &v[0]["spec"];
        assert_eq!(v[0]["metadata"]["labels"], l);
        assert_eq!(ss["selector"]["matchLabels"], lx);
        assert_eq!(ss["template"]["metadata"]["labels"], lx);
        let anti = &ss["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
        assert_eq!(anti[0]["labelSelector"]["matchLabels"], lx);
        assert_eq!(anti[1]["labelSelector"].get("matchLabels"), None);
        assert_eq!(ss["topologySpreadConstraints"], Value::Null);
        assert_eq!(
            ss["template"]["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"],
            lx
        );
        assert_eq!(ss["volumeClaimTemplates"][0]["metadata"]["labels"], l);
        assert_eq!(v[1]["spec"]["jobTemplate"]["metadata"]["labels"], l);
        assert_eq!(
            v[1]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"],
            l
        );
        assert_eq!(v[1]["spec"]["jobTemplate"]["spec"].get("selector"), None);
        assert_eq!(v[2]["spec"].get("selector"), None);
        assert_eq!(v[2]["spec"]["template"]["metadata"]["labels"], l);
        assert_eq!(v[3]["spec"]["selector"], l);
        assert_eq!(v[4]["spec"]["podSelector"], serde_json::json!({}));
        assert_eq!(
            v[4]["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"],
            serde_json::json!({"a": "b", "aa": "2", "zz": "1"})
        );
        assert_eq!(v[5]["spec"]["selector"]["matchLabels"], l);
        assert_eq!(v[5]["spec"]["template"]["metadata"]["labels"], l);
        assert_eq!(v[6]["spec"]["template"]["metadata"], serde_json::json!({}));
    }

    #[test]
    fn labels_with_templates_only_and_plain() {
        let mut rs = resources(INPUT);
        add_labels(&mut rs, &map(&[("t", "1")]), false, true);
        add_labels(&mut rs, &map(&[("m", "1")]), false, false);
        let v = values(&rs);
        assert_eq!(
            v[0]["metadata"]["labels"],
            serde_json::json!({"t": "1", "m": "1"})
        );
        assert_eq!(
            v[0]["spec"]["selector"]["matchLabels"],
            serde_json::json!({"x": "y"})
        );
        assert_eq!(
            v[0]["spec"]["template"]["metadata"]["labels"],
            serde_json::json!({"x": "y", "t": "1"})
        );
        assert_eq!(
            v[0]["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"],
            serde_json::json!({"t": "1"})
        );
        assert_eq!(
            v[1]["spec"]["jobTemplate"]["metadata"]["labels"],
            serde_json::json!({"t": "1"})
        );
        assert_eq!(v[3]["spec"], serde_json::json!({}));
    }

    #[test]
    fn annotations_reach_pod_templates() {
        let mut rs = resources(INPUT);
        add_annotations(&mut rs, &map(&[("an", "v")]));
        let v = values(&rs);
        let a = serde_json::json!({"an": "v"});
        assert_eq!(v[0]["metadata"]["annotations"], a);
        assert_eq!(v[0]["spec"]["template"]["metadata"]["annotations"], a);
        assert_eq!(
            v[0]["spec"]["volumeClaimTemplates"][0]["metadata"].get("annotations"),
            None
        );
        assert_eq!(v[1]["spec"]["jobTemplate"]["metadata"]["annotations"], a);
        assert_eq!(
            v[1]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"],
            a
        );
        assert_eq!(v[5]["spec"]["template"]["metadata"]["annotations"], a);
        assert_eq!(v[6]["spec"]["template"]["metadata"], serde_json::json!({}));
    }

    #[test]
    fn replicas_by_name_and_kind() {
        let mut rs = resources(INPUT);
        set_replicas(&mut rs, "dep", 3).unwrap();
        set_replicas(&mut rs, "ss", 2).unwrap();
        let v = values(&rs);
        assert_eq!(v[5]["spec"]["replicas"], 3);
        assert_eq!(v[0]["spec"]["replicas"], 2);
        let err = set_replicas(&mut rs, "job", 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "replicas: no Deployment, ReplicationController, ReplicaSet or StatefulSet is named `job`"
        );
    }
}
