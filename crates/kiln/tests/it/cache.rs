//! The render cache: invalidation by exactly the inputs a release read, corruption
//! handling, and degraded operation when the cache cannot be written.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use kiln::{Engine, Release};
use kiln_test_artifacts::{ADD_OWNER, ADD_OWNER_V2};

/// A small fleet sharing one base:
/// - `a`: base + its own values file;
/// - `b`: base + `extra/` folder;
/// - `c`: base + a plugin.
struct Fleet {
    dir: tempfile::TempDir,
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Replaces `from` with `to` in the file at `path`.
fn replace_in(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    write(path, &text.replace(from, to));
}

/// Points `link` at `target` (relative to the link's folder), replacing what was there.
fn symlink(target: &str, link: &Path) {
    let _ = fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn release_text(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: {name}\nspec:\n  namespace: {name}\n  resources: [../../base]\n{extra}"
    )
}

impl Fleet {
    fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("README.md"), "not read by any release\n");
        write(
            &root.join("base/deploy.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: api\n        image: example.com/api:1.0\n",
        );
        write(
            &root.join("base/config.yaml.j2"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  tier: \"{{ values.tier | default('basic') }}\"\n",
        );
        write(
            &root.join("releases/a/release.yaml"),
            &release_text("a", "  valuesFiles: [values.yaml]\n"),
        );
        write(&root.join("releases/a/values.yaml"), "tier: gold\n");
        write(
            &root.join("releases/b/release.yaml"),
            &release_text("b", "  values: {tier: silver}\n")
                .replace("[../../base]", "[../../base, extra]"),
        );
        write(
            &root.join("releases/b/extra/pdb.yaml"),
            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: api\nspec:\n  minAvailable: 1\n",
        );
        // Targets for symlinks that the steps of a test create (read by no release until
        // then): two files and two folders with the same names inside.
        for (file, name, n) in [
            ("one.yaml", "linked", 1),
            ("two.yaml", "linked", 2),
            ("d1/cm.yaml", "in-folder", 1),
            ("d2/cm.yaml", "in-folder", 2),
        ] {
            write(
                &root.join("shared").join(file),
                &format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  n: \"{n}\"\n"
                ),
            );
        }
        fs::copy(ADD_OWNER.path, root.join("plugins.wasm")).unwrap();
        fs::copy(ADD_OWNER_V2.path, root.join("plugins-v2.wasm")).unwrap();
        write(
            &root.join("releases/c/release.yaml"),
            &Fleet::plugin_release("plugins.wasm", ADD_OWNER.sha256, "payments"),
        );
        Fleet { dir }
    }

    fn plugin_release(wasm: &str, sha: &str, team: &str) -> String {
        Fleet::one_plugin_release("add-owner", wasm, sha, &format!("{{team: {team}}}"))
    }

    /// Release `c` with add-owner v2 given `team` through `configMap:`.
    fn config_map_release(team: &str) -> String {
        release_text(
            "c",
            &format!(
                "  plugins:\n  - name: add-owner\n    wasm: ../../plugins-v2.wasm\n    sha256: {}\n    configMap: {{team: {team}}}\n",
                ADD_OWNER_V2.sha256
            ),
        )
    }

    /// Release `c` with one plugin: `wasm` relative to the fleet root, `config` in flow
    /// style.
    fn one_plugin_release(name: &str, wasm: &str, sha: &str, config: &str) -> String {
        release_text(
            "c",
            &format!(
                "  plugins:\n  - name: {name}\n    wasm: ../../{wasm}\n    sha256: {sha}\n    config: {config}\n"
            ),
        )
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn releases(&self) -> Vec<Release> {
        ["a", "b", "c"]
            .iter()
            .map(|n| {
                Release::load_with_root(self.root().join("releases").join(n), Some(self.root()))
                    .unwrap()
            })
            .collect()
    }
}

/// Renders the fleet; returns the names that missed the cache, after checking every output
/// equals a render without cache.
fn misses(engine: &Engine, fleet: &Fleet) -> BTreeSet<String> {
    // Loaded through the engine (release files it read before are not parsed again),
    // checked against releases loaded and rendered without any cache.
    let releases: Vec<Release> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            engine
                .load_release(fleet.root().join("releases").join(n), Some(fleet.root()))
                .unwrap()
        })
        .collect();
    let plain = Engine::builder().no_cache(true).build().unwrap();
    let mut missed = BTreeSet::new();
    for ((r, result), p) in releases
        .iter()
        .zip(engine.render_all(&releases))
        .zip(fleet.releases())
    {
        let out = result.unwrap_or_else(|e| panic!("{e}"));
        let expected = plain.render(&p).unwrap();
        assert_eq!(
            out.yaml(),
            expected.yaml(),
            "cached render of {} is stale",
            r.name()
        );
        if !out.cache_hit() {
            missed.insert(r.name().to_string());
        }
    }
    missed
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_input_change_invalidates_exactly_the_releases_that_read_it() {
    let fleet = Fleet::new();
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let root = fleet.root().to_path_buf();
    assert_eq!(misses(&engine, &fleet), set(&["a", "b", "c"]), "cold");
    assert_eq!(misses(&engine, &fleet), set(&[]), "warm");

    type Change = Box<dyn Fn(&Path)>;
    let steps: Vec<(&str, Change, &[&str])> = vec![
        (
            "a file no release reads",
            Box::new(|r| write(&r.join("README.md"), "changed\n")),
            &[],
        ),
        (
            "a release field",
            Box::new(|r| {
                replace_in(
                    &r.join("releases/a/release.yaml"),
                    "namespace: a",
                    "namespace: a2",
                )
            }),
            &["a"],
        ),
        (
            "a values file",
            Box::new(|r| write(&r.join("releases/a/values.yaml"), "tier: platinum\n")),
            &["a"],
        ),
        (
            "a file under a shared base",
            Box::new(|r| replace_in(&r.join("base/deploy.yaml"), "replicas: 1", "replicas: 2")),
            &["a", "b", "c"],
        ),
        (
            "a template",
            Box::new(|r| {
                let p = r.join("base/config.yaml.j2");
                let t = fs::read_to_string(&p).unwrap() + "  extra: \"1\"\n";
                write(&p, &t);
            }),
            &["a", "b", "c"],
        ),
        (
            "a resource file one release reads",
            Box::new(|r| {
                replace_in(
                    &r.join("releases/b/extra/pdb.yaml"),
                    "minAvailable: 1",
                    "minAvailable: 2",
                )
            }),
            &["b"],
        ),
        (
            "a new file in a folder one release reads",
            Box::new(|r| {
                write(
                    &r.join("releases/b/extra/cm.yaml"),
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: more\n",
                )
            }),
            &["b"],
        ),
        (
            "a new symlink in a folder one release reads",
            Box::new(|r| {
                symlink(
                    "../../../shared/one.yaml",
                    &r.join("releases/b/extra/link.yaml"),
                );
                symlink("../../../shared/d1", &r.join("releases/b/extra/linked"));
            }),
            &["b"],
        ),
        (
            "where a file symlink points",
            Box::new(|r| {
                symlink(
                    "../../../shared/two.yaml",
                    &r.join("releases/b/extra/link.yaml"),
                )
            }),
            &["b"],
        ),
        (
            "the file behind a symlink",
            Box::new(|r| replace_in(&r.join("shared/two.yaml"), "n: \"2\"", "n: \"3\"")),
            &["b"],
        ),
        (
            "where a folder symlink points (same names inside)",
            Box::new(|r| symlink("../../../shared/d2", &r.join("releases/b/extra/linked"))),
            &["b"],
        ),
        (
            "a plugin's config",
            Box::new(|r| {
                write(
                    &r.join("releases/c/release.yaml"),
                    &Fleet::plugin_release("plugins.wasm", ADD_OWNER.sha256, "search"),
                )
            }),
            &["c"],
        ),
        (
            "a plugin's wasm (and its pin)",
            Box::new(|r| {
                write(
                    &r.join("releases/c/release.yaml"),
                    &Fleet::plugin_release("plugins-v2.wasm", ADD_OWNER_V2.sha256, "search"),
                )
            }),
            &["c"],
        ),
        (
            "a plugin's config to a configMap with the same data",
            Box::new(|r| {
                write(
                    &r.join("releases/c/release.yaml"),
                    &Fleet::config_map_release("search"),
                )
            }),
            &["c"],
        ),
        (
            "a value in a plugin's configMap",
            Box::new(|r| {
                write(
                    &r.join("releases/c/release.yaml"),
                    &Fleet::config_map_release("payments"),
                )
            }),
            &["c"],
        ),
    ];
    for (what, change, expected) in steps {
        change(&root);
        assert_eq!(
            misses(&engine, &fleet),
            set(expected),
            "after changing {what}"
        );
        assert_eq!(misses(&engine, &fleet), set(&[]), "warm again after {what}");
    }
}

#[test]
fn a_plugin_wasm_that_changes_under_its_pin_is_refused_not_served_from_cache() {
    let fleet = Fleet::new();
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let c = &fleet.releases()[2];
    engine.render(c).unwrap();
    fs::copy(ADD_OWNER_V2.path, fleet.root().join("plugins.wasm")).unwrap();
    let err = engine.render(c).unwrap_err().to_string();
    assert!(err.contains("refusing to run it"), "{err}");
    assert!(
        err.contains(ADD_OWNER.sha256) && err.contains(ADD_OWNER_V2.sha256),
        "{err}"
    );
}

fn entries(cache: &Path, bucket: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(shards) = fs::read_dir(cache.join(bucket)) else {
        return out;
    };
    for shard in shards {
        for e in fs::read_dir(shard.unwrap().path()).unwrap() {
            out.push(e.unwrap().path());
        }
    }
    out.sort();
    out
}

#[test]
fn truncated_and_bit_flipped_entries_are_misses_that_get_rewritten() {
    let fleet = Fleet::new();
    let cache = tempfile::tempdir().unwrap();
    let releases = fleet.releases();
    let a = &releases[0];
    let fresh = || Engine::builder().cache_dir(cache.path()).build().unwrap();
    let expected = fresh().render(a).unwrap();
    let renders = entries(cache.path(), "renders-v1");
    assert_eq!(renders.len(), 1);

    // Truncated render entry.
    let bytes = fs::read(&renders[0]).unwrap();
    fs::write(&renders[0], &bytes[..bytes.len() / 2]).unwrap();
    let out = fresh().render(a).unwrap();
    assert!(!out.cache_hit());
    assert_eq!(out.yaml(), expected.yaml());
    assert_eq!(fs::read(&renders[0]).unwrap(), bytes, "entry rewritten");

    // One bit flipped in the payload.
    let mut flipped = bytes.clone();
    let at = flipped.len() - 3;
    flipped[at] ^= 0x01;
    fs::write(&renders[0], &flipped).unwrap();
    let out = fresh().render(a).unwrap();
    assert!(!out.cache_hit());
    assert_eq!(out.yaml(), expected.yaml());
    assert!(
        fresh().render(a).unwrap().cache_hit(),
        "rewritten entry is used"
    );

    // A corrupt index entry.
    let index = entries(cache.path(), "index-v1");
    fs::write(&index[0], b"garbage").unwrap();
    let out = fresh().render(a).unwrap();
    assert!(!out.cache_hit());
    assert_eq!(out.yaml(), expected.yaml());

    // `verify` finds and removes a bad entry.
    fs::write(&renders[0], b"kiln-cache-entry-v1\nnot a digest").unwrap();
    let report = kiln::Cache::open(cache.path()).verify().unwrap();
    assert_eq!(report.removed, vec![renders[0].clone()]);
    assert_eq!(report.checked, 2);
}

#[test]
fn an_unwritable_cache_degrades_to_rendering_with_a_warning() {
    let fleet = Fleet::new();
    let not_a_dir = fleet.root().join("README.md");
    let engine = Engine::builder().cache_dir(&not_a_dir).build().unwrap();
    let out = engine.render(&fleet.releases()[0]).unwrap();
    let plain = Engine::builder().no_cache(true).build().unwrap();
    assert_eq!(
        out.yaml(),
        plain.render(&fleet.releases()[0]).unwrap().yaml()
    );
    let cache = engine.cache().unwrap();
    assert!(cache.counters().write_errors > 0);
    let warnings = cache.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("rendering without cache")),
        "{warnings:?}"
    );
}

#[test]
fn prune_by_size_removes_entries() {
    let fleet = Fleet::new();
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    for r in engine.render_all(&fleet.releases()) {
        r.unwrap();
    }
    let c = kiln::Cache::open(cache.path());
    let before = c.stats().unwrap();
    let (_, renders, _) = before.buckets[0];
    assert_eq!(renders, 3);
    let report = c.prune(None, Some(0)).unwrap();
    assert!(report.removed >= 6, "{report:?}");
    assert_eq!(c.stats().unwrap().buckets[0].1, 0);
}

/// A writer killed mid-write leaves a temporary file: never read as an entry, and removed
/// by `verify` and `prune` once it is an hour old (a live writer's is left alone).
#[test]
fn abandoned_temporary_files_are_cleaned_up() {
    let cache = tempfile::tempdir().unwrap();
    let shard = cache.path().join("renders-v1/ab");
    fs::create_dir_all(&shard).unwrap();
    let stale = shard.join(".tmpSTALE");
    let fresh = shard.join(".tmpFRESH");
    fs::write(&stale, b"half an entry").unwrap();
    fs::write(&fresh, b"being written").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let c = kiln::Cache::open(cache.path());
    assert_eq!(
        c.stats().unwrap().buckets[0].1,
        0,
        "temporaries are not entries"
    );
    let report = c.verify().unwrap();
    assert_eq!(report.removed, vec![stale.clone()]);
    assert!(fresh.exists());
    fs::write(&stale, b"again").unwrap();
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let pruned = c.prune(None, None).unwrap();
    assert_eq!((pruned.removed, pruned.freed), (1, 5));
    assert!(!stale.exists() && fresh.exists());
}

/// A hit gives back the warnings the render gave: a warm run says what a cold one said.
#[test]
fn warnings_survive_a_cache_hit() {
    let fleet = Fleet::new();
    let root = fleet.root();
    fs::copy(kiln_test_artifacts::FIXTURE.path, root.join("fixture.wasm")).unwrap();
    write(
        &root.join("releases/c/release.yaml"),
        &Fleet::one_plugin_release(
            "warn",
            "fixture.wasm",
            kiln_test_artifacts::FIXTURE.sha256,
            "{mode: warning-result}",
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let release = &fleet.releases()[2];
    let cold = engine.render(release).unwrap();
    assert!(!cold.cache_hit());
    assert_eq!(
        cold.warnings(),
        ["plugin `warn`: warning: fixture: warning result on purpose"]
    );
    // A new engine: nothing in memory, all from the cache folder.
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let warm = engine.render(release).unwrap();
    assert!(warm.cache_hit());
    assert_eq!(warm.warnings(), cold.warnings());
    assert_eq!(warm.yaml(), cold.yaml());
}

/// `kiln build` of a kustomization is cached like a release: a hit when nothing it read
/// changed, a miss (and the new output) when a file it read did.
#[test]
fn kustomization_builds_are_cached_by_what_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (file, text) in [
        ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
        (
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n",
        ),
        (
            "overlay/kustomization.yaml",
            "resources: [../base]\nnamePrefix: prod-\n",
        ),
        ("unrelated.txt", "x\n"),
    ] {
        write(&root.join(file), text);
    }
    let cache = tempfile::tempdir().unwrap();
    let plain = Engine::builder().no_cache(true).build().unwrap();
    let build = |expect_hit: bool, what: &str| {
        let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
        let out = engine
            .build_kustomization_with_root(root.join("overlay"), Some(root))
            .unwrap();
        let expected = plain
            .build_kustomization_with_root(root.join("overlay"), Some(root))
            .unwrap();
        assert_eq!(out.yaml(), expected.yaml(), "{what}: stale");
        assert_eq!(out.cache_hit(), expect_hit, "{what}");
        out
    };
    let cold = build(false, "cold");
    assert!(cold.yaml().contains("name: prod-cm"), "{}", cold.yaml());
    build(true, "warm");
    write(&root.join("unrelated.txt"), "y\n");
    build(true, "after changing a file it does not read");
    replace_in(&root.join("base/cm.yaml"), "a: \"1\"", "a: \"2\"");
    build(false, "after changing a base file");
    build(true, "warm again");
    replace_in(
        &root.join("overlay/kustomization.yaml"),
        "prod-",
        "staging-",
    );
    assert!(
        build(false, "after changing the kustomization")
            .yaml()
            .contains("staging-cm")
    );
}

/// Overrides are part of the render key; empty overrides keep a plain render's key; a
/// fresh copy of the project in another folder hits the entries of the first.
#[test]
fn overrides_are_keyed_and_a_moved_copy_hits() {
    use kiln::{Overrides, Param};
    let fleet = Fleet::new();
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let b = &fleet.releases()[1];
    let plain = engine.render(b).unwrap();
    let empty = engine.render_with(b, &Overrides::new()).unwrap();
    assert!(empty.cache_hit());
    assert_eq!(plain.key(), empty.key());

    let gold = Overrides::new().param("tier", Param::String("gold".into()));
    let first = engine.render_with(b, &gold).unwrap();
    assert!(!first.cache_hit());
    assert_ne!(first.key(), plain.key());
    assert!(first.yaml().contains("tier: gold"), "{}", first.yaml());
    assert!(engine.render_with(b, &gold).unwrap().cache_hit());
    let kube = gold.clone().kube("1.31.0", vec!["v1".into()]);
    let with_kube = engine.render_with(b, &kube).unwrap();
    assert!(!with_kube.cache_hit());
    assert_ne!(with_kube.key(), first.key());

    // The same project in another folder: same keys, served from the cache.
    let copy = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", fleet.root().display()))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    let moved = Release::load_with_root(copy.path().join("releases/b"), Some(copy.path())).unwrap();
    let hit = engine.render_with(&moved, &kube).unwrap();
    assert!(hit.cache_hit());
    assert_eq!(hit.key(), with_kube.key());
    // And a changed file in the copy is a miss with the new content.
    replace_in(
        &copy.path().join("releases/b/extra/pdb.yaml"),
        "minAvailable: 1",
        "minAvailable: 2",
    );
    let changed = engine.render_with(&moved, &kube).unwrap();
    assert!(!changed.cache_hit());
    assert!(changed.yaml().contains("minAvailable: 2"));

    let unknown = Overrides::new().param("teir", Param::String("x".into()));
    assert_eq!(
        engine.render_with(b, &unknown).unwrap_err().to_string(),
        "release `b`: unknown parameter `teir`: the release's values have no `teir` (known: tier)"
    );
}

#[test]
fn release_files_are_read_into_their_schema_once_by_content() {
    let fleet = Fleet::new();
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let load =
        |n: &str| engine.load_release(fleet.root().join("releases").join(n), Some(fleet.root()));
    let plain = |n: &str| {
        Release::load_with_root(fleet.root().join("releases").join(n), Some(fleet.root()))
    };
    for n in ["a", "b", "c"] {
        // Stored on the first load, read on the second: the same release either way.
        for _ in 0..2 {
            assert_eq!(
                format!("{:?}", load(n).unwrap()),
                format!("{:?}", plain(n).unwrap())
            );
        }
    }
    let stored = entries(cache.path(), "releases-v1");
    assert_eq!(stored.len(), 3, "{stored:?}");

    // A damaged entry is a miss that gets rewritten, never a wrong release.
    for e in &stored {
        let mut bytes = fs::read(e).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        fs::write(e, bytes).unwrap();
    }
    for n in ["a", "b", "c"] {
        assert_eq!(
            format!("{:?}", load(n).unwrap()),
            format!("{:?}", plain(n).unwrap())
        );
    }
    assert_eq!(entries(cache.path(), "releases-v1"), stored);

    // Checks past the schema run on every load, stored or not; a failing file stores nothing.
    let a = fleet.root().join("releases/a/release.yaml");
    replace_in(&a, "name: a", "name: A_bad");
    for _ in 0..2 {
        let (got, want) = (load("a").unwrap_err(), plain("a").unwrap_err());
        assert_eq!(got.to_string(), want.to_string());
        assert!(
            got.to_string().contains("is not a valid release name"),
            "{got}"
        );
    }
    replace_in(&a, "name: A_bad", "name: a\n  nope: 1");
    let err = load("a").unwrap_err().to_string();
    assert_eq!(err, plain("a").unwrap_err().to_string());
    assert!(err.contains("unknown field `nope`"), "{err}");
    assert_eq!(entries(cache.path(), "releases-v1").len(), 3);
}
