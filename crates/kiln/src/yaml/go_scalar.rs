//! How go-yaml v2 (the YAML library under `sigs.k8s.io/yaml`, which kustomize prints
//! through) sees a scalar: whether a string would read back as another type if written
//! without quotes, and how a number looks after kustomize's trip through JSON.
//!
//! kustomize turns each resource into JSON (Go's `encoding/json`), reads that JSON back
//! with go-yaml v2 into plain Go values, and marshals them with go-yaml v2. So a float
//! is printed as Go's `strconv.FormatFloat(f, 'g', -1, 64)` does (`1e+06`,
//! `1.0000005e+06`), unless its JSON text was a whole number that fits 64 bits, which
//! comes back as an integer.

use serde_json::Number;

use super::read::{go_parse_int, is_yaml_float, timestamp};

/// Whether go-yaml v2 would read `s`, written plain, as anything but this string: its
/// `resolve` (YAML 1.1 booleans and nulls, Go integers and floats, timestamps) plus the
/// base-60 floats it quotes for older readers (`1:20`).
pub(crate) fn needs_quotes(s: &str) -> bool {
    resolves_to_non_string(s) || is_base60_float(s)
}

/// go-yaml v2's `resolve` on a plain scalar: `true` unless it resolves to a string.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null",
        "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF",
    ];
    // The first byte is the hint of what the scalar may be; other first bytes mean a
    // string (so `<<`, the merge key, is never reached).
    let hint = match s.as_bytes().first() {
        None => return true,
        Some(&b) => b,
    };
    let hinted = hint.is_ascii_digit() || b"+-.yYnNtTfFoO~".contains(&hint);
    if !hinted {
        return false;
    }
    if WORDS.contains(&s) {
        return true;
    }
    match hint {
        b'.' => go_parse_float(s).is_some(),
        b'+' | b'-' | b'0'..=b'9' => {
            if timestamp(s).is_some() {
                return true;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if go_parse_int(&plain).is_some() {
                return true;
            }
            if is_yaml_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite) {
                return true;
            }
            // `0b` then Go's `ParseInt(rest, 2, 64)`, which takes a sign after the prefix
            // (`-0b…` was read above).
            let binary = plain
                .strip_prefix("0b")
                .map(|rest| rest.strip_prefix(['+', '-']).unwrap_or(rest));
            binary.is_some_and(|d| {
                !d.is_empty() && d.len() < 64 && d.bytes().all(|b| b == b'0' || b == b'1')
            })
        }
        _ => false,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for a scalar starting with `.`: digits, `_` only
/// between digits, an optional exponent; an overflow to infinity is an error.
fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let digit = |j: Option<usize>| j.and_then(|j| b.get(j)).is_some_and(u8::is_ascii_digit);
            if !digit(i.checked_sub(1)) || !digit(Some(i + 1)) {
                return None;
            }
        }
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if !is_yaml_float(&plain) {
        return None;
    }
    plain.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// go-yaml v2's `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|b| b.is_ascii_digit() || b == b'_')) {
        return false;
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or_default();
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return false;
    }
    let mut sexagesimal = 0;
    for part in parts {
        let ok = match part.as_bytes() {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sexagesimal += 1;
    }
    sexagesimal > 0
}

/// A number as kustomize prints it: Go's `encoding/json` text of the value, read back by
/// go-yaml v2 (an integer when the text is a whole number within 64 bits, else a float)
/// and formatted by Go (`strconv.FormatFloat(f, 'g', -1, 64)` for a float).
pub(crate) fn go_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or_default();
    // encoding/json writes whole floats below 1e21 as plain digits: go-yaml then reads
    // them as an integer when they fit `int64` or `uint64`.
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f == 0.0 {
            return "0".into();
        }
        if f >= i64::MIN as f64 && f < i64::MAX as f64 {
            return (f as i64).to_string();
        }
        if f > 0.0 && f < u64::MAX as f64 {
            return (f as u64).to_string();
        }
    }
    go_format_g(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that read back as
/// `f`, in exponent form (`1e+06`, `1e-05`, at least two exponent digits) when the
/// decimal exponent is below -4 or at least 6 (the 'g' threshold for shortest output).
fn go_format_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest digits: `d.ddde±x`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked against kustomize v5.7.1 (`kubectl kustomize`): which strings it quotes.
    #[test]
    fn quoting_follows_go_yaml_v2_resolve() {
        for s in [
            "",
            "~",
            "null",
            "Null",
            "NULL",
            "y",
            "Y",
            "n",
            "yes",
            "No",
            "on",
            "OFF",
            "true",
            "False",
            "8080",
            "0400",
            "+1",
            "-1",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "-0b101",
            "1e3",
            "1.5",
            ".5",
            ".5_0",
            "1_0.5",
            "+.5",
            "08",
            "0777777777777777777777777",
            "1:20",
            "190:20:30",
            "12:30",
            "2001-12-14",
            "2024-01-01T00:00:00Z",
            "2024-1-1 1:2:3",
            "2001-12-14t21:59:43.10-05:00",
            ".inf",
            "-.Inf",
            ".NaN",
            "99999999999999999999",
        ] {
            assert!(needs_quotes(s), "{s:?} should need quotes");
        }
        for s in [
            "1.15.1",
            "169.254.169.254",
            "pod's",
            "$(var).svc",
            "nUll",
            "yES",
            "On1",
            "1e",
            "+inf",
            "-",
            "0xffffffffffffffffffff",
            "2024-02-30",
            "2001-12-14 21:59:43.10 -5",
            "1:60",
            "..",
            ".",
            "._5",
            "1e400",
            "<<",
            "=",
            "v1",
            "0x",
            "-.5.",
        ] {
            assert!(!needs_quotes(s), "{s:?} should be plain");
        }
    }

    #[test]
    fn numbers_print_as_go_after_json() {
        let n = |v: serde_json::Value| match v {
            serde_json::Value::Number(n) => go_number(&n),
            _ => unreachable!(),
        };
        use serde_json::json;
        assert_eq!(n(json!(1)), "1");
        assert_eq!(n(json!(-7)), "-7");
        assert_eq!(n(json!(12345678901234567890u64)), "12345678901234567890");
        assert_eq!(n(json!(1.5)), "1.5");
        assert_eq!(n(json!(1.0)), "1");
        assert_eq!(n(json!(-0.0)), "0");
        assert_eq!(n(json!(1e6)), "1000000");
        assert_eq!(n(json!(1e20)), "1e+20");
        assert_eq!(n(json!(1e21)), "1e+21");
        assert_eq!(n(json!(1e-6)), "1e-06");
        assert_eq!(n(json!(1e-7)), "1e-07");
        assert_eq!(n(json!(0.0001)), "0.0001");
        assert_eq!(n(json!(0.00001234)), "1.234e-05");
        assert_eq!(n(json!(1000000.5)), "1.0000005e+06");
        assert_eq!(n(json!(123456.5)), "123456.5");
        assert_eq!(n(json!(-2.5e100)), "-2.5e+100");
    }
}
