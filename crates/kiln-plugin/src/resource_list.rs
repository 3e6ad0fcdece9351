//! The `ResourceList` a function reads and writes, and helpers for its items.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::results::{KrmResult, Severity};
use crate::{Error, Result};

/// `apiVersion` of a `ResourceList`.
pub const API_VERSION: &str = "config.kubernetes.io/v1";

/// The input and output of a KRM function.
///
/// Items are kept as [`serde_json::Value`] with their fields in order, so a
/// function changes only what it means to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceList {
    /// Always `config.kubernetes.io/v1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Always `ResourceList`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The resources, in order.
    #[serde(default)]
    pub items: Vec<Value>,
    /// The configuration the function was called with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_config: Option<Value>,
    /// What the function has to report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<KrmResult>,
}

fn default_api_version() -> String {
    API_VERSION.to_owned()
}

fn default_kind() -> String {
    "ResourceList".to_owned()
}

impl Default for ResourceList {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl ResourceList {
    /// A list holding `items`, with no config and no results.
    pub fn new(items: Vec<Value>) -> Self {
        Self {
            api_version: default_api_version(),
            kind: default_kind(),
            items,
            function_config: None,
            results: Vec::new(),
        }
    }

    /// Sets `functionConfig`.
    #[must_use]
    pub fn with_function_config(mut self, config: Value) -> Self {
        self.function_config = Some(config);
        self
    }

    /// Reads a list written as JSON (when it starts with `{`) or YAML.
    pub fn parse(input: &str) -> Result<Self> {
        let list: Self = if input.trim_start().starts_with('{') {
            serde_json::from_str(input)?
        } else {
            serde_yaml::from_str(input)?
        };
        if list.kind != "ResourceList" {
            return Err(Error::new(format!(
                "expected kind `ResourceList`, found `{}`",
                list.kind
            )));
        }
        Ok(list)
    }

    /// The list as one line of JSON, fields in order.
    pub fn to_json(&self) -> String {
        // Every part is a string-keyed JSON value, so this cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The list as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// `functionConfig` as a `T`.
    ///
    /// A missing or null config reads as `{}`, so a `T` whose fields all have
    /// defaults needs no config. A `ConfigMap` config reads from its `data`,
    /// as the KRM functions specification allows; any other config reads as a
    /// whole.
    pub fn function_config<T: DeserializeOwned>(&self) -> Result<T> {
        let empty = Value::Object(Map::new());
        let config = match &self.function_config {
            None | Some(Value::Null) => &empty,
            Some(config) if kind(config) == "ConfigMap" => match config.get("data") {
                None | Some(Value::Null) => &empty,
                Some(data) => data,
            },
            Some(config) => config,
        };
        T::deserialize(config).map_err(|e| Error::new(format!("invalid functionConfig: {e}")))
    }

    /// Adds a result with `severity` and returns it, to set more fields.
    pub fn result(&mut self, severity: Severity, message: impl Into<String>) -> &mut KrmResult {
        self.report(KrmResult::new(severity, message))
    }

    /// Adds an `error` result: the render fails.
    pub fn error(&mut self, message: impl Into<String>) -> &mut KrmResult {
        self.result(Severity::Error, message)
    }

    /// Adds a `warning` result.
    pub fn warning(&mut self, message: impl Into<String>) -> &mut KrmResult {
        self.result(Severity::Warning, message)
    }

    /// Adds an `info` result.
    pub fn info(&mut self, message: impl Into<String>) -> &mut KrmResult {
        self.result(Severity::Info, message)
    }

    /// Adds a result built with [`KrmResult`]'s builder methods.
    pub fn report(&mut self, result: KrmResult) -> &mut KrmResult {
        self.results.push(result);
        let last = self.results.len() - 1;
        &mut self.results[last]
    }

    /// Whether any result fails the render.
    pub fn has_errors(&self) -> bool {
        self.results.iter().any(KrmResult::is_error)
    }
}

fn str_at<'a>(item: &'a Value, pointer: &str) -> Option<&'a str> {
    item.pointer(pointer).and_then(Value::as_str)
}

/// The item's `apiVersion`, or `""`.
pub fn api_version(item: &Value) -> &str {
    str_at(item, "/apiVersion").unwrap_or("")
}

/// The item's `kind`, or `""`.
pub fn kind(item: &Value) -> &str {
    str_at(item, "/kind").unwrap_or("")
}

/// Where the pod spec sits in a workload of this kind, as a dotted field path: `spec` in a
/// Pod, `spec.template.spec` in a Deployment, StatefulSet, DaemonSet, ReplicaSet or Job,
/// `spec.jobTemplate.spec.template.spec` in a CronJob; `None` for any other kind.
///
/// ```
/// assert_eq!(kiln_plugin::pod_spec_path("CronJob"), Some("spec.jobTemplate.spec.template.spec"));
/// assert_eq!(kiln_plugin::pod_spec_path("ConfigMap"), None);
/// ```
pub fn pod_spec_path(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some("spec.template.spec")
        }
        "CronJob" => Some("spec.jobTemplate.spec.template.spec"),
        _ => None,
    }
}

/// The item's `metadata.name`, or `""`.
pub fn name(item: &Value) -> &str {
    str_at(item, "/metadata/name").unwrap_or("")
}

/// The item's `metadata.namespace`, if it has one.
pub fn namespace(item: &Value) -> Option<&str> {
    str_at(item, "/metadata/namespace")
}

/// The value of the item's annotation `key`, if it is set.
pub fn annotation<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// The item's `metadata.annotations`, created if missing.
///
/// An item (or `metadata`) that is not a mapping is replaced by an empty one.
pub fn annotations_mut(item: &mut Value) -> &mut Map<String, Value> {
    metadata_map_mut(item, "annotations")
}

/// The item's `metadata.labels`, created if missing.
///
/// An item (or `metadata`) that is not a mapping is replaced by an empty one.
pub fn labels_mut(item: &mut Value) -> &mut Map<String, Value> {
    metadata_map_mut(item, "labels")
}

fn metadata_map_mut<'a>(item: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    let metadata = object_mut(item)
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let map = object_mut(metadata)
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    object_mut(map)
}

fn object_mut(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}
