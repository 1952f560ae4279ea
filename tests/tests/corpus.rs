//! The real-program corpus ([`sea_build_tests::corpus`]): popular command-line programs from the
//! npm registry, pinned, each declared with nothing but `main` (its bin script) and
//! `verify-args`, built with the defaults from pinned nodes and run with a real input whose
//! output is checked, natively, under Wine (win-x64) and under qemu (linux-arm64).
//!
//! CI runs a slice of each matrix; `cargo xtask test --full` runs all of it: every program on
//! node 22, 24 and 26 for linux-x64, and five on win-x64 and linux-arm64. Each test prints its
//! table (how the program shipped, files and bytes mounted, the cache, the build time).

use std::time::Instant;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::{Artifact, CacheAccepted};
use sea_build::node::{NodeFetcher, Os, Platform, SourceKind, Version};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::{Invocation, Processes, Runner};
use sea_build::runtime::TargetRunner;
use sea_build::{Env, SeaMetadata};
use sea_build_tests::corpus::{CI_SLICE, Expect, PROGRAMS, Program, Trait};
use sea_build_tests::nodes::pinned::{NODE_22, NODE_24, NODE_26};
use sea_build_tests::nodes::test_env;
use sea_build_tests::packages::install_program;
use sea_build_tests::{full_matrix as full, temp_dir as temp};

/// What one program's build and run gave, for the table.
struct Row {
    name: &'static str,
    shipped: String,
    cache: CacheAccepted,
    build_seconds: f64,
}

/// Builds `program` (installed in `package_dir`) from node `version` for `platform` into `out`,
/// declared with only `main` and `verify-args` (and `compress` when asked).
fn build(program: &Program, package_dir: &Utf8Path, version: Version, platform: Platform, out: &Utf8Path, compress: bool) -> Result<Artifact, String> {
    build_with(program, package_dir, version, platform, out, SeaMetadata { compress: compress.then_some(true), ..SeaMetadata::default() })
}

/// [`build`] with more fields declared: `metadata` without `main`, `verify-args` and
/// `node-version`.
fn build_with(program: &Program, package_dir: &Utf8Path, version: Version, platform: Platform, out: &Utf8Path, metadata: SeaMetadata) -> Result<Artifact, String> {
    let metadata = SeaMetadata {
        main: Some(format!("node_modules/{}/{}", program.package.0, program.bin).into()),
        verify_args: program.verify_args.iter().map(|arg| (*arg).to_owned()).collect(),
        node_version: Some(version.to_string()),
        ..metadata
    };
    let sea = metadata.resolve(program.name, package_dir, "corpus").map_err(|error| format!("{error:#}"))?;
    let fetcher = NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm]);
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &test_env() };
    pipeline.build(&sea, platform, out).map_err(|error| format!("{error:#}"))
}

/// Runs the artifact with the program's real input in a fresh work directory (natively,
/// under Wine or qemu) and checks its exit status and output.
fn run_real_input(program: &Program, artifact: &Artifact, platform: Platform) -> Result<(), String> {
    let (_keep, work) = temp();
    for (path, text) in program.files {
        let path = work.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let target = TargetRunner::for_target(platform, &artifact.node.path, &Processes, &test_env()).map_err(|error| format!("{error:#}"))?;
    let mut invocation = Invocation::new(artifact.path.clone(), program.args.iter().copied());
    invocation.cwd = Some(work.clone());
    invocation.clean_env = true;
    invocation.env = ["PATH", "HOME"].iter().filter_map(|name| Some(((*name).to_owned(), Env::from_process().var(name)?))).collect();
    invocation.stdin = program.stdin.map(|text| text.as_bytes().to_vec());
    let output = target.run(&invocation).map_err(|error| format!("{error:#}"))?;
    let windows = platform.os == Os::Windows;
    let clean = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        if windows { text.replace("\r\n", "\n") } else { text }
    };
    let (stdout, stderr) = (clean(&output.stdout), clean(&output.stderr));
    let shown = || format!("exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.code);
    if output.code != Some(program.status) {
        return Err(format!("exited {:?}, not {}: {}", output.code, program.status, shown()));
    }
    let matches = match &program.expect {
        Expect::Exactly(expected) => stdout == *expected,
        Expect::Contains(needles) => needles.iter().all(|needle| stdout.contains(needle)),
    };
    if !matches {
        return Err(format!("unexpected output: {}", shown()));
    }
    if let Some(missing) = program.stderr.iter().find(|needle| !stderr.contains(*needle)) {
        return Err(format!("stderr lacks `{missing}`: {}", shown()));
    }
    if stderr.contains("Code cache data rejected") {
        return Err(format!("a code cache was rejected: {}", shown()));
    }
    Ok(())
}

/// Builds and runs each of `programs` on `version` for `platform`; fails naming every program
/// that did not build, run or accept its cache, after printing the table. With `compress`, a
/// mounted package must also be stored smaller than it is.
fn check_matrix(programs: &[&Program], version: Version, platform: &str, compress: bool) {
    let platform: Platform = platform.parse().unwrap();
    let (_keep, dir) = temp();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for program in programs {
        let package_dir = install_program(program).unwrap();
        let started = Instant::now();
        let result = build(program, &package_dir, version, platform, &dir.join(program.name), compress).and_then(|artifact| {
            let build_seconds = started.elapsed().as_secs_f64();
            if artifact.manifest.code_cache_embedded && artifact.manifest.cache_accepted != CacheAccepted::Yes {
                return Err(format!("its code cache is {}", artifact.manifest.cache_accepted));
            }
            run_real_input(program, &artifact, platform)?;
            let fetcher = NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm]);
            let report = sea_build::verify::verify(&artifact.path, &[], &fetcher, &Processes, &test_env()).map_err(|error| format!("{error:#}"))?;
            if !report.passed() {
                return Err(format!("verify-cache failed: {report:#?}"));
            }
            let module_caches = report.checks.iter().any(|check| check.name == "mounted modules' caches");
            if artifact.manifest.mounted.is_some_and(|mounted| mounted.module_caches) != module_caches {
                return Err(format!("verify-cache did not check the module caches the manifest records: {report:#?}"));
            }
            let shipped = match artifact.manifest.mounted {
                Some(mounted) => {
                    let stored = match (compress, mounted.compressed) {
                        (false, None) => String::new(),
                        (true, Some(stored)) if stored < mounted.bytes => format!(" ({:.1} MB deflated)", stored as f64 / 1e6),
                        (_, stored) => return Err(format!("compress = {compress}, yet the manifest records {stored:?} bytes stored of {}", mounted.bytes)),
                    };
                    format!("mounted: {} files, {:.1} MB{stored}, module caches {}", mounted.files, mounted.bytes as f64 / 1e6, if mounted.module_caches { "yes" } else { "no" })
                }
                None => "bundled".to_owned(),
            };
            Ok(Row { name: program.name, shipped, cache: artifact.manifest.cache_accepted, build_seconds })
        });
        match result {
            Ok(row) => rows.push(row),
            Err(error) => failures.push(format!("{} {}: {error}", program.name, program.package.1)),
        }
    }
    eprintln!("node {version}, {platform}: {} of {} built and ran correctly", rows.len(), programs.len());
    for row in &rows {
        eprintln!("  {:<22} {:<52} cache {:<18} built in {:.1} s", row.name, row.shipped, row.cache.to_string(), row.build_seconds);
    }
    assert!(failures.is_empty(), "{} of {} failed on node {version} for {platform}:\n{}", failures.len(), programs.len(), failures.join("\n\n"));
}

/// The CI slice, or with `--full` every program; `SEA_BUILD_TEST_PROGRAMS=a,b` picks programs by
/// name (while working on them).
fn programs(slice: std::ops::Range<usize>) -> Vec<&'static Program> {
    if let Some(names) = Env::from_process().var("SEA_BUILD_TEST_PROGRAMS") {
        return PROGRAMS.iter().filter(|program| names.split(',').any(|name| name == program.name)).collect();
    }
    if full() { PROGRAMS.iter().collect() } else { PROGRAMS[slice].iter().collect() }
}

/// Programs that run on any target: no native addon (npm installed this machine's alone).
fn portable(count: usize) -> Vec<&'static Program> {
    PROGRAMS.iter().filter(|program| !program.traits.iter().any(|t| matches!(t, Trait::NativeAddon))).take(count).collect()
}

#[test]
fn corpus_on_node_24_for_linux_x64() {
    check_matrix(&programs(0..CI_SLICE), NODE_24, "linux-x64", false);
}

#[test]
fn corpus_on_node_22_for_linux_x64() {
    check_matrix(&programs(0..CI_SLICE / 2), NODE_22, "linux-x64", false);
}

#[test]
fn corpus_on_node_26_for_linux_x64() {
    check_matrix(&programs(CI_SLICE / 2..CI_SLICE), NODE_26, "linux-x64", false);
}

#[test]
fn corpus_on_node_24_for_win_x64_under_wine() {
    check_matrix(&portable(if full() { 5 } else { 2 }), NODE_24, "win-x64", false);
}

#[test]
fn corpus_on_node_24_for_linux_arm64_under_qemu() {
    check_matrix(&portable(if full() { 5 } else { 2 })[..], NODE_24, "linux-arm64", false);
}

/// Mounted, with its files stored deflated (`compress = true`): programs that load files by
/// computed paths (so they are mounted), or with `--full` every program.
#[test]
fn corpus_compressed_on_node_24_for_linux_x64() {
    let mounted = PROGRAMS.iter().filter(|program| program.traits.iter().any(|t| matches!(t, Trait::ComputedRequire))).take(3).collect::<Vec<_>>();
    let chosen = if full() || Env::from_process().var("SEA_BUILD_TEST_PROGRAMS").is_some() { programs(0..0) } else { mounted };
    check_matrix(&chosen, NODE_24, "linux-x64", true);
}

/// A copy of `program`'s installed directory at `to` (a second checkout of the same package).
fn copy_tree(from: &Utf8Path, to: &Utf8Path) {
    for entry in walk(from) {
        let target = to.join(entry.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
}

fn walk(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let mut files = Vec::new();
    for entry in dir.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        let kind = std::fs::metadata(entry.path()).unwrap();
        if kind.is_dir() {
            files.extend(walk(entry.path()));
        } else {
            files.push(entry.path().to_owned());
        }
    }
    files
}

#[test]
fn a_mounted_program_from_two_checkout_paths_gives_identical_artifacts() {
    let program = PROGRAMS.iter().find(|program| program.name == "uglify-js").unwrap();
    let installed = install_program(program).unwrap();
    let (_keep, dir) = temp();
    let checkouts = [dir.join("a"), dir.join("second/checkout/path")];
    let artifacts: Vec<Artifact> = checkouts
        .iter()
        .map(|checkout| {
            copy_tree(&installed, checkout);
            build(program, checkout, NODE_24, Platform::host().unwrap(), &checkout.join("out"), true).unwrap()
        })
        .collect();
    let mounted = artifacts[0].manifest.mounted.expect("uglify-js reads its own files, so it ships mounted");
    assert!(mounted.module_caches && mounted.files > 10, "{mounted:?}");
    assert_eq!(artifacts[0].manifest.mounted, artifacts[1].manifest.mounted);
    let [a, b] = [0, 1].map(|i| std::fs::read(&artifacts[i].path).unwrap());
    assert!(a == b, "the two checkouts gave different artifacts");
    let checkout = dir.as_str().as_bytes();
    assert!(!a.windows(checkout.len()).any(|window| window == checkout), "the checkout path leaked into the artifact");
}

#[test]
fn a_native_addon_is_written_once_verified_and_survives_a_start_killed_while_writing_it() {
    let program = PROGRAMS.iter().find(|program| program.traits.iter().any(|t| matches!(t, Trait::NativeAddon)) && program.name == "rollup").unwrap();
    let installed = install_program(program).unwrap();
    let (_keep, dir) = temp();
    let artifact = build(program, &installed, NODE_24, Platform::host().unwrap(), &dir.join("out"), false).unwrap();
    let cache = dir.join("addon-cache");
    let start = |args: &[&str]| {
        let mut command = std::process::Command::new(&artifact.path);
        command.args(args).env_clear().env("SEA_BUILD_NATIVE_CACHE", &cache).current_dir(&dir);
        command
    };
    std::fs::write(dir.join("main.js"), "export const answer = 42;\nconsole.log(answer);\n").unwrap();

    // What a start killed while writing leaves: a temporary directory of a process that is
    // gone, holding part of the tree, and no tree.
    let first = start(&["main.js", "--format", "cjs"]).output().unwrap();
    assert!(first.status.success(), "{first:?}");
    let tree = cache.read_dir_utf8().unwrap().map(|e| e.unwrap().path().to_owned()).next().unwrap();
    let gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    let mut gone = gone;
    gone.wait().unwrap();
    let partial = Utf8PathBuf::from(format!("{tree}.tmp-{dead_pid}-1f2e"));
    std::fs::rename(&tree, &partial).unwrap();
    let addon = walk(&partial).into_iter().find(|file| file.extension() == Some("node")).unwrap();
    let bytes = std::fs::read(&addon).unwrap();
    std::fs::write(&addon, &bytes[..bytes.len() / 3]).unwrap();

    // And real kills, at growing delays, each into a fresh cache: whatever they leave, the
    // next start in that cache works.
    let mut killed_while_writing = 0;
    for step in 0..30u64 {
        let fresh = dir.join(format!("killed-{step}"));
        let mut child = start(&["main.js"]).env("SEA_BUILD_NATIVE_CACHE", &fresh).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60 + 2 * step));
        let _ = child.kill();
        let _ = child.wait();
        let left: Vec<String> = fresh.read_dir_utf8().map(|entries| entries.map(|e| e.unwrap().file_name().to_owned()).collect()).unwrap_or_default();
        if left.iter().any(|name| name.contains(".tmp-")) {
            killed_while_writing += 1;
            let next = start(&["main.js", "--format", "cjs"]).env("SEA_BUILD_NATIVE_CACHE", &fresh).output().unwrap();
            assert!(next.status.success(), "after a start killed while writing ({left:?}): {next:?}");
        }
    }
    eprintln!("{killed_while_writing} of 30 starts were killed while writing the addon; the start after each worked");

    let output = start(&["main.js", "--format", "cjs"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("console.log(answer)"), "{output:?}");
    let trees: Vec<Utf8PathBuf> = cache.read_dir_utf8().unwrap().map(|e| e.unwrap().path().to_owned()).collect();
    assert_eq!(trees, std::slice::from_ref(&tree), "one tree, named by its SHA-256, and the dead start's temporary directory swept");
    let addon = walk(&tree).into_iter().find(|file| file.extension() == Some("node")).expect("the addon was written out");
    assert_eq!(std::fs::read(&addon).unwrap(), bytes);

    // A damaged addon is noticed before loading, and written again.
    std::fs::write(&addon, b"not the addon").unwrap();
    let output = start(&["main.js", "--format", "cjs"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_ne!(std::fs::read(&addon).unwrap(), b"not the addon");
}

/// The bytes of the mount's module caches in `artifact`'s blob.
fn module_caches_len(artifact: &Artifact) -> usize {
    let image = std::fs::read(&artifact.path).unwrap();
    let blob = sea_build::inject::find_blob(&image).unwrap().unwrap().to_vec();
    let version = artifact.manifest.node_version;
    let layout = sea_build::blob::BlobLayout::for_node_version(version.major, version.minor, version.patch).unwrap();
    let parsed = sea_build::blob::parse(&blob, layout).unwrap();
    parsed.assets.iter().find(|(key, _)| *key == sea_build::mount::CACHE_ASSET).map(|(_, bytes)| bytes.len()).unwrap()
}

#[test]
fn a_mounted_program_trains_its_module_caches_reproducibly_and_runs_correctly_on_other_input() {
    // terser ships mounted (acorn imports a computed path); trained on minifying its own
    // bundle, a long run with many collections, from two checkout paths.
    let program = PROGRAMS.iter().find(|program| program.name == "terser").unwrap();
    let installed = install_program(program).unwrap();
    let (_keep, dir) = temp();
    let host = Platform::host().unwrap();
    let plain = build(program, &installed, NODE_24, host, &dir.join("plain"), false).unwrap();
    let trained: Vec<Artifact> = [dir.join("a"), dir.join("second/checkout")]
        .iter()
        .map(|checkout| {
            copy_tree(&installed, checkout);
            let metadata: SeaMetadata =
                serde_json::from_value(serde_json::json!({"code-cache": "trained", "train-args": ["node_modules/terser/dist/bundle.min.js", "--compress", "--mangle", "--output", "trained.min.js"]}))
                    .unwrap();
            build_with(program, checkout, NODE_24, host, &checkout.join("out"), metadata).unwrap()
        })
        .collect();
    let mounted = trained[0].manifest.mounted.expect("terser ships mounted");
    assert!(mounted.module_caches && trained[0].manifest.code_cache_trained && !plain.manifest.code_cache_trained, "{:?}", trained[0].manifest);
    assert_eq!(trained[0].manifest.cache_accepted, CacheAccepted::Yes);
    let (trained_len, plain_len) = (module_caches_len(&trained[0]), module_caches_len(&plain));
    assert!(trained_len > plain_len + plain_len / 4, "trained module caches {trained_len} bytes, plain {plain_len}");
    eprintln!("terser module caches: plain {plain_len} bytes, trained {trained_len} bytes");
    // The corpus input, which it was not trained on: output checked, no cache rejected.
    run_real_input(program, &trained[0], host).unwrap();
    let report = sea_build::verify::verify(&trained[0].path, &[], &NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm]), &Processes, &test_env()).unwrap();
    assert!(report.passed() && report.checks.iter().any(|check| check.name == "mounted modules' caches"), "{report:#?}");
    assert_eq!(trained[0].manifest.artifact_sha256, trained[1].manifest.artifact_sha256, "a trained mount differs between checkout paths");
}
