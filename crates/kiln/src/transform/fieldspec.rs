//! kustomize's field specs: "in resources of this group/version/kind, the field at this
//! path". A path is `/`-separated (`\/` is a literal slash in a key); a sequence met on the
//! way is walked element by element, and `name[]` says the field is a sequence.

use serde_json::{Map, Value};

use crate::resource::Resource;

/// One field spec. Empty group, version or kind match anything.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldSpec {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) path: &'static str,
    /// Create the missing mappings on the way (and the field itself, in the callers that
    /// create).
    pub(crate) create: bool,
}

/// Shorthand for a field spec: `fs(group, version, kind, path, create)`.
pub(crate) const fn fs(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    path: &'static str,
    create: bool,
) -> FieldSpec {
    FieldSpec {
        group,
        version,
        kind,
        path,
        create,
    }
}

impl FieldSpec {
    /// Whether the spec applies to resources of this group, version and kind.
    pub(crate) fn selects(&self, group: &str, version: &str, kind: &str) -> bool {
        (self.group.is_empty() || self.group == group)
            && (self.version.is_empty() || self.version == version)
            && (self.kind.is_empty() || self.kind == kind)
    }

    /// Whether the spec applies to `r`.
    pub(crate) fn applies_to(&self, r: &Resource) -> bool {
        self.selects(r.group(), r.version(), r.kind())
    }

    /// The path's segments, unescaped.
    pub(crate) fn segments(&self) -> Vec<String> {
        split_path(self.path)
    }
}

/// Splits a field path on `/`, keeping `\/` as a literal slash.
pub(crate) fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                chars.next();
                out.last_mut().expect("non-empty").push('/');
            }
            '/' => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

/// Calls `f(parent, key)` for every mapping that holds (or, with `create`, may hold) the
/// last segment of `segments`, walking through sequences and creating missing mappings on
/// the way when `create` is set.
pub(crate) fn visit(
    obj: &mut Map<String, Value>,
    segments: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Map<String, Value>, &str),
) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let (key, is_seq) = match first.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (first.as_str(), false),
    };
    if rest.is_empty() {
        f(obj, key);
        return;
    }
    if !obj.contains_key(key) || obj.get(key).is_some_and(Value::is_null) {
        if !create || is_seq {
            return;
        }
        obj.insert(key.to_string(), Value::Object(Map::new()));
    }
    match obj.get_mut(key) {
        Some(Value::Object(m)) => visit(m, rest, create, f),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::Object(m) = item {
                    visit(m, rest, create, f);
                }
            }
        }
        _ => {}
    }
}

/// Calls `f` on every value found at the spec's path in `r` (never creating anything).
pub(crate) fn visit_values(r: &mut Resource, spec: &FieldSpec, f: &mut dyn FnMut(&mut Value)) {
    let segments = spec.segments();
    visit(r.as_object_mut(), &segments, false, &mut |parent, key| {
        if let Some(v) = parent.get_mut(key) {
            f(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_walk_sequences_and_unescape_slashes() {
        assert_eq!(
            split_path("metadata/annotations/a\\/b"),
            ["metadata", "annotations", "a/b"]
        );
        let mut v = json!({"spec": {"volumes": [{"configMap": {"name": "a"}}, {"secret": {}}, {"configMap": {"name": "b"}}]}});
        let mut seen = Vec::new();
        visit(
            v.as_object_mut().unwrap(),
            &split_path("spec/volumes/configMap/name"),
            false,
            &mut |m, k| seen.push(m.get(k).cloned()),
        );
        assert_eq!(seen, [Some(json!("a")), Some(json!("b"))]);
    }

    #[test]
    fn create_makes_missing_mappings() {
        let mut v = json!({"spec": {}});
        visit(
            v.as_object_mut().unwrap(),
            &split_path("spec/template/metadata/labels"),
            true,
            &mut |m, k| {
                m.insert(k.to_string(), json!({}));
            },
        );
        assert_eq!(
            v,
            json!({"spec": {"template": {"metadata": {"labels": {}}}}})
        );
    }
}
