//! `kiln diff`'s comparison on generated fleets after a base change (one Deployment of the
//! shared base changes in every release): matching and diffing every release, then the
//! markdown parts for a PR comment. Rendering is measured by the `fleet` bench; the whole
//! command, cold and cached, by `scripts/compare-diff.sh`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kiln::Engine;
use kiln::diff::Comparison;
use kiln_benches::Fleet;

fn render(engine: &Engine, fleet: &Fleet) -> Vec<(String, String)> {
    engine
        .render_all(&fleet.load())
        .into_iter()
        .map(|r| {
            let r = r.expect("render");
            (r.name().to_string(), r.yaml().to_string())
        })
        .collect()
}

fn diff(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff");
    group.sample_size(10);
    let sizes: &[usize] = if std::env::var_os("KILN_BENCH_SMALL").is_some() {
        &[10]
    } else {
        &[100, 1000]
    };
    for &n in sizes {
        let fleet = Fleet::generate(n, 0);
        let engine = Engine::builder().no_cache(true).build().expect("engine");
        let base = render(&engine, &fleet);
        fleet.edit(
            "base/api/deployment.yaml",
            "maxSurge: \"25%\"",
            "maxSurge: \"50%\"",
        );
        let head = render(&engine, &fleet);
        let mut cmp = Comparison::new();
        for ((name, b), (_, h)) in base.into_iter().zip(head) {
            cmp.base(name.clone(), Ok(b));
            cmp.head(name, Ok(h));
        }
        let report = cmp.run();
        assert_eq!(report.releases.len(), n, "every release changes");
        let parts = report.markdown(65536);
        assert_eq!(parts.len(), 1, "a base change reads as one change");

        group.bench_with_input(BenchmarkId::new("compare", n), &n, |b, _| {
            b.iter(|| cmp.run())
        });
        group.bench_with_input(BenchmarkId::new("markdown", n), &n, |b, _| {
            b.iter(|| report.markdown(65536))
        });
    }
    group.finish();
}

criterion_group!(benches, diff);
criterion_main!(benches);
