//! `tf-outputs`: turns `terraform output -json` into a ConfigMap and a Secret.
//!
//! functionConfig: `{name: infra, namespace: shop, outputs: <terraform output -json>}`,
//! where each output is `{value, type, sensitive}`. Appends a ConfigMap
//! `<name>` with the non-sensitive outputs (strings as they are, other values
//! as JSON text) and an Opaque Secret `<name>-secret` with the sensitive ones,
//! base64-encoded under `data`. No sensitive value ever appears in a result,
//! and the output drops the functionConfig that holds them.

use kiln_plugin::{ResourceList, Result};
use serde::Deserialize;
use serde_json::{Map, Value, json};

fn main() {
    kiln_plugin::run(tf_outputs)
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    outputs: Map<String, Value>,
}

fn tf_outputs(rl: &mut ResourceList) -> Result<()> {
    let config: Config = rl.function_config()?;
    // The config holds the sensitive values: do not echo it back.
    rl.function_config = None;
    let Some(name) = config.name.filter(|n| !n.is_empty()) else {
        return Err("functionConfig needs `name`, the name of the ConfigMap to generate".into());
    };
    let mut plain = Map::new();
    let mut secret = Map::new();
    for (key, output) in config.outputs {
        if !valid_key(&key) {
            return Err(format!("output `{key}` is not a valid ConfigMap key").into());
        }
        // `terraform output -json` wraps each value; accept bare values too.
        let (value, sensitive) = match output {
            Value::Object(mut wrapped) if wrapped.contains_key("value") => {
                let sensitive = wrapped
                    .get("sensitive")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                (wrapped.remove("value").unwrap_or(Value::Null), sensitive)
            }
            bare => (bare, false),
        };
        let text = match value {
            Value::String(s) => s,
            other => other.to_string(),
        };
        if sensitive {
            secret.insert(key, base64(text.as_bytes()).into());
        } else {
            plain.insert(key, text.into());
        }
    }
    let metadata = |name: String| {
        let mut metadata = Map::new();
        metadata.insert("name".into(), name.into());
        if let Some(namespace) = &config.namespace {
            metadata.insert("namespace".into(), namespace.clone().into());
        }
        Value::Object(metadata)
    };
    rl.items.push(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name.clone()),
        "data": plain,
    }));
    rl.items.push(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(format!("{name}-secret")),
        "type": "Opaque",
        "data": secret,
    }));
    Ok(())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Value {
        json!({
            "db_host": {"value": "db.internal", "type": "string", "sensitive": false},
            "db_password": {"value": "hunter2", "type": "string", "sensitive": true},
            "replicas": {"value": 3, "type": "number", "sensitive": false},
            "zones": {"value": ["a", "b"], "type": ["list", "string"], "sensitive": false},
        })
    }

    #[test]
    fn splits_plain_and_sensitive() {
        let existing = json!({"kind": "Service", "metadata": {"name": "s"}});
        let mut rl = ResourceList::new(vec![existing.clone()]).with_function_config(
            json!({"name": "infra", "namespace": "shop", "outputs": outputs()}),
        );
        tf_outputs(&mut rl).unwrap();
        assert_eq!(rl.items[0], existing);
        assert_eq!(
            rl.items[1],
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "infra", "namespace": "shop"},
                   "data": {"db_host": "db.internal", "replicas": "3", "zones": "[\"a\",\"b\"]"}})
        );
        assert_eq!(
            rl.items[2],
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "infra-secret", "namespace": "shop"},
                   "type": "Opaque", "data": {"db_password": "aHVudGVyMg=="}})
        );
        assert!(!rl.to_json().contains("hunter2"));
    }

    #[test]
    fn name_is_required() {
        let mut rl = ResourceList::new(vec![]).with_function_config(json!({"outputs": outputs()}));
        let err = tf_outputs(&mut rl).unwrap_err();
        assert!(err.message().contains("`name`"));
    }

    #[test]
    fn bad_key_names_the_key_not_the_value() {
        let mut rl = ResourceList::new(vec![]).with_function_config(json!({
            "name": "x", "outputs": {"bad key": {"value": "s3cret", "sensitive": true}}}));
        let err = tf_outputs(&mut rl).unwrap_err();
        assert!(err.message().contains("`bad key`") && !err.message().contains("s3cret"));
    }

    #[test]
    fn base64_matches_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }
}
