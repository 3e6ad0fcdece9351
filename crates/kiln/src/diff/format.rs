//! The report as text and JSON, and the grouping of identical changes that text and
//! markdown share.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{DiffReport, ReleaseDiff, ReleaseStatus, ResourceDiff};

/// One change (a resource diff) and the releases it applies to.
pub(super) struct Group<'a> {
    /// The change, as the first release shows it.
    pub(super) diff: &'a ResourceDiff,
    /// The diff to show: the first release's, its namespace lines written `<namespace>`
    /// when the releases have the change in different namespaces.
    pub(super) text: Cow<'a, str>,
    /// The namespace when every release has the change in the same one.
    pub(super) namespace: Option<&'a str>,
}

/// The changes that apply to exactly the same releases.
pub(super) struct Section<'a> {
    pub(super) releases: Vec<&'a str>,
    pub(super) groups: Vec<Group<'a>>,
}

/// Groups identical resource diffs across releases (same apiVersion, kind, name, status
/// and diff; the namespace may differ per release), then groups the changes by the set of
/// releases they apply to. Changes shared by more releases come first.
pub(super) fn sections(report: &DiffReport) -> Vec<Section<'_>> {
    type GroupKey<'a> = (
        &'a str,
        &'a str,
        &'a str,
        super::ResourceStatus,
        Cow<'a, str>,
    );
    struct Acc<'a> {
        diff: &'a ResourceDiff,
        generic: Cow<'a, str>,
        namespace: Option<&'a str>,
        releases: Vec<&'a str>,
    }
    let mut accs: Vec<Acc<'_>> = Vec::new();
    let mut at: HashMap<GroupKey<'_>, usize> = HashMap::new();
    for rel in &report.releases {
        for d in &rel.resources {
            let generic = without_namespace(&d.diff, &d.namespace);
            let key = (
                d.api_version.as_str(),
                d.kind.as_str(),
                d.name.as_str(),
                d.status,
                generic.clone(),
            );
            match at.get(&key) {
                Some(&i) => {
                    let acc = &mut accs[i];
                    if acc.releases.last() != Some(&rel.name.as_str()) {
                        acc.releases.push(&rel.name);
                    }
                    if acc.namespace != Some(d.namespace.as_str()) {
                        acc.namespace = None;
                    }
                }
                None => {
                    at.insert(key, accs.len());
                    accs.push(Acc {
                        diff: d,
                        generic,
                        namespace: Some(&d.namespace),
                        releases: vec![&rel.name],
                    });
                }
            }
        }
    }
    let mut sections: Vec<Section<'_>> = Vec::new();
    let mut by_set: HashMap<Vec<&str>, usize> = HashMap::new();
    for acc in accs {
        let text = match acc.namespace {
            Some(_) => Cow::Borrowed(acc.diff.diff.as_str()),
            None => acc.generic,
        };
        let group = Group {
            diff: acc.diff,
            text,
            namespace: acc.namespace,
        };
        match by_set.get(&acc.releases) {
            Some(&i) => sections[i].groups.push(group),
            None => {
                by_set.insert(acc.releases.clone(), sections.len());
                sections.push(Section {
                    releases: acc.releases,
                    groups: vec![group],
                });
            }
        }
    }
    sections.sort_by(|a, b| {
        b.releases
            .len()
            .cmp(&a.releases.len())
            .then_with(|| a.releases.cmp(&b.releases))
    });
    sections
}

/// The diff with the resource's own `metadata.namespace` lines written `<namespace>`, so
/// that the same change in releases with different namespaces reads the same.
fn without_namespace<'a>(diff: &'a str, namespace: &str) -> Cow<'a, str> {
    if namespace.is_empty() {
        return Cow::Borrowed(diff);
    }
    let line = format!("  namespace: {namespace}");
    if !diff.contains(&line) {
        return Cow::Borrowed(diff);
    }
    let mut out = String::with_capacity(diff.len());
    for l in diff.split_inclusive('\n') {
        let (mark, rest) = l.split_at(l.len().min(1));
        if matches!(mark, " " | "+" | "-") && rest.trim_end_matches('\n') == line {
            out.push_str(mark);
            out.push_str("  namespace: <namespace>\n");
        } else {
            out.push_str(l);
        }
    }
    Cow::Owned(out)
}

/// One line: `3 releases changed, 1 added, 1 removed, 1 failed, 12 unchanged`.
pub(super) fn headline(report: &DiffReport) -> String {
    let changed = report.count(ReleaseStatus::Changed);
    let added = report.count(ReleaseStatus::Added);
    let removed = report.count(ReleaseStatus::Removed);
    let failed = report.failed();
    if report.releases.is_empty() {
        return format!(
            "no changes ({} {} unchanged)",
            report.unchanged,
            plural(report.unchanged, "release")
        );
    }
    format!(
        "{changed} {} changed, {added} added, {removed} removed, {failed} failed, {} unchanged",
        plural(changed, "release"),
        report.unchanged
    )
}

/// `+1 -0 ~2` for a changed release; the resource count for an added or removed one.
pub(super) fn counts(rel: &ReleaseDiff) -> String {
    let (a, r, c) = rel.counts();
    match rel.status {
        ReleaseStatus::Changed => format!("{a} added, {r} removed, {c} changed"),
        ReleaseStatus::Added => format!("{a} {} added", plural(a, "resource")),
        ReleaseStatus::Removed => format!("{r} {} removed", plural(r, "resource")),
        ReleaseStatus::Failed => String::new(),
    }
}

/// `apps/v1 Deployment api in namespace acme` (or `… in each release's namespace`).
pub(super) fn title(g: &Group<'_>) -> String {
    let d = g.diff;
    let mut t = format!("{} {} {}", d.api_version, d.kind, d.name);
    match g.namespace {
        Some("") => {}
        Some(ns) => {
            let _ = write!(t, " in namespace {ns}");
        }
        None => t.push_str(" in each release's namespace"),
    }
    t
}

pub(super) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

pub(super) fn text(report: &DiffReport) -> String {
    let mut out = format!("kiln diff: {}\n", headline(report));
    if report.releases.is_empty() {
        return out;
    }
    out.push('\n');
    let width = report
        .releases
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0);
    for rel in &report.releases {
        let detail = match &rel.error {
            Some(e) => e.clone(),
            None => counts(rel),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:7}  {detail}",
            rel.name,
            rel.status.as_str()
        );
    }
    for s in sections(report) {
        let _ = writeln!(
            out,
            "\n=== {} {}: {}",
            s.releases.len(),
            plural(s.releases.len(), "release"),
            s.releases.join(", ")
        );
        for g in &s.groups {
            let _ = write!(
                out,
                "\n--- {} ({})\n{}",
                title(g),
                g.diff.status.as_str(),
                g.text
            );
        }
    }
    out
}

pub(super) fn json(report: &DiffReport) -> String {
    let releases: Vec<Value> = report
        .releases
        .iter()
        .map(|rel| {
            let mut o = Map::new();
            o.insert("name".into(), rel.name.clone().into());
            o.insert("status".into(), rel.status.as_str().into());
            if let Some(e) = &rel.error {
                o.insert("error".into(), e.clone().into());
            }
            let resources: Vec<Value> = rel
                .resources
                .iter()
                .map(|d| {
                    json!({
                        "apiVersion": d.api_version,
                        "kind": d.kind,
                        "namespace": d.namespace,
                        "name": d.name,
                        "status": d.status.as_str(),
                        "diff": d.diff,
                    })
                })
                .collect();
            o.insert("resources".into(), resources.into());
            Value::Object(o)
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&json!({ "releases": releases }))
        .unwrap_or_else(|_| String::from("{\"releases\": []}"));
    s.push('\n');
    s
}
