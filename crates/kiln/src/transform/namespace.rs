//! kustomize's `namespace:` transform.
//!
//! Sets `metadata.namespace` on every namespaced resource (custom resources count as
//! namespaced), and, like kustomize:
//! - renames `Namespace` objects to the new namespace;
//! - sets the namespace of every `subjects` entry named `default` in RoleBindings and
//!   ClusterRoleBindings (whatever its kind);
//! - sets `spec.service.namespace` of APIServices (creating it) and the conversion webhook
//!   service's namespace of CustomResourceDefinitions (when present);
//! - then updates references that carry a namespace (ServiceAccount subjects, webhook
//!   services) to resources of the set that moved: see [`update_name_references`].

use serde_json::{Map, Value};

use super::fieldspec::{self, fs};
use super::{PatchError, Rename, update_name_references};
use crate::resource::Resource;

/// Sets the namespace of every namespaced resource (kustomize semantics), then updates the
/// references to the moved resources. Two `Namespace` objects would both be renamed to
/// `namespace`; [`set_namespace_mapped`] reports that as an error instead.
pub(crate) fn set_namespace(resources: &mut [Resource], namespace: &str) {
    let renames = apply(resources, namespace);
    // Ambiguous references are left as they are here; the pipeline has no error to give.
    let _ = update_name_references(resources, &renames);
}

/// Sets the namespace like [`set_namespace`], without updating references, and returns
/// one [`Rename`] per resource (the old and new identity, even when unchanged, as kustomize
/// records it) for [`update_name_references`].
///
/// Fails, changing nothing, when more than one `Namespace` object would be renamed to
/// `namespace`.
pub(crate) fn set_namespace_mapped(
    resources: &mut [Resource],
    namespace: &str,
) -> Result<Vec<Rename>, PatchError> {
    let namespaces: Vec<String> = resources
        .iter()
        .filter(|r| is_namespace_kind(r))
        .map(|r| format!("`{}`", r.name()))
        .collect();
    if namespaces.len() > 1 {
        return Err(PatchError::Transform {
            transform: "namespace".into(),
            message: format!(
                "setting the namespace to `{namespace}` would give Namespace objects {} the same name",
                crate::error::Listed(&namespaces)
            ),
        });
    }
    Ok(apply(resources, namespace))
}

/// A core `v1` `Namespace`: kustomize treats a `Namespace` of another version (`v2`) as
/// an unknown namespaced kind.
fn is_namespace_kind(r: &Resource) -> bool {
    r.kind() == "Namespace" && !r.is_namespaced()
}

fn apply(resources: &mut [Resource], namespace: &str) -> Vec<Rename> {
    let mut renames = Vec::with_capacity(resources.len());
    for r in resources.iter_mut() {
        let old_name = r.name().to_string();
        let old_namespace = r.namespace().to_string();
        if r.is_namespaced() {
            r.set_namespace(namespace);
        }
        if is_namespace_kind(r) {
            r.set_name(namespace);
        }
        renames.push(Rename {
            group: r.group().to_string(),
            kind: r.kind().to_string(),
            old_namespace,
            old_name,
            new_namespace: r.namespace().to_string(),
            new_name: r.name().to_string(),
        });
        set_fields(r, namespace);
    }
    renames
}

/// The other fields kustomize's namespace transform sets.
fn set_fields(r: &mut Resource, namespace: &str) {
    let ns = || Value::String(namespace.to_string());
    if r.group() == "rbac.authorization.k8s.io"
        && matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding")
    {
        if let Some(Value::Array(subjects)) = r.as_object_mut().get_mut("subjects") {
            for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                if s.get("name").and_then(Value::as_str) == Some("default") {
                    s.insert("namespace".into(), ns());
                }
            }
        }
        return;
    }
    let specs = [
        fs(
            "apiregistration.k8s.io",
            "",
            "APIService",
            "spec/service/namespace",
            true,
        ),
        fs(
            "apiextensions.k8s.io",
            "",
            "CustomResourceDefinition",
            "spec/conversion/webhook/clientConfig/service/namespace",
            false,
        ),
    ];
    let applicable: Vec<_> = specs.iter().filter(|s| s.applies_to(r)).collect();
    for spec in applicable {
        let segments = spec.segments();
        fieldspec::visit(
            r.as_object_mut(),
            &segments,
            spec.create,
            &mut |parent: &mut Map<String, Value>, key| {
                if spec.create || parent.contains_key(key) {
                    parent.insert(key.to_string(), ns());
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testutil::resources;

    /// The same input, checked against `kustomize build` with `namespace: newns`.
    const INPUT: &str = "apiVersion: v1
kind: Namespace
metadata: {name: oldns}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: oldns}
---
apiVersion: v1
kind: Service
metadata: {name: websvc, namespace: oldns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: oldns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects:
- {kind: ServiceAccount, name: default, namespace: other}
- {kind: ServiceAccount, name: default}
- {kind: ServiceAccount, name: sa, namespace: oldns}
- {kind: ServiceAccount, name: sa2, namespace: oldns}
- {kind: ServiceAccount, name: sa}
- {kind: User, name: default}
- {kind: Group, name: g, namespace: oldns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
subjects:
- {kind: ServiceAccount, name: sa, namespace: oldns}
- {kind: ServiceAccount, name: sa, namespace: elsewhere}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: vwc}
webhooks:
- name: a
  clientConfig:
    service: {name: websvc, namespace: oldns}
- name: b
  clientConfig:
    service: {name: othersvc, namespace: oldns}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crd}
spec:
  conversion:
    webhook:
      clientConfig:
        service: {name: websvc, namespace: oldns}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: apis}
spec:
  group: x
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
";

    #[test]
    fn matches_kustomize() {
        let mut rs = resources(INPUT);
        set_namespace(&mut rs, "newns");
        let v: Vec<Value> = rs.iter().map(Resource::to_value).collect();
        assert_eq!(v[0]["metadata"]["name"], "newns");
        assert_eq!(v[0]["metadata"].get("namespace"), None);
        assert_eq!(v[1]["metadata"]["namespace"], "newns");
        let subject_ns: Vec<&str> = v[3]["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.get("namespace").and_then(Value::as_str).unwrap_or("-"))
            .collect();
        assert_eq!(
            subject_ns,
            [
                "newns", "newns", "newns", "oldns", "newns", "newns", "oldns"
            ]
        );
        assert_eq!(v[4]["metadata"].get("namespace"), None);
        assert_eq!(v[4]["subjects"][0]["namespace"], "newns");
        assert_eq!(v[4]["subjects"][1]["namespace"], "elsewhere");
        assert_eq!(
            v[5]["webhooks"][0]["clientConfig"]["service"]["namespace"],
            "newns"
        );
        assert_eq!(
            v[5]["webhooks"][1]["clientConfig"]["service"]["namespace"],
            "oldns"
        );
        assert_eq!(
            v[6]["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["namespace"],
            "newns"
        );
        assert_eq!(
            v[7]["spec"]["service"],
            serde_json::json!({"namespace": "newns"})
        );
        assert_eq!(v[8]["metadata"]["namespace"], "newns");
    }

    #[test]
    fn two_namespace_objects_conflict() {
        let mut rs = resources(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        );
        let err = set_namespace_mapped(&mut rs, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "namespace: setting the namespace to `x` would give Namespace objects `a` and `b` the same name"
        );
        assert_eq!(rs[0].name(), "a");
    }
}
