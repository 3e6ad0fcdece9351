//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Render Kubernetes release bundles with pinned, sandboxed WASM plugins and a
/// content-hash cache.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Render without reading or writing the cache.
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
    /// The cache folder [default: the platform cache folder, e.g. ~/.cache/kiln].
    #[arg(long, global = true, env = "KILN_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Render releases (a release.yaml, a folder holding one, or a folder of such folders).
    Render(RenderArgs),
    /// Build a kustomization folder, like `kustomize build DIR`.
    Build(BuildArgs),
    /// Show what a change does to every release: render two revisions and compare them
    /// resource by resource (exit 0: no differences, 1: differences, 2: an error).
    Diff(DiffArgs),
    /// Work with plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Inspect and maintain the cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// The commands of Argo CD's config management plugin (deploy/argocd/plugin.yaml).
    #[command(subcommand)]
    Argocd(ArgocdCommand),
    /// Keep an engine resident, answering `kiln argocd generate` over a Unix socket.
    Serve(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ArgocdCommand {
    /// Render the app folder (the working directory) Argo CD's cmp-server unpacked: its
    /// release.yaml or kustomization.yaml. Asks `kiln serve` at $KILN_SOCKET, else renders
    /// in-process.
    Generate,
    /// Print the parameters announced to Argo CD's UI (one per key of the release's values).
    Parameters,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The socket to listen at; its folder is created with mode 0700.
    #[arg(long, env = "KILN_SOCKET", value_name = "PATH")]
    pub(crate) socket: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// Releases: release files, folders holding a release.yaml, or folders of those.
    #[arg(required = true, value_name = "RELEASE")]
    pub(crate) releases: Vec<PathBuf>,
    /// Write each release to `DIR/<release name>.yaml` (only when its content changed).
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    /// How many releases render at once [default: all cores].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// The project root: paths in releases may not leave it [default: the git work tree
    /// holding each release, else its folder].
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// Do not show a progress bar, even on a terminal.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Render only the I-th of N disjoint, stable parts of the releases (by a hash of the
    /// release name), e.g. `--shard 2/4` in a CI matrix of four.
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<kiln::Shard>,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// Releases: release files, folders holding a release.yaml, or folders of those
    /// [default: every release.yaml under the current folder]. Or two folders of rendered
    /// output (`NAME.yaml` per release) to compare: `kiln diff DIR_A DIR_B`.
    #[arg(value_name = "RELEASE")]
    pub(crate) releases: Vec<PathBuf>,
    /// The revision before the change [default: the merge base of HEAD with origin/HEAD,
    /// else main, else master].
    #[arg(long, value_name = "REV")]
    pub(crate) base: Option<String>,
    /// The revision after the change [default: the work tree, uncommitted edits included].
    #[arg(long, value_name = "REV")]
    pub(crate) head: Option<String>,
    /// The report's format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text, value_name = "FORMAT")]
    pub(crate) output: DiffFormat,
    /// Markdown: the largest part, in bytes (a GitHub comment holds 65536).
    #[arg(long, default_value_t = 65536, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub(crate) max_bytes: u64,
    /// Markdown: write the parts as DIR/part-N.md instead of to stdout.
    #[arg(long, value_name = "DIR")]
    pub(crate) parts_dir: Option<PathBuf>,
    /// How many releases render at once [default: all cores].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// Do not print the summary line on stderr.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// The formats of `kiln diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DiffFormat {
    /// A summary, then the changes as unified diffs.
    Text,
    /// For a PR comment: collapsible sections, in parts of at most --max-bytes.
    Markdown,
    /// `{"releases": [...]}` for tools.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The kustomization folder.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// The project root [default: the git work tree holding DIR, else DIR].
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// Write the output to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Print the sha256 pin of a plugin, after checking it is a WASI command module.
    Digest {
        /// The plugin's .wasm file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Entries and bytes per bucket, and hits/misses of recent runs.
    Stats,
    /// Check every entry; remove the bad ones.
    Verify,
    /// Remove entries by age and/or to fit a size.
    Prune {
        /// Remove entries not used for this long (e.g. 7d, 12h, 30m).
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Remove the least recently used entries until the cache fits (e.g. 1Gi, 500Mi).
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
    },
    /// Print the cache folder.
    Dir,
}
