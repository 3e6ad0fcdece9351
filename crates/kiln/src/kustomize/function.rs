//! KRM functions listed under `generators:` and `transformers:`.
//!
//! Each entry names a file (one or more function configs), a folder (a kustomization whose
//! output are the configs) or holds a config inline. A config says which function runs in
//! its `config.kubernetes.io/function` annotation; kiln runs only
//! `wasip1: {file: PATH, sha256: HEX}` functions, in-process on the plugin runtime, with
//! the sandbox and limits every plugin gets. `exec:` and `container:` functions are
//! refused with directions to rebuild them for `wasip1`.
//!
//! The function gets the config resource itself as its `functionConfig`, or, when the
//! annotation also holds `configMap: {KEY: VALUE}` (kpt's shorthand), a `v1` ConfigMap
//! named after the config resource with that data; the resource then carries nothing but
//! its annotation.
//!
//! A generator gets an empty `ResourceList` and its output joins the resources like a
//! generated ConfigMap (the `kustomize.config.k8s.io/behavior` and
//! `kustomize.config.k8s.io/needs-hash` annotations say how); a transformer gets every
//! resource accumulated so far and its output replaces them.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::file::{Kind, Loaded};
use super::{Annot, KustomizeError, Kustomizer};
use crate::plugin::{Digest, Limits};
use crate::resource::Resource;

const FUNCTION_ANNOTATION: &str = "config.kubernetes.io/function";
const LEGACY_FUNCTION_ANNOTATION: &str = "config.k8s.io/function";
const BEHAVIOR_ANNOTATION: &str = "kustomize.config.k8s.io/behavior";
const NEEDS_HASH_ANNOTATION: &str = "kustomize.config.k8s.io/needs-hash";

/// The `config.kubernetes.io/function` annotation.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionSpec {
    #[serde(default)]
    wasip1: Option<Wasip1>,
    #[serde(default)]
    exec: Option<Value>,
    #[serde(default)]
    container: Option<Value>,
    #[serde(default)]
    starlark: Option<Value>,
    /// String data handed to the function as a `v1` ConfigMap named after the config
    /// (kpt's `configMap:` shorthand), instead of the config resource itself.
    #[serde(default)]
    config_map: Option<BTreeMap<String, crate::plugin::ConfigMapText>>,
    #[serde(flatten)]
    other: HashMap<String, Value>,
}

/// `wasip1: {file, sha256}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wasip1 {
    file: String,
    sha256: String,
}

/// Where a function config came from, for messages.
struct Config {
    res: Resource,
    file: std::path::PathBuf,
}

impl Kustomizer<'_> {
    /// Runs every function of one `generators:` entry; returns what they made.
    pub(crate) fn run_generator(
        &mut self,
        kust: &Loaded,
        entry: &str,
    ) -> Result<Vec<Resource>, crate::Error> {
        let mut out = Vec::new();
        for config in self.function_configs(kust, "generators", entry)? {
            for mut res in self.call(kust, &config, Vec::new())? {
                let annotations = res.metadata_map_mut("annotations");
                let behavior = annotations
                    .remove(BEHAVIOR_ANNOTATION)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "create".into());
                // As Go's strconv.ParseBool, which kustomize uses here.
                let needs_hash = annotations.remove(NEEDS_HASH_ANNOTATION).is_some_and(|v| {
                    v == Value::Bool(true)
                        || matches!(v.as_str(), Some("1" | "t" | "T" | "true" | "True" | "TRUE"))
                });
                annotations.insert(Annot::BEHAVIOR.into(), Value::String(behavior));
                if needs_hash {
                    annotations.insert(Annot::NEEDS_HASH.into(), "true".into());
                }
                if res.origin.is_none() {
                    res.origin = Some(self.inputs.display(&config.file).display().to_string());
                }
                out.push(res);
            }
        }
        Ok(out)
    }

    /// Runs every function of one `transformers:` entry over `acc`.
    pub(crate) fn run_transformer(
        &mut self,
        kust: &Loaded,
        entry: &str,
        mut acc: Vec<Resource>,
    ) -> Result<Vec<Resource>, crate::Error> {
        for config in self.function_configs(kust, "transformers", entry)? {
            // Build state stays on the host: the function sees the resources as they are.
            let mut saved: HashMap<(String, String, String), Vec<(String, Value)>> = HashMap::new();
            // So does each resource's history (for name references).
            let mut history: HashMap<(String, String, String), History> = acc
                .iter()
                .map(|r| {
                    let h = (
                        r.original_namespace.clone(),
                        r.name_prefixes.clone(),
                        r.name_suffixes.clone(),
                    );
                    (key(r), h)
                })
                .collect();
            for r in &mut acc {
                let Some(Value::Object(a)) = r
                    .as_object_mut()
                    .get_mut("metadata")
                    .and_then(|m| m.get_mut("annotations"))
                else {
                    continue;
                };
                let internal: Vec<(String, Value)> = a
                    .iter()
                    .filter(|(k, _)| k.starts_with(Annot::PREFIX))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if internal.is_empty() {
                    continue;
                }
                a.retain(|k, _| !k.starts_with(Annot::PREFIX));
                if a.is_empty()
                    && let Some(Value::Object(m)) = r.as_object_mut().get_mut("metadata")
                {
                    m.remove("annotations");
                }
                saved.insert(key(r), internal);
            }
            acc = self.call(kust, &config, acc)?;
            for r in &mut acc {
                if let Some(internal) = saved.remove(&key(r)) {
                    let a = r.metadata_map_mut("annotations");
                    a.extend(internal);
                }
                if let Some((namespace, prefixes, suffixes)) = history.remove(&key(r)) {
                    r.original_namespace = namespace;
                    r.name_prefixes = prefixes;
                    r.name_suffixes = suffixes;
                }
            }
        }
        Ok(acc)
    }

    /// Loads the function configs of one entry.
    fn function_configs(
        &mut self,
        kust: &Loaded,
        field: &'static str,
        entry: &str,
    ) -> Result<Vec<Config>, crate::Error> {
        if entry.contains('\n') {
            let shown = self.inputs.display(&kust.file);
            let rs = crate::yaml::parse_resources(entry, &shown)?;
            return Ok(rs
                .into_iter()
                .map(|res| Config {
                    res,
                    file: kust.file.clone(),
                })
                .collect());
        }
        let path = self.inputs.resolve(&kust.dir, entry, &kust.file)?;
        if path.is_dir() {
            let sub = self.load_dir(kust, field, entry, &path, Kind::Kustomization)?;
            let rs = self.build_sub(&sub, &path)?;
            return Ok(rs
                .into_iter()
                .map(|res| Config {
                    res,
                    file: sub.file.clone(),
                })
                .collect());
        }
        self.restrict(kust, entry, &path)?;
        let text = self.inputs.read_text(&path)?;
        let shown = self.inputs.display(&path);
        let rs = crate::yaml::parse_resources(&text, &shown)?;
        Ok(rs
            .into_iter()
            .map(|res| Config {
                res,
                file: path.clone(),
            })
            .collect())
    }

    /// Runs one function on `items`.
    fn call(
        &mut self,
        kust: &Loaded,
        config: &Config,
        items: Vec<Resource>,
    ) -> Result<Vec<Resource>, crate::Error> {
        let function = config.res.to_string();
        let err = |message: String| -> crate::Error {
            KustomizeError::Function {
                file: self.inputs.display(&config.file),
                function: function.clone(),
                message,
            }
            .into()
        };
        let annotations = config.res.metadata_map("annotations");
        let spec_text = annotations
            .and_then(|a| {
                a.get(FUNCTION_ANNOTATION)
                    .or_else(|| a.get(LEGACY_FUNCTION_ANNOTATION))
            })
            .and_then(Value::as_str);
        let Some(spec_text) = spec_text else {
            if config.res.api_version() == "builtin" {
                return Err(err(
                    "kustomize's built-in transformer and generator configs are not supported; \
                     use the matching kustomization field (`patches`, `namespace`, `labels`, ...)"
                        .into(),
                ));
            }
            return Err(err(format!(
                "no `{FUNCTION_ANNOTATION}` annotation: kiln runs KRM functions declared with \
                 `wasip1: {{file: PATH, sha256: HEX}}` in that annotation (kustomize's legacy Go and exec plugins are not supported)"
            )));
        };
        let spec: FunctionSpec = serde_yaml::from_str(spec_text).map_err(|e| {
            err(format!(
                "`{FUNCTION_ANNOTATION}` is not valid: {}",
                crate::error::strip_location(&e.to_string())
            ))
        })?;
        let how_to_move = "build the function for WASI preview 1 (Go: `GOOS=wasip1 GOARCH=wasm go build`; \
             Rust: `cargo build --target wasm32-wasip1`), pin it with `kiln plugin digest FILE`, and \
             declare it as `wasip1: {file: PATH, sha256: HEX}`";
        if spec.exec.is_some() {
            return Err(err(format!(
                "`exec:` functions are refused: kiln runs functions only in its WASM sandbox; {how_to_move}"
            )));
        }
        if spec.container.is_some() {
            return Err(err(format!(
                "`container:` functions are refused: kiln runs functions only in its WASM sandbox, not in containers; {how_to_move}"
            )));
        }
        if spec.starlark.is_some() {
            return Err(err(format!(
                "`starlark:` functions are not supported; {how_to_move}"
            )));
        }
        let Some(w) = spec.wasip1 else {
            let fields: Vec<&String> = spec.other.keys().collect();
            return Err(err(format!(
                "`{FUNCTION_ANNOTATION}` declares no `wasip1:` function{}",
                if fields.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (found {})",
                        fields
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )));
        };
        if let Some(f) = spec.other.keys().next() {
            return Err(err(format!("`{f}` is not supported next to `wasip1:`")));
        }
        let function_config = match &spec.config_map {
            None => config.res.to_value(),
            Some(data) => {
                // The resource then only carries the annotation: a field of its own would
                // be a second config that the function never sees.
                let own = config
                    .res
                    .as_object()
                    .keys()
                    .find(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"));
                if let Some(field) = own {
                    return Err(err(format!(
                        "the config is given twice: in the resource's `{field}` and in \
                         `configMap:` of its `{FUNCTION_ANNOTATION}` annotation; keep one"
                    )));
                }
                crate::plugin::config_map(config.res.name(), data)
            }
        };
        let expected: Digest = w
            .sha256
            .parse()
            .map_err(|e: String| err(format!("`wasip1.sha256`: {e}")))?;
        // The wasm is named relative to the kustomization, anywhere inside the project.
        let wasm_path = self.inputs.resolve(&kust.dir, &w.file, &config.file)?;
        let wasm = self.inputs.read(&wasm_path)?;
        let found = Digest::of(&wasm);
        if found != expected {
            return Err(err(format!(
                "`{}` has sha256 {found}, but the function is pinned to {expected}",
                self.inputs.display(&wasm_path).display()
            )));
        }
        let Some(runtime) = self.plugins else {
            return Err(err(
                "WASM functions need the plugin runtime, which this build has not got".into(),
            ));
        };
        let output = runtime
            .run(
                &function,
                &expected,
                &wasm,
                Some(&function_config),
                &Limits::default(),
                items,
            )
            .map_err(|source| KustomizeError::FunctionFailed {
                file: self.inputs.display(&config.file),
                source: Box::new(source),
            })?;
        let shown = self.inputs.display(&config.file);
        self.warnings.extend(
            output
                .messages
                .into_iter()
                .map(|m| format!("function `{function}` (`{}`): {m}", shown.display())),
        );
        Ok(output.items)
    }
}

/// A resource's original namespace, name prefixes and name suffixes.
type History = (Option<String>, Vec<String>, Vec<String>);

fn key(r: &Resource) -> (String, String, String) {
    (
        r.kind().to_string(),
        r.namespace().to_string(),
        r.name().to_string(),
    )
}
