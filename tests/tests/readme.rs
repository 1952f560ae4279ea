//! What the README promises a user, done as the user does it: the quick start followed from a
//! fresh directory with the documented files and commands only, and the Tauri sidecar example
//! built by the real CLI.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::Env;
use sea_build::artifact::Manifest;
use sea_build::digest::sha256_file;
use sea_build::node::{Cache, NodeFetcher, Platform};
use sea_build_tests::mirror::{DistTree, IndexedRelease, MirrorServer};
use sea_build_tests::nodes::pinned::NODE_24;
use sea_build_tests::nodes::{real_node, shared_cache_dir, test_env};

/// The repository's root.
fn repository() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lies in the repository").to_owned()
}

/// One step of a README section: a file to write, or shell commands to run.
#[derive(Debug)]
enum Step {
    File { path: String, text: String },
    Commands(String),
}

/// The steps of the README section under `heading`, in order: every ```` ```LANG file=PATH ````
/// block is a file, every ```` ```sh ```` block commands; other blocks are not steps.
fn steps(readme: &str, heading: &str) -> Vec<Step> {
    let section = readme.split(&format!("\n{heading}\n")).nth(1).expect("the README has the section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut steps = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```").filter(|info| !info.is_empty()) else { continue };
        let body: Vec<&str> = lines.by_ref().take_while(|line| *line != "```").collect();
        let text = body.join("\n") + "\n";
        if let Some(path) = info.split_whitespace().find_map(|word| word.strip_prefix("file=")) {
            steps.push(Step::File { path: path.to_owned(), text });
        } else if info == "sh" {
            steps.push(Step::Commands(text));
        }
    }
    steps
}

#[test]
fn the_readme_quick_start_builds_and_runs_from_a_fresh_directory() {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let steps = steps(&readme, "## Quick start");
    assert!(steps.iter().any(|step| matches!(step, Step::File { path, .. } if path == "build.rs")), "{steps:#?}");

    // Where the user starts: an empty directory with sea-build checked out beside the crate,
    // as the quick start says.
    let fresh = tempfile::tempdir().unwrap();
    let fresh = Utf8Path::from_path(fresh.path()).unwrap().to_owned();
    std::os::unix::fs::symlink(repository(), fresh.join("sea-build")).unwrap();

    // The node the quick start's `node-version = "24"` resolves to comes from a local dist
    // mirror holding the pinned release only (so the test does not follow the live registry),
    // into a new cache, so it arrives with its LICENSE as a download does; esbuild is copied
    // from the shared cache.
    let node = real_node(NODE_24, "linux-x64").unwrap();
    let tree = DistTree::build(&[IndexedRelease { version: NODE_24, lts: Some("Krypton"), files: vec!["linux-x64"] }], &[&node]).unwrap();
    let mirror = MirrorServer::serve(tree.root()).unwrap();
    let cache = fresh.join("cache");
    let shared = NodeFetcher::from_env(&test_env()).unwrap().cache(Cache::new(shared_cache_dir()));
    sea_build::bundle::esbuild::fetch(&shared, None).unwrap();
    copy_tree(&shared_cache_dir().join("esbuild"), &cache.join("esbuild"));

    let cargo = Env::from_process().var("CARGO").unwrap_or_else(|| "cargo".to_owned());
    let target_dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quick-start-target");
    let mut cwd = fresh.clone();
    let mut output = String::new();
    let mut warnings = String::new();
    for step in &steps {
        match step {
            Step::File { path, text } => {
                let path = cwd.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, text).unwrap();
            }
            Step::Commands(script) => {
                // The script, then where it left the shell, so a `cd` carries over.
                let mut command = Command::new("sh");
                command.arg("-ec").arg(format!("{script}\necho \"@cwd $(pwd)\"")).current_dir(&cwd);
                command.env("SEA_BUILD_CACHE_DIR", &cache).env("SEA_BUILD_NODE_SOURCES", "dist").env("SEA_BUILD_NODE_MIRROR", mirror.url()).env("CARGO_TARGET_DIR", &target_dir);
                command.env("PATH", format!("{}:{}", Utf8Path::new(&cargo).parent().map_or("", Utf8Path::as_str), Env::from_process().var("PATH").unwrap_or_default()));
                for name in ["SEA_BUILD_OFFLINE", "CARGO_NET_OFFLINE", "NODEJS_ORG_MIRROR", "RUSTFLAGS", "CARGO_BUILD_TARGET"] {
                    command.env_remove(name);
                }
                let run = command.output().unwrap();
                let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
                assert!(run.status.success(), "`{script}` failed in {cwd}:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
                let (printed, left_in) = stdout.rsplit_once("@cwd ").unwrap();
                cwd = Utf8PathBuf::from(left_in.trim());
                output = printed.to_owned();
                warnings = String::from_utf8_lossy(&run.stderr).into_owned();
            }
        }
    }
    assert!(output.contains("Hello, Ann, from node v24.21.0!"), "the quick start's last command printed:\n{output}");
    // No sea.lock: the build script says how to pin what it resolved.
    assert!(warnings.contains("does not pin it") && warnings.contains("`cargo xtask fetch --node 24 --target linux-x64`"), "{warnings}");

    // The SEA itself, where the README says it is, with its manifest and node's LICENSE.
    let builds = target_dir.join("debug/build");
    let artifact = std::fs::read_dir(&builds)
        .unwrap()
        .map(|entry| Utf8PathBuf::from_path_buf(entry.unwrap().path()).unwrap().join("out/sea/hello-sea"))
        .filter(|path| path.is_file())
        .max_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap())
        .unwrap_or_else(|| panic!("no hello-sea under {builds}/hello-sea-*/out/sea/"));
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(sea_build::artifact::manifest_path(&artifact)).unwrap()).unwrap();
    assert_eq!((manifest.node_version, manifest.node_license.as_str(), manifest.node_license_file.as_deref()), (NODE_24, "MIT", Some("hello-sea.node-LICENSE")));
    assert_eq!(manifest.artifact_sha256, sha256_file(&artifact).unwrap());
    let license = std::fs::read_to_string(artifact.with_file_name("hello-sea.node-LICENSE")).unwrap();
    assert!(license.starts_with("Node.js is licensed"), "{license}");
    let direct = Command::new(&artifact).arg("Bo").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&direct.stdout), "Hello, Bo, from node v24.21.0!\n");
}

fn copy_tree(from: &Utf8Path, to: &Utf8Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in from.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn the_tauri_example_gets_its_sidecar_named_with_the_target_triple() {
    let (_keep, dir) = sea_build_tests::temp_dir();
    let host = Platform::host().unwrap();
    // The example as the README's command builds it; the flag puts the sidecars in a scratch
    // directory instead of the example's own binaries/, and sea.lock already pins its node.
    let mut command = Command::new(env!("CARGO_BIN_EXE_sea"));
    command.env("SEA_BUILD_CACHE_DIR", shared_cache_dir()).env("SEA_BUILD_NODE_SOURCES", "npm");
    for name in ["SEA_BUILD_OFFLINE", "CARGO_NET_OFFLINE", "SEA_BUILD_NODE_MIRROR", "NODEJS_ORG_MIRROR", "CARGO_TARGET_DIR"] {
        command.env_remove(name);
    }
    command.args(["sea", "--package", "tauri-sidecar", "--manifest-path"]).arg(repository().join("Cargo.toml"));
    command.arg("--out").arg(dir.join("out")).arg("--sidecar-dir").arg(dir.join("binaries"));
    let lock_before = std::fs::read(repository().join("sea.lock")).unwrap();
    let run = command.output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(std::fs::read(repository().join("sea.lock")).unwrap(), lock_before, "the build agrees with the repository's sea.lock");

    let sidecar = dir.join("binaries").join(format!("greeter-{}", host.rust_triple()));
    assert!(sidecar.is_file(), "no {sidecar}");
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(dir.join("binaries").join(format!("greeter-{}.sea.json", host.rust_triple()))).unwrap()).unwrap();
    assert_eq!((manifest.name.as_str(), manifest.target.as_str()), ("greeter", host.rust_triple()));
    assert_eq!(manifest.artifact_sha256, sha256_file(&sidecar).unwrap(), "the manifest describes the sidecar");
    let built = dir.join("out").join(host.rust_triple()).join("greeter");
    assert_eq!(sha256_file(&built).unwrap(), manifest.artifact_sha256, "the sidecar is the artifact");
    let hello = Command::new(&sidecar).arg("Cy").output().unwrap();
    assert!(String::from_utf8_lossy(&hello.stdout).starts_with("Hello, Cy, from the sidecar on node v24."), "{hello:?}");
    let leftovers: Vec<String> = std::fs::read_dir(dir.join("binaries")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|name| name.starts_with('.')).collect();
    assert!(leftovers.is_empty(), "temporary files left in the sidecar directory: {leftovers:?}");
}
