//! The workspace's tasks: sea-build's own commands (`fetch`, ...) plus the developer tasks
//! `test` (install what the tests need, then run them and tidy), `tidy` (formatting, clippy,
//! docs) and `bench`.

mod bench;
mod prerequisites;
mod tidy;

use std::process::ExitCode;

use anyhow::{Result, bail};
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
    /// Install the test prerequisites when missing (apt-get, as root), then run every test and
    /// tidy; fails at the end if either failed.
    Test {
        /// Arguments passed on to `cargo test` (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Check formatting (`cargo fmt --check`), clippy and rustdoc, with warnings as errors.
    Tidy,
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
        Task::Tidy => {
            let sh = Shell::new()?;
            sh.change_dir(sea_build::cli::workspace_root(None)?);
            tidy::run(&sh)
        }
        Task::Bench { runs, scale } => bench::run(runs, scale),
    }
}

fn test(args: &[String]) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(sea_build::cli::workspace_root(None)?);
    prerequisites::ensure(&sh)?;
    // Both run, whatever the other gives: a tidy failure must not hide the test results.
    let tidy = tidy::run(&sh);
    let tests = cmd!(sh, "cargo test --workspace --locked --no-fail-fast {args...}").run();
    let mut failed = Vec::new();
    if let Err(error) = tidy {
        eprintln!("error: {error:#}");
        failed.push("tidy");
    }
    if let Err(error) = tests {
        eprintln!("error: {error:#}");
        failed.push("the tests");
    }
    if !failed.is_empty() {
        bail!("{} failed", failed.join(" and "));
    }
    Ok(())
}
