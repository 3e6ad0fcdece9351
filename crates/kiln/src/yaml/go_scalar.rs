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
    // encoding/json writes a whole float below 1e21 as its shortest digits padded with
    // zeros (`17961018803247186000`, not the float's exact value): go-yaml then reads
    // that text as an integer when it fits `int64` or `uint64`.
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f == 0.0 {
            return "0".into();
        }
        let (neg, digits, exp) = shortest_digits(f);
        let zeros = usize::try_from(exp + 1)
            .unwrap_or(0)
            .saturating_sub(digits.len());
        let text = format!(
            "{}{digits}{}",
            if neg { "-" } else { "" },
            "0".repeat(zeros)
        );
        if text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok() {
            return text;
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
    let (neg, digits, exp) = shortest_digits(f);
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

/// The shortest digits that read back as `f` (sign, digits, decimal exponent of the first
/// digit), as Go picks them: of the candidates of that length, the closest to `f`'s exact
/// value, a tie going to the even digit. Rust's `{:e}` gives the same digits except on
/// such a tie (`1445141585405861.25`: Go `…612`, Rust `…613`).
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    // A tie needs the exact value to end in a 5 just past the last digit: only long
    // digit strings can have one.
    if digits.len() < 16 || f == 0.0 {
        return (neg, digits, exp);
    }
    let (exact, exact_exp) = exact_decimal(f.abs());
    let n = digits.len();
    if exact.len() <= n || exact_exp != exp {
        return (neg, digits, exp);
    }
    let tie = exact[n] == 5 && exact[n + 1..].iter().all(|&d| d == 0);
    if !tie {
        return (neg, digits, exp);
    }
    // Round the exact value half to even at `n` digits.
    let mut kept: Vec<u8> = exact[..n].to_vec();
    if kept[n - 1] % 2 == 1 {
        let mut i = n;
        while i > 0 {
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
        if kept.iter().all(|&d| d == 0) {
            // 99…9 rounded up: Rust's digits are right, keep them.
            return (neg, digits, exp);
        }
    }
    let even: String = kept.iter().map(|d| char::from(b'0' + d)).collect();
    let trimmed = even.trim_end_matches('0');
    let candidate = format!("{}e{exp}", insert_point(trimmed));
    if candidate.parse::<f64>().ok() == Some(f.abs()) {
        (neg, trimmed.to_string(), exp)
    } else {
        (neg, digits, exp)
    }
}

fn insert_point(digits: &str) -> String {
    if digits.len() > 1 {
        format!("{}.{}", &digits[..1], &digits[1..])
    } else {
        digits.to_string()
    }
}

/// The exact decimal value of a positive finite float: its digits (most significant
/// first, no leading zero) and the decimal exponent of the first one.
fn exact_decimal(f: f64) -> (Vec<u8>, i32) {
    let bits = f.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mantissa, exp2) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    // Little-endian decimal digits of the mantissa, then times 2^exp2 or 5^-exp2.
    let mut n: Vec<u8> = mantissa
        .to_string()
        .bytes()
        .rev()
        .map(|b| b - b'0')
        .collect();
    let times = |n: &mut Vec<u8>, k: u8| {
        let mut carry = 0u8;
        for d in n.iter_mut() {
            let v = *d * k + carry;
            *d = v % 10;
            carry = v / 10;
        }
        if carry > 0 {
            n.push(carry);
        }
    };
    let point = if exp2 >= 0 {
        for _ in 0..exp2 {
            times(&mut n, 2);
        }
        0
    } else {
        for _ in 0..-exp2 {
            times(&mut n, 5);
        }
        -exp2
    };
    while n.len() > 1 && n.last() == Some(&0) {
        n.pop();
    }
    let first_exp = n.len() as i32 - 1 - point;
    n.reverse();
    (n, first_exp)
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
        // Found by a randomized comparison with kustomize: the shortest digits, then zeros.
        assert_eq!(n(json!(1.7961018803247186e19)), "17961018803247186000");
        assert_eq!(n(json!(1.5229597316712474e17)), "152295973167124740");
        // An exact tie between two shortest forms goes to the even digit, as in Go.
        assert_eq!(n(json!(1445141585405861.2)), "1.4451415854058612e+15");
        assert_eq!(n(json!(0.1 + 0.2)), "0.30000000000000004");
    }
}
