//! The cache under process-level trouble: a `kiln` killed with SIGKILL in the middle of
//! writing renders and compiled modules, eight processes sharing one cold cache, a cache
//! that cannot be written, and a hostile plugin in a fleet run.
//!
//! Tests run as root here, where file modes do not stop writes, so "cannot be written"
//! is a cache path whose parent is a regular file: every create fails (`ENOTDIR`), as
//! on a read-only or full file system.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kiln_test_artifacts::{ADD_OWNER, FIXTURE};

mod common;
use common::{kiln, render_command, stderr, write};

/// `n` releases under `root/releases/`, each with a few resources and the add-owner
/// plugin (so a cold run writes renders, index entries and a compiled module).
fn fleet(root: &Path, n: usize) -> PathBuf {
    fs::create_dir_all(root.join(".git")).unwrap();
    write(root.join("plugins/add-owner.wasm"), ADD_OWNER.bytes());
    for i in 0..8 {
        write(
            root.join(format!("base/cm-{i}.yaml")),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  payload: \"{}\"\n",
                "x".repeat(2048)
            ),
        );
    }
    write(
        root.join("base/deploy.yaml.j2"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: {{ values.replicas }}\n  template:\n    spec:\n      containers:\n      - name: api\n        image: example.com/api:1.0\n",
    );
    for i in 0..n {
        write(
            root.join(format!("releases/cust-{i:03}/release.yaml")),
            format!(
                "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: cust-{i:03}\nspec:\n  namespace: cust-{i:03}\n  resources: [../../base]\n  values: {{replicas: {}}}\n  images:\n  - {{name: example.com/api, newTag: \"1.{i}.0\"}}\n  plugins:\n  - name: owner\n    wasm: ../../plugins/add-owner.wasm\n    sha256: {}\n    config: {{team: team-{i}}}\n",
                i % 5 + 1,
                ADD_OWNER.sha256
            ),
        );
    }
    root.join("releases")
}

/// Files in a cache bucket (temporary files included).
fn files(cache: &Path, bucket: &str) -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), n);
            } else {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&cache.join(bucket), &mut n);
    n
}

/// Renders `releases` to `out`, checks it succeeded, and returns the files by name.
fn render_to(releases: &Path, out: &Path, cache: &Path, extra: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut args = vec![
        "render",
        releases.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = kiln(&args, cache);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    read_outputs(out)
}

fn read_outputs(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(out)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Starts a cold render, kills it with SIGKILL once `ready` says so (or after a while),
/// then checks that `cache verify` passes, and that a render through the cache, into the
/// same output folder, equals a render without cache.
fn kill_then_check(n: usize, ready: impl Fn(&Path) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), n);
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let mut child = render_command(&releases, &out, &cache)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready(&cache) && started.elapsed() < Duration::from_secs(20) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no cleanup runs.
    let _ = child.kill();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the render ended before it was killed"
    );

    let verify = kiln(&["cache", "verify"], &cache);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let reference = render_to(&releases, &dir.path().join("ref"), &cache, &["--no-cache"]);
    assert_eq!(reference.len(), n);
    // Twice: the first run reads what survived the kill, the second reads what it wrote.
    for _ in 0..2 {
        let again = render_to(&releases, &out, &cache, &[]);
        assert_eq!(again.len(), n);
        for (a, b) in again.iter().zip(&reference) {
            assert!(a == b, "{} differs after a kill", a.0);
        }
    }
    let verify = kiln(&["cache", "verify"], &cache);
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains(" 0 bad removed"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn sigkill_while_writing_renders_leaves_no_entry_read_as_valid() {
    // Some renders are written and more are being written.
    kill_then_check(200, |cache| files(cache, "renders-v1") >= 20);
}

#[test]
fn sigkill_while_writing_the_compiled_module_leaves_no_entry_read_as_valid() {
    // The module is compiled and written before the first render: kill as soon as its
    // folder exists, which is while its temporary file is written or just after.
    kill_then_check(20, |cache| cache.join("modules-v1").exists());
}

#[test]
fn truncated_and_corrupt_entries_left_on_disk_are_misses() {
    // What a torn write without rename would leave, had one happened: every entry of
    // every bucket cut short, or with a byte flipped.
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 6);
    let cache = dir.path().join("cache");
    let reference = render_to(&releases, &dir.path().join("ref"), &cache, &["--no-cache"]);
    render_to(&releases, &dir.path().join("warm"), &cache, &[]);
    let mut entries = Vec::new();
    for bucket in ["renders-v1", "index-v1", "releases-v1", "modules-v1"] {
        let mut stack = vec![cache.join(bucket)];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    entries.push(e.path());
                }
            }
        }
    }
    assert!(entries.len() >= 19, "{entries:?}");
    for (i, path) in entries.iter().enumerate() {
        let mut bytes = fs::read(path).unwrap();
        if i % 2 == 0 {
            bytes.truncate(bytes.len() * 2 / 3);
        } else {
            let at = bytes.len() - 1 - i % 7;
            bytes[at] ^= 0x20;
        }
        fs::write(path, bytes).unwrap();
    }
    let out = render_to(&releases, &dir.path().join("out"), &cache, &[]);
    assert_eq!(out, reference);
    let again = render_to(&releases, &dir.path().join("again"), &cache, &[]);
    assert_eq!(again, reference);
}

/// Eight processes render the same fleet into one cold cache at once; all succeed with
/// identical output, equal to a render without cache.
#[test]
fn eight_processes_share_one_cold_cache() {
    let dir = tempfile::tempdir().unwrap();
    let n = 24;
    let releases = fleet(dir.path(), n);
    let cache = dir.path().join("cache");
    let children: Vec<_> = (0..8)
        .map(|i| {
            let out_dir = dir.path().join(format!("out-{i}"));
            render_command(&releases, &out_dir, &cache)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
    let reference = render_to(&releases, &dir.path().join("ref"), &cache, &["--no-cache"]);
    assert_eq!(reference.len(), n);
    for i in 0..8 {
        assert!(
            read_outputs(&dir.path().join(format!("out-{i}"))) == reference,
            "process {i} differs"
        );
    }
    let verify = kiln(&["cache", "verify"], &cache);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(
        // A render, an index and a release file read into its schema per release.
        text.contains(&format!("{} entries checked, 0 bad removed", 3 * n)),
        "{text}"
    );
    // One compiled module, whichever process wrote it last.
    assert_eq!(files(&cache, "modules-v1"), 1);
}

#[test]
fn an_unwritable_cache_costs_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 3);
    let reference = render_to(
        &releases,
        &dir.path().join("ref"),
        &dir.path().join("c"),
        &["--no-cache"],
    );
    let file = dir.path().join("not-a-folder");
    write(&file, "a regular file\n");
    let cache = file.join("cache");
    for _ in 0..2 {
        let out_dir = dir.path().join("out");
        let o = kiln(
            &[
                "render",
                releases.to_str().unwrap(),
                "-o",
                out_dir.to_str().unwrap(),
            ],
            &cache,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("warning"), "{err}");
        assert!(err.contains("rendering without cache"), "{err}");
        assert!(err.contains("3 rendered (0 from cache"), "{err}");
        assert_eq!(read_outputs(&out_dir), reference);
    }
    // One release to stdout, too.
    let o = kiln(
        &["render", releases.join("cust-000").to_str().unwrap()],
        &cache,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, reference[0].1);
    // The cache commands say what is wrong instead.
    let verify = kiln(&["cache", "verify"], &cache);
    assert_ne!(verify.status.code(), Some(0));
}

#[test]
fn a_hostile_plugin_fails_its_release_only() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), 3);
    write(dir.path().join("plugins/fixture.wasm"), FIXTURE.bytes());
    write(
        releases.join("cust-001/release.yaml"),
        format!(
            "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: cust-001\nspec:\n  resources: [../../base/cm-0.yaml]\n  plugins:\n  - name: spin\n    wasm: ../../plugins/fixture.wasm\n    sha256: {}\n    config: {{mode: loop}}\n    timeout: 300ms\n",
            FIXTURE.sha256
        ),
    );
    let out_dir = dir.path().join("out");
    let cache = dir.path().join("cache");
    for _ in 0..2 {
        let started = Instant::now();
        let o = kiln(
            &[
                "render",
                releases.to_str().unwrap(),
                "-o",
                out_dir.to_str().unwrap(),
            ],
            &cache,
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "error: release `cust-001`: plugin `spin` (sha256:{}): timed out after 300ms (time limit)",
                &FIXTURE.sha256[..12]
            )),
            "{err}"
        );
        assert!(err.contains("2 rendered"), "{err}");
        assert!(err.contains("1 failed"), "{err}");
        assert!(out_dir.join("cust-000.yaml").exists() && out_dir.join("cust-002.yaml").exists());
        assert!(!out_dir.join("cust-001.yaml").exists());
    }
}
