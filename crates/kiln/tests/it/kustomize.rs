//! Golden cases of `kiln build` against real kustomize.
//!
//! Each folder under `testdata/kustomize/` is a case: a kustomization tree, the folder to
//! build (named in a `build-dir` file, `.` by default), and either `expected.yaml` (what
//! `kustomize build` v5.7.1 printed, written by `scripts/kustomize-goldens.sh`) or
//! `expected.err` (kiln's exact error message; the case's `kustomize.err` keeps what
//! kustomize said). Output is compared byte for byte; every failing case is reported,
//! with its differences, in one assertion. The few cases in [`DATA_ONLY`], where kiln's
//! data differs from kustomize's for a reason of its own, are compared as parsed
//! documents and document order instead, and fail when they become byte-identical (so
//! the list only shrinks).
//!
//! A case that runs WASM functions names each module as `file: NAME.wasm` with
//! `sha256: "@SHA256:NAME@"`, NAME a plugin under `plugins/`: the case is built from a
//! copy where each such file holds the module `kiln-test-artifacts` built from source and
//! each token its pin. (Its `expected.yaml` comes from kustomize running the same plugin
//! built natively, as a legacy exec plugin.)
//!
//! `KILN_BLESS=1` rewrites `expected.err` files (never `expected.yaml`, which only real
//! kustomize writes). `KILN_CASE=substring` runs only the matching cases.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{copy_with_plugins, names_plugins, unpin};

fn cases_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kustomize")
}

/// Parses a YAML stream into JSON values, skipping empty documents.
fn parse_docs(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// `apiVersion Kind/namespace/name` of a document.
fn id(v: &Value) -> String {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api, kind, ns, name) = (
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name"),
    );
    if ns.is_empty() {
        format!("{api} {kind}/{name}")
    } else {
        format!("{api} {kind}/{ns}/{name}")
    }
}

/// A value with every mapping's keys sorted, as YAML, for readable differences.
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_yaml::to_string(&sort(v)).unwrap_or_default()
}

/// Lines of `a` and `b` that differ, `-` for `a` (expected) and `+` for `b` (kiln).
fn line_diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    // Longest common subsequence, small inputs.
    let mut l = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            let _ = writeln!(out, "    + {}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "    - {}", a[i]);
            i += 1;
        }
    }
    out
}

/// Cases compared as data, not bytes, each with why kiln's output differs from
/// kustomize's.
const DATA_ONLY: &[(&str, &str)] = &[];

/// Compares kiln's output with kustomize's byte for byte; `None` when they agree.
fn compare(case: &str, expected: &str, got: &str) -> Option<String> {
    let data_only = DATA_ONLY.iter().find(|(name, _)| *name == case);
    match (expected == got, data_only) {
        (true, None) => None,
        (true, Some((_, why))) => Some(format!(
            "  byte-identical now: take it off DATA_ONLY (it was there because {why})\n"
        )),
        (false, Some(_)) => compare_data(expected, got),
        (false, None) => {
            let mut out = String::from("  output differs (- kustomize, + kiln):\n");
            out.push_str(&line_diff(expected, got));
            if expected.trim_end() == got.trim_end() {
                out.push_str("  (only trailing whitespace differs)\n");
            }
            Some(out)
        }
    }
}

/// Compares kiln's output with kustomize's as parsed documents and document order;
/// `None` when they agree.
fn compare_data(expected: &str, got: &str) -> Option<String> {
    let exp = match parse_docs(expected) {
        Ok(d) => d,
        Err(e) => return Some(format!("  expected.yaml does not parse: {e}\n")),
    };
    let got_docs = match parse_docs(got) {
        Ok(d) => d,
        Err(e) => return Some(format!("  kiln's output does not parse: {e}\n")),
    };
    let mut out = String::new();
    let exp_ids: Vec<String> = exp.iter().map(id).collect();
    let got_ids: Vec<String> = got_docs.iter().map(id).collect();
    if exp_ids != got_ids {
        let _ = writeln!(
            out,
            "  documents or their order differ (- kustomize, + kiln):"
        );
        out.push_str(&line_diff(&exp_ids.join("\n"), &got_ids.join("\n")));
    }
    for e in &exp {
        let Some(g) = got_docs.iter().find(|g| id(g) == id(e)) else {
            continue;
        };
        if e != g {
            let _ = writeln!(out, "  {} differs (- kustomize, + kiln):", id(e));
            out.push_str(&line_diff(&canonical(e), &canonical(g)));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn case_name(case: &Path) -> String {
    case.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn run_case(engine: &kiln::Engine, case: &Path, bless: bool) -> Option<String> {
    let build_dir = fs::read_to_string(case.join("build-dir"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| ".".into());
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = if names_plugins(case) {
        let copy = scratch.path().join(case.file_name().unwrap_or_default());
        copy_with_plugins(case, &copy);
        copy
    } else {
        case.to_path_buf()
    };
    let dir = root.join(&build_dir);
    let result = engine.build_kustomization_with_root(&dir, Some(&root));
    let err_file = case.join("expected.err");
    let yaml_file = case.join("expected.yaml");
    match result {
        Ok(rendered) => {
            // Building twice gives the same bytes.
            if let Ok(again) = engine.build_kustomization_with_root(&dir, Some(&root))
                && again.yaml() != rendered.yaml()
            {
                return Some("  two builds gave different output\n".into());
            }
            if err_file.exists() {
                return Some(format!(
                    "  expected the error in expected.err, but the build succeeded:\n{}",
                    rendered.yaml()
                ));
            }
            match fs::read_to_string(&yaml_file) {
                Ok(expected) => compare(&case_name(case), &expected, rendered.yaml()),
                Err(_) => Some("  no expected.yaml: run scripts/kustomize-goldens.sh\n".into()),
            }
        }
        Err(e) => {
            // Pins of plugins built from source change with the code: name them instead.
            let message = unpin(&e.to_string());
            if bless && !yaml_file.exists() {
                let _ = fs::write(&err_file, format!("{message}\n"));
                return None;
            }
            match fs::read_to_string(&err_file) {
                Ok(expected) if expected.trim_end() == message => None,
                Ok(expected) => Some(format!(
                    "  error differs:\n    expected: {}\n    got:      {message}\n",
                    expected.trim_end()
                )),
                Err(_) => Some(format!("  build failed: {message}\n")),
            }
        }
    }
}

#[test]
fn kustomize_golden_cases() {
    let bless = std::env::var_os("KILN_BLESS").is_some_and(|v| v != "0");
    let only = std::env::var("KILN_CASE").ok();
    let engine = kiln::Engine::builder()
        .no_cache(true)
        .build()
        .expect("engine");
    let mut cases: Vec<PathBuf> = fs::read_dir(cases_root())
        .expect("testdata/kustomize")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter(|p| {
            only.as_deref()
                .is_none_or(|o| p.to_string_lossy().contains(o))
        })
        .collect();
    cases.sort();
    assert!(
        only.is_some() || cases.len() >= 40,
        "expected at least 40 cases, found {}",
        cases.len()
    );
    for (name, _) in DATA_ONLY {
        assert!(
            cases_root().join(name).join("expected.yaml").exists(),
            "DATA_ONLY names `{name}`, which is not a case with an expected.yaml"
        );
    }
    let mut report = String::new();
    let mut failed = 0;
    for case in &cases {
        if let Some(diff) = run_case(&engine, case, bless) {
            failed += 1;
            let _ = writeln!(report, "case `{}`:\n{diff}", case_name(case));
        }
    }
    assert!(
        failed == 0,
        "{failed} of {} kustomize cases failed:\n\n{report}",
        cases.len()
    );
}

/// Warnings a `wasip1` function reports reach the build's result, naming the function.
#[test]
fn function_warnings_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::copy(kiln_test_artifacts::FIXTURE.path, root.join("fixture.wasm")).unwrap();
    fs::write(
        root.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    )
    .unwrap();
    fs::write(
        root.join("fn.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warn\n  annotations:\n    config.kubernetes.io/function: |\n      wasip1:\n        file: fixture.wasm\n        sha256: {}\ndata:\n  mode: warning-result\n",
            kiln_test_artifacts::FIXTURE.sha256
        ),
    )
    .unwrap();
    fs::write(
        root.join("kustomization.yaml"),
        "resources: [cm.yaml]\ntransformers: [fn.yaml]\n",
    )
    .unwrap();
    let engine = kiln::Engine::builder().no_cache(true).build().unwrap();
    let built = engine.build_kustomization(root).unwrap();
    assert_eq!(built.resources().unwrap().len(), 1);
    assert_eq!(built.warnings().len(), 1, "{:?}", built.warnings());
    let w = &built.warnings()[0];
    assert!(
        w.contains("ConfigMap/warn") && w.contains("fixture: warning result on purpose"),
        "{w}"
    );
}

/// `testdata/plugins/kustomize-*`: kustomizations running `wasip1` functions built from
/// source, against kiln's golden output (kiln's `configMap:` shorthand among them, which
/// kustomize does not read, so these are not kustomize golden cases).
#[test]
fn plugin_cases_kustomize() {
    let engine = kiln::Engine::builder()
        .no_cache(true)
        .build()
        .expect("engine");
    crate::util::run_plugin_cases("kustomize-", |root| {
        Ok(engine
            .build_kustomization_with_root(root, Some(root))?
            .yaml()
            .to_string())
    });
}
