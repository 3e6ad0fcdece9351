//! Reading and writing YAML streams, with positions in errors.

mod emit;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::YamlError;
use crate::resource::{Resource, type_name};

/// The largest YAML or JSON file kiln reads (64 MiB): a bigger one is an error, not an
/// out-of-memory kill.
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;

/// The deepest nesting of mappings and sequences accepted in one document.
pub(crate) const MAX_DEPTH: usize = 200;

/// Parses every document of a YAML stream into JSON values, skipping empty documents.
pub(crate) fn parse_stream(text: &str, file: &Path) -> Result<Vec<Value>, YamlError> {
    if let Some(pos) = flow_too_deep(text) {
        return Err(YamlError::new(
            file,
            Some(pos),
            format!("document nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value =
            serde_yaml::Value::deserialize(doc).map_err(|e| YamlError::from_serde(file, &e))?;
        if value.is_null() {
            continue;
        }
        out.push(to_json(value, file, 0)?);
    }
    Ok(out)
}

/// Parses a single YAML (or JSON) document.
pub(crate) fn parse_one(text: &str, file: &Path) -> Result<Value, YamlError> {
    let mut docs = parse_stream(text, file)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(YamlError::new(
            file,
            None,
            format!("expected one YAML document, found {n}"),
        )),
    }
}

/// Parses a YAML stream into resources: `kind: List` documents are unwrapped into their
/// `items`, and every item must be a resource (a mapping with `kind` and `metadata.name`).
pub(crate) fn parse_resources(text: &str, file: &Path) -> Result<Vec<Resource>, YamlError> {
    let mut out = Vec::new();
    for (index, doc) in parse_stream(text, file)?.into_iter().enumerate() {
        push_resource(doc, file, index, &mut out)?;
    }
    Ok(out)
}

fn push_resource(
    doc: Value,
    file: &Path,
    index: usize,
    out: &mut Vec<Resource>,
) -> Result<(), YamlError> {
    let is_list = doc
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(is_list_kind)
        && doc.get("items").is_some();
    if is_list {
        let Value::Object(mut obj) = doc else {
            unreachable!("a List has a kind, so it is a mapping")
        };
        match obj.remove("items") {
            Some(Value::Array(items)) => {
                for item in items {
                    push_resource(item, file, index, out)?;
                }
                return Ok(());
            }
            Some(Value::Null) => return Ok(()),
            Some(other) => {
                return Err(YamlError::new(
                    file,
                    None,
                    format!(
                        "document {}: `items` of a List must be a sequence, found {}",
                        index + 1,
                        type_name(&other)
                    ),
                ));
            }
            None => unreachable!("checked above"),
        }
    }
    let resource = Resource::from_value(doc)
        .map_err(|why| YamlError::new(file, None, format!("document {}: {why}", index + 1)))?;
    out.push(resource);
    Ok(())
}

fn is_list_kind(kind: &str) -> bool {
    // kustomize unwraps `List` and typed lists such as `ConfigMapList`.
    kind.ends_with("List")
}

/// Where the text opens a flow collection (`[` or `{`) deeper than [`MAX_DEPTH`], as line
/// and column. The YAML scanner's work per token grows with the flow depth, so a deep
/// stack of brackets would take quadratic time before any depth limit of the parser is
/// reached; this linear pass refuses it first. It skips comments, quoted strings and
/// block scalars (`|`, `>`): brackets there are text, and kiln itself writes long strings
/// as block scalars.
fn flow_too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote = None;
    // Inside a block scalar: the indentation of its parent node, and that of its content
    // once its first line is seen.
    let mut block: Option<(usize, Option<usize>)> = None;
    for (n, line) in text.split('\n').enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some((parent, content)) = block {
            if line.trim().is_empty() {
                continue;
            }
            match content {
                None if indent > parent => {
                    block = Some((parent, Some(indent)));
                    continue;
                }
                Some(c) if indent >= c => continue,
                _ => block = None,
            }
        }
        let mut code_end = line.len();
        let mut prev = ' ';
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if let Some(q) = quote {
                if c == '\\' && q == '"' {
                    chars.next();
                } else if c == q {
                    if q == '\'' && chars.peek().is_some_and(|&(_, c)| c == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
            } else {
                match c {
                    '#' if prev.is_whitespace() => {
                        code_end = i;
                        break;
                    }
                    '"' | '\'' if !prev.is_alphanumeric() => quote = Some(c),
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Some((n + 1, line[..i].chars().count() + 1));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            prev = c;
        }
        if quote.is_none() && depth == 0 {
            block = block_scalar_start(&line[..code_end]).map(|parent| (parent, None));
        }
    }
    None
}

/// If `code` (a line without its comment) ends with a block scalar indicator (`|`, `>-`,
/// `|2+`, …) in block context, the indentation its content must exceed: the column of the
/// key it is the value of (`  key: |`), or of the `-` it is the item of (`- |`).
fn block_scalar_start(code: &str) -> Option<usize> {
    let code = code.trim_end();
    let token = code.rsplit([' ', '\t']).next()?;
    let mut rest = token.chars();
    if !matches!(rest.next(), Some('|' | '>'))
        || token.len() > 3
        || !rest.all(|c| matches!(c, '+' | '-' | '1'..='9'))
    {
        return None;
    }
    let before = code[..code.len() - token.len()].trim_end();
    // The node starts after the indentation and any `- ` / `? ` entry indicators.
    let mut column = code.len() - code.trim_start_matches(' ').len();
    let mut node = &code[column..];
    let mut entry = None;
    while let Some(after) = node.strip_prefix("- ").or_else(|| node.strip_prefix("? ")) {
        entry = Some(column);
        let skipped = node.len() - after.trim_start_matches(' ').len();
        column += skipped;
        node = &node[skipped..];
    }
    if node.len() == token.len() {
        // The indicator is the whole node: the item of a `-` (a bare one at the top level
        // is left alone: counting its brackets is the safe side).
        return entry;
    }
    // `key: |` (possibly with a tag or anchor between): the key's column.
    (before.ends_with(':')
        || before
            .split_whitespace()
            .last()
            .is_some_and(|t| t.starts_with('!') || t.starts_with('&')))
    .then_some(column)
}

/// Converts a YAML value to JSON: keys become strings, tags are dropped, and nesting is
/// bounded.
fn to_json(value: serde_yaml::Value, file: &Path, depth: usize) -> Result<Value, YamlError> {
    use serde_yaml::Value as Y;
    if depth > MAX_DEPTH {
        return Err(YamlError::new(
            file,
            None,
            format!("document nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => number_to_json(&n),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(|v| to_json(v, file, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut obj = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_string(),
                    other => {
                        return Err(YamlError::new(
                            file,
                            None,
                            format!(
                                "mapping key must be a scalar, found {}",
                                match other {
                                    Y::Sequence(_) => "a sequence",
                                    Y::Mapping(_) => "a mapping",
                                    _ => "a tagged value",
                                }
                            ),
                        ));
                    }
                };
                obj.insert(key, to_json(v, file, depth + 1)?);
            }
            Value::Object(obj)
        }
        Y::Tagged(t) => to_json(t.value, file, depth)?,
    })
}

fn number_to_json(n: &serde_yaml::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else if let Some(f) = n.as_f64() {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            // .inf and .nan have no JSON form: keep their YAML spelling as a string.
            .unwrap_or_else(|| Value::String(n.to_string()))
    } else {
        Value::String(n.to_string())
    }
}

/// Writes resources as a multi-document YAML stream, documents separated by `---`.
pub(crate) fn emit_stream<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> String {
    let mut out = String::new();
    for (i, r) in resources.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&emit_value(&Value::Object(r.as_object().clone())));
    }
    out
}

/// Writes one value as a YAML document (no leading `---`).
pub(crate) fn emit_value(value: &Value) -> String {
    emit::to_string(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("in.yaml")
    }

    #[test]
    fn multi_document_with_list_and_empty_docs() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let rs = parse_resources(text, p()).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[1].to_string(), "Secret/b");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse_stream("a: 1\nb: [1, 2\n", p()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("`in.yaml`"), "{msg}");
        assert!(err.line.is_some(), "{msg}");
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let err = parse_stream("a: 1\na: 2\n", p()).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn keys_become_strings_and_order_is_kept() {
        let v = parse_one("z: 1\n1: x\ntrue: y\na: 2\n", p()).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "1", "true", "a"]);
    }

    #[test]
    fn round_trip_is_identity() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  n: '1'\n  b: 'true'\n  s: |-\n    line1\n    line2\n";
        let v = parse_one(text, p()).unwrap();
        let again = parse_one(&emit_value(&v), p()).unwrap();
        assert_eq!(v, again);
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        let text = format!(
            "a: {}1{}\n",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let err = parse_stream(&text, p()).unwrap_err();
        assert_eq!((err.line, err.column), (Some(1), Some(MAX_DEPTH + 4)));
        // Brackets in comments and quoted strings do not count; closed ones do not add up.
        let many = "[".repeat(MAX_DEPTH * 2);
        let text = format!(
            "# {many}\na: '{many}'\nb: \"{many}\"\nc: [{}]\n",
            "[], ".repeat(MAX_DEPTH * 2)
        );
        parse_stream(&text, p()).unwrap();
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/krm_decode.rs`): a string with hundreds of
    /// unclosed `{`, read from a quoted scalar, was written back as a block scalar, where
    /// the pre-scan counted its brackets and refused kiln's own output.
    #[test]
    fn brackets_in_block_scalars_do_not_count() {
        let many = "{".repeat(MAX_DEPTH * 2);
        for text in [
            format!("a: |\n  {many}\n  {many}\nb: 1\n"),
            format!("a:\n  k: >-\n\n    {many}\n\n    x\n  j: 2\n"),
            format!("- |2+\n   {many}\n- x\n"),
            format!("- - a: !!str |\n      {many}\n"),
            format!("a: &x |\n  {many}\n"),
        ] {
            parse_stream(&text, p()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
        // After the block scalar ends, brackets count again; a `|` inside a plain scalar
        // or flow collection starts nothing.
        let deep = "[".repeat(MAX_DEPTH + 1);
        for text in [
            format!("a: |\n  x\nb: {deep}\n"),
            format!("a: |\nb: {deep}\n"),
            format!("- a: |\n  b: {deep}\n"),
            format!("a: [1, |\n  {deep}\n"),
        ] {
            let err = parse_stream(&text, p()).unwrap_err();
            assert!(err.to_string().contains("deeper than 200"), "{text}: {err}");
        }
        // Emitted long strings read back.
        let v = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"n": format!("e\n\n:{many}\nx\n")}});
        let again = parse_one(&emit_value(&v), p()).unwrap();
        assert_eq!(v, again);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "[".repeat(300) + &"]".repeat(300);
        let err = parse_stream(&text, p()).unwrap_err();
        assert!(
            err.to_string().contains("deeper") || err.to_string().contains("recursion"),
            "{err}"
        );
    }
}
