//! Reading and writing YAML streams, with positions in errors.

mod emit;
mod go_scalar;
mod kustomize_style;
mod read;

pub(crate) use read::Schema;

use std::path::Path;

use serde::de::DeserializeSeed;
use serde_json::Value;

use crate::error::YamlError;
use crate::resource::{Resource, type_name};

/// The largest YAML or JSON file kiln reads (64 MiB): a bigger one is an error, not an
/// out-of-memory kill.
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;

/// The deepest nesting of mappings and sequences accepted in one document.
pub(crate) const MAX_DEPTH: usize = 200;

/// Parses every document of a YAML stream of patches (or other Kubernetes documents
/// that are not resources) into JSON values, skipping empty documents: plain scalars
/// resolve as kustomize reads them (see [`Schema::Patch`]).
pub(crate) fn parse_stream(text: &str, file: &Path) -> Result<Vec<Value>, YamlError> {
    parse_stream_as(text, file, Schema::Patch)
}

/// Parses every document of a YAML stream, resolving plain scalars by `schema`.
pub(crate) fn parse_stream_as(
    text: &str,
    file: &Path,
    schema: Schema,
) -> Result<Vec<Value>, YamlError> {
    if let Some(pos) = flow_too_deep(text) {
        return Err(YamlError::new(
            file,
            Some(pos),
            format!("document nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = read::Node::root(text, schema)
            .deserialize(doc)
            .map_err(|e| YamlError::from_serde(file, &e))?;
        if value.is_null() {
            continue;
        }
        out.push(value);
    }
    Ok(out)
}

/// Parses a single YAML (or JSON) document of kiln's own (a config, values, a
/// kustomization file), as YAML 1.2 core.
pub(crate) fn parse_one(text: &str, file: &Path) -> Result<Value, YamlError> {
    parse_one_as(text, file, Schema::Core)
}

/// Parses a single YAML (or JSON) document, resolving plain scalars by `schema`.
pub(crate) fn parse_one_as(text: &str, file: &Path, schema: Schema) -> Result<Value, YamlError> {
    let mut docs = parse_stream_as(text, file, schema)?;
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
    for (index, doc) in parse_stream_as(text, file, Schema::Manifest)?
        .into_iter()
        .enumerate()
    {
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

/// How a YAML stream of resources is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputStyle {
    /// kiln's own (`kiln render`): fields in kiln's order (`apiVersion`, `kind`,
    /// `metadata` first, as the resource holds them), strings quoted whenever a YAML 1.1
    /// or 1.2 reader could take them for another type.
    Kiln,
    /// kustomize v5.7.1's bytes (`kiln build`): keys in go-yaml's natural order, go-yaml
    /// v2's quoting, folding and literal blocks (see [`kustomize_style`]).
    Kustomize,
}

/// Writes resources as a multi-document YAML stream, documents separated by `---`, in
/// kiln's own style.
pub(crate) fn emit_stream<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> String {
    emit_stream_as(resources, OutputStyle::Kiln)
}

/// Writes resources as a multi-document YAML stream, documents separated by `---`.
pub(crate) fn emit_stream_as<'a>(
    resources: impl IntoIterator<Item = &'a Resource>,
    style: OutputStyle,
) -> String {
    let mut out = String::new();
    for (i, r) in resources.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&match style {
            OutputStyle::Kiln => emit_value(&Value::Object(r.as_object().clone())),
            OutputStyle::Kustomize => kustomize_style::mapping_to_string(r.as_object()),
        });
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

    /// Plain scalars of a manifest resolve as go-yaml v3 (kustomize) reads them; quoted
    /// and tagged ones stay strings; kiln's own files keep YAML 1.2 core.
    #[test]
    fn manifests_read_yaml_1_1_integers() {
        let text = "a: 0400\nb: 0x1F\nc: 0X1F\nd: -0400\ne: 1_000\nf: 0o17\ng: 0b101\nh: 08\n\
                    i: 09.5\nj: 0xff_ff\nk: '0400'\nl: \"0x1F\"\nm: !!str 0400\nn: [0777, yes]\n\
                    o: yes\np: on\nq: True\nr: 12:30\ns: +12\nt: 0\nu: .5\nv: 1.2.3\nw: 1_0.0\n";
        let v = &parse_stream(text, p()).unwrap()[0];
        let want = serde_json::json!({
            "a": 256, "b": 31, "c": 31, "d": -256, "e": 1000, "f": 15, "g": 5, "h": 8,
            "i": 9.5, "j": 65535, "k": "0400", "l": "0x1F", "m": "0400", "n": [511, "yes"],
            "o": "yes", "p": "on", "q": true, "r": "12:30", "s": 12, "t": 0, "u": 0.5,
            "v": "1.2.3", "w": 10
        });
        assert_eq!(v, &want);
        // Timestamps are written back in Go's RFC 3339 form, as kustomize prints them.
        let text2 = "a: 2001-12-14\nb: 2001-1-2t1:2:3.50-05:00\nc: 2001-12-14 21:59:43.10\n\
                     d: 2001-12-14T21:59:43+00:00\ne: 2001-02-30\nf: 2001-12-14 1:2:3 -5\ng: '2001-12-14'\n";
        assert_eq!(
            parse_stream(text2, p()).unwrap()[0],
            serde_json::json!({
                "a": "2001-12-14T00:00:00Z", "b": "2001-01-02T01:02:03.5-05:00",
                "c": "2001-12-14T21:59:43.1Z", "d": "2001-12-14T21:59:43Z", "e": "2001-02-30",
                "f": "2001-12-14 1:2:3 -5", "g": "2001-12-14"
            })
        );
        let core = parse_one(text, p()).unwrap();
        assert_eq!(core["a"], "0400");
        assert_eq!(core["c"], "0X1F");
    }

    /// A resource's annotation values are their text, as kustomize reads them; labels,
    /// the pod template's annotations and patches keep typed values.
    #[test]
    fn resource_annotations_are_their_text() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {port: 8080, oct: 0400}\n\
                    \x20 annotations:\n    port: 8080\n    happy: true\n    h: 0x1F\n    n: null\n    t: ~\n    f: 1.50\n    q: 'x'\n\
                    spec:\n  template:\n    metadata:\n      annotations: {port: 8080}\n";
        let r = &parse_resources(text, p()).unwrap()[0];
        let v = Value::Object(r.as_object().clone());
        assert_eq!(
            v["metadata"]["annotations"],
            serde_json::json!({"port": "8080", "happy": "true", "h": "0x1F", "n": "null", "t": "~", "f": "1.50", "q": "x"})
        );
        assert_eq!(
            v["metadata"]["labels"],
            serde_json::json!({"port": 8080, "oct": 256})
        );
        assert_eq!(
            v["spec"]["template"]["metadata"]["annotations"]["port"],
            8080
        );
        // The resources of a List too.
        let list = format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}",
            text.replace('\n', "\n  ")
        );
        let r = &parse_resources(&list, p()).unwrap()[0];
        assert_eq!(r.as_object()["metadata"]["annotations"]["t"], "~");
        let patch = &parse_stream(text, p()).unwrap()[0];
        assert_eq!(patch["metadata"]["annotations"]["n"], Value::Null);
        assert_eq!(patch["metadata"]["annotations"]["port"], 8080);
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
