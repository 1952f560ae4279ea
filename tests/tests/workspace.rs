//! `sea` on whole workspaces, as the real CLI process: what it pins in `sea.lock` when SEAs
//! differ in version and target, and what a build killed at any point leaves behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::Manifest;
use sea_build::digest::sha256_file;
use sea_build::node::{LockFile, Platform, Version};
use sea_build_tests::mirror::{DistTree, IndexedRelease, MirrorServer};
use sea_build_tests::nodes::pinned::{NODE_22, NODE_26};
use sea_build_tests::nodes::{real_node, shared_cache_dir};

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// A package `name` in the workspace at `root` declaring a SEA of `node` for `targets`.
fn add_package(root: &Utf8Path, name: &str, node: Version, targets: &[&str]) {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    std::fs::write(dir.join("main.js"), format!("console.log('{name} on ' + process.version);\n")).unwrap();
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[package.metadata.sea]\nmain = \"main.js\"\nnode-version = \"{node}\"\ntargets = [{}]\n",
        targets.join(", ")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
}

fn workspace(root: &Utf8Path, members: &[&str]) {
    let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    std::fs::write(root.join("Cargo.toml"), format!("[workspace]\nresolver = \"3\"\nmembers = [{}]\n", members.join(", "))).unwrap();
}

/// The `sea` CLI on the workspace at `root`, with `cache` as its node cache and nothing from
/// the user's own sea-build settings.
fn sea(root: &Utf8Path, cache: &Utf8Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sea"));
    command.current_dir(root).env("SEA_BUILD_CACHE_DIR", cache);
    for name in ["SEA_BUILD_OFFLINE", "CARGO_NET_OFFLINE", "SEA_BUILD_NODE_SOURCES", "SEA_BUILD_NODE_MIRROR", "NODEJS_ORG_MIRROR", "SEA_BUILD_WINE", "CARGO_TARGET_DIR"] {
        command.env_remove(name);
    }
    command.args(["sea", "--manifest-path"]).arg(root.join("Cargo.toml"));
    command
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "`sea` failed:\n{stderr}");
    stderr
}

#[test]
fn each_sea_pins_only_its_own_request_against_its_own_artifacts() {
    let (_keep, root) = temp();
    workspace(&root, &["a", "b"]);
    add_package(&root, "a", NODE_22, &["linux-x64"]);
    add_package(&root, "b", NODE_26, &["darwin-x64"]);
    let build = || run_ok(sea(&root, &shared_cache_dir()).env("SEA_BUILD_NODE_SOURCES", "npm"));
    build();

    let lock = LockFile::read(&root.join("sea.lock")).unwrap();
    let mut pins: Vec<(String, String, Version)> = lock.nodes.iter().map(|n| (n.request.clone(), n.target.clone(), n.version)).collect();
    pins.sort();
    assert_eq!(
        pins,
        vec![(NODE_22.to_string(), "linux-x64".to_owned(), NODE_22), (NODE_26.to_string(), "darwin-x64".to_owned(), NODE_26)],
        "each SEA's request, pinned to the node its own artifact was built from"
    );
    let before = std::fs::read_to_string(root.join("sea.lock")).unwrap();
    build();
    assert_eq!(std::fs::read_to_string(root.join("sea.lock")).unwrap(), before, "a second build agrees with the lock and leaves it as it was");
}

/// Every artifact in `out` (the target directories under `target/sea`) has a manifest beside
/// it whose `artifact-sha256` is the artifact's; returns how many there are.
fn assert_every_artifact_has_its_manifest(out: &Utf8Path, moment: &str) -> usize {
    let mut artifacts = 0;
    for target in out.read_dir_utf8().into_iter().flatten().map(|e| e.unwrap().path().to_owned()).filter(|p| p.is_dir()) {
        for entry in target.read_dir_utf8().unwrap() {
            let path = entry.unwrap().path().to_owned();
            let name = path.file_name().unwrap();
            // Node's LICENSE, published beside each artifact, is not one.
            if name.starts_with('.') || name.ends_with(".sea.json") || name.ends_with(".node-LICENSE") {
                continue;
            }
            let manifest_path = sea_build::artifact::manifest_path(&path);
            let text = std::fs::read_to_string(&manifest_path).unwrap_or_else(|e| panic!("{moment}: {path} is published without its manifest {manifest_path}: {e}"));
            let manifest: Manifest = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{moment}: {manifest_path} is not a whole manifest: {e}"));
            assert_eq!(manifest.artifact_sha256, sha256_file(&path).unwrap(), "{moment}: {path} is not the artifact its manifest describes");
            if let Some(license) = &manifest.node_license_file {
                assert!(path.with_file_name(license).is_file(), "{moment}: {manifest_path} names {license}, which is not beside it");
            }
            artifacts += 1;
        }
    }
    artifacts
}

/// Every entry of the cache at `cache` (node, and the esbuild that bundles) that has a record
/// holds the binary it records.
fn assert_every_cache_entry_is_verified(cache: &Utf8Path, moment: &str) {
    let mut stack = vec![cache.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in dir.read_dir_utf8().into_iter().flatten() {
            let path = entry.unwrap().path().to_owned();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name() == Some("entry.toml") {
                let record: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{moment}: {path} is not a whole record: {e}"));
                let binary = ["node", "node.exe", "esbuild", "esbuild.exe"]
                    .iter()
                    .map(|name| path.with_file_name(name))
                    .find(|p| p.is_file())
                    .unwrap_or_else(|| panic!("{moment}: {path} records a binary that is not there"));
                assert_eq!(Some(sha256_file(&binary).unwrap().as_str()), record["binary-sha256"].as_str(), "{moment}: {binary} is not the binary {path} records");
                if let Some(license) = record.get("license-sha256") {
                    assert_eq!(Some(sha256_file(&path.with_file_name("LICENSE")).unwrap().as_str()), license.as_str(), "{moment}: the LICENSE beside {path} is not the one it records");
                }
            }
        }
    }
}

/// Leftovers of interrupted builds in the target directories under `out`.
fn leftovers(out: &Utf8Path) -> Vec<Utf8PathBuf> {
    let mut found = Vec::new();
    for target in out.read_dir_utf8().into_iter().flatten().map(|e| e.unwrap().path().to_owned()).filter(|p| p.is_dir()) {
        for entry in target.read_dir_utf8().unwrap() {
            let path = entry.unwrap().path().to_owned();
            let name = path.file_name().unwrap();
            if name.starts_with(".partial-") || name.starts_with(".staging-") {
                found.push(path);
            }
        }
    }
    found
}

/// Runs `command` and kills it with SIGKILL `delay` after it prints a line containing `when`.
/// Returns whether that line came (the build may finish or fail first).
fn kill_after(mut command: Command, when: &str, delay: Duration) -> bool {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.contains(when) {
            seen = true;
            std::thread::sleep(delay);
            // SIGKILL: no destructor, no cleanup, as when a machine loses power or a CI job
            // is cancelled.
            let _ = child.kill();
            break;
        }
    }
    let _ = child.wait();
    seen
}

#[test]
fn a_build_killed_at_any_step_leaves_nothing_unverified_and_the_next_one_succeeds() {
    let (_keep, dir) = temp();
    let root = dir.join("ws");
    std::fs::create_dir_all(&root).unwrap();
    workspace(&root, &["app"]);
    add_package(&root, "app", NODE_22, &["linux-x64", "darwin-x64"]);
    let out = root.join("target/sea");
    let cache = dir.join("cache");

    // A dist mirror on 127.0.0.1 with this version for both targets, so downloads are real
    // and can be interrupted.
    let linux = real_node(NODE_22, "linux-x64").unwrap();
    let darwin = real_node(NODE_22, "darwin-x64").unwrap();
    let releases = [IndexedRelease { version: NODE_22, lts: Some("Jod"), files: vec!["linux-x64", "osx-x64-tar"] }];
    let tree = DistTree::build(&releases, &[&linux, &darwin]).unwrap();
    let mirror = MirrorServer::serve(tree.root()).unwrap();
    let command = || {
        let mut command = sea(&root, &cache);
        command.env("SEA_BUILD_NODE_SOURCES", "dist").env("SEA_BUILD_NODE_MIRROR", mirror.url());
        command
    };

    let ms = Duration::from_millis;
    let downloading = format!("downloading node {NODE_22} for");
    let kill_points: [(&str, Duration, bool); 14] = [
        // (line, delay, with an empty cache)
        (downloading.as_str(), ms(0), true),
        (downloading.as_str(), ms(150), true),
        (downloading.as_str(), ms(400), true),
        ("downloading esbuild", ms(0), true),
        ("downloading esbuild", ms(150), true),
        ("generating the blob", ms(0), false),
        ("generating the blob", ms(60), false),
        ("injecting", ms(0), false),
        ("injecting", ms(40), false),
        ("signing", ms(0), false),
        ("signing", ms(200), false),
        ("running app", ms(30), false),
        ("publishing", ms(0), false),
        ("publishing", ms(2), false),
    ];
    for (line, delay, fresh_cache) in kill_points {
        if fresh_cache {
            let _ = std::fs::remove_dir_all(&cache);
        }
        let moment = format!("killed {delay:?} after `{line}`");
        assert!(kill_after(command(), line, delay), "the build never printed `{line}`, so it could not be killed there");
        assert_every_artifact_has_its_manifest(&out, &moment);
        assert_every_cache_entry_is_verified(&cache, &moment);
    }

    let stderr = run_ok(&mut command());
    assert_eq!(assert_every_artifact_has_its_manifest(&out, "after a complete build"), 2, "{stderr}");
    let linux_manifest: Manifest = serde_json::from_slice(&std::fs::read(out.join("x86_64-unknown-linux-gnu/app.sea.json")).unwrap()).unwrap();
    assert_eq!(linux_manifest.node_license_file.as_deref(), Some("app.node-LICENSE"), "a node from a release archive ships with its LICENSE");
    assert_every_cache_entry_is_verified(&cache, "after a complete build");
    assert_eq!(leftovers(&out), Vec::<Utf8PathBuf>::new(), "the next build sweeps what killed ones left");
    let host = out.join(Platform::host().unwrap().rust_triple()).join("app");
    let output = Command::new(&host).output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("app on v{NODE_22}\n"));
}
