//! Render keys: an explicit, versioned, canonical encoding of everything a render read.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::input::Read;
use crate::overrides::Overrides;
use crate::release::Release;
use crate::yaml::OutputStyle;

/// The render format: bump it whenever the same inputs would render different bytes.
pub(crate) const RENDER_FORMAT: &str = "render-v1";

/// The output style of a kustomization build, part of its key: bump it whenever the
/// kustomize-style writer changes its bytes.
const KUSTOMIZE_OUTPUT: &str = "kustomize-v5.7.1-bytes-1";

/// A digest of everything that went into a render. Same key, same bytes out.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RenderKey(pub(crate) [u8; 32]);

impl RenderKey {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for RenderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RenderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RenderKey({self})")
    }
}

/// Feeds tagged, length-prefixed fields to SHA-256, so that no two different field
/// sequences encode to the same bytes.
pub(crate) struct KeyHasher(Sha256);

impl KeyHasher {
    pub(crate) fn new(domain: &str) -> Self {
        let mut h = KeyHasher(Sha256::new());
        h.str("domain", domain);
        h
    }

    pub(crate) fn bytes(&mut self, tag: &str, bytes: &[u8]) {
        self.0.update((tag.len() as u64).to_le_bytes());
        self.0.update(tag.as_bytes());
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    pub(crate) fn str(&mut self, tag: &str, s: &str) {
        self.bytes(tag, s.as_bytes());
    }

    pub(crate) fn u64(&mut self, tag: &str, n: u64) {
        self.bytes(tag, &n.to_le_bytes());
    }

    /// A JSON value in canonical form: object keys sorted, numbers in serde_json's form.
    pub(crate) fn json(&mut self, tag: &str, v: &Value) {
        let mut out = String::new();
        canonical_json(v, &mut out);
        self.str(tag, &out);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<_, _> = m.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The key of a release file's schema-checked form: its bytes and the kiln that read them.
pub(crate) fn release_file_key(source: &str) -> String {
    let mut h = KeyHasher::new("release-file-v1");
    h.str("kiln", env!("CARGO_PKG_VERSION"));
    h.str("source", source);
    hex::encode(h.finish())
}

/// What a cache entry is the render of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subject<'a> {
    /// A release file, with the overrides of this render (none: the key of a plain render).
    Release(&'a Release, &'a Overrides),
    /// A kustomization folder built like `kustomize build`.
    Kustomization {
        /// The project root reads are relative to.
        root: &'a Path,
        /// The folder, canonical, under `root`.
        dir: &'a Path,
    },
}

impl Subject<'_> {
    /// How its output is written: a release in kiln's style, a kustomization in
    /// kustomize's bytes.
    pub(crate) fn output_style(&self) -> OutputStyle {
        match self {
            Subject::Release(..) => OutputStyle::Kiln,
            Subject::Kustomization { .. } => OutputStyle::Kustomize,
        }
    }

    /// The project root its reads are relative to.
    pub(crate) fn root(&self) -> &Path {
        match self {
            Subject::Release(r, _) => r.root(),
            Subject::Kustomization { root, .. } => root,
        }
    }

    /// Its identity for the input index: a release file by path and content (the index
    /// remembers what the last render of this file read); a kustomization by its folder.
    pub(crate) fn index_id(&self) -> [u8; 32] {
        let mut h = KeyHasher::new("index-v1");
        h.str("kiln", env!("CARGO_PKG_VERSION"));
        self.identify(&mut h);
        h.finish()
    }

    /// The render key given what its render read.
    pub(crate) fn render_key(&self, reads: &BTreeMap<String, Read>) -> RenderKey {
        let mut h = KeyHasher::new(RENDER_FORMAT);
        h.str("kiln", env!("CARGO_PKG_VERSION"));
        if let Subject::Release(release, _) = self {
            h.str("name", release.name());
        }
        self.identify(&mut h);
        h.u64("reads", reads.len() as u64);
        for (path, read) in reads {
            h.str("path", path);
            match read {
                Read::File(d) => h.bytes("file", d),
                Read::Dir(d) => h.bytes("dir", d),
                Read::Link(target) => h.str("link", target),
            }
        }
        if let Subject::Release(release, _) = self {
            h.u64("plugins", release.plugins.len() as u64);
            for p in &release.plugins {
                h.str("plugin", &p.name);
                h.bytes("digest", &p.digest.0);
                h.json("config", p.config.as_ref().unwrap_or(&Value::Null));
                h.u64("timeout-ms", p.limits.timeout.as_millis() as u64);
                h.u64("memory", p.limits.memory);
                h.u64("stdout", p.limits.stdout as u64);
                h.u64("stderr", p.limits.stderr as u64);
            }
        }
        RenderKey(h.finish())
    }

    fn identify(&self, h: &mut KeyHasher) {
        match self {
            Subject::Release(release, overrides) => {
                h.str(
                    "release",
                    &release.display_path().to_string_lossy().replace('\\', "/"),
                );
                h.str("source", &release.source);
                // Only when set, so that a plain render keeps its key.
                if !overrides.is_empty() {
                    h.json("overrides", &overrides.encode());
                }
            }
            Subject::Kustomization { root, dir } => {
                h.str("kustomization", &crate::input::key_path(dir, root));
                // The writer: entries stored by a kiln that wrote builds in its own style
                // are not served as kustomize's bytes.
                h.str("output", KUSTOMIZE_OUTPUT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_length_prefixed() {
        let mut a = KeyHasher::new("t");
        a.str("x", "ab");
        a.str("x", "c");
        let mut b = KeyHasher::new("t");
        b.str("x", "a");
        b.str("x", "bc");
        assert_ne!(a.finish(), b.finish());
    }

    /// A kustomization build's key names its output style: an entry stored by a kiln
    /// that keyed builds without it (and wrote them in its own style) is not served.
    #[test]
    fn a_kustomization_key_names_its_output_style() {
        let (root, dir) = (Path::new("/p"), Path::new("/p/app"));
        let subject = Subject::Kustomization { root, dir };
        assert_eq!(subject.output_style(), OutputStyle::Kustomize);
        let mut unstyled = KeyHasher::new(RENDER_FORMAT);
        unstyled.str("kiln", env!("CARGO_PKG_VERSION"));
        unstyled.str("kustomization", &crate::input::key_path(dir, root));
        unstyled.u64("reads", 0);
        assert_ne!(subject.render_key(&BTreeMap::new()).0, unstyled.finish());
    }

    #[test]
    fn json_is_canonical() {
        let mut a = KeyHasher::new("t");
        a.json("v", &json!({"a": 1, "b": [1, {"d": 2, "c": 3}]}));
        let mut b = KeyHasher::new("t");
        b.json("v", &json!({"b": [1, {"c": 3, "d": 2}], "a": 1}));
        assert_eq!(a.finish(), b.finish());
    }
}
