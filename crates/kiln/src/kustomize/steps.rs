//! The built-in transformers of one kustomization, in kustomize's order: strategic merge
//! patches (`patchesStrategicMerge`), `patches`, `namespace`, `namePrefix`/`nameSuffix`,
//! `labels` then `commonLabels`, `commonAnnotations`, `patchesJson6902`, `replicas`,
//! `images`. The transforms themselves live in [`crate::transform`].

use std::path::PathBuf;

use super::file::Loaded;
use super::{KustomizeError, Kustomizer};
use crate::resource::Resource;
use crate::transform::{self, Patch, PatchBody};

impl Kustomizer<'_> {
    pub(crate) fn builtin_transformers(
        &mut self,
        kust: &Loaded,
        acc: &mut Vec<Resource>,
    ) -> Result<(), crate::Error> {
        let k = &kust.k;

        // patchesStrategicMerge: one transformer for the whole list.
        let mut sm = Vec::new();
        for (i, entry) in k.patches_strategic_merge.iter().enumerate() {
            sm.extend(self.load_sm_patch(kust, i, entry)?);
        }
        for p in &sm {
            transform::apply_patch_opts(acc, p, transform::Matching::default())?;
        }

        // patches: one transformer per entry.
        for (i, spec) in k.patches.iter().enumerate() {
            if let Some(opt) = spec.options.iter().find(|(_, on)| **on).map(|(k, _)| k) {
                return Err(KustomizeError::Unsupported {
                    file: self.inputs.display(&kust.file),
                    line: None,
                    field: format!("patches[{i}].options.{opt}"),
                    why: "patches may not change names or kinds in kiln".into(),
                }
                .into());
            }
            let patches = self.load_patch(
                kust,
                "patches",
                i,
                spec.path.as_deref(),
                spec.patch.as_deref(),
                spec.target.as_ref(),
            )?;
            for p in &patches {
                // kustomize fails a strategic merge patch without a target that names no
                // resource, and quietly skips a targeted patch that selects none.
                transform::apply_patch_opts(
                    acc,
                    p,
                    transform::Matching::required(p.target.is_none()),
                )?;
            }
        }

        if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
            for r in acc.iter_mut() {
                if r.original_namespace.is_none() {
                    r.original_namespace = Some(r.namespace().to_string());
                }
            }
            let renames = transform::set_namespace_mapped(acc, ns)?;
            self.renames.extend(renames);
        }

        let prefix = k.name_prefix.as_deref().unwrap_or_default();
        let suffix = k.name_suffix.as_deref().unwrap_or_default();
        if !prefix.is_empty() || !suffix.is_empty() {
            let renames = transform::add_name_affixes(acc, prefix, suffix);
            self.renames.extend(renames);
        }

        for l in &k.labels {
            if !l.fields.is_empty() {
                return Err(KustomizeError::Unsupported {
                    file: self.inputs.display(&kust.file),
                    line: None,
                    field: "labels[].fields".into(),
                    why: "custom label field specs are not supported".into(),
                }
                .into());
            }
            transform::add_labels(acc, &l.pairs, l.include_selectors, l.include_templates);
        }
        if !k.common_labels.is_empty() {
            transform::add_labels(acc, &k.common_labels, true, true);
        }
        if !k.common_annotations.is_empty() {
            transform::add_annotations(acc, &k.common_annotations);
        }

        for (i, spec) in k.patches_json6902.iter().enumerate() {
            let Some(target) = spec.target.as_ref() else {
                return Err(self.entry_err(
                    kust,
                    "patchesJson6902",
                    &format!("#{}", i + 1),
                    "`target` is required",
                ));
            };
            let patches = self.load_patch(
                kust,
                "patchesJson6902",
                i,
                spec.path.as_deref(),
                spec.patch.as_deref(),
                Some(target),
            )?;
            for p in &patches {
                if !matches!(p.body, PatchBody::Json6902(_)) {
                    return Err(self.entry_err(
                        kust,
                        "patchesJson6902",
                        &p.source,
                        "expected a JSON 6902 patch (a list of operations)",
                    ));
                }
                transform::apply_patch_opts(acc, p, transform::Matching::required(false))?;
            }
        }

        for r in &k.replicas {
            transform::set_replicas(acc, &r.name, r.count)?;
        }

        if !k.images.is_empty() {
            transform::set_images(acc, &k.images);
        }
        Ok(())
    }

    /// One `patchesStrategicMerge` entry: a file path, or an inline patch.
    fn load_sm_patch(
        &self,
        kust: &Loaded,
        index: usize,
        entry: &str,
    ) -> Result<Vec<Patch>, crate::Error> {
        let inline =
            entry.contains('\n') || entry.trim_start().starts_with('{') || entry.contains(": ");
        if inline {
            let source = format!(
                "{}: patchesStrategicMerge[{index}]",
                self.inputs.display(&kust.file).display()
            );
            return transform::parse_patches(
                entry,
                &self.inputs.display(&kust.file),
                &source,
                None,
            );
        }
        let (path, text) = self.read_local_text(kust, entry)?;
        let shown = self.inputs.display(&path);
        transform::parse_patches(&text, &shown, &shown.display().to_string(), None)
    }

    /// A `patches` or `patchesJson6902` entry: `path:` or inline `patch:`, exactly one.
    fn load_patch(
        &self,
        kust: &Loaded,
        field: &'static str,
        index: usize,
        path: Option<&str>,
        inline: Option<&str>,
        target: Option<&transform::Target>,
    ) -> Result<Vec<Patch>, crate::Error> {
        let label = format!("#{}", index + 1);
        match (
            path.filter(|p| !p.is_empty()),
            inline.filter(|p| !p.trim().is_empty()),
        ) {
            (Some(_), Some(_)) => {
                Err(self.entry_err(kust, field, &label, "set `path` or `patch`, not both"))
            }
            (None, None) => Err(self.entry_err(kust, field, &label, "set `path` or `patch`")),
            (Some(p), None) => {
                let (resolved, text) = self.read_local_text(kust, p)?;
                let shown: PathBuf = self.inputs.display(&resolved);
                transform::parse_patches(&text, &shown, &shown.display().to_string(), target)
            }
            (None, Some(text)) => {
                let source = format!(
                    "{}: {field}[{index}]",
                    self.inputs.display(&kust.file).display()
                );
                transform::parse_patches(text, &self.inputs.display(&kust.file), &source, target)
            }
        }
    }
}
