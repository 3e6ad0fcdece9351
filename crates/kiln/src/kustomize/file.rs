//! The `kustomization.yaml` file: strict serde types, the fields kiln refuses, and
//! kustomize's legacy field fixes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::KustomizeError;
use crate::input::Inputs;
use crate::transform::{ImageSpec, Target};

/// The names kustomize looks for, in its order.
pub(crate) const FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Fields of kustomize v5 that kiln does not implement: using one is an error, never a
/// silent no-op.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("replacements", "replacements are not supported yet"),
    (
        "vars",
        "vars are not supported (kustomize deprecated them in favour of replacements)",
    ),
    ("helmCharts", "Helm charts are not supported"),
    ("helmGlobals", "Helm charts are not supported"),
    (
        "helmChartInflationGenerator",
        "Helm charts are not supported",
    ),
    ("openapi", "custom OpenAPI schemas are not supported"),
    (
        "configurations",
        "custom transformer configurations are not supported",
    ),
    ("validators", "validators are not supported"),
    (
        "buildMetadata",
        "build metadata annotations are not supported",
    ),
];

/// `apiVersion` of a `Kustomization`.
pub(crate) const KUSTOMIZATION_API: &str = "kustomize.config.k8s.io/v1beta1";
/// `apiVersion` of a `Component`.
pub(crate) const COMPONENT_API: &str = "kustomize.config.k8s.io/v1alpha1";

/// A parsed `kustomization.yaml` (or `Component`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Kustomization {
    #[serde(default)]
    pub(crate) api_version: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
    /// Accepted and unused, as in kustomize.
    #[serde(default, rename = "metadata")]
    pub(crate) _metadata: Option<Value>,
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    #[serde(default)]
    pub(crate) bases: Vec<String>,
    #[serde(default)]
    pub(crate) components: Vec<String>,
    #[serde(default)]
    pub(crate) crds: Vec<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) name_prefix: Option<String>,
    #[serde(default)]
    pub(crate) name_suffix: Option<String>,
    #[serde(default)]
    pub(crate) common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) labels: Vec<LabelSpec>,
    #[serde(default)]
    pub(crate) common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) patches: Vec<PatchSpec>,
    #[serde(default)]
    pub(crate) patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub(crate) patches_json6902: Vec<Json6902Spec>,
    #[serde(default)]
    pub(crate) images: Vec<ImageSpec>,
    #[serde(default)]
    pub(crate) image_tags: Vec<ImageSpec>,
    #[serde(default)]
    pub(crate) replicas: Vec<ReplicaSpec>,
    #[serde(default)]
    pub(crate) config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub(crate) secret_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub(crate) generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub(crate) generators: Vec<String>,
    #[serde(default)]
    pub(crate) transformers: Vec<String>,
    #[serde(default)]
    pub(crate) sort_options: Option<SortOptions>,
}

/// A `labels:` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LabelSpec {
    #[serde(default)]
    pub(crate) pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) include_selectors: bool,
    #[serde(default)]
    pub(crate) include_templates: bool,
    #[serde(default)]
    pub(crate) fields: Vec<Value>,
}

/// A `patches:` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PatchSpec {
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) patch: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<Target>,
    #[serde(default)]
    pub(crate) options: BTreeMap<String, bool>,
}

/// A `patchesJson6902:` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Json6902Spec {
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) patch: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<Target>,
}

/// A `replicas:` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReplicaSpec {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) count: i64,
}

/// A `configMapGenerator:` or `secretGenerator:` entry (`type` only for secrets).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GeneratorArgs {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) behavior: Option<String>,
    #[serde(default)]
    pub(crate) literals: Vec<String>,
    #[serde(default)]
    pub(crate) files: Vec<String>,
    #[serde(default)]
    pub(crate) envs: Vec<String>,
    #[serde(default)]
    pub(crate) env: Option<String>,
    #[serde(default)]
    pub(crate) options: Option<GeneratorOptions>,
    #[serde(default, rename = "type")]
    pub(crate) type_: Option<String>,
}

/// `generatorOptions:` and a generator's `options:`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GeneratorOptions {
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) disable_name_suffix_hash: bool,
    #[serde(default)]
    pub(crate) immutable: bool,
}

/// `sortOptions:`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SortOptions {
    #[serde(default)]
    pub(crate) order: Option<String>,
    #[serde(default)]
    pub(crate) legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LegacySortOptions {
    #[serde(default)]
    pub(crate) order_first: Vec<String>,
    #[serde(default)]
    pub(crate) order_last: Vec<String>,
}

/// The kind of a kustomization file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Kustomization,
    Component,
}

/// A kustomization loaded from its folder.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The folder (canonical): the root for kustomize's load restrictor.
    pub(crate) dir: PathBuf,
    /// The kustomization file.
    pub(crate) file: PathBuf,
    pub(crate) kind: Kind,
    pub(crate) k: Kustomization,
}

/// Finds the kustomization file in `dir` (canonical): exactly one of [`FILE_NAMES`].
pub(crate) fn find(inputs: &Inputs, dir: &Path) -> Result<Option<PathBuf>, crate::Error> {
    let names: Vec<String> = inputs
        .list_dir(dir)?
        .into_iter()
        .filter(|i| !i.is_dir && FILE_NAMES.contains(&i.name.as_str()))
        .map(|i| i.name)
        .collect();
    match names.len() {
        0 => Ok(None),
        1 => Ok(Some(dir.join(&names[0]))),
        _ => Err(KustomizeError::ManyFiles {
            dir: inputs.display(dir),
            names: names.join(", "),
        }
        .into()),
    }
}

/// Reads and checks the kustomization file `file` in the folder `dir`.
pub(crate) fn load(inputs: &Inputs, dir: &Path, file: &Path) -> Result<Loaded, crate::Error> {
    let text = inputs.read_text(file)?;
    let shown = inputs.display(file);
    let value = crate::yaml::parse_one(&text, &shown)?;
    match &value {
        Value::Object(map) => {
            for (field, why) in UNSUPPORTED {
                // In any case, as kustomize reads fields (see `field_case`).
                if let Some(key) = map.keys().find(|k| k.eq_ignore_ascii_case(field)) {
                    return Err(KustomizeError::Unsupported {
                        file: shown,
                        line: key_line(&text, key),
                        field: (*field).to_string(),
                        why: (*why).to_string(),
                    }
                    .into());
                }
            }
        }
        Value::Null => {}
        other => {
            return Err(crate::error::YamlError::new(
                &shown,
                None,
                format!(
                    "a kustomization must be a mapping, found {}",
                    crate::resource::type_name(other)
                ),
            )
            .into());
        }
    }
    // kustomize refuses a kustomization that sets nothing (its type fields aside); an
    // empty list or mapping counts as set.
    let is_empty = match &value {
        Value::Object(map) => map.iter().all(|(key, v)| {
            key == "apiVersion" || key == "kind" || v.is_null() || v.as_str() == Some("")
        }),
        _ => true,
    };
    if is_empty {
        return Err(KustomizeError::Invalid {
            file: shown,
            message: "the kustomization is empty".into(),
        }
        .into());
    }
    let text = match &value {
        Value::Object(map) => {
            field_case(&text, map).map_err(|message| KustomizeError::Invalid {
                file: shown.clone(),
                message,
            })?
        }
        _ => text,
    };
    let mut k: Kustomization =
        serde_yaml::from_str(&text).map_err(|e| crate::error::YamlError::from_serde(&shown, &e))?;
    let kind = match k.kind.as_deref() {
        None | Some("") | Some("Kustomization") => Kind::Kustomization,
        Some("Component") => Kind::Component,
        Some(other) => {
            return Err(KustomizeError::Invalid {
                file: shown,
                message: format!("unknown kind `{other}`, expected `Kustomization` or `Component`"),
            }
            .into());
        }
    };
    if let Some(api) = k.api_version.as_deref() {
        let expected = match kind {
            Kind::Kustomization => KUSTOMIZATION_API,
            Kind::Component => COMPONENT_API,
        };
        if api != expected {
            return Err(KustomizeError::Invalid {
                file: shown,
                message: format!("apiVersion `{api}` is not `{expected}`"),
            }
            .into());
        }
    }
    fix_legacy(&mut k);
    Ok(Loaded {
        dir: dir.to_path_buf(),
        file: file.to_path_buf(),
        kind,
        k,
    })
}

/// The fields of a kustomization, as [`Kustomization`] spells them.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "crds",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "images",
    "imageTags",
    "replicas",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "generators",
    "transformers",
    "sortOptions",
];

/// kustomize reads a kustomization's fields whatever their case (`nameprefix`,
/// `COMMONLABELS`), as Go's JSON decoding matches struct fields: the top-level keys written
/// in another case are given kiln's spelling. A field written twice in different cases is
/// refused, naming both (kustomize keeps one of them by an order of its own).
fn field_case(text: &str, map: &serde_json::Map<String, Value>) -> Result<String, String> {
    let mut renames: Vec<(&str, &str)> = Vec::new();
    for key in map.keys() {
        if FIELDS.contains(&key.as_str()) {
            continue;
        }
        let Some(field) = FIELDS.iter().find(|f| f.eq_ignore_ascii_case(key)) else {
            continue;
        };
        if let Some(other) = map
            .keys()
            .find(|k| *k != key && k.eq_ignore_ascii_case(field))
        {
            let (a, b) = if other < key {
                (other, key)
            } else {
                (key, other)
            };
            return Err(format!("`{a}` and `{b}` both set `{field}`: keep one"));
        }
        renames.push((key, field));
    }
    if renames.is_empty() {
        return Ok(text.to_string());
    }
    // Top-level keys of a block mapping start their line; a flow mapping keeps its keys
    // and meets the unknown-field error.
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let renamed = renames.iter().find_map(|(from, to)| {
            line.strip_prefix(from)
                .filter(|rest| rest.trim_start().starts_with(':'))
                .map(|rest| format!("{to}{rest}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
    }
    Ok(out)
}

/// kustomize's fixes of deprecated fields: `bases` go after `resources`, `imageTags` after
/// `images`, and `env` joins `envs`.
fn fix_legacy(k: &mut Kustomization) {
    let bases = std::mem::take(&mut k.bases);
    k.resources.extend(bases);
    let tags = std::mem::take(&mut k.image_tags);
    k.images.extend(tags);
    for g in k
        .config_map_generator
        .iter_mut()
        .chain(k.secret_generator.iter_mut())
    {
        if let Some(env) = g.env.take().filter(|e| !e.is_empty()) {
            g.envs.push(env);
        }
    }
}

/// The 1-based line where a top-level `key:` is written, for messages.
pub(crate) fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_line_finds_top_level_keys() {
        let text = "resources:\n- a\nvars:\n- x\n";
        assert_eq!(key_line(text, "vars"), Some(3));
        assert_eq!(key_line(text, "nope"), None);
    }

    #[test]
    fn legacy_fields_are_folded() {
        let mut k: Kustomization = serde_yaml::from_str(
            "resources: [a]\nbases: [b]\nimageTags: [{name: x, newTag: '1'}]\nconfigMapGenerator: [{name: c, env: e.env, envs: [f.env]}]\n",
        )
        .unwrap();
        fix_legacy(&mut k);
        assert_eq!(k.resources, ["a", "b"]);
        assert_eq!(k.images.len(), 1);
        assert_eq!(k.config_map_generator[0].envs, ["f.env", "e.env"]);
    }
}
