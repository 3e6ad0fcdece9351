//! The `kiln` binary: exit codes, output files, the summary line, and several processes
//! sharing one cache.

use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::{kiln, render_command, stderr, write};

/// `n` releases sharing a base, under `root/releases/`; `root` is a git work tree, so it
/// is the project root.
fn fleet(root: &Path, n: usize) -> PathBuf {
    fs::create_dir_all(root.join(".git")).unwrap();
    write(
        root.join("base/deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: example.com/api:1.0\n",
    );
    write(
        root.join("base/config.yaml.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  customer: {{ release.name }}\n",
    );
    for i in 0..n {
        write(
            root.join(format!("releases/cust-{i:03}/release.yaml")),
            format!(
                "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: cust-{i:03}\nspec:\n  namespace: cust-{i:03}\n  resources: [../../base]\n  images:\n  - {{name: example.com/api, newTag: \"1.{i}.0\"}}\n"
            ),
        );
    }
    root.join("releases")
}

#[test]
fn one_release_goes_to_stdout_with_a_summary_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 1);
    let cache = dir.path().join("cache");
    let out = kiln(
        &["render", releases.join("cust-000").to_str().unwrap()],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(yaml.contains("namespace: cust-000"), "{yaml}");
    assert!(yaml.contains("image: example.com/api:1.0.0"), "{yaml}");
    assert!(
        stderr(&out).starts_with("kiln: 1 rendered (0 from cache), 0 failed in "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_fleet_renders_to_files_written_only_when_changed() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 5);
    let cache = dir.path().join("cache");
    let out_dir = dir.path().join("out");
    let args = [
        "render",
        releases.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ];
    let first = kiln(&args, &cache);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stderr(&first).contains("5 rendered (0 from cache, 5 written), 0 failed"));
    let mtime = fs::metadata(out_dir.join("cust-003.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    let second = kiln(&args, &cache);
    assert!(
        stderr(&second).contains("5 rendered (5 from cache, 0 written), 0 failed"),
        "{}",
        stderr(&second)
    );
    let again = fs::metadata(out_dir.join("cust-003.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(mtime, again, "unchanged output is not rewritten");
}

#[test]
fn a_failing_release_does_not_stop_the_others_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 3);
    write(
        releases.join("cust-001/release.yaml"),
        "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: cust-001\nspec:\n  resources: [missing.yaml]\n",
    );
    let out_dir = dir.path().join("out");
    let out = kiln(
        &[
            "render",
            "--no-cache",
            releases.to_str().unwrap(),
            "-o",
            out_dir.to_str().unwrap(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: release `cust-001`: `releases/cust-001/release.yaml`: `missing.yaml` does not exist"),
        "{err}"
    );
    assert!(
        err.contains("2 rendered (0 from cache, 2 written), 1 failed"),
        "{err}"
    );
    assert!(out_dir.join("cust-000.yaml").exists() && out_dir.join("cust-002.yaml").exists());
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 2);
    let cache = dir.path().join("cache");
    let out = kiln(&["render", releases.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("use `-o DIR`"), "{}", stderr(&out));
    assert_eq!(kiln(&["render"], &cache).status.code(), Some(2));
    assert_eq!(kiln(&["frobnicate"], &cache).status.code(), Some(2));
    assert_eq!(
        kiln(&["render", "--jobs", "0", "x"], &cache).status.code(),
        Some(2)
    );
}

#[test]
fn a_missing_release_is_a_render_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiln(&["render", "/nonexistent/release"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no release found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cache_commands_report() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 2);
    let cache = dir.path().join("cache");
    let out_dir = dir.path().join("out");
    kiln(
        &[
            "render",
            releases.to_str().unwrap(),
            "-o",
            out_dir.to_str().unwrap(),
        ],
        &cache,
    );
    let dir_out = kiln(&["cache", "dir"], &cache);
    assert_eq!(
        String::from_utf8_lossy(&dir_out.stdout).trim(),
        cache.to_str().unwrap()
    );
    let stats = kiln(&["cache", "stats"], &cache);
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(
        text.contains("renders-v1") && text.contains("2 entries"),
        "{text}"
    );
    assert!(text.contains("last run: 0 hits, 2 misses"), "{text}");
    let verify = kiln(&["cache", "verify"], &cache);
    // Two renders, two indexes, two release files read into their schema.
    assert!(String::from_utf8_lossy(&verify.stdout).contains("6 entries checked, 0 bad removed"));
    let prune = kiln(&["cache", "prune"], &cache);
    assert_eq!(prune.status.code(), Some(2));
    let prune = kiln(&["cache", "prune", "--max-size", "1"], &cache);
    assert!(String::from_utf8_lossy(&prune.stdout).starts_with("removed 6 entries"));
}

#[test]
fn plugin_digest_prints_the_pin_and_refuses_non_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let art = kiln_test_artifacts::ADD_OWNER;
    let out = kiln(&["plugin", "digest", art.path], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), art.sha256);
    let not_wasm = dir.path().join("x.wasm");
    fs::write(&not_wasm, "hello").unwrap();
    let out = kiln(
        &["plugin", "digest", not_wasm.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("x.wasm"), "{}", stderr(&out));
}

/// A module with a funcref table of `entries` entries (as Go modules have, one entry per
/// function called indirectly) that exits at once.
fn module_with_table(entries: usize) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (table {entries} funcref) (func (export "_start")))"#
    ))
    .unwrap()
}

#[test]
fn a_table_over_the_limit_is_refused_up_front_by_digest_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    fs::create_dir_all(root.join(".git")).unwrap();
    let wasm = module_with_table(250_000);
    write(root.join("big-table.wasm"), &wasm);
    let pin = kiln::Digest::of(&wasm);
    let reason = "table 0 declares 250000 entries; kiln allows at most 200000";

    let file = root.join("big-table.wasm");
    let out = kiln(&["plugin", "digest", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        format!(
            "error: `{}`: module sha256:{}: {reason}\n",
            file.display(),
            pin.short()
        )
    );

    write(
        root.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    write(
        root.join("release.yaml"),
        format!(
            "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: big\nspec:\n  resources: [cm.yaml]\n  plugins:\n  - name: set-namespace\n    wasm: big-table.wasm\n    sha256: {pin}\n"
        ),
    );
    let out = kiln(
        &["render", root.to_str().unwrap()],
        &dir.path().join("cache"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!("plugin `set-namespace` (sha256:{}): {reason}", pin.short());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // 30,000 entries (a kpt function needs 27,736) pass both.
    let fits = module_with_table(30_000);
    write(root.join("fits.wasm"), &fits);
    let file = root.join("fits.wasm");
    let out = kiln(&["plugin", "digest", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        kiln::Digest::of(&fits).to_hex()
    );
}

/// Several processes render the same fleet into one cache at once; all succeed with
/// identical output.
#[test]
fn concurrent_processes_share_one_cache() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 20);
    let cache = dir.path().join("cache");
    let children: Vec<_> = (0..4)
        .map(|i| {
            let out_dir = dir.path().join(format!("out-{i}"));
            render_command(&releases, &out_dir, &cache)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let reference = dir.path().join("ref");
    let out = kiln(
        &[
            "render",
            "--no-cache",
            releases.to_str().unwrap(),
            "-o",
            reference.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0));
    for i in 0..4 {
        for n in 0..20 {
            let name = format!("cust-{n:03}.yaml");
            assert_eq!(
                fs::read(dir.path().join(format!("out-{i}")).join(&name)).unwrap(),
                fs::read(reference.join(&name)).unwrap(),
                "process {i}, {name}"
            );
        }
    }
    let verify = kiln(&["cache", "verify"], &cache);
    assert!(String::from_utf8_lossy(&verify.stdout).contains("0 bad removed"));
}

/// The files of a folder by name, with their bytes.
fn outputs(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Default::default();
    };
    rd.map(|e| {
        let e = e.unwrap();
        (
            e.file_name().to_string_lossy().into_owned(),
            fs::read(e.path()).unwrap(),
        )
    })
    .collect()
}

#[test]
fn shards_are_disjoint_and_together_are_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 40);
    // One release file that cannot be loaded: exactly one part reports it.
    write(releases.join("broken/release.yaml"), "kind: [\n");
    let whole = dir.path().join("whole");
    let out = kiln(
        &[
            "render",
            releases.to_str().unwrap(),
            "-o",
            whole.to_str().unwrap(),
        ],
        &dir.path().join("cache-whole"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let whole = outputs(&whole);
    assert_eq!(whole.len(), 40);

    let mut union = std::collections::BTreeMap::new();
    let mut reported = 0;
    for i in 1..=4 {
        let part = dir.path().join(format!("part-{i}"));
        let shard = format!("{i}/4");
        // Each part on its own "machine": its own cache.
        let out = kiln(
            &[
                "render",
                releases.to_str().unwrap(),
                "--shard",
                &shard,
                "-o",
                part.to_str().unwrap(),
            ],
            &dir.path().join(format!("cache-{i}")),
        );
        let err = stderr(&out);
        let rendered = outputs(&part);
        assert!(
            err.contains(&format!(
                "kiln: {} rendered (shard {shard}) (0 from cache",
                rendered.len()
            )),
            "{err}"
        );
        if err.contains("broken/release.yaml") {
            reported += 1;
            assert_eq!(out.status.code(), Some(1), "{err}");
        } else {
            assert_eq!(out.status.code(), Some(0), "{err}");
        }
        for (name, bytes) in rendered {
            assert!(
                union.insert(name.clone(), bytes).is_none(),
                "{name} in two parts"
            );
        }
    }
    assert_eq!(reported, 1, "the broken release is reported by one part");
    assert_eq!(union, whole);

    for bad in ["0/4", "5/4", "x", "1/0"] {
        let out = kiln(
            &["render", releases.to_str().unwrap(), "--shard", bad],
            &dir.path().join("cache-bad"),
        );
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains(&format!(
                "invalid value '{bad}' for '--shard <I/N>': `{bad}`: expected I/N with 1 <= I <= N, e.g. 2/4"
            )),
            "{}",
            stderr(&out)
        );
    }
}
