//! A YAML writer for JSON values, in the style `kubectl` and kustomize print: block
//! mappings, sequences at their key's indentation, literal blocks for multi-line text.
//!
//! Strings are quoted whenever a YAML 1.1 or 1.2 reader could take them for anything but a
//! string (`yes`, `on`, `~`, `0777`, `1_000`, `12:30`, `1e3`, …), since the Kubernetes
//! tooling that reads kiln's output still speaks YAML 1.1.

use std::fmt::Write as _;

use serde_json::Value;

/// Writes one value as a YAML document (no leading `---`), ending in a newline.
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            write_scalar(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The longest key written as `key: value` (bytes, quotes included). YAML readers give up
/// on an implicit key after 1024 characters, so a longer key is written as an explicit
/// `? key` entry with `: value` on the next line.
const MAX_IMPLICIT_KEY: usize = 1000;

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, ind: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        let start = out.len();
        write_str(out, k, ind, true);
        if out.len() - start > MAX_IMPLICIT_KEY {
            out.insert_str(start, "? ");
            out.push('\n');
            indent(out, ind);
        }
        out.push(':');
        write_value_after_key(out, v, ind);
    }
}

/// Writes what follows `key:` (or `- ` in a sequence of maps): a nested block on the next
/// lines, or ` scalar` and a newline.
fn write_value_after_key(out: &mut String, v: &Value, ind: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            indent(out, ind + 2);
            write_map(out, m, ind + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            indent(out, ind);
            write_seq(out, a, ind);
        }
        other => {
            out.push(' ');
            write_scalar(out, other, ind + 2);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], ind: usize) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => write_map(out, m, ind + 2),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, ind + 2),
            other => {
                write_scalar(out, other, ind + 2);
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection). `ind` is the indentation of a literal block's lines.
fn write_scalar(out: &mut String, v: &Value, ind: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(out, s, ind, false),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_str(out: &mut String, s: &str, ind: usize, is_key: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if !is_key && literal_ok(s) {
        write_literal(out, s, ind);
    } else if !s.chars().any(needs_escape) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        write_double_quoted(out, s);
    }
}

/// Whether `s` can be written without quotes and read back as the same string by YAML 1.1
/// and 1.2 readers.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s.chars().nth(1);
    // `--flag` and `-Xmx1g` are plain; `-`, `- x`, `-1` and `-.5` are not.
    let dash_ok = first == '-'
        && second.is_some_and(|c| c.is_alphanumeric() && !c.is_ascii_digit() || c == '-');
    if !(first.is_alphanumeric() || first == '/' || first == '_' || first == '.' || dash_ok) {
        return false;
    }
    if s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") {
        return false;
    }
    if !s.chars().all(|c| {
        c.is_alphanumeric()
            || matches!(
                c,
                '-' | '_'
                    | '.'
                    | '/'
                    | ':'
                    | '@'
                    | '+'
                    | ' '
                    | '='
                    | '('
                    | ')'
                    | '~'
                    | '$'
                    | '^'
                    | ';'
                    | '<'
                    | '>'
                    | ','
                    | '*'
                    | '&'
                    | '!'
                    | '%'
                    | '?'
            )
    }) {
        return false;
    }
    !looks_like_non_string(s)
}

/// YAML 1.1 and 1.2 spellings of booleans, nulls, numbers and timestamps.
fn looks_like_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", ".inf", "-.inf", "+.inf",
        ".nan",
    ];
    if s.starts_with("---") || s.starts_with("...") {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    let first = s.as_bytes()[0];
    // Anything number-like (digits, signs, dots, `_`, `:`, exponents, hex/octal/binary
    // prefixes) is quoted: cheaper than being exact, and always safe.
    if first.is_ascii_digit() || first == b'.' {
        let numberish = s.bytes().all(|b| {
            b.is_ascii_hexdigit()
                || matches!(
                    b,
                    b'.' | b'_'
                        | b':'
                        | b'+'
                        | b'-'
                        | b'x'
                        | b'o'
                        | b'X'
                        | b'O'
                        | b'T'
                        | b't'
                        | b'Z'
                        | b'z'
                        | b' '
                )
        });
        if numberish {
            return true;
        }
    }
    false
}

/// Characters only a double-quoted string can hold: control characters, and the
/// characters YAML readers take for line breaks (U+2028, U+2029) or a byte order mark.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Multi-line text without characters a literal block cannot hold as they are.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with(' ')
        && !s.starts_with('\n')
        && !s.chars().any(|c| needs_escape(c) && c != '\n')
        && !s.lines().any(|l| l.ends_with(' '))
}

fn write_literal(out: &mut String, s: &str, ind: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push('|');
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    for line in s[..body.len() + trailing.saturating_sub(1)].split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, ind);
            out.push_str(line);
        }
    }
    if trailing == 0 {
        // The caller's newline ends the last line.
    }
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) {
        let text = to_string(v);
        let back: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&back, v, "\n{text}");
    }

    #[test]
    fn layout_matches_kubectl() {
        let v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "args": ["--x", "1"], "env": []}], "empty": {}}});
        assert_eq!(
            to_string(&v),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    app: x\nspec:\n  containers:\n  - name: c\n    args:\n    - --x\n    - '1'\n    env: []\n  empty: {}\n"
        );
    }

    #[test]
    fn yaml_1_1_lookalikes_are_quoted() {
        for s in [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "~",
            "null",
            "0777",
            "1_000",
            "12:30",
            "1e3",
            "0x1F",
            ".5",
            "2024-01-01",
            "",
            " x",
            "a: b",
            "#c",
            "-",
            "*x",
            "&y",
            "!t",
            "%p",
            "@at",
            "`b",
            "[x",
            "{y",
        ] {
            let out = to_string(&json!({"k": s}));
            assert!(
                out.starts_with("k: '") || out.starts_with("k: \""),
                "{s:?} -> {out}"
            );
            round_trip(&json!({"k": s}));
        }
        assert_eq!(
            to_string(&json!({"k": "example.com/api:1.42.0"})),
            "k: example.com/api:1.42.0\n"
        );
    }

    #[test]
    fn multi_line_text_is_a_literal_block() {
        let v = json!({"data": {"a": "x\ny\n", "b": "x\ny", "c": "x\n\ny\n\n"}});
        assert_eq!(
            to_string(&v),
            "data:\n  a: |\n    x\n    y\n  b: |-\n    x\n    y\n  c: |+\n    x\n\n    y\n\n"
        );
        round_trip(&v);
    }

    #[test]
    fn odd_strings_round_trip() {
        for s in [
            "tab\there",
            "cr\r\n",
            "quote ' and \"",
            "back\\slash",
            "  lead",
            "trail  \nx",
            "\u{1}",
            "ünï",
            "line\n  indented\n",
            // Found by fuzzing (`fuzz/fuzz_targets/yaml_roundtrip.rs`): YAML readers break
            // lines at U+2028 and U+2029, inside a literal block or quotes too.
            "a\u{2028}b: c",
            "a\nb\u{2029}c: d\n",
            "x\u{feff}y",
            "\u{85}next line",
        ] {
            round_trip(&json!({"k": s, "l": [s]}));
        }
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/yaml_roundtrip.rs`): a key over 1024
    /// characters was written as `key: value`, which YAML readers refuse.
    #[test]
    fn long_keys_are_explicit() {
        let long = "k".repeat(1100);
        let quoted = format!("({})", "'".repeat(600));
        for k in [long.as_str(), quoted.as_str()] {
            let v = json!({
                "a": 1,
                k: "v",
                "m": {k: {"x": [1]}, "y": 2},
                "s": [{k: [{"z": 1}]}, {"b": 1, k: null}],
            });
            round_trip(&v);
        }
        assert_eq!(
            to_string(&json!({long.as_str(): 1})),
            format!("? {long}\n: 1\n")
        );
    }

    #[test]
    fn nested_sequences_and_numbers() {
        let v = json!({"a": [[1, 2], [], [{"b": 1.5}]], "n": -3, "f": 0.25, "t": true, "z": null});
        round_trip(&v);
    }
}
