//! Code caches for targets of another architecture or OS, made and checked on this Linux x64
//! machine by the target's own node: linux-arm64 and linux-ppc64le under qemu-user, win-x64
//! under Wine 10; and one node version for all of a SEA's targets. Everything through the
//! real CLI. `cargo xtask setup` installs qemu-user, the cross C runtimes and Wine 10, and
//! `cargo xtask test` points `SEA_BUILD_WINE` at that Wine.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::{CacheAccepted, Manifest};
use sea_build::node::{LockFile, Platform, Version};
use sea_build::run::{Invocation, Processes};
use sea_build::runtime::{Execution, TargetRunner};
use sea_build_tests::mirror::{DistTree, IndexedRelease, MirrorServer};
use sea_build_tests::nodes::pinned::{NODE_22, NODE_24, NODE_26};
use sea_build_tests::nodes::{real_node, shared_cache_dir, test_env};

/// The old architecture: the npm registry's `node-linux-ppc64le` stops at this release, which
/// predates assets (20.12) but has SEA code caches (20.6).
const OLD_ARCH: &str = "linux-ppc64le";
const OLD_ARCH_NODE: Version = Version::new(20, 11, 0);

/// How to get what these tests need.
const HOW_TO_SET_UP: &str = "run `cargo xtask setup` (qemu-user, the cross C runtimes and a Wine 10), and run the tests through `cargo xtask test`, which sets SEA_BUILD_WINE to that Wine";

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// A workspace at `root` with one package `greet` whose SEA prints where it runs (and reads
/// an asset and asks `node:sea` when `with_asset`, which needs node 20.12+).
fn greet_workspace(root: &Utf8Path, targets: &[&str], node: &str, with_asset: bool) {
    std::fs::create_dir_all(root.join("greet/src")).unwrap();
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\nmembers = [\"greet\"]\n").unwrap();
    std::fs::write(root.join("greet/src/lib.rs"), "").unwrap();
    // `node:sea` (assets, isSea) arrived in node 20.12.
    let (greeting, check) = if with_asset {
        std::fs::write(root.join("greet/greeting.txt"), "Hello\n").unwrap();
        ("require('node:sea').getAsset('greeting.txt', 'utf8').trim()", "'ok ' + require('node:sea').isSea()")
    } else {
        ("'Hello'", "'ok'")
    };
    let main =
        format!("if (process.argv.includes('--check')) {{ console.log({check}); }} else {{ console.log({greeting} + ' from ' + process.platform + '-' + process.arch + ' ' + process.version); }}\n");
    std::fs::write(root.join("greet/main.js"), main).unwrap();
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    let assets = if with_asset { "assets = { \"greeting.txt\" = \"greeting.txt\" }\n" } else { "" };
    std::fs::write(
        root.join("greet/Cargo.toml"),
        format!(
            "[package]\nname = \"greet\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[package.metadata.sea]\nmain = \"main.js\"\nnode-version = \"{node}\"\ntargets = [{}]\nverify-args = [\"--check\"]\n{assets}",
            targets.join(", ")
        ),
    )
    .unwrap();
}

/// The CLI, as a downstream xtask ships it, on the workspace at `root`, with the shared test
/// cache and only the npm registry (from npm's configuration), keeping `SEA_BUILD_WINE`.
fn cli(root: &Utf8Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sea"));
    command.current_dir(root).env("SEA_BUILD_CACHE_DIR", shared_cache_dir()).env("SEA_BUILD_NODE_SOURCES", "npm");
    for name in ["SEA_BUILD_OFFLINE", "CARGO_NET_OFFLINE", "SEA_BUILD_NODE_MIRROR", "NODEJS_ORG_MIRROR", "SEA_BUILD_WINE_PREFIX", "SEA_BUILD_QEMU", "SEA_BUILD_QEMU_LD_PREFIX", "CARGO_TARGET_DIR"] {
        command.env_remove(name);
    }
    command.args(args).arg("--manifest-path").arg(root.join("Cargo.toml"));
    command
}

/// Runs `command`, failing with its output unless it succeeds; returns stdout and stderr.
fn run_ok(command: &mut Command) -> (String, String) {
    let output = command.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned());
    assert!(output.status.success(), "{command:?} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn manifest(root: &Utf8Path, platform: Platform) -> Manifest {
    let path = root.join("target/sea").join(platform.rust_triple()).join("greet.sea.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn artifact(root: &Utf8Path, platform: Platform) -> Utf8PathBuf {
    root.join("target/sea").join(platform.rust_triple()).join(if platform.os == sea_build::node::Os::Windows { "greet.exe" } else { "greet" })
}

/// Builds `greet` on `version` for `platforms` from two checkout paths (one not ASCII), and checks: a cache
/// embedded and accepted, the check made under qemu or Wine as `expected_how` says, the same
/// bytes from both checkouts, `verify-cache` passing, and the expected output.
fn cached_and_reproducible(version: Version, platforms: &[&str], with_asset: bool) {
    let (_keep, dir) = temp();
    // The second checkout's path holds spaces, a Latin and a CJK character (Wine maps paths
    // through the locale): every run under Wine or qemu, and verify-cache, happen there too.
    let checkouts = [dir.join("a"), dir.join("second/my app ü/测试")];
    for root in &checkouts {
        greet_workspace(root, platforms, &version.to_string(), with_asset);
        let started = std::time::Instant::now();
        // From outside the checkout, so the paths handed to Wine and qemu are absolute.
        let (summary, log) = run_ok(cli(root, &["sea"]).current_dir(&dir));
        eprintln!("node {version}, {}: built in {:.1} s\n{summary}", platforms.join(" + "), started.elapsed().as_secs_f64());
        for name in platforms {
            let platform: Platform = name.parse().unwrap();
            let built = manifest(root, platform);
            assert_eq!(built.node_version, version);
            assert!(built.code_cache_embedded, "{name} on node {version} got no code cache: {:?}. {HOW_TO_SET_UP}\n{log}", built.run_time_check);
            assert_eq!(built.cache_accepted, CacheAccepted::Yes, "{name} on node {version}\n{log}");
            match (&built.run_time_check, platform.os) {
                (Execution::Native, _) if platform == Platform::host().unwrap() => {}
                (Execution::Qemu { program, .. }, sea_build::node::Os::Linux) => assert!(program.contains("qemu-"), "{program}"),
                (Execution::Wine { version: wine, .. }, sea_build::node::Os::Windows) => assert!(wine.starts_with("wine-"), "{wine}"),
                (other, _) => panic!("{name}: checked {other}, not under qemu or Wine. {HOW_TO_SET_UP}"),
            }
        }
    }
    for &name in platforms {
        let platform: Platform = name.parse().unwrap();
        let [a, b] = checkouts.each_ref().map(|root| std::fs::read(artifact(root, platform)).unwrap());
        assert!(a == b, "{name} on node {version}: the two checkouts gave different artifacts");
    }
    let started = std::time::Instant::now();
    let (report, _) = run_ok(cli(&checkouts[1], &["verify-cache"]).current_dir(&dir));
    eprintln!("verify-cache: {:.1} s\n{report}", started.elapsed().as_secs_f64());
    assert!(report.contains("accepted, run under"), "{report}");
    for name in platforms {
        let platform: Platform = name.parse().unwrap();
        let node = real_node(version, name).unwrap();
        let target = TargetRunner::for_target(platform, &node.path, &Processes, &test_env()).unwrap();
        let mut invocation = Invocation::new(artifact(&checkouts[1], platform), Vec::<String>::new());
        invocation.clean_env = true;
        let run = sea_build::run::Runner::run(&target, &invocation).unwrap();
        let arch = name.rsplit('-').next().unwrap();
        let os = if platform.os == sea_build::node::Os::Windows { "win32" } else { "linux" };
        let arch = if arch == "ppc64le" { "ppc64" } else { arch };
        assert_eq!(String::from_utf8_lossy(&run.stdout).replace('\r', ""), format!("Hello from {os}-{arch} v{version}\n"), "{name}: {}", run.stderr_text());
    }
}

#[test]
fn arm64_and_windows_seas_on_node_22_carry_caches_they_accept() {
    cached_and_reproducible(NODE_22, &["linux-arm64", "win-x64"], true);
}

#[test]
fn host_arm64_and_windows_seas_on_node_24_carry_caches_they_accept() {
    cached_and_reproducible(NODE_24, &["linux-x64", "linux-arm64", "win-x64"], true);
}

#[test]
fn arm64_and_windows_seas_on_node_26_carry_caches_they_accept() {
    cached_and_reproducible(NODE_26, &["linux-arm64", "win-x64"], true);
}

#[test]
fn an_old_architecture_without_assets_gets_its_cache_under_qemu() {
    cached_and_reproducible(OLD_ARCH_NODE, &[OLD_ARCH], false);
}

/// A dist mirror whose index has a newer 22.x for linux-x64 and win-x64 than for darwin-x64:
/// `--target all` builds the three platforms that publish a 22, all from the one release they
/// share, says so, pins it for each, and says why win-x64 and darwin-x64 get no cache.
#[test]
fn one_spec_gives_one_node_version_on_every_target() {
    let newer = Version::new(22, 99, 0);
    // The binaries come from the shared test cache (fetched from the npm registry once); the
    // mirror only answers which releases exist.
    for platform in ["linux-x64", "darwin-x64", "win-x64"] {
        real_node(NODE_22, platform).unwrap();
    }
    let releases = [
        IndexedRelease { version: newer, lts: Some("Jod"), files: vec!["linux-x64", "win-x64-zip"] },
        IndexedRelease { version: NODE_22, lts: Some("Jod"), files: vec!["linux-x64", "osx-x64-tar", "win-x64-zip"] },
        IndexedRelease { version: Version::new(24, 0, 0), lts: None, files: vec!["linux-x64", "linux-arm64"] },
    ];
    let tree = DistTree::build(&releases, &[]).unwrap();
    let mirror = MirrorServer::serve(tree.root()).unwrap();
    let (_keep, dir) = temp();
    greet_workspace(&dir, &["host"], "22", false);
    let mut command = cli(&dir, &["sea", "--target", "all"]);
    command.env("SEA_BUILD_NODE_SOURCES", "dist").env("SEA_BUILD_NODE_MIRROR", mirror.url()).env("SEA_BUILD_WINE", "off");
    let started = std::time::Instant::now();
    let (summary, log) = run_ok(&mut command);
    eprintln!("--target all: {:.1} s\n{log}\n{summary}", started.elapsed().as_secs_f64());
    assert!(log.contains(&format!("node 22 is {NODE_22} for every target, the newest release all of them have (linux-x64 has {newer}, win-x64 has {newer})")), "{log}");
    let mut built: Vec<(String, Version)> = Vec::new();
    for platform in Platform::all() {
        let path = dir.join("target/sea").join(platform.rust_triple()).join("greet.sea.json");
        if path.exists() {
            let manifest = manifest(&dir, platform);
            built.push((manifest.platform, manifest.node_version));
        }
    }
    assert_eq!(built, [("linux-x64".to_owned(), NODE_22), ("darwin-x64".to_owned(), NODE_22), ("win-x64".to_owned(), NODE_22)], "{summary}");
    let lock = LockFile::read(&dir.join("sea.lock")).unwrap();
    let mut pins: Vec<(String, String, Version)> = lock.nodes.iter().map(|n| (n.request.clone(), n.target.clone(), n.version)).collect();
    pins.sort();
    assert_eq!(pins, ["darwin-x64", "linux-x64", "win-x64"].map(|t| ("22".to_owned(), t.to_owned(), NODE_22)));
    assert_eq!(manifest(&dir, "linux-x64".parse().unwrap()).run_time_check, Execution::Native);
    assert!(summary.contains("greet (win-x64): not run here: no Wine here") && summary.contains("greet (darwin-x64): not run here"), "{summary}");

    // Built again, the lock is what it was.
    let before = std::fs::read_to_string(dir.join("sea.lock")).unwrap();
    run_ok(&mut command);
    assert_eq!(std::fs::read_to_string(dir.join("sea.lock")).unwrap(), before);
}

/// The sequence that once left sea.lock contradicting itself: a request pinned for two
/// targets, then a build for another target (whose newest release is newer), then a build of
/// two of them together. A target added later keeps the version already pinned, so every
/// step builds and the lock ends with one version for all three.
#[test]
fn a_target_added_later_keeps_the_version_the_lock_pins() {
    let newer = Version::new(22, 99, 0);
    for platform in ["linux-x64", "darwin-x64", "win-x64"] {
        real_node(NODE_22, platform).unwrap();
    }
    // Only linux-x64 (the host) has the newer release; the mirror answers which releases exist.
    let releases =
        [IndexedRelease { version: newer, lts: Some("Jod"), files: vec!["linux-x64"] }, IndexedRelease { version: NODE_22, lts: Some("Jod"), files: vec!["linux-x64", "osx-x64-tar", "win-x64-zip"] }];
    let tree = DistTree::build(&releases, &[]).unwrap();
    let mirror = MirrorServer::serve(tree.root()).unwrap();
    let (_keep, dir) = temp();
    greet_workspace(&dir, &["host"], "22", false);
    let sea = |targets: &[&str]| {
        let mut args = vec!["sea"];
        for target in targets {
            args.extend(["--target", target]);
        }
        let mut command = cli(&dir, &args);
        command.env("SEA_BUILD_NODE_SOURCES", "dist").env("SEA_BUILD_NODE_MIRROR", mirror.url()).env("SEA_BUILD_WINE", "off");
        let (summary, log) = run_ok(&mut command);
        let lock = LockFile::read(&dir.join("sea.lock")).unwrap();
        let mut pins: Vec<(String, Version)> = lock.nodes.iter().map(|node| (node.target.clone(), node.version)).collect();
        pins.sort();
        (pins, format!("{log}\n{summary}"))
    };
    let (pins, _) = sea(&["win-x64", "darwin-x64"]);
    assert_eq!(pins, [("darwin-x64".to_owned(), NODE_22), ("win-x64".to_owned(), NODE_22)]);
    let (pins, log) = sea(&[]);
    assert_eq!(pins, ["darwin-x64", "linux-x64", "win-x64"].map(|target| (target.to_owned(), NODE_22)), "{log}");
    assert_eq!(manifest(&dir, Platform::host().unwrap()).node_version, NODE_22, "{log}");
    let (pins, log) = sea(&["win-x64", "linux-x64"]);
    assert_eq!(pins, ["darwin-x64", "linux-x64", "win-x64"].map(|target| (target.to_owned(), NODE_22)), "{log}");
}

/// With the official site unreachable (as behind a proxy that lets only the npm registry
/// through), the first source fails once, is named once, and is not asked again for the
/// other target: both nodes come from the npm registry into an empty cache. The source the
/// lock then names is asked first.
#[test]
fn an_unreachable_source_is_named_once_and_not_asked_again() {
    let (_keep, dir) = temp();
    let (_keep_cache, cache) = temp();
    greet_workspace(&dir, &["host"], &NODE_22.to_string(), false);
    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = format!("http://{closed}");
    let mut command = cli(&dir, &["sea", "--target", "linux-x64", "--target", "linux-arm64"]);
    command.env("SEA_BUILD_CACHE_DIR", &cache).env("SEA_BUILD_NODE_SOURCES", "dist,npm").env("SEA_BUILD_NODE_MIRROR", &unreachable).env("SEA_BUILD_WINE", "off");
    let started = std::time::Instant::now();
    let (summary, log) = run_ok(&mut command);
    eprintln!("two nodes from the npm registry after an unreachable mirror: {:.1} s\n{log}\n{summary}", started.elapsed().as_secs_f64());
    let naming: Vec<&str> = log.lines().filter(|line| line.contains(&closed.to_string())).collect();
    assert!(naming.len() == 1 && naming[0].contains("not asked again in this run"), "the unreachable mirror must be named once:\n{log}");
    assert!(!log.contains("linux-arm64 from dist"), "the mirror was asked again:\n{log}");
    for platform in ["linux-x64", "linux-arm64"] {
        assert_eq!(manifest(&dir, platform.parse().unwrap()).node_source, "npm", "{log}");
    }

    // The lock now pins npm: another machine (an empty cache) with a working mirror listed
    // first still asks npm first, and never the mirror.
    let tree = DistTree::build(&[IndexedRelease { version: NODE_22, lts: Some("Jod"), files: vec!["linux-x64"] }], &[]).unwrap();
    let mirror = MirrorServer::serve(tree.root()).unwrap();
    let (_keep_other, other_cache) = temp();
    let mut command = cli(&dir, &["sea", "--target", "linux-x64"]);
    command.env("SEA_BUILD_CACHE_DIR", &other_cache).env("SEA_BUILD_NODE_SOURCES", "dist,npm").env("SEA_BUILD_NODE_MIRROR", mirror.url());
    let (_, log) = run_ok(&mut command);
    assert_eq!(mirror.hits(&format!("{}/SHASUMS256.txt", NODE_22.tag())) + mirror.hits("index.json") + mirror.archive_hits(), 0, "{log}");
    assert!(log.contains(&format!("downloading node {NODE_22} for linux-x64 from npm")), "{log}");
}

/// `sea --archive` writes every target's release archive next to its artifact, from two
/// checkout paths: the same bytes from both, its SHA-256 and size in the manifest, read by GNU
/// tar and xz or by unzip: the top directory, the executable (0755, owner 0, 1980-01-01) equal to
/// the artifact, and node's LICENSE where node came with one; the unpacked Linux SEA runs.
#[test]
fn release_archives_are_identical_from_two_checkouts_and_hold_the_artifact_and_license() {
    let (_keep, dir) = temp();
    // CI: one archive format; the whole matrix: both, and a Mach-O artifact too.
    let platforms: &[&str] = if sea_build_tests::full_matrix() { &["linux-x64", "darwin-x64", "win-x64"] } else { &["linux-x64"] };
    let checkouts = [dir.join("a"), dir.join("second/checkout path")];
    for root in &checkouts {
        greet_workspace(root, platforms, &NODE_22.to_string(), true);
        let (summary, _) = run_ok(cli(root, &["sea", "--archive"]).current_dir(&dir));
        eprintln!("{summary}");
        assert!(summary.contains("on disk") && summary.contains("greet-linux-x64.tar.xz"), "{summary}");
        assert!(summary.contains("greet-win-x64.zip") || !platforms.contains(&"win-x64"), "{summary}");
    }
    for &name in platforms {
        let platform: Platform = name.parse().unwrap();
        let [a, b] = checkouts.each_ref().map(|root| {
            let record = manifest(root, platform).archive.unwrap_or_else(|| panic!("{name}: no archive in the manifest"));
            let bytes = std::fs::read(artifact(root, platform).with_file_name(&record.file)).unwrap();
            assert_eq!((sea_build::digest::sha256_hex(&bytes), bytes.len() as u64), (record.sha256.clone(), record.bytes), "{name}: the manifest describes the archive");
            bytes
        });
        assert!(a == b, "{name}: the two checkouts gave different archives");

        let built = artifact(&checkouts[0], platform);
        let exe = built.file_name().unwrap();
        let stem = format!("greet-{name}");
        let archive = built.with_file_name(&manifest(&checkouts[0], platform).archive.unwrap().file);
        // Published like any build output: readable by everyone, not a temporary file's 0600.
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777, 0o644, "{archive}");
        let unpacked = dir.join(format!("unpacked-{name}"));
        std::fs::create_dir_all(&unpacked).unwrap();
        // The licence the cache verified with node, which the archive carries.
        let license = real_node(NODE_22, name).unwrap().license;
        let mut expected = vec![format!("{stem}/"), format!("{stem}/{exe}")];
        if license.is_some() {
            expected.push(format!("{stem}/LICENSE"));
        }
        if platform.os == sea_build::node::Os::Windows {
            let listing = sea_build_tests::clean_output("unzip", &["-Z", "-T", archive.as_str()]);
            let names: Vec<&str> = listing.lines().filter(|line| line.starts_with(['-', 'd'])).filter_map(|line| line.split_whitespace().nth(7)).collect();
            assert_eq!(names, expected, "{name}:\n{listing}");
            assert!(listing.lines().filter(|line| line.ends_with(exe)).all(|line| line.starts_with("-rwxr-xr-x") && line.contains(" 19800101.000000 ")), "{name}:\n{listing}");
            sea_build_tests::clean_output("unzip", &["-q", archive.as_str(), "-d", unpacked.as_str()]);
        } else {
            let listing = String::from_utf8(Command::new("tar").args(["--numeric-owner", "--full-time", "-tvJf", archive.as_str()]).env("TZ", "UTC").output().unwrap().stdout).unwrap();
            let names: Vec<&str> = listing.lines().filter_map(|line| line.split_whitespace().nth(5)).collect();
            assert_eq!(names, expected, "{name}:\n{listing}");
            for line in listing.lines() {
                assert!(line.contains(" 0/0 ") && line.contains(" 1980-01-01 00:00:00 "), "{name}: {line}");
                let mode = if line.ends_with("LICENSE") {
                    "-rw-r--r--"
                } else if line.ends_with('/') {
                    "drwxr-xr-x"
                } else {
                    "-rwxr-xr-x"
                };
                assert!(line.starts_with(mode), "{name}: {line}");
            }
            sea_build_tests::clean_output("tar", &["-xJf", archive.as_str(), "-C", unpacked.as_str()]);
        }
        assert!(std::fs::read(unpacked.join(&stem).join(exe)).unwrap() == std::fs::read(&built).unwrap(), "{name}: the archive holds the artifact");
        if let Some(license) = &license {
            assert_eq!(std::fs::read(unpacked.join(&stem).join("LICENSE")).unwrap(), std::fs::read(license).unwrap(), "{name}: node's LICENSE");
        }
        if platform == Platform::host().unwrap() {
            let run = Command::new(unpacked.join(&stem).join(exe)).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&run.stdout), format!("Hello from linux-x64 v{NODE_22}\n"), "{}", String::from_utf8_lossy(&run.stderr));
        }
    }
}
