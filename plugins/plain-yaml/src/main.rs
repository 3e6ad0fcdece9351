//! `plain-yaml`: a KRM function written without the kiln SDK.
//!
//! It reads a YAML `ResourceList` from stdin, labels every item and writes
//! YAML to stdout: nothing kiln-specific, which shows that the plugin ABI is
//! the KRM functions specification itself. The label is `kiln.dev/plain:
//! "true"` unless the functionConfig names another with `label` (and
//! optionally `value`), at its top level, under `data` (a ConfigMap) or under
//! `spec`.

use std::io::{Read, Write};
use std::process::ExitCode;

use serde_yaml::{Mapping, Value};

fn main() -> ExitCode {
    let mut input = String::new();
    let result = std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read stdin: {e}"))
        .and_then(|_| transform(&input));
    match result {
        Ok(output) => match std::io::stdout().write_all(output.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        },
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "plain-yaml: {message}");
            ExitCode::FAILURE
        }
    }
}

fn transform(input: &str) -> Result<String, String> {
    let mut list: Value =
        serde_yaml::from_str(input).map_err(|e| format!("invalid ResourceList: {e}"))?;
    let (label, value) = label(list.get("functionConfig"));
    let Some(Value::Sequence(items)) = list.get_mut("items") else {
        return Err("the ResourceList has no `items`".to_owned());
    };
    for item in items {
        let Value::Mapping(item) = item else {
            return Err("an item is not a mapping".to_owned());
        };
        let metadata = entry_mapping(item, "metadata")?;
        let labels = entry_mapping(metadata, "labels")?;
        labels.insert(Value::from(label.clone()), Value::from(value.clone()));
    }
    serde_yaml::to_string(&list).map_err(|e| e.to_string())
}

/// The label to set, from `functionConfig` (top level, `data` or `spec`).
fn label(config: Option<&Value>) -> (String, String) {
    let text = |from: &Value, key: &str| from.get(key).and_then(Value::as_str).map(str::to_owned);
    for place in [
        config,
        config.and_then(|c| c.get("data")),
        config.and_then(|c| c.get("spec")),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(label) = text(place, "label") {
            return (
                label,
                text(place, "value").unwrap_or_else(|| "true".to_owned()),
            );
        }
    }
    ("kiln.dev/plain".to_owned(), "true".to_owned())
}

fn entry_mapping<'a>(map: &'a mut Mapping, key: &str) -> Result<&'a mut Mapping, String> {
    let slot = map
        .entry(Value::from(key))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if slot.is_null() {
        *slot = Value::Mapping(Mapping::new());
    }
    match slot {
        Value::Mapping(m) => Ok(m),
        _ => Err(format!("`{key}` is not a mapping")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_every_item_and_writes_yaml() {
        let input = "\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: a
- {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"b\", \"labels\": {\"x\": \"y\"}}}
";
        let output = transform(input).unwrap();
        let list: Value = serde_yaml::from_str(&output).unwrap();
        assert_eq!(
            list["items"][0]["metadata"]["labels"]["kiln.dev/plain"],
            "true"
        );
        assert_eq!(list["items"][1]["metadata"]["labels"]["x"], "y");
        assert_eq!(
            list["items"][1]["metadata"]["labels"]["kiln.dev/plain"],
            "true"
        );
        assert!(
            output.starts_with("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"),
            "{output}"
        );
    }

    #[test]
    fn label_from_function_config() {
        let input = r#"{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList",
            "items":[{"kind":"Pod","metadata":{"name":"p"}}],
            "functionConfig":{"kind":"ConfigMap","data":{"label":"team","value":"search"}}}"#;
        let list: Value = serde_yaml::from_str(&transform(input).unwrap()).unwrap();
        assert_eq!(list["items"][0]["metadata"]["labels"]["team"], "search");
    }

    #[test]
    fn rejects_what_is_not_a_resource_list() {
        assert!(transform("just text").is_err());
        assert!(transform("items: [1]").is_err());
    }
}
