//! Name prefixes and suffixes, and kustomize's "name reference" step: after resources are
//! renamed (prefix, suffix, generator hash) or moved to another namespace, the fields of
//! other resources that refer to them by name are updated.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::fieldspec::{self, FieldSpec, fs};
use super::{PatchError, Rename};
use crate::resource::{Resource, is_cluster_scoped};

/// Adds `prefix` and `suffix` to the name of every resource except the kinds kustomize
/// leaves alone (`CustomResourceDefinition`, `APIService`, `Namespace`). Records each
/// resource's first name and namespace in `original_name` and `original_namespace`, adds
/// the (non-empty) prefix and suffix to its prefix and suffix history, and returns the
/// renames for [`update_name_references`].
pub(crate) fn add_name_affixes(
    resources: &mut [Resource],
    prefix: &str,
    suffix: &str,
) -> Vec<Rename> {
    let mut renames = Vec::new();
    if prefix.is_empty() && suffix.is_empty() {
        return renames;
    }
    for r in resources.iter_mut() {
        let skip = matches!(r.kind(), "CustomResourceDefinition" | "Namespace")
            || (r.kind() == "APIService" && r.group() == "apiregistration.k8s.io");
        let has_name = r
            .as_object()
            .get("metadata")
            .and_then(|m| m.get("name"))
            .is_some_and(Value::is_string);
        if skip || !has_name {
            continue;
        }
        let old = r.name().to_string();
        let new = format!("{prefix}{old}{suffix}");
        if r.original_name.is_none() {
            r.original_name = Some(old.clone());
        }
        if r.original_namespace.is_none() {
            r.original_namespace = Some(r.namespace().to_string());
        }
        if !prefix.is_empty() {
            r.name_prefixes.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            r.name_suffixes.push(suffix.to_string());
        }
        r.set_name(&new);
        renames.push(Rename {
            group: r.group().to_string(),
            kind: r.kind().to_string(),
            old_namespace: r.namespace().to_string(),
            old_name: old,
            new_namespace: r.namespace().to_string(),
            new_name: new,
        });
    }
    renames
}

/// A kind that other resources refer to by name, and the fields that hold such references.
struct Referral {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    referrers: Vec<FieldSpec>,
}

/// Where pod specs live, per kind: (group, version, kind, path prefix).
const POD_SPECS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "spec"),
    ("", "", "PodTemplate", "template/spec"),
    ("", "", "Deployment", "spec/template/spec"),
    ("", "", "ReplicaSet", "spec/template/spec"),
    ("", "", "DaemonSet", "spec/template/spec"),
    ("", "", "StatefulSet", "spec/template/spec"),
    ("", "", "Job", "spec/template/spec"),
    ("", "", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// The kinds whose pod spec kustomize checks for service accounts, claims and priority
/// classes (a different list from the one for ConfigMaps and Secrets).
const POD_SPECS_2: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
];

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// kustomize's built-in name reference table.
fn referrals() -> &'static [Referral] {
    static TABLE: OnceLock<Vec<Referral>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let pod = |paths: &[&str]| -> Vec<FieldSpec> {
            let mut out = Vec::new();
            for &(g, v, k, prefix) in POD_SPECS {
                for p in paths {
                    out.push(fs(g, v, k, leak(format!("{prefix}/{p}")), false));
                }
            }
            out
        };
        let pod2 = |path: &str| -> Vec<FieldSpec> {
            POD_SPECS_2
                .iter()
                .map(|&(k, prefix)| fs("", "", k, leak(format!("{prefix}/{path}")), false))
                .collect()
        };
        let hpa = || {
            vec![fs(
                "",
                "",
                "HorizontalPodAutoscaler",
                "spec/scaleTargetRef/name",
                false,
            )]
        };
        let mut configmap = pod(&[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ]);
        configmap.extend([
            fs("", "", "Node", "spec/configSource/configMap", false),
            fs("", "", "Role", "rules/resourceNames", false),
            fs("", "", "ClusterRole", "rules/resourceNames", false),
            fs(
                "",
                "",
                "Ingress",
                "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
                false,
            ),
        ]);
        let mut secret = pod(&[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ]);
        secret.extend([
            fs("", "", "Ingress", "spec/tls/secretName", false),
            fs(
                "",
                "",
                "Ingress",
                "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
                false,
            ),
            fs(
                "",
                "",
                "Ingress",
                "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
                false,
            ),
            fs(
                "",
                "",
                "Ingress",
                "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
                false,
            ),
            fs("", "", "ServiceAccount", "imagePullSecrets/name", false),
            fs("", "", "StorageClass", "parameters/secretName", false),
            fs("", "", "StorageClass", "parameters/adminSecretName", false),
            fs("", "", "StorageClass", "parameters/userSecretName", false),
            fs("", "", "StorageClass", "parameters/secretRef", false),
            fs("", "", "Role", "rules/resourceNames", false),
            fs("", "", "ClusterRole", "rules/resourceNames", false),
            fs(
                "serving.knative.dev",
                "v1",
                "Service",
                "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
                false,
            ),
            fs(
                "",
                "",
                "PersistentVolume",
                "spec/azureFile/secretName",
                false,
            ),
        ]);
        let rbac = "rbac.authorization.k8s.io";
        let mut service_account = vec![
            fs(rbac, "", "RoleBinding", "subjects", false),
            fs(rbac, "", "ClusterRoleBinding", "subjects", false),
        ];
        service_account.extend(pod2("serviceAccountName"));
        // kustomize's table also lists IngressClass, under a group (`networking.k8s.io/v1`)
        // that no resource has, so those references are never updated; kiln leaves it out.
        vec![
            Referral {
                group: "",
                version: "",
                kind: "Deployment",
                referrers: hpa(),
            },
            Referral {
                group: "",
                version: "",
                kind: "ReplicationController",
                referrers: hpa(),
            },
            Referral {
                group: "",
                version: "",
                kind: "ReplicaSet",
                referrers: hpa(),
            },
            Referral {
                group: "",
                version: "",
                kind: "StatefulSet",
                referrers: hpa(),
            },
            Referral {
                group: "",
                version: "v1",
                kind: "ConfigMap",
                referrers: configmap,
            },
            Referral {
                group: "",
                version: "v1",
                kind: "Secret",
                referrers: secret,
            },
            Referral {
                group: "",
                version: "v1",
                kind: "Service",
                referrers: vec![
                    fs("apps", "", "StatefulSet", "spec/serviceName", false),
                    fs(
                        "",
                        "",
                        "Ingress",
                        "spec/rules/http/paths/backend/serviceName",
                        false,
                    ),
                    fs("", "", "Ingress", "spec/backend/serviceName", false),
                    fs(
                        "",
                        "",
                        "Ingress",
                        "spec/rules/http/paths/backend/service/name",
                        false,
                    ),
                    fs("", "", "Ingress", "spec/defaultBackend/service/name", false),
                    fs(
                        "apiregistration.k8s.io",
                        "",
                        "APIService",
                        "spec/service/name",
                        false,
                    ),
                    fs(
                        "admissionregistration.k8s.io",
                        "",
                        "ValidatingWebhookConfiguration",
                        "webhooks/clientConfig/service",
                        false,
                    ),
                    fs(
                        "admissionregistration.k8s.io",
                        "",
                        "MutatingWebhookConfiguration",
                        "webhooks/clientConfig/service",
                        false,
                    ),
                    fs("", "", "HTTPRoute", "spec/rules/backendRefs/name", false),
                ],
            },
            Referral {
                group: rbac,
                version: "",
                kind: "Role",
                referrers: vec![fs(rbac, "", "RoleBinding", "roleRef/name", false)],
            },
            Referral {
                group: rbac,
                version: "",
                kind: "ClusterRole",
                referrers: vec![
                    fs(rbac, "", "RoleBinding", "roleRef/name", false),
                    fs(rbac, "", "ClusterRoleBinding", "roleRef/name", false),
                ],
            },
            Referral {
                group: "",
                version: "v1",
                kind: "ServiceAccount",
                referrers: service_account,
            },
            Referral {
                group: "",
                version: "v1",
                kind: "PersistentVolumeClaim",
                referrers: pod2("volumes/persistentVolumeClaim/claimName"),
            },
            Referral {
                group: "",
                version: "v1",
                kind: "PersistentVolume",
                referrers: vec![
                    fs("", "", "PersistentVolumeClaim", "spec/volumeName", false),
                    fs("", "", "ClusterRole", "rules/resourceNames", false),
                ],
            },
            Referral {
                group: "storage.k8s.io",
                version: "v1",
                kind: "StorageClass",
                referrers: vec![
                    fs("", "", "PersistentVolume", "spec/storageClassName", false),
                    fs(
                        "",
                        "",
                        "PersistentVolumeClaim",
                        "spec/storageClassName",
                        false,
                    ),
                    fs(
                        "",
                        "",
                        "StatefulSet",
                        "spec/volumeClaimTemplates/spec/storageClassName",
                        false,
                    ),
                ],
            },
            Referral {
                group: "scheduling.k8s.io",
                version: "v1",
                kind: "PriorityClass",
                referrers: pod2("priorityClassName"),
            },
        ]
    })
}

/// A resource that was renamed or moved: where it is in the set, and the identities it had.
struct Candidate {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
    cluster_scoped: bool,
    /// (namespace, name) pairs it had, oldest first.
    previous: Vec<(String, String)>,
    /// The position of each of `previous` in the renames (`usize::MAX` for the
    /// `original_name`), to sort them.
    order: Vec<usize>,
    /// The namespace it had before its first change of identity, when recorded.
    original_namespace: Option<String>,
    /// Its prefix and suffix history (see [`Resource::name_prefixes`]).
    affixes: Affixes,
}

/// The name prefixes and suffixes a resource got, innermost kustomization first.
#[derive(Clone, Default)]
struct Affixes {
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Affixes {
    fn of(r: &Resource) -> Affixes {
        Affixes {
            prefixes: r.name_prefixes.clone(),
            suffixes: r.name_suffixes.clone(),
        }
    }

    /// kustomize's `PrefixesSuffixesEquals`: the shorter history of each kind is the end
    /// (the outermost kustomizations) of the longer one; with `allow_empty`, an empty
    /// history matches any.
    fn matches(&self, other: &Affixes, allow_empty: bool) -> bool {
        let check = |a: &[String], b: &[String]| {
            (allow_empty && (a.is_empty() || b.is_empty())) || same_ending(a, b)
        };
        check(&self.prefixes, &other.prefixes) && check(&self.suffixes, &other.suffixes)
    }
}

/// Whether the shorter list is the end of the longer one (two empty lists are; an empty
/// list and a non-empty one are not).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

fn norm_ns(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

/// Links each rename to the resource of the set that now has its new identity (following
/// chains: `a → b` then `b → c`), and adds each resource's `original_name`.
fn candidates(resources: &[Resource], renames: &[Rename]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for r in resources {
        let mut previous = Vec::new();
        if let Some(orig) = &r.original_name
            && orig != r.name()
        {
            previous.push((r.namespace().to_string(), orig.clone()));
        }
        out.push(Candidate {
            order: vec![usize::MAX; previous.len()],
            original_namespace: r.original_namespace.clone(),
            affixes: Affixes::of(r),
            group: r.group().to_string(),
            version: r.version().to_string(),
            kind: r.kind().to_string(),
            name: r.name().to_string(),
            namespace: r.namespace().to_string(),
            cluster_scoped: is_cluster_scoped(r.group(), r.version(), r.kind()),
            previous,
        });
    }
    let mut linked = vec![false; renames.len()];
    loop {
        let mut progress = false;
        for (i, rn) in renames.iter().enumerate() {
            if linked[i] {
                continue;
            }
            let target = out.iter_mut().find(|c| {
                c.group == rn.group
                    && c.kind == rn.kind
                    && ((c.name == rn.new_name
                        && norm_ns(&c.namespace) == norm_ns(&rn.new_namespace))
                        || c.previous.iter().any(|(ns, n)| {
                            *n == rn.new_name && norm_ns(ns) == norm_ns(&rn.new_namespace)
                        }))
            });
            if let Some(c) = target {
                c.previous
                    .push((rn.old_namespace.clone(), rn.old_name.clone()));
                c.order.push(i);
                linked[i] = true;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    // Chains link newest first: put the identities back in the order of the renames, which
    // callers give oldest first.
    out.retain(|c| !c.previous.is_empty());
    for c in &mut out {
        let mut pairs: Vec<(usize, (String, String))> =
            c.order.drain(..).zip(c.previous.drain(..)).collect();
        pairs.sort_by_key(|(o, _)| *o);
        (c.order, c.previous) = pairs.into_iter().unzip();
    }
    out
}

/// Updates the fields that refer to renamed or moved resources by name (kustomize's
/// `nameReference` table: ConfigMaps and Secrets in pod specs, ServiceAccounts in pod specs
/// and RBAC subjects, Roles in role bindings, Services in Ingresses, StatefulSets,
/// APIServices and webhooks, claims, storage and priority classes, HPA targets).
///
/// A reference is updated only when it names a previous identity of a resource in the set:
/// one listed in `renames` (or its `original_name`), of the kind the field refers to, and
/// visible from the referring resource (the same namespace, a cluster-scoped resource, or a
/// ServiceAccount named by a binding). References held in a mapping with `name` and
/// `namespace` (subjects, webhook services) get both updated.
///
/// kustomize runs this step once, after the whole tree of kustomizations is built and the
/// generators' hash suffixes are added, with every identity each resource ever had: pass
/// all the renames, oldest first. Running it after each level instead gives different
/// results, e.g. a subject `{name: sa, namespace: base}` written by a base would then be
/// moved by an overlay's `namespace:`, which kustomize does not do.
///
/// When several resources had the name a reference holds, kustomize keeps those whose
/// prefix and suffix history matches the referrer's (see [`Affixes::matches`]): first
/// letting an empty history match any, then strictly. A reference that no candidate is
/// left for is left as it is; one that is still ambiguous is an error, unless all the
/// candidates left have the same new name.
pub(crate) fn update_name_references(
    resources: &mut [Resource],
    renames: &[Rename],
) -> Result<(), PatchError> {
    let cands = candidates(resources, renames);
    if cands.is_empty() {
        return Ok(());
    }
    for r in resources.iter_mut() {
        let (group, version, kind) = (
            r.group().to_string(),
            r.version().to_string(),
            r.kind().to_string(),
        );
        let affixes = Affixes::of(r);
        for referral in referrals() {
            for spec in referral
                .referrers
                .iter()
                .filter(|s| s.selects(&group, &version, &kind))
            {
                let visible: Vec<&Candidate> = cands
                    .iter()
                    .filter(|c| {
                        (referral.group.is_empty() || c.group == referral.group)
                            && (referral.version.is_empty() || c.version == referral.version)
                            && c.kind == referral.kind
                    })
                    .filter(|c| visible_from(r, c))
                    .filter(|c| role_ref_allows(r, spec, c))
                    .collect();
                if visible.is_empty() {
                    continue;
                }
                let referrer = r.to_string();
                let mut error = None;
                fieldspec::visit_values(r, spec, &mut |v| {
                    if error.is_none()
                        && let Err(e) = update_value(v, &visible, &affixes)
                    {
                        error = Some(e);
                    }
                });
                if let Some(message) = error {
                    return Err(PatchError::Transform {
                        transform: "name references".into(),
                        message: format!(
                            "{referrer}, field `{}`: {message}",
                            spec.path.replace("\\/", "/")
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Whether a referrer may refer to a candidate: kustomize lets anything refer to
/// cluster-scoped resources and ServiceAccounts, cluster-scoped referrers refer to
/// anything, and otherwise both must be in the same namespace.
fn visible_from(referrer: &Resource, c: &Candidate) -> bool {
    if !referrer.is_namespaced() || c.cluster_scoped {
        return true;
    }
    if c.kind == "ServiceAccount" {
        // A binding sees the accounts in its own namespace and in the namespaces its
        // ServiceAccount subjects name.
        if norm_ns(&c.namespace) == norm_ns(referrer.namespace()) {
            return true;
        }
        return subject_namespaces(referrer)
            .iter()
            .any(|ns| ns == &c.namespace);
    }
    norm_ns(&c.namespace) == norm_ns(referrer.namespace())
}

fn subject_namespaces(r: &Resource) -> Vec<String> {
    if !matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding") {
        return Vec::new();
    }
    r.as_object()
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
        .filter_map(|s| s.get("namespace").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// A `roleRef/name` reference only goes to the kind and group its `roleRef` names.
fn role_ref_allows(referrer: &Resource, spec: &FieldSpec, c: &Candidate) -> bool {
    if !spec.path.ends_with("roleRef/name") {
        return true;
    }
    let role_ref = referrer.as_object().get("roleRef");
    let field = |k: &str| role_ref.and_then(|r| r.get(k)).and_then(Value::as_str);
    match (field("apiGroup"), field("kind")) {
        (Some(g), Some(k)) => (g.is_empty() || g == c.group) && (k.is_empty() || k == c.kind),
        _ => true,
    }
}

fn update_value(v: &mut Value, cands: &[&Candidate], referrer: &Affixes) -> Result<(), String> {
    match v {
        Value::String(s) => update_scalar(s, cands, referrer),
        Value::Object(m) => update_mapping(m, cands, referrer),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => update_scalar(s, cands, referrer)?,
                    Value::Object(m) => update_mapping(m, cands, referrer)?,
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn update_scalar(s: &mut String, cands: &[&Candidate], referrer: &Affixes) -> Result<(), String> {
    let matching: Vec<&Candidate> = cands
        .iter()
        .copied()
        .filter(|c| c.previous.iter().any(|(_, n)| n == s))
        .collect();
    if let Some(c) = pick(&matching, s, referrer, false)? {
        *s = c.name.clone();
    }
    Ok(())
}

fn update_mapping(
    m: &mut Map<String, Value>,
    cands: &[&Candidate],
    referrer: &Affixes,
) -> Result<(), String> {
    let Some(name) = m.get("name").and_then(Value::as_str).map(str::to_string) else {
        return Ok(());
    };
    let by_name = |c: &&Candidate| c.previous.iter().any(|(_, n)| *n == name);
    let matching: Vec<&Candidate> = match m.get("namespace").and_then(Value::as_str) {
        None => cands.iter().copied().filter(by_name).collect(),
        Some(ns) => {
            let original: Vec<&Candidate> = cands
                .iter()
                .copied()
                .filter(|c| {
                    c.original_namespace
                        .as_deref()
                        .or_else(|| c.previous.first().map(|(o, _)| o.as_str()))
                        .is_some_and(|o| norm_ns(o) == norm_ns(ns))
                })
                .collect();
            let pool = if original.is_empty() {
                cands
                    .iter()
                    .copied()
                    .filter(|c| norm_ns(&c.namespace) == norm_ns(ns))
                    .collect()
            } else {
                original
            };
            pool.into_iter().filter(by_name).collect()
        }
    };
    if let Some(c) = pick(&matching, &name, referrer, true)? {
        m.insert("name".into(), Value::String(c.name.clone()));
        if !c.namespace.is_empty() {
            m.insert("namespace".into(), Value::String(c.namespace.clone()));
        }
    }
    Ok(())
}

/// The one candidate a reference means, if any, as kustomize chooses it: the only one;
/// else the only one whose prefix and suffix history matches the referrer's, an empty
/// history matching any; else the only one whose history matches strictly; none when no
/// candidate matches strictly; the first when all that match have the same name (and, for
/// a reference with a namespace field, the same namespace).
fn pick<'a>(
    matching: &[&'a Candidate],
    name: &str,
    referrer: &Affixes,
    with_namespace: bool,
) -> Result<Option<&'a Candidate>, String> {
    if let [one] = matching {
        return Ok(Some(*one));
    }
    let loose: Vec<&Candidate> = matching
        .iter()
        .copied()
        .filter(|c| c.affixes.matches(referrer, true))
        .collect();
    if let [one] = loose.as_slice() {
        return Ok(Some(*one));
    }
    let strict: Vec<&Candidate> = loose
        .into_iter()
        .filter(|c| c.affixes.matches(referrer, false))
        .collect();
    let Some(&first) = strict.first() else {
        return Ok(None);
    };
    if strict
        .iter()
        .all(|c| c.name == first.name && (!with_namespace || c.namespace == first.namespace))
    {
        return Ok(Some(first));
    }
    let mut ids: Vec<String> = strict
        .iter()
        .map(|c| {
            if c.namespace.is_empty() {
                format!("{}/{}", c.kind, c.name)
            } else {
                format!("{}/{}/{}", c.kind, c.namespace, c.name)
            }
        })
        .collect();
    ids.dedup();
    Err(format!(
        "`{name}` could refer to {}",
        crate::error::Listed(&ids)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testutil::resources;

    const APP: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      serviceAccountName: sa
      imagePullSecrets: [{name: sec}, {name: external}]
      volumes:
      - {name: a, configMap: {name: cfg}}
      - {name: b, secret: {secretName: sec}}
      - name: c
        projected:
          sources:
          - configMap: {name: cfg}
          - secret: {name: sec}
      containers:
      - name: app
        envFrom: [{configMapRef: {name: cfg}}, {secretRef: {name: other}}]
        env:
        - name: X
          valueFrom: {configMapKeyRef: {name: cfg, key: x}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing}
spec:
  defaultBackend: {service: {name: svc}}
  rules:
  - http:
      paths:
      - backend: {service: {name: svc}}
  tls: [{secretName: sec}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: role}
rules: [{resourceNames: [cfg, sec, nope]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role}
subjects: [{kind: ServiceAccount, name: sa}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
";

    #[test]
    fn prefix_and_suffix_rename_and_update_references() {
        let mut rs = resources(APP);
        let renames = add_name_affixes(&mut rs, "p-", "-s");
        update_name_references(&mut rs, &renames).unwrap();
        let v: Vec<Value> = rs.iter().map(Resource::to_value).collect();
        assert_eq!(rs[0].name(), "p-cfg-s");
        assert_eq!(rs[0].original_name.as_deref(), Some("cfg"));
        let pod = &v[4]["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "p-sa-s");
        assert_eq!(
            pod["imagePullSecrets"],
            serde_json::json!([{"name": "p-sec-s"}, {"name": "external"}])
        );
        assert_eq!(pod["volumes"][0]["configMap"]["name"], "p-cfg-s");
        assert_eq!(pod["volumes"][1]["secret"]["secretName"], "p-sec-s");
        assert_eq!(
            pod["volumes"][2]["projected"]["sources"][0]["configMap"]["name"],
            "p-cfg-s"
        );
        assert_eq!(
            pod["volumes"][2]["projected"]["sources"][1]["secret"]["name"],
            "p-sec-s"
        );
        let c = &pod["containers"][0];
        assert_eq!(c["envFrom"][0]["configMapRef"]["name"], "p-cfg-s");
        assert_eq!(c["envFrom"][1]["secretRef"]["name"], "other");
        assert_eq!(
            c["env"][0]["valueFrom"]["configMapKeyRef"]["name"],
            "p-cfg-s"
        );
        assert_eq!(v[5]["spec"]["defaultBackend"]["service"]["name"], "p-svc-s");
        assert_eq!(
            v[5]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "p-svc-s"
        );
        assert_eq!(v[5]["spec"]["tls"][0]["secretName"], "p-sec-s");
        assert_eq!(
            v[6]["rules"][0]["resourceNames"],
            serde_json::json!(["p-cfg-s", "p-sec-s", "nope"])
        );
        assert_eq!(v[7]["roleRef"]["name"], "p-role-s");
        assert_eq!(
            v[7]["subjects"][0],
            serde_json::json!({"kind": "ServiceAccount", "name": "p-sa-s"})
        );
        assert_eq!(v[8]["spec"]["scaleTargetRef"]["name"], "p-api-s");
    }

    #[test]
    fn references_across_namespaces_are_left_alone() {
        let mut rs = resources(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: b}\nspec:\n  volumes: [{name: v, configMap: {name: cfg}}]\n",
        );
        let renames = add_name_affixes(&mut rs, "x-", "");
        update_name_references(&mut rs, &renames).unwrap();
        assert_eq!(
            rs[1].to_value()["spec"]["volumes"][0]["configMap"]["name"],
            "cfg"
        );
    }

    #[test]
    fn chained_renames_and_explicit_hash_renames() {
        let mut rs = resources(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-abc123}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes: [{name: v, configMap: {name: cfg}}]\n",
        );
        let renames = vec![Rename {
            kind: "ConfigMap".into(),
            old_name: "cfg".into(),
            new_name: "cfg-abc123".into(),
            ..Default::default()
        }];
        update_name_references(&mut rs, &renames).unwrap();
        assert_eq!(
            rs[1].to_value()["spec"]["volumes"][0]["configMap"]["name"],
            "cfg-abc123"
        );
    }

    /// kustomize updates references once, after the whole tree is built, with every
    /// identity each resource had (checked against `kustomize build` on a base with
    /// `namespace: base`, `namePrefix: b-` under an overlay with `namespace: over`,
    /// `namePrefix: o-`).
    #[test]
    fn one_pass_over_renames_from_several_levels() {
        let mut rs = resources(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: o-b-sa, namespace: over}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: o-b-rb, namespace: over}\nsubjects: [{kind: ServiceAccount, name: sa}, {kind: ServiceAccount, name: sa, namespace: base}]\n",
        );
        let step = |old_ns: &str, old: &str, new_ns: &str, new: &str| Rename {
            kind: "ServiceAccount".into(),
            old_namespace: old_ns.into(),
            old_name: old.into(),
            new_namespace: new_ns.into(),
            new_name: new.into(),
            ..Default::default()
        };
        let renames = [
            step("", "sa", "base", "sa"),
            step("base", "sa", "base", "b-sa"),
            step("base", "b-sa", "over", "b-sa"),
            step("over", "b-sa", "over", "o-b-sa"),
        ];
        update_name_references(&mut rs, &renames).unwrap();
        assert_eq!(
            rs[1].to_value()["subjects"],
            serde_json::json!([
                {"kind": "ServiceAccount", "name": "o-b-sa", "namespace": "over"},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "base"}
            ])
        );
    }

    #[test]
    fn ambiguous_reference_is_an_error() {
        let mut rs = resources(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2, namespace: b}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cr}\nrules: [{resourceNames: [cfg]}]\n",
        );
        let renames = vec![
            Rename {
                kind: "ConfigMap".into(),
                old_namespace: "a".into(),
                old_name: "cfg".into(),
                new_namespace: "a".into(),
                new_name: "c1".into(),
                ..Default::default()
            },
            Rename {
                kind: "ConfigMap".into(),
                old_namespace: "b".into(),
                old_name: "cfg".into(),
                new_namespace: "b".into(),
                new_name: "c2".into(),
                ..Default::default()
            },
        ];
        let err = update_name_references(&mut rs, &renames).unwrap_err();
        assert_eq!(
            err.to_string(),
            "name references: ClusterRole/cr, field `rules/resourceNames`: `cfg` could refer to ConfigMap/a/c1 and ConfigMap/b/c2"
        );
    }

    /// Checked against `kustomize build`: two bases with a ConfigMap `cfg`, under
    /// `namePrefix: a-` and `b-`, and a Deployment referring to `cfg` in each base and in
    /// the overlay (no prefix).
    #[test]
    fn same_named_resources_are_told_apart_by_their_prefixes() {
        let doc = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  template:\n    spec:\n      volumes: [{{name: v, configMap: {{name: cfg}}}}]\n"
            )
        };
        let mut a = resources(&doc("app"));
        let mut renames = add_name_affixes(&mut a, "a-", "");
        let mut b = resources(&doc("app"));
        renames.extend(add_name_affixes(&mut b, "b-", ""));
        let mut rs = a;
        rs.extend(b);
        rs.extend(resources(&doc("top")).into_iter().skip(1));
        update_name_references(&mut rs, &renames).unwrap();
        let volume = |r: &Resource| {
            r.to_value()["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"].clone()
        };
        assert_eq!(rs[1].name_prefixes, ["a-"]);
        assert_eq!(volume(&rs[1]), "a-cfg");
        assert_eq!(volume(&rs[3]), "b-cfg");
        // No prefix on the referrer: both match loosely, neither strictly.
        assert_eq!(volume(&rs[4]), "cfg");

        // With the same outer prefix on all three, the overlay's reference is ambiguous.
        let renames = add_name_affixes(&mut rs, "o-", "");
        let err = update_name_references(&mut rs, &renames).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("`cfg` could refer to ConfigMap/o-a-cfg and ConfigMap/o-b-cfg"),
            "{err}"
        );
    }

    #[test]
    fn histories_match_by_their_outermost_entries() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(same_ending(&v(&[]), &v(&[])));
        assert!(!same_ending(&v(&[]), &v(&["a-"])));
        assert!(same_ending(&v(&["o-"]), &v(&["a-", "o-"])));
        assert!(!same_ending(&v(&["a-"]), &v(&["a-", "o-"])));
        let h = |p: &[&str]| Affixes {
            prefixes: v(p),
            suffixes: Vec::new(),
        };
        assert!(h(&[]).matches(&h(&["a-"]), true));
        assert!(!h(&[]).matches(&h(&["a-"]), false));
    }

    #[test]
    fn skipped_kinds_keep_their_names() {
        let mut rs = resources(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: crd}\n",
        );
        assert!(add_name_affixes(&mut rs, "p-", "").is_empty());
        assert_eq!(rs[0].name(), "ns");
    }
}
