//! Which lists a strategic merge patch merges, and by which key.
//!
//! kustomize takes this from the Kubernetes OpenAPI schema it embeds (Kubernetes 1.21):
//! a list merges when its field has `x-kubernetes-patch-strategy: merge`, by
//! `x-kubernetes-patch-merge-key`. This table holds those fields for the built-in kinds
//! that carry them; every other list is replaced. Kinds that are not built in (custom
//! resources) have no schema at all, so every list of theirs is replaced, `metadata`'s
//! included.

/// A node in the (partial) schema: what the fields of an object are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// No schema: maps merge, lists are replaced.
    Unknown,
    /// A built-in kind's top level: `metadata` is an `ObjectMeta`, `spec` depends on the kind.
    Root(RootKind),
    ObjectMeta,
    WorkloadSpec,
    CronJobSpec,
    JobTemplateSpec,
    PodTemplateSpec,
    PodSpec,
    Container,
    ServiceSpec,
    NodeSpec,
    PodStatus,
    NodeStatus,
}

/// Built-in kinds, grouped by the shape of their `spec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootKind {
    /// `spec.template` is a pod template (Deployment, StatefulSet, …).
    Workload,
    CronJob,
    Pod,
    /// `template` at the top level.
    PodTemplate,
    Service,
    ServiceAccount,
    Node,
    Webhooks,
    /// A built-in kind whose lists all replace; only `metadata` has merging lists.
    Other,
}

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Elements are mappings merged by these keys (more than one when the schema lists
    /// `x-kubernetes-list-map-keys`, as for ports); each element's schema is `Ty`.
    Keyed(&'static [&'static str], Ty),
    /// A list of scalars merged as a set.
    Primitive,
}

/// The root schema for a resource's group and kind.
pub(crate) fn root(group: &str, kind: &str) -> Ty {
    use RootKind::*;
    let core = group.is_empty();
    let rk = match (group, kind) {
        ("apps" | "extensions", "Deployment" | "ReplicaSet" | "DaemonSet")
        | ("apps", "StatefulSet")
        | ("batch", "Job")
        | ("", "ReplicationController") => Workload,
        ("batch", "CronJob") => CronJob,
        ("", "Pod") => Pod,
        ("", "PodTemplate") => PodTemplate,
        ("", "Service") => Service,
        ("", "ServiceAccount") => ServiceAccount,
        ("", "Node") => Node,
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => Webhooks,
        _ if core && CORE_KINDS.contains(&kind) => Other,
        _ if BUILTIN_GROUPS.contains(&group) => Other,
        _ => return Ty::Unknown,
    };
    Ty::Root(rk)
}

const CORE_KINDS: &[&str] = &[
    "Binding",
    "ComponentStatus",
    "ConfigMap",
    "Endpoints",
    "Event",
    "LimitRange",
    "Namespace",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ResourceQuota",
    "Secret",
];

const BUILTIN_GROUPS: &[&str] = &[
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
];

/// The schema of field `name` of an object of schema `ty`, and, when the field is a list
/// that merges, how.
pub(crate) fn field(ty: Ty, name: &str) -> (Ty, Option<ListKind>) {
    use ListKind::*;
    use Ty::*;
    let none = (Unknown, None);
    match ty {
        Unknown => none,
        Root(rk) => match (rk, name) {
            (_, "metadata") => (ObjectMeta, None),
            (RootKind::Workload, "spec") => (WorkloadSpec, None),
            (RootKind::CronJob, "spec") => (CronJobSpec, None),
            (RootKind::Pod, "spec") => (PodSpec, None),
            (RootKind::Pod, "status") => (PodStatus, None),
            (RootKind::PodTemplate, "template") => (PodTemplateSpec, None),
            (RootKind::Service, "spec") => (ServiceSpec, None),
            (RootKind::ServiceAccount, "secrets") => (Unknown, Some(Keyed(&["name"], Unknown))),
            (RootKind::Node, "spec") => (NodeSpec, None),
            (RootKind::Node, "status") => (NodeStatus, None),
            (RootKind::Webhooks, "webhooks") => (Unknown, Some(Keyed(&["name"], Unknown))),
            _ => none,
        },
        ObjectMeta => match name {
            "finalizers" => (Unknown, Some(Primitive)),
            "ownerReferences" => (Unknown, Some(Keyed(&["uid"], Unknown))),
            _ => none,
        },
        WorkloadSpec => match name {
            "template" => (PodTemplateSpec, None),
            _ => none,
        },
        CronJobSpec => match name {
            "jobTemplate" => (JobTemplateSpec, None),
            _ => none,
        },
        JobTemplateSpec => match name {
            "metadata" => (ObjectMeta, None),
            "spec" => (WorkloadSpec, None),
            _ => none,
        },
        PodTemplateSpec => match name {
            "metadata" => (ObjectMeta, None),
            "spec" => (PodSpec, None),
            _ => none,
        },
        PodSpec => match name {
            "containers" | "initContainers" | "ephemeralContainers" => {
                (Unknown, Some(Keyed(&["name"], Container)))
            }
            "volumes" | "imagePullSecrets" => (Unknown, Some(Keyed(&["name"], Unknown))),
            "hostAliases" => (Unknown, Some(Keyed(&["ip"], Unknown))),
            "topologySpreadConstraints" => (
                Unknown,
                Some(Keyed(&["topologyKey", "whenUnsatisfiable"], Unknown)),
            ),
            _ => none,
        },
        Container => match name {
            "env" => (Unknown, Some(Keyed(&["name"], Unknown))),
            "ports" => (
                Unknown,
                Some(Keyed(&["containerPort", "protocol"], Unknown)),
            ),
            "volumeMounts" => (Unknown, Some(Keyed(&["mountPath"], Unknown))),
            "volumeDevices" => (Unknown, Some(Keyed(&["devicePath"], Unknown))),
            _ => none,
        },
        ServiceSpec => match name {
            "ports" => (Unknown, Some(Keyed(&["port", "protocol"], Unknown))),
            _ => none,
        },
        NodeSpec => match name {
            "podCIDRs" => (Unknown, Some(Primitive)),
            _ => none,
        },
        PodStatus => match name {
            "conditions" => (Unknown, Some(Keyed(&["type"], Unknown))),
            _ => none,
        },
        NodeStatus => match name {
            "conditions" | "addresses" => (Unknown, Some(Keyed(&["type"], Unknown))),
            _ => none,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_merge_by_name_and_ports_by_container_port() {
        let (spec, _) = field(root("apps", "Deployment"), "spec");
        let (tpl, _) = field(spec, "template");
        let (pod, _) = field(tpl, "spec");
        assert_eq!(
            field(pod, "containers").1,
            Some(ListKind::Keyed(&["name"], Ty::Container))
        );
        assert_eq!(
            field(Ty::Container, "ports").1,
            Some(ListKind::Keyed(&["containerPort", "protocol"], Ty::Unknown))
        );
        assert_eq!(field(pod, "tolerations").1, None);
    }

    #[test]
    fn custom_resources_have_no_schema() {
        assert_eq!(root("example.com", "Widget"), Ty::Unknown);
        assert_eq!(root("", "ConfigMap"), Ty::Root(RootKind::Other));
        assert_eq!(root("", "Widget"), Ty::Unknown);
    }
}
