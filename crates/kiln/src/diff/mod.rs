//! What a change does to every release: two renders of a fleet compared resource by
//! resource (`kiln diff`).
//!
//! The comparison is pure and synchronous: it takes each release's output on the two sides
//! (rendered YAML, or the error that stopped the render) and gives a [`DiffReport`], which
//! writes itself as text, markdown (in parts that fit a PR comment) or JSON.
//!
//! - Resources are matched by group, kind, namespace and name; a ConfigMap or Secret whose
//!   name ends in a generator hash (`-` and 10 characters of kustomize's hash alphabet) is
//!   matched without it, so a content change shows as one changed resource.
//! - Values under a Secret's `data` and `stringData` never show: each key is marked
//!   `(unchanged)`, `(changed, old)`/`(changed, new)`, `(added)`, `(removed)` or `(hidden)`.
//! - Values given with [`Comparison::sensitive`] (terraform outputs marked sensitive, see
//!   [`crate::Release::sensitive_values`]) are replaced by `<sensitive>` on both sides
//!   before comparing, and in error messages.
//!
//! ```
//! let mut c = kiln::diff::Comparison::new();
//! c.base("acme", Ok("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: '1'\n".into()));
//! c.head("acme", Ok("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: '2'\n".into()));
//! let report = c.run();
//! assert!(report.has_differences());
//! assert!(report.text().contains("-  a: '1'\n+  a: '2'\n"));
//! ```

mod format;
mod markdown;
mod redact;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;

use crate::resource::Resource;

pub use markdown::MIN_PART_BYTES;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// The characters of a kustomize name hash (hex digits with 0, 1, 3, a and e replaced, so
/// that no word is spelled).
const HASH_ALPHABET: &[u8] = b"bcdfghkmt2456789";

/// One release's output on one side: rendered YAML, or the error that stopped its render.
pub type Output = Result<String, String>;

/// The inputs of a comparison: each release's output on the base and head sides. A release
/// given on one side only was added or removed.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    releases: BTreeMap<String, Entry>,
}

#[derive(Clone, Debug, Default)]
struct Entry {
    base: Option<Output>,
    head: Option<Output>,
    sensitive: Vec<String>,
}

impl Comparison {
    /// An empty comparison.
    pub fn new() -> Self {
        Self::default()
    }

    /// The output of `release` on the base side (before the change).
    pub fn base(&mut self, release: impl Into<String>, output: Output) -> &mut Self {
        self.releases.entry(release.into()).or_default().base = Some(output);
        self
    }

    /// The output of `release` on the head side (after the change).
    pub fn head(&mut self, release: impl Into<String>, output: Output) -> &mut Self {
        self.releases.entry(release.into()).or_default().head = Some(output);
        self
    }

    /// Values that must never be shown for `release` (its sensitive terraform outputs, on
    /// either side): replaced by `<sensitive>` before comparing.
    pub fn sensitive(
        &mut self,
        release: impl Into<String>,
        values: impl IntoIterator<Item = String>,
    ) -> &mut Self {
        self.releases
            .entry(release.into())
            .or_default()
            .sensitive
            .extend(values);
        self
    }

    /// Compares every release (in parallel on the current rayon pool).
    pub fn run(&self) -> DiffReport {
        let releases: Vec<ReleaseDiff> = self
            .releases
            .par_iter()
            .filter_map(|(name, entry)| compare_release(name, entry))
            .collect();
        DiffReport {
            unchanged: self.releases.len() - releases.len(),
            releases,
        }
    }
}

/// The result of a comparison: the releases that changed, were added, removed, or failed
/// to render on a side, in name order. Unchanged releases are only counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiffReport {
    /// Releases with a difference or a failure, by name.
    pub releases: Vec<ReleaseDiff>,
    /// How many releases are the same on both sides.
    pub unchanged: usize,
}

/// What changed in one release.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseDiff {
    /// The release name.
    pub name: String,
    /// Changed, added, removed or failed.
    pub status: ReleaseStatus,
    /// Why the release failed (`base: …` and/or `head: …`), with sensitive values removed.
    pub error: Option<String>,
    /// Its resources that differ, ordered by group, kind, name and namespace.
    pub resources: Vec<ResourceDiff>,
}

/// How a release differs between the sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReleaseStatus {
    /// On both sides, with different resources.
    Changed,
    /// On the head side only.
    Added,
    /// On the base side only.
    Removed,
    /// Its render failed on one side or both.
    Failed,
}

/// One resource that differs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceDiff {
    /// `apiVersion` (of the head side when it has the resource).
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, empty when there is none.
    pub namespace: String,
    /// `metadata.name` (of the head side when it has the resource).
    pub name: String,
    /// Changed, added or removed.
    pub status: ResourceStatus,
    /// The unified diff of the resource's YAML (hunks only, 3 lines of context), secrets
    /// redacted.
    pub diff: String,
}

/// How a resource differs between the sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceStatus {
    /// On both sides, with different content.
    Changed,
    /// On the head side only.
    Added,
    /// On the base side only.
    Removed,
}

impl ReleaseStatus {
    /// The lowercase word: `changed`, `added`, `removed`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Changed => "changed",
            ReleaseStatus::Added => "added",
            ReleaseStatus::Removed => "removed",
            ReleaseStatus::Failed => "failed",
        }
    }
}

impl ResourceStatus {
    /// The lowercase word: `changed`, `added`, `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceStatus::Changed => "changed",
            ResourceStatus::Added => "added",
            ResourceStatus::Removed => "removed",
        }
    }
}

impl ReleaseDiff {
    /// How many of its resources were added, removed and changed.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s| self.resources.iter().filter(|r| r.status == s).count();
        (
            n(ResourceStatus::Added),
            n(ResourceStatus::Removed),
            n(ResourceStatus::Changed),
        )
    }
}

impl DiffReport {
    /// Whether any release changed, was added or removed (failures aside).
    pub fn has_differences(&self) -> bool {
        self.releases
            .iter()
            .any(|r| r.status != ReleaseStatus::Failed)
    }

    /// How many releases failed to render on a side.
    pub fn failed(&self) -> usize {
        self.count(ReleaseStatus::Failed)
    }

    /// How many releases have the given status.
    pub fn count(&self, status: ReleaseStatus) -> usize {
        self.releases.iter().filter(|r| r.status == status).count()
    }

    /// The report as plain text: a summary, then each group of identical changes once,
    /// with the releases it applies to.
    pub fn text(&self) -> String {
        format::text(self)
    }

    /// The report as JSON: `{"releases": [{"name", "status", "error"?, "resources":
    /// [{"apiVersion", "kind", "namespace", "name", "status", "diff"?}]}]}`.
    pub fn json(&self) -> String {
        format::json(self)
    }

    /// The report as markdown for a PR comment, in parts of at most `max_bytes` bytes
    /// (at least [`MIN_PART_BYTES`]), each starting with `<!-- kiln diff part N/M -->`.
    /// A code block is never cut: a diff too long for one part is continued in a new block.
    pub fn markdown(&self, max_bytes: usize) -> Vec<String> {
        markdown::parts(self, max_bytes.max(MIN_PART_BYTES))
    }
}

/// Compares one release; `None` when it is the same on both sides.
fn compare_release(name: &str, entry: &Entry) -> Option<ReleaseDiff> {
    let secrets = redact::Sensitive::new(&entry.sensitive);
    let mut errors = Vec::new();
    for (side, out) in [("base", &entry.base), ("head", &entry.head)] {
        if let Some(Err(e)) = out {
            errors.push(format!("{side}: {}", secrets.scrub(e)));
        }
    }
    let failed = |error: String| ReleaseDiff {
        name: name.to_string(),
        status: ReleaseStatus::Failed,
        error: Some(error),
        resources: Vec::new(),
    };
    if !errors.is_empty() {
        return Some(failed(errors.join("; ")));
    }
    let base = entry.base.as_ref().and_then(|o| o.as_deref().ok());
    let head = entry.head.as_ref().and_then(|o| o.as_deref().ok());
    if base == head {
        return None;
    }
    let status = match (base, head) {
        (None, Some(_)) => ReleaseStatus::Added,
        (Some(_), None) => ReleaseStatus::Removed,
        _ => ReleaseStatus::Changed,
    };
    match compare_outputs(
        name,
        base.unwrap_or_default(),
        head.unwrap_or_default(),
        &secrets,
    ) {
        // Only the order of documents or their layout differs.
        Ok(resources) if resources.is_empty() && status == ReleaseStatus::Changed => None,
        Ok(resources) => Some(ReleaseDiff {
            name: name.to_string(),
            status,
            error: None,
            resources,
        }),
        Err(e) => Some(failed(secrets.scrub(&e).into_owned())),
    }
}

/// How a resource is matched across the sides.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    group: String,
    kind: String,
    namespace: String,
    name: String,
}

/// Compares two outputs of one release, resource by resource.
fn compare_outputs(
    release: &str,
    base: &str,
    head: &str,
    secrets: &redact::Sensitive,
) -> Result<Vec<ResourceDiff>, String> {
    let base_docs = split_docs(base);
    let head_docs = split_docs(head);
    // A document that is on both sides, byte for byte, is unchanged: only the others are
    // parsed, so a change to one resource of a large release costs little. Documents are
    // looked up by length, then compared: cheaper than hashing every byte.
    let mut by_len: HashMap<usize, Vec<usize>> = HashMap::with_capacity(head_docs.len());
    for (i, d) in head_docs.iter().enumerate() {
        by_len.entry(d.len()).or_default().push(i);
    }
    let mut head_same = vec![false; head_docs.len()];
    let mut base_left = Vec::new();
    for d in base_docs {
        let same = by_len.get(&d.len()).and_then(|c| {
            c.iter()
                .copied()
                .find(|&i| !head_same[i] && head_docs[i] == d)
        });
        match same {
            Some(i) => head_same[i] = true,
            None => base_left.push(d),
        }
    }
    let head_left: Vec<&str> = head_docs
        .iter()
        .zip(&head_same)
        .filter(|(_, same)| !**same)
        .map(|(d, _)| *d)
        .collect();
    let base_res = parse_docs(&base_left, "base", release)?;
    let head_res = parse_docs(&head_left, "head", release)?;
    let base_keys = match_keys(&base_res);
    let head_keys = match_keys(&head_res);

    let mut head_at: HashMap<&Key, usize> =
        head_keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut pairs: Vec<(&Key, Option<&Resource>, Option<&Resource>)> = Vec::new();
    for (k, r) in base_keys.iter().zip(&base_res) {
        let h = head_at.remove(k).map(|i| &head_res[i]);
        pairs.push((k, Some(r), h));
    }
    for (i, (k, r)) in head_keys.iter().zip(&head_res).enumerate() {
        if head_at.get(k) == Some(&i) {
            pairs.push((k, None, Some(r)));
        }
    }
    // By kind and name, so a resource that moved namespace shows removed next to added.
    pairs.sort_by(|a, b| {
        (&a.0.group, &a.0.kind, &a.0.name, &a.0.namespace).cmp(&(
            &b.0.group,
            &b.0.kind,
            &b.0.name,
            &b.0.namespace,
        ))
    });

    let mut out = Vec::new();
    for (_, b, h) in pairs {
        if let Some(d) = compare_resource(b, h, secrets) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Compares one resource; `None` when both sides write the same YAML.
fn compare_resource(
    base: Option<&Resource>,
    head: Option<&Resource>,
    secrets: &redact::Sensitive,
) -> Option<ResourceDiff> {
    let emit = |r: Option<&Resource>| r.map(|r| crate::yaml::emit_stream([r])).unwrap_or_default();
    let (mut b, mut h) = (base.cloned(), head.cloned());
    redact::secret_pair(b.as_mut(), h.as_mut());
    for r in [b.as_mut(), h.as_mut()].into_iter().flatten() {
        secrets.scrub_resource(r);
    }
    let (bt, ht) = (emit(b.as_ref()), emit(h.as_ref()));
    let (bt, ht) = (secrets.scrub(&bt), secrets.scrub(&ht));
    let diff = if bt == ht {
        if emit(base) == emit(head) {
            return None;
        }
        "(only values marked sensitive changed)\n".to_string()
    } else {
        similar::TextDiff::from_lines(&*bt, &*ht)
            .unified_diff()
            .context_radius(CONTEXT)
            .to_string()
    };
    let shown = head.or(base)?;
    let status = match (base, head) {
        (None, _) => ResourceStatus::Added,
        (_, None) => ResourceStatus::Removed,
        _ => ResourceStatus::Changed,
    };
    Some(ResourceDiff {
        api_version: shown.api_version().to_string(),
        kind: shown.kind().to_string(),
        namespace: shown.namespace().to_string(),
        name: shown.name().to_string(),
        status,
        // A sensitive value that spans lines of the YAML is caught above; this is the last
        // word on what is shown.
        diff: secrets.scrub(&diff).into_owned(),
    })
}

/// Splits a YAML stream into its documents (the text between `---` lines). Only lines that
/// start with `---` or `...` are looked at, found by substring search: a render is mostly
/// other lines.
fn split_docs(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let starts = |pat: &'static str| {
        memchr::memmem::find_iter(text.as_bytes(), pat.as_bytes())
            .map(|i| i + 1)
            .peekable()
    };
    let (mut dashes, mut dots) = (starts("\n---"), starts("\n..."));
    let first = (text.starts_with("---") || text.starts_with("...")).then_some(0);
    let rest = std::iter::from_fn(|| match (dashes.peek(), dots.peek()) {
        (Some(a), Some(b)) if b < a => dots.next(),
        (Some(_), _) => dashes.next(),
        (None, _) => dots.next(),
    });
    for at in first.into_iter().chain(rest) {
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
        let bare = text[at..end].trim_end();
        if bare == "---" || bare.starts_with("--- ") || bare == "..." {
            if !text[start..at].trim().is_empty() {
                docs.push(&text[start..at]);
            }
            // A document may start on the marker line (`--- {...}`): keep it, not the marker.
            start = if bare.starts_with("--- ") {
                at + 4
            } else {
                end
            };
        }
    }
    if !text[start..].trim().is_empty() {
        docs.push(&text[start..]);
    }
    docs
}

fn parse_docs(docs: &[&str], side: &str, release: &str) -> Result<Vec<Resource>, String> {
    let shown = format!("{release}.yaml");
    let mut out = Vec::new();
    for d in docs {
        let parsed = crate::yaml::parse_resources(d, Path::new(&shown));
        out.extend(parsed.map_err(|e| format!("{side}: {e}"))?);
    }
    Ok(out)
}

/// The match key of each resource. A hash-suffixed name that two resources of a side share
/// once the suffix is gone falls back to their full names.
fn match_keys(resources: &[Resource]) -> Vec<Key> {
    let mut keys: Vec<Key> = resources
        .iter()
        .map(|r| Key {
            group: r.group().to_string(),
            kind: r.kind().to_string(),
            namespace: r.namespace().to_string(),
            name: match_name(r).to_string(),
        })
        .collect();
    let mut seen: HashMap<Key, usize> = HashMap::new();
    for k in &keys {
        *seen.entry(k.clone()).or_default() += 1;
    }
    for (k, r) in keys.iter_mut().zip(resources) {
        if seen[k] > 1 {
            k.name = r.name().to_string();
        }
    }
    keys
}

/// A ConfigMap's or Secret's name without its generator hash suffix.
fn match_name(r: &Resource) -> &str {
    let name = r.name();
    if !r.group().is_empty() || !matches!(r.kind(), "ConfigMap" | "Secret") {
        return name;
    }
    strip_hash(name)
}

fn strip_hash(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((stem, hash))
            if !stem.is_empty()
                && hash.len() == 10
                && hash.bytes().all(|b| HASH_ALPHABET.contains(&b)) =>
        {
            stem
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests;
