//! Patches: parsing (strategic merge or JSON 6902), target selection, and strategic merge.
//!
//! Strategic merge follows kustomize (which uses kyaml's merge, not the API server's):
//! - maps merge recursively, a `null` value deletes the key;
//! - lists with a merge key (see [`mergekeys`](super::mergekeys)) merge element by element:
//!   the patch's elements come first, in the patch's order, each merged into the existing
//!   element with the same key, followed by the existing elements the patch does not
//!   mention; lists of scalars with the merge strategy (`metadata.finalizers`) merge as sets
//!   in the same order; every other list is replaced;
//! - `$patch: delete` deletes a map, a list element (matched by key) or, at the top level,
//!   the whole resource; `$patch: replace` replaces a map, or a list when it is an element
//!   of its own; `$patch: merge` is the default;
//! - the patch cannot change `apiVersion`, `kind`, `metadata.name` or
//!   `metadata.namespace`: they are restored after the merge.
//!
//! Where kiln differs from kustomize: kustomize copies `$setElementOrder/…`,
//! `$retainKeys` and `$deleteFromPrimitiveList/…` into the output as if they were fields;
//! kiln applies them as the API server does (reorder, clear the other keys, delete
//! the values). A list element without the list's merge key is an error in kiln, where
//! kustomize silently drops list elements.

use std::path::Path;

use serde_json::{Map, Value};

use super::mergekeys::{self, ListKind, Ty};
use super::select::{self, Selector};
use super::{Patch, PatchBody, PatchError, Target, json6902};
use crate::resource::{Resource, type_name};

/// Parses the text of a patch (from `path:` or inline `patch:`) into one or more patches:
/// a YAML sequence is a JSON 6902 patch, anything else is one strategic merge patch per
/// document.
#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
pub fn parse_patches(
    text: &str,
    file: &Path,
    source: &str,
    target: Option<&Target>,
) -> Result<Vec<Patch>, crate::Error> {
    let invalid = |message: String| PatchError::Invalid {
        patch: source.to_string(),
        message,
    };
    let docs = crate::yaml::parse_stream(text, file)?;
    if docs.is_empty() {
        return Err(invalid("the patch is empty".into()).into());
    }
    if docs.iter().any(Value::is_array) {
        if docs.len() > 1 {
            return Err(invalid(format!(
                "a JSON 6902 patch must be a single YAML sequence, found {} documents",
                docs.len()
            ))
            .into());
        }
        let Some(target) = target else {
            return Err(invalid("a JSON 6902 patch needs a `target`".into()).into());
        };
        let ops = docs.into_iter().next().expect("one document");
        json6902::parse(&ops).map_err(invalid)?;
        return Ok(vec![Patch {
            source: source.to_string(),
            body: PatchBody::Json6902(ops),
            target: Some(target.clone()),
        }]);
    }
    let mut out = Vec::with_capacity(docs.len());
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let which = if many {
            format!("document {}: ", i + 1)
        } else {
            String::new()
        };
        let Value::Object(obj) = &doc else {
            return Err(invalid(format!(
                "{which}a strategic merge patch must be a mapping, found {}",
                type_name(&doc)
            ))
            .into());
        };
        if target.is_none() {
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
            let name = obj
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind.is_empty() || name.is_empty() {
                return Err(invalid(format!(
                    "{which}a strategic merge patch without a `target` must have `kind` and `metadata.name`"
                ))
                .into());
            }
        }
        out.push(Patch {
            source: source.to_string(),
            body: PatchBody::StrategicMerge(doc),
            target: target.cloned(),
        });
    }
    Ok(out)
}

/// Applies one patch. A patch that matches no resource is an error.
#[cfg(any(test, feature = "unstable-internals"))]
#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
pub fn apply_patch(resources: &mut Vec<Resource>, patch: &Patch) -> Result<(), PatchError> {
    apply_patch_opts(resources, patch, Matching::default())
}

/// How a patch finds its resources.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Matching {
    /// A patch that matches nothing is an error. Kustomize quietly skips a patch with a
    /// `target:` that selects nothing, but fails a strategic merge patch without a target
    /// that names no resource.
    pub(crate) required: bool,
    /// A strategic merge patch without a target that names no namespace matches its
    /// resource in any namespace (a release applies patches after `namespace:`, so the
    /// patch author names the resource as it is written, not as it ends up).
    pub(crate) any_namespace: bool,
}

impl Matching {
    /// Exact matching, required or not.
    pub(crate) fn required(required: bool) -> Matching {
        Matching {
            required,
            any_namespace: false,
        }
    }
}

impl Default for Matching {
    fn default() -> Self {
        Matching::required(true)
    }
}

/// Applies one patch, finding its resources as `matching` says.
pub(crate) fn apply_patch_opts(
    resources: &mut Vec<Resource>,
    patch: &Patch,
    matching: Matching,
) -> Result<(), PatchError> {
    let (selected, described) = select_resources(resources, patch, matching.any_namespace)?;
    if selected.is_empty() {
        if matching.required {
            return Err(PatchError::NoMatch {
                patch: patch.source.clone(),
                target: described,
            });
        }
        return Ok(());
    }
    let mut deleted = Vec::new();
    for &i in &selected {
        let r = &mut resources[i];
        let described = r.to_string();
        let fail = |message: String| PatchError::Apply {
            patch: patch.source.clone(),
            resource: described.clone(),
            message,
        };
        match &patch.body {
            PatchBody::Json6902(ops) => {
                let ops = json6902::parse(ops).map_err(|m| PatchError::Invalid {
                    patch: patch.source.clone(),
                    message: m,
                })?;
                let mut doc = Value::Object(std::mem::take(r.as_object_mut()));
                let result = json6902::apply(&mut doc, &ops);
                let obj = match doc {
                    Value::Object(obj) => obj,
                    _ => Map::new(),
                };
                *r.as_object_mut() = obj;
                result.map_err(&fail)?;
                if r.kind().is_empty() || r.name().is_empty() {
                    return Err(fail(
                        "the patched resource has no `kind` or `metadata.name`".into(),
                    ));
                }
            }
            PatchBody::StrategicMerge(p) => {
                let Value::Object(p) = p else {
                    return Err(PatchError::Invalid {
                        patch: patch.source.clone(),
                        message: format!(
                            "a strategic merge patch must be a mapping, found {}",
                            type_name(p)
                        ),
                    });
                };
                if strategic_merge(r, p).map_err(fail)? == Outcome::Deleted {
                    deleted.push(i);
                }
            }
        }
    }
    for i in deleted.into_iter().rev() {
        resources.remove(i);
    }
    Ok(())
}

/// The indexes of the resources a patch applies to, and the target described for
/// messages.
fn select_resources(
    resources: &[Resource],
    patch: &Patch,
    any_namespace: bool,
) -> Result<(Vec<usize>, String), PatchError> {
    if let Some(t) = &patch.target {
        let sel = Selector::new(t).map_err(|message| PatchError::Invalid {
            patch: patch.source.clone(),
            message,
        })?;
        let idx = (0..resources.len())
            .filter(|&i| sel.matches(&resources[i]))
            .collect();
        return Ok((idx, select::describe(t)));
    }
    let PatchBody::StrategicMerge(Value::Object(p)) = &patch.body else {
        return Err(PatchError::Invalid {
            patch: patch.source.clone(),
            message: "a JSON 6902 patch needs a `target`".into(),
        });
    };
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let api_version = s(p.get("apiVersion"));
    let kind = s(p.get("kind"));
    let meta = p.get("metadata");
    let name = s(meta.and_then(|m| m.get("name")));
    let namespace = s(meta.and_then(|m| m.get("namespace")));
    let (group, version) = crate::resource::split_api_version(&api_version);
    let idx = (0..resources.len())
        .filter(|&i| {
            let r = &resources[i];
            r.kind() == kind
                && r.group() == group
                && (version.is_empty() || r.version() == version)
                && (r.name() == name || r.original_name.as_deref() == Some(name.as_str()))
                && ((any_namespace && namespace.is_empty()) || same_namespace(r, &namespace))
        })
        .collect();
    let described = if namespace.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{namespace}/{name}")
    };
    Ok((idx, described))
}

/// Whether a resource is in `namespace`, counting an empty namespace as `default`.
fn same_namespace(r: &Resource, namespace: &str) -> bool {
    let norm = |ns: &str| {
        if ns.is_empty() {
            "default".to_string()
        } else {
            ns.to_string()
        }
    };
    if !r.is_namespaced() {
        return true;
    }
    norm(r.namespace()) == norm(namespace)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Kept,
    Deleted,
}

/// Merges a strategic merge patch into a resource. The identity fields are restored
/// afterwards.
pub(crate) fn strategic_merge(
    r: &mut Resource,
    patch: &Map<String, Value>,
) -> Result<Outcome, String> {
    if directive(patch) == Some("delete") {
        return Ok(Outcome::Deleted);
    }
    let api_version = r.as_object().get("apiVersion").cloned();
    let kind = r.kind().to_string();
    let name = r
        .as_object()
        .get("metadata")
        .and_then(|m| m.get("name"))
        .cloned();
    let namespace = r
        .as_object()
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .cloned();
    let ty = mergekeys::root(r.group(), r.kind());
    let obj = r.as_object_mut();
    match directive(patch) {
        Some("replace") => {
            *obj = clean_map(patch, ty, "")?.unwrap_or_default();
        }
        _ => merge_map(obj, patch, ty, "")?,
    }
    match api_version {
        Some(v) => {
            obj.insert("apiVersion".into(), v);
        }
        None => {
            obj.shift_remove("apiVersion");
        }
    }
    obj.insert("kind".into(), Value::String(kind));
    let meta = r.metadata_mut();
    match name {
        Some(n) => {
            meta.insert("name".into(), n);
        }
        None => {
            meta.shift_remove("name");
        }
    }
    match namespace {
        Some(ns) => {
            meta.insert("namespace".into(), ns);
        }
        None => {
            meta.shift_remove("namespace");
        }
    }
    Ok(Outcome::Kept)
}

fn directive(m: &Map<String, Value>) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Merges `patch` into `dest`.
fn merge_map(
    dest: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Ty,
    path: &str,
) -> Result<(), String> {
    for (key, pv) in patch {
        if key.starts_with('$') {
            continue;
        }
        let (child_ty, list) = mergekeys::field(ty, key);
        let child_path = join(path, key);
        if pv.is_null() {
            dest.shift_remove(key);
            continue;
        }
        match dest.get_mut(key) {
            Some(dv) if !dv.is_null() => match merge_value(dv, pv, child_ty, list, &child_path)? {
                Merged::Keep => {}
                Merged::Delete => {
                    dest.shift_remove(key);
                }
            },
            _ => match clean_value(pv, child_ty, list, &child_path)? {
                Some(v) => {
                    dest.insert(key.clone(), v);
                }
                None => {
                    dest.shift_remove(key);
                }
            },
        }
    }
    apply_map_directives(dest, patch, path)
}

/// `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…`, applied after the
/// merge of a map.
fn apply_map_directives(
    dest: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    for (key, pv) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let Value::Array(gone) = pv else {
                return Err(format!("`{}` must be a sequence", join(path, key)));
            };
            if let Some(Value::Array(items)) = dest.get_mut(field) {
                items.retain(|v| !gone.contains(v));
            }
        } else if let Some(field) = key.strip_prefix("$setElementOrder/") {
            let Value::Array(order) = pv else {
                return Err(format!("`{}` must be a sequence", join(path, key)));
            };
            if let Some(Value::Array(items)) = dest.get_mut(field) {
                reorder(items, order);
            }
        } else if key == "$retainKeys" {
            let Value::Array(keep) = pv else {
                return Err(format!("`{}` must be a sequence", join(path, key)));
            };
            let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
            dest.retain(|k, _| keep.contains(&k.as_str()));
        } else if key.starts_with('$') && key != "$patch" {
            return Err(format!("unknown patch directive `{}`", join(path, key)));
        }
    }
    Ok(())
}

/// Puts the elements named in `order` (scalars, or maps holding a merge key) first, in that
/// order; the others follow in their current order.
fn reorder(items: &mut Vec<Value>, order: &[Value]) {
    let matches = |item: &Value, o: &Value| match o {
        Value::Object(om) => {
            let Value::Object(im) = item else {
                return false;
            };
            !om.is_empty() && om.iter().all(|(k, v)| im.get(k) == Some(v))
        }
        scalar => item == scalar,
    };
    let mut rest: Vec<Value> = std::mem::take(items);
    for o in order {
        if let Some(pos) = rest.iter().position(|it| matches(it, o)) {
            items.push(rest.remove(pos));
        }
    }
    items.append(&mut rest);
}

enum Merged {
    Keep,
    Delete,
}

/// Merges a non-null patch value into an existing value.
fn merge_value(
    dest: &mut Value,
    pv: &Value,
    ty: Ty,
    list: Option<ListKind>,
    path: &str,
) -> Result<Merged, String> {
    match (dest, pv) {
        (Value::Object(dm), Value::Object(pm)) => match directive(pm) {
            Some("delete") => Ok(Merged::Delete),
            Some("replace") => {
                *dm = clean_map(pm, ty, path)?.unwrap_or_default();
                Ok(Merged::Keep)
            }
            Some("merge") | None => {
                merge_map(dm, pm, ty, path)?;
                Ok(Merged::Keep)
            }
            Some(other) => Err(format!("unknown `$patch: {other}` at `{path}`")),
        },
        (Value::Array(dl), Value::Array(pl)) => {
            match list_directive(pl, path)? {
                Some("delete") => return Ok(Merged::Delete),
                Some("replace") => {
                    *dl = clean_list(pl, ty, list, path)?;
                    return Ok(Merged::Keep);
                }
                _ => {}
            }
            match list {
                Some(ListKind::Keyed(keys, elem_ty)) => merge_keyed(dl, pl, keys, elem_ty, path)?,
                Some(ListKind::Primitive) => merge_primitive(dl, pl),
                None => *dl = clean_list(pl, ty, list, path)?,
            }
            Ok(Merged::Keep)
        }
        (dest, pv) => match clean_value(pv, ty, list, path)? {
            Some(v) => {
                *dest = v;
                Ok(Merged::Keep)
            }
            None => Ok(Merged::Delete),
        },
    }
}

/// A list's own directive: an element that is only `{$patch: …}`.
fn list_directive<'a>(items: &'a [Value], path: &str) -> Result<Option<&'a str>, String> {
    for item in items {
        if let Value::Object(m) = item
            && m.len() == 1
            && let Some(d) = directive(m)
        {
            return match d {
                "replace" | "delete" | "merge" => Ok(Some(d)),
                other => Err(format!("unknown `$patch: {other}` at `{path}`")),
            };
        }
    }
    Ok(None)
}

fn is_list_directive(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.len() == 1 && m.contains_key("$patch"))
}

/// Merges a keyed list in kustomize's order: the patch's elements first, each merged into
/// its counterpart (an existing element, or an earlier element of the patch), then the
/// existing elements the patch does not mention. With several keys (ports: number and
/// protocol), a key missing on either side matches anything.
fn merge_keyed(
    dest: &mut Vec<Value>,
    patch: &[Value],
    keys: &[&str],
    elem_ty: Ty,
    path: &str,
) -> Result<(), String> {
    let mut old: Vec<Option<Value>> = std::mem::take(dest).into_iter().map(Some).collect();
    let mut front: Vec<Map<String, Value>> = Vec::with_capacity(patch.len());
    for item in patch {
        if is_list_directive(item) {
            continue;
        }
        let Value::Object(pm) = item else {
            return Err(format!(
                "`{path}` merges by `{}`, but an element is {}",
                keys[0],
                type_name(item)
            ));
        };
        if !keys.iter().any(|k| pm.contains_key(*k)) {
            return Err(format!(
                "an element of `{path}` has no `{}`, the key the list merges by",
                keys[0]
            ));
        }
        let in_front = front.iter().position(|f| same_element(f, pm, keys));
        let in_old = old.iter().position(|o| {
            o.as_ref()
                .and_then(Value::as_object)
                .is_some_and(|o| same_element(o, pm, keys))
        });
        match directive(pm) {
            Some(d @ ("delete" | "replace")) => {
                if let Some(i) = in_front {
                    front.remove(i);
                } else if let Some(i) = in_old {
                    old[i] = None;
                }
                if d == "replace"
                    && let Some(v) = clean_map(pm, elem_ty, path)?
                {
                    front.push(v);
                }
                continue;
            }
            Some("merge") | None => {}
            Some(other) => return Err(format!("unknown `$patch: {other}` in `{path}`")),
        }
        if let Some(i) = in_front {
            merge_map(&mut front[i], pm, elem_ty, path)?;
        } else if let Some(Some(Value::Object(mut dm))) = in_old.map(|i| old[i].take()) {
            merge_map(&mut dm, pm, elem_ty, path)?;
            front.push(dm);
        } else if let Some(v) = clean_map(pm, elem_ty, path)? {
            front.push(v);
        }
    }
    let mut out: Vec<Value> = front.into_iter().map(Value::Object).collect();
    out.extend(old.into_iter().flatten());
    *dest = out;
    Ok(())
}

/// Whether two list elements have the same key: every key present in both is equal (a
/// key missing on one side matches anything), and at least one key is present in both.
fn same_element(a: &Map<String, Value>, b: &Map<String, Value>, keys: &[&str]) -> bool {
    let mut compared = false;
    for k in keys {
        if let (Some(x), Some(y)) = (a.get(*k), b.get(*k)) {
            if !same_key(x, y) {
                return false;
            }
            compared = true;
        }
    }
    compared
}

/// Key values compare as JSON, with numbers by value (`80` and `80.0` are the same port).
fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Merges a list of scalars as a set: the patch's values first, then the others.
fn merge_primitive(dest: &mut Vec<Value>, patch: &[Value]) {
    let mut out: Vec<Value> = Vec::with_capacity(dest.len() + patch.len());
    for v in patch.iter().filter(|v| !is_list_directive(v)) {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    for v in dest.drain(..) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    *dest = out;
}

/// A patch value with nothing to merge into: directives applied, `null`s dropped. `None`
/// when it deletes itself.
fn clean_value(
    pv: &Value,
    ty: Ty,
    list: Option<ListKind>,
    path: &str,
) -> Result<Option<Value>, String> {
    Ok(match pv {
        Value::Null => None,
        Value::Object(m) => clean_map(m, ty, path)?.map(Value::Object),
        Value::Array(items) => {
            if list_directive(items, path)? == Some("delete") {
                return Ok(None);
            }
            Some(Value::Array(clean_list(items, ty, list, path)?))
        }
        scalar => Some(scalar.clone()),
    })
}

fn clean_map(
    m: &Map<String, Value>,
    ty: Ty,
    path: &str,
) -> Result<Option<Map<String, Value>>, String> {
    match directive(m) {
        Some("delete") => return Ok(None),
        Some("replace" | "merge") | None => {}
        Some(other) => return Err(format!("unknown `$patch: {other}` at `{path}`")),
    }
    let mut out = Map::new();
    merge_map(&mut out, m, ty, path)?;
    Ok(Some(out))
}

fn clean_list(
    items: &[Value],
    _ty: Ty,
    list: Option<ListKind>,
    path: &str,
) -> Result<Vec<Value>, String> {
    let elem_ty = match list {
        Some(ListKind::Keyed(_, t)) => t,
        _ => Ty::Unknown,
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if is_list_directive(item) {
            continue;
        }
        match item {
            Value::Object(m) => {
                if let Some(v) = clean_map(m, elem_ty, path)? {
                    out.push(Value::Object(v));
                }
            }
            other => out.push(other.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testutil::{emit, resources, yaml};

    const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api}
  finalizers: [a, b]
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata:
      labels: {app: api}
    spec:
      tolerations:
      - {key: a, operator: Exists}
      volumes:
      - name: v1
        configMap: {name: c1}
      - name: v2
        emptyDir: {}
      containers:
      - name: app
        image: nginx:1.0
        args: [a, b]
        env:
        - {name: A, value: '1'}
        - {name: B, value: '2'}
        ports:
        - {containerPort: 80, name: http}
      - name: side
        image: busybox
      - name: third
        image: busybox
";

    fn smp(text: &str) -> Patch {
        parse_patches(text, Path::new("p.yaml"), "p.yaml", None)
            .unwrap()
            .remove(0)
    }

    fn patched(res: &str, patch: &str) -> Vec<Resource> {
        let mut rs = resources(res);
        apply_patch(&mut rs, &smp(patch)).unwrap();
        rs
    }

    fn at(r: &Resource, pointer: &str) -> Value {
        r.to_value()
            .pointer(pointer)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn names(v: &Value, key: &str) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| match e.get(key) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => e.to_string(),
            })
            .collect()
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/patch.rs`): a strategic merge patch gave a
    /// resource without `apiVersion` an `apiVersion: ''` it never had.
    #[test]
    fn smp_adds_no_api_version_to_a_resource_without_one() {
        let res = "kind: Widget\nmetadata:\n  name: w\nspec: {a: 1}\n";
        let rs = patched(res, "kind: Widget\nmetadata:\n  name: w\n");
        assert_eq!(rs, resources(res));
        let rs = patched(res, "kind: Widget\nmetadata:\n  name: w\nspec: {b: 2}\n");
        assert_eq!(
            emit(&rs),
            "kind: Widget\nmetadata:\n  name: w\nspec:\n  a: 1\n  b: 2\n"
        );
    }

    /// Checked against `kustomize build`: patch elements come first in the patch's order,
    /// then the untouched ones; `$patch: delete` removes an element.
    #[test]
    fn keyed_lists_merge_in_kustomize_order() {
        let rs = patched(
            DEPLOY,
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  finalizers: [c, a]
spec:
  template:
    spec:
      tolerations:
      - {key: b, operator: Exists}
      volumes:
      - name: v3
        secret: {secretName: s}
      - name: v1
        configMap: {name: c2}
      containers:
      - name: new1
        image: new1
      - name: side
        $patch: delete
      - name: app
        args: [c]
        env:
        - {name: C, value: '3'}
        - {name: A, value: '9'}
        ports:
        - {containerPort: 81, name: x}
      - name: new0
        image: new0
",
        );
        let d = &rs[0];
        let pod = at(d, "/spec/template/spec");
        assert_eq!(
            names(&pod["containers"], "name"),
            ["new1", "app", "new0", "third"]
        );
        let app = &pod["containers"][1];
        assert_eq!(app["args"], serde_json::json!(["c"]));
        assert_eq!(names(&app["env"], "name"), ["C", "A", "B"]);
        assert_eq!(app["env"][1]["value"], "9");
        assert_eq!(names(&app["ports"], "containerPort"), ["81", "80"]);
        assert_eq!(names(&pod["volumes"], "name"), ["v3", "v1", "v2"]);
        assert_eq!(pod["volumes"][1]["configMap"]["name"], "c2");
        assert_eq!(names(&pod["tolerations"], "key"), ["b"]);
        assert_eq!(
            at(d, "/metadata/finalizers"),
            serde_json::json!(["c", "a", "b"])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let rs = patched(
            "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec:\n  ports:\n  - {port: 80, targetPort: 8080}\n  - {port: 443, targetPort: 8443}\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec:\n  ports:\n  - {port: 443, targetPort: 9443}\n  - {port: 8080}\n",
        );
        let ports = at(&rs[0], "/spec/ports");
        assert_eq!(names(&ports, "port"), ["443", "8080", "80"]);
        assert_eq!(ports[0]["targetPort"], 9443);
    }

    /// Checked against `kustomize build`: ports merge by number and protocol, a protocol
    /// missing on one side matches any. (kustomize orders the spread constraints
    /// `zone/ScheduleAnyway, zone/DoNotSchedule, host/DoNotSchedule` here.)
    #[test]
    fn ports_merge_by_number_and_protocol() {
        let rs = patched(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s1}\nspec:\n  ports: [{port: 80, name: a}, {port: 81, protocol: TCP, name: b}]\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s1}\nspec:\n  ports: [{port: 80, targetPort: 9}, {port: 81, targetPort: 10}, {port: 81, protocol: TCP, targetPort: 11}]\n",
        );
        assert_eq!(
            at(&rs[0], "/spec/ports"),
            serde_json::json!([{"port": 80, "name": "a", "targetPort": 9}, {"port": 81, "protocol": "TCP", "name": "b", "targetPort": 11}])
        );
        let rs = patched(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  topologySpreadConstraints:\n  - {topologyKey: zone, whenUnsatisfiable: DoNotSchedule, maxSkew: 1}\n  - {topologyKey: host, whenUnsatisfiable: DoNotSchedule, maxSkew: 1}\n  containers:\n  - name: c\n    ports: [{containerPort: 80, protocol: TCP}, {containerPort: 80, protocol: UDP}]\n",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  topologySpreadConstraints:\n  - {topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, maxSkew: 2}\n  - {topologyKey: host, maxSkew: 3}\n  - {topologyKey: host, whenUnsatisfiable: DoNotSchedule, maxSkew: 4}\n  containers:\n  - name: c\n    ports: [{containerPort: 80, protocol: SCTP}]\n",
        );
        let skews: Vec<String> = at(&rs[0], "/spec/topologySpreadConstraints")
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}/{}/{}",
                    c["topologyKey"].as_str().unwrap(),
                    c["whenUnsatisfiable"].as_str().unwrap(),
                    c["maxSkew"]
                )
            })
            .collect();
        assert_eq!(
            skews,
            [
                "zone/ScheduleAnyway/2",
                "host/DoNotSchedule/4",
                "zone/DoNotSchedule/1"
            ]
        );
        assert_eq!(
            names(&at(&rs[0], "/spec/containers/0/ports"), "protocol"),
            ["SCTP", "TCP", "UDP"]
        );
    }

    #[test]
    fn custom_resources_merge_maps_and_replace_lists() {
        let rs = patched(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, finalizers: [a]}\nspec:\n  items: [{name: a, v: 1}, {name: b, v: 2}]\n  m: {a: 1, b: 2}\n",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, finalizers: [c]}\nspec:\n  items: [{name: b, v: 3}]\n  m: {b: null, c: 3}\n",
        );
        assert_eq!(
            emit(&rs),
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  finalizers:\n  - c\nspec:\n  items:\n  - name: b\n    v: 3\n  m:\n    a: 1\n    c: 3\n"
        );
    }

    #[test]
    fn directives_replace_delete_and_null() {
        let rs = patched(
            DEPLOY,
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels:
    $patch: replace
    new: x
spec:
  selector:
    $patch: delete
  template:
    metadata:
      annotations: {a: '1', gone: null}
    spec:
      volumes:
      - $patch: replace
      - name: only
        emptyDir: {}
      containers:
      - name: app
        env: null
        ports:
        - $patch: replace
      - name: ghost
        $patch: delete
",
        );
        let d = &rs[0];
        assert_eq!(at(d, "/metadata/labels"), serde_json::json!({"new": "x"}));
        assert_eq!(at(d, "/spec/selector"), Value::Null);
        assert_eq!(
            at(d, "/spec/template/metadata/annotations"),
            serde_json::json!({"a": "1"})
        );
        let pod = at(d, "/spec/template/spec");
        assert_eq!(names(&pod["volumes"], "name"), ["only"]);
        assert_eq!(pod["containers"][0].get("env"), None);
        assert_eq!(pod["containers"][0]["ports"], serde_json::json!([]));
        assert_eq!(names(&pod["containers"], "name"), ["app", "side", "third"]);
    }

    #[test]
    fn api_server_directives_are_applied() {
        let rs = patched(
            DEPLOY,
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  $deleteFromPrimitiveList/finalizers: [a]
spec:
  template:
    spec:
      $setElementOrder/containers:
      - name: third
      - name: app
      containers:
      - name: app
        image: x
      volumes:
      - name: v1
        $retainKeys: [name, secret]
        secret: {secretName: s}
",
        );
        let d = &rs[0];
        assert_eq!(at(d, "/metadata/finalizers"), serde_json::json!(["b"]));
        let pod = at(d, "/spec/template/spec");
        assert_eq!(names(&pod["containers"], "name"), ["third", "app", "side"]);
        assert_eq!(
            pod["volumes"][0],
            serde_json::json!({"name": "v1", "secret": {"secretName": "s"}})
        );
        assert!(!emit(&rs).contains('$'));
    }

    #[test]
    fn top_level_delete_removes_the_resource() {
        let mut rs = resources(&format!(
            "{DEPLOY}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: gone}}\n"
        ));
        let p = smp("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\n$patch: delete\n");
        apply_patch(&mut rs, &p).unwrap();
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].kind(), "Deployment");
    }

    #[test]
    fn identity_is_restored_and_unknown_directive_is_an_error() {
        let p = Patch {
            target: Some(Target {
                kind: Some("Deployment".into()),
                ..Default::default()
            }),
            ..smp(
                "apiVersion: apps/v2\nkind: Other\nmetadata: {name: whatever, namespace: x, labels: {p: '1'}}\n",
            )
        };
        let mut rs = resources(DEPLOY);
        apply_patch(&mut rs, &p).unwrap();
        assert_eq!(rs[0].to_string(), "Deployment/api");
        assert_eq!(rs[0].api_version(), "apps/v1");
        assert_eq!(at(&rs[0], "/metadata/labels/p"), "1");

        let mut rs = resources(DEPLOY);
        let err = apply_patch(
            &mut rs,
            &smp("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers:\n      - image: noname\n"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch `p.yaml` on Deployment/api: an element of `spec.template.spec.containers` has no `name`, the key the list merges by"
        );
    }

    #[test]
    fn cronjob_and_pod_paths() {
        let rs = patched(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: a, image: a}, {name: b, image: b}]\n",
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: b, image: b2}]\n",
        );
        let cs = at(&rs[0], "/spec/jobTemplate/spec/template/spec/containers");
        assert_eq!(names(&cs, "name"), ["b", "a"]);
        assert_eq!(cs[0]["image"], "b2");
    }

    #[test]
    fn untargeted_patch_that_names_nothing_is_an_error() {
        let mut rs = resources(DEPLOY);
        let p = smp(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n",
        );
        let err = apply_patch(&mut rs, &p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch `p.yaml`: target Deployment/web matches no resource"
        );
        let p =
            smp("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: prod}\n");
        let err = apply_patch(&mut rs, &p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch `p.yaml`: target Deployment/prod/api matches no resource"
        );
        let p = smp(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: default}\nspec: {replicas: 2}\n",
        );
        apply_patch(&mut rs, &p).unwrap();
        assert_eq!(at(&rs[0], "/spec/replicas"), 2);
    }

    #[test]
    fn targeted_patch_that_matches_nothing() {
        let t = Target {
            kind: Some("StatefulSet".into()),
            name: Some("api".into()),
            ..Default::default()
        };
        let p = parse_patches(
            "spec: {replicas: 2}\n",
            Path::new("p.yaml"),
            "inline patch 1",
            Some(&t),
        )
        .unwrap()
        .remove(0);
        let mut rs = resources(DEPLOY);
        let err = apply_patch(&mut rs, &p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch `inline patch 1`: target kind=StatefulSet,name=api matches no resource"
        );
        apply_patch_opts(&mut rs, &p, Matching::required(false)).unwrap();
    }

    #[test]
    fn parse_errors() {
        let p = Path::new("p.yaml");
        let err =
            parse_patches("- op: add\n  path: /x\n  value: 1\n", p, "p.yaml", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch `p.yaml`: a JSON 6902 patch needs a `target`"
        );
        let err = parse_patches("spec: {}\n", p, "p.yaml", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch `p.yaml`: a strategic merge patch without a `target` must have `kind` and `metadata.name`"
        );
        let err = parse_patches("", p, "p.yaml", None).unwrap_err();
        assert_eq!(err.to_string(), "patch `p.yaml`: the patch is empty");
        let t = Target::default();
        let err = parse_patches("- op: frob\n  path: /x\n", p, "p.yaml", Some(&t)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch `p.yaml`: operation 1: unknown op `frob`"
        );
        let two = parse_patches(
            "kind: A\nmetadata: {name: a}\n---\nkind: B\nmetadata: {name: b}\n",
            p,
            "p.yaml",
            None,
        )
        .unwrap();
        assert_eq!(two.len(), 2);
        let _ = yaml("a: 1");
    }
}
