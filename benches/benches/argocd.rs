//! The render behind one Argo CD `generate` request, for an unchanged 42-resource release
//! with 3 plugins, each request in a fresh copy of the repository (as argocd-cmp-server
//! unpacks one per request; the copy is made outside the timing):
//! - `argocd/warm-engine`: what a warm `kiln serve` does per request (the engine is
//!   resident; file digests of the new copy are computed, the render comes from the cache);
//! - `argocd/new-engine`: the in-process fallback (a new engine per request, disk cache warm);
//! - `argocd/changed-release`: a warm engine, the release edited in each copy (a real render).
//!
//! Process start, the socket round trip and output are measured end to end by
//! `scripts/compare-argocd.sh`.

use std::path::Path;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kiln::{Engine, Overrides, Release};
use kiln_benches::Fleet;
use tempfile::TempDir;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// A fresh copy of the fleet (without `.git`, like Argo CD's) and its first release.
/// The folder is removed when the returned guard drops (outside the timing).
fn fresh(fleet: &Fleet, scratch: &Path, n: &mut usize, edit: bool) -> (TempDir, Release) {
    *n += 1;
    let dir = tempfile::tempdir_in(scratch).expect("copy dir");
    let root = dir.path().to_path_buf();
    for part in ["base", "plugins", "releases"] {
        copy_tree(&fleet.dir.path().join(part), &root.join(part));
    }
    let app = root.join("releases/cust-0001");
    if edit {
        let f = app.join("release.yaml");
        let text = std::fs::read_to_string(&f).expect("release");
        std::fs::write(&f, format!("{text}\n# copy {n}\n")).expect("write");
    }
    let release = Release::load_with_root(&app, Some(&root)).expect("load");
    (dir, release)
}

fn overrides() -> Overrides {
    Overrides::new().kube(
        "1.31.2",
        vec!["v1".into(), "apps/v1".into(), "networking.k8s.io/v1".into()],
    )
}

fn argocd(c: &mut Criterion) {
    let fleet = Fleet::generate(1, 3);
    let cache = tempfile::tempdir().expect("cache");
    let scratch = tempfile::tempdir().expect("scratch");
    let mut n = 0;
    let engine = Engine::builder()
        .cache_dir(cache.path())
        .build()
        .expect("engine");
    let (_copy, release) = fresh(&fleet, scratch.path(), &mut n, false);
    engine.render_with(&release, &overrides()).expect("warm up");

    c.bench_function("argocd/warm-engine", |b| {
        b.iter_batched(
            || fresh(&fleet, scratch.path(), &mut n, false),
            |(root, release)| {
                let r = engine.render_with(&release, &overrides()).expect("render");
                assert!(r.cache_hit());
                root
            },
            BatchSize::PerIteration,
        )
    });
    let mut m = 0;
    c.bench_function("argocd/new-engine", |b| {
        b.iter_batched(
            || fresh(&fleet, scratch.path(), &mut m, false),
            |(root, release)| {
                let e = Engine::builder()
                    .cache_dir(cache.path())
                    .jobs(1)
                    .build()
                    .expect("engine");
                assert!(
                    e.render_with(&release, &overrides())
                        .expect("render")
                        .cache_hit()
                );
                root
            },
            BatchSize::PerIteration,
        )
    });
    let mut k = 0;
    c.bench_function("argocd/changed-release", |b| {
        b.iter_batched(
            || fresh(&fleet, scratch.path(), &mut k, true),
            |(root, release)| {
                let r = engine.render_with(&release, &overrides()).expect("render");
                assert!(!r.cache_hit());
                root
            },
            BatchSize::PerIteration,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = argocd
}
criterion_main!(benches);
