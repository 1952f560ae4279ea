//! The workspace's tasks: sea-build's own commands (`fetch`, ...) plus the developer tasks
//! `test` (install what the tests need, then run them).

mod bench;
mod prerequisites;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use xshell::{Shell, cmd};

/// cargo xtask: sea-build's commands and the workspace's developer tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", version)]
struct Xtask {
    #[command(subcommand)]
    command: Task,
}

#[derive(clap::Subcommand)]
enum Task {
    #[command(flatten)]
    Sea(sea_build::cli::Command),
    /// Install the test prerequisites when missing (apt-get, as root), then run every test.
    Test {
        /// Arguments passed on to `cargo test` (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Measure injection, the whole build, postject and start-up; print a report
    /// (also written to target/bench/report.md).
    Bench {
        /// Runs per measured step (the report shows medians).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Size of the generated Mach-O for the relativise benchmark: 1.0 is ~750 MiB and
        /// ~5 million symbols.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
}

fn main() -> ExitCode {
    sea_build::cli::exit(run(Xtask::parse().command))
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::Sea(command) => sea_build::cli::run(command),
        Task::Test { args } => test(&args),
        Task::Bench { runs, scale } => bench::run(runs, scale),
    }
}

fn test(args: &[String]) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(sea_build::cli::workspace_root(None)?);
    prerequisites::ensure(&sh)?;
    cmd!(sh, "cargo test --workspace --locked --no-fail-fast {args...}").run()?;
    Ok(())
}
