//! Linux SEAs end to end: built with real node 22, 24 and 26 (pinned releases from the npm
//! registry), run,
//! checked with readelf, reproducible across checkouts, and verify-cache's
//! verdict compared with what the artifact really does under NODE_OPTIONS.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::{Artifact, CacheAccepted};
use sea_build::blob::ExecArgvExtension;
use sea_build::node::Version;
use sea_build::node::{NodeFetcher, Platform, SourceKind, VersionSpec};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::Processes;
use sea_build::{Sea, verify};
use sea_build_tests::greeter;
use sea_build_tests::nodes::pinned::{NODE_22, NODE_24, NODE_26};
use sea_build_tests::nodes::{real_node, test_env};

const MAIN: &str = "const { getAsset } = require('node:sea');\nconst text = getAsset('greeting.txt', 'utf8').trim();\nconsole.log(`${text} from ${process.version}`);\nif (process.argv.includes('--fail')) process.exit(3);\n";

fn fetcher() -> NodeFetcher {
    NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm])
}

/// Writes the greeter package at `dir` and declares its SEA for the host, with a code cache;
/// without `guard`, NODE_OPTIONS reaches the SEA's node (`execArgvExtension` "env").
fn package(dir: &Utf8Path, node: Version, guard: bool) -> Sea {
    let mut sea = greeter::package(dir, MAIN, VersionSpec::Exact(node), vec![Platform::host().unwrap()], true);
    if !guard {
        sea.exec_argv_extension = ExecArgvExtension::Env;
    }
    sea
}

fn build(sea: &Sea, out: &Utf8Path) -> Artifact {
    let fetcher = fetcher();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &sea_build::Env::from_process() };
    pipeline.build(sea, Platform::host().unwrap(), out).unwrap()
}

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

fn run(artifact: &Utf8Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(artifact);
    command.args(args).env_clear();
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn seas_for_node_22_24_and_26_run_with_their_cache_and_asset() {
    for pinned in [NODE_22, NODE_24, NODE_26] {
        let (_keep, dir) = temp();
        let sea = package(&dir.join("pkg"), pinned, true);
        let artifact = build(&sea, &dir.join("out"));
        let version = artifact.manifest.node_version;
        assert_eq!(version, pinned);
        assert!(artifact.manifest.code_cache_embedded);
        assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes, "node {version}");

        let output = run(&artifact.path, &[], &[]);
        assert!(output.status.success());
        assert_eq!(String::from_utf8_lossy(&output.stdout), format!("hello, asset from v{version}\n"));
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "node {version}: stderr must be empty");
        assert_eq!(run(&artifact.path, &["--fail"], &[]).status.code(), Some(3), "exit codes pass through");

        let report = verify::verify(&artifact.path, &[], &fetcher(), &Processes, &sea_build::Env::from_process()).unwrap();
        assert!(report.passed(), "node {version}: {report:#?}");

        // An independent reader sees the added segments.
        let segment_counts = |path: &Utf8Path| {
            let readelf = Command::new("readelf").args(["-lW", path.as_str()]).output().expect("readelf (binutils) is installed by `cargo xtask test`");
            assert!(readelf.stderr.is_empty(), "readelf warns about {path}: {}", String::from_utf8_lossy(&readelf.stderr));
            let text = String::from_utf8_lossy(&readelf.stdout).into_owned();
            let count = |kind: &str| text.lines().filter(|l| l.trim_start().starts_with(kind)).count();
            (count("LOAD"), count("NOTE"))
        };
        let (base_loads, base_notes) = segment_counts(&artifact.node.path);
        assert_eq!(segment_counts(&artifact.path), (base_loads + 1, base_notes + 1), "one PT_LOAD and one PT_NOTE added");
        let sections = Command::new("readelf").args(["-SW", artifact.path.as_str()]).output().unwrap();
        assert!(String::from_utf8_lossy(&sections.stdout).contains(".note.node.sea"));

        // `strip` keeps the note section, and the stripped SEA still runs with its cache.
        let stripped = dir.join("stripped");
        let strip = Command::new("strip").args(["-o", stripped.as_str(), artifact.path.as_str()]).output().expect("strip (binutils) is installed by `cargo xtask test`");
        assert!(strip.status.success(), "strip failed on node {version}: {}", String::from_utf8_lossy(&strip.stderr));
        let output = run(&stripped, &[], &[]);
        assert_eq!(String::from_utf8_lossy(&output.stdout), format!("hello, asset from v{version}\n"), "stripped SEA of node {version}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "stripped SEA of node {version}: stderr must be empty");
    }
}

#[test]
fn checkouts_at_different_depths_build_identical_artifacts() {
    let (_keep, dir) = temp();
    let shallow = build(&package(&dir.join("a"), NODE_24, true), &dir.join("a/out"));
    let deep = build(&package(&dir.join("b/c/d/e"), NODE_24, true), &dir.join("b/c/d/e/target/sea"));
    assert_eq!(shallow.manifest.artifact_sha256, deep.manifest.artifact_sha256);
    let again = build(&package(&dir.join("a"), NODE_24, true), &dir.join("a/out"));
    assert_eq!(shallow.manifest.artifact_sha256, again.manifest.artifact_sha256);
    assert_eq!(std::fs::read(&shallow.path).unwrap(), std::fs::read(&deep.path).unwrap());
}

#[test]
fn verify_cache_reports_node_options_rejection_only_without_the_guard() {
    let (_keep, dir) = temp();
    let hostile = [("NODE_OPTIONS".to_owned(), "--stack-trace-limit=5".to_owned())];
    let guarded = build(&package(&dir.join("guarded"), NODE_24, true), &dir.join("guarded/out"));
    let unguarded = build(&package(&dir.join("unguarded"), NODE_24, false), &dir.join("unguarded/out"));
    assert!(guarded.manifest.node_options_guard && !unguarded.manifest.node_options_guard);

    let guarded_report = verify::verify(&guarded.path, &hostile, &fetcher(), &Processes, &sea_build::Env::from_process()).unwrap();
    assert!(guarded_report.passed(), "{guarded_report:#?}");
    let unguarded_report = verify::verify(&unguarded.path, &hostile, &fetcher(), &Processes, &sea_build::Env::from_process()).unwrap();
    assert!(!unguarded_report.passed());
    let failure = unguarded_report.checks.iter().find(|c| c.outcome.is_err()).unwrap();
    assert_eq!(failure.name, "run-time check");
    assert!(failure.outcome.as_ref().unwrap_err().contains("Code cache data rejected."), "{failure:?}");
    // And that verdict agrees with reality.
    let stderr = String::from_utf8_lossy(&run(&unguarded.path, &[], &[("NODE_OPTIONS", "--stack-trace-limit=5")]).stderr).into_owned();
    assert!(stderr.contains("Code cache data rejected."), "{stderr}");
    let stderr = String::from_utf8_lossy(&run(&guarded.path, &[], &[("NODE_OPTIONS", "--stack-trace-limit=5")]).stderr).into_owned();
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn fields_the_node_cannot_honour_are_refused() {
    let (_keep, dir) = temp();
    let mut sea = package(&dir.join("pkg"), NODE_24, true);
    sea.exec_argv = vec!["--no-warnings".into()];
    let fetcher = fetcher();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &sea_build::Env::from_process() };
    let node = real_node(NODE_24, Platform::host().unwrap().node_name()).unwrap();
    sea.node = VersionSpec::Path(node.path.clone());
    // The pinned 24 is newer than 24.7, so exec-argv is fine there…
    assert!(pipeline.build(&sea, Platform::host().unwrap(), &dir.join("ok")).is_ok());
    // …and refused for a node that predates it.
    let error = sea.check_node_supports("24.6.0".parse().unwrap()).unwrap_err();
    assert_eq!(error.kind(), sea_build::ErrorKind::Config, "{error}");
    let error = error.to_string();
    assert!(error.contains("`exec-argv` needs node 22.20 / 24.7"), "{error}");
}

/// Bad bases get an error a caller can match by kind, not by message: an injected binary, a
/// file that is not an executable, a file that is an executable but not node.
#[test]
fn bad_bases_are_told_apart_by_kind() {
    let (_keep, dir) = temp();
    let node = real_node(NODE_24, "linux-x64").unwrap();
    let blob = dir.join("sea-prep.blob");
    std::fs::write(&blob, b"a blob").unwrap();
    let env = sea_build::Env::from_process();
    let inject = |base: &Utf8Path, out: &str| sea_build::commands::inject_file(base, &blob, &dir.join(out), Default::default(), &env);
    inject(&node.path, "app").unwrap();
    let error = inject(&dir.join("app"), "again").unwrap_err();
    assert_eq!(error.kind(), sea_build::ErrorKind::AlreadyInjected, "{error}");
    assert!(!dir.join("again").exists());
    std::fs::write(dir.join("script.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    assert_eq!(inject(&dir.join("script.sh"), "x").unwrap_err().kind(), sea_build::ErrorKind::NotNode);
    // This test's own executable: an ELF, without node's fuse.
    let elf = Utf8PathBuf::from_path_buf(std::env::current_exe().unwrap()).unwrap();
    let error = inject(&elf, "y").unwrap_err();
    assert_eq!(error.kind(), sea_build::ErrorKind::NotNode, "{error}");
}

/// A SEA whose blob holds a 2 MB asset, built three ways from the same node 24 and blob: from
/// the node cache (the pipeline maps the verified entry), from a local copy of node
/// (`node-version` a path, which is copied first) and by `inject`. All three give the same
/// bytes, and each grows node by the blob plus less than three pages: the end of node padded to
/// a page for the new segment, the moved program and section header tables and the note's
/// header (node 24: 7,847 bytes). Planning from the preallocated output grew it by twice the blob.
#[test]
fn every_elf_path_grows_node_by_the_blob_alone_and_agrees() {
    let (_keep, dir) = temp();
    let node = real_node(NODE_24, "linux-x64").unwrap();
    let mut sea = package(&dir.join("pkg"), NODE_24, true);
    sea.code_cache = false;
    let asset: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(dir.join("pkg/js/big.bin"), &asset).unwrap();
    sea.assets.insert("big.bin".into(), "js/big.bin".into());
    let cached = build(&sea, &dir.join("cached"));
    std::fs::copy(&node.path, dir.join("mynode")).unwrap();
    sea.node = VersionSpec::Path(dir.join("mynode"));
    let local = build(&sea, &dir.join("local"));
    let cached_bytes = std::fs::read(&cached.path).unwrap();
    let blob = sea_build::inject::elf::find_blob(&cached_bytes).unwrap().expect("the SEA carries its blob").to_vec();
    std::fs::write(dir.join("sea-prep.blob"), &blob).unwrap();
    sea_build::commands::inject_file(&node.path, &dir.join("sea-prep.blob"), &dir.join("injected"), Default::default(), &sea_build::Env::from_process()).unwrap();
    let base_len = std::fs::metadata(&node.path).unwrap().len();
    assert!(blob.len() > 2_000_000, "{} bytes", blob.len());
    for (path, built) in [("cache", &cached.path), ("local node", &local.path), ("inject", &dir.join("injected"))] {
        let bytes = std::fs::read(built).unwrap();
        let growth = bytes.len() as u64 - base_len;
        eprintln!("{path}: {base_len} -> {} bytes, +{growth} for a {}-byte blob", bytes.len(), blob.len());
        assert!(growth >= blob.len() as u64 && growth - (blob.len() as u64) < 3 * 4096, "{path}: grew by {growth} for a {}-byte blob", blob.len());
        assert!(bytes == cached_bytes, "{path} differs from the cache path's output");
        assert_eq!(String::from_utf8_lossy(&run(built, &[], &[]).stdout), "hello, asset from v24.21.0\n", "{path}");
    }
}
