//! Per-request changes to a render: parameters that override release `values`, facts
//! about the target cluster (`kube`) and per-app variables (`env`). All of them are part
//! of the render key.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Changes to one render of a release, for example those an Argo CD application asks for.
/// The default (nothing set) renders exactly like [`crate::Engine::render`], with the
/// same render key.
///
/// - A parameter's name is a dotted path into the release's merged `values` (`values`
///   over `valuesFiles`). Its first segment must name a key those values already have:
///   anything else is an *unknown parameter* and fails the render, naming it. Deeper
///   segments may be new.
/// - [`Param::String`] sets the value at the path to a string; [`Param::Array`] sets it
///   to a list of strings; [`Param::Map`] merges string entries into the mapping at the
///   path (creating it when missing). A parameter whose shape does not fit the value it
///   replaces (a string over a mapping or a list, a list over a mapping or a string, a
///   map over anything but a mapping) is an error.
/// - Parameters apply in the order given.
/// - [`Overrides::kube`] makes `kube.version` and `kube.apiVersions` visible to templates;
///   [`Overrides::env`] makes `env.NAME` visible.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    params: Vec<(String, Param)>,
    kube: Option<(String, Vec<String>)>,
    env: BTreeMap<String, String>,
}

/// The value of one parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// Sets a string.
    String(String),
    /// Sets a list of strings.
    Array(Vec<String>),
    /// Merges string entries into a mapping.
    Map(BTreeMap<String, String>),
}

impl Param {
    fn kind(&self) -> &'static str {
        match self {
            Param::String(_) => "a string",
            Param::Array(_) => "an array",
            Param::Map(_) => "a map",
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Param::String(s) => Value::String(s.clone()),
            Param::Array(a) => Value::Array(a.iter().cloned().map(Value::String).collect()),
            Param::Map(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        }
    }
}

impl Overrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter (applied after those added before).
    pub fn param(mut self, name: impl Into<String>, value: Param) -> Self {
        self.params.push((name.into(), value));
        self
    }

    /// The target cluster's Kubernetes version and API versions (`group/version` or
    /// `group/version/Kind`), seen by templates as `kube.version` and `kube.apiVersions`.
    pub fn kube(mut self, version: impl Into<String>, api_versions: Vec<String>) -> Self {
        self.kube = Some((version.into(), api_versions));
        self
    }

    /// A variable seen by templates as `env.NAME`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty() && self.kube.is_none() && self.env.is_empty()
    }

    /// The canonical form hashed into the render key.
    pub(crate) fn encode(&self) -> Value {
        let params: Vec<Value> = self
            .params
            .iter()
            .map(|(n, p)| Value::Array(vec![Value::String(n.clone()), p.to_value()]))
            .collect();
        let kube = match &self.kube {
            Some((v, apis)) => serde_json::json!({"version": v, "apiVersions": apis}),
            None => Value::Null,
        };
        serde_json::json!({"params": params, "kube": kube, "env": self.env})
    }

    /// Adds `kube` and `env` to the template context's top level.
    pub(crate) fn extend_context(&self, root: &mut Map<String, Value>) {
        if let Some((version, apis)) = &self.kube {
            root.insert(
                "kube".into(),
                serde_json::json!({"version": version, "apiVersions": apis}),
            );
        }
        if !self.env.is_empty() {
            root.insert("env".into(), serde_json::json!(self.env));
        }
    }

    /// Applies the parameters to merged `values`.
    pub(crate) fn apply(&self, values: &mut Value) -> Result<(), ParamError> {
        for (name, param) in &self.params {
            apply_one(values, name, param)?;
        }
        Ok(())
    }
}

/// A parameter that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// Its first segment names no key of the release's values.
    #[error("unknown parameter `{name}`: the release's values have no `{top}`{}", known_list(.known))]
    Unknown {
        /// The parameter's name.
        name: String,
        /// Its first segment.
        top: String,
        /// The keys the values have.
        known: Vec<String>,
    },
    /// Its name is not a dotted path (an empty segment).
    #[error("parameter `{name}`: not a dotted path into values (empty segment)")]
    BadName {
        /// The parameter's name.
        name: String,
    },
    /// Its shape does not fit the value at its path.
    #[error("parameter `{name}` is {given}, but `values.{at}` is {found}")]
    Shape {
        /// The parameter's name.
        name: String,
        /// What the parameter is (`a string`, `an array`, `a map`).
        given: &'static str,
        /// The path where the shapes disagree.
        at: String,
        /// What is there.
        found: &'static str,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (they are empty)".into()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}

fn shape(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "a mapping",
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
    }
}

fn apply_one(values: &mut Value, name: &str, param: &Param) -> Result<(), ParamError> {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(ParamError::BadName { name: name.into() });
    }
    let Some((last, parents)) = segments.split_last() else {
        return Err(ParamError::BadName { name: name.into() });
    };
    let top = segments[0];
    let known = values.as_object();
    if !known.is_some_and(|m| m.contains_key(top)) {
        return Err(ParamError::Unknown {
            name: name.into(),
            top: top.into(),
            known: known
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        });
    }
    let mismatch = |at: &[&str], found: &Value| ParamError::Shape {
        name: name.into(),
        given: param.kind(),
        at: at.join("."),
        found: shape(found),
    };
    let mut here = values;
    for (i, seg) in parents.iter().enumerate() {
        let Value::Object(m) = here else {
            return Err(mismatch(&segments[..i], here));
        };
        here = m
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(m) = here else {
        return Err(mismatch(parents, here));
    };
    let slot = m.entry(last.to_string()).or_insert(Value::Null);
    let fits = match (param, &*slot) {
        (_, Value::Null) => true,
        (Param::String(_), Value::Object(_) | Value::Array(_)) => false,
        (Param::String(_), _) => true,
        (Param::Array(_), Value::Array(_)) => true,
        (Param::Map(_), Value::Object(_)) => true,
        _ => false,
    };
    if !fits {
        return Err(mismatch(&segments, slot));
    }
    match (param, slot) {
        (Param::Map(entries), Value::Object(existing)) => {
            for (k, v) in entries {
                existing.insert(k.clone(), Value::String(v.clone()));
            }
        }
        (p, slot) => *slot = p.to_value(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(values: Value, o: &Overrides) -> Result<Value, String> {
        let mut v = values;
        o.apply(&mut v).map_err(|e| e.to_string())?;
        Ok(v)
    }

    #[test]
    fn string_sets_a_dotted_path_and_map_merges() {
        let o = Overrides::new()
            .param("db.host", Param::String("db2".into()))
            .param("db.port", Param::String("5433".into()))
            .param(
                "labels",
                Param::Map([("tier".into(), "gold".into())].into_iter().collect()),
            )
            .param("zones", Param::Array(vec!["a".into(), "b".into()]));
        let v = apply(
            json!({"db": {"host": "db1", "port": 5432}, "labels": {"team": "x"}, "zones": ["c"]}),
            &o,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"db": {"host": "db2", "port": "5433"}, "labels": {"team": "x", "tier": "gold"}, "zones": ["a", "b"]})
        );
    }

    #[test]
    fn deeper_segments_may_be_new() {
        let o = Overrides::new().param("db.pool.size", Param::String("9".into()));
        let v = apply(json!({"db": {}}), &o).unwrap();
        assert_eq!(v, json!({"db": {"pool": {"size": "9"}}}));
    }

    #[test]
    fn unknown_top_key_is_named() {
        let o = Overrides::new().param("replicaz", Param::String("3".into()));
        assert_eq!(
            apply(json!({"replicas": 1, "region": "eu"}), &o).unwrap_err(),
            "unknown parameter `replicaz`: the release's values have no `replicaz` (known: replicas, region)"
        );
        assert_eq!(
            apply(json!({}), &o).unwrap_err(),
            "unknown parameter `replicaz`: the release's values have no `replicaz` (they are empty)"
        );
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let v = json!({"features": ["a"], "db": {"host": "x"}, "region": "eu"});
        let err = |name: &str, p: Param| apply(v.clone(), &Overrides::new().param(name, p));
        assert_eq!(
            err("features", Param::String("b".into())).unwrap_err(),
            "parameter `features` is a string, but `values.features` is a list"
        );
        assert_eq!(
            err("region", Param::Map(BTreeMap::new())).unwrap_err(),
            "parameter `region` is a map, but `values.region` is a string"
        );
        assert_eq!(
            err("db", Param::Array(vec![])).unwrap_err(),
            "parameter `db` is an array, but `values.db` is a mapping"
        );
        assert_eq!(
            err("region.x", Param::String("y".into())).unwrap_err(),
            "parameter `region.x` is a string, but `values.region` is a string"
        );
        assert_eq!(
            err("db..x", Param::String("y".into())).unwrap_err(),
            "parameter `db..x`: not a dotted path into values (empty segment)"
        );
    }

    #[test]
    fn encoding_is_empty_only_when_nothing_is_set() {
        assert!(Overrides::new().is_empty());
        assert!(!Overrides::new().kube("1.31.0", vec![]).is_empty());
        assert_ne!(
            Overrides::new().env("A", "1").encode(),
            Overrides::new().env("A", "2").encode()
        );
    }
}
