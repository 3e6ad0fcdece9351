//! `kiln diff [--base REV] [--head REV] [RELEASE...]` and `kiln diff DIR_A DIR_B`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use kiln::diff::{Comparison, DiffReport};
use kiln::{Engine, RELEASE_FILE, Release};

use crate::args::{DiffArgs, DiffFormat, Global};
use crate::{Failure, git, write_stdout};

pub(crate) fn run(global: &Global, args: DiffArgs) -> Result<(), Failure> {
    let start = Instant::now();
    if args.parts_dir.is_some() && args.output != DiffFormat::Markdown {
        return Err(Failure::Usage(
            "--parts-dir writes markdown parts: add `--output markdown`".into(),
        ));
    }
    let (report, summary) = if let Some((a, b)) = folders(&args)? {
        (compare_folders(&a, &b), String::new())
    } else {
        compare_revisions(global, &args)?
    };
    write_report(&report, &args)?;
    if !args.quiet {
        eprintln!(
            "kiln diff: {} changed, {} added, {} removed, {} failed, {} unchanged{summary} in {:.2}s",
            report.count(kiln::diff::ReleaseStatus::Changed),
            report.count(kiln::diff::ReleaseStatus::Added),
            report.count(kiln::diff::ReleaseStatus::Removed),
            report.failed(),
            report.unchanged,
            start.elapsed().as_secs_f64()
        );
    }
    if report.failed() > 0 {
        Err(Failure::Exit(2))
    } else if report.has_differences() {
        Err(Failure::Exit(1))
    } else {
        Ok(())
    }
}

/// `DIR_A DIR_B`: two folders that hold no release (folders of rendered output).
fn folders(args: &DiffArgs) -> Result<Option<(PathBuf, PathBuf)>, Failure> {
    let [a, b] = args.releases.as_slice() else {
        return Ok(None);
    };
    let is_output = |p: &Path| {
        p.is_dir()
            && kiln::discover(&[p.to_path_buf()])
                .iter()
                .all(|r| r.is_err())
    };
    if !(is_output(a) && is_output(b)) {
        return Ok(None);
    }
    if args.base.is_some() || args.head.is_some() {
        return Err(Failure::Usage(format!(
            "`{}` and `{}` are folders of rendered output: --base and --head compare revisions of releases",
            a.display(),
            b.display()
        )));
    }
    Ok(Some((a.clone(), b.clone())))
}

/// Compares two folders of rendered output: `NAME.yaml` in each is release NAME.
fn compare_folders(a: &Path, b: &Path) -> DiffReport {
    let mut c = Comparison::new();
    for (dir, is_base) in [(a, true), (b, false)] {
        for (name, output) in read_outputs(dir) {
            if is_base {
                c.base(name, output);
            } else {
                c.head(name, output);
            }
        }
    }
    c.run()
}

fn read_outputs(dir: &Path) -> Vec<(String, kiln::diff::Output)> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            out.push((
                dir.display().to_string(),
                Err(format!("`{}`: {e}", dir.display())),
            ));
            return out;
        }
    };
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let (Some(stem), Some("yaml" | "yml")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read(&path)
            .map_err(|e| format!("`{}`: {e}", path.display()))
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| format!("`{}`: not UTF-8", path.display()))
            });
        out.push((stem.to_string(), text));
    }
    out
}

/// One side of a comparison: a folder holding the repository's files at a revision.
struct Side {
    /// `base` or `head`.
    label: &'static str,
    /// What the side is, for the summary line: a commit or "work tree".
    shown: String,
    /// The project root on this side.
    root: PathBuf,
}

/// Writes the files of `commit` into a new scratch folder; returns it (removed when
/// dropped) and the tree's root in it. A memory-backed folder (`$XDG_RUNTIME_DIR`,
/// `/dev/shm`) is tried first unless `TMPDIR` is set: writing and removing thousands of
/// small files there is several times faster than on disk. A tree that does not fit
/// there (a small `/dev/shm` in a container) goes to the temporary folder.
fn export(top: &Path, commit: &str) -> Result<(tempfile::TempDir, PathBuf), Failure> {
    let mut places = Vec::new();
    if std::env::var_os("TMPDIR").is_none() {
        places.extend(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from));
        places.push(PathBuf::from("/dev/shm"));
    }
    places.push(std::env::temp_dir());
    let mut last = String::from("no temporary folder");
    for place in places.iter().filter(|p| p.is_dir()) {
        let dir = match tempfile::Builder::new()
            .prefix("kiln-diff-")
            .tempdir_in(place)
        {
            Ok(d) => d,
            Err(e) => {
                last = format!(
                    "cannot make a temporary folder in `{}`: {e}",
                    place.display()
                );
                continue;
            }
        };
        let Ok(root) = std::fs::canonicalize(dir.path()) else {
            continue;
        };
        let tree = root.join("tree");
        match git::export(top, commit, &tree, &root.join("index")) {
            Ok(()) => return Ok((dir, tree)),
            Err(e) => last = e,
        }
    }
    Err(Failure::Usage(last))
}

/// Where the cache folder keeps checkouts of the revisions compared last, one per
/// repository and side.
const KEPT_TREES: &str = "trees-v1";

/// The kept checkout of `commit` for one side of the repository at `top`, locked for this
/// process, or `None` when another process holds it or it cannot be brought up to date (the
/// caller exports to a scratch folder instead). Comparing against the same base again, as
/// CI and a reviewer do on each push, then writes only the files that changed since, and
/// the tree's paths and stamps stay the same from run to run.
fn kept(dir: &Path, top: &Path, commit: &str, role: &str) -> Option<(std::fs::File, PathBuf)> {
    use sha2::{Digest as _, Sha256};
    let id = hex::encode(&Sha256::digest(top.as_os_str().as_encoded_bytes())[..8]);
    let dir = dir.join(format!("{id}-{role}"));
    std::fs::create_dir_all(&dir).ok()?;
    let lock = std::fs::File::create(dir.join("lock")).ok()?;
    lock.try_lock().ok()?;
    let (tree, index) = (dir.join("tree"), dir.join("index"));
    if git::update_kept(top, commit, &tree, &index).is_err() {
        // Damaged or changed by hand: start over from an empty folder.
        let _ = std::fs::remove_dir_all(&tree);
        let _ = std::fs::remove_file(&index);
        let _ = std::fs::remove_file(index.with_extension("commit"));
        git::update_kept(top, commit, &tree, &index).ok()?;
    }
    let tree = std::fs::canonicalize(&tree).ok()?;
    Some((lock, tree))
}

/// Removes the kept checkouts (see [`kept`]) last used longer than `age` ago and not in
/// use now; returns how many.
pub(crate) fn prune_kept(cache_dir: &Path, age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(cache_dir.join(KEPT_TREES)) else {
        return 0;
    };
    let mut removed = 0;
    for dir in entries.filter_map(Result::ok).map(|e| e.path()) {
        let lock_path = dir.join("lock");
        // Each use rewrites the lock file: its time is the last use.
        let unused_for = std::fs::metadata(&lock_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if unused_for.is_none_or(|d| d < age) {
            continue;
        }
        let Ok(lock) = std::fs::OpenOptions::new().write(true).open(&lock_path) else {
            continue;
        };
        if lock.try_lock().is_ok() && std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Renders the releases at two revisions and compares them.
fn compare_revisions(global: &Global, args: &DiffArgs) -> Result<(DiffReport, String), Failure> {
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::Usage(format!("cannot read the current folder: {e}")))?;
    let top = git::toplevel(&cwd).map_err(Failure::Usage)?;
    let base_commit = match &args.base {
        Some(rev) => git::resolve(&top, rev, "--base").map_err(Failure::Usage)?,
        None => git::default_base(&top).map_err(Failure::Usage)?.0,
    };
    let head_commit = match &args.head {
        Some(rev) => Some(git::resolve(&top, rev, "--head").map_err(Failure::Usage)?),
        None => None,
    };
    let engine = engine(global, args.jobs)?;
    let kept_in = engine.cache().map(|c| c.dir().join(KEPT_TREES));
    // The trees live as long as these: scratch folders are removed when dropped, kept
    // trees are unlocked.
    let mut scratch = Vec::new();
    let mut locks = Vec::new();
    let mut export = |commit: &str, role: &str| -> Result<PathBuf, Failure> {
        if let Some(dir) = &kept_in
            && let Some((lock, tree)) = kept(dir, &top, commit, role)
        {
            locks.push(lock);
            return Ok(tree);
        }
        let (dir, root) = export(&top, commit)?;
        scratch.push(dir);
        Ok(root)
    };
    let base = Side {
        label: "base",
        shown: git::short(&base_commit).to_string(),
        root: export(&base_commit, "base")?,
    };
    let head = match &head_commit {
        Some(c) => Side {
            label: "head",
            shown: git::short(c).to_string(),
            root: export(c, "head")?,
        },
        None => Side {
            label: "head",
            shown: "work tree".into(),
            root: top.clone(),
        },
    };

    let cwd_rel = cwd
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let mut wanted = Vec::new();
    for arg in &args.releases {
        wanted.push(relative_in(&top, &cwd, arg)?);
    }
    let base_found = find_releases(&base.root, &cwd_rel, &wanted);
    let head_found = find_releases(&head.root, &cwd_rel, &wanted);
    for (arg, rel) in args.releases.iter().zip(&wanted) {
        let on = |found: &BTreeSet<PathBuf>| found.iter().any(|f| f.starts_with(rel));
        if !on(&base_found) && !on(&head_found) {
            return Err(Failure::Usage(format!(
                "`{}`: no release there at {} (base) or in the {}",
                arg.display(),
                base.shown,
                head.shown
            )));
        }
    }
    if base_found.is_empty() && head_found.is_empty() {
        return Err(Failure::Usage(format!(
            "no {RELEASE_FILE} under `{}` at {} (base) or in the {}",
            cwd.display(),
            base.shown,
            head.shown
        )));
    }

    // The head side first: a base release file that is the same as the head's is then read
    // from the cache into its schema, not parsed again.
    let head_loaded = load_side(&engine, &head, &head_found)?;
    let base_loaded = load_side(&engine, &base, &base_found)?;
    // Every loaded release in one list (rendered together), each side by index into it.
    let mut all: Vec<Release> = Vec::new();
    let sides = [base_loaded, head_loaded].map(|side| {
        side.into_iter()
            .map(|(rel, l)| {
                let at = l.map(|r| {
                    all.push(r);
                    all.len() - 1
                });
                (rel, at)
            })
            .collect::<BTreeMap<_, _>>()
    });
    let mut results = engine.render_all(&all).into_iter();
    let mut hits = [0usize; 2];
    let mut rendered = [0usize; 2];
    // A release that fails to load on one side is named after the other side's release.
    let name_of = |rel: &Path| -> String {
        sides
            .iter()
            .rev()
            .find_map(|s| {
                s.get(rel)
                    .and_then(|l| l.as_ref().ok())
                    .map(|&r| all[r].name().to_string())
            })
            .unwrap_or_else(|| rel.display().to_string())
    };
    // Each side's outputs by release name, with the release they came from.
    let mut outputs: [BTreeMap<String, (Option<&Release>, kiln::diff::Output)>; 2] =
        Default::default();
    for (i, loaded) in sides.iter().enumerate() {
        for (rel, l) in loaded {
            let (name, release, output) = match l {
                Ok(at) => {
                    let release = &all[*at];
                    let output = match results.next() {
                        Some(Ok(r)) => {
                            hits[i] += usize::from(r.cache_hit());
                            rendered[i] += 1;
                            Ok(r.yaml().to_string())
                        }
                        Some(Err(e)) => Err(e.to_string()),
                        None => Err("not rendered".to_string()),
                    };
                    (release.name().to_string(), Some(release), output)
                }
                Err(e) => (name_of(rel), None, Err(e.clone())),
            };
            outputs[i].insert(name, (release, output));
        }
    }
    // Values marked sensitive are read only for the releases whose diff shows something:
    // different outputs or an error.
    let shown: BTreeSet<&String> = outputs[0]
        .keys()
        .chain(outputs[1].keys())
        .filter(|name| {
            let out = |i: usize| outputs[i].get(*name).map(|(_, o)| o);
            match (out(0), out(1)) {
                (Some(Ok(a)), Some(Ok(b))) => a != b,
                _ => true,
            }
        })
        .collect();
    let sensitive: Vec<(&String, Vec<String>)> = {
        use rayon::prelude::*;
        let wanted: Vec<(&String, &Release)> = outputs
            .iter()
            .flat_map(|side| side.iter())
            .filter(|(name, _)| shown.contains(name))
            .filter_map(|(name, (r, _))| r.map(|r| (name, r)))
            .collect();
        wanted
            .par_iter()
            // A values file that cannot be read fails the render, with its message.
            .map(|(name, r)| (*name, r.sensitive_values().unwrap_or_default()))
            .collect()
    };
    let mut c = Comparison::new();
    for (name, values) in sensitive {
        c.sensitive(name.clone(), values);
    }
    let [base_out, head_out] = outputs;
    for (name, (_, output)) in base_out {
        c.base(name, output);
    }
    for (name, (_, output)) in head_out {
        c.head(name, output);
    }
    if let Some(cache) = engine.cache() {
        for w in cache.take_warnings() {
            eprintln!("warning: {w}");
        }
        cache.record_run();
    }
    let report = c.run();
    drop(scratch);
    drop(locks);
    let summary = format!(
        "; base {} ({} rendered, {} from cache), head {} ({} rendered, {} from cache)",
        base.shown, rendered[0], hits[0], head.shown, rendered[1], hits[1]
    );
    Ok((report, summary))
}

/// A release of one side, loaded, or why it could not be.
type Loaded = Result<Release, String>;

/// The releases of one side by their path relative to the project root, loaded in
/// parallel through the engine; a release that cannot be loaded keeps its error. Two
/// releases of a side with one name are refused.
fn load_side(
    engine: &Engine,
    side: &Side,
    found: &BTreeSet<PathBuf>,
) -> Result<BTreeMap<PathBuf, Loaded>, Failure> {
    use rayon::prelude::*;
    let loaded: Vec<(PathBuf, Loaded)> = found
        .par_iter()
        .map(|rel| {
            let loaded = engine.load_release(side.root.join(rel), Some(&side.root));
            (rel.clone(), loaded.map_err(|e| e.to_string()))
        })
        .collect();
    let mut out = BTreeMap::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (rel, loaded) in loaded {
        if let Ok(r) = &loaded
            && let Some(other) = names.insert(r.name().to_string(), rel.clone())
        {
            return Err(Failure::Usage(format!(
                "release name `{}` is used by `{}` and `{}` ({}): releases are compared by name",
                r.name(),
                other.display(),
                rel.display(),
                side.label
            )));
        }
        out.insert(rel, loaded);
    }
    Ok(out)
}

fn engine(global: &Global, jobs: Option<u16>) -> Result<Engine, Failure> {
    crate::render::engine(global, jobs).map_err(|_| Failure::Exit(2))
}

/// A path given on the command line, relative to the project root. It need not exist in
/// the work tree (a release the change removes).
fn relative_in(top: &Path, cwd: &Path, arg: &Path) -> Result<PathBuf, Failure> {
    let abs = std::fs::canonicalize(arg).unwrap_or_else(|_| normalize(&cwd.join(arg)));
    abs.strip_prefix(top).map(Path::to_path_buf).map_err(|_| {
        Failure::Usage(format!(
            "`{}` is outside the git work tree `{}`",
            arg.display(),
            top.display()
        ))
    })
}

/// `..` and `.` removed without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The release files of one side, relative to its root: for each wanted path a release
/// file, a folder holding one or a folder of such folders (as `kiln render`); with none
/// wanted, every release file under the current folder, recursively.
fn find_releases(root: &Path, cwd_rel: &Path, wanted: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    if wanted.is_empty() {
        walk(root, &root.join(cwd_rel), &mut found);
        return found;
    }
    for rel in wanted {
        let p = root.join(rel);
        if p.is_file() {
            found.insert(rel.clone());
        } else if p.join(RELEASE_FILE).is_file() {
            found.insert(rel.join(RELEASE_FILE));
        } else if p.is_dir() {
            for r in kiln::discover(&[p]).into_iter().flatten() {
                if let Ok(r) = r.strip_prefix(root) {
                    found.insert(release_file(r));
                }
            }
        }
    }
    found
}

fn release_file(p: &Path) -> PathBuf {
    if p.file_name().is_some_and(|n| n == RELEASE_FILE) {
        p.to_path_buf()
    } else {
        p.join(RELEASE_FILE)
    }
}

/// Every `release.yaml` under `dir`, skipping hidden folders and symlinked folders.
fn walk(root: &Path, dir: &Path, found: &mut BTreeSet<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name();
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            if !name.to_string_lossy().starts_with('.') {
                walk(root, &path, found);
            }
        } else if name == RELEASE_FILE
            && let Ok(rel) = path.strip_prefix(root)
        {
            found.insert(rel.to_path_buf());
        }
    }
}

fn write_report(report: &DiffReport, args: &DiffArgs) -> Result<(), Failure> {
    // A failed write is an error (2), not "differences" (1).
    let out = |text: &str| write_stdout(text).map_err(|_| Failure::Exit(2));
    match args.output {
        DiffFormat::Text => out(&report.text()),
        DiffFormat::Json => out(&report.json()),
        DiffFormat::Markdown => {
            let max = usize::try_from(args.max_bytes).unwrap_or(usize::MAX);
            let parts = report.markdown(max);
            match &args.parts_dir {
                None => out(&parts.concat()),
                Some(dir) => write_parts(dir, &parts),
            }
        }
    }
}

/// Writes `DIR/part-N.md`, removing the parts of an earlier run.
fn write_parts(dir: &Path, parts: &[String]) -> Result<(), Failure> {
    let fail = |p: &Path, e: std::io::Error| {
        eprintln!("error: `{}`: {e}", p.display());
        Failure::Exit(2)
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    for e in std::fs::read_dir(dir).map_err(|e| fail(dir, e))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("part-") && name.ends_with(".md") {
            std::fs::remove_file(e.path()).map_err(|err| fail(&e.path(), err))?;
        }
    }
    for (i, p) in parts.iter().enumerate() {
        let path = dir.join(format!("part-{}.md", i + 1));
        std::fs::write(&path, p).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}
