//! Built-in transforms with kustomize semantics: namespace, images, patches, labels,
//! annotations, replicas, name prefix/suffix with reference updates.
//!
//! Each transform follows what `kustomize build` (v5) does with the same input, including
//! its field lists (kustomize's "field specs"); where kiln deliberately differs, the item's
//! documentation says so.

use serde::Deserialize;
use serde_json::Value;

mod fieldspec;
mod images;
mod json6902;
mod labels;
mod mergekeys;
mod names;
mod namespace;
mod patch;
mod select;

pub(crate) use images::set_images;
pub(crate) use labels::{add_annotations, add_labels, set_replicas};
pub(crate) use names::{add_name_affixes, update_name_references};
pub(crate) use namespace::set_namespace;
#[allow(unused_imports)] // for callers that need kustomize's ID conflict error
pub(crate) use namespace::set_namespace_mapped;
#[cfg(feature = "unstable-internals")]
pub use patch::apply_patch;
#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
pub use patch::parse_patches;
pub(crate) use patch::{Matching, apply_patch_opts};
#[allow(unused_imports)] // for callers that select resources by label
pub(crate) use select::LabelSelector;

/// An `images:` entry (kustomize semantics).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
pub struct ImageSpec {
    /// The image name to match, without tag or digest. Like kustomize, the name is a
    /// regular expression (so `.` matches any character), anchored at both ends.
    pub name: String,
    /// Replaces the name.
    #[serde(default)]
    pub new_name: Option<String>,
    /// Replaces the tag (and drops a digest).
    #[serde(default)]
    pub new_tag: Option<String>,
    /// Replaces the digest (`sha256:…`) and drops the tag, unless `new_tag` is also given:
    /// then the reference carries both, `name:tag@digest`.
    #[serde(default)]
    pub digest: Option<String>,
}

#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
impl ImageSpec {
    /// The reference this entry resolves `name` to, e.g. `example.com/api:1.42.0`, or
    /// `example.com/api:1.42.0@sha256:…` when both a tag and a digest are given.
    pub fn resolved_reference(&self) -> String {
        let name = non_empty(self.new_name.as_deref()).unwrap_or(&self.name);
        let mut out = name.to_string();
        if let Some(t) = non_empty(self.new_tag.as_deref()) {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = non_empty(self.digest.as_deref()) {
            out.push('@');
            out.push_str(d);
        }
        out
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Selects the resources a patch applies to (kustomize's `target:`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
pub struct Target {
    /// API group.
    #[serde(default)]
    pub group: Option<String>,
    /// API version.
    #[serde(default)]
    pub version: Option<String>,
    /// Kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Name (a regular expression, anchored).
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace (a regular expression, anchored).
    #[serde(default)]
    pub namespace: Option<String>,
    /// A label selector, e.g. `app=api,tier!=db`.
    #[serde(default)]
    pub label_selector: Option<String>,
    /// An annotation selector.
    #[serde(default)]
    pub annotation_selector: Option<String>,
}

/// The body of one patch.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
pub enum PatchBody {
    /// A strategic merge patch: a partial resource.
    StrategicMerge(Value),
    /// A JSON 6902 patch: a list of operations.
    Json6902(Value),
}

/// A loaded patch, ready to apply.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "unstable-internals"), allow(unreachable_pub))]
pub struct Patch {
    /// Where it came from, for messages: a file path (relative to the project root), or
    /// `inline patch N` with the file that holds it.
    pub source: String,
    /// The patch.
    pub body: PatchBody,
    /// Which resources it applies to; a strategic merge patch without a target applies to
    /// the resource it names.
    pub target: Option<Target>,
}

/// One change of a resource's identity (its name, its namespace or both), used to update
/// the references other resources hold to it (kustomize's "name reference" step).
///
/// A resource renamed twice (a prefix, then a hash suffix) may have one entry per earlier
/// name; every entry names the resource's current identity in `new_name`/`new_namespace`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Rename {
    /// API group of the resource (empty for the core group).
    pub(crate) group: String,
    /// Kind of the resource.
    pub(crate) kind: String,
    /// The namespace it had (empty when unset or cluster-scoped).
    pub(crate) old_namespace: String,
    /// The name it had.
    pub(crate) old_name: String,
    /// The namespace it has now.
    pub(crate) new_namespace: String,
    /// The name it has now.
    pub(crate) new_name: String,
}

/// A patch that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch's target matches no resource.
    #[error("patch `{patch}`: target {target} matches no resource")]
    NoMatch {
        /// The patch's source.
        patch: String,
        /// The target, described.
        target: String,
    },
    /// The patch could not be applied to a resource.
    #[error("patch `{patch}` on {resource}: {message}")]
    Apply {
        /// The patch's source.
        patch: String,
        /// `Kind/name` of the resource.
        resource: String,
        /// What went wrong.
        message: String,
    },
    /// The patch itself is not valid.
    #[error("patch `{patch}`: {message}")]
    Invalid {
        /// The patch's source.
        patch: String,
        /// What is wrong.
        message: String,
    },
    /// A transform other than a patch (namespace, replicas, name references) failed.
    #[error("{transform}: {message}")]
    Transform {
        /// The transform, e.g. `namespace` or `replicas`.
        transform: String,
        /// What went wrong, naming the resources involved.
        message: String,
    },
}

/// Shorthand used by the submodules' tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::resource::Resource;

    /// Parses YAML resources, panicking on error.
    pub(crate) fn resources(yaml: &str) -> Vec<Resource> {
        crate::yaml::parse_resources(yaml, std::path::Path::new("test.yaml")).unwrap()
    }

    /// Writes resources as YAML.
    pub(crate) fn emit(resources: &[Resource]) -> String {
        crate::yaml::emit_stream(resources)
    }

    /// Parses one YAML value.
    pub(crate) fn yaml(text: &str) -> Value {
        crate::yaml::parse_one(text, std::path::Path::new("test.yaml")).unwrap()
    }
}
