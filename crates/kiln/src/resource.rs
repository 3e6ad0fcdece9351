//! Kubernetes resources as ordered JSON values, their identities and kustomize's output order.

use std::fmt;

use serde_json::{Map, Value};

/// A JSON object whose fields keep their input order.
pub(crate) type Object = Map<String, Value>;

/// One Kubernetes resource: a YAML/JSON object with `apiVersion`, `kind` and `metadata.name`.
///
/// Fields keep the order they had in the input, so output is stable and diffs stay small.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    obj: Object,
    /// Where the resource came from (a path relative to the project root), for error messages.
    pub(crate) origin: Option<String>,
    /// The name the resource had before any prefix/suffix/hash was added (kustomize's
    /// "original name"), used to update references.
    pub(crate) original_name: Option<String>,
    /// The namespace the resource had before its first change of identity (namespace,
    /// prefix, suffix or hash), as kustomize keeps it in the resource's original id.
    pub(crate) original_namespace: Option<String>,
    /// The name prefixes added to the resource, innermost kustomization first (kustomize's
    /// prefix history), to choose between resources that had the same name.
    pub(crate) name_prefixes: Vec<String>,
    /// The name suffixes added to the resource, innermost kustomization first.
    pub(crate) name_suffixes: Vec<String>,
}

impl Resource {
    /// Wraps an object. The caller checks it is a resource (see [`Resource::from_value`]).
    pub(crate) fn from_object(obj: Object) -> Self {
        Resource {
            obj,
            origin: None,
            original_name: None,
            original_namespace: None,
            name_prefixes: Vec::new(),
            name_suffixes: Vec::new(),
        }
    }

    /// Checks that `value` is an object with a `kind` and a `metadata.name` (or
    /// `metadata.generateName`), and wraps it. The error is a short reason.
    pub(crate) fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(obj) = value else {
            return Err(format!(
                "a resource must be a mapping, found {}",
                type_name(&value)
            ));
        };
        match obj.get("kind") {
            Some(Value::String(k)) if !k.is_empty() => {}
            Some(_) => return Err("`kind` must be a non-empty string".into()),
            None => return Err("resource has no `kind`".into()),
        }
        match obj.get("apiVersion") {
            Some(Value::String(_)) | None => {}
            Some(_) => return Err("`apiVersion` must be a string".into()),
        }
        let name_ok = match obj.get("metadata") {
            Some(Value::Object(m)) => {
                matches!(m.get("name"), Some(Value::String(n)) if !n.is_empty())
                    || matches!(m.get("generateName"), Some(Value::String(n)) if !n.is_empty())
            }
            Some(_) => return Err("`metadata` must be a mapping".into()),
            None => false,
        };
        if !name_ok {
            return Err(format!(
                "{} has no `metadata.name`",
                obj.get("kind").and_then(Value::as_str).unwrap_or_default()
            ));
        }
        Ok(Self::from_object(obj))
    }

    /// The resource as a JSON object.
    pub fn as_object(&self) -> &Object {
        &self.obj
    }

    /// The resource as a mutable JSON object.
    pub(crate) fn as_object_mut(&mut self) -> &mut Object {
        &mut self.obj
    }

    /// Consumes the resource, giving its object.
    pub fn into_object(self) -> Object {
        self.obj
    }

    /// A clone of the resource as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.obj.clone())
    }

    fn str_field(&self, key: &str) -> &str {
        self.obj
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn meta_str(&self, key: &str) -> &str {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        self.str_field("apiVersion")
    }

    /// The API group (`apps` for `apps/v1`, empty for the core group).
    pub fn group(&self) -> &str {
        split_api_version(self.api_version()).0
    }

    /// The API version without the group (`v1` for `apps/v1`).
    pub fn version(&self) -> &str {
        split_api_version(self.api_version()).1
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.str_field("kind")
    }

    /// `metadata.name` (or `metadata.generateName` when there is no name).
    pub fn name(&self) -> &str {
        let n = self.meta_str("name");
        if n.is_empty() {
            self.meta_str("generateName")
        } else {
            n
        }
    }

    /// `metadata.namespace`, empty when unset.
    pub fn namespace(&self) -> &str {
        self.meta_str("namespace")
    }

    /// The metadata mapping, created when missing.
    pub(crate) fn metadata_mut(&mut self) -> &mut Object {
        let m = self
            .obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Object::new()));
        if !m.is_object() {
            *m = Value::Object(Object::new());
        }
        m.as_object_mut().expect("metadata is an object")
    }

    /// Sets `metadata.name`.
    pub(crate) fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }

    /// Sets `metadata.namespace`.
    pub(crate) fn set_namespace(&mut self, ns: &str) {
        self.metadata_mut()
            .insert("namespace".into(), Value::String(ns.into()));
    }

    /// A string map under `metadata` (`labels` or `annotations`), if present.
    pub fn metadata_map(&self, key: &str) -> Option<&Object> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_object)
    }

    /// A string map under `metadata` (`labels` or `annotations`), created when missing.
    pub(crate) fn metadata_map_mut(&mut self, key: &str) -> &mut Object {
        let m = self
            .metadata_mut()
            .entry(key)
            .or_insert_with(|| Value::Object(Object::new()));
        if !m.is_object() {
            *m = Value::Object(Object::new());
        }
        m.as_object_mut().expect("map is an object")
    }

    /// The identity kustomize uses to tell resources apart.
    pub fn id(&self) -> ResId {
        ResId {
            group: self.group().to_string(),
            version: self.version().to_string(),
            kind: self.kind().to_string(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }

    /// Whether the kind lives in a namespace, as kustomize decides it (see
    /// `is_cluster_scoped`).
    pub fn is_namespaced(&self) -> bool {
        !is_cluster_scoped(self.group(), self.version(), self.kind())
    }
}

/// A resource from a JSON object: it needs a `kind` and a `metadata.name` (or
/// `metadata.generateName`); the error says what is missing.
impl TryFrom<Value> for Resource {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        Resource::from_value(value)
    }
}

impl fmt::Display for Resource {
    /// `Kind/name`, or `Kind/namespace/name` when namespaced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace().is_empty() {
            write!(f, "{}/{}", self.kind(), self.name())
        } else {
            write!(f, "{}/{}/{}", self.kind(), self.namespace(), self.name())
        }
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// A resource identity: group, version, kind, name and namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResId {
    /// API group, empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, empty when unset.
    pub namespace: String,
}

impl ResId {
    /// Whether two ids name the same object: same group, kind, name and namespace
    /// (kustomize ignores the version here).
    pub fn same_object(&self, other: &ResId) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.name == other.name
            && norm_ns(&self.namespace) == norm_ns(&other.namespace)
    }
}

fn norm_ns(ns: &str) -> &str {
    if ns == "default" { "" } else { ns }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// kustomize's default `orderFirst` kinds.
pub(crate) const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// kustomize's default `orderLast` kinds.
pub(crate) const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Sorts resources in kustomize's default output order (stable).
pub(crate) fn sort_legacy(resources: &mut [Resource]) {
    sort_legacy_with(resources, ORDER_FIRST, ORDER_LAST);
}

/// kustomize's legacy order: by kind rank (the `first` kinds in their order before all
/// others, the `last` kinds after them), then by GVK in kustomize's `legacySortString`
/// form (`group_version_kind`, `~G`, `~V`, `~K` for empty parts), then by
/// `namespace|name` compared as one string (`~X` for no namespace, so those come after
/// the namespaced ones, and `a-b|x` sorts before `a|x`). Stable.
pub(crate) fn sort_legacy_with(resources: &mut [Resource], first: &[&str], last: &[&str]) {
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| *k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| *k == kind) {
            return 1 + i as i64;
        }
        0
    };
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_string()
        } else {
            s.to_string()
        }
    };
    resources.sort_by_cached_key(|r| {
        let gvk = format!(
            "{}_{}_{}",
            or(r.group(), "~G"),
            or(r.version(), "~V"),
            or(r.kind(), "~K")
        );
        let rest = format!("{}|{}", or(r.namespace(), "~X"), or(r.name(), "~N"));
        (rank(r.kind()), gvk, rest)
    });
}

/// Whether kustomize v5.7.1 treats a kind as cluster-scoped (not namespaced). kustomize
/// decides by the group, version *and* kind, from the Kubernetes OpenAPI schema built into
/// kyaml: a built-in kind in a version that schema lacks is namespaced to kustomize
/// (`flowcontrol.apiserver.k8s.io/v1` `FlowSchema`, `ValidatingAdmissionPolicy`,
/// `admissionregistration.k8s.io/v1alpha1` anything), and kiln matches it, so that
/// `kiln build` and `kustomize build` set the same namespaces. The table was read from
/// kustomize itself: every built-in cluster-scoped kind in every version, built with a
/// `namespace:` (see `testdata/kustomize/namespace-cluster-scoped-versions`).
pub(crate) fn is_cluster_scoped(group: &str, version: &str, kind: &str) -> bool {
    let versions: &[&str] = match (group, kind) {
        ("", "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus") => &["v1"],
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        )
        | ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("apiregistration.k8s.io", "APIService")
        | ("certificates.k8s.io", "CertificateSigningRequest")
        | ("networking.k8s.io", "IngressClass")
        | ("node.k8s.io", "RuntimeClass")
        | ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding")
        | ("scheduling.k8s.io", "PriorityClass")
        | ("storage.k8s.io", "CSIDriver" | "CSINode" | "StorageClass" | "VolumeAttachment") => {
            &["v1", "v1beta1"]
        }
        ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration") => {
            &["v1beta1"]
        }
        ("policy", "PodSecurityPolicy") => &["v1beta1"],
        _ => &[],
    };
    versions.contains(&version)
}

/// A short name for a JSON value's type, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        Resource::from_value(v).unwrap()
    }

    /// kustomize decides a kind's scope by group, version and kind: a version its schema
    /// lacks is namespaced.
    #[test]
    fn scope_follows_kustomize_versions() {
        let scoped = |api: &str, kind: &str| {
            !res(json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}}))
                .is_namespaced()
        };
        assert!(scoped("v1", "Namespace"));
        assert!(!scoped("v2", "Namespace"));
        assert!(scoped("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"));
        assert!(scoped(
            "flowcontrol.apiserver.k8s.io/v1beta1",
            "PriorityLevelConfiguration"
        ));
        assert!(!scoped("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"));
        assert!(scoped("rbac.authorization.k8s.io/v1beta1", "ClusterRole"));
        assert!(!scoped("example.com/v1", "ClusterRole"));
        assert!(!scoped(
            "admissionregistration.k8s.io/v1",
            "ValidatingAdmissionPolicy"
        ));
        assert!(scoped("policy/v1beta1", "PodSecurityPolicy"));
        assert!(!scoped("extensions/v1beta1", "PodSecurityPolicy"));
    }

    #[test]
    fn legacy_order_puts_namespace_first_and_webhooks_last() {
        let mut rs = vec![
            res(
                json!({"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingWebhookConfiguration","metadata":{"name":"a"}}),
            ),
            res(json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"b"}})),
            res(json!({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}})),
            res(json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}})),
            res(json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"z"}})),
        ];
        sort_legacy(&mut rs);
        let kinds: Vec<_> = rs.iter().map(|r| r.kind().to_string()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "Service",
                "Deployment",
                "Widget",
                "ValidatingWebhookConfiguration"
            ]
        );
    }

    #[test]
    fn from_value_names_what_is_missing() {
        assert_eq!(
            Resource::from_value(json!({"metadata":{"name":"x"}})).unwrap_err(),
            "resource has no `kind`"
        );
        assert_eq!(
            Resource::from_value(json!({"kind":"ConfigMap"})).unwrap_err(),
            "ConfigMap has no `metadata.name`"
        );
        assert!(Resource::from_value(json!([1])).is_err());
    }
}
