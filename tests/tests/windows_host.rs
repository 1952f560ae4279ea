//! A Windows developer machine, for real: the xtask built for x86_64-pc-windows-gnu (by
//! `cargo xtask test`, with the standard library built from Debian's rust-src, see
//! xtask/src/cross.rs) runs under Wine and builds a win-x64 SEA as a Windows user's
//! `cargo xtask sea` would, its code cache made by node.exe natively (the host is Windows). The
//! artifact runs, accepts its cache, and is byte-identical to the one the Linux host makes of
//! the same program.
//!
//! One thing is not real: cargo. No cargo for Windows can be installed here, and a Linux cargo
//! started from Wine runs but its exit status is lost, so the xtask's `CARGO` is
//! `recorded-cargo.exe`, which answers `cargo metadata` with what cargo printed on Linux for
//! this workspace, paths made Windows paths.

use std::process::Command;

use camino::Utf8PathBuf;
use sea_build::artifact::{CacheAccepted, Manifest};
use sea_build::node::Platform;
use sea_build::run::{Invocation, Processes};
use sea_build::runtime::{Execution, TargetRunner};
use sea_build_tests::nodes::pinned::NODE_24;
use sea_build_tests::nodes::{real_node, shared_cache_dir, test_env};

/// Where `cargo xtask test` puts `xtask.exe` and `recorded-cargo.exe`.
const WINDOWS_HOST_VAR: &str = "SEA_BUILD_TEST_WINDOWS_HOST";

const MAIN: &str = "const { getAsset } = require('node:sea');\n\
    const greeting = getAsset('greeting.txt', 'utf8').trim();\n\
    if (process.argv.includes('--check')) console.log('ok');\n\
    else console.log(`${greeting} from ${process.platform}-${process.arch}, ${[1, 2, 3].map((n) => n * n).join(' ')}`);\n";

/// `path` as Windows programs under Wine name it (Wine maps the Unix root to drive Z:).
fn windows_path(path: &str) -> String {
    format!("Z:{}", path.replace('/', "\\"))
}

/// Every absolute Unix path in `value` (a string starting with `/`) made a Windows path.
fn to_windows_paths(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) if text.starts_with('/') => *text = windows_path(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(to_windows_paths),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(to_windows_paths),
        _ => {}
    }
}

fn the_windows_host_binaries() -> Utf8PathBuf {
    let dir = sea_build::Env::from_process().var(WINDOWS_HOST_VAR).map(Utf8PathBuf::from).unwrap_or_else(|| {
        panic!("{WINDOWS_HOST_VAR} is unset: `cargo xtask test` builds the xtask for x86_64-pc-windows-gnu and sets it (or run `cargo xtask cross-check --windows-host` and point it at the directory printed)")
    });
    assert!(dir.join("xtask.exe").is_file() && dir.join("recorded-cargo.exe").is_file(), "{dir} lacks xtask.exe or recorded-cargo.exe");
    dir
}

#[test]
fn the_xtask_built_for_windows_builds_under_wine_what_the_linux_host_builds() {
    let binaries = the_windows_host_binaries();
    // Both hosts use the shared cache; this makes sure it holds the node they build from.
    let node = real_node(NODE_24, "win-x64").unwrap();
    let (_keep, root) = sea_build_tests::temp_dir();
    sea_build_tests::greeter::workspace(&root, MAIN, NODE_24, &["win-x64"]);
    let cache = shared_cache_dir();

    // The Linux host: the CLI as a downstream xtask ships it.
    let linux_out = root.join("linux-out");
    let output = Command::new(env!("CARGO_BIN_EXE_sea"))
        .args(["sea", "--manifest-path", root.join("Cargo.toml").as_str(), "--out", linux_out.as_str()])
        .env("SEA_BUILD_CACHE_DIR", &cache)
        .env("SEA_BUILD_OFFLINE", "1")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(output.status.success(), "the Linux host's build failed:\n{}", String::from_utf8_lossy(&output.stderr));

    // What cargo says of this workspace, as the Windows host's cargo would say it.
    let metadata = Command::new(sea_build::Env::from_process().var("CARGO").unwrap_or_else(|| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path", root.join("Cargo.toml").as_str()])
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(metadata.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&metadata.stderr));
    let mut metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
    to_windows_paths(&mut metadata);
    let recorded = root.join("metadata.json");
    std::fs::write(&recorded, serde_json::to_vec(&metadata).unwrap()).unwrap();

    // The Windows host, under Wine: node.exe is this host's own node, so it runs natively.
    let platform: Platform = "win-x64".parse().unwrap();
    let target = TargetRunner::for_target(platform, &node.path, &Processes, &test_env()).unwrap();
    let wine = target.runner().unwrap_or_else(|| panic!("win-x64 programs must run here under Wine, which `cargo xtask test` installs: {}", target.execution));
    let windows_out = root.join("windows-out");
    let mut xtask = Invocation::new(binaries.join("xtask.exe"), ["sea", "--manifest-path", &windows_path(root.join("Cargo.toml").as_str()), "--out", &windows_path(windows_out.as_str())]);
    xtask.cwd = Some(root.clone());
    xtask.timeout = std::time::Duration::from_secs(600);
    xtask.env = vec![
        ("CARGO".to_owned(), windows_path(binaries.join("recorded-cargo.exe").as_str())),
        ("RECORDED_CARGO_METADATA".to_owned(), windows_path(recorded.as_str())),
        ("SEA_BUILD_CACHE_DIR".to_owned(), windows_path(cache.as_str())),
        ("SEA_BUILD_OFFLINE".to_owned(), "1".to_owned()),
    ];
    let started = std::time::Instant::now();
    let run = wine.run(&xtask).unwrap();
    let stderr = run.stderr_text();
    assert!(run.failure(xtask.timeout).is_none(), "the xtask built for Windows failed under Wine:\n{stderr}");
    eprintln!("the Windows host built the SEA in {:.0} s:\n{stderr}", started.elapsed().as_secs_f64());

    let triple = platform.rust_triple();
    let (linux_app, windows_app) = (linux_out.join(triple).join("greeter.exe"), windows_out.join(triple).join("greeter.exe"));
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(windows_out.join(triple).join("greeter.sea.json")).unwrap()).unwrap();
    assert!(manifest.code_cache_embedded, "{manifest:#?}");
    assert_eq!(manifest.cache_accepted, CacheAccepted::Yes, "{manifest:#?}");
    assert_eq!(manifest.run_time_check, Execution::Native, "on a Windows host node.exe runs natively: {manifest:#?}");
    let (linux_bytes, windows_bytes) = (std::fs::read(&linux_app).unwrap(), std::fs::read(&windows_app).unwrap());
    assert!(linux_bytes == windows_bytes, "the Windows host's {windows_app} differs from the Linux host's {linux_app}");

    // The artifact runs, with its asset, and accepts its cache.
    let ran = wine.run(&Invocation::new(&windows_app, Vec::<String>::new())).unwrap();
    assert!(ran.failure(xtask.timeout).is_none(), "{}", ran.stderr_text());
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "hello, asset from win32-x64, 1 4 9");
    assert!(!ran.stderr_text().contains(sea_build::runtime::CACHE_REJECTED), "{}", ran.stderr_text());
}
