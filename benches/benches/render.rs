//! One release: cold (empty cache, fresh engine) and warm (cache hit), and the example
//! release without cache.

use criterion::{Criterion, criterion_group, criterion_main};
use kiln::{Engine, Release};
use kiln_benches::{Fleet, repo};

fn render(c: &mut Criterion) {
    let example = Release::load(repo().join("examples/releases/acme-prod")).expect("example");
    let plain = Engine::builder().no_cache(true).build().expect("engine");
    c.bench_function("render/example-no-cache", |b| {
        b.iter(|| plain.render(&example).expect("render"))
    });

    let fleet = Fleet::generate(1, 3);
    let release = &fleet.load()[0];
    c.bench_function("render/one-release-3-plugins-cold", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("cache dir"),
            |cache| {
                let engine = Engine::builder()
                    .cache_dir(cache.path())
                    .build()
                    .expect("engine");
                engine.render(release).expect("render");
                cache
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let cache = tempfile::tempdir().expect("cache dir");
    let warm = Engine::builder()
        .cache_dir(cache.path())
        .build()
        .expect("engine");
    warm.render(release).expect("render");
    c.bench_function("render/one-release-3-plugins-warm", |b| {
        b.iter(|| {
            let r = warm.render(release).expect("render");
            assert!(r.cache_hit());
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = render
}
criterion_main!(benches);
