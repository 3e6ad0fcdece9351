//! JSON 6902 patches, with kustomize's behaviour: `-` appends to a sequence, a negative
//! index counts from the end, and object keys keep their order (a removed key leaves the
//! others in place).

use serde_json::{Map, Value};

use crate::resource::type_name;

/// One operation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
    Move { from: String, path: String },
    Copy { from: String, path: String },
    Test { path: String, value: Value },
}

/// Checks a JSON 6902 patch (a sequence of `{op, path, value, from}` mappings). The error
/// names the operation, counting from 1.
pub(crate) fn parse(ops: &Value) -> Result<Vec<Op>, String> {
    let Value::Array(items) = ops else {
        return Err(format!(
            "a JSON 6902 patch must be a sequence, found {}",
            type_name(ops)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_op(item).map_err(|e| format!("operation {}: {e}", i + 1)))
        .collect()
}

fn parse_op(item: &Value) -> Result<Op, String> {
    let Value::Object(m) = item else {
        return Err(format!("must be a mapping, found {}", type_name(item)));
    };
    for k in m.keys() {
        if !matches!(k.as_str(), "op" | "path" | "value" | "from") {
            return Err(format!("unknown field `{k}`"));
        }
    }
    let op = match m.get("op") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(format!("`op` must be a string, found {}", type_name(other))),
        None => return Err("missing `op`".into()),
    };
    let pointer = |field: &str| -> Result<String, String> {
        match m.get(field) {
            Some(Value::String(p)) if p.is_empty() || p.starts_with('/') => Ok(p.clone()),
            Some(Value::String(p)) => Err(format!(
                "`{field}` must be empty or start with `/`, found `{p}`"
            )),
            Some(other) => Err(format!(
                "`{field}` must be a string, found {}",
                type_name(other)
            )),
            None => Err(format!("`{op}` needs `{field}`")),
        }
    };
    let value = || {
        m.get("value")
            .cloned()
            .ok_or_else(|| format!("`{op}` needs `value`"))
    };
    Ok(match op {
        "add" => Op::Add {
            path: pointer("path")?,
            value: value()?,
        },
        "remove" => Op::Remove {
            path: pointer("path")?,
        },
        "replace" => Op::Replace {
            path: pointer("path")?,
            value: value()?,
        },
        "move" => Op::Move {
            from: pointer("from")?,
            path: pointer("path")?,
        },
        "copy" => Op::Copy {
            from: pointer("from")?,
            path: pointer("path")?,
        },
        "test" => Op::Test {
            path: pointer("path")?,
            value: value()?,
        },
        other => return Err(format!("unknown op `{other}`")),
    })
}

/// Applies the operations in order. The error says which operation failed and where, e.g.
/// `test operation failed at /spec/replicas: found 3, expected 2`. On error the document
/// is left as it was.
pub(crate) fn apply(doc: &mut Value, ops: &[Op]) -> Result<(), String> {
    let mut work = doc.clone();
    for op in ops {
        apply_one(&mut work, op)?;
    }
    *doc = work;
    Ok(())
}

fn apply_one(doc: &mut Value, op: &Op) -> Result<(), String> {
    match op {
        Op::Add { path, value } => {
            add(doc, path, value.clone()).map_err(|e| failed("add", path, e))
        }
        Op::Remove { path } => remove(doc, path)
            .map(drop)
            .map_err(|e| failed("remove", path, e)),
        Op::Replace { path, value } => {
            let target = get_mut(doc, path).map_err(|e| failed("replace", path, e))?;
            *target = value.clone();
            Ok(())
        }
        Op::Move { from, path } => {
            if path.starts_with(&format!("{from}/")) {
                return Err(failed(
                    "move",
                    path,
                    format!("cannot move {from} into itself"),
                ));
            }
            let v =
                remove(doc, from).map_err(|e| failed("move", path, format!("from {from}: {e}")))?;
            add(doc, path, v).map_err(|e| failed("move", path, e))
        }
        Op::Copy { from, path } => {
            let v = get_mut(doc, from)
                .map_err(|e| failed("copy", path, format!("from {from}: {e}")))?
                .clone();
            add(doc, path, v).map_err(|e| failed("copy", path, e))
        }
        Op::Test { path, value } => match get_mut(doc, path) {
            Ok(found) if equal(found, value) => Ok(()),
            Ok(found) => Err(failed(
                "test",
                path,
                format!("found {}, expected {}", compact(found), compact(value)),
            )),
            // Like kustomize's JSON patch library: testing a missing path against null passes.
            Err(_) if value.is_null() => Ok(()),
            Err(e) => Err(failed("test", path, e)),
        },
    }
}

fn failed(op: &str, path: &str, why: String) -> String {
    let path = if path.is_empty() {
        "the document root"
    } else {
        path
    };
    format!("{op} operation failed at {path}: {why}")
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Equality as JSON values, numbers compared by value.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// Splits a pointer into its decoded tokens.
fn tokens(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    path[1..]
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn pointer_of(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// An index into a sequence of `len` elements; negative counts from the end. `allow_end`
/// accepts `len` itself (where `add` inserts at the end).
fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    let i: i64 = token
        .parse()
        .map_err(|_| format!("`{token}` is not an index into a sequence"))?;
    // Where `add` inserts there is one more position (the end), and -1 names it.
    let len_i = len as i64 + i64::from(allow_end);
    let resolved = if i < 0 { i + len_i } else { i };
    let max = len_i - 1;
    if resolved < 0 || resolved > max {
        return Err(format!(
            "index {i} is out of range (the sequence has {len} elements)"
        ));
    }
    Ok(resolved as usize)
}

fn get_mut<'a>(doc: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    let toks = tokens(path);
    let mut cur = doc;
    for (n, t) in toks.iter().enumerate() {
        let here = || pointer_of(&toks[..=n]);
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("{} does not exist", here()))?,
            Value::Array(items) => {
                let len = items.len();
                let i = index(t, len, false).map_err(|e| format!("{}: {e}", here()))?;
                &mut items[i]
            }
            other => {
                return Err(format!(
                    "{} is {}, not a mapping or a sequence",
                    pointer_of(&toks[..n]),
                    type_name(other)
                ));
            }
        };
    }
    Ok(cur)
}

fn parent_of<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let toks = tokens(path);
    let (last, parent) = toks.split_last().expect("a non-empty path");
    let parent_ptr = pointer_of(parent);
    let p = get_mut(doc, &parent_ptr)?;
    Ok((p, last.clone()))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_of(doc, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let i = if last == "-" {
                items.len()
            } else {
                index(&last, items.len(), true)?
            };
            items.insert(i, value);
            Ok(())
        }
        other => Err(format!(
            "the parent is {}, not a mapping or a sequence",
            type_name(other)
        )),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    if path.is_empty() {
        return Err("cannot remove the whole document".into());
    }
    let (parent, last) = parent_of(doc, path)?;
    match parent {
        Value::Object(m) => remove_key(m, &last).ok_or_else(|| format!("{path} does not exist")),
        Value::Array(items) => {
            let i = index(&last, items.len(), false)?;
            Ok(items.remove(i))
        }
        other => Err(format!(
            "the parent is {}, not a mapping or a sequence",
            type_name(other)
        )),
    }
}

fn remove_key(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    m.shift_remove(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, ops: Value) -> Result<Value, String> {
        let ops = parse(&ops)?;
        let mut doc = doc;
        apply(&mut doc, &ops)?;
        Ok(doc)
    }

    #[test]
    fn all_operations() {
        let doc = json!({"spec": {"replicas": 1, "list": [1, 2, 3], "a": "x", "b": "y"}});
        let out = run(
            doc,
            json!([
                {"op": "test", "path": "/spec/replicas", "value": 1.0},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/spec/list/-", "value": 4},
                {"op": "add", "path": "/spec/list/0", "value": 0},
                {"op": "remove", "path": "/spec/list/-1"},
                {"op": "add", "path": "/spec/list/-1", "value": 9},
                {"op": "remove", "path": "/spec/list/4"},
                {"op": "remove", "path": "/spec/a"},
                {"op": "copy", "from": "/spec/b", "path": "/spec/c"},
                {"op": "move", "from": "/spec/b", "path": "/spec/d"},
                {"op": "add", "path": "/metadata", "value": {"annotations": {"x/y": "1"}}},
                {"op": "replace", "path": "/metadata/annotations/x~1y", "value": "2"},
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"replicas": 3, "list": [0, 1, 2, 3], "c": "y", "d": "y"}, "metadata": {"annotations": {"x/y": "2"}}})
        );
        let keys: Vec<_> = out["spec"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["replicas", "list", "c", "d"],
            "keys keep their order"
        );
    }

    #[test]
    fn failures_name_the_operation_and_path() {
        let doc = json!({"spec": {"replicas": 3, "list": [1]}});
        let err = |ops: Value| run(doc.clone(), ops).unwrap_err();
        assert_eq!(
            err(json!([{"op": "test", "path": "/spec/replicas", "value": 2}])),
            "test operation failed at /spec/replicas: found 3, expected 2"
        );
        assert_eq!(
            err(json!([{"op": "add", "path": "/spec/x/y", "value": 2}])),
            "add operation failed at /spec/x/y: /spec/x does not exist"
        );
        assert_eq!(
            err(json!([{"op": "replace", "path": "/spec/nope", "value": 2}])),
            "replace operation failed at /spec/nope: /spec/nope does not exist"
        );
        assert_eq!(
            err(json!([{"op": "remove", "path": "/spec/list/5"}])),
            "remove operation failed at /spec/list/5: index 5 is out of range (the sequence has 1 elements)"
        );
        assert_eq!(
            err(json!([{"op": "test", "path": "/spec/nope", "value": 1}])),
            "test operation failed at /spec/nope: /spec/nope does not exist"
        );
        assert_eq!(
            err(json!([{"op": "move", "from": "/spec", "path": "/spec/x"}])),
            "move operation failed at /spec/x: cannot move /spec into itself"
        );
        assert_eq!(
            err(json!([{"op": "add", "path": "/x"}])),
            "operation 1: `add` needs `value`"
        );
        assert_eq!(
            err(json!([{"op": "add", "path": "x", "value": 1}])),
            "operation 1: `path` must be empty or start with `/`, found `x`"
        );
        assert_eq!(
            err(json!({"op": "add"})),
            "a JSON 6902 patch must be a sequence, found a mapping"
        );
    }

    #[test]
    fn a_failed_patch_leaves_the_document_alone() {
        let mut doc = json!({"a": 1});
        let ops = parse(&json!([{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 2}])).unwrap();
        assert!(apply(&mut doc, &ops).is_err());
        assert_eq!(doc, json!({"a": 1}));
    }
}
