use super::*;

fn cm(name: &str, ns: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  key: {value}\n"
    )
}

fn stream(docs: &[String]) -> String {
    docs.join("---\n")
}

fn secret(name: &str, data: &[(&str, &str)]) -> String {
    let mut s =
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\ndata:\n");
    for (k, v) in data {
        s.push_str(&format!("  {k}: {v}\n"));
    }
    s
}

#[test]
fn strips_only_generator_hashes() {
    assert_eq!(strip_hash("app-config-7k2g4bm9dt"), "app-config");
    assert_eq!(strip_hash("app-config-7k2g4bm9d"), "app-config-7k2g4bm9d");
    // `a`, `e`, `0`, `1` and `3` are never in a kustomize hash.
    assert_eq!(strip_hash("app-config-aaaaaaaaaa"), "app-config-aaaaaaaaaa");
    assert_eq!(strip_hash("-7k2g4bm9dt"), "-7k2g4bm9dt");
}

#[test]
fn hash_rename_is_one_changed_resource() {
    let mut c = Comparison::new();
    c.base("r", Ok(cm("app-7k2g4bm9dt", "ns", "one")));
    c.head("r", Ok(cm("app-9c2b5h8fmt", "ns", "two")));
    let report = c.run();
    assert_eq!(report.releases.len(), 1);
    let res = &report.releases[0].resources;
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(res[0].status, ResourceStatus::Changed);
    assert_eq!(res[0].name, "app-9c2b5h8fmt");
    assert!(
        res[0]
            .diff
            .contains("-  name: app-7k2g4bm9dt\n+  name: app-9c2b5h8fmt\n")
    );
    assert!(res[0].diff.contains("-  key: one\n+  key: two\n"));
}

#[test]
fn a_hash_is_not_stripped_from_other_kinds() {
    let dep =
        |name: &str| format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n");
    let mut c = Comparison::new();
    c.base("r", Ok(dep("app-7k2g4bm9dt")));
    c.head("r", Ok(dep("app-9c2b5h8fmt")));
    let statuses: Vec<_> = c.run().releases[0]
        .resources
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [ResourceStatus::Removed, ResourceStatus::Added]);
}

#[test]
fn namespace_move_is_removed_and_added() {
    let mut c = Comparison::new();
    c.base("r", Ok(cm("app", "one", "v")));
    c.head("r", Ok(cm("app", "two", "v")));
    let res = &c.run().releases[0].resources;
    let got: Vec<_> = res
        .iter()
        .map(|r| (r.namespace.as_str(), r.status))
        .collect();
    assert_eq!(
        got,
        [
            ("one", ResourceStatus::Removed),
            ("two", ResourceStatus::Added)
        ]
    );
}

#[test]
fn unchanged_and_reordered_releases_are_omitted() {
    let a = cm("a", "ns", "1");
    let b = cm("b", "ns", "2");
    let mut c = Comparison::new();
    c.base("same", Ok(stream(&[a.clone(), b.clone()])));
    c.head("same", Ok(stream(&[a.clone(), b.clone()])));
    c.base("reordered", Ok(stream(&[a.clone(), b.clone()])));
    c.head("reordered", Ok(stream(&[b, a])));
    let report = c.run();
    assert!(report.releases.is_empty(), "{report:?}");
    assert_eq!(report.unchanged, 2);
    assert!(!report.has_differences());
    assert_eq!(
        report.text(),
        "kiln diff: no changes (2 releases unchanged)\n"
    );
}

#[test]
fn secret_values_never_show() {
    let mut c = Comparison::new();
    c.base(
        "r",
        Ok(secret(
            "db",
            &[
                ("user", "YWRtaW4="),
                ("pass", "b2xkLXBhc3M="),
                ("gone", "eA=="),
            ],
        )),
    );
    c.head(
        "r",
        Ok(secret(
            "db",
            &[
                ("user", "YWRtaW4="),
                ("pass", "bmV3LXBhc3M="),
                ("new", "eQ=="),
            ],
        )),
    );
    let report = c.run();
    let d = &report.releases[0].resources[0].diff;
    for clear in ["YWRtaW4=", "b2xkLXBhc3M=", "bmV3LXBhc3M=", "eA==", "eQ=="] {
        assert!(!report.text().contains(clear), "{clear} shows in {d}");
        assert!(!report.json().contains(clear));
    }
    assert!(d.contains("   user: '(unchanged)'\n"), "{d}");
    assert!(d.contains("-  pass: '(changed, old)'\n"), "{d}");
    assert!(d.contains("+  pass: '(changed, new)'\n"), "{d}");
    assert!(d.contains("-  gone: '(removed)'\n"), "{d}");
    assert!(d.contains("+  new: '(added)'\n"), "{d}");
}

#[test]
fn a_secret_on_one_side_is_hidden() {
    let mut c = Comparison::new();
    c.head(
        "r",
        Ok(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: abc123\n"
                .into(),
        ),
    );
    let report = c.run();
    assert_eq!(report.releases[0].status, ReleaseStatus::Added);
    let d = &report.releases[0].resources[0].diff;
    assert!(d.contains("+  token: '(hidden)'\n"), "{d}");
    assert!(!d.contains("abc123"));
}

#[test]
fn sensitive_values_never_show_even_in_errors() {
    let doc = |pw: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  url: postgres://app:{pw}@db\n  b64: {}\n  pem: |\n    -----BEGIN-----\n    {pw}\n    -----END-----\n",
            crate::kustomize::generate::base64(pw.as_bytes())
        )
    };
    let mut c = Comparison::new();
    c.base("r", Ok(doc("hunter2-old")));
    c.head("r", Ok(doc("hunter2-new")));
    c.sensitive("r", ["hunter2-old".to_string(), "hunter2-new".to_string()]);
    c.head(
        "bad",
        Err("template: value `hunter2-new` is not a number".into()),
    );
    c.sensitive("bad", ["hunter2-new".to_string()]);
    let report = c.run();
    for out in [
        report.text(),
        report.json(),
        report.markdown(65536).concat(),
    ] {
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("aHVudGVy"), "{out}");
    }
    assert_eq!(
        report.releases[0].error.as_deref(),
        Some("head: template: value `<sensitive>` is not a number")
    );
    // The change is still reported, without its values.
    let changed = &report.releases[1].resources[0];
    assert_eq!(changed.diff, "(only values marked sensitive changed)\n");
}

#[test]
fn identical_changes_are_grouped_once() {
    let mut c = Comparison::new();
    for (name, ns) in [("a", "ns-a"), ("b", "ns-b"), ("c", "ns-c")] {
        c.base(name, Ok(cm("shared", ns, "old")));
        let new = if name == "c" { "other" } else { "new" };
        c.head(name, Ok(cm("shared", ns, new)));
    }
    let report = c.run();
    let text = report.text();
    assert_eq!(text.matches("+  key: new").count(), 1, "{text}");
    assert!(text.contains("=== 2 releases: a, b\n"), "{text}");
    assert!(text.contains("=== 1 release: c\n"), "{text}");
    assert!(text.contains("v1 ConfigMap shared in each release's namespace (changed)"));
    // The namespace line is context: shown once, for every release.
    assert!(text.contains("   namespace: <namespace>\n"), "{text}");
    assert!(text.contains("   namespace: ns-c\n"), "{text}");
}

#[test]
fn a_failure_on_either_side_names_the_side() {
    let mut c = Comparison::new();
    c.base("r", Err("boom".into()));
    c.head("r", Err("bang".into()));
    c.base(
        "s",
        Ok("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n".into()),
    );
    c.head("s", Ok(cm("x", "y", "z")));
    let report = c.run();
    assert_eq!(report.failed(), 2);
    assert_eq!(
        report.releases[0].error.as_deref(),
        Some("base: boom; head: bang")
    );
    let parse = report.releases[1].error.as_deref().unwrap_or_default();
    assert!(parse.starts_with("base: `s.yaml`:4:1: "), "{parse}");
}

#[test]
fn splits_documents() {
    let text = "---\na: 1\n---\n\n--- \n# only a comment\n---\nb: 2\n...\n--- {c: 3}\n";
    assert_eq!(
        split_docs(text),
        ["a: 1\n", "\n", "# only a comment\n", "b: 2\n", "{c: 3}\n"]
            .into_iter()
            .filter(|d| !d.trim().is_empty())
            .collect::<Vec<_>>()
    );
}

#[test]
fn markdown_parts_fit_and_keep_code_blocks_whole() {
    let mut c = Comparison::new();
    for i in 0..40 {
        let doc = |p: &str| {
            let big: String = (0..200).map(|j| format!("  k{j}: {p}{i}-{j}\n")).collect();
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m{i}\ndata:\n{big}")
        };
        c.base(format!("r{i:02}"), Ok(doc("v")));
        c.head(format!("r{i:02}"), Ok(doc("w")));
    }
    let report = c.run();
    for max in [1024, 4096, 65536] {
        let parts = report.markdown(max);
        assert!(parts.len() > 1);
        let total = parts.len();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= max, "part {} is {} bytes", i + 1, p.len());
            assert!(p.starts_with(&format!("<!-- kiln diff part {}/{total} -->\n", i + 1)));
            let fences = p.lines().filter(|l| l.starts_with("```")).count();
            assert_eq!(fences % 2, 0, "a code block is cut in part {}:\n{p}", i + 1);
            assert_eq!(
                p.matches("<details>").count(),
                p.matches("</details>").count()
            );
        }
        // Every changed line is in some part.
        let all = parts.concat();
        for i in 0..40 {
            assert!(
                all.contains(&format!("+  k199: w{i}-199")),
                "r{i} line lost at {max}"
            );
        }
    }
}

#[test]
fn json_has_the_documented_shape() {
    let mut c = Comparison::new();
    c.base("gone", Ok(cm("a", "n", "1")));
    c.head("new", Ok(cm("a", "n", "1")));
    c.head("bad", Err("oops".into()));
    let v: serde_json::Value = serde_json::from_str(&c.run().json()).unwrap();
    assert_eq!(v["releases"][0]["name"], "bad");
    assert_eq!(v["releases"][0]["status"], "failed");
    assert_eq!(v["releases"][0]["error"], "head: oops");
    assert_eq!(v["releases"][1]["status"], "removed");
    let r = &v["releases"][2]["resources"][0];
    assert_eq!(v["releases"][2]["status"], "added");
    assert_eq!(
        (
            &r["apiVersion"],
            &r["kind"],
            &r["namespace"],
            &r["name"],
            &r["status"]
        ),
        (
            &"v1".into(),
            &"ConfigMap".into(),
            &"n".into(),
            &"a".into(),
            &"added".into()
        )
    );
    assert!(
        r["diff"]
            .as_str()
            .unwrap()
            .starts_with("@@ -0,0 +1,7 @@\n+apiVersion: v1\n")
    );
}
