//! The workspace's tasks: sea-build's own commands (`fetch`, ...) plus the developer tasks
//! `setup` (install what the tests and cross-target code caches need), `test` (setup, then
//! the tests, tidy and every fuzz target briefly), `tidy` (formatting, clippy, docs), `bench`
//! and `fuzz`.
//!
//! Every task runs with the Wine `setup` made (a Wine 10 wrapper) as `SEA_BUILD_WINE` when
//! that variable is unset, so Windows SEAs of node 24 and newer get their code cache here.

mod bench;
mod cross;
mod files;
mod fuzz;
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
    /// Install what the tests and cross-target code caches need (Debian packages, qemu-user
    /// and cross C runtimes, a Wine 10 root when the system's Wine is older); say what was done.
    Setup,
    /// Run setup, then every test, tidy and brief fuzzing; fails at the end if any failed.
    Test {
        /// Run every matrix whole (the corpus on every program and node, under Wine and qemu
        /// too), not only CI's slice of each.
        #[arg(long)]
        full: bool,
        /// Arguments passed on to `cargo test` (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Check formatting (`cargo fmt --check`), clippy and rustdoc, with warnings as errors; the
    /// module graph; docs/layout.md's table; the README's reference of keys and flags.
    Tidy,
    /// Check that sea-build (every feature) and this xtask compile for Windows and macOS hosts
    /// (`-Zbuild-std` with Debian's rust-src of this rustc; fetched on first use).
    CrossCheck {
        /// Also build the xtask for Windows (and the Windows-host test's cargo stand-in) and
        /// print where they are.
        #[arg(long)]
        windows_host: bool,
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
        /// Measure only this group: `startup` (start-up with no cache, the plain and the
        /// trained cache, a snapshot; then the `sizes` group), `windows-identity`
        /// (injection with a version resource, an icon and an Authenticode signature, against
        /// `cp` and plain injection), `foreign` (injection into darwin-x64 and win-x64 node,
        /// against `cp`) or `corpus` (start-up of real programs built with the defaults,
        /// against `node <bin>` and a bundle; the build of the largest) or `sizes` (raw, on-disk
        /// and archive sizes of SEAs per target family, with and without `strip`, against node;
        /// `sizes=linux-x64,darwin-arm64` for some families).
        #[arg(long, value_name = "GROUP")]
        only: Option<String>,
    },
    /// Fuzz the parsers and transforms (cargo-fuzz, libFuzzer, on the stable toolchain):
    /// every target, or one, for some seconds each; print coverage and speed; fail with the
    /// crashing input and how to replay it. Installs cargo-fuzz when missing.
    Fuzz {
        /// The one target to fuzz (default: every target; `cargo fuzz list --fuzz-dir fuzz`
        /// lists them).
        target: Option<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Regenerate the committed seeds in fuzz/seeds instead (fetches real node
        /// binaries, builds small executables with clang and lld).
        #[arg(long, conflicts_with_all = ["target"])]
        seeds: bool,
    },
}

fn main() -> ExitCode {
    let task = Xtask::parse().command;
    if sea_build::Env::from_process().var(sea_build::wine::WINE_VAR).is_none()
        && let Some(wine) = prerequisites::wine_for_workspace()
    {
        // SAFETY: nothing else runs yet: no thread has been started that could read the
        // environment concurrently.
        unsafe { std::env::set_var(sea_build::wine::WINE_VAR, wine.as_str()) };
    }
    sea_build::cli::exit(run(task))
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::Sea(command) => sea_build::cli::run(command),
        Task::Setup => prerequisites::ensure(&Shell::new()?),
        Task::Test { full, args } => test(full, &args),
        Task::Tidy => {
            let sh = Shell::new()?;
            sh.change_dir(sea_build::cli::workspace_root(None)?);
            tidy::run(&sh)
        }
        Task::CrossCheck { windows_host } => {
            let sh = Shell::new()?;
            let root = sea_build::cli::workspace_root(None)?;
            sh.change_dir(&root);
            cross::check(&sh, &root, cross::HOST_TARGETS)?;
            if windows_host {
                let dir = cross::build_windows_host(&sh, &root)?;
                println!("SEA_BUILD_TEST_WINDOWS_HOST={dir}");
            }
            Ok(())
        }
        Task::Bench { runs, scale, only } => bench::run(runs, scale, only.as_deref()),
        Task::Fuzz { target, seconds, seeds } => {
            let sh = Shell::new()?;
            let root = sea_build::cli::workspace_root(None)?;
            sh.change_dir(&root);
            if seeds { fuzz::seeds(&sh, &root) } else { fuzz::run(&sh, &root, target.as_deref(), seconds) }
        }
    }
}

fn test(full: bool, args: &[String]) -> Result<()> {
    let sh = Shell::new()?;
    let root = sea_build::cli::workspace_root(None)?;
    sh.change_dir(&root);
    prerequisites::ensure(&sh)?;
    if full {
        sh.set_var("SEA_BUILD_TEST_FULL", "1");
    }
    // A Wine setup has just made is used by the tests too.
    if sea_build::Env::from_process().var(sea_build::wine::WINE_VAR).is_none()
        && let Some(wine) = prerequisites::wine_for_workspace()
    {
        sh.set_var(sea_build::wine::WINE_VAR, wine.as_str());
    }
    // All run, whatever the others give: a tidy failure must not hide the test results.
    let tidy = tidy::run(&sh);
    // The other hosts first: the Windows-host test runs the xtask they build.
    let start = std::time::Instant::now();
    // The Windows-host build compiles sea-build (every feature) and the xtask for Windows, so
    // it stands for that target's check.
    let macos: Vec<&str> = cross::HOST_TARGETS.iter().copied().filter(|target| target.contains("-apple-")).collect();
    let cross = cross::check(&sh, &root, &macos).and_then(|()| cross::build_windows_host(&sh, &root));
    if let Ok(dir) = &cross {
        sh.set_var("SEA_BUILD_TEST_WINDOWS_HOST", dir);
    }
    eprintln!("cross checks and the Windows-host build: {:.0} s", start.elapsed().as_secs_f64());
    let cross = cross.map(drop);
    let tests = cmd!(sh, "cargo test --workspace --locked --no-fail-fast {args...}").run().map_err(anyhow::Error::from);
    // The workspace turns every feature of sea-build on; a build script gets the defaults, whose
    // refusals (a target whose feature is off) are tested here.
    let default_features = cmd!(sh, "cargo test --package sea-build --lib --locked {args...}").run().map_err(anyhow::Error::from);
    // Every fuzz target briefly: its seeds and corpus replayed, a little mutation on top.
    let start = std::time::Instant::now();
    let fuzzing = fuzz::run(&sh, &root, None, fuzz::BRIEF_SECONDS);
    eprintln!("fuzz targets: {:.0} s in all (install and build included)", start.elapsed().as_secs_f64());
    let mut failed = Vec::new();
    for (what, result) in [("tidy", tidy), ("the cross checks", cross), ("the tests", tests), ("sea-build's tests with its default features", default_features), ("fuzzing", fuzzing)] {
        if let Err(error) = result {
            eprintln!("error: {error:#}");
            failed.push(what);
        }
    }
    if !failed.is_empty() {
        bail!("{} failed", failed.join(", "));
    }
    Ok(())
}
