//! The render pipeline of one release: load inputs, render templates, transform, run
//! plugins, order the output.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, InputError, TemplateError};
use crate::input::{Inputs, Sha};
use crate::overrides::Overrides;
use crate::plugin::{Digest, Runtime};
use crate::release::Release;
use crate::resource::{Resource, sort_legacy};
use crate::template::{self, Context};
use crate::transform;

/// File names that make a folder a kustomization.
pub(crate) const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The result of rendering one release, before serialisation.
pub(crate) struct Output {
    pub(crate) resources: Vec<Resource>,
    pub(crate) warnings: Vec<String>,
}

/// Renders a release. Every file read goes through `inputs`.
pub(crate) fn render_release(
    release: &Release,
    overrides: &Overrides,
    runtime: &Runtime,
    parsed: &ParseCache,
    inputs: &Inputs,
) -> Result<Output, Error> {
    let release_file = release.path().to_path_buf();
    inputs.read(&release_file)?;
    let spec = &release.spec;
    let ctx = build_context(release, overrides, inputs)?;

    let mut resources = Vec::new();
    let mut warnings = Vec::new();
    for rel in &spec.resources {
        let path = inputs.resolve(release.dir(), rel, &release_file)?;
        load_resources(
            &path,
            inputs,
            runtime,
            parsed,
            &ctx,
            &mut resources,
            &mut warnings,
        )?;
    }
    check_duplicates(&resources, inputs)?;

    if let Some(ns) = &spec.namespace {
        transform::set_namespace(&mut resources, ns);
    }
    if !spec.images.is_empty() {
        transform::set_images(&mut resources, &spec.images);
    }
    let display = inputs.display(&release_file);
    for (i, p) in spec.patches.iter().enumerate() {
        let patches = match (&p.path, &p.patch) {
            (Some(path), _) => {
                let file = inputs.resolve(release.dir(), path, &release_file)?;
                let text = inputs.read_text(&file)?;
                let shown = inputs.display(&file);
                transform::parse_patches(
                    &text,
                    &shown,
                    &shown.to_string_lossy(),
                    p.target.as_ref(),
                )?
            }
            (None, Some(inline)) => transform::parse_patches(
                inline,
                &display,
                &format!("{} spec.patches[{i}]", display.display()),
                p.target.as_ref(),
            )?,
            (None, None) => Vec::new(),
        };
        let matching = transform::Matching {
            any_namespace: true,
            ..transform::Matching::default()
        };
        for patch in &patches {
            transform::apply_patch_opts(&mut resources, patch, matching)?;
        }
    }

    for plugin in &release.plugins {
        let config = plugin_config(plugin, release, inputs, &release_file)?;
        let wasm_path = inputs.resolve(release.dir(), &plugin.wasm, &release_file)?;
        // A plugin already compiled in this process is checked by its file's digest alone;
        // its bytes are read only to compile it.
        let (wasm, found) = if runtime.is_loaded(&plugin.digest) {
            (Vec::new(), Digest(inputs.digest(&wasm_path)?))
        } else {
            let (bytes, d) = inputs.read_hashed(&wasm_path)?;
            (bytes, Digest(d))
        };
        if found != plugin.digest {
            return Err(Error::DigestMismatch {
                plugin: plugin.name.clone(),
                path: inputs.display(&wasm_path),
                expected: plugin.digest.to_hex(),
                found: found.to_hex(),
            });
        }
        let out = runtime.run(
            &plugin.name,
            &plugin.digest,
            &wasm,
            config.as_deref(),
            &plugin.limits,
            std::mem::take(&mut resources),
        )?;
        resources = out.items;
        warnings.extend(
            out.messages
                .into_iter()
                .map(|m| format!("plugin `{}`: {m}", plugin.name)),
        );
    }
    sort_legacy(&mut resources);
    Ok(Output {
        resources,
        warnings,
    })
}

/// A plugin's config with its `configFiles` read in: each file (YAML or JSON, read
/// through `inputs`, so it is part of the render key) becomes the value of its key.
/// Without `configFiles` the declared config is lent as it is, not copied per call.
fn plugin_config<'a>(
    plugin: &'a crate::release::PluginDecl,
    release: &Release,
    inputs: &Inputs,
    release_file: &Path,
) -> Result<Option<Cow<'a, Value>>, Error> {
    if plugin.config_files.is_empty() {
        return Ok(plugin.config.as_ref().map(Cow::Borrowed));
    }
    let mut config = match &plugin.config {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    for (key, file) in &plugin.config_files {
        let path = inputs.resolve(release.dir(), file, release_file)?;
        let text = inputs.read_text(&path)?;
        let value = crate::yaml::parse_one(&text, &inputs.display(&path))?;
        config.insert(key.clone(), value);
    }
    Ok(Some(Cow::Owned(Value::Object(config))))
}

/// Parsed plain manifests by content digest and origin, shared by the renders of one
/// engine. Bounded: past `MAX` entries it starts over.
#[derive(Debug, Default)]
pub(crate) struct ParseCache {
    map: std::sync::Mutex<HashMap<(Sha, String), Parsed>>,
}

/// The resources of one parsed file.
type Parsed = std::sync::Arc<Vec<Resource>>;

impl ParseCache {
    const MAX: usize = 4096;

    fn get(&self, digest: &Sha, origin: &str) -> Option<Parsed> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(*digest, origin.to_string())).cloned()
    }

    fn put(&self, digest: Sha, origin: String, resources: Vec<Resource>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert((digest, origin), std::sync::Arc::new(resources));
    }
}

/// The string values of the sensitive terraform outputs among a release's values files.
pub(crate) fn sensitive_values(release: &Release) -> Result<Vec<String>, Error> {
    let inputs = Inputs::with_memo(release.root().to_path_buf(), Default::default());
    Ok(build_context(release, &Overrides::default(), &inputs)?.sensitive)
}

/// Builds the template context: values (files in order, then `values` on top, then the
/// parameter overrides), images, the release name, and `kube`/`env` when overridden.
fn build_context(
    release: &Release,
    overrides: &Overrides,
    inputs: &Inputs,
) -> Result<Context, Error> {
    let mut ctx = Context::default();
    let mut values = Value::Object(Map::new());
    for f in &release.spec.values_files {
        let path = inputs.resolve(release.dir(), f, release.path())?;
        let text = inputs.read_text(&path)?;
        let shown = inputs.display(&path);
        let doc = crate::yaml::parse_one(&text, &shown)?;
        let doc = match doc {
            Value::Null => Value::Object(Map::new()),
            Value::Object(_) => template::unwrap_terraform(doc, &mut ctx.sensitive),
            other => {
                return Err(TemplateError::Values {
                    file: shown,
                    message: format!(
                        "a values file must hold a mapping, found {}",
                        crate::resource::type_name(&other)
                    ),
                }
                .into());
            }
        };
        template::deep_merge(&mut values, doc);
    }
    if let Some(v) = &release.spec.values {
        template::deep_merge(&mut values, v.clone());
    }
    overrides.apply(&mut values)?;
    let mut images = Map::new();
    for i in &release.spec.images {
        images.insert(i.name.clone(), Value::String(i.resolved_reference()));
    }
    let mut rel = Map::new();
    rel.insert("name".into(), Value::String(release.name().to_string()));
    let mut root = Map::new();
    root.insert("values".into(), values);
    root.insert("images".into(), Value::Object(images));
    root.insert("release".into(), Value::Object(rel));
    overrides.extend_context(&mut root);
    ctx.value = Value::Object(root);
    Ok(ctx)
}

fn is_template(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("j2" | "jinja")
    )
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "j2" | "jinja")
    )
}

/// Loads a `resources:` entry: a file, a template, a kustomization folder or a plain
/// folder (every manifest in it, in name order, subfolders included).
fn load_resources(
    path: &Path,
    inputs: &Inputs,
    runtime: &Runtime,
    parsed: &ParseCache,
    ctx: &Context,
    out: &mut Vec<Resource>,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    if path.is_dir() {
        if KUSTOMIZATION_FILES.iter().any(|k| path.join(k).is_file()) {
            let built = crate::kustomize::build(inputs, Some(runtime), path)?;
            out.extend(built.resources);
            warnings.extend(built.warnings);
            return Ok(());
        }
        for item in inputs.list_dir(path)? {
            if item.is_dir || is_manifest(&item.path) {
                // Resolve again so a symlink inside the folder cannot leave the root.
                let resolved = inputs.resolve(path, &item.name, &path.join(&item.name))?;
                load_resources(&resolved, inputs, runtime, parsed, ctx, out, warnings)?;
            }
        }
        return Ok(());
    }
    let shown = inputs.display(path);
    let origin = shown.to_string_lossy().into_owned();
    if !is_template(path) {
        // Plain manifests are parsed once per process and content: a base shared by a
        // fleet is parsed once, not once per release.
        let digest = inputs.digest(path)?;
        if let Some(hit) = parsed.get(&digest, &origin) {
            out.extend(hit.iter().cloned());
            return Ok(());
        }
        let (text, digest) = inputs.read_text_hashed(path)?;
        let mut resources = crate::yaml::parse_resources(&text, &shown)?;
        for r in &mut resources {
            r.origin = Some(origin.clone());
        }
        out.extend(resources.iter().cloned());
        parsed.put(digest, origin, resources);
        return Ok(());
    }
    let text = inputs.read_text(path)?;
    let text = if is_template(path) {
        let inc = inputs.clone();
        let including = path.to_path_buf();
        let include = move |name: &str| include_template(&inc, &including, name);
        template::render(&shown, &text, ctx, include)?
    } else {
        text
    };
    // Positions in a rendered template point into its output, and say so.
    let parsed_as = if is_template(path) {
        std::path::PathBuf::from(format!("{origin} (rendered)"))
    } else {
        shown.clone()
    };
    for mut r in crate::yaml::parse_resources(&text, &parsed_as)? {
        r.origin = Some(origin.clone());
        out.push(r);
    }
    Ok(())
}

/// Loads a template named by `{% include %}`; `name` is relative to the project root.
fn include_template(
    inputs: &Inputs,
    including: &Path,
    name: &str,
) -> Result<Option<String>, minijinja::Error> {
    // Not `TemplateNotFound`: minijinja replaces that with its own, vaguer message.
    let to_err = |e: InputError| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    };
    let path = inputs
        .resolve(inputs.root(), name, including)
        .map_err(to_err)?;
    inputs.read_text(&path).map(Some).map_err(to_err)
}

fn check_duplicates(resources: &[Resource], inputs: &Inputs) -> Result<(), Error> {
    let mut seen: HashMap<(String, String, String, String), &Resource> = HashMap::new();
    for r in resources {
        let key = (
            r.group().to_string(),
            r.kind().to_string(),
            r.namespace().to_string(),
            r.name().to_string(),
        );
        if let Some(first) = seen.insert(key, r) {
            let origin = |x: &Resource| {
                x.origin
                    .clone()
                    .unwrap_or_else(|| inputs.root().display().to_string())
            };
            return Err(Error::Duplicate {
                id: r.to_string(),
                first: origin(first),
                second: origin(r),
            });
        }
    }
    Ok(())
}
