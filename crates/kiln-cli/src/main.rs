//! The `kiln` command: wiring over the `kiln` library.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod argocd;
mod args;
mod build;
mod cache;
mod diff;
mod git;
mod plugin;
mod render;
mod serve;

use std::io;
use std::process::ExitCode;

use clap::Parser;

/// How a command failed.
pub(crate) enum Failure {
    /// A render failed: exit 1 (the message was printed).
    Render,
    /// Bad usage: exit 2.
    Usage(String),
    /// Exit with this code (what happened was printed).
    Exit(u8),
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Render) => ExitCode::from(1),
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Exit(code)) => ExitCode::from(code),
    }
}

fn run(cli: args::Cli) -> Result<(), Failure> {
    match cli.command {
        args::Command::Render(a) => render::run(&cli.global, a),
        args::Command::Build(a) => build::run(&cli.global, a),
        args::Command::Diff(a) => diff::run(&cli.global, a),
        args::Command::Plugin(args::PluginCommand::Digest { file }) => plugin::digest(&file),
        args::Command::Cache(c) => cache::run(&cli.global, c),
        args::Command::Argocd(args::ArgocdCommand::Generate) => argocd::run_generate(&cli.global),
        args::Command::Argocd(args::ArgocdCommand::Parameters) => argocd::run_parameters(),
        args::Command::Serve(a) => serve::run(&cli.global, &a.socket),
    }
}

/// Writes to stdout; a closed pipe (`kiln render … | head`) is not an error.
pub(crate) fn write_stdout(text: &str) -> Result<(), Failure> {
    use io::Write;
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to stdout: {e}");
            Err(Failure::Render)
        }
        _ => Ok(()),
    }
}
