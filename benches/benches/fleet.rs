//! Fleets of 10, 100 and 1000 releases with 3 plugins each: cold (empty cache, fresh
//! engine), warm (nothing changed) and after one release changed.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kiln::Engine;
use kiln_benches::Fleet;

fn fleet(c: &mut Criterion) {
    let mut group = c.benchmark_group("fleet");
    group.sample_size(10);
    let sizes: &[usize] = if std::env::var_os("KILN_BENCH_SMALL").is_some() {
        &[10]
    } else {
        &[10, 100, 1000]
    };
    for &n in sizes {
        let fleet = Fleet::generate(n, 3);
        let releases = fleet.load();
        group.bench_with_input(BenchmarkId::new("cold", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cache = tempfile::tempdir().expect("cache dir");
                    let start = Instant::now();
                    let engine = Engine::builder()
                        .cache_dir(cache.path())
                        .build()
                        .expect("engine");
                    for r in engine.render_all(&releases) {
                        r.expect("render");
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        let cache = tempfile::tempdir().expect("cache dir");
        let engine = Engine::builder()
            .cache_dir(cache.path())
            .build()
            .expect("engine");
        for r in engine.render_all(&releases) {
            r.expect("render");
        }
        group.bench_with_input(BenchmarkId::new("warm", n), &n, |b, _| {
            b.iter(|| {
                for r in engine.render_all(&releases) {
                    assert!(r.expect("render").cache_hit());
                }
            })
        });
        let mut round = 0;
        group.bench_with_input(BenchmarkId::new("one-changed", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    fleet.touch_one(round);
                    let start = Instant::now();
                    let releases = fleet.load();
                    let misses = engine
                        .render_all(&releases)
                        .into_iter()
                        .filter(|r| !r.as_ref().expect("render").cache_hit())
                        .count();
                    total += start.elapsed();
                    assert_eq!(misses, 1);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fleet);
criterion_main!(benches);
