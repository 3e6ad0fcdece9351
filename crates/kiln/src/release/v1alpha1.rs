//! `kiln.dev/v1alpha1` `Release`: the schema, strict (unknown fields are errors).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::transform::{ImageSpec, Target};

/// The API version this module reads.
pub(crate) const API_VERSION: &str = "kiln.dev/v1alpha1";

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReleaseFile {
    #[allow(dead_code)]
    pub(crate) api_version: String,
    #[allow(dead_code)]
    pub(crate) kind: String,
    pub(crate) metadata: Metadata,
    pub(crate) spec: Spec,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Metadata {
    pub(crate) name: String,
    // Labels and annotations are accepted for the user's own bookkeeping; they do not
    // change the render (beyond the release file's digest in the render key).
    #[allow(dead_code)]
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[allow(dead_code)]
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

/// The `spec` of a release.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Spec {
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    #[serde(default)]
    pub(crate) values: Option<Value>,
    #[serde(default)]
    pub(crate) values_files: Vec<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) images: Vec<ImageSpec>,
    #[serde(default)]
    pub(crate) patches: Vec<PatchSpec>,
    #[serde(default)]
    pub(crate) plugins: Vec<PluginSpec>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PatchSpec {
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) patch: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<Target>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PluginSpec {
    pub(crate) name: String,
    pub(crate) wasm: String,
    pub(crate) sha256: String,
    #[serde(default)]
    pub(crate) config: Option<Value>,
    /// String data handed over as a ConfigMap's `data` (what kpt functions expect).
    #[serde(default)]
    pub(crate) config_map: Option<BTreeMap<String, crate::plugin::ConfigMapText>>,
    /// Config keys filled from YAML or JSON files (e.g. `outputs: tf-outputs.json`).
    #[serde(default)]
    pub(crate) config_files: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) timeout: Option<String>,
    #[serde(default)]
    pub(crate) memory: Option<String>,
}
