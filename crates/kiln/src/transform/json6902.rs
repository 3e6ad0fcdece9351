//! JSON 6902 patches, with kustomize's behaviour: `-` appends to a sequence, a negative
//! index counts from the end, and object keys keep their order (a removed key leaves the
//! others in place).

use serde_json::{Map, Value};

use crate::resource::type_name;
use crate::yaml::MAX_DEPTH;

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
///
/// A patch may not grow a resource past [`MAX_VALUES`] values or nest it deeper than
/// [`MAX_DEPTH`] levels (the limit its files are read with): a few `copy` operations of
/// the root into itself would otherwise double the document each time.
pub(crate) fn apply(doc: &mut Value, ops: &[Op]) -> Result<(), String> {
    let mut work = doc.clone();
    let mut size = measure(&work).values;
    for op in ops {
        apply_one(&mut work, op, &mut size)?;
    }
    *doc = work;
    Ok(())
}

/// The most values (scalars, mappings and sequences) a patched resource may hold.
pub(crate) const MAX_VALUES: usize = 1_000_000;

/// How many values a document holds and how deep it nests (a scalar or an empty
/// collection is 0 deep, a collection one more than its deepest element).
struct Measure {
    values: usize,
    depth: usize,
}

fn measure(v: &Value) -> Measure {
    let mut out = Measure {
        values: 1,
        depth: 0,
    };
    let mut visit = |c: &Value| {
        let m = measure(c);
        out.values += m.values;
        out.depth = out.depth.max(m.depth + 1);
    };
    match v {
        Value::Array(items) => items.iter().for_each(&mut visit),
        Value::Object(m) => m.values().for_each(&mut visit),
        _ => {}
    }
    out
}

/// Checks that a value measuring `m`, placed at `path` in place of `replaced` values, keeps
/// the document within [`MAX_VALUES`] and [`MAX_DEPTH`]; returns the new size.
fn grow(size: usize, replaced: usize, path: &str, m: &Measure) -> Result<usize, String> {
    let depth = tokens(path).len() + m.depth;
    if depth > MAX_DEPTH {
        return Err(format!(
            "the result would nest {depth} levels deep, over the limit of {MAX_DEPTH}"
        ));
    }
    let size = size - replaced.min(size) + m.values;
    if size > MAX_VALUES {
        return Err(format!(
            "the result would hold {size} values, over the limit of {MAX_VALUES}"
        ));
    }
    Ok(size)
}

fn apply_one(doc: &mut Value, op: &Op, size: &mut usize) -> Result<(), String> {
    match op {
        Op::Add { path, value } => {
            let replaced = replaced_by_add(doc, path);
            *size =
                grow(*size, replaced, path, &measure(value)).map_err(|e| failed("add", path, e))?;
            add(doc, path, value.clone()).map_err(|e| failed("add", path, e))
        }
        Op::Remove { path } => {
            let v = remove(doc, path).map_err(|e| failed("remove", path, e))?;
            *size -= measure(&v).values.min(*size);
            Ok(())
        }
        Op::Replace { path, value } => {
            let target = get_mut(doc, path).map_err(|e| failed("replace", path, e))?;
            let replaced = measure(target).values;
            *size = grow(*size, replaced, path, &measure(value))
                .map_err(|e| failed("replace", path, e))?;
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
            let m = measure(&v);
            let replaced = replaced_by_add(doc, path);
            *size = grow(*size - m.values.min(*size), replaced, path, &m)
                .map_err(|e| failed("move", path, e))?;
            add(doc, path, v).map_err(|e| failed("move", path, e))
        }
        Op::Copy { from, path } => {
            let replaced = replaced_by_add(doc, path);
            let source = get_mut(doc, from)
                .map_err(|e| failed("copy", path, format!("from {from}: {e}")))?;
            // Checked before cloning: the clone itself is what could be too big.
            *size = grow(*size, replaced, path, &measure(source))
                .map_err(|e| failed("copy", path, e))?;
            let v = source.clone();
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

/// How many values an `add` at `path` replaces: the whole document at the root, the old
/// value of an existing key; nothing where it inserts into a sequence or the path is
/// missing.
fn replaced_by_add(doc: &mut Value, path: &str) -> usize {
    if path.is_empty() {
        return measure(doc).values;
    }
    let Ok((parent, last)) = parent_of(doc, path) else {
        return 0;
    };
    match parent {
        Value::Object(m) => m.get(&last).map_or(0, |v| measure(v).values),
        _ => 0,
    }
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

    #[test]
    fn growth_is_bounded() {
        // Each copy of the root into itself doubles the document.
        let ops: Vec<Value> = (0..40)
            .map(|i| json!({"op": "copy", "from": "", "path": format!("/k{i}")}))
            .collect();
        let err = run(json!({"a": [1, 2, 3]}), Value::Array(ops)).unwrap_err();
        assert!(
            err.starts_with("copy operation failed at /k")
                && err.contains("over the limit of 1000000"),
            "{err}"
        );

        // An added value nested under a deep path.
        let mut deep = json!(1);
        for _ in 0..150 {
            deep = json!([deep]);
        }
        let path = "/x".repeat(60);
        let mut doc = json!({});
        let mut cur = &mut doc;
        for _ in 0..59 {
            cur["x"] = json!({});
            cur = &mut cur["x"];
        }
        let err = run(
            doc.clone(),
            json!([{"op": "add", "path": path, "value": deep}]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            format!(
                "add operation failed at {path}: the result would nest 210 levels deep, over the limit of 200"
            )
        );
        // The same value one level up the limit is fine; moving it deeper is not.
        let ok = run(
            doc,
            json!([{"op": "add", "path": "/y", "value": deep}, {"op": "move", "from": "/y", "path": "/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x"}]),
        );
        assert_eq!(
            ok.unwrap_err(),
            "move operation failed at /x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x: the result would nest 201 levels deep, over the limit of 200"
        );
    }

    /// Every single-operation patch over a sample document's pointers (and some that
    /// lead nowhere) against the `json-patch` crate as an oracle. Left out are the cases
    /// where kustomize's behaviour differs from RFC 6902 on purpose: negative indexes,
    /// indexes with leading zeros (`01`), and `test` of a missing path against `null`.
    #[test]
    fn agrees_with_the_json_patch_crate() {
        let doc = json!({
            "a": {"b": [1, {"c": "x"}, [true]], "d": null, "": 0, "e/f": 1, "g~h": 2},
            "list": [],
            "n": 1.5,
        });
        let pointers = [
            "",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1",
            "/a/b/1/c",
            "/a/b/2/0",
            "/a/b/3",
            "/a/b/-",
            "/a/d",
            "/a/",
            "/a/e~1f",
            "/a/g~0h",
            "/list",
            "/list/0",
            "/list/-",
            "/n",
            "/n/x",
            "/missing",
            "/missing/deeper",
            "/a/b/x",
        ];
        let values = [json!(7), json!({"z": [1]}), json!(null)];
        let mut cases = Vec::new();
        for path in pointers {
            cases.push(json!({"op": "remove", "path": path}));
            for value in &values {
                cases.push(json!({"op": "add", "path": path, "value": value}));
                cases.push(json!({"op": "replace", "path": path, "value": value}));
                cases.push(json!({"op": "test", "path": path, "value": value}));
            }
            for from in pointers {
                cases.push(json!({"op": "move", "from": from, "path": path}));
                cases.push(json!({"op": "copy", "from": from, "path": path}));
            }
        }
        let mut compared = 0;
        for case in cases {
            let ours = run(doc.clone(), json!([case]));
            let is_test = case["op"] == "test";
            let missing = run(
                doc.clone(),
                json!([{"op": "copy", "from": case["path"], "path": "/probe"}]),
            )
            .is_err();
            if is_test && case["value"].is_null() && missing {
                continue;
            }
            let ops: json_patch::Patch = serde_json::from_value(json!([case])).unwrap();
            let mut theirs = doc.clone();
            let oracle = json_patch::patch(&mut theirs, &ops).map(|()| theirs);
            match (&ours, &oracle) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{case}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{case}: ours {ours:?}, json-patch {oracle:?}"),
            }
            compared += 1;
        }
        assert!(compared > 1000, "{compared}");
    }
}
