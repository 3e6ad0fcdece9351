//! stdin → function → stdout, exit codes, and panics turned into results.

use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use crate::{ResourceList, Result};

/// The last panic message the hook saw, with its location.
static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Reads stdin, runs `f`, writes stdout and exits; see [`crate::run`].
pub(crate) fn run<F>(f: F) -> !
where
    F: FnOnce(&mut ResourceList) -> Result<()>,
{
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        let (output, code) = failure("", &format!("cannot read stdin: {e}"));
        exit(&output, code);
    }
    // The hook needs the input after a panic under `panic = "abort"`, and
    // the process ends soon anyway.
    let input: &'static str = Box::leak(input.into_boxed_str());
    install_panic_hook(input);
    let (output, code) = process(input, f);
    exit(&output, code)
}

/// Runs `f` on the list in `input` and returns the output and the exit code.
///
/// An `Err` or a panic from `f` becomes an `error` result. The exit code is 1
/// when any result is an error, 0 otherwise.
pub(crate) fn process<F>(input: &str, f: F) -> (String, i32)
where
    F: FnOnce(&mut ResourceList) -> Result<()>,
{
    let mut list = match ResourceList::parse(input) {
        Ok(list) => list,
        Err(e) => return failure("", &format!("cannot read the input ResourceList: {e}")),
    };
    match panic::catch_unwind(AssertUnwindSafe(|| f(&mut list))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            list.error(e.to_string());
        }
        Err(payload) => {
            let hooked = PANIC_MESSAGE.lock().ok().and_then(|mut m| m.take());
            let message = hooked.unwrap_or_else(|| {
                let text = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
                format!("panicked: {}", text.unwrap_or("Box<dyn Any>"))
            });
            list.error(format!("plugin {message}"));
        }
    }
    finish(&list)
}

/// The output for a run that failed with `message` before or outside the
/// function: the input items unchanged (when they can be read) plus the error.
fn failure(input: &str, message: &str) -> (String, i32) {
    let mut list = ResourceList::parse(input).unwrap_or_default();
    list.error(message);
    finish(&list)
}

fn finish(list: &ResourceList) -> (String, i32) {
    let mut output = list.to_json();
    output.push('\n');
    (output, if list.has_errors() { 1 } else { 0 })
}

/// Keeps the panic message and location for the error result. Under
/// `panic = "abort"` (the default on wasm targets) nothing unwinds back to
/// [`process`], so the hook writes the error result and exits itself.
fn install_panic_hook(input: &'static str) {
    panic::set_hook(Box::new(move |info| {
        let text = info.payload_as_str().unwrap_or("Box<dyn Any>");
        let message = match info.location() {
            Some(at) => format!(
                "panicked at {}:{}:{}: {text}",
                at.file(),
                at.line(),
                at.column()
            ),
            None => format!("panicked: {text}"),
        };
        if cfg!(panic = "abort") {
            let (output, code) = failure(input, &format!("plugin {message}"));
            exit(&output, code);
        }
        if let Ok(mut slot) = PANIC_MESSAGE.lock() {
            *slot = Some(message);
        }
    }));
}

fn exit(output: &str, code: i32) -> ! {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    std::process::exit(if written.is_err() { 1 } else { code })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;
    use crate::{Error, Severity, annotations_mut};

    fn output(text: &str) -> Value {
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "one line: {text:?}"
        );
        serde_json::from_str(text).unwrap()
    }

    const YAML: &str = "\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: a
  data: {x: '1'}
functionConfig:
  team: payments
";

    #[test]
    fn reads_yaml_writes_json_in_order() {
        let (out, code) = process(YAML, |rl| {
            annotations_mut(&mut rl.items[0]).insert("k".into(), "v".into());
            Ok(())
        });
        assert_eq!(code, 0);
        assert_eq!(
            out,
            r#"{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","annotations":{"k":"v"}},"data":{"x":"1"}}],"functionConfig":{"team":"payments"}}"#
                .to_owned()
                + "\n"
        );
    }

    #[test]
    fn reads_json() {
        let input = r#"{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[{"kind":"Pod","metadata":{"name":"p"}}]}"#;
        let (out, code) = process(input, |rl| {
            assert_eq!(crate::name(&rl.items[0]), "p");
            Ok(())
        });
        assert_eq!(code, 0);
        assert_eq!(output(&out)["items"][0]["kind"], "Pod");
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Config {
        team: String,
        #[serde(default)]
        annotation: Option<String>,
    }

    #[test]
    fn typed_config() {
        let rl = ResourceList::parse(YAML).unwrap();
        let config: Config = rl.function_config().unwrap();
        assert_eq!(config.team, "payments");
        assert_eq!(config.annotation, None);
    }

    #[test]
    fn config_from_configmap_data() {
        let rl = ResourceList::new(vec![]).with_function_config(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg"}, "data": {"team": "search"},
        }));
        let config: Config = rl.function_config().unwrap();
        assert_eq!(config.team, "search");
    }

    #[derive(Deserialize, Default, PartialEq, Debug)]
    struct Defaults {
        #[serde(default)]
        flag: bool,
    }

    #[test]
    fn missing_config_reads_as_empty() {
        let rl = ResourceList::new(vec![]);
        assert_eq!(
            rl.function_config::<Defaults>().unwrap(),
            Defaults::default()
        );
        let rl = rl.with_function_config(Value::Null);
        assert_eq!(
            rl.function_config::<Defaults>().unwrap(),
            Defaults::default()
        );
    }

    #[test]
    fn bad_config_is_an_error() {
        let rl = ResourceList::new(vec![]).with_function_config(json!({"team": 3}));
        let err = rl.function_config::<Config>().unwrap_err();
        assert!(
            err.to_string().starts_with("invalid functionConfig: "),
            "{err}"
        );
    }

    #[test]
    fn err_becomes_error_result_and_exit_1() {
        let (out, code) = process(YAML, |_| Err(Error::new("no team")));
        assert_eq!(code, 1);
        let out = output(&out);
        assert_eq!(
            out["results"],
            json!([{"message": "no team", "severity": "error"}])
        );
        assert_eq!(out["items"][0]["metadata"]["name"], "a");
    }

    #[test]
    fn panic_becomes_error_result_and_exit_1() {
        let (out, code) = process(YAML, |_| panic!("boom {}", 7));
        assert_eq!(code, 1);
        let message = output(&out)["results"][0]["message"].clone();
        assert_eq!(message, "plugin panicked: boom 7");
    }

    #[test]
    fn reported_error_result_exits_1() {
        let (out, code) = process(YAML, |rl| {
            let item = rl.items[0].clone();
            rl.report(
                crate::KrmResult::error("bad image")
                    .resource(&item)
                    .field("spec.containers[0].image"),
            );
            Ok(())
        });
        assert_eq!(code, 1);
        assert_eq!(
            output(&out)["results"][0],
            json!({
                "message": "bad image",
                "severity": "error",
                "resourceRef": {"apiVersion": "v1", "kind": "ConfigMap", "name": "a"},
                "field": {"path": "spec.containers[0].image"},
            })
        );
    }

    #[test]
    fn warnings_exit_0() {
        let (out, code) = process(YAML, |rl| {
            rl.warning("careful");
            rl.result(Severity::Info, "fyi");
            Ok(())
        });
        assert_eq!(code, 0);
        assert_eq!(output(&out)["results"][0]["severity"], "warning");
    }

    #[test]
    fn unreadable_input_is_an_error_result() {
        let (out, code) = process("items: [", |_| unreachable!());
        assert_eq!(code, 1);
        let out = output(&out);
        assert_eq!(out["items"], json!([]));
        let message = out["results"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("cannot read the input ResourceList: "),
            "{message}"
        );
    }

    #[test]
    fn wrong_kind_is_rejected() {
        let (_, code) = process("{\"kind\": \"List\"}", |_| Ok(()));
        assert_eq!(code, 1);
    }

    #[test]
    fn labels_and_annotations_are_created() {
        let mut item = json!({"kind": "Pod"});
        crate::labels_mut(&mut item).insert("a".into(), "b".into());
        annotations_mut(&mut item).insert("c".into(), "d".into());
        assert_eq!(
            item,
            json!({"kind": "Pod", "metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}})
        );
    }

    #[test]
    fn resource_ref_takes_file_from_annotations() {
        let item = json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "n", "annotations": {
            "config.kubernetes.io/path": "pods.yaml", "config.kubernetes.io/index": "2"}}});
        let result = crate::KrmResult::info("x").resource(&item);
        assert_eq!(result.resource_ref.unwrap().namespace.as_deref(), Some("n"));
        let file = result.file.unwrap();
        assert_eq!((file.path.as_str(), file.index), ("pods.yaml", Some(2)));
    }
}
