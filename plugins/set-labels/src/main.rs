//! `set-labels`: sets labels on every item.
//!
//! functionConfig: `{labels: {team: payments, tier: backend}}`, or a ConfigMap
//! whose `data` holds the labels. Labels are set in the order given, over any
//! label of the same key.

use kiln_plugin::{ResourceList, Result, labels_mut};
use serde::Deserialize;
use serde_json::{Map, Value};

fn main() {
    kiln_plugin::run(set_labels)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Config {
    Nested { labels: Map<String, Value> },
    Flat(Map<String, Value>),
}

fn set_labels(rl: &mut ResourceList) -> Result<()> {
    let labels = match rl.function_config()? {
        Config::Nested { labels } | Config::Flat(labels) => labels,
    };
    for (key, value) in &labels {
        if !value.is_string() {
            return Err(format!("label `{key}` must be a string").into());
        }
    }
    for item in &mut rl.items {
        let target = labels_mut(item);
        for (key, value) in &labels {
            target.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sets_labels_on_every_item() {
        let mut rl = ResourceList::new(vec![
            json!({"kind": "Service", "metadata": {"name": "s", "labels": {"team": "old", "keep": "me"}}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}}),
        ])
        .with_function_config(json!({"labels": {"team": "payments", "tier": "backend"}}));
        set_labels(&mut rl).unwrap();
        assert_eq!(
            rl.items[0]["metadata"]["labels"],
            json!({"team": "payments", "keep": "me", "tier": "backend"})
        );
        assert_eq!(
            rl.items[1]["metadata"]["labels"],
            json!({"team": "payments", "tier": "backend"})
        );
    }

    #[test]
    fn configmap_data_are_labels() {
        let mut rl = ResourceList::new(vec![json!({"kind": "Pod"})])
            .with_function_config(json!({"kind": "ConfigMap", "data": {"a": "b"}}));
        set_labels(&mut rl).unwrap();
        assert_eq!(rl.items[0]["metadata"]["labels"], json!({"a": "b"}));
    }

    #[test]
    fn non_string_label_is_an_error() {
        let mut rl = ResourceList::new(vec![]).with_function_config(json!({"labels": {"n": 1}}));
        assert!(set_labels(&mut rl).is_err());
    }
}
