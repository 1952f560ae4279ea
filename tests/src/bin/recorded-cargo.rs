//! cargo's stand-in for the Windows-host test (tests/tests/windows_host.rs): no cargo for
//! Windows can be installed here, and under Wine a Linux cargo runs but its exit status is
//! lost, so the xtask built for Windows is given this instead as `CARGO`. It answers
//! `cargo metadata` with the JSON that cargo printed on Linux for the same workspace (paths made
//! Windows paths), from the file `RECORDED_CARGO_METADATA` names, and refuses anything else.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("metadata") {
        eprintln!("recorded-cargo answers only `cargo metadata`, not `cargo {}`", args.join(" "));
        return ExitCode::from(2);
    }
    let Some(path) = sea_build::Env::from_process().var_os("RECORDED_CARGO_METADATA") else {
        eprintln!("recorded-cargo: RECORDED_CARGO_METADATA names no file of recorded `cargo metadata` output");
        return ExitCode::from(2);
    };
    match std::fs::read(&path).and_then(|json| std::io::stdout().write_all(&json)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("recorded-cargo: could not print {}: {error}", path.display());
            ExitCode::FAILURE
        }
    }
}
