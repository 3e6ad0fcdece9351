//! `kiln render RELEASE...`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use kiln::{Engine, Progress, Release};

use crate::args::{Global, RenderArgs};
use crate::{Failure, write_stdout};

/// Builds the engine from the global flags.
pub(crate) fn engine(global: &Global, jobs: Option<u16>) -> Result<Engine, Failure> {
    let mut b = Engine::builder().no_cache(global.no_cache);
    if let Some(dir) = &global.cache_dir {
        b = b.cache_dir(dir);
    }
    if let Some(j) = jobs {
        b = b.jobs(usize::from(j));
    }
    b.build().map_err(|e| {
        eprintln!("error: {e}");
        Failure::Render
    })
}

pub(crate) fn run(global: &Global, args: RenderArgs) -> Result<(), Failure> {
    let start = Instant::now();
    let mut failed = 0usize;
    let mut releases = Vec::new();
    for found in kiln::discover(&args.releases) {
        // A release file that cannot be loaded has no name: its shard is picked by its
        // path, so that one part of the fleet reports it.
        let path = found
            .as_ref()
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        match found.and_then(|p| Release::load_with_root(&p, args.root.as_ref())) {
            Ok(r) => releases.push(r),
            Err(e) => {
                let mine = match (&args.shard, &path) {
                    (Some(shard), Some(p)) => shard.contains(p),
                    _ => true,
                };
                if mine {
                    eprintln!("error: {e}");
                    failed += 1;
                }
            }
        }
    }
    if args.output.is_none() && releases.len() + failed > 1 {
        return Err(Failure::Usage(format!(
            "{} releases given: use `-o DIR` to write each to DIR/<name>.yaml",
            releases.len() + failed
        )));
    }
    if args.output.is_some() {
        let mut seen: HashMap<&str, PathBuf> = HashMap::new();
        for r in &releases {
            if let Some(other) = seen.insert(r.name(), r.path().to_path_buf()) {
                return Err(Failure::Usage(format!(
                    "release name `{}` is used by `{}` and `{}`: outputs would overwrite each other",
                    r.name(),
                    other.display(),
                    r.path().display()
                )));
            }
        }
    }
    // Names are checked across the whole fleet above; each part renders its own releases.
    if let Some(shard) = &args.shard {
        releases.retain(|r| shard.contains(r.name()));
    }
    let engine = engine(global, args.jobs)?;
    let bar = progress_bar(releases.len(), args.quiet);
    let results = engine.render_all_with(&releases, &|p| match p {
        Progress::Finished { .. } => bar.inc(1),
    });
    bar.finish_and_clear();

    let (mut ok, mut hits, mut written) = (0usize, 0usize, 0usize);
    for (release, result) in releases.iter().zip(results) {
        let rendered = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
                continue;
            }
        };
        hits += usize::from(rendered.cache_hit());
        for w in rendered.warnings() {
            eprintln!("warning: release `{}`: {w}", release.name());
        }
        match &args.output {
            Some(dir) => {
                let path = dir.join(format!("{}.yaml", release.name()));
                let write = std::fs::create_dir_all(dir)
                    .and_then(|()| kiln::write_if_changed(&path, rendered.yaml().as_bytes()));
                match write {
                    Ok(changed) => {
                        ok += 1;
                        written += usize::from(changed);
                    }
                    Err(e) => {
                        eprintln!(
                            "error: release `{}`: `{}`: {e}",
                            release.name(),
                            path.display()
                        );
                        failed += 1;
                    }
                }
            }
            None => {
                write_stdout(rendered.yaml())?;
                ok += 1;
            }
        }
    }
    if let Some(cache) = engine.cache() {
        for w in cache.take_warnings() {
            eprintln!("warning: {w}");
        }
        cache.record_run();
    }
    let part = args
        .shard
        .map(|s| format!(" (shard {s})"))
        .unwrap_or_default();
    let mut summary = format!("kiln: {ok} rendered{part} ({hits} from cache");
    if args.output.is_some() {
        summary.push_str(&format!(", {written} written"));
    }
    summary.push_str(&format!(
        "), {failed} failed in {:.2}s",
        start.elapsed().as_secs_f64()
    ));
    eprintln!("{summary}");
    if failed > 0 {
        Err(Failure::Render)
    } else {
        Ok(())
    }
}

fn progress_bar(len: usize, quiet: bool) -> ProgressBar {
    if quiet || len < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} releases {elapsed}") {
        bar.set_style(style);
    }
    bar
}
