//! Golden cases: `testdata/releases/<case>/` renders to `expected.yaml`;
//! `testdata/invalid/<case>/` fails with the message in `expected.err`.
//! `KILN_BLESS=1` rewrites the expected files.

use crate::util::*;

#[test]
fn releases_render_as_expected() {
    let engine = engine_no_cache();
    run_all(&cases("releases"), |case| {
        let release = load(case).map_err(|e| format!("load: {e}"))?;
        let out = engine
            .render(&release)
            .map_err(|e| format!("render: {e}"))?;
        check_file(&case.join("expected.yaml"), out.yaml())
    });
}

#[test]
fn invalid_inputs_fail_with_their_message() {
    let engine = engine_no_cache();
    run_all(&cases("invalid"), |case| {
        let result = load(case).and_then(|r| engine.render(&r));
        match result {
            Ok(out) => Err(format!("rendered instead of failing:\n{}", out.yaml())),
            Err(e) => check_file(&case.join("expected.err"), &format!("{e}\n")),
        }
    });
}

/// Rendering twice gives the same bytes.
#[test]
fn rendering_twice_gives_the_same_bytes() {
    let engine = engine_no_cache();
    run_all(&cases("releases"), |case| {
        let release = load(case).map_err(|e| e.to_string())?;
        let a = engine.render(&release).map_err(|e| e.to_string())?;
        let b = engine.render(&release).map_err(|e| e.to_string())?;
        (a.yaml() == b.yaml())
            .then_some(())
            .ok_or_else(|| "two renders differ".to_string())
    });
}

/// No cache, a cold cache and a warm cache give the same bytes, and the warm render is a
/// cache hit.
#[test]
fn cold_warm_and_no_cache_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cached = engine_with_cache(dir.path(), 2);
    let plain = engine_no_cache();
    run_all(&cases("releases"), |case| {
        let release = load(case).map_err(|e| e.to_string())?;
        let none = plain.render(&release).map_err(|e| e.to_string())?;
        let cold = cached.render(&release).map_err(|e| e.to_string())?;
        let warm = cached.render(&release).map_err(|e| e.to_string())?;
        if cold.cache_hit() || !warm.cache_hit() {
            return Err(format!(
                "cold hit: {}, warm hit: {}",
                cold.cache_hit(),
                warm.cache_hit()
            ));
        }
        if none.yaml() != cold.yaml() || cold.yaml() != warm.yaml() {
            return Err("no-cache, cold and warm renders differ".into());
        }
        if cold.key() != warm.key() {
            return Err("cold and warm keys differ".into());
        }
        Ok(())
    });
}

/// `-j1` and `-jN` give the same output for every release, in order.
#[test]
fn one_thread_and_many_threads_agree() {
    let releases: Vec<_> = cases("releases").iter().map(|c| load(c).unwrap()).collect();
    let render = |jobs: usize| -> Vec<String> {
        let engine = kiln::Engine::builder()
            .no_cache(true)
            .jobs(jobs)
            .build()
            .unwrap();
        engine
            .render_all(&releases)
            .into_iter()
            .map(|r| {
                r.map(|r| r.yaml().to_string())
                    .unwrap_or_else(|e| e.to_string())
            })
            .collect()
    };
    assert_eq!(render(1), render(4));
}
