//! What a diff never shows: Secret values and sensitive terraform outputs.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::resource::Resource;

/// The Secret fields whose values are hidden, key by key.
const SECRET_FIELDS: [&str; 2] = ["data", "stringData"];

/// A key on both sides with the same value.
pub(super) const UNCHANGED: &str = "(unchanged)";
/// A key on both sides with different values: the base side's marker.
pub(super) const CHANGED_OLD: &str = "(changed, old)";
/// A key on both sides with different values: the head side's marker.
pub(super) const CHANGED_NEW: &str = "(changed, new)";
/// A key on the head side only.
pub(super) const ADDED: &str = "(added)";
/// A key on the base side only.
pub(super) const REMOVED: &str = "(removed)";
/// A value of a Secret that is on one side only, or a field that is not a mapping.
pub(super) const HIDDEN: &str = "(hidden)";

/// What replaces a sensitive value.
const SENSITIVE: &str = "<sensitive>";

/// Annotations that may hold a copy of a Secret.
const COPIES: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

fn is_secret(r: &Resource) -> bool {
    r.group().is_empty() && r.kind() == "Secret"
}

/// Replaces the values of the Secrets among `base` and `head` (the same resource on the
/// two sides, or one side only) by markers that say, key by key, whether the value changed.
pub(super) fn secret_pair(base: Option<&mut Resource>, head: Option<&mut Resource>) {
    let base = base.filter(|r| is_secret(r));
    let head = head.filter(|r| is_secret(r));
    match (base, head) {
        (Some(b), Some(h)) => {
            for field in SECRET_FIELDS {
                let bo = b.as_object_mut();
                let ho = h.as_object_mut();
                match (bo.get_mut(field), ho.get_mut(field)) {
                    (Some(Value::Object(bm)), Some(Value::Object(hm))) => mark_pair(bm, hm),
                    (bv, hv) => {
                        bv.into_iter().for_each(hide);
                        hv.into_iter().for_each(hide);
                    }
                }
            }
            hide_copies(b);
            hide_copies(h);
        }
        (Some(one), None) | (None, Some(one)) => {
            for field in SECRET_FIELDS {
                if let Some(v) = one.as_object_mut().get_mut(field) {
                    hide(v);
                }
            }
            hide_copies(one);
        }
        (None, None) => {}
    }
}

fn mark_pair(base: &mut Map<String, Value>, head: &mut Map<String, Value>) {
    for (k, bv) in base.iter_mut() {
        match head.get_mut(k) {
            Some(hv) if hv == bv => {
                *bv = UNCHANGED.into();
                *hv = UNCHANGED.into();
            }
            Some(hv) => {
                *bv = CHANGED_OLD.into();
                *hv = CHANGED_NEW.into();
            }
            None => *bv = REMOVED.into(),
        }
    }
    for (k, hv) in head.iter_mut() {
        if !base.contains_key(k) {
            *hv = ADDED.into();
        }
    }
}

/// Hides every value of a mapping, or the whole value when it is not a mapping.
fn hide(v: &mut Value) {
    match v {
        Value::Object(m) => m.values_mut().for_each(|x| *x = HIDDEN.into()),
        Value::Null => {}
        other => *other = HIDDEN.into(),
    }
}

fn hide_copies(r: &mut Resource) {
    let Some(Value::Object(meta)) = r.as_object_mut().get_mut("metadata") else {
        return;
    };
    if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
        for key in COPIES {
            if let Some(v) = ann.get_mut(key) {
                *v = HIDDEN.into();
            }
        }
    }
}

/// The values of one release that must never be shown.
#[derive(Debug, Default)]
pub(super) struct Sensitive {
    /// The values and their base64 forms, longest first (so a value that contains another
    /// is replaced whole).
    needles: Vec<String>,
}

impl Sensitive {
    pub(super) fn new(values: &[String]) -> Self {
        let mut needles = Vec::new();
        for v in values.iter().filter(|v| !v.is_empty()) {
            needles.push(v.clone());
            needles.push(crate::kustomize::generate::base64(v.as_bytes()));
            let wrapped = crate::kustomize::generate::wrapped_base64(v.as_bytes());
            needles.extend(wrapped.lines().filter(|l| l.len() >= 8).map(str::to_string));
            // A multi-line value is also looked for line by line, as a block scalar shows it.
            if v.contains('\n') {
                needles.extend(
                    v.lines()
                        .map(str::trim)
                        .filter(|l| l.len() >= 4)
                        .map(str::to_string),
                );
            }
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Sensitive { needles }
    }

    /// `text` with every sensitive value replaced by `<sensitive>`.
    pub(super) fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = Cow::Owned(out.replace(n.as_str(), SENSITIVE));
            }
        }
        out
    }

    /// Replaces sensitive values in every string (and key) of a resource.
    pub(super) fn scrub_resource(&self, r: &mut Resource) {
        if self.needles.is_empty() {
            return;
        }
        let obj = std::mem::take(r.as_object_mut());
        if let Value::Object(obj) = self.scrub_value(Value::Object(obj)) {
            *r.as_object_mut() = obj;
        }
    }

    fn scrub_value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.scrub(&s).into_owned()),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.scrub_value(x)).collect()),
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, x)| (self.scrub(&k).into_owned(), self.scrub_value(x)))
                    .collect(),
            ),
            other => other,
        }
    }
}
