//! Choosing resources: patch targets (kustomize's selectors) and Kubernetes label
//! selectors.

use std::fmt;

use regex::Regex;
use serde_json::Value;

use super::Target;
use crate::resource::Resource;

/// A compiled [`Target`].
pub(crate) struct Selector<'a> {
    target: &'a Target,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

impl<'a> Selector<'a> {
    /// Compiles a target. The error names the field that is wrong.
    pub(crate) fn new(target: &'a Target) -> Result<Self, String> {
        let regex = |field: &str, re: &Option<String>| -> Result<Option<Regex>, String> {
            match re.as_deref() {
                None | Some("") => Ok(None),
                Some(re) => Regex::new(&format!("^(?:{re})$")).map(Some).map_err(|e| {
                    format!(
                        "target {field} `{re}` is not a valid regular expression: {}",
                        first_line(&e.to_string())
                    )
                }),
            }
        };
        let selector = |field: &str, s: &Option<String>| -> Result<Option<LabelSelector>, String> {
            match s.as_deref() {
                None | Some("") => Ok(None),
                Some(s) => LabelSelector::parse(s)
                    .map(Some)
                    .map_err(|e| format!("target {field} `{s}`: {e}")),
            }
        };
        Ok(Selector {
            target,
            name: regex("name", &target.name)?,
            namespace: regex("namespace", &target.namespace)?,
            labels: selector("labelSelector", &target.label_selector)?,
            annotations: selector("annotationSelector", &target.annotation_selector)?,
        })
    }

    /// Whether the target selects `r`. Like kustomize, the name also matches the name the
    /// resource had before a prefix or suffix was added, and the namespace of a namespaced
    /// resource without one is `default`.
    pub(crate) fn matches(&self, r: &Resource) -> bool {
        let t = self.target;
        let field_ok = |want: &Option<String>, have: &str| match want.as_deref() {
            None | Some("") => true,
            Some(w) => w == have,
        };
        if !field_ok(&t.group, r.group())
            || !field_ok(&t.version, r.version())
            || !field_ok(&t.kind, r.kind())
        {
            return false;
        }
        if let Some(re) = &self.namespace
            && !re.is_match(&effective_namespace(r))
        {
            return false;
        }
        if let Some(re) = &self.name {
            let original = r.original_name.as_deref();
            if !re.is_match(r.name()) && !original.is_some_and(|n| re.is_match(n)) {
                return false;
            }
        }
        if let Some(sel) = &self.labels
            && !sel.matches(r.metadata_map("labels"))
        {
            return false;
        }
        if let Some(sel) = &self.annotations
            && !sel.matches(r.metadata_map("annotations"))
        {
            return false;
        }
        true
    }
}

/// The namespace kustomize compares: `default` for a namespaced resource without one,
/// empty for cluster-scoped kinds.
pub(crate) fn effective_namespace(r: &Resource) -> String {
    if !r.is_namespaced() {
        String::new()
    } else if r.namespace().is_empty() {
        "default".to_string()
    } else {
        r.namespace().to_string()
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// Describes a target for messages: `kind=Deployment,name=api`.
pub(crate) fn describe(t: &Target) -> String {
    let fields = [
        ("group", &t.group),
        ("version", &t.version),
        ("kind", &t.kind),
        ("name", &t.name),
        ("namespace", &t.namespace),
        ("labelSelector", &t.label_selector),
        ("annotationSelector", &t.annotation_selector),
    ];
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={v}"))
        })
        .collect();
    if parts.is_empty() {
        "(everything)".to_string()
    } else {
        parts.join(",")
    }
}

/// A Kubernetes label selector in its string form: requirements separated by commas, all
/// of which must hold. Each requirement is `key`, `!key`, `key=value`, `key==value`,
/// `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key>N` or `key<N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

impl LabelSelector {
    /// Parses a selector. The error says what is wrong, e.g.
    /// ``expected `(` after `in` ``.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut lexer = Lexer { s: text, pos: 0 };
        let mut requirements = Vec::new();
        if lexer.peek_token().is_none() {
            return Ok(LabelSelector { requirements });
        }
        loop {
            requirements.push(parse_requirement(&mut lexer)?);
            match lexer.next_token() {
                None => break,
                Some(Tok::Comma) => continue,
                Some(t) => return Err(format!("expected `,` or the end, found {t}")),
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether a label (or annotation) map satisfies every requirement.
    pub(crate) fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| -> Option<String> {
            labels.and_then(|m| m.get(k)).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        self.requirements.iter().all(|r| match r {
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.contains(&v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.contains(&v)),
            Requirement::Gt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Comma,
    Open,
    Close,
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Open => f.write_str("`(`"),
            Tok::Close => f.write_str("`)`"),
            Tok::Not => f.write_str("`!`"),
            Tok::Eq => f.write_str("`=`"),
            Tok::DoubleEq => f.write_str("`==`"),
            Tok::NotEq => f.write_str("`!=`"),
            Tok::Gt => f.write_str("`>`"),
            Tok::Lt => f.write_str("`<`"),
        }
    }
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek_token(&self) -> Option<Tok> {
        let mut copy = Lexer {
            s: self.s,
            pos: self.pos,
        };
        copy.next_token()
    }

    fn next_token(&mut self) -> Option<Tok> {
        let rest = &self.s[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        let mut chars = trimmed.chars();
        let c = chars.next()?;
        let two = trimmed.get(..2);
        let (tok, len) = match (c, two) {
            (_, Some("==")) => (Tok::DoubleEq, 2),
            (_, Some("!=")) => (Tok::NotEq, 2),
            (',', _) => (Tok::Comma, 1),
            ('(', _) => (Tok::Open, 1),
            (')', _) => (Tok::Close, 1),
            ('!', _) => (Tok::Not, 1),
            ('=', _) => (Tok::Eq, 1),
            ('>', _) => (Tok::Gt, 1),
            ('<', _) => (Tok::Lt, 1),
            _ => {
                let end = trimmed
                    .find(|c: char| c.is_whitespace() || ",()!=<>".contains(c))
                    .unwrap_or(trimmed.len());
                (Tok::Word(trimmed[..end].to_string()), end)
            }
        };
        self.pos += len;
        Some(tok)
    }
}

fn parse_requirement(lx: &mut Lexer<'_>) -> Result<Requirement, String> {
    let first = lx.next_token().ok_or("expected a key, found the end")?;
    let key = match first {
        Tok::Not => {
            return match lx.next_token() {
                Some(Tok::Word(k)) => {
                    check_key(&k)?;
                    Ok(Requirement::NotExists(k))
                }
                Some(t) => Err(format!("expected a key after `!`, found {t}")),
                None => Err("expected a key after `!`, found the end".into()),
            };
        }
        Tok::Word(k) => k,
        t => return Err(format!("expected a key, found {t}")),
    };
    check_key(&key)?;
    match lx.peek_token() {
        None | Some(Tok::Comma) => return Ok(Requirement::Exists(key)),
        _ => {}
    }
    let op = lx.next_token().expect("peeked");
    let single_value = |lx: &mut Lexer<'_>| -> Result<String, String> {
        match lx.peek_token() {
            None | Some(Tok::Comma) => Ok(String::new()),
            Some(Tok::Word(_)) => match lx.next_token() {
                Some(Tok::Word(v)) => Ok(v),
                _ => unreachable!("peeked a word"),
            },
            Some(t) => Err(format!("expected a value after the operator, found {t}")),
        }
    };
    match op {
        Tok::Eq | Tok::DoubleEq => Ok(Requirement::In(key, vec![single_value(lx)?])),
        Tok::NotEq => Ok(Requirement::NotIn(key, vec![single_value(lx)?])),
        Tok::Gt | Tok::Lt => {
            let v = single_value(lx)?;
            let n: i64 = v
                .parse()
                .map_err(|_| format!("expected an integer after {op}, found `{v}`"))?;
            Ok(if op == Tok::Gt {
                Requirement::Gt(key, n)
            } else {
                Requirement::Lt(key, n)
            })
        }
        Tok::Word(w) if w == "in" || w == "notin" => {
            match lx.next_token() {
                Some(Tok::Open) => {}
                Some(t) => return Err(format!("expected `(` after `{w}`, found {t}")),
                None => return Err(format!("expected `(` after `{w}`, found the end")),
            }
            let mut values = Vec::new();
            loop {
                match lx.next_token() {
                    Some(Tok::Word(v)) => {
                        values.push(v);
                        match lx.next_token() {
                            Some(Tok::Comma) => continue,
                            Some(Tok::Close) => break,
                            Some(t) => return Err(format!("expected `,` or `)`, found {t}")),
                            None => return Err("expected `)`, found the end".into()),
                        }
                    }
                    Some(Tok::Close) if values.is_empty() => break,
                    Some(t) => return Err(format!("expected a value, found {t}")),
                    None => return Err("expected `)`, found the end".into()),
                }
            }
            if values.is_empty() {
                return Err(format!("`{w}` needs at least one value"));
            }
            Ok(if w == "in" {
                Requirement::In(key, values)
            } else {
                Requirement::NotIn(key, values)
            })
        }
        t => Err(format!("expected an operator after `{key}`, found {t}")),
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key == "in" || key == "notin" {
        return Err(format!("expected a key, found `{key}`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testutil::resources;
    use serde_json::json;

    fn sel(s: &str, labels: Value) -> bool {
        LabelSelector::parse(s).unwrap().matches(labels.as_object())
    }

    #[test]
    fn selector_operators() {
        let l = json!({"app": "api", "tier": "web", "n": "5"});
        assert!(sel("app=api", l.clone()));
        assert!(sel("app==api", l.clone()));
        assert!(!sel("app!=api", l.clone()));
        assert!(sel("missing!=x", l.clone()));
        assert!(sel("app in (db, api)", l.clone()));
        assert!(!sel("app notin (db,api)", l.clone()));
        assert!(sel("missing notin (x)", l.clone()));
        assert!(sel("app", l.clone()));
        assert!(sel("!missing", l.clone()));
        assert!(!sel("!app", l.clone()));
        assert!(sel("app=api,tier=web", l.clone()));
        assert!(!sel("app=api,tier=db", l.clone()));
        assert!(sel("n>4,n<6", l.clone()));
        assert!(sel("", l.clone()));
        assert!(sel("empty=", json!({"empty": ""})));
        assert!(sel("example.com/role=x", json!({"example.com/role": "x"})));
    }

    #[test]
    fn selector_errors_name_the_problem() {
        assert_eq!(
            LabelSelector::parse("app in x").unwrap_err(),
            "expected `(` after `in`, found `x`"
        );
        assert_eq!(
            LabelSelector::parse("a=b c").unwrap_err(),
            "expected `,` or the end, found `c`"
        );
        assert_eq!(
            LabelSelector::parse("a in ()").unwrap_err(),
            "`in` needs at least one value"
        );
        assert_eq!(
            LabelSelector::parse("n>x").unwrap_err(),
            "expected an integer after `>`, found `x`"
        );
        assert_eq!(
            LabelSelector::parse("a,").unwrap_err(),
            "expected a key, found the end"
        );
    }

    #[test]
    fn target_matches_gvk_name_regex_and_default_namespace() {
        let rs = resources(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api-v1, labels: {app: api}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: prod}\n",
        );
        let t = Target {
            kind: Some("Deployment".into()),
            name: Some("api-.*".into()),
            ..Default::default()
        };
        let s = Selector::new(&t).unwrap();
        assert!(s.matches(&rs[0]));
        assert!(!s.matches(&rs[1]));
        let t = Target {
            name: Some("api".into()),
            ..Default::default()
        };
        let s = Selector::new(&t).unwrap();
        assert!(!s.matches(&rs[0]), "the name regex is anchored");
        assert!(s.matches(&rs[1]));
        let t = Target {
            namespace: Some("default".into()),
            ..Default::default()
        };
        let s = Selector::new(&t).unwrap();
        assert!(s.matches(&rs[0]));
        assert!(!s.matches(&rs[1]));
        let t = Target {
            group: Some("apps".into()),
            label_selector: Some("app=api".into()),
            ..Default::default()
        };
        assert!(Selector::new(&t).unwrap().matches(&rs[0]));
        let t = Target {
            name: Some("(".into()),
            ..Default::default()
        };
        let err = Selector::new(&t).err().unwrap();
        assert!(
            err.starts_with("target name `(` is not a valid regular expression"),
            "{err}"
        );
    }

    #[test]
    fn describe_lists_set_fields() {
        let t = Target {
            kind: Some("Deployment".into()),
            name: Some("api".into()),
            ..Default::default()
        };
        assert_eq!(describe(&t), "kind=Deployment,name=api");
    }
}
