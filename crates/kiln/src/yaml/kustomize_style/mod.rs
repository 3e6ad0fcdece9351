//! The YAML writer of `kiln build`: the bytes kustomize v5.7.1 prints.
//!
//! kustomize prints each resource through `sigs.k8s.io/yaml`, that is go-yaml v2 (a Go
//! port of libyaml's emitter) marshalling a Go map. This module is that emitter's
//! behaviour for the values a resource holds, rewritten for kiln's JSON values:
//! - every mapping's keys in go-yaml's natural order ([`natural_less`]);
//! - block mappings, block sequences at their key's indentation (`- ` under `key:`),
//!   `{}` and `[]` for empty collections, two spaces per level;
//! - a string plain when go-yaml v2 would read it back as that string, double-quoted when
//!   it would read as another type (`"8080"`, `"true"`, `""`, `"0400"`, `"1:20"`),
//!   single-quoted when it cannot be plain for its characters (`'- x'`, `'a: b'`,
//!   `'trailing '`), double-quoted with escapes when not even that (`"tab\tx"`);
//! - multi-line strings as literal blocks, with the chomping (`|-`, `|`, `|+`) and the
//!   indentation indicator (`|2`) their ends and start need;
//! - long plain and quoted strings folded at a space once a line passes 80 columns;
//! - a key longer than 128 bytes, or spanning lines, as an explicit `? key` entry;
//! - numbers as Go prints them after kustomize's trip through JSON ([`go_number`]).
//!
//! `kiln render` keeps its own writer ([`super::emit`]): kiln's field order
//! (`apiVersion`, `kind`, `metadata` first) and quoting that never changes a value's type.

use serde_json::{Map, Value};

mod scalar;

use super::go_scalar::go_number;
use scalar::{Style, analyze, string_style};

/// The column past which go-yaml breaks a long scalar at its next space.
const BEST_WIDTH: usize = 80;

/// The longest key (in bytes) go-yaml writes as `key: value`.
const MAX_SIMPLE_KEY: usize = 128;

/// Writes one value as a document, as kustomize prints a resource (no leading `---`).
#[cfg(test)]
pub(crate) fn to_string(value: &Value) -> String {
    document(|e| e.node(value, Context::default()))
}

/// Writes a resource's mapping as a document (no leading `---`).
pub(crate) fn mapping_to_string(m: &Map<String, Value>) -> String {
    document(|e| {
        if m.is_empty() {
            e.empty("{", "}");
        } else {
            e.mapping(m);
        }
    })
}

fn document(root: impl FnOnce(&mut Emitter)) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        indent: None,
        whitespace: true,
        indention: true,
    };
    root(&mut e);
    // The document's end: a line break unless the last line is already ended.
    e.write_indent();
    e.out
}

/// go-yaml v2's key order (its `keyList.Less` on strings): at the first character that
/// differs, two letters compare by code point and a letter sorts after any other
/// character; otherwise the runs of ASCII digits starting there compare as numbers
/// (`item9` before `item10`), then by length, then by the character. Of two keys where
/// one is a prefix of the other, the shorter comes first.
fn natural_less(a: &str, b: &str) -> bool {
    // Keys are nearly always ASCII: compare their bytes without collecting characters.
    if a.is_ascii() && b.is_ascii() {
        natural_less_in(a.as_bytes(), b.as_bytes())
    } else {
        let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        natural_less_in(&ar, &br)
    }
}

/// A character of a key: a byte of an ASCII key, else a `char`.
trait KeyUnit: Copy + Ord {
    fn char(self) -> char;
}

impl KeyUnit for u8 {
    fn char(self) -> char {
        char::from(self)
    }
}

impl KeyUnit for char {
    fn char(self) -> char {
        self
    }
}

fn natural_less_in<T: KeyUnit>(ar: &[T], br: &[T]) -> bool {
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (ac, bc) = (ar[i].char(), br[i].char());
        let (al, bl) = (ac.is_alphabetic(), bc.is_alphabetic());
        if al && bl {
            return ac < bc;
        }
        if al || bl {
            return bl;
        }
        // Neither is a letter: compare the digit runs starting here as numbers. A zero
        // after other digits of the same run is not a leading zero, so the runs then
        // compare with a leading 1 as go-yaml does.
        let (mut an, mut bn) = (0i64, 0i64);
        if ac == '0' || bc == '0' {
            let nonzero_before = ar[..i]
                .iter()
                .rev()
                .take_while(|c| c.char().is_ascii_digit())
                .any(|c| c.char() != '0');
            if nonzero_before {
                (an, bn) = (1, 1);
            }
        }
        let run = |units: &[T], n: &mut i64| {
            let mut end = i;
            while end < units.len() && units[end].char().is_ascii_digit() {
                let digit = units[end].char() as u8 - b'0';
                *n = n.wrapping_mul(10).wrapping_add(i64::from(digit));
                end += 1;
            }
            end
        };
        let (ai, bi) = (run(ar, &mut an), run(br, &mut bn));
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ac < bc;
    }
    ar.len() < br.len()
}

/// A mapping's entries in go-yaml's key order.
///
/// go-yaml's comparison is not a total order on every set of keys (`0a`, `0_`, `0` can
/// compare in a cycle): Go's sort then gives an order that depends on the map's random
/// iteration order, so kustomize's own output changes from run to run. A merge sort
/// never fails on such keys, gives one order for them, and the order go-yaml gives
/// whenever there is only one.
fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    merge_sort(
        &mut entries,
        &|a: &(&String, &Value), b: &(&String, &Value)| natural_less(a.0, b.0),
    );
    entries
}

/// A stable merge sort by `less` that needs no total order.
fn merge_sort<T: Copy>(items: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    if items.len() < 2 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort(&mut items[..mid], less);
    merge_sort(&mut items[mid..], less);
    let (left, right) = (items[..mid].to_vec(), items[mid..].to_vec());
    let (mut i, mut j) = (0, 0);
    for slot in items.iter_mut() {
        let take_right = i == left.len() || (j < right.len() && less(&right[j], &left[i]));
        if take_right {
            *slot = right[j];
            j += 1;
        } else {
            *slot = left[i];
            i += 1;
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Context {
    /// The node is a key or value of a block mapping.
    mapping: bool,
    /// The node is a key written as `key:` (so it cannot span lines).
    simple_key: bool,
}

/// The writer's state, as libyaml keeps it.
struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
    /// The indentation of the current block; `None` before the root node.
    indent: Option<usize>,
    /// The last character written is whitespace (or nothing is written yet).
    whitespace: bool,
    /// Only indentation is written on the current line so far.
    indention: bool,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// A line break of the value itself, inside a quoted or literal scalar.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn indicator(
        &mut self,
        text: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in text.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// Starts a line at the current indentation, unless the line holds only that already.
    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// Runs `body` one level deeper (`indentless`: at the same level, for a sequence
    /// under a key), then restores the indentation.
    fn nested(&mut self, root_indent: usize, indentless: bool, body: impl FnOnce(&mut Self)) {
        let saved = self.indent;
        self.indent = Some(match saved {
            None => root_indent,
            Some(i) if indentless => i,
            Some(i) => i + 2,
        });
        body(self);
        self.indent = saved;
    }

    fn node(&mut self, v: &Value, ctx: Context) {
        match v {
            Value::Object(m) if !m.is_empty() => self.mapping(m),
            Value::Array(a) if !a.is_empty() => self.sequence(a, ctx),
            Value::Object(_) => self.empty("{", "}"),
            Value::Array(_) => self.empty("[", "]"),
            Value::Null => self.scalar("null", Style::Plain, ctx),
            Value::Bool(b) => self.scalar(if *b { "true" } else { "false" }, Style::Plain, ctx),
            Value::Number(n) => self.scalar(&go_number(n), Style::Plain, ctx),
            Value::String(s) => self.scalar(s, string_style(s), ctx),
        }
    }

    fn empty(&mut self, open: &str, close: &str) {
        self.indicator(open, true, true, false);
        self.indicator(close, false, false, false);
    }

    fn mapping(&mut self, m: &Map<String, Value>) {
        self.nested(0, false, |e| {
            for (k, v) in sorted(m) {
                e.write_indent();
                let simple = k.len() <= MAX_SIMPLE_KEY && !analyze(k).multiline;
                if simple {
                    let ctx = Context {
                        mapping: true,
                        simple_key: true,
                    };
                    e.scalar(k, string_style(k), ctx);
                    e.indicator(":", false, false, false);
                } else {
                    e.indicator("?", true, false, true);
                    e.scalar(
                        k,
                        string_style(k),
                        Context {
                            mapping: true,
                            simple_key: false,
                        },
                    );
                    e.write_indent();
                    e.indicator(":", true, false, true);
                }
                e.node(
                    v,
                    Context {
                        mapping: true,
                        simple_key: false,
                    },
                );
            }
        });
    }

    fn sequence(&mut self, a: &[Value], ctx: Context) {
        let indentless = ctx.mapping && !self.indention;
        self.nested(0, indentless, |e| {
            for item in a {
                e.write_indent();
                e.indicator("-", true, false, true);
                e.node(item, Context::default());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(keys: &[&str]) -> Vec<String> {
        let mut v: Vec<&str> = keys.to_vec();
        merge_sort(&mut v, &|a: &&str, b: &&str| natural_less(a, b));
        v.into_iter().map(str::to_string).collect()
    }

    #[test]
    fn key_order_is_natural() {
        assert_eq!(
            order(&["NAMESPACE_LABEL", "NAME_LABEL"]),
            ["NAME_LABEL", "NAMESPACE_LABEL"]
        );
        assert_eq!(order(&["jwksUri", "jwks_uri"]), ["jwks_uri", "jwksUri"]);
        assert_eq!(order(&["a10", "a9", "a1"]), ["a1", "a9", "a10"]);
        assert_eq!(order(&["b", "a", "B", "A"]), ["A", "B", "a", "b"]);
        assert_eq!(order(&["ab", "a"]), ["a", "ab"]);
        // Checked against kustomize v5.7.1: the order it printed these keys in.
        assert_eq!(
            order(&[
                "a",
                "1.5",
                "NULL",
                "_a",
                "+1",
                "A",
                "1",
                "=",
                "a10",
                "a9",
                ".5",
                "-",
                "1_000",
                "NAME_LABEL",
                "Null",
                "NAMESPACE_LABEL"
            ]),
            [
                "+1",
                "-",
                ".5",
                "=",
                "_a",
                "1",
                "1.5",
                "1_000",
                "A",
                "NAME_LABEL",
                "NAMESPACE_LABEL",
                "NULL",
                "Null",
                "a",
                "a9",
                "a10"
            ]
        );
        // Zeros: `a01` and `a1` are the same number, the shorter run first; a zero
        // inside a run is not a leading one.
        assert_eq!(order(&["a01", "a1", "a001"]), ["a1", "a01", "a001"]);
        assert_eq!(order(&["x100", "x20", "x3"]), ["x3", "x20", "x100"]);
        assert_eq!(order(&["v1.10", "v1.9", "v1.0"]), ["v1.0", "v1.9", "v1.10"]);
    }

    /// Found by a randomized comparison with kustomize: keys on which go-yaml's
    /// comparison is not a total order made the standard sort panic.
    #[test]
    fn keys_without_a_total_order_sort_without_failing() {
        let keys = [
            "0a", "0_", "0", "00", "0-1", "a0", "a00", "_0", "0 ", "01", "1", "10a", "1_0",
        ];
        let mut m = Map::new();
        for (i, k) in keys.iter().cycle().take(200).enumerate() {
            m.insert(format!("{k}{}", i % 17), Value::from(i));
        }
        let out = mapping_to_string(&m);
        assert_eq!(out.lines().count(), m.len());
        assert_eq!(mapping_to_string(&m), out);
    }

    #[test]
    fn layout_is_kustomize_s() {
        let v = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "args": ["--x", "1"], "env": []}], "empty": {}, "n": null,
            "nested": [[1, 2], [], [{"b": 2, "a": 1}]]}});
        assert_eq!(
            to_string(&v),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    app: x\n  name: a\nspec:\n  containers:\n  - args:\n    - --x\n    - \"1\"\n    env: []\n    name: c\n  empty: {}\n  \"n\": null\n  nested:\n  - - 1\n    - 2\n  - []\n  - - a: 1\n      b: 2\n"
        );
    }

    /// kiln reads what it writes back as the same strings, keys and values alike (as
    /// `Rendered::resources` does).
    #[test]
    fn strings_read_back_as_themselves() {
        let long = "lorem ipsum dolor ".repeat(12);
        let odd = [
            "yes",
            "No",
            "on",
            "~",
            "null",
            "0777",
            "1_000",
            "12:30",
            "1:20",
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
            "?x",
            "? x",
            "tab\there",
            "cr\r\n",
            "quote ' and \"",
            "back\\slash",
            "  lead",
            "trail  \nx",
            "\u{1}",
            "ünï",
            "line\n  indented\n",
            "a\u{2028}b: c",
            "a\nb\u{2029}c: d\n",
            "x\u{feff}y",
            "\u{85}next line",
            "ship \u{1F6A2}",
            "1e400",
            "+inf",
            "1:60",
            "2024-02-30",
            "..",
            "---",
            "...x",
            "\n",
            "\n\n",
            " \n",
            "a\n\n",
            "x ",
            "=",
            "<<",
            "1.15.1",
            long.trim_end(),
            &long,
            &format!("{long}\n{long}"),
            &"k".repeat(200),
        ];
        let mut data = Map::new();
        for (i, s) in odd.iter().enumerate() {
            data.insert(format!("k{i}"), json!(s));
            data.insert(s.to_string(), json!(format!("v{i}")));
        }
        let doc = json!({"data": data, "list": odd.to_vec()});
        let text = mapping_to_string(doc.as_object().unwrap());
        let back = crate::yaml::parse_stream(&text, std::path::Path::new("out.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, [doc], "\n{text}");
    }

    #[test]
    fn long_keys_are_explicit_entries() {
        let key = "k".repeat(129);
        assert_eq!(
            to_string(&json!({key.as_str(): "v"})),
            format!("? {key}\n: v\n")
        );
        let spaced = "long plain key with spaces ".repeat(6);
        let out = to_string(&json!({"d": {spaced.as_str(): "v"}}));
        assert_eq!(
            out,
            "d:\n  ? 'long plain key with spaces long plain key with spaces long plain key with spaces\n    long plain key with spaces long plain key with spaces long plain key with spaces '\n  : v\n"
        );
    }
}
