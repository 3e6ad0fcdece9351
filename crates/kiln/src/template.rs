//! Templates (`*.j2`, `*.jinja`) rendered with minijinja, and the values they see.

use std::path::Path;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::error::TemplateError;

/// The fuel a template may burn. minijinja charges one per instruction and one per 64
/// bytes of data a template makes (strings, list slots, output), so this bounds both the
/// time a render takes and the memory it can hold (about 320 MB): enough for any real
/// manifest, small enough that an endless loop ends in well under a second.
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
    // A template can nest a value as deep as its fuel allows (`{% set ns.x = [ns.x] %}` in
    // a loop), and minijinja prints, serializes and drops values recursively: render on a
    // stack deep enough for that. It is reserved address space, touched only as deep as a
    // template goes, and switching to it costs a mapping, not a thread.
    stacker::grow(TEMPLATE_STACK, || render_here(name, source, ctx, include))
}

/// The stack a template renders on.
const TEMPLATE_STACK: usize = 1 << 30;

fn render_here(
    name: &Path,
    source: &str,
    ctx: &Context,
    include: impl Fn(&str) -> Result<Option<String>, minijinja::Error> + Send + Sync + 'static,
) -> Result<String, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(64);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| to_error(name, source, ctx, &e))?,
    );
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
    guard_format_keys(&mut env);
    guard_printing(&mut env);
    let tname = name.to_string_lossy().replace('\\', "/");
    env.add_template_owned(tname.clone(), source.to_string())
        .map_err(|e| to_error(name, source, ctx, &e))?;
    let tmpl = env
        .get_template(&tname)
        .map_err(|e| to_error(name, source, ctx, &e))?;
    tmpl.render(minijinja::value::Serde(&ctx.value))
        .map_err(|e| to_error(name, source, ctx, &e))
}

/// The most bytes one value may print as (`{{ value }}`, `string`, `join`, `tojson`,
/// `pprint`), estimated before printing it: ten times the size Kubernetes allows a whole
/// object.
const MAX_PRINTED: usize = 16 << 20;

/// Checks, in work bounded by [`MAX_PRINTED`], that `value` prints in at most that many
/// bytes when every nested item is indented by `indent` per level. Fuel is charged for
/// the bytes a template makes, but a value can hold one list many times over
/// (`{% set ns.x = [ns.x, ns.x] %}` in a loop doubles it at the cost of one slot, and
/// `[1] * 60000000` is lazy) and printing walks every copy: without this, printing such a
/// value runs for hours. The walk is depth first and keeps one iterator per level, so it
/// holds no more than the value's nesting.
fn check_printable(value: &minijinja::Value, indent: usize) -> Result<(), minijinja::Error> {
    use minijinja::value::{ValueIter, ValueKind};

    let too_big = || {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("the value would print as over {MAX_PRINTED} bytes"),
        )
    };
    // What a value prints as by itself: a scalar whole, a collection its brackets.
    let own = |v: &minijinja::Value| match v.kind() {
        ValueKind::String => v.as_str().map_or(0, str::len) + 2,
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => 2,
        _ => 24,
    };
    let is_collection = |v: &minijinja::Value| {
        matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::Map
        )
    };
    let mut total = own(value);
    // Each level: the collection, its items still to see, and its depth.
    let mut stack: Vec<(minijinja::Value, ValueIter, usize)> = Vec::new();
    if is_collection(value) {
        stack.push((value.clone(), value.try_iter()?, 0));
    }
    while let Some((parent, items, depth)) = stack.last_mut() {
        let Some(item) = items.next() else {
            stack.pop();
            continue;
        };
        let depth = *depth;
        // A separator and the item's indentation, then the item (and a map's value).
        let entry = match parent.kind() {
            ValueKind::Map => Some(parent.get_item(&item)?),
            _ => None,
        };
        for child in std::iter::once(item).chain(entry) {
            total = total
                .saturating_add(2 + (depth + 1).saturating_mul(indent))
                .saturating_add(own(&child));
            if total > MAX_PRINTED {
                return Err(too_big());
            }
            if is_collection(&child) {
                let iter = child.try_iter()?;
                stack.push((child, iter, depth + 1));
            }
        }
    }
    Ok(())
}

/// Checks values before they are printed: by `{{ }}` and by the filters that print
/// their whole argument. `tojson` indents by its `indent` argument (capped at 64), `pprint`
/// by 4.
fn guard_printing(env: &mut Environment<'_>) {
    use minijinja::filters;
    use minijinja::value::Value as J;

    env.set_formatter(|out, state, value| {
        // A string or number prints as itself, already paid for in fuel.
        if !matches!(
            value.kind(),
            minijinja::value::ValueKind::String | minijinja::value::ValueKind::Number
        ) {
            check_printable(value, 0)?;
        }
        minijinja::escape_formatter(out, state, value)
    });
    let first = |args: &[J], indent: usize| match args.first() {
        Some(v) => check_printable(v, indent),
        None => Ok(()),
    };
    for (name, builtin, indent) in [
        ("string", J::from_function(filters::string), 0),
        ("join", J::from_function(filters::join), 0),
        ("pprint", J::from_function(filters::pprint), 4),
    ] {
        guard_filter(env, name, builtin, move |a| first(a, indent));
    }
    guard_filter(env, "tojson", J::from_function(filters::tojson), move |a| {
        first(a, tojson_indent(a)?)
    });
}

/// Replaces the builtin filter `name` (`builtin`) by one that runs `check` on the
/// arguments first (the filtered value, then the rest; keyword arguments as a map).
fn guard_filter(
    env: &mut Environment<'_>,
    name: &'static str,
    builtin: minijinja::Value,
    check: impl Fn(&[minijinja::Value]) -> Result<(), minijinja::Error> + Send + Sync + 'static,
) {
    use minijinja::State;
    use minijinja::value::{Rest, ValueOrKwargs};

    env.add_filter(name, move |state: &mut State, args: Rest<ValueOrKwargs>| {
        let args = args.into_values();
        check(&args)?;
        builtin.call(state, &args)
    });
}

/// The indent a `tojson` call asks for (positional or `indent=`; `true` is 2), refused
/// over 64.
fn tojson_indent(args: &[minijinja::Value]) -> Result<usize, minijinja::Error> {
    use minijinja::value::ValueKind;

    let arg = args
        .get(1)
        .filter(|a| a.kind() != ValueKind::Map)
        .cloned()
        .or_else(|| {
            args.iter()
                .skip(1)
                .find(|a| a.kind() == ValueKind::Map)
                .and_then(|kw| kw.get_attr("indent").ok())
                .filter(|v| !v.is_undefined())
        });
    let indent = match arg {
        None => 0,
        Some(v) if v.kind() == ValueKind::Bool => 2 * usize::from(v.is_true()),
        Some(v) => v.as_usize().unwrap_or(usize::MAX),
    };
    if indent > 64 {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "`tojson` indent is over 64",
        ));
    }
    Ok(indent)
}

/// Replaces the `format` filter by one that refuses a non-ASCII `%(key)`: minijinja slices
/// such a key byte by byte and panics inside it.
fn guard_format_keys(env: &mut Environment<'_>) {
    use minijinja::value::Value as J;

    guard_filter(
        env,
        "format",
        J::from_function(minijinja::filters::format),
        |args| match args.first().and_then(J::as_str) {
            Some(f) if !format_keys_ascii(f) => Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "a `format` key `%(...)` must be ASCII",
            )),
            _ => Ok(()),
        },
    );
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
            "template ran out of fuel ({TEMPLATE_FUEL}): an endless loop, runaway recursion or a huge value?"
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
        let err = try_render(
            "{% for i in range(10000) %}{% for j in range(10000) %}{{ j }}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
    }

    #[test]
    fn runaway_recursion_is_stopped() {
        let err = try_render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").unwrap_err();
        assert!(err.to_string().starts_with("`t.j2`:1: "), "{err}");
    }

    /// Renders `t` as `t.j2`, seeing empty `values`.
    fn try_render(t: &str) -> Result<String, TemplateError> {
        render(
            Path::new("t.j2"),
            t,
            &ctx(json!({"values": {}})),
            no_include,
        )
    }

    fn render_ok(t: &str) -> String {
        try_render(t).unwrap()
    }

    fn render_err(t: &str) -> String {
        try_render(t).unwrap_err().to_string()
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/template.rs`): each of these once aborted the
    /// process on a huge allocation, hung, or exhausted memory. Fuel is charged for the
    /// data a template makes, so each is now a fuel error, within bounded time and memory.
    #[test]
    fn huge_values_run_out_of_fuel() {
        for t in [
            "{{ 'a\nb' | indent(5849261373028273721) }}",
            "{{ 'a\nb' | indent(width=99999999999, first=true) }}",
            "{% filter indent(0005849261373028273721, first=true) %}x\ny{% endfilter %}",
            "{{ [1] * 6000440737095511 }}",
            "{{ ([1] * 6000440737095511) | list | length }}",
            "{{ 'ab' * 100000000000 }}",
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            "{% for i in range(100000000000) %}{% endfor %}",
        ] {
            let err = render_err(t);
            assert!(
                err.starts_with("`t.j2`:")
                    && (err.contains("ran out of fuel")
                        || err.contains("too large")
                        || err.contains("too many elements")),
                "{t}: {err}"
            );
        }
        for t in [
            "{{ {'a': [1]} | tojson(indent=99999999999) }}",
            "{{ [1, 2] | slice(99999999999) }}",
            "{{ [1, 2] | batch(99999999999, 0) }}",
            "{{ '%99999999999d' | format(1) }}",
            "{{ '%.99999999999f' | format(1.5) }}",
        ] {
            let err = render_err(t);
            assert!(err.starts_with("`t.j2`:"), "{t}: {err}");
        }
        let out = render_ok(
            "{{ 'a\nb' | indent(2) }}|{{ '%5d' | format(7) }}|{{ [1, 2, 3] | batch(2) | list | length }}|{{ 'port-123456-%s' | format(1) }}|{{ ([1] * 3) | list }}|{{ [] * 6000440737095511 }}",
        );
        assert_eq!(out, "a\n  b|    7|2|port-123456-1|[1, 1, 1]|[]");
    }

    /// A value nested a hundred thousand levels deep (cheap in fuel) is printed and dropped
    /// on the template's own deep stack, not overflowing the caller's; printing it
    /// indented would be quadratic and is refused.
    #[test]
    fn deeply_nested_values_do_not_overflow_the_stack() {
        let nest = "{% set ns = namespace(x=1) %}{% for i in range(100) %}{% for j in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}";
        let out = render_ok(&format!(
            "{nest}{{{{ ns.x | tojson | length }}}} {{{{ ns.x | string | length }}}}"
        ));
        assert_eq!(out, "200001 200001");
        for print in ["ns.x | tojson(indent=2)", "ns.x | pprint"] {
            let err = render_err(&format!("{nest}{{{{ {print} }}}}"));
            assert_eq!(
                err, "`t.j2`:1: invalid operation: the value would print as over 16777216 bytes",
                "{print}"
            );
        }
    }

    /// A list that holds itself twice, sixty times over, costs sixty slots of fuel but
    /// prints as 2^60 items: refused before printing.
    #[test]
    fn shared_values_that_would_print_huge_are_refused() {
        let double = "{% set ns = namespace(x=[1]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}";
        for print in [
            "ns.x",
            "ns.x | string",
            "ns.x | join(',')",
            "ns.x | tojson",
            "ns.x | pprint",
            "{'a': ns.x} | dictsort",
        ] {
            let err = render_err(&format!("{double}{{{{ {print} }}}}"));
            assert_eq!(
                err, "`t.j2`:1: invalid operation: the value would print as over 16777216 bytes",
                "{print}"
            );
        }
        // Found by fuzzing: a lazy repetition is not charged fuel until walked.
        assert_eq!(
            render_err("{{ [1.] * 62106210 }}"),
            "`t.j2`:1: invalid operation: the value would print as over 16777216 bytes"
        );
        assert_eq!(
            render_err("{{ {'a': [1]} | tojson(indent=99999999999) }}"),
            "`t.j2`:1: invalid operation: `tojson` indent is over 64"
        );
        let out = render_ok(
            "{{ {'a': [1, {'b': 2}]} | tojson(indent=2) }}|{{ [1, 2] | join(',') }}|{{ {'a': 1} }}|{{ {'a': 1} | tojson(indent=true) }}|{{ [3] | pprint }}",
        );
        assert_eq!(
            out,
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ]\n}|1,2|{'a': 1}|{\n  \"a\": 1\n}|[\n    3,\n]"
        );
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/template.rs`): minijinja panics on a non-ASCII
    /// `%(key)` in a `format` string.
    #[test]
    fn format_with_a_non_ascii_key_is_an_error_not_a_panic() {
        for t in [
            "{{ '%(凞)s' | format(a=1) }}",
            "{{ 'x %(ké' | format(1) }}",
            "{% filter format %}0%({{ ['H凞'] }}s{% endfilter %}",
        ] {
            let err = try_render(t).unwrap_err();
            assert!(err.to_string().contains("must be ASCII"), "{t}: {err}");
        }
        for t in [
            "{{ '%%(凞)s %s' | format(1) }}",
            "{{ '%é' | format(1) }}",
            "{{ 'é%s' | format(1) }}",
        ] {
            let _ = try_render(t);
        }
        assert_eq!(
            render_ok("{{ '%(k)s-%(n)05d' | format(k='a', n=7) }}"),
            "a-00007"
        );
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
