//! Runs the sidecar as a Tauri app does: beside the executable once bundled (`greeter`), or
//! from `binaries/greeter-<target triple>` during development.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn sidecar() -> PathBuf {
    let exe = if cfg!(windows) { ".exe" } else { "" };
    let bundled = std::env::current_exe().ok().and_then(|path| path.parent().map(|dir| dir.join(format!("greeter{exe}"))));
    match bundled {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("binaries").join(format!("greeter-{}{exe}", env!("SIDECAR_TARGET"))),
    }
}

fn main() -> ExitCode {
    let sidecar = sidecar();
    match Command::new(&sidecar).args(std::env::args_os().skip(1)).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().map_or(1, |code| code as u8)),
        Err(error) => {
            eprintln!("could not run the sidecar {}: {error} (build it with `cargo xtask sea --package tauri-sidecar`)", sidecar.display());
            ExitCode::FAILURE
        }
    }
}
