//! Templates (`*.j2`, `*.jinja`) rendered with minijinja, and the values they see.

use std::path::Path;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::error::TemplateError;

/// The fuel a template may burn (minijinja instructions): enough for any real manifest,
/// small enough that an endless loop ends in well under a second.
const TEMPLATE_FUEL: u64 = 5_000_000;

/// What templates see: `values`, `images` and `release`.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// The context as a value: `{values, images, release: {name}}`.
    pub(crate) value: Value,
    /// String values that came from sensitive terraform outputs: never shown in messages.
    pub(crate) sensitive: Vec<String>,
}

impl Context {
    /// Replaces every sensitive value in a message with `<sensitive>`.
    pub(crate) fn redact(&self, msg: &str) -> String {
        let mut out = msg.to_string();
        for s in &self.sensitive {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "<sensitive>");
            }
        }
        out
    }
}

/// Deep-merges `over` into `base`: mappings merge key by key, anything else replaces.
pub(crate) fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Unwraps a `terraform output -json` document (every top-level value an object with
/// `value` and `type`) into plain values, collecting the string leaves of sensitive
/// outputs. Any other document is returned as it is.
pub(crate) fn unwrap_terraform(doc: Value, sensitive: &mut Vec<String>) -> Value {
    let Value::Object(map) = doc else {
        return doc;
    };
    let is_tf = !map.is_empty()
        && map.values().all(|v| {
            v.as_object()
                .is_some_and(|o| o.contains_key("value") && o.contains_key("type"))
        });
    if !is_tf {
        return Value::Object(map);
    }
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let Value::Object(mut o) = v else {
            unreachable!("checked above")
        };
        let value = o.remove("value").unwrap_or(Value::Null);
        if o.get("sensitive").and_then(Value::as_bool) == Some(true) {
            collect_strings(&value, sensitive);
        }
        out.insert(k, value);
    }
    Value::Object(out)
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Renders one template file. `name` is its path relative to the project root (used in
/// messages); `include` loads other templates by their path relative to the project root
/// (an include's name is relative to the template that includes it).
pub(crate) fn render(
    name: &Path,
    source: &str,
    ctx: &Context,
    include: impl Fn(&str) -> Result<Option<String>, minijinja::Error> + Send + Sync + 'static,
) -> Result<String, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(64);
    env.set_keep_trailing_newline(true);
    // Manifests are YAML written by hand: values go in as they are, never JSON-escaped.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // Includes are named relative to the including template; the loader gets the path
    // relative to the project root.
    env.set_path_join_callback(|name, parent| {
        let dir = Path::new(parent).parent().unwrap_or(Path::new(""));
        let joined = crate::input::normalize_relative(&dir.join(name));
        joined.to_string_lossy().replace('\\', "/").into()
    });
    env.set_loader(include);
    bound_sized_filters(&mut env);
    let tname = name.to_string_lossy().replace('\\', "/");
    env.add_template_owned(tname.clone(), source.to_string())
        .map_err(|e| to_error(name, source, ctx, &e))?;
    let tmpl = env
        .get_template(&tname)
        .map_err(|e| to_error(name, source, ctx, &e))?;
    tmpl.render(&ctx.value)
        .map_err(|e| to_error(name, source, ctx, &e))
}

/// The largest width, indent or count a filter may take: fuel bounds the steps a template
/// runs, not the memory one step allocates, and `indent(10**18)` would abort the process.
const MAX_FILTER_SIZE: i64 = 10_000;

/// Replaces the builtin filters whose size argument allocates (`indent`, `tojson`,
/// `slice`, `batch`, and `format` with its field widths) by ones that refuse a size over
/// [`MAX_FILTER_SIZE`].
fn bound_sized_filters(env: &mut Environment<'_>) {
    use minijinja::value::{Rest, Value as J};
    use minijinja::{Error, State, filters};

    let too_big = |what: &str| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{what} is over {MAX_FILTER_SIZE}"),
        )
    };
    let over = |v: &J| match v.as_i64() {
        Some(n) => n > MAX_FILTER_SIZE,
        None => v.is_number(),
    };
    for (name, inner) in [
        ("indent", J::from_function(filters::indent)),
        ("tojson", J::from_function(filters::tojson)),
        ("slice", J::from_function(filters::slice)),
        ("batch", J::from_function(filters::batch)),
    ] {
        env.add_filter(name, move |state: &State, args: Rest<J>| {
            // The filtered value comes first; sizes are positional or keyword arguments.
            for a in args.iter().skip(1) {
                let big = match a.kind() {
                    minijinja::value::ValueKind::Map => a
                        .try_iter()?
                        .any(|k| a.get_item(&k).is_ok_and(|v| over(&v))),
                    _ => over(a),
                };
                if big {
                    return Err(too_big(&format!("`{name}` size")));
                }
            }
            inner.call(state, &args)
        });
    }
    let format = J::from_function(filters::format);
    env.add_filter("format", move |state: &State, args: Rest<J>| {
        if let Some(f) = args.first().and_then(J::as_str)
            && format_widths(f).any(|n| n > MAX_FILTER_SIZE as u128)
        {
            return Err(too_big("a `format` width or precision"));
        }
        if let Some(f) = args.first().and_then(J::as_str)
            && !format_keys_ascii(f)
        {
            // minijinja 2 slices `%(key)` byte by byte and panics inside a non-ASCII key.
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "a `format` key `%(...)` must be ASCII",
            ));
        }
        format.call(state, &args)
    });
}

/// Whether every `%(key)` of a printf-style format string is ASCII (`%%` is a literal `%`).
fn format_keys_ascii(f: &str) -> bool {
    let mut rest = f;
    while let Some(i) = rest.find('%') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('%') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix('(') {
            let key = r.split(')').next().unwrap_or(r);
            if !key.is_ascii() {
                return false;
            }
            rest = r;
        }
    }
    true
}

/// The numbers in the conversion specs of a format string (`%-10.3f`, `{:>10}`).
fn format_widths(f: &str) -> impl Iterator<Item = u128> + '_ {
    let b = f.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let spec_end = match b[i] {
            b'%' => b[i + 1..]
                .iter()
                .position(|c| c.is_ascii_alphabetic() || *c == b'%')
                .map_or(b.len(), |p| i + 1 + p),
            b'{' => b[i + 1..]
                .iter()
                .position(|c| *c == b'}')
                .map_or(b.len(), |p| i + 1 + p),
            _ => {
                i += 1;
                continue;
            }
        };
        for run in f[i + 1..spec_end].split(|c: char| !c.is_ascii_digit()) {
            if !run.is_empty() {
                out.push(run.parse::<u128>().unwrap_or(u128::MAX));
            }
        }
        i = spec_end.max(i + 1);
    }
    out.into_iter()
}

fn to_error(name: &Path, source: &str, ctx: &Context, outer: &minijinja::Error) -> TemplateError {
    // An error inside an include is wrapped: report the innermost one.
    let mut e = outer;
    while let Some(inner) =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        e = inner;
    }
    // Report the innermost template (an include) where the error happened.
    let (template, src) = match e.name() {
        Some(n) if n != name.to_string_lossy() => (Path::new(n).to_path_buf(), None),
        _ => (name.to_path_buf(), Some(source)),
    };
    if e.kind() == ErrorKind::UndefinedError {
        let expr = match (src, e.range()) {
            (Some(s), Some(r)) => s.get(r).map(|x| x.trim().to_string()),
            _ => None,
        };
        return TemplateError::Undefined {
            template,
            line: e.line(),
            name: expr.unwrap_or_else(|| "(unknown)".into()),
        };
    }
    let message = match e.kind() {
        ErrorKind::OutOfFuel => format!(
            "template ran out of fuel ({TEMPLATE_FUEL} steps): an endless loop or runaway recursion?"
        ),
        _ => e
            .detail()
            .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind())),
    };
    TemplateError::Render {
        template,
        line: e.line(),
        message: ctx.redact(&message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> Context {
        Context {
            value: v,
            sensitive: Vec::new(),
        }
    }

    fn no_include(_: &str) -> Result<Option<String>, minijinja::Error> {
        Ok(None)
    }

    #[test]
    fn renders_values() {
        let out = render(
            Path::new("t.yaml.j2"),
            "replicas: {{ values.replicas }}\n",
            &ctx(json!({"values": {"replicas": 3}})),
            no_include,
        )
        .unwrap();
        assert_eq!(out, "replicas: 3\n");
    }

    #[test]
    fn strings_are_not_escaped_in_yaml_templates() {
        let out = render(
            Path::new("config.yaml.j2"),
            "tier: \"{{ values.tier }}\"\n",
            &ctx(json!({"values": {"tier": "<gold>"}})),
            no_include,
        )
        .unwrap();
        assert_eq!(out, "tier: \"<gold>\"\n");
    }

    #[test]
    fn undefined_names_the_variable_and_line() {
        let err = render(
            Path::new("t.yaml.j2"),
            "a: 1\nb: {{ values.nope }}\n",
            &ctx(json!({"values": {}})),
            no_include,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`t.yaml.j2`:2: undefined variable `values.nope`"
        );
    }

    #[test]
    fn endless_loop_runs_out_of_fuel() {
        let err = render(
            Path::new("t.j2"),
            "{% for i in range(10000) %}{% for j in range(10000) %}{{ j }}{% endfor %}{% endfor %}",
            &ctx(json!({})),
            no_include,
        )
        .unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
    }

    #[test]
    fn runaway_recursion_is_stopped() {
        let err = render(
            Path::new("t.j2"),
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            &ctx(json!({})),
            no_include,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("`t.j2`:1: "), "{err}");
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/template.rs`): fuel does not bound what one
    /// filter allocates, and `indent(5849261373028273721)` aborted the process.
    #[test]
    fn huge_filter_sizes_are_errors_not_aborts() {
        for t in [
            "{{ 'a\nb' | indent(5849261373028273721) }}",
            "{{ 'a\nb' | indent(width=99999999999, first=true) }}",
            "{% filter indent(0005849261373028273721, first=true) %}x\ny{% endfilter %}",
            "{{ values | tojson(indent=99999999999) }}",
            "{{ [1, 2] | slice(99999999999) }}",
            "{{ [1, 2] | batch(99999999999) }}",
            "{{ '%99999999999d' | format(1) }}",
            "{{ '%.99999999999f' | format(1.5) }}",
            "{{ [1, 2] | slice(1e300) }}",
        ] {
            let err = render(
                Path::new("t.j2"),
                t,
                &ctx(json!({"values": {}})),
                no_include,
            )
            .unwrap_err();
            assert!(err.to_string().contains("is over 10000"), "{t}: {err}");
        }
        let out = render(
            Path::new("t.j2"),
            "{{ 'a\nb' | indent(2) }}|{{ '%5d' | format(7) }}|{{ [1, 2, 3] | batch(2) | list | length }}|{{ 'port-123456-%s' | format(1) }}",
            &ctx(json!({})),
            no_include,
        )
        .unwrap();
        assert_eq!(out, "a\n  b|    7|2|port-123456-1");
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/template.rs`): minijinja panicked on a
    /// non-ASCII `%(key)` in a `format` string.
    #[test]
    fn format_with_a_non_ascii_key_is_an_error_not_a_panic() {
        for t in [
            "{{ '%(凞)s' | format(a=1) }}",
            "{{ 'x %(ké' | format(1) }}",
            "{% filter format %}0%({{ ['H凞'] }}s{% endfilter %}",
        ] {
            let err = render(Path::new("t.j2"), t, &ctx(json!({})), no_include).unwrap_err();
            assert!(err.to_string().contains("must be ASCII"), "{t}: {err}");
        }
        for t in [
            "{{ '%%(凞)s %s' | format(1) }}",
            "{{ '%é' | format(1) }}",
            "{{ 'é%s' | format(1) }}",
        ] {
            let _ = render(Path::new("t.j2"), t, &ctx(json!({})), no_include);
        }
    }

    #[test]
    fn terraform_outputs_unwrap_and_track_sensitive() {
        let mut sensitive = Vec::new();
        let v = unwrap_terraform(
            json!({"db": {"value": "h", "type": "string"}, "pw": {"value": "s3cr3t", "type": "string", "sensitive": true}}),
            &mut sensitive,
        );
        assert_eq!(v, json!({"db": "h", "pw": "s3cr3t"}));
        assert_eq!(sensitive, ["s3cr3t"]);
        let plain = unwrap_terraform(json!({"a": {"value": 1}}), &mut sensitive);
        assert_eq!(plain, json!({"a": {"value": 1}}));
    }

    #[test]
    fn deep_merge_merges_maps_and_replaces_the_rest() {
        let mut a = json!({"a": {"x": 1, "y": [1]}, "b": 1});
        deep_merge(&mut a, json!({"a": {"y": [2], "z": 3}, "b": {"c": 1}}));
        assert_eq!(a, json!({"a": {"x": 1, "y": [2], "z": 3}, "b": {"c": 1}}));
    }
}
