//! Generates the large Mach-O fixture for benchmarks (never committed):
//! `cargo run -p sea-build-tests --bin macho-fixture -- DIR [SCALE]` prints the path of an
//! unsigned arm64 executable of about 750 MiB × SCALE (default 1.0) with about 5 million ×
//! SCALE symbols, built in DIR with the absolute paths of DIR in its debug map.

use std::path::PathBuf;

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().context("usage: macho-fixture DIR [SCALE]")?);
    let scale = match args.next() {
        Some(scale) => scale.to_str().and_then(|s| s.parse().ok()).context("SCALE must be a number such as 1.0 or 0.16")?,
        None => 1.0,
    };
    let path = sea_build_tests::macho_fixtures::large_fixture(&dir, scale)?;
    println!("{}", path.display());
    Ok(())
}
