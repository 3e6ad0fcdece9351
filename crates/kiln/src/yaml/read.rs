//! Reading one YAML document into a JSON value, resolving plain scalars as Kubernetes
//! tooling does.
//!
//! kustomize (kyaml, on go-yaml v3) and the API server's decoder read a plain `0400` as
//! the octal integer 256, `0x1F` and `0X1F` as 31, `1_000` as 1000 and `08` as the number
//! 8; serde_yaml, a YAML 1.2 reader, keeps those as strings. A quoted scalar is always a
//! string, and `yes`/`no`/`on`/`off`/`y`/`n` are strings to both. kustomize also reads
//! every value of a resource's `metadata.annotations` as its text: `port: 8080` is the
//! string `"8080"`, `t: ~` the string `"~"`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::MAX_DEPTH;

/// How plain scalars resolve.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schema {
    /// YAML 1.2 core, as serde_yaml reads it (kiln's own files: configs, values,
    /// kustomization files).
    Core,
    /// As kustomize reads a patch: YAML 1.1 integers (octal `0400`, `0X1F`, `1_000`).
    Patch,
    /// As kustomize reads a resource: as [`Schema::Patch`], and each value of
    /// `metadata.annotations` as its text.
    Manifest,
}

/// Where a node is, as far as annotation handling needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    /// The `items` of a root: the resources of a `kind: List`, each read as a root.
    Items,
    Metadata,
    Annotations,
    Other,
}

/// A document (or a node of one) read into JSON.
pub(crate) struct Node<'t> {
    /// The whole text being read: plain scalars are told from quoted ones by the bytes
    /// around the slice serde_yaml borrows from it.
    pub(crate) text: &'t str,
    pub(crate) schema: Schema,
    depth: usize,
    place: Place,
}

impl<'t> Node<'t> {
    /// The root node of a document of `text`.
    pub(crate) fn root(text: &'t str, schema: Schema) -> Self {
        Node {
            text,
            schema,
            depth: 0,
            place: Place::Root,
        }
    }

    fn child(&self, place: Place) -> Self {
        Node {
            text: self.text,
            schema: self.schema,
            depth: self.depth + 1,
            place,
        }
    }

    /// Whether `s`, a string serde_yaml handed over, was a plain scalar of the text: it
    /// is a slice of the text not enclosed in quotes and not tagged (`!!str 0400`).
    fn is_plain(&self, s: &str) -> bool {
        let base = self.text.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        if at < base || at + s.len() > base + self.text.len() || s.is_empty() {
            return false;
        }
        let start = at - base;
        let before = &self.text[..start];
        if before.ends_with(['\'', '"']) {
            return false;
        }
        // A tag just before the scalar (`!!str 0400`, `!<tag:yaml.org,2002:str> x`).
        let token = before.trim_end_matches([' ', '\t']);
        let last = token
            .rsplit([' ', '\t', '\n', ':', ',', '[', '{', '-', '?'])
            .next()
            .unwrap_or("");
        !last.starts_with('!')
    }
}

/// The value a plain scalar has for go-yaml v3 when serde_yaml left it a string: the
/// integers of Go's `strconv.ParseInt(s, 0, 64)` once `_` are removed (sign, `0x`/`0X`,
/// `0o`/`0O`, `0b`/`0B`, and a leading `0` for octal), else a decimal float of YAML's
/// form (`08`, `09.5`, `1_0.5`; a whole one as an integer, as kustomize prints it), else
/// the string.
pub(crate) fn resolve_plain(s: &str) -> Value {
    let first = s.as_bytes().first().copied().unwrap_or(b' ');
    if !(first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.') {
        return Value::String(s.to_string());
    }
    if first == b'.' {
        // go-yaml tries a float for a scalar starting with a dot (`.5`).
        return match go_float(s) {
            Some(f) => float_value(f).unwrap_or_else(|| Value::String(s.to_string())),
            None => Value::String(s.to_string()),
        };
    }
    if let Some(t) = timestamp(s) {
        return Value::String(t);
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if let Some(v) = go_parse_int(&plain) {
        return v;
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        // kustomize writes a whole float as an integer (`08` is printed `8`).
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            return Value::from(f as i64);
        }
        if let Some(v) = float_value(f) {
            return v;
        }
    }
    Value::String(s.to_string())
}

/// A plain scalar go-yaml v3 reads as a timestamp (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`,
/// `2001-12-14 21:59:43.10`), written as kustomize writes it: Go's RFC 3339 form with
/// nanoseconds (`2001-12-14T00:00:00Z`, `2001-12-14T21:59:43.1-05:00`).
pub(super) fn timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let mut rest = &s[5..];
    let year: u32 = s[..4].parse().ok()?;
    let month = take_num(&mut rest)?;
    rest = rest.strip_prefix('-')?;
    let day = take_num(&mut rest)?;
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    let Some(sep) = rest.chars().next() else {
        return Some(format!("{date}T00:00:00Z"));
    };
    if !matches!(sep, 'T' | 't' | ' ') {
        return None;
    }
    rest = &rest[1..];
    let hour = take_num(&mut rest)?;
    rest = rest.strip_prefix(':')?;
    let minute = take_num(&mut rest)?;
    rest = rest.strip_prefix(':')?;
    let second = take_num(&mut rest)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut frac = String::new();
    if let Some(r) = rest.strip_prefix('.')
        && r.starts_with(|c: char| c.is_ascii_digit())
    {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        frac = r[..n.min(9)].trim_end_matches('0').to_string();
        rest = &r[n..];
    }
    let zone = if sep == ' ' {
        // The space-separated layout has no zone: UTC.
        "Z".to_string()
    } else if rest == "Z" {
        rest = "";
        "Z".to_string()
    } else {
        let zb = rest.as_bytes();
        if zb.len() != 6
            || !matches!(zb[0], b'+' | b'-')
            || zb[3] != b':'
            || ![1, 2, 4, 5].iter().all(|&i| zb[i].is_ascii_digit())
        {
            return None;
        }
        let zone = if &rest[1..] == "00:00" {
            "Z".to_string()
        } else {
            rest.to_string()
        };
        rest = "";
        zone
    };
    if !rest.is_empty() {
        return None;
    }
    let frac = if frac.is_empty() {
        frac
    } else {
        format!(".{frac}")
    };
    Some(format!(
        "{date}T{hour:02}:{minute:02}:{second:02}{frac}{zone}"
    ))
}

/// One or two digits from the start of `rest`, as Go's layouts `1`, `2`, `15`, `4` and `5`
/// read them.
fn take_num(rest: &mut &str) -> Option<u32> {
    let n = rest.bytes().take(2).take_while(u8::is_ascii_digit).count();
    let v = rest.get(..n).filter(|d| !d.is_empty())?.parse().ok()?;
    *rest = &rest[n..];
    Some(v)
}

/// `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint` for values past `i64`.
pub(super) fn go_parse_int(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(rest) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, rest)
    } else if let Some(rest) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, rest)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Some(Value::from((magnitude as i64).wrapping_neg()))
        } else {
            None
        }
    } else if let Ok(i) = i64::try_from(magnitude) {
        Some(Value::from(i))
    } else {
        Some(Value::from(magnitude))
    }
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
pub(super) fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)))
}

/// Go's `strconv.ParseFloat` for the decimal forms a scalar starting with `.` can take.
fn go_float(s: &str) -> Option<f64> {
    is_yaml_float(s).then(|| s.parse().ok()).flatten()
}

fn float_value(f: f64) -> Option<Value> {
    serde_json::Number::from_f64(f).map(Value::Number)
}

fn too_deep<E: de::Error>() -> E {
    E::custom(format!("document nests deeper than {MAX_DEPTH} levels"))
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        if self.place == Place::Annotations && self.schema == Schema::Manifest {
            return d.deserialize_str(AnnotationText);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::from(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }
    fn visit_i128<E>(self, i: i128) -> Result<Value, E> {
        Ok(float_value(i as f64).unwrap_or_else(|| Value::String(i.to_string())))
    }
    fn visit_u128<E>(self, u: u128) -> Result<Value, E> {
        Ok(float_value(u as f64).unwrap_or_else(|| Value::String(u.to_string())))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        // .inf and .nan have no JSON form: keep their YAML spelling as a string.
        Ok(float_value(f).unwrap_or_else(|| {
            Value::String(
                if f.is_nan() {
                    ".nan"
                } else if f > 0.0 {
                    ".inf"
                } else {
                    "-.inf"
                }
                .to_string(),
            )
        }))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value, E> {
        if self.schema != Schema::Core && self.is_plain(s) {
            return Ok(resolve_plain(s));
        }
        Ok(Value::String(s.to_string()))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        let place = if self.place == Place::Items {
            Place::Root
        } else {
            Place::Other
        };
        while let Some(v) = seq.next_element_seed(self.child(place))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let place = match (self.place, key.as_str()) {
                (Place::Root, "metadata") => Place::Metadata,
                (Place::Root, "items") => Place::Items,
                (Place::Metadata, "annotations") => Place::Annotations,
                _ => Place::Other,
            };
            // Annotations themselves are a mapping; their values are read as text.
            let value = if place == Place::Annotations {
                map.next_value_seed(AnnotationMap(self.child(place)))?
            } else {
                map.next_value_seed(self.child(place))?
            };
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate entry with key {key:?}"
                )));
            }
            obj.insert(key, value);
        }
        Ok(Value::Object(obj))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A custom tag (`!Ref x`): the tag is dropped, the value kept.
        let (_tag, variant): (String, _) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

/// The mapping under `metadata.annotations`: its values are read as text.
struct AnnotationMap<'t>(Node<'t>);

impl<'de> DeserializeSeed<'de> for AnnotationMap<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let node = self.0;
        if node.schema != Schema::Manifest {
            return node.child_as(Place::Other).deserialize(d);
        }
        d.deserialize_any(AnnotationMapVisitor(node))
    }
}

impl Node<'_> {
    fn child_as(self, place: Place) -> Self {
        Node { place, ..self }
    }
}

struct AnnotationMapVisitor<'t>(Node<'t>);

impl<'de> Visitor<'de> for AnnotationMapVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of annotations")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let value = map.next_value_seed(self.0.child(Place::Annotations))?;
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate entry with key {key:?}"
                )));
            }
            obj.insert(key, value);
        }
        Ok(Value::Object(obj))
    }

    // Anything but a mapping is read as any other value, for the resource checks to name.
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.child_as(Place::Other).visit_unit()
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.0.child_as(Place::Other).visit_none()
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.0.child_as(Place::Other).visit_bool(b)
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.0.child_as(Place::Other).visit_i64(i)
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.0.child_as(Place::Other).visit_u64(u)
    }
    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        self.0.child_as(Place::Other).visit_f64(f)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.0.child_as(Place::Other).visit_str(s)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        self.0.child_as(Place::Other).visit_seq(seq)
    }
}

/// An annotation value: the text of its scalar, whatever it looks like.
struct AnnotationText;

impl Visitor<'_> for AnnotationText {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
}

/// A mapping key: scalars become their string form.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar key")
    }

    fn visit_unit<E>(self) -> Result<String, E> {
        Ok("null".to_string())
    }
    fn visit_none<E>(self) -> Result<String, E> {
        Ok("null".to_string())
    }
    fn visit_bool<E>(self, b: bool) -> Result<String, E> {
        Ok(b.to_string())
    }
    fn visit_i64<E>(self, i: i64) -> Result<String, E> {
        Ok(i.to_string())
    }
    fn visit_u64<E>(self, u: u64) -> Result<String, E> {
        Ok(u.to_string())
    }
    fn visit_i128<E>(self, i: i128) -> Result<String, E> {
        Ok(i.to_string())
    }
    fn visit_u128<E>(self, u: u128) -> Result<String, E> {
        Ok(u.to_string())
    }
    fn visit_f64<E>(self, f: f64) -> Result<String, E> {
        Ok(serde_yaml::Number::from(f).to_string())
    }
    fn visit_str<E>(self, s: &str) -> Result<String, E> {
        Ok(s.to_string())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(
            "mapping key must be a scalar, found a sequence",
        ))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(
            "mapping key must be a scalar, found a mapping",
        ))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<String, A::Error> {
        let (_tag, variant): (String, _) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, Key)
    }
}
