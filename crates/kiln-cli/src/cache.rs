//! `kiln cache stats / verify / prune / dir`.

use kiln::Cache;

use crate::args::{CacheCommand, Global};
use crate::{Failure, write_stdout};

pub(crate) fn run(global: &Global, cmd: CacheCommand) -> Result<(), Failure> {
    let dir = global
        .cache_dir
        .clone()
        .or_else(kiln::default_cache_dir)
        .ok_or_else(|| {
            Failure::Usage("no cache folder: set `--cache-dir` or `KILN_CACHE_DIR`".into())
        })?;
    let cache = Cache::open(&dir);
    let fail = |e: kiln::CacheError| {
        eprintln!("error: {e}");
        Failure::Render
    };
    match cmd {
        CacheCommand::Dir => write_stdout(&format!("{}\n", dir.display())),
        CacheCommand::Stats => {
            let s = cache.stats().map_err(fail)?;
            let mut out = format!("cache: {}\n", s.dir.display());
            for (bucket, n, bytes) in &s.buckets {
                out.push_str(&format!(
                    "{bucket:<12} {n:>8} entries {:>12}\n",
                    human(*bytes)
                ));
            }
            if s.runs.is_empty() {
                out.push_str("no runs recorded\n");
            } else {
                let (h, m) = s.runs.iter().fold((0, 0), |(h, m), r| (h + r.1, m + r.2));
                out.push_str(&format!(
                    "last {} runs: {h} hits, {m} misses ({:.0}% hits)\n",
                    s.runs.len(),
                    100.0 * h as f64 / (h + m).max(1) as f64
                ));
                if let Some(last) = s.runs.last() {
                    out.push_str(&format!("last run: {} hits, {} misses\n", last.1, last.2));
                }
            }
            write_stdout(&out)
        }
        CacheCommand::Verify => {
            let r = cache.verify().map_err(fail)?;
            for p in &r.removed {
                eprintln!("removed bad entry `{}`", p.display());
            }
            write_stdout(&format!(
                "{} entries checked, {} bad removed\n",
                r.checked,
                r.removed.len()
            ))
        }
        CacheCommand::Prune {
            older_than,
            max_size,
        } => {
            if older_than.is_none() && max_size.is_none() {
                return Err(Failure::Usage(
                    "`kiln cache prune` needs `--older-than AGE` and/or `--max-size SIZE`".into(),
                ));
            }
            let age = older_than
                .map(|a| kiln::parse_age(&a))
                .transpose()
                .map_err(|e| Failure::Usage(format!("--older-than: {e}")))?;
            let size = max_size
                .map(|s| kiln::parse_size(&s))
                .transpose()
                .map_err(|e| Failure::Usage(format!("--max-size: {e}")))?;
            let r = cache.prune(age, size).map_err(fail)?;
            let trees = age.map_or(0, |a| crate::diff::prune_kept(&dir, a));
            let trees = match trees {
                0 => String::new(),
                1 => ", and 1 kept checkout of `kiln diff`".to_string(),
                n => format!(", and {n} kept checkouts of `kiln diff`"),
            };
            write_stdout(&format!(
                "removed {} entries ({}){trees}, kept {}\n",
                r.removed,
                human(r.freed),
                r.kept
            ))
        }
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
