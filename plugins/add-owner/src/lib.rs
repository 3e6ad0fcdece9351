//! `add-owner`: annotates every item with the team that owns it.
//!
//! functionConfig: `{team: payments, annotation: kiln.dev/owner}`; `team` is
//! required, `annotation` defaults to `kiln.dev/owner`.

use kiln_plugin::{ResourceList, Result, annotations_mut};
use serde::Deserialize;

/// The annotation set when the config names none.
pub const DEFAULT_ANNOTATION: &str = "kiln.dev/owner";

/// The annotation version 2 adds, with the value `"2"`.
pub const VERSION_ANNOTATION: &str = "kiln.dev/owner-version";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    annotation: Option<String>,
}

/// Version 1: sets the owner annotation on every item.
pub fn add_owner(rl: &mut ResourceList) -> Result<()> {
    annotate(rl, None)
}

/// Version 2: as version 1, and marks each item with
/// `kiln.dev/owner-version: "2"`.
pub fn add_owner_v2(rl: &mut ResourceList) -> Result<()> {
    annotate(rl, Some("2"))
}

fn annotate(rl: &mut ResourceList, version: Option<&str>) -> Result<()> {
    let config: Config = rl.function_config()?;
    let team = match config.team {
        Some(team) if !team.is_empty() => team,
        _ => return Err("functionConfig needs `team`, the owning team".into()),
    };
    let key = config
        .annotation
        .unwrap_or_else(|| DEFAULT_ANNOTATION.to_owned());
    for item in &mut rl.items {
        let annotations = annotations_mut(item);
        annotations.insert(key.clone(), team.clone().into());
        if let Some(version) = version {
            annotations.insert(VERSION_ANNOTATION.to_owned(), version.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kiln_plugin::annotation;
    use serde_json::json;

    use super::*;

    fn list(config: serde_json::Value) -> ResourceList {
        ResourceList::new(vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "b", "annotations": {"x": "y"}}}),
        ])
        .with_function_config(config)
    }

    #[test]
    fn annotates_every_item() {
        let mut rl = list(json!({"team": "payments"}));
        add_owner(&mut rl).unwrap();
        for item in &rl.items {
            assert_eq!(annotation(item, "kiln.dev/owner"), Some("payments"));
            assert_eq!(annotation(item, VERSION_ANNOTATION), None);
        }
        assert_eq!(annotation(&rl.items[1], "x"), Some("y"));
        assert!(rl.results.is_empty());
    }

    #[test]
    fn custom_annotation_and_configmap_config() {
        let mut rl = list(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "data": {"team": "search", "annotation": "example.com/team"}}));
        add_owner(&mut rl).unwrap();
        assert_eq!(annotation(&rl.items[0], "example.com/team"), Some("search"));
    }

    #[test]
    fn version_two_marks_items() {
        let mut rl = list(json!({"team": "payments"}));
        add_owner_v2(&mut rl).unwrap();
        assert_eq!(annotation(&rl.items[0], VERSION_ANNOTATION), Some("2"));
    }

    #[test]
    fn missing_team_is_an_error() {
        let err = add_owner(&mut list(json!({}))).unwrap_err();
        assert!(err.message().contains("`team`"), "{err}");
        let err = add_owner(&mut list(json!({"team": ""}))).unwrap_err();
        assert!(err.message().contains("`team`"), "{err}");
    }
}
