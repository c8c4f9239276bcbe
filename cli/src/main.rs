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
    /// Run the whole system locally (DynamoDB Local, Secrets Manager, Graph emulator, the four functions).
    #[cfg(feature = "dev")]
    Dev(graphwatch::dev::DevOptions),
    /// Print stored file results and the latest scan records of a table.
    #[cfg(feature = "report")]
    Report(graphwatch::report::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Scan(args) => scan::run(args),
        #[cfg(feature = "dev")]
        Command::Dev(options) => runtime().block_on(async {
            use std::io::IsTerminal;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws=warn,hyper=warn")),
                )
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .compact()
                .init();
            match graphwatch::dev::run(options).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("graphwatch dev: {e:#}");
                    ExitCode::from(2)
                }
            }
        }),
        #[cfg(feature = "report")]
        Command::Report(args) => runtime().block_on(graphwatch::report::run(args)),
    }
}

#[cfg(feature = "report")]
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}
