//! `kiln diff` on a fixture repository built with real `git` commits: one golden file per
//! case under `testdata/diff/` (text, markdown and JSON output with their exit codes;
//! `KILN_BLESS=1` rewrites them), the repository untouched by a diff, the cache used by
//! both sides, and bad input.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{kiln, render_command, stderr, write};

const CUSTOMERS: [&str; 3] = ["acme", "globex", "initech"];

/// Runs `git ARGS` in `repo`, which must succeed; its stdout.
fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "kiln test")
        .env("GIT_AUTHOR_EMAIL", "test@kiln.invalid")
        .env("GIT_COMMITTER_NAME", "kiln test")
        .env("GIT_COMMITTER_EMAIL", "test@kiln.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn release(
    name: &str,
    tag: &str,
    replicas: u32,
    namespace: &str,
    password: &str,
) -> [(String, String); 3] {
    let dir = format!("customers/{name}");
    [
        (
            format!("{dir}/release.yaml"),
            format!(
                "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: {name}\nspec:\n  resources: [../../base, db.yaml.j2]\n  namespace: {namespace}\n  valuesFiles: [tf-outputs.json]\n  images:\n    - {{name: example.com/app, newTag: \"{tag}\"}}\n  patches:\n    - patch: |\n        apiVersion: apps/v1\n        kind: Deployment\n        metadata: {{name: app}}\n        spec: {{replicas: {replicas}}}\n"
            ),
        ),
        (
            format!("{dir}/tf-outputs.json"),
            format!(
                "{{\"db_host\": {{\"value\": \"db.{name}.internal\", \"type\": \"string\"}}, \"db_password\": {{\"value\": \"{password}\", \"type\": \"string\", \"sensitive\": true}}}}\n"
            ),
        ),
        (
            format!("{dir}/db.yaml.j2"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  host: {{ values.db_host }}\n  password: {{ values.db_password }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-url\ndata:\n  url: postgres://app:{{ values.db_password }}@{{ values.db_host }}/app\n".into(),
        ),
    ]
}

/// The fixture: a shared base (a Deployment, a Service, a generated ConfigMap) and three
/// customer releases, committed on `main`, then a branch `change` checked out.
fn fixture(root: &Path) {
    write(
        root.join("base/kustomization.yaml"),
        "resources: [deployment.yaml, service.yaml]\nconfigMapGenerator:\n  - name: app-config\n    literals: [LOG_LEVEL=info, FEATURES=search]\n",
    );
    write(
        root.join("base/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n    spec:\n      containers:\n        - name: app\n          image: example.com/app:latest\n          envFrom:\n            - configMapRef: {name: app-config}\n          resources:\n            limits: {cpu: 500m, memory: 256Mi}\n",
    );
    write(
        root.join("base/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector: {app: app}\n  ports:\n    - port: 80\n      targetPort: 8080\n",
    );
    for (i, c) in CUSTOMERS.iter().enumerate() {
        for (path, text) in release(c, "1.0.0", 2 + i as u32, c, &format!("pw-{c}-one")) {
            write(root.join(path), text);
        }
    }
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "fleet"]);
    git(root, &["checkout", "-q", "-b", "change"]);
}

fn edit(root: &Path, path: &str, from: &str, to: &str) {
    let p = root.join(path);
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{path} has no `{from}`");
    fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

fn commit_all(root: &Path, msg: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", msg]);
}

/// Runs `kiln diff ARGS` in `repo` with the cache in `cache`.
fn diff(repo: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("diff")
        .args(args)
        .current_dir(repo)
        .env("KILN_CACHE_DIR", cache)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap()
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/diff")
}

fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(format!("{name}.txt"));
    if std::env::var_os("KILN_BLESS").is_some() {
        fs::create_dir_all(golden_dir()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with KILN_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Runs the three formats in the fixture after `change`, checks the golden file and that no
/// secret shows; returns the exit code.
fn case(name: &str, change: impl FnOnce(&Path), extra: &[&str]) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fixture(&repo);
    change(&repo);
    let cache = dir.path().join("cache");
    let mut golden = String::new();
    let mut code = None;
    for format in ["text", "markdown", "json"] {
        let mut args = vec!["--output", format];
        args.extend_from_slice(extra);
        let out = diff(&repo, &cache, &args);
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        let c = out.status.code().unwrap_or(-1);
        assert!(matches!(c, 0..=2), "{name}: exit {c}: {}", stderr(&out));
        assert_eq!(
            *code.get_or_insert(c),
            c,
            "{name}: the formats disagree on the exit code"
        );
        let err = stderr(&out);
        assert!(err.starts_with("kiln diff: "), "{name}: {err}");
        golden.push_str(&format!(
            "# kiln diff {} (exit {c})\n{stdout}\n",
            args.join(" ")
        ));
        for secret in [
            "pw-acme",
            "pw-globex",
            "pw-initech",
            "cHctYWNtZS",
            "pw-hooli",
        ] {
            assert!(
                !stdout.contains(secret),
                "{name}: `{secret}` shows:\n{stdout}"
            );
            assert!(
                !err.contains(secret),
                "{name}: `{secret}` shows on stderr:\n{err}"
            );
        }
        if format == "json" {
            serde_json_check(&stdout);
        }
    }
    check_golden(name, &golden);
    code.unwrap_or(-1)
}

/// The JSON output parses and has the documented top level.
fn serde_json_check(text: &str) {
    assert!(text.starts_with("{\n  \"releases\": ["), "{text}");
    assert!(text.ends_with("}\n"));
}

#[test]
fn image_bump_in_one_customer() {
    let code = case(
        "image-bump",
        |r| {
            edit(
                r,
                "customers/acme/release.yaml",
                "newTag: \"1.0.0\"",
                "newTag: \"1.1.0\"",
            );
            commit_all(r, "acme 1.1.0");
        },
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn replica_change_uncommitted_in_the_work_tree() {
    let code = case(
        "replicas",
        |r| {
            edit(
                r,
                "customers/globex/release.yaml",
                "replicas: 3",
                "replicas: 5",
            )
        },
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn shared_base_change_is_grouped_once() {
    let code = case(
        "base-change",
        |r| {
            edit(r, "base/deployment.yaml", "memory: 256Mi", "memory: 512Mi");
            commit_all(r, "more memory");
        },
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn config_map_generator_change_matches_across_the_hash() {
    let code = case(
        "configmap-generator",
        |r| {
            edit(
                r,
                "base/kustomization.yaml",
                "LOG_LEVEL=info",
                "LOG_LEVEL=debug",
            );
            commit_all(r, "debug logs");
        },
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn secret_change_is_redacted() {
    let code = case(
        "secret",
        |r| {
            edit(
                r,
                "customers/acme/tf-outputs.json",
                "pw-acme-one",
                "pw-acme-two",
            );
            edit(
                r,
                "customers/globex/tf-outputs.json",
                "db.globex.internal",
                "db2.globex.internal",
            );
            // Staged, not committed.
            git(r, &["add", "-A"]);
        },
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn release_added_and_release_removed() {
    let code = case(
        "added-removed",
        |r| {
            fs::remove_dir_all(r.join("customers/initech")).unwrap();
            for (path, text) in release("hooli", "2.0.0", 1, "hooli", "pw-hooli-one") {
                write(r.join(path), text);
            }
            commit_all(r, "hooli in, initech out");
        },
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn namespace_move_is_removed_and_added() {
    let code = case(
        "namespace-move",
        |r| {
            edit(
                r,
                "customers/globex/release.yaml",
                "namespace: globex",
                "namespace: globex-prod",
            );
            commit_all(r, "globex-prod");
        },
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn a_render_failing_on_the_head_side_is_reported_and_the_rest_diffs() {
    let code = case(
        "head-failure",
        |r| {
            edit(
                r,
                "customers/acme/db.yaml.j2",
                "values.db_host",
                "values.db_hots",
            );
            edit(
                r,
                "customers/globex/release.yaml",
                "newTag: \"1.0.0\"",
                "newTag: \"1.0.1\"",
            );
            commit_all(r, "typo");
        },
        &[],
    );
    assert_eq!(code, 2);
}

#[test]
fn no_change_exits_0() {
    let code = case("no-change", |_| {}, &[]);
    assert_eq!(code, 0);
}

#[test]
fn a_huge_change_is_split_into_markdown_parts() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fixture(&repo);
    let big: String = (0..400)
        .map(|i| format!("            - name: VAR_{i}\n              value: \"{i}\"\n"))
        .collect();
    edit(
        &repo,
        "base/deployment.yaml",
        "          envFrom:\n",
        &format!("          env:\n{big}          envFrom:\n"),
    );
    commit_all(&repo, "many variables");
    let cache = dir.path().join("cache");
    let max = 4096;
    let out = diff(
        &repo,
        &cache,
        &["--output", "markdown", "--max-bytes", "4096"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let parts_dir = dir.path().join("parts");
    // A stale part from an earlier run is removed.
    write(parts_dir.join("part-99.md"), "old");
    let out = diff(
        &repo,
        &cache,
        &[
            "--output",
            "markdown",
            "--max-bytes",
            "4096",
            "--parts-dir",
            parts_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let mut files: Vec<_> = fs::read_dir(&parts_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|p| {
        let n = p
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches("part-")
            .to_string();
        n.parse::<usize>().unwrap()
    });
    let total = files.len();
    assert!(total >= 4, "{total} parts");
    let mut joined = String::new();
    for (i, f) in files.iter().enumerate() {
        assert_eq!(
            f.file_name().unwrap().to_str().unwrap(),
            format!("part-{}.md", i + 1)
        );
        let p = fs::read_to_string(f).unwrap();
        assert!(p.len() <= max, "part {} has {} bytes", i + 1, p.len());
        assert!(
            p.starts_with(&format!("<!-- kiln diff part {}/{total} -->\n", i + 1)),
            "{p}"
        );
        let fences = p.lines().filter(|l| l.starts_with("```")).count();
        assert_eq!(fences % 2, 0, "part {} cuts a code block", i + 1);
        assert_eq!(
            p.matches("<details>").count(),
            p.matches("</details>").count()
        );
        joined.push_str(&p);
    }
    assert_eq!(joined, stdout, "--parts-dir and stdout give the same parts");
    for i in 0..400 {
        assert!(
            joined.contains(&format!("+        - name: VAR_{i}\n")),
            "VAR_{i} lost"
        );
    }
    // The base change is shown once, for the three releases.
    assert_eq!(joined.matches("+        - name: VAR_7\n").count(), 1);
    check_golden("huge", &joined);
}

/// Every file under `dir` (the `.git` folder included) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                let bytes = if ft.is_symlink() {
                    fs::read_link(e.path())
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes()
                } else {
                    fs::read(e.path()).unwrap()
                };
                out.insert(e.path().strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

#[test]
fn the_repository_is_untouched_by_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fixture(&repo);
    // A stash entry, another branch, a commit, a staged edit, an unstaged edit and an
    // untracked file.
    edit(
        &repo,
        "customers/initech/release.yaml",
        "replicas: 4",
        "replicas: 9",
    );
    git(&repo, &["stash", "-q"]);
    git(&repo, &["branch", "other"]);
    edit(
        &repo,
        "customers/acme/release.yaml",
        "newTag: \"1.0.0\"",
        "newTag: \"1.2.0\"",
    );
    commit_all(&repo, "acme 1.2.0");
    edit(&repo, "base/service.yaml", "port: 80", "port: 81");
    git(&repo, &["add", "base/service.yaml"]);
    edit(
        &repo,
        "customers/globex/release.yaml",
        "replicas: 3",
        "replicas: 6",
    );
    write(repo.join("notes.txt"), "untracked\n");
    // Let git refresh its index once, so that the snapshot is of a settled repository.
    git(&repo, &["status", "--porcelain"]);
    let porcelain = git(&repo, &["status", "--porcelain=v2", "--branch"]);
    let stash = git(&repo, &["stash", "list"]);
    let refs = git(&repo, &["for-each-ref"]);
    let before = snapshot(&repo);
    let cache = dir.path().join("cache");
    // `other` is where `main` is: the same as the base.
    let runs: [(&[&str], i32); 3] = [
        (&[], 1),
        (&["--head", "other"], 0),
        (&["--base", "other", "--head", "HEAD"], 1),
    ];
    for (args, code) in runs {
        let out = diff(&repo, &cache, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        let after = snapshot(&repo);
        let changed: Vec<_> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(changed.is_empty(), "{args:?} changed {changed:?}");
    }
    assert_eq!(
        git(&repo, &["status", "--porcelain=v2", "--branch"]),
        porcelain
    );
    assert_eq!(git(&repo, &["stash", "list"]), stash);
    assert_eq!(git(&repo, &["for-each-ref"]), refs);
    // The work tree's edits are the head side: staged, unstaged and committed.
    let out = diff(&repo, &cache, &["--output", "json"]);
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json.contains("image: example.com/app:1.2.0"), "{json}");
    assert!(json.contains("+  replicas: 6"), "{json}");
    assert!(json.contains("+  - port: 81"), "{json}");
    assert!(
        !json.contains("replicas: 9"),
        "the stash is not the work tree: {json}"
    );
}

#[test]
fn both_sides_render_through_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fixture(&repo);
    let cache = dir.path().join("cache");
    // CI rendered main before: the base side is a cache read.
    let status = render_command(&repo.join("customers"), &dir.path().join("out"), &cache)
        .status()
        .unwrap();
    assert!(status.success());
    edit(&repo, "base/service.yaml", "port: 80", "port: 8080");
    let out = diff(&repo, &cache, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("(3 rendered, 3 from cache), head work tree (3 rendered, 0 from cache)"),
        "{err}"
    );
    let out = diff(&repo, &cache, &[]);
    let err = stderr(&out);
    assert!(
        err.contains("(3 rendered, 3 from cache), head work tree (3 rendered, 3 from cache)"),
        "{err}"
    );
    // Releases named on the command line, from a subfolder.
    let out = diff(
        &repo.join("customers"),
        &cache,
        &["acme", "globex/release.yaml"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(
            "kiln diff: 2 releases changed, 0 added, 0 removed, 0 failed, 0 unchanged\n"
        ),
        "{text}"
    );
}

#[test]
fn two_folders_of_rendered_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let cm = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: {v}\n")
    };
    write(a.join("one.yaml"), cm("1"));
    write(b.join("one.yaml"), cm("2"));
    write(a.join("same.yaml"), cm("x"));
    write(b.join("same.yaml"), cm("x"));
    write(b.join("new.yml"), cm("n"));
    write(a.join("notes.txt"), "not an output");
    let out = diff(dir.path(), &dir.path().join("cache"), &["a", "b"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "kiln diff: 1 release changed, 1 added, 0 removed, 0 failed, 1 unchanged\n\n  new  added    1 resource added\n  one  changed  0 added, 0 removed, 1 changed\n\n=== 1 release: new\n\n--- v1 ConfigMap c (added)\n@@ -0,0 +1,6 @@\n+apiVersion: v1\n+kind: ConfigMap\n+metadata:\n+  name: c\n+data:\n+  k: 'n'\n\n=== 1 release: one\n\n--- v1 ConfigMap c (changed)\n@@ -3,4 +3,4 @@\n metadata:\n   name: c\n data:\n-  k: 1\n+  k: 2\n"
    );
    let same = kiln(
        &["diff", a.to_str().unwrap(), a.to_str().unwrap()],
        &dir.path().join("cache"),
    );
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(
        String::from_utf8(same.stdout).unwrap(),
        "kiln diff: no changes (2 releases unchanged)\n"
    );
    let both = diff(
        dir.path(),
        &dir.path().join("cache"),
        &["a", "b", "--base", "main"],
    );
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(
        stderr(&both),
        "error: `a` and `b` are folders of rendered output: --base and --head compare revisions of releases\n"
    );
}

#[test]
fn bad_input_is_refused_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fixture(&repo);
    let cache = dir.path().join("cache");
    let top = fs::canonicalize(&repo).unwrap();
    let cases: &[(&[&str], String)] = &[
        (
            &["--base", "nope"],
            format!(
                "error: --base `nope`: no such commit in `{}`\n",
                top.display()
            ),
        ),
        (
            &["--head", "nope~3"],
            format!(
                "error: --head `nope~3`: no such commit in `{}`\n",
                top.display()
            ),
        ),
        (
            &["--parts-dir", "p"],
            "error: --parts-dir writes markdown parts: add `--output markdown`\n".into(),
        ),
        (
            &["customers/umbrella"],
            "error: `customers/umbrella`: no release there at ".into(),
        ),
        (
            &["../.."],
            "error: `../..` is outside the git work tree ".into(),
        ),
    ];
    for (args, expected) in cases {
        let out = diff(&repo, &cache, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).starts_with(expected.as_str()),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
    let small = diff(&repo, &cache, &["--max-bytes", "100"]);
    assert_eq!(small.status.code(), Some(2));
    assert!(
        stderr(&small).contains("100 is not in 1024.."),
        "{}",
        stderr(&small)
    );
    // Outside any git work tree.
    let plain = dir.path().join("plain");
    fs::create_dir_all(&plain).unwrap();
    let out = diff(&plain, &cache, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not in a git work tree"),
        "{}",
        stderr(&out)
    );
    // No default branch to compare with.
    git(&repo, &["branch", "-q", "-m", "main", "trunk"]);
    let out = diff(&repo, &cache, &[]);
    assert_eq!(
        stderr(&out),
        format!(
            "error: no default branch to compare with in `{}` (origin/HEAD, main and master do not exist): give --base REV\n",
            top.display()
        )
    );
}

/// The only folder under `cache/trees-v1/` whose name ends in `-ROLE`.
fn kept_tree(cache: &Path, role: &str) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(cache.join("trees-v1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(&format!("-{role}")))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

#[test]
fn the_kept_checkout_of_the_base_is_updated_and_checked_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fixture(&repo);
    let cache = dir.path().join("cache");
    edit(&repo, "base/service.yaml", "port: 80", "port: 8080");
    // What a diff says with no kept checkout at all (`--no-cache` exports to a scratch
    // folder every time).
    let fresh = |args: &[&str]| {
        let mut all = vec!["--no-cache"];
        all.extend_from_slice(args);
        let out = diff(&repo, &dir.path().join("unused"), &all);
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let kept = |args: &[&str]| {
        let out = diff(&repo, &cache, args);
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let expected = fresh(&[]);
    assert_eq!(expected.0, Some(1));
    assert_eq!(kept(&[]), expected);
    let base = kept_tree(&cache, "base");
    let service = base.join("tree/base/service.yaml");
    assert!(fs::read_to_string(&service).unwrap().contains("port: 80\n"));

    // Edited by hand and given an extra release: both are noticed and undone.
    fs::write(
        &service,
        fs::read_to_string(&service)
            .unwrap()
            .replace("port: 80", "port: 99"),
    )
    .unwrap();
    let extra = base.join("tree/customers/hooli");
    fs::create_dir_all(&extra).unwrap();
    fs::copy(
        repo.join("customers/acme/release.yaml"),
        extra.join("release.yaml"),
    )
    .unwrap();
    assert_eq!(kept(&[]), expected);
    assert!(!extra.exists());
    assert!(fs::read_to_string(&service).unwrap().contains("port: 80\n"));

    // Another base: only what differs is rewritten, and the result is a fresh export's.
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["stash", "-q"]);
    edit(
        &repo,
        "customers/acme/release.yaml",
        "newTag: \"1.0.0\"",
        "newTag: \"1.1.0\"",
    );
    commit_all(&repo, "acme 1.1.0");
    git(&repo, &["stash", "pop", "-q"]);
    for base in [first.trim(), "HEAD", first.trim()] {
        let args = ["--base", base];
        assert_eq!(kept(&args), fresh(&args), "--base {base}");
    }

    // Another process holds it: this one exports to a scratch folder instead of waiting.
    let lock = fs::File::create(base.join("lock")).unwrap();
    lock.try_lock().unwrap();
    fs::write(&service, "kind: Broken\n").unwrap();
    let expected = fresh(&[]);
    assert_eq!(kept(&[]), expected);
    assert_eq!(fs::read_to_string(&service).unwrap(), "kind: Broken\n");
    drop(lock);
    assert_eq!(kept(&[]), expected);

    // `kiln cache prune --older-than` removes a kept checkout not used for that long.
    let prune = |age: &str| {
        let out = kiln(&["cache", "prune", "--older-than", age], &cache);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(!prune("1d").contains("checkout"));
    assert!(base.is_dir());
    let status = Command::new("touch")
        .args(["-d", "2000-01-01"])
        .arg(base.join("lock"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        prune("1d").contains(", and 1 kept checkout of `kiln diff`"),
        "{}",
        prune("1d")
    );
    assert!(!base.exists());
    assert_eq!(kept(&[]), expected);
}
