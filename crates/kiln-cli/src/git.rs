//! The few `git` commands `kiln diff` runs: none of them writes to the repository, its
//! index, its branches or its stash.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `git ARGS` in `dir`; its trimmed stdout, or a one-line error.
fn git<I, S>(dir: &Path, args: I, index: Option<&Path>) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    git_raw(dir, args, index).map(|out| out.trim().to_string())
}

/// [`git`] with stdout as printed.
fn git_raw<I, S>(dir: &Path, args: I, index: Option<&Path>) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(&args);
    // Never prompt, never open a pager, never pick up the user's index for a temporary one.
    cmd.env("GIT_TERMINAL_PROMPT", "0").env("GIT_PAGER", "cat");
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let shown = || {
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run `git {}`: {e}", shown()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        return Err(format!("`git {}`: {}", shown(), first.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The top of the git work tree holding `dir`.
pub(crate) fn toplevel(dir: &Path) -> Result<PathBuf, String> {
    let top = git(dir, ["rev-parse", "--show-toplevel"], None).map_err(|_| {
        format!(
            "`{}` is not in a git work tree: `kiln diff` compares two revisions of one (or give two folders of rendered output: `kiln diff DIR_A DIR_B`)",
            dir.display()
        )
    })?;
    std::fs::canonicalize(&top).map_err(|e| format!("`{top}`: {e}"))
}

/// The commit a revision names, or `None` when it names none.
pub(crate) fn commit(top: &Path, rev: &str) -> Option<String> {
    let spec = format!("{rev}^{{commit}}");
    git(
        top,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            spec.as_str(),
        ],
        None,
    )
    .ok()
    .filter(|s| !s.is_empty())
}

/// A revision given by the user, as a commit.
pub(crate) fn resolve(top: &Path, rev: &str, flag: &str) -> Result<String, String> {
    commit(top, rev).ok_or_else(|| format!("{flag} `{rev}`: no such commit in `{}`", top.display()))
}

/// The default base: the merge base of `HEAD` with the default branch (`origin/HEAD`, else
/// `main`, else `master`). Returns the commit and the branch it came from.
pub(crate) fn default_base(top: &Path) -> Result<(String, String), String> {
    if commit(top, "HEAD").is_none() {
        return Err(format!(
            "`{}` has no commit yet: nothing to compare with (give --base REV)",
            top.display()
        ));
    }
    for branch in ["origin/HEAD", "main", "master"] {
        if commit(top, branch).is_some() {
            let base = git(top, ["merge-base", "HEAD", branch], None)
                .map_err(|e| format!("no merge base of HEAD and `{branch}`: {e}"))?;
            return Ok((base, branch.to_string()));
        }
    }
    Err(format!(
        "no default branch to compare with in `{}` (origin/HEAD, main and master do not exist): give --base REV",
        top.display()
    ))
}

/// Writes the files of `commit` into `dest` (created), through a temporary index next to
/// it: the repository's own index, work tree, refs and stash are not touched.
pub(crate) fn export(top: &Path, commit: &str, dest: &Path, index: &Path) -> Result<(), String> {
    git(top, ["read-tree", commit], Some(index))?;
    let mut prefix = dest.as_os_str().to_owned();
    prefix.push("/");
    let mut arg = std::ffi::OsString::from("--prefix=");
    arg.push(&prefix);
    git(
        top,
        [
            OsStr::new("checkout-index"),
            OsStr::new("--all"),
            OsStr::new("--force"),
            arg.as_os_str(),
        ],
        Some(index),
    )?;
    if !dest.exists() {
        // An empty tree writes nothing.
        std::fs::create_dir_all(dest).map_err(|e| format!("`{}`: {e}", dest.display()))?;
    }
    Ok(())
}

/// A short form of a commit, for messages.
pub(crate) fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Brings the kept checkout `tree` (with its own index file `index`) to `commit`,
/// writing only the files that differ from what it holds. Afterwards the tree must hold
/// exactly the commit's files: a file changed or added there by anyone else (compared by
/// `git status`, stat first, content when the stat differs) makes the caller start over
/// from an empty folder, as [`export`] does. The repository's own index, work tree, refs
/// and sparse-checkout settings are not used.
pub(crate) fn update_kept(
    top: &Path,
    commit: &str,
    tree: &Path,
    index: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(tree).map_err(|e| format!("`{}`: {e}", tree.display()))?;
    let mut work_tree = std::ffi::OsString::from("--work-tree=");
    work_tree.push(tree);
    let with = |args: &[&str]| -> Vec<std::ffi::OsString> {
        let mut all: Vec<std::ffi::OsString> = [
            "-c",
            "core.sparseCheckout=false",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.untrackedCache=false",
        ]
        .iter()
        .map(Into::into)
        .collect();
        all.push(work_tree.clone());
        all.extend(args.iter().map(Into::into));
        all
    };
    // The commit the index was last brought to, once the tree was found to match it.
    let holds = index.with_extension("commit");
    let same = index.is_file() && std::fs::read_to_string(&holds).is_ok_and(|c| c == commit);
    if !same {
        let _ = std::fs::remove_file(&holds);
        git(
            top,
            with(&["read-tree", "--reset", "-u", commit]),
            Some(index),
        )?;
    }
    let status = git_raw(
        top,
        with(&[
            "status",
            "--porcelain=v1",
            "--untracked-files=all",
            "--ignored=matching",
            "--ignore-submodules=all",
            "--no-renames",
        ]),
        Some(index),
    )?;
    // The first column compares the index with the repository's HEAD, which is not the
    // kept commit: only the second column (the tree against its index) and files the
    // index does not know count.
    let stray = status.lines().find(|l| {
        l.starts_with("??")
            || l.starts_with("!!")
            || l.as_bytes().get(1).is_some_and(|c| *c != b' ')
    });
    if let Some(line) = stray {
        return Err(format!(
            "`{}` does not hold {} as kept: `{}`",
            tree.display(),
            short(commit),
            line.trim()
        ));
    }
    if !same {
        std::fs::write(&holds, commit).map_err(|e| format!("`{}`: {e}", holds.display()))?;
    }
    Ok(())
}
