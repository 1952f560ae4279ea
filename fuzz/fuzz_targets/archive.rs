//! Node release archives (tar.gz, tar.xz, zip): extraction never panics.
//!
//! Input: one byte choosing the platform, then the archive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::node::{Platform, extract_node_binary};

fuzz_target!(|data: &[u8]| {
    let Some((&which, archive)) = data.split_first() else {
        return;
    };
    let platform: Platform = ["linux-x64", "win-x64", "darwin-arm64"][usize::from(which % 3)].parse().expect("a known platform");
    let _ = extract_node_binary(archive, platform, "fuzz.tgz");
});
