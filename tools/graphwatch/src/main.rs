//! The `graphwatch` command line. `main` only parses and dispatches; each subcommand lives in
//! its own module.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod scan;

/// graphwatch: find privacy risk in Microsoft 365 files, and run the project's tooling.
#[derive(Parser)]
#[command(name = "graphwatch", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan local files or directories (or stdin) for privacy risk, offline.
    Scan(scan::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Scan(args) => scan::run(args),
    }
}
