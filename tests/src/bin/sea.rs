//! The library's CLI exactly as a downstream project's xtask ships it; tests drive it as a
//! process (concurrent fetches, exit codes, messages).

use clap::Parser;

/// sea-build's commands.
#[derive(Parser)]
struct Sea {
    #[command(subcommand)]
    command: sea_build::cli::Command,
}

fn main() -> std::process::ExitCode {
    sea_build::cli::exit(sea_build::cli::run(Sea::parse().command))
}
