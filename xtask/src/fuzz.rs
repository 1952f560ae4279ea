//! `cargo xtask fuzz`: coverage-guided fuzzing of the byte-format code with cargo-fuzz
//! (libFuzzer) on the stable toolchain (`RUSTC_BOOTSTRAP=1`), and the seeds it starts from.
//!
//! The targets live in `fuzz/` (its own workspace). Each run reads the committed seeds in
//! `fuzz/seeds/<target>/` and grows a working corpus in `fuzz/corpus/<target>/`; libFuzzer's
//! output goes to `fuzz/logs/<target>.log` and a crashing input to `fuzz/artifacts/<target>/`
//! (all three ignored by git).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

/// Seconds per target in `cargo xtask test`: enough to replay the seeds and the corpus and
/// to mutate a little, so a change that breaks a target fails the tests.
pub(crate) const BRIEF_SECONDS: u64 = 3;

/// Per input: a slower one is reported as a timeout (a hang is a defect, like a panic).
const TIMEOUT_SECONDS: u64 = 10;

/// Memory per run: more is reported as out-of-memory (an allocation sized by the input).
const RSS_LIMIT_MB: u64 = 2048;

/// What one target's run showed, from libFuzzer's closing lines.
#[derive(Debug, Default)]
struct Outcome {
    /// Edges covered (`cov:`).
    cov: Option<u64>,
    /// Features (`ft:`).
    ft: Option<u64>,
    /// Inputs run.
    runs: Option<u64>,
    /// Average executions per second.
    exec_per_sec: Option<u64>,
    /// Inputs in the working corpus (`corp:`).
    corpus: Option<u64>,
}

/// A target that crashed, with what to tell the user.
struct Crash {
    target: String,
    what: String,
    input: Option<String>,
    log: Utf8PathBuf,
}

/// The cargo-fuzz release installed when none is there: pinned, so a new release cannot
/// change what `cargo xtask test` does on a fresh machine.
const CARGO_FUZZ: &str = "0.13.2";

/// Installs cargo-fuzz when `cargo fuzz` is missing; returns how long the install took.
pub(crate) fn ensure_cargo_fuzz(sh: &Shell) -> Result<Option<Duration>> {
    if cmd!(sh, "cargo fuzz --version").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        return Ok(None);
    }
    eprintln!("cargo-fuzz is missing: installing it with `cargo install cargo-fuzz --version {CARGO_FUZZ} --locked` (once; about a minute)");
    let start = Instant::now();
    cmd!(sh, "cargo install cargo-fuzz --version {CARGO_FUZZ} --locked")
        .run()
        .with_context(|| format!("could not install cargo-fuzz: run `cargo install cargo-fuzz --version {CARGO_FUZZ} --locked` yourself"))?;
    Ok(Some(start.elapsed()))
}

/// The `cargo fuzz` arguments every build and run shares: no sanitizer (the targets are safe
/// Rust; libFuzzer still catches panics, aborts, timeouts and memory blow-ups) and debug
/// assertions on, so integer overflow panics.
const FUZZ_FLAGS: [&str; 2] = ["--sanitizer=none", "--debug-assertions"];

/// The fuzz targets, as `cargo fuzz list` names them.
fn targets(sh: &Shell, fuzz_dir: &Utf8Path) -> Result<Vec<String>> {
    let listing = cmd!(sh, "cargo fuzz list --fuzz-dir {fuzz_dir}").env("RUSTC_BOOTSTRAP", "1").read().context("`cargo fuzz list` failed")?;
    Ok(listing.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect())
}

/// Regenerates the committed seeds (`fuzz/seeds`) from real node binaries and fixtures built
/// with clang and lld (see `tests/src/bin/fuzz-seeds.rs`).
pub(crate) fn seeds(sh: &Shell, root: &Utf8Path) -> Result<()> {
    crate::prerequisites::ensure(sh)?;
    let out = root.join("fuzz").join("seeds");
    cmd!(sh, "cargo run --locked -p sea-build-tests --bin fuzz-seeds -- {out}").run()?;
    Ok(())
}

/// Builds every target, then fuzzes `only` (or every target) for `seconds` each, printing
/// each target's coverage and speed. Fails naming every crash, its input and how to replay it.
pub(crate) fn run(sh: &Shell, root: &Utf8Path, only: Option<&str>, seconds: u64) -> Result<()> {
    let started = Instant::now();
    if let Some(took) = ensure_cargo_fuzz(sh)? {
        eprintln!("installed cargo-fuzz in {:.0} s", took.as_secs_f64());
    }
    let fuzz_dir = root.join("fuzz");
    let all = targets(sh, &fuzz_dir)?;
    let chosen: Vec<String> = match only {
        Some(name) if all.iter().any(|target| target == name) => vec![name.to_owned()],
        Some(name) => bail!("there is no fuzz target `{name}`; the targets are: {}", all.join(", ")),
        None => all,
    };
    let build_start = Instant::now();
    let flags = FUZZ_FLAGS;
    eprintln!("building the fuzz targets (cargo fuzz build, instrumented, release; the first build takes minutes)");
    cmd!(sh, "cargo fuzz build {flags...} --fuzz-dir {fuzz_dir}").env("RUSTC_BOOTSTRAP", "1").run().context("building the fuzz targets failed")?;
    let built = build_start.elapsed();

    let logs = fuzz_dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {logs}"))?;
    let mut crashes = Vec::new();
    let mut rows = Vec::new();
    for target in &chosen {
        eprintln!("fuzzing {target} for {seconds} s");
        let corpus = fuzz_dir.join("corpus").join(target);
        let seeds = fuzz_dir.join("seeds").join(target);
        std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {corpus}"))?;
        let mut inputs = vec![corpus.to_string()];
        if seeds.is_dir() {
            inputs.push(seeds.to_string());
        }
        let libfuzzer = [format!("-max_total_time={seconds}"), format!("-timeout={TIMEOUT_SECONDS}"), format!("-rss_limit_mb={RSS_LIMIT_MB}"), "-print_final_stats=1".to_owned()];
        let output = cmd!(sh, "cargo fuzz run {flags...} --fuzz-dir {fuzz_dir} {target} {inputs...} -- {libfuzzer...}").env("RUSTC_BOOTSTRAP", "1").ignore_status().output()?;
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let log = logs.join(format!("{target}.log"));
        std::fs::write(&log, &text).with_context(|| format!("cannot write {log}"))?;
        let outcome = parse_outcome(&text);
        rows.push((target.clone(), outcome));
        if !output.status.success() {
            crashes.push(Crash { target: target.clone(), what: crash_reason(&text), input: crash_input(&text), log });
        }
    }

    println!("\n{:<14} {:>8} {:>8} {:>10} {:>10} {:>7}", "target", "cov", "ft", "exec/s", "runs", "corpus");
    for (target, outcome) in &rows {
        let show = |value: Option<u64>| value.map_or("?".to_owned(), |v| v.to_string());
        println!("{target:<14} {:>8} {:>8} {:>10} {:>10} {:>7}", show(outcome.cov), show(outcome.ft), show(outcome.exec_per_sec), show(outcome.runs), show(outcome.corpus));
    }
    println!("{} target(s), {seconds} s each; build {:.0} s, total {:.0} s; logs in {logs}", rows.len(), built.as_secs_f64(), started.elapsed().as_secs_f64());
    if crashes.is_empty() {
        return Ok(());
    }
    let mut report = String::new();
    for crash in &crashes {
        report.push_str(&format!("\n- {}: {}\n", crash.target, crash.what));
        match &crash.input {
            Some(input) => report.push_str(&format!("  input: {input}\n  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run {} --fuzz-dir fuzz {} {input}\n", FUZZ_FLAGS.join(" "), crash.target)),
            None => report.push_str("  (libFuzzer saved no input)\n"),
        }
        report.push_str(&format!("  log: {}\n", crash.log));
    }
    bail!("{} fuzz target(s) crashed:{report}", crashes.len())
}

/// The last value of `key` (such as `cov:`) in libFuzzer's status lines.
fn last_value(text: &str, key: &str) -> Option<u64> {
    text.lines().rev().find_map(|line| {
        let mut words = line.split_whitespace();
        words.by_ref().find(|word| *word == key)?;
        words.next()?.parse().ok()
    })
}

/// The `stat::NAME: value` line `-print_final_stats=1` prints.
fn final_stat(text: &str, name: &str) -> Option<u64> {
    let prefix = format!("stat::{name}:");
    text.lines().find_map(|line| line.trim().strip_prefix(&prefix)?.trim().parse().ok())
}

fn parse_outcome(text: &str) -> Outcome {
    Outcome {
        cov: last_value(text, "cov:"),
        ft: last_value(text, "ft:"),
        runs: final_stat(text, "number_of_executed_units"),
        exec_per_sec: final_stat(text, "average_exec_per_sec").or_else(|| last_value(text, "exec/s:")),
        corpus: last_value(text, "corp:").or_else(|| {
            // `corp: 77/33Kb`: the count before the slash.
            text.lines().rev().find_map(|line| line.split("corp: ").nth(1)?.split('/').next()?.parse().ok())
        }),
    }
}

/// What went wrong, from the log: the panic message, else libFuzzer's own diagnosis.
fn crash_reason(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if let Some(at) = lines.iter().position(|line| line.contains("panicked at")) {
        let message = lines.get(at + 1).map(|line| line.trim()).unwrap_or_default();
        return format!("{} {message}", lines[at].trim());
    }
    for marker in ["ERROR: libFuzzer:", "==ERROR:", "SUMMARY:", "error:"] {
        if let Some(line) = lines.iter().find(|line| line.contains(marker)) {
            return line.trim().to_owned();
        }
    }
    "libFuzzer stopped with an error (see the log)".to_owned()
}

/// The path libFuzzer wrote the crashing input to.
fn crash_input(text: &str) -> Option<String> {
    text.lines().find_map(|line| Some(line.split("Test unit written to ").nth(1)?.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "#2\tINITED cov: 85 ft: 86 corp: 1/1b exec/s: 0 rss: 40Mb\n\
#1048576\tpulse  cov: 143 ft: 315 corp: 77/33Kb lim: 4096 exec/s: 38393 rss: 102Mb\n\
Done 1100000 runs in 16 second(s)\n\
stat::number_of_executed_units: 1100000\n\
stat::average_exec_per_sec:     68750\n";

    #[test]
    fn reads_libfuzzer_closing_lines() {
        let outcome = parse_outcome(LOG);
        assert_eq!((outcome.cov, outcome.ft, outcome.corpus), (Some(143), Some(315), Some(77)));
        assert_eq!((outcome.runs, outcome.exec_per_sec), (Some(1_100_000), Some(68_750)));
    }

    #[test]
    fn reads_a_crash() {
        let log = "thread '<unnamed>' panicked at sea-build/src/x.rs:1:2:\nattempt to add with overflow\n==1== ERROR: libFuzzer: deadly signal\nartifact_prefix='fuzz/artifacts/t/'; Test unit written to fuzz/artifacts/t/crash-abc\n";
        assert_eq!(crash_reason(log), "thread '<unnamed>' panicked at sea-build/src/x.rs:1:2: attempt to add with overflow");
        assert_eq!(crash_input(log).as_deref(), Some("fuzz/artifacts/t/crash-abc"));
    }
}
