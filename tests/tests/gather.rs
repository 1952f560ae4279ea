//! The release step of the CI matrix (.github/workflows/sea.yml), run here on what its Linux
//! runner builds: the `linux` job's `cargo xtask sea` line and the `gather` job's
//! `cargo xtask gather` line, read from the workflow itself, run with the CLI as a downstream
//! xtask ships it, with an upload and download between them that loses the executable bits as
//! GitHub's artifact store does.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build_tests::nodes::pinned::NODE_24;
use sea_build_tests::nodes::{real_node, shared_cache_dir};

const MAIN: &str = "if (process.argv.includes('--check')) console.log('ok');\nelse console.log(require('node:sea').getAsset('greeting.txt', 'utf8').trim() + ' on ' + process.arch);\n";

/// The arguments after `cargo xtask` of the workflow's line that starts with `command`.
fn workflow_command(command: &str) -> Vec<String> {
    let workflow = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows/sea.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    let line = text.lines().filter_map(|line| line.trim().strip_prefix("run: ")).find(|line| line.starts_with(command)).unwrap_or_else(|| panic!("{workflow} has no `run: {command} ...` line"));
    line.strip_prefix("cargo xtask ").unwrap().split_whitespace().map(str::to_owned).collect()
}

/// The CLI with `args`, in `dir`, with the shared node cache, offline.
fn sea(dir: &Utf8Path, args: &[String]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_sea"))
        .current_dir(dir)
        .args(args)
        .env("SEA_BUILD_CACHE_DIR", shared_cache_dir())
        .env("SEA_BUILD_OFFLINE", "1")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(output.status.success(), "`sea {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    output
}

/// Copies `from` into `to` as an artifact upload and download does: file contents only, no
/// executable bits.
fn transfer(from: &Utf8Path, to: &Utf8Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in from.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            transfer(entry.path(), &target);
        } else if !entry.file_name().ends_with(".lock") {
            std::fs::write(&target, std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}

#[test]
fn the_linux_runners_outputs_gather_into_a_checked_release() {
    let build = workflow_command("cargo xtask sea ");
    let targets: Vec<&str> = build.windows(2).filter(|pair| pair[0] == "--target").map(|pair| pair[1].as_str()).collect();
    assert_eq!(targets, ["linux-x64", "linux-arm64", "win-x64"], "the Linux job builds these");
    // node's licence travels with each artifact whose node came with one (node's npm packages
    // for Windows hold node.exe alone).
    let mut expected = vec!["SHA256SUMS".to_owned()];
    for target in &targets {
        let exe = if target.starts_with("win-") { ".exe" } else { "" };
        expected.extend([format!("greeter-{target}{exe}"), format!("greeter-{target}.sea.json")]);
        if real_node(NODE_24, target).unwrap().license.is_some() {
            expected.push(format!("greeter-{target}.node-LICENSE"));
        }
    }
    expected.sort();
    assert!(expected.iter().any(|name| name.ends_with(".node-LICENSE")), "no pinned node came with its licence: {expected:?}");
    let (_keep, root) = sea_build_tests::temp_dir();
    let workspace = root.join("workspace");
    std::fs::create_dir(&workspace).unwrap();
    sea_build_tests::greeter::workspace(&workspace, MAIN, NODE_24, &["linux-x64"]);

    // The Linux job: build into the workspace's target/sea, then upload it.
    sea(&workspace, &build);
    transfer(&workspace.join("target/sea"), &root.join("collected/sea-linux"));

    // The gather job, in the directory it downloaded into.
    let gather = workflow_command("cargo xtask gather ");
    let output = sea(&root, &gather);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let release: Utf8PathBuf = root.join(&gather[gather.iter().position(|arg| arg == "--out").unwrap() + 1]);
    let mut names: Vec<String> = release.read_dir_utf8().unwrap().map(|entry| entry.unwrap().file_name().to_owned()).collect();
    names.sort();
    assert_eq!(names, expected, "{stdout}");
    // Each was verified where it runs here: natively, under qemu, under Wine.
    for how in ["accepted, run natively", "accepted, run under qemu", "accepted, run under Wine"] {
        assert!(stdout.contains(how), "no `{how}` in:\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // An independent reader of the sums: coreutils.
    let checked = Command::new("sha256sum").arg("--check").arg("--strict").arg(sea_build::gather::SUMS_FILE).current_dir(&release).output().unwrap();
    assert!(checked.status.success(), "sha256sum --check: {}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    assert_eq!(String::from_utf8_lossy(&checked.stdout).lines().count(), expected.len() - 1);
    // The released file runs as downloaded from the release.
    let ran = Command::new(release.join("greeter-linux-x64")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "hello, asset on x64");
}
