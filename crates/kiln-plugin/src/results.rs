//! `results` entries, as the KRM functions specification spells them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resource_list::{annotation, api_version, kind, name, namespace};

/// How serious a [`KrmResult`] is.
///
/// kiln fails the render on any `error`, prints `warning`s and keeps `info`s
/// quiet unless asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The function failed; the render fails too.
    Error,
    /// Something looks wrong but the output is usable.
    Warning,
    /// For information only.
    Info,
}

/// One entry of `ResourceList.results`.
///
/// Build one with [`KrmResult::error`], [`KrmResult::warning`] or
/// [`KrmResult::info`] and attach what it is about:
///
/// ```
/// use kiln_plugin::KrmResult;
/// use serde_json::json;
///
/// let deployment = json!({
///     "apiVersion": "apps/v1",
///     "kind": "Deployment",
///     "metadata": {"name": "api", "namespace": "shop"},
/// });
/// let result = KrmResult::error("image is not pinned")
///     .resource(&deployment)
///     .field("spec.template.spec.containers[0].image");
/// assert_eq!(result.resource_ref.unwrap().name, "api");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KrmResult {
    /// What happened, in a sentence.
    pub message: String,
    /// How serious it is; readers treat a missing severity as `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The resource the result is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_ref: Option<ResourceRef>,
    /// The field of that resource the result is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    /// The file the resource came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    /// Free-form labels for tools that group results.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Names a resource: `resourceRef` in a result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceRef {
    /// `apiVersion` of the resource.
    #[serde(default)]
    pub api_version: String,
    /// `kind` of the resource.
    #[serde(default)]
    pub kind: String,
    /// `metadata.name` of the resource.
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Names a field of a resource: `field` in a result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Field {
    /// Path to the field, e.g. `spec.template.spec.containers[1].image`.
    pub path: String,
    /// The value the field has now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_value: Option<Value>,
    /// The value the function proposes instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_value: Option<Value>,
}

/// Names a file: `file` in a result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct File {
    /// Path of the file, relative to where the resources were read from.
    pub path: String,
    /// Index of the document within a multi-document file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
}

impl KrmResult {
    /// A result of the given severity, about nothing in particular yet.
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            severity: Some(severity),
            resource_ref: None,
            field: None,
            file: None,
            tags: BTreeMap::new(),
        }
    }

    /// An `error` result: the render fails.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// A `warning` result.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    /// An `info` result.
    pub fn info(message: impl Into<String>) -> Self {
        Self::new(Severity::Info, message)
    }

    /// Says which resource this is about, taken from the item's `apiVersion`,
    /// `kind`, `metadata.name` and `metadata.namespace`. When the item carries
    /// the `config.kubernetes.io/path` annotation, the file is set too.
    #[must_use]
    pub fn resource(mut self, item: &Value) -> Self {
        self.resource_ref = Some(ResourceRef {
            api_version: api_version(item).to_owned(),
            kind: kind(item).to_owned(),
            name: name(item).to_owned(),
            namespace: namespace(item).map(str::to_owned),
        });
        if let Some(path) = annotation(item, "config.kubernetes.io/path") {
            let index = annotation(item, "config.kubernetes.io/index").and_then(|i| i.parse().ok());
            self.file = Some(File {
                path: path.to_owned(),
                index,
            });
        }
        self
    }

    /// Says which field of the resource this is about.
    #[must_use]
    pub fn field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(Field {
            path: path.into(),
            current_value: None,
            proposed_value: None,
        });
        self
    }

    /// Says which file this is about.
    #[must_use]
    pub fn file(mut self, path: impl Into<String>, index: Option<u64>) -> Self {
        self.file = Some(File {
            path: path.into(),
            index,
        });
        self
    }

    /// Adds a tag.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Whether this result fails the render (an `error`, or no severity).
    pub fn is_error(&self) -> bool {
        matches!(self.severity, None | Some(Severity::Error))
    }
}
