//! The content-hash name suffix of generated ConfigMaps and Secrets, computed exactly as
//! kustomize v5 computes it.
//!
//! kustomize encodes a ConfigMap as the JSON object `{data, kind, name}` (plus
//! `binaryData` when it is a mapping) and a Secret as `{data, kind, name, type}` (plus
//! `stringData` when it is a mapping), keys sorted, with Go's `encoding/json` escaping;
//! it takes the first 10 hex digits of the SHA-256 and maps `0 1 3 a e` to `g h k m t` so
//! the suffix never looks like a number or a word. Its lookup of `metadata/name` does not
//! split the path, so `name` is always the empty string: the hash depends on the content
//! only, and two generators with the same data get the same suffix. A missing field
//! counts as the empty string. Any other kind is hashed as its whole JSON encoding.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::resource::Resource;

/// The suffix kustomize appends (after a `-`) to the name of `res`.
pub(crate) fn name_hash(res: &Resource) -> String {
    let obj = res.as_object();
    let field = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.clone(),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(other) => Value::String(scalar_text(other)),
    };
    let mut m = Map::new();
    match res.kind() {
        "ConfigMap" => {
            m.insert("kind".into(), "ConfigMap".into());
            m.insert("name".into(), "".into());
            m.insert("data".into(), field("data"));
            if let Some(v @ Value::Object(_)) = obj.get("binaryData") {
                m.insert("binaryData".into(), v.clone());
            }
        }
        "Secret" => {
            m.insert("kind".into(), "Secret".into());
            m.insert("name".into(), "".into());
            m.insert("type".into(), field("type"));
            m.insert("data".into(), field("data"));
            if let Some(v @ Value::Object(_)) = obj.get("stringData") {
                m.insert("stringData".into(), v.clone());
            }
        }
        _ => {
            // kustomize marshals the YAML node itself here (fields in document order).
            let mut out = String::new();
            go_json(&Value::Object(obj.clone()), false, &mut out);
            return encode(&out);
        }
    }
    let mut out = String::new();
    go_json(&Value::Object(m), true, &mut out);
    encode(&out)
}

/// SHA-256 of `text`, first 10 hex digits, with kustomize's letter substitutions.
fn encode(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(digest)[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// The text of a scalar as the YAML node holds it.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// Writes `v` the way Go's `json.Marshal` does: no spaces, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as `\u00XX`; object keys sorted when `sort` is set (Go maps).
fn go_json(v: &Value, sort: bool, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, sort, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            if sort {
                keys.sort();
            }
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_json(&map[k], sort, out);
            }
            out.push('}');
        }
    }
}

/// Numbers inside `data` went through Go's `interface{}`, i.e. `float64`.
fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() < (1 << 53)
    {
        return i.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        // Go uses the shortest representation; Rust's Display does too for f64, with the
        // exponent form differing only for very large or small magnitudes.
        let s = f.to_string();
        if f.abs() >= 1e21 || (f != 0.0 && f.abs() < 1e-6) {
            format!("{f:e}").replace('e', "e+").replace("e+-", "e-")
        } else {
            s
        }
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        Resource::from_value(v).unwrap()
    }

    // Expected suffixes are what kustomize v5.7.1 printed for the same objects.
    #[test]
    fn config_map_hash_matches_kustomize() {
        let cm = res(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
            "data": {"a": "1"}}),
        );
        assert_eq!(name_hash(&cm), "h29d89cmmt");
        let cm = res(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
            "data": {"b": "2", "a": "1", "c": "<&>"}}),
        );
        assert_eq!(name_hash(&cm), "9h47ct84km");
    }

    #[test]
    fn secret_hash_includes_type() {
        let s = res(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s2"},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ==", "tls.key": "Yg=="}}),
        );
        assert_eq!(name_hash(&s), "m6h7bkm2dg");
    }

    #[test]
    fn go_escaping() {
        let mut out = String::new();
        go_string("a<b>&\"\\\n\u{1}é\u{2028}", &mut out);
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\\\n\u0001é\u2028""#);
    }
}
