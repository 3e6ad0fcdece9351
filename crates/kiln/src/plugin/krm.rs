//! The `ResourceList` on the wire: encoded as JSON for the plugin's stdin, decoded (YAML
//! or JSON) from its stdout.
//!
//! kiln adds no bookkeeping annotations to the items it sends. Annotations that KRM
//! function runners use for bookkeeping (`config.kubernetes.io/index`,
//! `config.kubernetes.io/path`, `config.k8s.io/id` and everything under
//! `internal.config.kubernetes.io/`) are removed from the items that come back, as
//! kustomize does, and an annotation map left empty by that is removed too.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::resource::{Object, ResId, Resource};

/// `apiVersion` of the `ResourceList` kiln writes.
const API_VERSION: &str = "config.kubernetes.io/v1";

/// Annotations removed from output items.
const BOOKKEEPING: &[&str] = &[
    "config.kubernetes.io/index",
    "config.kubernetes.io/path",
    "config.k8s.io/id",
];
const INTERNAL_PREFIX: &str = "internal.config.kubernetes.io/";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceListOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    items: Vec<&'a Object>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_config: Option<&'a Value>,
}

/// The plugin's stdin: `{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList",
/// "items":[...],"functionConfig":...}`.
pub(crate) fn encode(items: &[Resource], config: Option<&Value>) -> Vec<u8> {
    let list = ResourceListOut {
        api_version: API_VERSION,
        kind: "ResourceList",
        items: items.iter().map(Resource::as_object).collect(),
        function_config: config,
    };
    serde_json::to_vec(&list).expect("a JSON value always serializes")
}

/// Where the input items came from, to give output items with the same identity their
/// origin back (for error messages and name references).
pub(crate) struct Provenance(HashMap<ResId, (Option<String>, Option<String>)>);

impl Provenance {
    pub(crate) fn of(items: &[Resource]) -> Provenance {
        Provenance(
            items
                .iter()
                .filter(|r| r.origin.is_some() || r.original_name.is_some())
                .map(|r| (r.id(), (r.origin.clone(), r.original_name.clone())))
                .collect(),
        )
    }

    fn restore(&self, r: &mut Resource) {
        if self.0.is_empty() {
            return;
        }
        if let Some((origin, original_name)) = self.0.get(&r.id()) {
            r.origin.clone_from(origin);
            r.original_name.clone_from(original_name);
        }
    }
}

/// A decoded plugin output.
pub(crate) struct Decoded {
    pub(crate) items: Vec<Resource>,
    /// `results` with severity `error` (or none), formatted.
    pub(crate) errors: Vec<String>,
    /// Other results, formatted.
    pub(crate) messages: Vec<String>,
}

/// Decodes a plugin's stdout. The error is a reason, for `PluginError::BadOutput`.
pub(crate) fn decode(stdout: &[u8], provenance: &Provenance) -> Result<Decoded, String> {
    let text = std::str::from_utf8(stdout)
        .map_err(|e| format!("stdout is not UTF-8 (at byte {})", e.valid_up_to()))?;
    if text.trim().is_empty() {
        return Err("stdout is empty".into());
    }
    // JSON (what the SDK writes) parses several times faster as JSON; anything else, or
    // JSON that serde_json refuses, goes through the YAML reader for its message.
    let json = text
        .trim_start()
        .starts_with('{')
        .then(|| serde_json::from_str::<Value>(text).ok())
        .flatten();
    let value = match json {
        Some(v) => v,
        None => crate::yaml::parse_one_as(text, Path::new("stdout"), crate::yaml::Schema::Manifest)
            .map_err(|e| e.to_string())?,
    };
    let Value::Object(mut list) = value else {
        return Err(format!(
            "expected a mapping, found {}",
            crate::resource::type_name(&value)
        ));
    };
    match list.get("kind") {
        Some(Value::String(k)) if k == "ResourceList" => {}
        Some(Value::String(k)) => return Err(format!("`kind` is `{k}`, expected `ResourceList`")),
        _ => return Err("no `kind: ResourceList`".into()),
    }
    let (errors, messages) = match list.remove("results") {
        None | Some(Value::Null) => (Vec::new(), Vec::new()),
        Some(Value::Array(results)) => format_results(&results)?,
        // kyaml's function framework before v0.13 wrote `results: {name, items: [...]}`.
        Some(Value::Object(mut legacy)) => match legacy.remove("items") {
            None | Some(Value::Null) => (Vec::new(), Vec::new()),
            Some(Value::Array(results)) => {
                format_results(&results).map_err(|e| format!("`results.items`: {e}"))?
            }
            Some(other) => {
                return Err(format!(
                    "`results.items` must be a sequence, found {}",
                    crate::resource::type_name(&other)
                ));
            }
        },
        Some(other) => {
            return Err(format!(
                "`results` must be a sequence (or kyaml's legacy `{{name, items}}` mapping), \
                 found {}",
                crate::resource::type_name(&other)
            ));
        }
    };
    let items = match list.remove("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "`items` must be a sequence, found {}",
                crate::resource::type_name(&other)
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let mut r = Resource::from_value(item).map_err(|e| format!("items[{i}]: {e}"))?;
        strip_bookkeeping(&mut r);
        provenance.restore(&mut r);
        out.push(r);
    }
    Ok(Decoded {
        items: out,
        errors,
        messages,
    })
}

fn strip_bookkeeping(r: &mut Resource) {
    let Some(Value::Object(meta)) = r.as_object_mut().get_mut("metadata") else {
        return;
    };
    let Some(Value::Object(annotations)) = meta.get_mut("annotations") else {
        return;
    };
    let before = annotations.len();
    annotations
        .retain(|k, _| !BOOKKEEPING.contains(&k.as_str()) && !k.starts_with(INTERNAL_PREFIX));
    if annotations.is_empty() && before > 0 {
        meta.remove("annotations");
    }
}

/// Splits `results` into formatted errors and other messages.
fn format_results(results: &[Value]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut errors = Vec::new();
    let mut messages = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let Value::Object(r) = r else {
            return Err(format!("results[{i}] must be a mapping"));
        };
        let severity = match r.get("severity") {
            None | Some(Value::Null) => "error",
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "error" => "error",
                "warning" => "warning",
                "info" => "info",
                _ => return Err(format!("results[{i}]: unknown severity `{s}`")),
            },
            Some(_) => return Err(format!("results[{i}]: `severity` must be a string")),
        };
        let line = format_result(severity, r);
        if severity == "error" {
            errors.push(line);
        } else {
            messages.push(line);
        }
    }
    Ok((errors, messages))
}

/// `error: <message> (Deployment/api field spec.x)`.
fn format_result(severity: &str, r: &Object) -> String {
    let str_at = |v: Option<&Value>, key: &str| -> String {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let message = r
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)");
    let mut about = Vec::new();
    if let Some(rr) = r.get("resourceRef").filter(|v| v.is_object()) {
        // kyaml's legacy results name the resource as its `ResourceMeta` does, under
        // `metadata`; the current form has `name` and `namespace` beside `kind`.
        let meta = rr.get("metadata").filter(|m| m.is_object()).unwrap_or(rr);
        let (kind, name, ns) = (
            str_at(Some(rr), "kind"),
            str_at(Some(meta), "name"),
            str_at(Some(meta), "namespace"),
        );
        about.push(if ns.is_empty() {
            format!("{kind}/{name}")
        } else {
            format!("{kind}/{ns}/{name}")
        });
    }
    let field = str_at(r.get("field"), "path");
    if !field.is_empty() {
        about.push(format!("field {field}"));
    }
    let file = str_at(r.get("file"), "path");
    if !file.is_empty() {
        about.push(format!("file `{file}`"));
    }
    if about.is_empty() {
        format!("{severity}: {message}")
    } else {
        format!("{severity}: {message} ({})", about.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn res(v: Value) -> Resource {
        Resource::from_value(v).unwrap()
    }

    #[test]
    fn encodes_a_resource_list() {
        let items = [res(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
        )];
        let out = encode(&items, Some(&json!({"team": "x"})));
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}],"functionConfig":{"team":"x"}}"#
        );
        let out = encode(&[], None);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[]}"#
        );
    }

    #[test]
    fn decodes_yaml_and_strips_bookkeeping() {
        let out = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n    annotations:\n      config.kubernetes.io/index: '0'\n      internal.config.kubernetes.io/path: x.yaml\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n    annotations:\n      config.kubernetes.io/index: '1'\n      keep: me\nresults:\n- message: looks odd\n  severity: warning\n  resourceRef: {kind: ConfigMap, name: b}\n  field: {path: data.x}\n";
        let d = decode(out, &Provenance::of(&[])).unwrap();
        assert_eq!(d.items.len(), 2);
        assert!(
            d.items[0].as_object()["metadata"]
                .get("annotations")
                .is_none()
        );
        assert_eq!(
            d.items[1].as_object()["metadata"]["annotations"],
            json!({"keep": "me"})
        );
        assert!(d.errors.is_empty());
        assert_eq!(
            d.messages,
            ["warning: looks odd (ConfigMap/b field data.x)"]
        );
    }

    #[test]
    fn results_without_severity_are_errors() {
        let out = br#"{"kind":"ResourceList","items":[],"results":[{"message":"bad","resourceRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"api","namespace":"shop"},"field":{"path":"spec.x"}},{"message":"fyi","severity":"info"}]}"#;
        let d = decode(out, &Provenance::of(&[])).unwrap();
        assert_eq!(d.errors, ["error: bad (Deployment/shop/api field spec.x)"]);
        assert_eq!(d.messages, ["info: fyi"]);
    }

    #[test]
    fn legacy_results_mapping_is_read_like_the_sequence() {
        // kyaml's framework before v0.13: `results: {name, items: [...]}`.
        let out = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nresults:\n  name: apply-setters\n  items:\n  - message: setter unused\n    severity: warning\n    file: {path: base/app.yaml}\n  - message: replicas is not an integer\n    severity: error\n    resourceRef: {apiVersion: apps/v1, kind: Deployment, metadata: {name: api, namespace: shop}}\n    field: {path: spec.replicas, currentValue: many}\n";
        let d = decode(out, &Provenance::of(&[])).unwrap();
        assert_eq!(
            d.errors,
            ["error: replicas is not an integer (Deployment/shop/api field spec.replicas)"]
        );
        assert_eq!(
            d.messages,
            ["warning: setter unused (file `base/app.yaml`)"]
        );
        let p = Provenance::of(&[]);
        assert!(decode(b"kind: ResourceList\nresults: {name: x}\n", &p).is_ok());
        assert_eq!(
            decode(b"kind: ResourceList\nresults: {items: 3}\n", &p)
                .err()
                .unwrap(),
            "`results.items` must be a sequence, found a number"
        );
        assert_eq!(
            decode(b"kind: ResourceList\nresults: {items: [7]}\n", &p)
                .err()
                .unwrap(),
            "`results.items`: results[0] must be a mapping"
        );
        assert_eq!(
            decode(b"kind: ResourceList\nresults: 3\n", &p)
                .err()
                .unwrap(),
            "`results` must be a sequence (or kyaml's legacy `{name, items}` mapping), found a number"
        );
    }

    #[test]
    fn bad_outputs_are_reasons() {
        let p = Provenance::of(&[]);
        let err = |b: &[u8]| decode(b, &p).err().unwrap();
        assert_eq!(err(b""), "stdout is empty");
        assert_eq!(err(b"\xff\xfe"), "stdout is not UTF-8 (at byte 0)");
        assert_eq!(err(b"[1]"), "expected a mapping, found a sequence");
        assert_eq!(
            err(b"kind: List"),
            "`kind` is `List`, expected `ResourceList`"
        );
        assert_eq!(
            err(br#"{"kind":"ResourceList","items":[{"kind":"X","metadata":{"name":"a"}},{"metadata":{}}]}"#),
            "items[1]: resource has no `kind`"
        );
        assert!(
            err(b"kind: [").starts_with("`stdout`"),
            "{}",
            err(b"kind: [")
        );
    }

    #[test]
    fn provenance_follows_identity() {
        let mut a =
            res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}));
        a.origin = Some("base/a.yaml".into());
        let d = decode(
            br#"{"kind":"ResourceList","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"new"}}]}"#,
            &Provenance::of(&[a]),
        )
        .unwrap();
        assert_eq!(d.items[0].origin.as_deref(), Some("base/a.yaml"));
        assert_eq!(d.items[1].origin, None);
    }
}
