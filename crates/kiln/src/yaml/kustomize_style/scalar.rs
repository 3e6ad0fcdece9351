//! Scalars as go-yaml v2 writes them: which style a string gets (plain, single-quoted,
//! double-quoted, literal block), and each style's writer with libyaml's line folding.

use super::super::go_scalar::needs_quotes;
use super::{BEST_WIDTH, Context, Emitter};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What go-yaml's scalar analysis finds in a value: which styles can hold it.
#[derive(Debug)]
pub(super) struct Analysis {
    pub(super) multiline: bool,
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

/// The line breaks of YAML: `\r`, `\n`, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Characters go-yaml writes as they are; any other forces double quotes and an escape.
/// (Tab, `\r`, NEL, the byte order mark and everything past U+FFFF are not.)
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

/// libyaml's scan of a scalar: indicators at its start (`- `, `#`, `&`, …) or inside it
/// (`: `, ` #`), leading or trailing spaces and breaks, spaces next to breaks, and
/// characters that only an escape can write.
pub(super) fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            plain_allowed: true,
            single_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = chars.get(i + 1).is_none_or(|&n| n == ' ' || n == '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= previous_break;
            (previous_space, previous_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= previous_space;
            (previous_space, previous_break) = (false, true);
        } else {
            (previous_space, previous_break) = (false, false);
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.plain_allowed = false;
        a.single_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.plain_allowed = false;
    }
    a
}

impl Emitter {
    pub(super) fn scalar(&mut self, s: &str, requested: Style, ctx: Context) {
        let a = analyze(s);
        let mut style = requested;
        if ctx.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.plain_allowed || (s.is_empty() && ctx.simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || ctx.simple_key) {
            style = Style::Double;
        }
        let breaks_ok = !ctx.simple_key;
        self.nested(2, false, |e| match style {
            Style::Plain => e.plain(s, breaks_ok),
            Style::Single => e.single_quoted(s, breaks_ok),
            Style::Double => e.double_quoted(s, breaks_ok),
            Style::Literal => e.literal(s),
        });
    }

    fn plain(&mut self, s: &str, breaks_ok: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if breaks_ok && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn single_quoted(&mut self, s: &str, breaks_ok: bool) {
        self.indicator("'", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let inner = i > 0 && i + 1 < chars.len();
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if breaks_ok && !spaces && self.column > BEST_WIDTH && inner && !next_is_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn double_quoted(&mut self, s: &str, breaks_ok: bool) {
        self.indicator("\"", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    c => {
                        let (prefix, width) = match c as u32 {
                            0..=0xff => ('x', 2),
                            0x100..=0xffff => ('u', 4),
                            _ => ('U', 8),
                        };
                        self.put(prefix);
                        for ch in format!("{:0width$X}", c as u32).chars() {
                            self.put(ch);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                let inner = i > 0 && i + 1 < chars.len();
                if breaks_ok && !spaces && self.column > BEST_WIDTH && inner {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn literal(&mut self, s: &str) {
        self.indicator("|", true, false, false);
        if s.starts_with(|c: char| c == ' ' || is_break(c)) {
            self.indicator("2", false, false, false);
        }
        let mut ends = s.chars().rev();
        let chomp = match (ends.next(), ends.next()) {
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(before)) if is_break(before) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in s.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// The style go-yaml v2's marshaller asks for a string: a literal block when it spans
/// lines, plain when it reads back as itself, else double quotes. (The emitter then
/// falls back to quotes when the characters need them.)
pub(super) fn string_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if needs_quotes(s) {
        Style::Double
    } else {
        Style::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::super::to_string;
    use serde_json::json;

    fn value_line(s: &str) -> String {
        to_string(&json!({ "k": s }))
    }

    /// Each checked against kustomize v5.7.1.
    #[test]
    fn quoting_decisions() {
        for (s, want) in [
            ("8080", "k: \"8080\"\n"),
            ("true", "k: \"true\"\n"),
            ("", "k: \"\"\n"),
            ("0400", "k: \"0400\"\n"),
            ("yes", "k: \"yes\"\n"),
            ("~", "k: \"~\"\n"),
            ("1e3", "k: \"1e3\"\n"),
            ("2001-12-14", "k: \"2001-12-14\"\n"),
            ("1:20", "k: \"1:20\"\n"),
            ("1.15.1", "k: 1.15.1\n"),
            ("169.254.169.254", "k: 169.254.169.254\n"),
            ("pod's", "k: pod's\n"),
            ("$(var).svc", "k: $(var).svc\n"),
            ("say \"hi\" \\ there", "k: say \"hi\" \\ there\n"),
            ("a: b", "k: 'a: b'\n"),
            ("- a", "k: '- a'\n"),
            ("-x", "k: -x\n"),
            ("#x", "k: '#x'\n"),
            ("a #b", "k: 'a #b'\n"),
            ("a#b", "k: a#b\n"),
            ("trailing ", "k: 'trailing '\n"),
            (" leading", "k: ' leading'\n"),
            ("*", "k: '*'\n"),
            ("?x", "k: ?x\n"),
            ("tab\there", "k: \"tab\\there\"\n"),
            ("smile \u{1F600}", "k: \"smile \\U0001F600\"\n"),
            ("abc \ndef", "k: \"abc \\ndef\"\n"),
            // A line separator breaks a single-quoted line; the rest is indented.
            ("a\u{2028}b", "k: 'a\u{2028}  b'\n"),
        ] {
            assert_eq!(value_line(s), want, "{s:?}");
        }
        // Keys: quoted the same way; `n`, `y` read as booleans.
        assert_eq!(
            to_string(&json!({"y": 1, "n": "x"})),
            "\"n\": x\n\"y\": 1\n"
        );
    }

    #[test]
    fn literal_blocks() {
        for (s, want) in [
            ("a\nb", "k: |-\n  a\n  b\n"),
            ("a\nb\n", "k: |\n  a\n  b\n"),
            ("a\nb\n\n", "k: |+\n  a\n  b\n\n"),
            (" a\nb", "k: |2-\n   a\n  b\n"),
            ("\nabc", "k: |2-\n\n  abc\n"),
            ("\n", "k: |2+\n\n"),
            ("line1\n  line2\n\n", "k: |+\n  line1\n    line2\n\n"),
            ("abc\n def ", "k: \"abc\\n def \"\n"),
        ] {
            assert_eq!(value_line(s), want, "{s:?}");
        }
        // In a sequence, and as a key (an explicit entry).
        assert_eq!(
            to_string(&json!({"l": ["x\ny\n"], "a\nb": 1})),
            "? |-\n  a\n  b\n: 1\nl:\n- |\n  x\n  y\n"
        );
        // A `|+` block as the last value ends the document with its own blank line.
        assert_eq!(to_string(&json!({"z": "end\n\n"})), "z: |+\n  end\n\n");
    }

    #[test]
    fn long_strings_fold_at_80_columns() {
        let words = "word ".repeat(30);
        let words = words.trim_end();
        let line = "word ".repeat(15);
        let line = line.trim_end();
        assert_eq!(
            to_string(&json!({"data": {"long": words}})),
            format!("data:\n  long: {line}\n    {line}\n")
        );
        // Quoted strings fold too (checked against kustomize v5.7.1).
        let w = |n: usize| vec!["word"; n].join(" ");
        assert_eq!(
            to_string(&json!({"data": {"longq": format!("'quoted' {words}:")}})),
            format!(
                "data:\n  longq: '''quoted'' {}\n    {}\n    word:'\n",
                w(13),
                w(16)
            )
        );
        assert_eq!(
            to_string(&json!({"data": {"longd": format!("{words}\t")}})),
            format!("data:\n  longd: \"{}\n    {}\\t\"\n", w(15), w(15))
        );
        // A run of spaces never breaks a plain or single-quoted string.
        let spaced = "a  ".repeat(40);
        assert_eq!(to_string(&json!({"s": spaced})), format!("s: '{spaced}'\n"));
        // Keys do not fold, and a value after a long key folds at its first space.
        let key = "k".repeat(128);
        assert_eq!(
            to_string(&json!({key.as_str(): "key 128"})),
            format!("{key}: key\n  128\n")
        );
    }
}
