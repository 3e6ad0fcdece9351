//! Building kustomizations (`kustomization.yaml`) with kustomize v5 semantics.
//!
//! A build follows kustomize's own sequence. In each kustomization: its `resources` (files
//! and folders, each folder built on its own first), then its generators
//! (`configMapGenerator`, `secretGenerator`, `generators:`), then its `components` (each
//! works on the resources accumulated so far), then its transformers (strategic merge
//! patches, `patches`, namespace, name prefix and suffix, labels, annotations, JSON 6902
//! patches, replicas, images, then `transformers:`). Once, at the top: the content-hash
//! suffixes of generated objects, the name references to every renamed resource, and the
//! output order.
//!
//! Files are read through [`Inputs`] (so they count for the render key and stay inside the
//! project root) and, as kustomize's load restrictor requires, a *file* must sit in or
//! below the folder of the kustomization that names it; folders (bases, components) may be
//! anywhere in the project.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::input::Inputs;
use crate::resource::Resource;
use crate::transform::Rename;

mod file;
mod function;
pub(crate) mod generate;
mod hash;
mod order;
mod steps;

use file::{Kind, Loaded};
use generate::{Behavior, GenKind};

/// A kustomization that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// The kustomization uses a field kiln does not support.
    #[error("`{}`{}: `{field}` is not supported: {why}", file.display(), crate::error::fmt_pos(*line, None))]
    Unsupported {
        /// The kustomization file.
        file: PathBuf,
        /// The line of the field, when known.
        line: Option<usize>,
        /// The field.
        field: String,
        /// Why, or what to do instead.
        why: String,
    },
    /// A kustomization file is not valid.
    #[error("`{}`: {message}", file.display())]
    Invalid {
        /// The kustomization file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A folder holds more than one kustomization file.
    #[error("`{}`: found more than one kustomization file ({names})", dir.display())]
    ManyFiles {
        /// The folder.
        dir: PathBuf,
        /// The files found.
        names: String,
    },
    /// The folder to build holds no kustomization file.
    #[error(
        "`{}`: no kustomization file (kustomization.yaml, kustomization.yml or Kustomization)",
        dir.display()
    )]
    NotFound {
        /// The folder.
        dir: PathBuf,
    },
    /// A folder named as a base or component holds no kustomization file.
    #[error(
        "`{}`: `{entry}` is a folder without a kustomization file (kustomization.yaml, kustomization.yml or Kustomization)",
        file.display()
    )]
    NoKustomization {
        /// The kustomization that names the folder.
        file: PathBuf,
        /// The entry as written.
        entry: String,
    },
    /// A file outside the kustomization's folder (kustomize's load restrictor).
    #[error(
        "`{}`: `{entry}` is outside the kustomization's folder `{}`: a kustomization may only read files in or below its own folder (folders of bases and components may be anywhere)",
        file.display(), root.display()
    )]
    OutsideKustomization {
        /// The kustomization that names the file.
        file: PathBuf,
        /// The entry as written.
        entry: String,
        /// The kustomization's folder.
        root: PathBuf,
    },
    /// A folder is its own base, directly or through others.
    #[error("`{}`: `{entry}` includes itself (cycle: {cycle})", file.display())]
    Cycle {
        /// The kustomization that names the folder.
        file: PathBuf,
        /// The entry as written.
        entry: String,
        /// The folders of the cycle.
        cycle: String,
    },
    /// A `resources`, `components`, patch or generator entry is not usable.
    #[error("`{}`: {field} entry `{entry}`: {message}", file.display())]
    Entry {
        /// The kustomization file.
        file: PathBuf,
        /// The field (`resources`, `components`, ...).
        field: &'static str,
        /// The entry as written.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// A ConfigMap or Secret generator failed.
    #[error("`{}`: {field} `{name}`: {message}", file.display())]
    Generator {
        /// The kustomization file.
        file: PathBuf,
        /// `configMapGenerator` or `secretGenerator`.
        field: &'static str,
        /// The generator's `name`.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Two resources with the same id (group, version, kind, name and namespace).
    #[error("{}", duplicate_message(id, first, second))]
    Duplicate {
        /// `Kind/name` or `Kind/namespace/name`.
        id: String,
        /// The file the first one came from.
        first: String,
        /// The file the second one came from.
        second: String,
    },
    /// A KRM function failed (the plugin error names the function and its digest).
    #[error("`{}`: {source}", file.display())]
    FunctionFailed {
        /// The file holding the function's config.
        file: PathBuf,
        /// The plugin's failure.
        #[source]
        source: Box<crate::plugin::PluginError>,
    },
    /// A KRM function listed under `generators:` or `transformers:` cannot run.
    #[error("`{}`: function `{function}`: {message}", file.display())]
    Function {
        /// The file holding the function's config.
        file: PathBuf,
        /// The config's `Kind/name`.
        function: String,
        /// What is wrong.
        message: String,
    },
}

fn duplicate_message(id: &str, first: &str, second: &str) -> String {
    if first == second {
        format!(
            "duplicate resource {id}: `{first}` is included twice; a base reached through \
             two kustomizations needs a different namePrefix, nameSuffix or namespace in each"
        )
    } else {
        format!("duplicate resource {id}: defined in `{first}` and in `{second}`")
    }
}

/// Internal annotations that carry build state on the resources; removed from the output.
pub(crate) struct Annot;

impl Annot {
    /// Set on a generated object whose name gets the content hash at the end.
    pub(crate) const NEEDS_HASH: &'static str = "internal.kiln.dev/needs-hash";
    /// How a generated object joins existing resources (`create`, `merge`, `replace`).
    pub(crate) const BEHAVIOR: &'static str = "internal.kiln.dev/behavior";
    /// The prefix of all of the above.
    pub(crate) const PREFIX: &'static str = "internal.kiln.dev/";
}

/// Builds the kustomization in `dir` (canonical): the resources `kustomize build DIR`
/// prints, in its order.
pub(crate) fn build(
    inputs: &Inputs,
    plugins: Option<&crate::plugin::Runtime>,
    dir: &Path,
) -> Result<Built, crate::Error> {
    let mut k = Kustomizer {
        inputs,
        plugins,
        stack: Vec::new(),
        renames: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(file) = file::find(inputs, dir)? else {
        return Err(KustomizeError::NotFound {
            dir: inputs.display(dir),
        }
        .into());
    };
    let top = file::load(inputs, dir, &file)?;
    k.stack.push(dir.to_path_buf());
    let mut resources = k.accumulate(&top, Vec::new())?;
    k.add_hash_suffixes(&mut resources);
    let renames = std::mem::take(&mut k.renames);
    if !renames.is_empty() {
        crate::transform::update_name_references(&mut resources, &renames)?;
    }
    for r in &mut resources {
        strip_internal(r);
    }
    order::sort(&top, &mut resources).map_err(|message| KustomizeError::Invalid {
        file: inputs.display(&top.file),
        message,
    })?;
    Ok(Built {
        resources,
        warnings: k.warnings,
    })
}

/// The state of one build.
pub(crate) struct Kustomizer<'a> {
    pub(crate) inputs: &'a Inputs,
    pub(crate) plugins: Option<&'a crate::plugin::Runtime>,
    /// The folders being built, outermost first (for cycle detection).
    stack: Vec<PathBuf>,
    /// Every identity change so far (oldest first), for name references and for finding
    /// the resource a generator merges into.
    pub(crate) renames: Vec<Rename>,
    /// Warnings and infos reported by functions.
    pub(crate) warnings: Vec<String>,
}

/// The result of building a kustomization.
#[derive(Debug)]
pub(crate) struct Built {
    /// The resources, in output order.
    pub(crate) resources: Vec<Resource>,
    /// Warnings and infos reported by KRM functions.
    pub(crate) warnings: Vec<String>,
}

impl Kustomizer<'_> {
    /// Runs one kustomization (or component) over `acc`, the resources accumulated so far
    /// (empty for a kustomization, the parent's for a component).
    fn accumulate(
        &mut self,
        kust: &Loaded,
        mut acc: Vec<Resource>,
    ) -> Result<Vec<Resource>, crate::Error> {
        self.accumulate_resources(kust, &mut acc)?;
        self.load_crds(kust)?;
        for args in &kust.k.config_map_generator {
            let res = self.generate(kust, GenKind::ConfigMap, args)?;
            self.absorb(kust, GenKind::ConfigMap, &mut acc, res)?;
        }
        for args in &kust.k.secret_generator {
            let res = self.generate(kust, GenKind::Secret, args)?;
            self.absorb(kust, GenKind::Secret, &mut acc, res)?;
        }
        for entry in &kust.k.generators {
            for res in self.run_generator(kust, entry)? {
                self.absorb_generated(kust, &mut acc, res)?;
            }
        }
        for entry in &kust.k.components {
            let path = self.resolve_dir(kust, "components", entry)?;
            let sub = self.load_dir(kust, "components", entry, &path, Kind::Component)?;
            self.stack.push(path);
            let result = self.accumulate(&sub, acc);
            self.stack.pop();
            acc = result?;
        }
        self.builtin_transformers(kust, &mut acc)?;
        for entry in &kust.k.transformers {
            acc = self.run_transformer(kust, entry, acc)?;
        }
        Ok(acc)
    }

    /// `resources:` (with `bases:` folded in): files are read, folders are built.
    fn accumulate_resources(
        &mut self,
        kust: &Loaded,
        acc: &mut Vec<Resource>,
    ) -> Result<(), crate::Error> {
        for entry in &kust.k.resources {
            if is_remote(entry) {
                return Err(self.entry_err(
                    kust,
                    "resources",
                    entry,
                    "remote resources are not supported: vendor the files into the project",
                ));
            }
            let path = self.inputs.resolve(&kust.dir, entry, &kust.file)?;
            if path.is_dir() {
                let sub = self.load_dir(kust, "resources", entry, &path, Kind::Kustomization)?;
                let built = self.build_sub(&sub, &path)?;
                append_all(acc, built)?;
            } else {
                self.restrict(kust, entry, &path)?;
                let text = self.inputs.read_text(&path)?;
                let shown = self.inputs.display(&path);
                let mut rs = crate::yaml::parse_resources(&text, &shown)?;
                let origin = shown.display().to_string();
                for r in &mut rs {
                    r.origin = Some(origin.clone());
                }
                append_all(acc, rs)?;
            }
        }
        Ok(())
    }

    /// Builds a base folder on its own.
    pub(crate) fn build_sub(
        &mut self,
        sub: &Loaded,
        path: &Path,
    ) -> Result<Vec<Resource>, crate::Error> {
        self.stack.push(path.to_path_buf());
        let built = self.accumulate(sub, Vec::new());
        self.stack.pop();
        built
    }

    /// `crds:`: files of CRDs (or OpenAPI definitions). kustomize reads them only for the
    /// name references their schemas declare (`x-kubernetes-object-ref-*`), which kiln
    /// does not support: such a schema is an error, any other is read and checked only.
    fn load_crds(&self, kust: &Loaded) -> Result<(), crate::Error> {
        for entry in &kust.k.crds {
            let (path, text) = self.read_local_text(kust, entry)?;
            crate::yaml::parse_stream(&text, &self.inputs.display(&path))?;
            if text.contains("x-kubernetes-object-ref-") {
                return Err(KustomizeError::Unsupported {
                    file: self.inputs.display(&kust.file),
                    line: file::key_line(&self.inputs.read_text(&kust.file)?, "crds"),
                    field: "crds".into(),
                    why: format!(
                        "`{}` declares name references (`x-kubernetes-object-ref-*`), which kiln does not follow",
                        self.inputs.display(&path).display()
                    ),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Resolves a folder entry (`components:`).
    fn resolve_dir(
        &self,
        kust: &Loaded,
        field: &'static str,
        entry: &str,
    ) -> Result<PathBuf, crate::Error> {
        if is_remote(entry) {
            return Err(self.entry_err(kust, field, entry, "remote components are not supported"));
        }
        let path = self.inputs.resolve(&kust.dir, entry, &kust.file)?;
        if !path.is_dir() {
            return Err(self.entry_err(
                kust,
                field,
                entry,
                "a component must be a folder with a kustomization",
            ));
        }
        Ok(path)
    }

    /// Loads the kustomization of a base or component folder, checking its kind and cycles.
    pub(crate) fn load_dir(
        &self,
        kust: &Loaded,
        field: &'static str,
        entry: &str,
        path: &Path,
        expect: Kind,
    ) -> Result<Loaded, crate::Error> {
        if let Some(i) = self.stack.iter().position(|d| d == path) {
            let cycle = self.stack[i..]
                .iter()
                .chain(std::iter::once(&path.to_path_buf()))
                .map(|d| format!("`{}`", self.inputs.display(d).display()))
                .collect::<Vec<_>>()
                .join(" -> ");
            return Err(KustomizeError::Cycle {
                file: self.inputs.display(&kust.file),
                entry: entry.to_string(),
                cycle,
            }
            .into());
        }
        let Some(file) = file::find(self.inputs, path)? else {
            return Err(KustomizeError::NoKustomization {
                file: self.inputs.display(&kust.file),
                entry: entry.to_string(),
            }
            .into());
        };
        let sub = file::load(self.inputs, path, &file)?;
        match (expect, sub.kind) {
            (Kind::Component, Kind::Kustomization) => Err(self.entry_err(
                kust,
                field,
                entry,
                &format!(
                    "`{}` is a Kustomization; components must have `kind: Component`",
                    self.inputs.display(&file).display()
                ),
            )),
            (Kind::Kustomization, Kind::Component) => Err(self.entry_err(
                kust,
                field,
                entry,
                &format!(
                    "`{}` is a Component; list it under `components:`",
                    self.inputs.display(&file).display()
                ),
            )),
            _ => Ok(sub),
        }
    }

    /// kustomize's load restrictor: `path` (resolved, canonical) must be in or below the
    /// kustomization's folder.
    pub(crate) fn restrict(
        &self,
        kust: &Loaded,
        entry: &str,
        path: &Path,
    ) -> Result<(), crate::Error> {
        if path.starts_with(&kust.dir) {
            Ok(())
        } else {
            Err(KustomizeError::OutsideKustomization {
                file: self.inputs.display(&kust.file),
                entry: entry.to_string(),
                root: self.inputs.display(&kust.dir),
            }
            .into())
        }
    }

    /// Reads a file named in the kustomization, under the load restrictor.
    pub(crate) fn read_local(
        &self,
        kust: &Loaded,
        entry: &str,
    ) -> Result<(PathBuf, Vec<u8>), crate::Error> {
        let path = self.inputs.resolve(&kust.dir, entry, &kust.file)?;
        self.restrict(kust, entry, &path)?;
        let bytes = self.inputs.read(&path)?;
        Ok((path, bytes))
    }

    /// Reads a text file named in the kustomization, under the load restrictor.
    pub(crate) fn read_local_text(
        &self,
        kust: &Loaded,
        entry: &str,
    ) -> Result<(PathBuf, String), crate::Error> {
        let path = self.inputs.resolve(&kust.dir, entry, &kust.file)?;
        self.restrict(kust, entry, &path)?;
        let text = self.inputs.read_text(&path)?;
        Ok((path, text))
    }

    pub(crate) fn entry_err(
        &self,
        kust: &Loaded,
        field: &'static str,
        entry: &str,
        message: &str,
    ) -> crate::Error {
        KustomizeError::Entry {
            file: self.inputs.display(&kust.file),
            field,
            entry: entry.to_string(),
            message: message.to_string(),
        }
        .into()
    }

    /// Adds a generated object to the resources according to its behavior, as kustomize
    /// does: `create` needs no resource with its id; `merge` and `replace` need exactly one
    /// resource that has or had its id, and keep that resource's name, namespace and place,
    /// merging labels and annotations (and, for `merge`, `data` and `binaryData`).
    fn absorb(
        &self,
        kust: &Loaded,
        kind: GenKind,
        acc: &mut Vec<Resource>,
        mut res: Resource,
    ) -> Result<(), crate::Error> {
        let behavior = res
            .metadata_map_mut("annotations")
            .remove(Annot::BEHAVIOR)
            .and_then(|v| v.as_str().and_then(Behavior::parse))
            .unwrap_or(Behavior::Create);
        drop_empty_annotations(&mut res);
        let err = |message: String| -> crate::Error {
            KustomizeError::Generator {
                file: self.inputs.display(&kust.file),
                field: kind.field(),
                name: res.name().to_string(),
                message,
            }
            .into()
        };
        let matches: Vec<usize> = acc
            .iter()
            .enumerate()
            .filter(|(_, old)| had_id(old, &res, &self.renames))
            .map(|(i, _)| i)
            .collect();
        let index = match (matches.as_slice(), behavior) {
            ([], Behavior::Create) => {
                acc.push(res);
                return Ok(());
            }
            ([], b) => {
                return Err(err(format!(
                    "behavior `{}` needs an existing {} `{}`{}, and there is none",
                    b.as_str(),
                    res.kind(),
                    res.name(),
                    ns_phrase(&res)
                )));
            }
            ([_], Behavior::Create) => {
                return Err(err(format!(
                    "{} `{}`{} already exists: set `behavior: merge` or `behavior: replace`",
                    res.kind(),
                    res.name(),
                    ns_phrase(&res)
                )));
            }
            ([i], _) => *i,
            (many, _) => {
                let ids: Vec<String> = many.iter().map(|&i| acc[i].to_string()).collect();
                return Err(err(format!(
                    "more than one resource could take the {}: {}",
                    behavior.as_str(),
                    ids.join(", ")
                )));
            }
        };
        let old = &acc[index];
        merge_metadata(&mut res, old);
        if behavior == Behavior::Merge {
            for field in ["data", "binaryData"] {
                let mut merged: std::collections::BTreeMap<String, Value> =
                    std::collections::BTreeMap::new();
                for src in [old.as_object().get(field), res.as_object().get(field)] {
                    if let Some(Value::Object(m)) = src {
                        merged.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                if !merged.is_empty() {
                    res.as_object_mut()
                        .insert(field.into(), Value::Object(merged.into_iter().collect()));
                }
            }
        }
        res.origin = old.origin.clone().or(res.origin);
        acc[index] = res;
        Ok(())
    }

    /// Adds an object made by a `generators:` function: its `kustomize.config.k8s.io/
    /// behavior` and `needs-hash` annotations say how, as with kustomize.
    fn absorb_generated(
        &self,
        kust: &Loaded,
        acc: &mut Vec<Resource>,
        res: Resource,
    ) -> Result<(), crate::Error> {
        let kind = if res.kind() == "Secret" {
            GenKind::Secret
        } else {
            GenKind::ConfigMap
        };
        self.absorb(kust, kind, acc, res)
    }

    /// Appends the content hash to the name of every generated object that wants it, and
    /// records the renames.
    fn add_hash_suffixes(&mut self, resources: &mut [Resource]) {
        for r in resources.iter_mut() {
            let wants = r
                .metadata_map("annotations")
                .is_some_and(|a| a.contains_key(Annot::NEEDS_HASH));
            if !wants {
                continue;
            }
            let old = r.name().to_string();
            let new = format!("{old}-{}", hash::name_hash(r));
            if r.original_name.is_none() {
                r.original_name = Some(old.clone());
            }
            if r.original_namespace.is_none() {
                r.original_namespace = Some(r.namespace().to_string());
            }
            r.set_name(&new);
            self.renames.push(Rename {
                group: r.group().to_string(),
                kind: r.kind().to_string(),
                old_namespace: r.namespace().to_string(),
                old_name: old,
                new_namespace: r.namespace().to_string(),
                new_name: new,
            });
        }
    }
}

/// Whether `old` has, or once had, the identity of `new` (group, version, kind, name and
/// namespace, `default` standing for no namespace).
/// The earlier identities come from `renames`, followed back from `old`'s current one.
fn had_id(old: &Resource, new: &Resource, renames: &[Rename]) -> bool {
    if old.group() != new.group() || old.version() != new.version() || old.kind() != new.kind() {
        return false;
    }
    let mut ids = vec![(effective_ns(old, old.namespace()), old.name().to_string())];
    for rn in renames.iter().rev() {
        if rn.group == old.group() && rn.kind == old.kind() {
            let to = (effective_ns(old, &rn.new_namespace), rn.new_name.clone());
            if ids.contains(&to) {
                ids.push((effective_ns(old, &rn.old_namespace), rn.old_name.clone()));
            }
        }
    }
    let want = (effective_ns(new, new.namespace()), new.name().to_string());
    ids.contains(&want)
}

fn effective_ns(r: &Resource, ns: &str) -> String {
    if !r.is_namespaced() {
        String::new()
    } else if ns.is_empty() {
        "default".into()
    } else {
        ns.to_string()
    }
}

fn ns_phrase(r: &Resource) -> String {
    if r.namespace().is_empty() {
        String::new()
    } else {
        format!(" in namespace `{}`", r.namespace())
    }
}

/// What kustomize copies from the existing object into the one that merges into or
/// replaces it: labels and annotations (the new ones win), its name and namespace, and its
/// build state; a content hash is added only when both objects want one.
fn merge_metadata(res: &mut Resource, old: &Resource) {
    for key in ["labels", "annotations"] {
        let mut merged = old.metadata_map(key).cloned().unwrap_or_default();
        for (k, v) in res.metadata_map(key).cloned().unwrap_or_default() {
            merged.insert(k, v);
        }
        if key == "annotations" {
            merged.retain(|k, _| !k.starts_with(Annot::PREFIX));
            let both_hash = [old, &*res].iter().all(|r| {
                r.metadata_map("annotations")
                    .is_some_and(|a| a.contains_key(Annot::NEEDS_HASH))
            });
            if both_hash {
                merged.insert(Annot::NEEDS_HASH.into(), "true".into());
            }
        }
        let meta = res.metadata_mut();
        if merged.is_empty() {
            meta.remove(key);
        } else {
            meta.insert(key.into(), Value::Object(merged.into_iter().collect()));
        }
    }
    res.set_name(old.name());
    if old.namespace().is_empty() {
        res.metadata_mut().remove("namespace");
    } else {
        res.set_namespace(old.namespace());
    }
    res.original_name = old.original_name.clone();
    res.original_namespace = old.original_namespace.clone();
    res.name_prefixes = old.name_prefixes.clone();
    res.name_suffixes = old.name_suffixes.clone();
}

/// Appends resources, refusing a second resource with the same id (group, version, kind,
/// name and namespace).
fn append_all(acc: &mut Vec<Resource>, more: Vec<Resource>) -> Result<(), crate::Error> {
    let mut seen: std::collections::HashMap<_, usize> = acc
        .iter()
        .enumerate()
        .map(|(i, r)| (id_key(r), i))
        .collect();
    for r in more {
        let key = id_key(&r);
        if let Some(&i) = seen.get(&key) {
            return Err(KustomizeError::Duplicate {
                id: r.to_string(),
                first: acc[i].origin.clone().unwrap_or_else(|| "?".into()),
                second: r.origin.clone().unwrap_or_else(|| "?".into()),
            }
            .into());
        }
        seen.insert(key, acc.len());
        acc.push(r);
    }
    Ok(())
}

fn id_key(r: &Resource) -> (String, String, String, String, String) {
    (
        r.group().to_string(),
        r.version().to_string(),
        r.kind().to_string(),
        r.name().to_string(),
        effective_ns(r, r.namespace()),
    )
}

/// Removes kiln's build annotations. Like kustomize, drops `metadata.annotations` when
/// that leaves it empty, or when it was empty or null to begin with.
fn strip_internal(r: &mut Resource) {
    let Some(Value::Object(meta)) = r.as_object_mut().get_mut("metadata") else {
        return;
    };
    match meta.get_mut("annotations") {
        Some(Value::Object(a)) => {
            a.retain(|k, _| !k.starts_with(Annot::PREFIX));
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
        Some(Value::Null) => {
            meta.remove("annotations");
        }
        _ => {}
    }
}

fn drop_empty_annotations(r: &mut Resource) {
    if let Some(Value::Object(meta)) = r.as_object_mut().get_mut("metadata")
        && matches!(meta.get("annotations"), Some(Value::Object(a)) if a.is_empty())
    {
        meta.remove("annotations");
    }
}

/// Whether a `resources:` entry is a remote target (a URL or a git repository).
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.contains("?ref=")
        || entry.contains(".git//")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(ns: &str, name: &str, annotations: Value) -> Resource {
        let mut meta = json!({"name": name, "annotations": annotations});
        if !ns.is_empty() {
            meta["namespace"] = json!(ns);
        }
        Resource::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}))
            .unwrap()
    }

    fn rename(old_ns: &str, old: &str, new_ns: &str, new: &str) -> Rename {
        Rename {
            group: String::new(),
            kind: "ConfigMap".into(),
            old_namespace: old_ns.into(),
            old_name: old.into(),
            new_namespace: new_ns.into(),
            new_name: new.into(),
        }
    }

    #[test]
    fn a_generator_finds_the_resource_by_any_earlier_identity() {
        let old = cm("ns1", "p-cm", json!({}));
        // `cm` moved to ns1, then got a prefix.
        let renames = [
            rename("", "cm", "ns1", "cm"),
            rename("ns1", "cm", "ns1", "p-cm"),
        ];
        for (ns, name) in [
            ("", "cm"),
            ("default", "cm"),
            ("ns1", "cm"),
            ("ns1", "p-cm"),
        ] {
            assert!(
                had_id(&old, &cm(ns, name, json!({})), &renames),
                "{ns}/{name}"
            );
        }
        assert!(!had_id(&old, &cm("ns2", "cm", json!({})), &renames));
        assert!(!had_id(&old, &cm("", "p-cm", json!({})), &renames));
    }

    #[test]
    fn merged_objects_keep_the_old_identity_and_hash_only_when_both_want_it() {
        let old = cm(
            "ns1",
            "p-cm",
            json!({"a": "old", (Annot::NEEDS_HASH): "true"}),
        );
        let mut new = cm("", "cm", json!({"a": "new", "b": "new"}));
        merge_metadata(&mut new, &old);
        assert_eq!(new.name(), "p-cm");
        assert_eq!(new.namespace(), "ns1");
        let a = new.metadata_map("annotations").unwrap();
        assert_eq!(a.get("a"), Some(&json!("new")));
        assert!(!a.contains_key(Annot::NEEDS_HASH));

        let mut new = cm("", "cm", json!({(Annot::NEEDS_HASH): "true"}));
        merge_metadata(&mut new, &old);
        assert!(
            new.metadata_map("annotations")
                .unwrap()
                .contains_key(Annot::NEEDS_HASH)
        );
    }

    #[test]
    fn remote_targets_are_recognised() {
        for r in [
            "https://github.com/a/b",
            "github.com/a/b//x?ref=v1",
            "git@github.com:a/b.git",
        ] {
            assert!(is_remote(r), "{r}");
        }
        assert!(!is_remote("../base"));
    }
}
