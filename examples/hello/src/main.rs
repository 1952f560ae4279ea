//! Runs the single executable that build.rs made from js/main.js, passing arguments through.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let sea = env!("SEA_HELLO_PATH");
    match Command::new(sea).args(std::env::args_os().skip(1)).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().map_or(1, |code| code as u8)),
        Err(error) => {
            eprintln!("could not run the SEA at {sea}: {error}");
            ExitCode::FAILURE
        }
    }
}
