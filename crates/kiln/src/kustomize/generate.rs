//! `configMapGenerator` and `secretGenerator`: key/value sources, the generated objects,
//! generator options, and how a generated object joins the resources (`behavior`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::file::{GeneratorArgs, GeneratorOptions, Loaded};
use super::{Annot, KustomizeError, Kustomizer};
use crate::resource::Resource;

/// How a generated object joins the resources already accumulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behavior {
    Create,
    Merge,
    Replace,
}

impl Behavior {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Behavior::Create => "create",
            Behavior::Merge => "merge",
            Behavior::Replace => "replace",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Behavior> {
        match s {
            "" | "create" => Some(Behavior::Create),
            "merge" => Some(Behavior::Merge),
            "replace" => Some(Behavior::Replace),
            _ => None,
        }
    }
}

/// Which generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GenKind {
    ConfigMap,
    Secret,
}

impl GenKind {
    pub(crate) fn field(self) -> &'static str {
        match self {
            GenKind::ConfigMap => "configMapGenerator",
            GenKind::Secret => "secretGenerator",
        }
    }
}

/// kustomize's merge of `generatorOptions` into a generator's `options`: the generator's
/// own labels and annotations win; `disableNameSuffixHash` and `immutable` are on when
/// either sets them.
pub(crate) fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        for (k, v) in &g.labels {
            out.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &g.annotations {
            out.annotations
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        out.disable_name_suffix_hash |= g.disable_name_suffix_hash;
        out.immutable |= g.immutable;
    }
    out
}

impl Kustomizer<'_> {
    /// Makes the object of one generator entry, marked with its behavior and whether it
    /// needs a hash suffix.
    pub(crate) fn generate(
        &self,
        kust: &Loaded,
        kind: GenKind,
        args: &GeneratorArgs,
    ) -> Result<Resource, crate::Error> {
        let err = |message: String| KustomizeError::Generator {
            file: self.inputs.display(&kust.file),
            field: kind.field(),
            name: args.name.clone(),
            message,
        };
        if args.name.is_empty() {
            return Err(err("`name` is missing".into()).into());
        }
        if kind == GenKind::ConfigMap && args.type_.is_some() {
            return Err(err("`type` is only valid for secrets".into()).into());
        }
        let behavior =
            Behavior::parse(args.behavior.as_deref().unwrap_or_default()).ok_or_else(|| {
                err(format!(
                    "unknown behavior `{}`, expected `create`, `merge` or `replace`",
                    args.behavior.as_deref().unwrap_or_default()
                ))
            })?;
        let options = merge_options(args.options.as_ref(), kust.k.generator_options.as_ref());

        let pairs = self.key_values(kust, args, &err)?;
        let mut data = BTreeMap::new();
        for (key, value) in pairs {
            check_key(&key).map_err(|m| err(m.to_string()))?;
            if data.contains_key(&key) {
                return Err(err(format!("the key `{key}` is repeated")).into());
            }
            data.insert(key, value);
        }

        let mut obj = Map::new();
        obj.insert("apiVersion".into(), "v1".into());
        obj.insert(
            "kind".into(),
            match kind {
                GenKind::ConfigMap => "ConfigMap",
                GenKind::Secret => "Secret",
            }
            .into(),
        );
        let mut meta = Map::new();
        meta.insert("name".into(), args.name.clone().into());
        if let Some(ns) = args.namespace.as_deref().filter(|n| !n.is_empty()) {
            meta.insert("namespace".into(), ns.into());
        }
        if !options.labels.is_empty() {
            meta.insert("labels".into(), string_map(&options.labels));
        }
        let mut annotations = options.annotations.clone();
        if !options.disable_name_suffix_hash {
            annotations.insert(Annot::NEEDS_HASH.into(), "true".into());
        }
        annotations.insert(Annot::BEHAVIOR.into(), behavior.as_str().into());
        meta.insert("annotations".into(), string_map(&annotations));
        obj.insert("metadata".into(), Value::Object(meta));
        match kind {
            GenKind::ConfigMap => {
                let mut text = Map::new();
                let mut binary = Map::new();
                for (k, v) in data {
                    match String::from_utf8(v) {
                        Ok(s) => {
                            text.insert(k, s.into());
                        }
                        Err(e) => {
                            binary.insert(k, wrapped_base64(e.as_bytes()).into());
                        }
                    }
                }
                if !text.is_empty() {
                    obj.insert("data".into(), Value::Object(text));
                }
                if !binary.is_empty() {
                    obj.insert("binaryData".into(), Value::Object(binary));
                }
            }
            GenKind::Secret => {
                let t = args
                    .type_
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "Opaque".into());
                obj.insert("type".into(), t.into());
                // kustomize writes `data: {}` for a Secret with no keys (and hashes it so),
                // where a ConfigMap with none has no `data`.
                let encoded = data
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(wrapped_base64(&v))));
                obj.insert("data".into(), Value::Object(encoded.collect()));
            }
        }
        if options.immutable {
            obj.insert("immutable".into(), true.into());
        }
        let mut res = Resource::from_object(obj);
        res.origin = Some(self.inputs.display(&kust.file).display().to_string());
        Ok(res)
    }

    /// The key/value pairs of a generator, in kustomize's order: env files, literals, files.
    fn key_values(
        &self,
        kust: &Loaded,
        args: &GeneratorArgs,
        err: &dyn Fn(String) -> KustomizeError,
    ) -> Result<Vec<(String, Vec<u8>)>, crate::Error> {
        let mut out = Vec::new();
        for env in &args.envs {
            let (path, bytes) = self.read_local(kust, env)?;
            let text = String::from_utf8(bytes).map_err(|e| {
                err(format!(
                    "env file `{}` is not valid UTF-8 at byte {}",
                    self.inputs.display(&path).display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            for (key, value) in parse_env(&text).map_err(|m| {
                err(format!(
                    "env file `{}`: {m}",
                    self.inputs.display(&path).display()
                ))
            })? {
                out.push((key, value.into_bytes()));
            }
        }
        for lit in &args.literals {
            let (k, v) = parse_literal(lit).map_err(err)?;
            out.push((k, v.into_bytes()));
        }
        for src in &args.files {
            let (key, rel) = parse_file_source(src).map_err(err)?;
            let (_, bytes) = self.read_local(kust, &rel)?;
            out.push((key, bytes));
        }
        Ok(out)
    }
}

/// `key=value`; the value may be wrapped in matching single or double quotes.
pub(crate) fn parse_literal(src: &str) -> Result<(String, String), String> {
    match src.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), remove_quotes(v).to_string())),
        _ => Err(format!("invalid literal `{src}`, expected `key=value`")),
    }
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `[key=]path`: the key defaults to the file's base name.
pub(crate) fn parse_file_source(src: &str) -> Result<(String, String), String> {
    match src.matches('=').count() {
        0 => {
            let base = src.trim_end_matches('/').rsplit('/').next().unwrap_or(src);
            Ok((base.to_string(), src.to_string()))
        }
        1 => {
            let (k, p) = src.split_once('=').unwrap_or_default();
            if k.is_empty() {
                Err(format!("missing key name for file path `{p}` in `{src}`"))
            } else if p.is_empty() {
                Err(format!("missing file path for key name `{k}` in `{src}`"))
            } else {
                Ok((k.to_string(), p.to_string()))
            }
        }
        _ => Err(format!("`{src}`: the key name or file path contains `=`")),
    }
}

/// Parses an env file: `KEY=value` lines; blank lines and `#` comments skipped; leading
/// whitespace trimmed; a UTF-8 BOM on the first line dropped.
pub(crate) fn parse_env(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if i == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A line without `=` is a key with an empty value, as kustomize v5 reads it (older
        // kustomize read the value from the environment; v5 does not).
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if !is_env_var_name(key) {
            return Err(format!(
                "line {}: `{key}` is not a valid environment variable name (letters, digits, \
                 `_`, `-` or `.`, not starting with a digit)",
                i + 1
            ));
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '-' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Kubernetes' rule for ConfigMap and Secret keys.
fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 253 {
        return Err(format!(
            "`{key}` is not a valid key: it must have 1 to 253 characters"
        ));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(format!(
            "`{key}` is not a valid key: it may only hold letters, digits, `-`, `_` and `.`"
        ));
    }
    if key == "." || key == ".." || key.starts_with("..") {
        return Err(format!(
            "`{key}` is not a valid key: it may not be `.` or start with `..`"
        ));
    }
    Ok(())
}

/// Standard base64, broken into lines of 70 characters each ending in a newline when the
/// encoding is 70 characters or longer (kustomize's layout, which the hash sees).
pub(crate) fn wrapped_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let enc = base64(bytes);
    if enc.len() < LINE {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / LINE + 1);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(parse_literal("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_literal("a=\"x\"").unwrap(), ("a".into(), "x".into()));
        assert_eq!(parse_literal("a='x").unwrap(), ("a".into(), "'x".into()));
        assert!(parse_literal("=x").is_err());
        assert!(parse_literal("x").is_err());
    }

    #[test]
    fn file_sources() {
        assert_eq!(
            parse_file_source("d/f.txt").unwrap(),
            ("f.txt".into(), "d/f.txt".into())
        );
        assert_eq!(
            parse_file_source("k=d/f.txt").unwrap(),
            ("k".into(), "d/f.txt".into())
        );
        assert!(parse_file_source("=f").is_err());
        assert!(parse_file_source("k=").is_err());
        assert!(parse_file_source("a=b=c").is_err());
    }

    #[test]
    fn env_files() {
        let kv = parse_env("\u{feff}A=1\n# c\n\n  B=2 \nC=x=y\r\n").unwrap();
        assert_eq!(
            kv,
            [
                ("A".into(), "1".into()),
                ("B".into(), "2 ".into()),
                ("C".into(), "x=y".into())
            ]
        );
        // No `=`: the key with an empty value (kustomize v5), the name still checked.
        assert_eq!(parse_env("A\n").unwrap(), [("A".into(), "".into())]);
        assert!(parse_env("A B\n").is_err());
        assert!(parse_env("1A=x\n").is_err());
    }

    #[test]
    fn base64_encodes() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x10]), "//4AEA==");
    }

    #[test]
    fn base64_wraps_like_kustomize() {
        assert_eq!(wrapped_base64(b"y"), "eQ==");
        let w = wrapped_base64(&[b'a'; 120]);
        assert_eq!(w.lines().map(str::len).collect::<Vec<_>>(), [70, 70, 20]);
        assert!(w.ends_with('\n'));
    }
}
