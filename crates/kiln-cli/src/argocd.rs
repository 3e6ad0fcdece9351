//! `kiln argocd generate|parameters`: the commands of Argo CD's config management plugin
//! (`deploy/argocd/plugin.yaml`). See `deploy/argocd/README.md`.
//!
//! `generate` renders the app folder (the working directory) that Argo CD's cmp-server
//! unpacked: a `release.yaml` is rendered, a `kustomization.yaml` built. It asks the
//! resident `kiln serve` at `$KILN_SOCKET` and renders in-process when none answers.
//! stdout gets the whole stream or nothing.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use kiln::{Engine, Overrides, Param, Release};
use serde_json::Value;

use crate::args::Global;
use crate::{Failure, write_stdout};

/// The environment variables a render depends on; the server gets these and nothing else.
const PASSED: &[&str] = &[
    "ARGOCD_APP_SOURCE_PATH",
    "ARGOCD_APP_PARAMETERS",
    "KUBE_VERSION",
    "KUBE_API_VERSIONS",
];

/// Per-app variables (`spec.source.plugin.env`) arrive with this prefix; templates see them
/// as `env.NAME`.
const APP_ENV_PREFIX: &str = "ARGOCD_ENV_";

/// One generate request: the app folder and the environment it was given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub(crate) cwd: PathBuf,
    pub(crate) env: BTreeMap<String, String>,
}

impl Request {
    /// The request of this process: its working directory and environment.
    pub(crate) fn from_process() -> Result<Request, String> {
        let cwd = std::env::current_dir()
            .map_err(|e| format!("cannot read the working directory: {e}"))?;
        let env = std::env::vars()
            .filter(|(k, _)| PASSED.contains(&k.as_str()) || k.starts_with(APP_ENV_PREFIX))
            .collect();
        Ok(Request { cwd, env })
    }

    pub(crate) fn to_json(&self) -> Value {
        serde_json::json!({"cwd": self.cwd, "env": self.env})
    }

    pub(crate) fn from_json(v: &Value) -> Result<Request, String> {
        let cwd = v
            .get("cwd")
            .and_then(Value::as_str)
            .ok_or("request without `cwd`")?;
        let mut env = BTreeMap::new();
        for (k, val) in v
            .get("env")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let val = val.as_str().ok_or("request `env` values must be strings")?;
            env.insert(k.clone(), val.to_string());
        }
        Ok(Request {
            cwd: PathBuf::from(cwd),
            env,
        })
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }
}

/// A successful render: the stream and the warnings to show on stderr.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Generated {
    pub(crate) yaml: String,
    pub(crate) warnings: Vec<String>,
}

/// Renders one request with `engine`; the error is the one-line message for stderr.
pub(crate) fn generate(engine: &Engine, req: &Request) -> Result<Generated, String> {
    if !req.cwd.is_absolute() {
        return Err(format!(
            "the app folder `{}` is not an absolute path",
            req.cwd.display()
        ));
    }
    let source_path = req.var("ARGOCD_APP_SOURCE_PATH").ok_or(
        "ARGOCD_APP_SOURCE_PATH is not set: it names the app folder relative to the repository \
         root (Argo CD's cmp-server sets it)",
    )?;
    let root = project_root(&req.cwd, source_path)?;
    let params = parse_parameters(req.var("ARGOCD_APP_PARAMETERS"))?;
    let mut overrides = Overrides::new();
    if let Some(v) = req.var("KUBE_VERSION").filter(|v| !v.is_empty()) {
        let apis = req
            .var("KUBE_API_VERSIONS")
            .unwrap_or("")
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        overrides = overrides.kube(v, apis);
    }
    for (k, v) in &req.env {
        if let Some(name) = k.strip_prefix(APP_ENV_PREFIX) {
            overrides = overrides.env(name, v);
        }
    }
    let app = if source_path.is_empty() {
        "."
    } else {
        source_path
    };
    let rendered = if req.cwd.join(kiln::RELEASE_FILE).is_file() {
        for (name, p) in params {
            overrides = overrides.param(name, p);
        }
        let release = engine
            .load_release(&req.cwd, Some(&root))
            .map_err(|e| e.to_string())?;
        engine
            .render_with(&release, &overrides)
            .map_err(|e| e.to_string())?
    } else if ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|k| req.cwd.join(k).is_file())
    {
        if let Some((name, _)) = params.first() {
            return Err(format!(
                "parameter `{name}`: the app `{app}` is a kustomization, which takes no \
                 parameters (they override a release's values)"
            ));
        }
        engine
            .build_kustomization_with_root(&req.cwd, Some(&root))
            .map_err(|e| format!("kustomization `{app}`: {e}"))?
    } else {
        return Err(format!(
            "the app folder `{app}` holds neither a release.yaml nor a kustomization.yaml"
        ));
    };
    let mut warnings: Vec<String> = rendered.warnings().to_vec();
    if let Some(cache) = engine.cache() {
        warnings.extend(cache.take_warnings());
    }
    Ok(Generated {
        yaml: rendered.yaml().to_string(),
        warnings,
    })
}

/// The folder `source_path` levels above `cwd`: the root of Argo CD's copy of the
/// repository.
fn project_root(cwd: &Path, source_path: &str) -> Result<PathBuf, String> {
    let mut levels = 0;
    for c in Path::new(source_path).components() {
        match c {
            Component::Normal(_) => levels += 1,
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "ARGOCD_APP_SOURCE_PATH `{source_path}` must be a relative path inside the \
                     repository"
                ));
            }
        }
    }
    cwd.ancestors()
        .nth(levels)
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "ARGOCD_APP_SOURCE_PATH `{source_path}` has more levels than the app folder `{}`",
                cwd.display()
            )
        })
}

/// Parses `ARGOCD_APP_PARAMETERS`: absent, empty or `null` is no parameters.
pub(crate) fn parse_parameters(raw: Option<&str>) -> Result<Vec<(String, Param)>, String> {
    let raw = raw.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let doc: Value = serde_json::from_str(raw)
        .map_err(|e| format!("ARGOCD_APP_PARAMETERS is not valid JSON: {e}"))?;
    let items = match doc {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "ARGOCD_APP_PARAMETERS must be a JSON array of parameters, found {}",
                json_type(&other)
            ));
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(format!(
                "ARGOCD_APP_PARAMETERS[{i}] must be an object, found {}",
                json_type(item)
            ));
        };
        let name = match fields.get("name") {
            Some(Value::String(n)) if !n.is_empty() => n.clone(),
            _ => return Err(format!("ARGOCD_APP_PARAMETERS[{i}] has no `name`")),
        };
        let given: Vec<&str> = ["string", "array", "map"]
            .into_iter()
            .filter(|k| fields.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        if let Some(k) = fields
            .keys()
            .find(|k| !["name", "string", "array", "map"].contains(&k.as_str()))
        {
            return Err(format!(
                "parameter `{name}`: unknown field `{k}` (expected `string`, `array` or `map`)"
            ));
        }
        let param = match given[..] {
            ["string"] => match &fields["string"] {
                Value::String(s) => Param::String(s.clone()),
                other => {
                    return Err(format!(
                        "parameter `{name}`: `string` must be a string, found {}",
                        json_type(other)
                    ));
                }
            },
            ["array"] => match &fields["array"] {
                Value::Array(a) => Param::Array(
                    a.iter()
                        .enumerate()
                        .map(|(j, v)| match v {
                            Value::String(s) => Ok(s.clone()),
                            other => Err(format!(
                                "parameter `{name}`: `array` must hold strings, item {j} is {}",
                                json_type(other)
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(format!(
                        "parameter `{name}`: `array` must be a list, found {}",
                        json_type(other)
                    ));
                }
            },
            ["map"] => match &fields["map"] {
                Value::Object(m) => Param::Map(
                    m.iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => Ok((k.clone(), s.clone())),
                            other => Err(format!(
                                "parameter `{name}`: `map` values must be strings, `{k}` is {}",
                                json_type(other)
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(format!(
                        "parameter `{name}`: `map` must be an object, found {}",
                        json_type(other)
                    ));
                }
            },
            [] => {
                return Err(format!(
                    "parameter `{name}`: set one of `string`, `array` or `map`"
                ));
            }
            _ => {
                return Err(format!(
                    "parameter `{name}`: set only one of `string`, `array` or `map`, found `{}`",
                    given.join("`, `")
                ));
            }
        };
        out.push((name, param));
    }
    Ok(out)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `kiln argocd generate`.
pub(crate) fn run_generate(global: &Global) -> Result<(), Failure> {
    let req = Request::from_process().map_err(|e| {
        eprintln!("error: {e}");
        Failure::Render
    })?;
    let result = match std::env::var_os("KILN_SOCKET").filter(|s| !s.is_empty()) {
        Some(socket) => {
            let socket = PathBuf::from(socket);
            match crate::serve::ask(&socket, &req) {
                Ok(answer) => answer,
                Err(why) => {
                    eprintln!(
                        "kiln: no render server answered at `{}` ({why}); rendering in-process",
                        socket.display()
                    );
                    in_process(global, &req)?
                }
            }
        }
        None => {
            eprintln!("kiln: KILN_SOCKET is not set; rendering in-process");
            in_process(global, &req)?
        }
    };
    finish(result)
}

fn in_process(global: &Global, req: &Request) -> Result<Result<Generated, String>, Failure> {
    let engine = crate::render::engine(global, Some(1))?;
    let result = generate(&engine, req);
    if let Some(cache) = engine.cache() {
        cache.record_run();
    }
    Ok(result)
}

/// Shows the warnings, then writes the whole stream at once (or nothing, on failure).
fn finish(result: Result<Generated, String>) -> Result<(), Failure> {
    match result {
        Ok(g) => {
            for w in &g.warnings {
                eprintln!("warning: {w}");
            }
            write_stdout(&g.yaml)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(Failure::Render)
        }
    }
}

/// `kiln argocd parameters`: the parameters announced to Argo CD's UI, one per key of the
/// release's `values` (none for a kustomization), as Argo CD's dynamic parameters JSON.
pub(crate) fn run_parameters() -> Result<(), Failure> {
    let req = Request::from_process().map_err(|e| {
        eprintln!("error: {e}");
        Failure::Render
    })?;
    let mut announced = Vec::new();
    if req.cwd.join(kiln::RELEASE_FILE).is_file() {
        let root = project_root(&req.cwd, req.var("ARGOCD_APP_SOURCE_PATH").unwrap_or(""))
            .map_err(|e| {
                eprintln!("error: {e}");
                Failure::Render
            })?;
        let release = Release::load_with_root(&req.cwd, Some(&root)).map_err(|e| {
            eprintln!("error: {e}");
            Failure::Render
        })?;
        if let Some(Value::Object(values)) = release.values() {
            for (k, v) in values {
                announced.push(announce(k, v));
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&Value::Array(announced)).unwrap_or_default();
    text.push('\n');
    if std::io::stdout().is_terminal() {
        eprintln!("(parameters Argo CD's UI shows for this app)");
    }
    write_stdout(&text)
}

fn announce(name: &str, v: &Value) -> Value {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        other => Some(other.to_string()),
    };
    let tooltip = format!("overrides `values.{name}` of the release");
    match v {
        Value::Array(a) => serde_json::json!({
            "name": name, "title": name, "tooltip": tooltip, "collectionType": "array",
            "array": a.iter().filter_map(scalar).collect::<Vec<_>>(),
        }),
        Value::Object(m) => serde_json::json!({
            "name": name, "title": name, "tooltip": tooltip, "collectionType": "map",
            "map": m.iter().filter_map(|(k, v)| Some((k.clone(), scalar(v)?))).collect::<BTreeMap<_, _>>(),
        }),
        other => serde_json::json!({
            "name": name, "title": name, "tooltip": tooltip, "collectionType": "string",
            "string": scalar(other).unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_source_path_levels_up() {
        let cwd = Path::new("/tmp/_cmp_server/u/apps/acme");
        assert_eq!(
            project_root(cwd, "apps/acme").unwrap(),
            Path::new("/tmp/_cmp_server/u")
        );
        assert_eq!(project_root(cwd, ".").unwrap(), cwd);
        assert_eq!(project_root(cwd, "").unwrap(), cwd);
        assert!(project_root(cwd, "../x").is_err());
        assert!(project_root(cwd, "/abs").is_err());
    }

    #[test]
    fn parameters_parse_and_bad_shapes_are_named() {
        assert_eq!(parse_parameters(None).unwrap(), vec![]);
        assert_eq!(parse_parameters(Some("null")).unwrap(), vec![]);
        let p = parse_parameters(Some(
            r#"[{"name":"a","string":"1"},{"name":"b","array":["x"]},{"name":"c","map":{"k":"v"}}]"#,
        ))
        .unwrap();
        assert_eq!(p.len(), 3);
        let err = |s: &str| parse_parameters(Some(s)).unwrap_err();
        assert_eq!(
            err(r#"{"name":"a"}"#),
            "ARGOCD_APP_PARAMETERS must be a JSON array of parameters, found an object"
        );
        assert_eq!(
            err(r#"[{"name":"a","string":3}]"#),
            "parameter `a`: `string` must be a string, found a number"
        );
        assert_eq!(
            err(r#"[{"name":"a","string":"x","map":{}}]"#),
            "parameter `a`: set only one of `string`, `array` or `map`, found `string`, `map`"
        );
        assert_eq!(
            err(r#"[{"name":"a"}]"#),
            "parameter `a`: set one of `string`, `array` or `map`"
        );
        assert_eq!(
            err(r#"[{"string":"x"}]"#),
            "ARGOCD_APP_PARAMETERS[0] has no `name`"
        );
        assert!(err("[{").starts_with("ARGOCD_APP_PARAMETERS is not valid JSON: "));
    }
}
