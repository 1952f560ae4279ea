//! Windows SEAs: real win-x64 node 22 and 24 (from the npm registry) unsigned, given a blob
//! with a code cache made by that node.exe under Wine, injected, run under Wine, and checked
//! with independent tools (llvm-readobj, osslsigncode).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::CacheAccepted;
use sea_build::inject::pe::{find_blob, inject_to_vec};
use sea_build::node::{NodeBinary, NodeFetcher, Platform, VersionSpec};
use sea_build::pe::fixture::{bmp_image, ico};
use sea_build::pe::{PeHeaders, certificate_table, checksum, unsign};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::{Processes, Runner};
use sea_build::runtime::{CACHE_REJECTED, run_artifact};
use sea_build::wine::{UnderWine, Wine, find_wine, is_missing_placeholders};
use sea_build::{Sea, generate};
use sea_build_tests::greeter;
use sea_build_tests::identity::{Files, Form, TestCa};
use sea_build_tests::nodes::pinned::{NODE_22, NODE_24};
use sea_build_tests::nodes::{real_node, test_env};

/// The pinned node releases the Windows tests build with.
const VERSIONS: [sea_build::node::Version; 2] = [NODE_22, NODE_24];

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// Runs an independent checking tool, which `cargo xtask test` installs.
fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program).args(args).output().unwrap_or_else(|error| panic!("{program} is needed by this test (apt-get install llvm osslsigncode): {error}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// What `llvm-readobj --coff-resources` prints, for `path`.
fn coff_resources(path: &Utf8Path) -> String {
    let (ok, text) = tool("llvm-readobj", &["--coff-resources", path.as_str()]);
    assert!(ok, "llvm-readobj failed on {path}:\n{text}");
    text
}

/// What osslsigncode 2.x prints for a file without any signature.
const UNSIGNED: &str = "No signature found";
/// What it prints when the CheckSum field is stale.
const BAD_CHECKSUM: &str = "invalid PE checksum";

/// osslsigncode sees no signature (not a damaged one) and a correct checksum.
fn assert_unsigned(path: &Utf8Path) {
    let (ok, text) = tool("osslsigncode", &["verify", "-in", path.as_str()]);
    assert!(!ok, "osslsigncode verified {path}:\n{text}");
    assert!(text.contains(UNSIGNED), "{path}:\n{text}");
    assert!(!text.contains(BAD_CHECKSUM), "{path}:\n{text}");
}

#[test]
fn official_binaries_are_signed_with_a_checksum_we_reproduce() {
    for version in VERSIONS {
        let node = real_node(version, "win-x64").unwrap();
        let image = std::fs::read(&node.path).unwrap();
        let headers = PeHeaders::parse(&image).unwrap();
        // The linker's (or signer's) CheckSum is what we compute.
        assert_ne!(headers.check_sum, 0);
        assert_eq!(checksum(&image).unwrap(), headers.check_sum, "node {}", node.version);
        let table = certificate_table(&headers, &image).unwrap().expect("official node.exe is signed");
        assert_eq!(table.end, image.len());

        let unsigned = unsign(&image).unwrap();
        assert_eq!(unsigned.len(), table.start);
        // Only the CheckSum and the security directory entry change.
        let changed: Vec<usize> = unsigned.iter().zip(&image).enumerate().filter(|(_, (a, b))| a != b).map(|(at, _)| at).collect();
        let check_sum = headers.check_sum_offset();
        let directory = headers.data_directory_offset(4).unwrap();
        assert!(changed.iter().all(|at| (check_sum..check_sum + 4).contains(at) || (directory..directory + 8).contains(at)), "{changed:?}");
        let after = PeHeaders::parse(&unsigned).unwrap();
        assert!(after.data_directory(4).unwrap().is_empty());
        assert_eq!(checksum(&unsigned).unwrap(), after.check_sum);
        assert_eq!(unsign(&unsigned).unwrap(), unsigned, "unsigning twice changes nothing");

        // osslsigncode sees a valid signature structure before (its digest matches the
        // file), and no signature at all after; both with a matching PE checksum.
        let (dir_guard, dir) = temp();
        let (signed_path, unsigned_path) = (dir.join("signed.exe"), dir.join("unsigned.exe"));
        std::fs::write(&signed_path, &image).unwrap();
        std::fs::write(&unsigned_path, &unsigned).unwrap();
        let (_, before) = tool("osslsigncode", &["verify", "-in", signed_path.as_str()]);
        assert!(before.contains("Signer's certificate") && !before.contains(BAD_CHECKSUM), "{before}");
        assert_unsigned(&unsigned_path);
        drop(dir_guard);
    }
}

/// The `Type: ... [` blocks of `llvm-readobj --coff-resources` output, by their header line.
fn resource_types(listing: &str) -> Vec<(String, String)> {
    let mut types: Vec<(String, String)> = Vec::new();
    for line in listing.lines() {
        if let Some(header) = line.strip_prefix("  Type: ") {
            types.push((header.trim_end_matches(" [").to_owned(), String::new()));
        } else if let Some((_, body)) = types.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    types
}

/// The total resource count llvm-readobj reports (no count: no `.rsrc` section, 0).
fn resource_count(listing: &str) -> usize {
    listing.lines().find_map(|line| line.trim().strip_prefix("Total Number of Resources: ")).map_or(0, |count| count.parse().unwrap())
}

/// llvm-readobj finds the blob under RCDATA, language 0, with its exact size, next to every
/// resource the base had with the same bytes (and a manifest, when `expect_manifest`).
fn assert_blob_listed(base: &Utf8Path, app: &Utf8Path, blob_len: usize, expect_manifest: bool) {
    let (before, after) = (coff_resources(base), coff_resources(app));
    assert_eq!(resource_count(&after), resource_count(&before) + 1);
    let (types_before, types_after) = (resource_types(&before), resource_types(&after));
    let names = |types: &[(String, String)]| types.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
    let mut expected = names(&types_before);
    if !expected.iter().any(|name| name == "RCDATA (ID 10)") {
        expected.push("RCDATA (ID 10)".into());
        expected.sort_by_key(|name| name.split("(ID ").nth(1).and_then(|id| id.trim_end_matches(')').parse::<u16>().ok()));
    }
    assert_eq!(names(&types_after), expected);
    // Every resource's bytes (the hex dumps) survive, the manifest's among them.
    let dumps = |body: &str| body.split("Data (").skip(1).map(|dump| dump.split(')').next().unwrap_or_default().to_owned()).collect::<Vec<_>>();
    for (name, body) in &types_before {
        let (_, after_body) = types_after.iter().find(|(other, _)| other == name).unwrap();
        if name == "RCDATA (ID 10)" {
            continue;
        }
        assert_eq!(dumps(after_body), dumps(body), "{name}");
    }
    if expect_manifest {
        let (_, manifest) = types_after.iter().find(|(name, _)| name == "MANIFEST (ID 24)").expect("the manifest survives");
        assert!(dumps(manifest).concat().contains("<?xml"), "{manifest}");
    }
    let (_, rcdata) = types_after.iter().find(|(name, _)| name == "RCDATA (ID 10)").unwrap();
    let blob_entry = rcdata.split("Name: ").find(|part| part.starts_with("NODE_SEA_BLOB [")).expect("NODE_SEA_BLOB under RCDATA");
    assert!(blob_entry.contains("Language: (ID 0)"), "{blob_entry}");
    assert!(blob_entry.contains(&format!("DataSize: {blob_len}\n")), "{blob_entry}");
}

#[test]
fn injected_official_binaries_keep_their_resources() {
    for version in VERSIONS {
        let node = real_node(version, "win-x64").unwrap();
        let image = unsign(&std::fs::read(&node.path).unwrap()).unwrap();
        let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let out = inject_to_vec(&image, &blob).unwrap();
        assert_eq!(find_blob(&out).unwrap(), Some(&blob[..]));
        let (_guard, dir) = temp();
        let (base, app) = (dir.join("node.exe"), dir.join("app.exe"));
        std::fs::write(&base, &image).unwrap();
        std::fs::write(&app, &out).unwrap();
        assert_blob_listed(&base, &app, blob.len(), true);
        assert_unsigned(&app);
        // Injecting again is refused.
        let error = inject_to_vec(&out, b"again").unwrap_err().to_string();
        assert!(error.contains("already carries a SEA blob"), "{error}");
    }
}

const MAIN: &str = "const { getAsset } = require('node:sea');\nconst text = getAsset('greeting.txt', 'utf8').trim();\nconsole.log(`${text} from ${process.version} on ${process.platform}`);\nif (process.argv.includes('--fail')) process.exit(3);\n";

/// Wine with its prefix in the shared test cache (created once, reused by later runs).
fn wine() -> &'static Wine {
    static WINE: OnceLock<Wine> = OnceLock::new();
    WINE.get_or_init(|| {
        let wine = find_wine(&test_env().without_var("SEA_BUILD_WINE_PREFIX")).unwrap().expect("these tests run Windows node under Wine, which `cargo xtask test` installs");
        let started = std::time::Instant::now();
        if wine.prepare(&Processes).unwrap() {
            eprintln!("created the Wine prefix {} in {:?}", wine.prefix, started.elapsed());
        }
        wine
    })
}

/// The greeter package with `main`, declaring a SEA for win-x64 on `node`'s version.
fn package(dir: &Utf8Path, node: &NodeBinary, code_cache: bool, main: &str) -> Sea {
    greeter::package(dir, main, VersionSpec::Exact(node.version), vec!["win-x64".parse::<Platform>().unwrap()], code_cache)
}

/// A Windows SEA built the way the pipeline builds Linux ones: unsigned node.exe, blob made
/// by that node.exe under Wine in a staging directory, injected.
struct WindowsSea {
    base: Utf8PathBuf,
    app: Utf8PathBuf,
    blob: Vec<u8>,
    code_cache: bool,
}

/// Builds a win-x64 SEA with the pipeline, as `cargo xtask sea --target win-x64` does: the
/// code cache made by the unsigned node.exe under Wine, checked under Wine before publishing.
fn build(node: &NodeBinary, dir: &Utf8Path, code_cache: bool) -> WindowsSea {
    wine();
    let sea = package(&dir.join("pkg"), node, code_cache, MAIN);
    let env = test_env().without_var("SEA_BUILD_WINE_PREFIX");
    let fetcher = NodeFetcher::from_env(&env).unwrap();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &env };
    let artifact = pipeline.build(&sea, "win-x64".parse().unwrap(), &dir.join("out")).unwrap();
    assert_eq!(artifact.path.file_name(), Some("greeter.exe"));
    assert_eq!(artifact.manifest.code_cache_embedded, code_cache);
    let expected = if code_cache { CacheAccepted::Yes } else { CacheAccepted::NoCache };
    assert_eq!(artifact.manifest.cache_accepted, expected, "node {}", node.version);
    if code_cache {
        let report = sea_build::verify::verify(&artifact.path, &[], &fetcher, &Processes, &env).unwrap();
        assert!(report.passed(), "verify-cache under Wine: {report:#?}");
        let under_wine = |check: &sea_build::verify::Check| check.name == "run-time check" && check.outcome.as_ref().is_ok_and(|detail| detail.starts_with("accepted, run under Wine (wine-"));
        assert!(report.checks.iter().any(under_wine), "{report:#?}");
    }
    let app = std::fs::read(&artifact.path).unwrap();
    let blob = find_blob(&app).unwrap().expect("the pipeline's artifact carries the blob").to_vec();
    let base = dir.join("node.exe");
    std::fs::write(&base, unsign(&std::fs::read(&node.path).unwrap()).unwrap()).unwrap();
    // A staging directory as the pipeline's, for tests that generate blobs by hand.
    let staging = dir.join("staging");
    let staged = generate::stage(&sea, node.version, node.platform, None, &staging, &Processes).unwrap();
    let config = generate::sea_config(&sea, &staged, node.version, code_cache);
    std::fs::write(staging.join("sea-config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    WindowsSea { base, app: artifact.path, blob, code_cache }
}

/// [`build`], with the blob generated by `generator` (default: the unsigned node.exe).
fn build_with(node: &NodeBinary, dir: &Utf8Path, code_cache: bool, main: &str, generator: Option<&Utf8Path>, runner: &dyn Runner) -> WindowsSea {
    let unsigned = unsign(&std::fs::read(&node.path).unwrap()).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let base = dir.join("node.exe");
    std::fs::write(&base, &unsigned).unwrap();
    let sea = package(&dir.join("pkg"), node, code_cache, main);
    let staging = dir.join("staging");
    let staged = generate::stage(&sea, node.version, node.platform, None, &staging, &Processes).unwrap();
    let blob = generate::generate(&sea, &staged, node.version, generator.unwrap_or(&base), code_cache, &staging, runner).unwrap();
    assert_eq!(blob.code_cache, code_cache);
    let app = dir.join("greeter.exe");
    std::fs::write(&app, inject_to_vec(&unsigned, &blob.bytes).unwrap()).unwrap();
    WindowsSea { base, app, blob: blob.bytes, code_cache }
}

#[test]
fn windows_seas_run_under_wine_with_their_cache_and_asset() {
    for version in VERSIONS {
        let node = real_node(version, "win-x64").unwrap();
        let (_keep, dir) = temp();
        match wine().check_node(&node.path, &Processes) {
            Ok(()) => {}
            Err(error) if version.major != 22 && is_missing_placeholders(&error) => {
                // Wine 8.0 (Debian 12) cannot start node 24 at all: see sea_build::wine.
                // Without a runnable node there is no code cache; the blob comes from the
                // same node version for this machine, as for any target that does not run
                // here, and only the static checks apply.
                eprintln!("node {version}: {error:#}; checking a SEA without code cache instead");
                check_without_wine(&node, &dir);
                continue;
            }
            Err(error) => panic!("node {version} must run under Wine: {error:#}"),
        }
        let sea = build(&node, &dir.join("a"), true);
        assert!(sea.code_cache);

        let under_wine = UnderWine { wine: wine(), runner: &Processes };
        let run = run_artifact(&under_wine, &sea.app, &[], &[]).unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), run.stderr_text());
        assert!(run.success(), "node {version}: exit {:?}\n{stdout}\n{stderr}", run.code);
        assert_eq!(stdout, format!("hello, asset from v{version} on win32\n"), "node {version}");
        assert!(!stderr.contains(CACHE_REJECTED), "node {version}: {stderr}");
        assert_eq!(stderr, "", "node {version}: stderr must be empty");
        let failing = run_artifact(&under_wine, &sea.app, &["--fail".to_owned()], &[]).unwrap();
        assert_eq!(failing.code, Some(3), "exit codes pass through");

        // NODE_OPTIONS cannot change V8's flags (execArgvExtension "none"), so the cache holds.
        let hostile = [("NODE_OPTIONS".to_owned(), "--stack-trace-limit=5".to_owned())];
        let guarded = run_artifact(&under_wine, &sea.app, &[], &hostile).unwrap();
        assert!(guarded.success() && !guarded.stderr_text().contains(CACHE_REJECTED), "{}", guarded.stderr_text());

        // Negative control: a cache made under a different V8 flag is rejected, and node says
        // so on stderr under Wine too, so the checks above can fail.
        let staging = dir.join("a/staging");
        let mut skewed = sea_build::run::Invocation::new(&sea.base, ["--predictable", "--stack-trace-limit=5", "--experimental-sea-config", "sea-config.json"]);
        skewed.cwd = Some(staging.clone());
        let made = sea_build::run::Runner::run(&under_wine, &skewed).unwrap();
        assert!(made.success(), "{}", made.stderr_text());
        let skewed_app = dir.join("skewed.exe");
        let base = std::fs::read(&sea.base).unwrap();
        std::fs::write(&skewed_app, inject_to_vec(&base, &std::fs::read(staging.join("sea-prep.blob")).unwrap()).unwrap()).unwrap();
        let rejected = run_artifact(&under_wine, &skewed_app, &[], &[]).unwrap();
        assert!(rejected.stderr_text().contains(CACHE_REJECTED), "node {version}: {}", rejected.stderr_text());
        assert_eq!(String::from_utf8_lossy(&rejected.stdout), format!("hello, asset from v{version} on win32\n"));

        // The same blob from a checkout elsewhere: relative paths, --predictable.
        let again = build(&node, &dir.join("b/c/d"), true);
        assert_eq!(again.blob, sea.blob, "node {version}: blobs differ between directories");
        assert_eq!(std::fs::read(&again.app).unwrap(), std::fs::read(&sea.app).unwrap());

        assert_blob_listed(&sea.base, &sea.app, sea.blob.len(), true);
        assert_unsigned(&sea.app);
    }
}

const SNAPSHOT_MAIN: &str = "const v8 = require('node:v8');\nconst squares = [1, 2, 3].map((n) => n * n);\nv8.startupSnapshot.setDeserializeMainFunction(() => {\n  console.log(`squares ${squares.join(',')} [${process.argv.slice(2).join(' ')}] restored ${!v8.startupSnapshot.isBuildingSnapshot()} ${process.version} on ${process.platform}`);\n});\n";

#[test]
fn snapshot_seas_are_made_under_wine_and_start_from_their_snapshot() {
    wine();
    // Node 22 and 24 run under Wine 10; 24 is the one whose snapshot node.exe makes there.
    for version in VERSIONS {
        let node = real_node(version, "win-x64").unwrap();
        if let Err(error) = wine().check_node(&node.path, &Processes) {
            panic!("node {version} must run under Wine (10 or newer for node 24: `cargo xtask setup`): {error:#}");
        }
        let (_keep, dir) = temp();
        let mut sea = package(&dir.join("pkg"), &node, true, SNAPSHOT_MAIN);
        sea.use_snapshot = true;
        let env = test_env().without_var("SEA_BUILD_WINE_PREFIX");
        let fetcher = NodeFetcher::from_env(&env).unwrap();
        let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &env };
        let artifact = pipeline.build(&sea, "win-x64".parse().unwrap(), &dir.join("out")).unwrap_or_else(|error| panic!("node {version}: {error:#}"));
        assert!(artifact.manifest.startup_snapshot, "node {version}");

        let under_wine = UnderWine { wine: wine(), runner: &Processes };
        let run = run_artifact(&under_wine, &artifact.path, &["x".to_owned(), "y".to_owned()], &[]).unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), run.stderr_text());
        assert!(run.success(), "node {version}: exit {:?}\n{stdout}\n{stderr}", run.code);
        assert_eq!(stdout, format!("squares 1,4,9 [x y] restored true v{version} on win32\n"), "node {version}");
        assert_eq!(stderr, "", "node {version}: stderr must be empty");

        let report = sea_build::verify::verify(&artifact.path, &[], &fetcher, &Processes, &env).unwrap();
        assert!(report.passed(), "verify-cache under Wine: {report:#?}");
        let started = |check: &sea_build::verify::Check| check.name == "run-time check" && check.outcome.as_ref().is_ok_and(|detail| detail.starts_with("started from its snapshot, run under Wine"));
        assert!(report.checks.iter().any(started), "{report:#?}");
        let made_by = report.checks.iter().find(|check| check.name == "startup snapshot embedded").unwrap();
        assert!(made_by.outcome.as_ref().unwrap().contains(&format!("made by node {version} for win32-x64")), "{made_by:?}");
    }
}

const PRIMES_MAIN: &str = "function isPrime(n) { for (let d = 2; d * d <= n; d++) if (n % d === 0) return false; return n > 1; }\nfunction primes(limit) { const out = []; for (let n = 2; n <= limit; n++) if (isPrime(n)) out.push(n); return out; }\nconst limit = Number(process.argv[2] || 10);\nconsole.log(primes(limit).join(' '));\n";

#[test]
fn a_trained_cache_made_under_wine_is_accepted_and_correct_on_other_input() {
    wine();
    let node = real_node(NODE_24, "win-x64").unwrap();
    let (_keep, dir) = temp();
    let mut sea = package(&dir.join("pkg"), &node, true, PRIMES_MAIN);
    sea.train_args = Some(vec!["1000".to_owned()]);
    let env = test_env().without_var("SEA_BUILD_WINE_PREFIX");
    let fetcher = NodeFetcher::from_env(&env).unwrap();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &env };
    let artifact = pipeline.build(&sea, "win-x64".parse().unwrap(), &dir.join("out")).unwrap_or_else(|error| panic!("{error:#}"));
    assert!(artifact.manifest.code_cache_trained);
    assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes);
    let under_wine = UnderWine { wine: wine(), runner: &Processes };
    let run = run_artifact(&under_wine, &artifact.path, &["30".to_owned()], &[]).unwrap();
    assert!(run.success(), "exit {:?}: {}", run.code, run.stderr_text());
    assert_eq!(String::from_utf8_lossy(&run.stdout), "2 3 5 7 11 13 17 19 23 29\n");
    assert_eq!(run.stderr_text(), "", "the trained cache must be accepted under Wine");
    let report = sea_build::verify::verify(&artifact.path, &[], &fetcher, &Processes, &env).unwrap();
    assert!(report.passed(), "{report:#?}");
}

/// A SEA for a node.exe that does not run here: blob without cache from the same node version
/// for linux-x64, injected, checked statically.
fn check_without_wine(node: &NodeBinary, dir: &Utf8Path) {
    let generator = real_node(node.version, "linux-x64").unwrap();
    let sea = build_with(node, &dir.join("static"), false, MAIN, Some(&generator.path), &Processes);
    let out = std::fs::read(&sea.app).unwrap();
    assert_eq!(find_blob(&out).unwrap(), Some(&sea.blob[..]));
    assert_blob_listed(&sea.base, &sea.app, sea.blob.len(), true);
    assert_unsigned(&sea.app);
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> std::time::Duration {
    let mut times: Vec<_> = (0..runs)
        .map(|_| {
            let started = std::time::Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Figures for the documentation: `cargo test --release -p sea-build-tests --test windows
/// timings -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run it explicitly, in release mode"]
fn timings() {
    let node = real_node(NODE_22, "win-x64").unwrap();
    let (_keep, dir) = temp();
    let copy = dir.join("copy.exe");
    let cp = median(5, || assert!(Command::new("cp").args([node.path.as_str(), copy.as_str()]).status().unwrap().success()));
    let blob: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let out = dir.join("app.exe");
    let inject_file = median(5, || {
        let image = std::fs::read(&node.path).unwrap();
        let unsigned = unsign(&image).unwrap();
        drop(image);
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out).unwrap());
        sea_build::inject::pe::inject(&unsigned, &blob, &mut writer).unwrap();
        std::io::Write::flush(&mut writer).unwrap();
    });
    let unsigned = unsign(&std::fs::read(&node.path).unwrap()).unwrap();
    let inject_only = median(5, || {
        sea_build::inject::pe::inject(&unsigned, &blob, &mut std::io::sink()).unwrap();
    });
    eprintln!("node {} ({} bytes): cp {cp:?}; read + unsign + inject 1 MB blob + write {inject_file:?}; inject alone (to a sink) {inject_only:?}", node.version, unsigned.len());

    let fresh = Wine { program: wine().program.clone(), prefix: dir.join("fresh-prefix") };
    let started = std::time::Instant::now();
    assert!(fresh.prepare(&Processes).unwrap());
    eprintln!("Wine prefix creation: {:?}", started.elapsed());

    // A main of some size, so that the cache matters: many small functions, a few called.
    let mut main = String::from(MAIN);
    for index in 0..20_000 {
        main.push_str(&format!("function f{index}(a, b) {{ const c = [a, b, {index}].map((x) => x * 2); return c.reduce((s, x) => s + x, 0) + '{index}'.length; }}\n"));
    }
    main.push_str("f1(1, 2); f19999(3, 4);\n");
    let under_wine = UnderWine { wine: wine(), runner: &Processes };
    for code_cache in [true, false] {
        let sea = build_with(&node, &dir.join(format!("cache-{code_cache}")), code_cache, &main, None, &under_wine);
        let startup = median(9, || {
            let run = run_artifact(&under_wine, &sea.app, &[], &[]).unwrap();
            assert!(run.success() && !run.stderr_text().contains(CACHE_REJECTED), "exit {:?}, timed out {}: {:?} {}", run.code, run.timed_out, String::from_utf8_lossy(&run.stdout), run.stderr_text());
        });
        eprintln!("SEA ({} bytes of main) under Wine, code cache {code_cache}: start-up {startup:?} (median of 9)", main.len());
    }
    // The same code without the SEA asset lookup, as a plain script.
    std::fs::write(dir.join("plain.js"), main.replacen(MAIN, "", 1)).unwrap();
    let plain = median(9, || {
        let mut invocation = sea_build::run::Invocation::new(dir.join("cache-true/node.exe"), ["plain.js"]);
        invocation.cwd = Some(dir.clone());
        let run = under_wine.run(&invocation).unwrap();
        assert!(run.success(), "exit {:?}, timed out {}: {}", run.code, run.timed_out, run.stderr_text());
    });
    eprintln!("`node.exe plain.js` (the same functions) under Wine: {plain:?} (median of 9)");
    let version = median(9, || {
        assert!(under_wine.run(&sea_build::run::Invocation::new(dir.join("cache-true/node.exe"), ["--version"])).unwrap().success());
    });
    eprintln!("`node.exe --version` under Wine: {version:?} (median of 9)");
}

/// A tiny Windows program (no C runtime) that looks resources up with the loader's own
/// `FindResourceA`, as node does, and prints them; it carries the fuse so that it can be
/// injected.
const PROBE_C: &str = r#"
typedef unsigned long DWORD; typedef void *HANDLE;
__declspec(dllimport) HANDLE __stdcall GetStdHandle(DWORD);
__declspec(dllimport) int __stdcall WriteFile(HANDLE, const void *, DWORD, DWORD *, void *);
__declspec(dllimport) void __stdcall ExitProcess(unsigned);
__declspec(dllimport) HANDLE __stdcall FindResourceA(HANDLE, const char *, const char *);
__declspec(dllimport) HANDLE __stdcall LoadResource(HANDLE, HANDLE);
__declspec(dllimport) void *__stdcall LockResource(HANDLE);
__declspec(dllimport) DWORD __stdcall SizeofResource(HANDLE, HANDLE);
static volatile const char fuse[] = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:0";
static void put(const void *s, DWORD n) { DWORD w; WriteFile(GetStdHandle((DWORD)-11), s, n, &w, 0); }
static DWORD len(const char *s) { DWORD n = 0; while (s[n]) n++; return n; }
static void show(const char *name) {
  HANDLE found = FindResourceA(0, name, (const char *)10);
  put(name, len(name));
  put("=", 1);
  if (found) put(LockResource(LoadResource(0, found)), SizeofResource(0, found)); else put("(missing)", 9);
  put("\n", 1);
}
void start(void) {
  char state = fuse[sizeof(fuse) - 2];
  put("fuse=", 5); put(&state, 1); put("\n", 1);
  show("NODE_SEA_BLOB"); show("NODE_SEA_BLOA"); show("NODE_SEA_BLOBS"); show("AAA"); show("node_sea_blob");
  ExitProcess(0);
}
"#;

/// Named RCDATA neighbours on both sides of NODE_SEA_BLOB, an ID entry, and a manifest.
const PROBE_RC: &str = "NODE_SEA_BLOA RCDATA { \"before\" }\nNODE_SEA_BLOBS RCDATA { \"after\" }\nAAA RCDATA { \"first\" }\n7 RCDATA { \"numbered\" }\n1 24 \"probe.manifest\"\n";

const PROBE_MANIFEST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<assembly xmlns=\"urn:schemas-microsoft-com:asm.v1\" manifestVersion=\"1.0\"></assembly>\n";

/// Builds the probe with clang and lld-link, with or without the resources above.
fn probe_exe(dir: &Utf8Path, with_resources: bool) -> Utf8PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("probe.c"), PROBE_C).unwrap();
    std::fs::write(dir.join("kernel32.def"), "LIBRARY kernel32.dll\nEXPORTS\nGetStdHandle\nWriteFile\nExitProcess\nFindResourceA\nLoadResource\nLockResource\nSizeofResource\n").unwrap();
    let run = |program: &str, args: &[&str]| {
        let output = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|error| panic!("{program} is needed by this test (apt-get install clang lld llvm): {error}"));
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    run("llvm-dlltool", &["-m", "i386:x86-64", "-d", "kernel32.def", "-l", "kernel32.lib"]);
    run("clang", &["--target=x86_64-pc-windows-msvc", "-O1", "-c", "probe.c", "-o", "probe.obj"]);
    let mut link = vec!["/nologo", "/entry:start", "/subsystem:console", "/nodefaultlib", "/out:probe.exe", "probe.obj", "kernel32.lib"];
    if with_resources {
        std::fs::write(dir.join("probe.rc"), PROBE_RC).unwrap();
        std::fs::write(dir.join("probe.manifest"), PROBE_MANIFEST).unwrap();
        run("llvm-rc", &["/fo", "probe.res", "probe.rc"]);
        link.push("probe.res");
    }
    run("lld-link", &link);
    dir.join("probe.exe")
}

#[test]
fn the_windows_loader_finds_the_blob_in_minimal_executables() {
    let under_wine = UnderWine { wine: wine(), runner: &Processes };
    let (_keep, dir) = temp();
    for with_resources in [false, true] {
        let probe = probe_exe(&dir.join(format!("resources-{with_resources}")), with_resources);
        let image = std::fs::read(&probe).unwrap();
        let headers = PeHeaders::parse(&image).unwrap();
        assert_eq!(headers.data_directory(2).unwrap().is_empty(), !with_resources);
        let blob = b"the blob, as node would find it";
        let mut injected = Vec::new();
        let summary = sea_build::inject::pe::inject(&image, blob, &mut injected).unwrap();
        // lld-link puts .rsrc last: it is rewritten in place; without one, a section is added.
        assert_eq!(summary.section_added, !with_resources);
        let app = probe.with_file_name("injected.exe");
        std::fs::write(&app, &injected).unwrap();
        assert_blob_listed(&probe, &app, blob.len(), with_resources);

        let run = under_wine.run(&sea_build::run::Invocation::new(&app, Vec::<String>::new())).unwrap();
        assert!(run.success(), "exit {:?}, timed out {}: {}", run.code, run.timed_out, run.stderr_text());
        let (before, after, first) = if with_resources { ("before", "after", "first") } else { ("(missing)", "(missing)", "(missing)") };
        let blob = String::from_utf8_lossy(blob);
        assert_eq!(String::from_utf8_lossy(&run.stdout), format!("fuse=1\nNODE_SEA_BLOB={blob}\nNODE_SEA_BLOA={before}\nNODE_SEA_BLOBS={after}\nAAA={first}\nnode_sea_blob={blob}\n"));
        // Refusals on a real image: truncated, signed elsewhere than at the end, injected.
        let error = inject_to_vec(&image[..image.len() - 1], blob.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("truncated"), "{error}");
        let error = inject_to_vec(&injected, blob.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("already"), "{error}");
    }
}

// --- Windows identity: version resource, icon, Authenticode (issue 14) -----------------------

const CODE_SIGNING: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n";
const VALID_FROM: &str = "20250101000000Z";
const VALID_UNTIL: &str = "20491231000000Z";

/// An .ico file with a 16x16 and a 32x32 image (32-bit BMPs with their AND masks).
fn test_icon() -> Vec<u8> {
    ico(&[(16, &bmp_image(16, [0x20, 0x80, 0xf0, 0xff])), (32, &bmp_image(32, [0xf0, 0x80, 0x20, 0xff]))])
}

/// The `package()` SEA with the Windows identity of a package "greeter" 1.2.3-beta.1.
fn package_with_identity(dir: &Utf8Path, node: &NodeBinary, p12: Option<&Utf8Path>) -> Sea {
    let mut sea = package(dir, node, true, MAIN);
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/app.ico"), test_icon()).unwrap();
    let fields = sea_build::pe::version_info::PackageFields {
        name: "greeter".into(),
        version: "1.2.3-beta.1".into(),
        description: Some("Greets with an asset".into()),
        authors: vec!["Ann Example <ann@example.org>".into()],
    };
    let overrides = BTreeMap::from([("LegalCopyright".to_owned(), "(c) 2026 Ann Example".to_owned())]);
    sea.windows.version_info = Some(sea_build::pe::version_info::VersionInfo::for_package(&fields, "greeter.exe", &overrides).unwrap());
    sea.windows.icon = Some("assets/app.ico".into());
    sea.windows.sign = p12.map(|p12| sea_build::config::WindowsSigning { identity: Files::P12(p12.to_owned()).config("GREETER_P12_PASSWORD"), timestamp_url: None });
    sea
}

/// Builds `sea` for win-x64 into `out` with the pipeline, with `password` in the variable
/// the SEA names.
fn build_signed(sea: &Sea, out: &Utf8Path, password: &str) -> sea_build::Result<sea_build::artifact::Artifact> {
    let env = test_env().without_var("SEA_BUILD_WINE_PREFIX").without_var("SOURCE_DATE_EPOCH").without_var("SEA_BUILD_WINDOWS_P12").with_var("GREETER_P12_PASSWORD", password);
    let fetcher = NodeFetcher::from_env(&env).unwrap();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &env };
    pipeline.build(sea, "win-x64".parse().unwrap(), out)
}

/// The bytes of every `Data (...)` hex dump llvm-readobj printed in `body`, in order (line by
/// line: the text column may hold a `)`).
fn dumped_bytes(body: &str) -> Vec<Vec<u8>> {
    let mut dumps = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in body.lines() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "Data (" => current = Some(Vec::new()),
            None => {}
            Some(_) if trimmed == ")" => dumps.extend(current.take()),
            Some(bytes) => {
                let Some((_, rest)) = trimmed.split_once(": ") else { continue };
                let hex = rest.split('|').next().unwrap_or_default();
                for word in hex.split_whitespace() {
                    bytes.extend((0..word.len() / 2).map(|i| u8::from_str_radix(&word[2 * i..2 * i + 2], 16).unwrap()));
                }
            }
        }
    }
    dumps
}

/// osslsigncode accepts the signature with the test CA as the only trust anchor.
fn assert_osslsigncode_verifies(path: &Utf8Path, ca: &Utf8Path) {
    let (ok, text) = tool("osslsigncode", &["verify", "-CAfile", ca.as_str(), "-in", path.as_str()]);
    assert!(ok && text.contains("Signature verification: ok"), "osslsigncode rejects {path}:\n{text}");
    assert!(!text.contains(BAD_CHECKSUM), "{text}");
}

/// LIEF (PyPI, pinned, installed by `cargo xtask setup`) checks the signature's integrity.
fn assert_lief_verifies(path: &Utf8Path) {
    let python = sea_build_tests::lief_python();
    let script = "import sys, lief\nbinary = lief.PE.parse(sys.argv[1])\nprint(len(binary.signatures), binary.verify_signature())\n";
    let (ok, text) = tool(python.as_str(), &["-c", script, path.as_str()]);
    assert!(ok, "LIEF failed on {path}:\n{text}");
    assert_eq!(text.trim(), "1 VERIFICATION_FLAGS.OK", "LIEF's verdict on {path}");
}

/// A Windows program that reads another file's version resource with `GetFileVersionInfoW`
/// and `VerQueryValueW` (as Explorer does) and prints what it found.
const VERSION_PROBE_C: &str = r#"
typedef unsigned long DWORD; typedef unsigned int UINT; typedef void *HANDLE; typedef __WCHAR_TYPE__ WCHAR;
__declspec(dllimport) HANDLE __stdcall GetStdHandle(DWORD);
__declspec(dllimport) int __stdcall WriteFile(HANDLE, const void *, DWORD, DWORD *, void *);
__declspec(dllimport) void __stdcall ExitProcess(unsigned);
__declspec(dllimport) DWORD __stdcall GetFileVersionInfoSizeW(const WCHAR *, DWORD *);
__declspec(dllimport) int __stdcall GetFileVersionInfoW(const WCHAR *, DWORD, DWORD, void *);
__declspec(dllimport) int __stdcall VerQueryValueW(const void *, const WCHAR *, void **, UINT *);
static char info[1 << 16];
static void put(const char *s, DWORD n) { DWORD w; WriteFile(GetStdHandle((DWORD)-11), s, n, &w, 0); }
static void text(const char *s) { DWORD n = 0; while (s[n]) n++; put(s, n); }
static void wide(const WCHAR *s) { while (*s) { char c = (char)*s++; put(&c, 1); } }
static void number(unsigned v) { char b[12]; int i = 12; do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v); put(b + i, (DWORD)(12 - i)); }
static void show(const WCHAR *key, const char *label) {
  void *value; UINT len;
  text(label);
  if (VerQueryValueW(info, key, &value, &len)) wide((const WCHAR *)value); else text("(missing)");
  text("\n");
}
void start(void) {
  DWORD handle, size = GetFileVersionInfoSizeW(L"greeter.exe", &handle);
  if (size == 0 || size > sizeof(info)) { text("no version info\n"); ExitProcess(2); }
  if (!GetFileVersionInfoW(L"greeter.exe", 0, size, info)) { text("GetFileVersionInfoW failed\n"); ExitProcess(3); }
  show(L"\\StringFileInfo\\040904B0\\ProductName", "ProductName=");
  show(L"\\StringFileInfo\\040904B0\\FileVersion", "FileVersion=");
  DWORD *fixed; UINT len;
  if (!VerQueryValueW(info, L"\\", (void **)&fixed, &len)) { text("no fixed info\n"); ExitProcess(4); }
  text("Fixed=");
  number(fixed[2] >> 16); text("."); number(fixed[2] & 0xffff); text(".");
  number(fixed[3] >> 16); text("."); number(fixed[3] & 0xffff); text("\n");
  ExitProcess(0);
}
"#;

/// Builds the version probe with clang and lld-link.
fn version_probe(dir: &Utf8Path) -> Utf8PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("probe.c"), VERSION_PROBE_C).unwrap();
    std::fs::write(dir.join("kernel32.def"), "LIBRARY kernel32.dll\nEXPORTS\nGetStdHandle\nWriteFile\nExitProcess\n").unwrap();
    std::fs::write(dir.join("version.def"), "LIBRARY version.dll\nEXPORTS\nGetFileVersionInfoSizeW\nGetFileVersionInfoW\nVerQueryValueW\n").unwrap();
    let run = |program: &str, args: &[&str]| {
        let output = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|error| panic!("{program} is needed by this test (apt-get install clang lld llvm): {error}"));
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    run("llvm-dlltool", &["-m", "i386:x86-64", "-d", "kernel32.def", "-l", "kernel32.lib"]);
    run("llvm-dlltool", &["-m", "i386:x86-64", "-d", "version.def", "-l", "version.lib"]);
    run("clang", &["--target=x86_64-pc-windows-msvc", "-O1", "-c", "probe.c", "-o", "probe.obj"]);
    run("lld-link", &["/nologo", "/entry:start", "/subsystem:console", "/nodefaultlib", "/out:probe.exe", "probe.obj", "kernel32.lib", "version.lib"]);
    dir.join("probe.exe")
}

#[test]
fn signed_windows_seas_carry_their_own_identity() {
    let node = real_node(NODE_24, "win-x64").unwrap();
    wine().check_node(&node.path, &Processes).expect("node 24 must run under Wine 10 (`cargo xtask setup`)");
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let p12 = ca.identity("greeter-signer", VALID_FROM, VALID_UNTIL, CODE_SIGNING);
    let sea = package_with_identity(&dir.join("pkg"), &node, Some(&p12));

    // The pipeline runs the final, signed file under Wine before publishing: its cache is
    // accepted there.
    let artifact = build_signed(&sea, &dir.join("out"), "secret").unwrap();
    assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes);
    let env = test_env().without_var("SEA_BUILD_WINE_PREFIX");
    let fetcher = NodeFetcher::from_env(&env).unwrap();
    let report = sea_build::verify::verify(&artifact.path, &[], &fetcher, &Processes, &env).unwrap();
    assert!(report.passed(), "verify-cache under Wine: {report:#?}");
    let under_wine = UnderWine { wine: wine(), runner: &Processes };
    let run = run_artifact(&under_wine, &artifact.path, &[], &[]).unwrap();
    assert!(run.success() && run.stderr_text().is_empty(), "exit {:?}: {}", run.code, run.stderr_text());
    assert_eq!(String::from_utf8_lossy(&run.stdout), format!("hello, asset from v{NODE_24} on win32\n"));

    // Two independent checkers accept the signature: osslsigncode with the test CA as the
    // trust anchor, and LIEF.
    assert_osslsigncode_verifies(&artifact.path, &ca.dir().join("ca.pem"));
    assert_lief_verifies(&artifact.path);
    let image = std::fs::read(&artifact.path).unwrap();
    let headers = PeHeaders::parse(&image).unwrap();
    assert_eq!(checksum(&image).unwrap(), headers.check_sum);
    let table = certificate_table(&headers, &image).unwrap().expect("signed");
    assert_eq!((table.start % 8, table.end), (0, image.len()));

    // llvm-readobj reads back our version resource, our icon group and images, and node's
    // manifest.
    let listing = coff_resources(&artifact.path);
    let types = resource_types(&listing);
    let body = |name: &str| types.iter().find(|(type_name, _)| type_name == name).map(|(_, body)| body.clone()).unwrap_or_else(|| panic!("no {name} in:\n{listing}"));
    let version = dumped_bytes(&body("VERSIONINFO (ID 16)"));
    assert_eq!(version.len(), 1, "exactly one version resource");
    let info = sea_build::pe::version_info::VersionInfo::parse(&version[0]).unwrap();
    assert_eq!(info, sea.windows.version_info.clone().unwrap());
    let utf16 = |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    for text in ["greeter", "1.2.3-beta.1", "Greets with an asset", "Ann Example", "(c) 2026 Ann Example", "greeter.exe"] {
        assert!(version[0].windows(utf16(text).len()).any(|window| window == utf16(text)), "{text} in the version resource");
    }
    let icon = test_icon();
    let icon_file = sea_build::pe::icon::IconFile::parse(&icon, "test.ico").unwrap();
    let images = dumped_bytes(&body("ICON (ID 3)"));
    assert_eq!(images, icon_file.images.iter().map(|image| image.bytes.to_vec()).collect::<Vec<_>>(), "node's icon images are replaced by ours");
    assert_eq!(dumped_bytes(&body("GROUP_ICON (ID 14)")), vec![icon_file.group(1).unwrap()]);
    assert!(dumped_bytes(&body("MANIFEST (ID 24)"))[0].starts_with(b"<?xml"), "node's manifest is kept");

    // Windows' own version API, under Wine, reads our strings and our fixed version.
    let probe = version_probe(&dir.join("probe"));
    let mut invocation = sea_build::run::Invocation::new(&probe, Vec::<String>::new());
    invocation.cwd = Some(dir.join("out"));
    let probed = under_wine.run(&invocation).unwrap();
    assert!(probed.success(), "exit {:?}: {}{}", probed.code, String::from_utf8_lossy(&probed.stdout), probed.stderr_text());
    assert_eq!(String::from_utf8_lossy(&probed.stdout), "ProductName=greeter\nFileVersion=1.2.3-beta.1\nFixed=1.2.3.0\n");

    // The same sources and identity elsewhere: the same bytes (no signing time, no time stamp).
    let again_sea = package_with_identity(&dir.join("elsewhere/pkg"), &node, Some(&p12));
    let again = build_signed(&again_sea, &dir.join("elsewhere/out"), "secret").unwrap();
    assert_eq!(std::fs::read(&again.path).unwrap(), image, "two builds differ");
}

#[test]
fn bad_identities_are_clear_errors_and_publish_nothing() {
    let node = real_node(NODE_24, "win-x64").unwrap();
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let good = ca.identity("good-signer", VALID_FROM, VALID_UNTIL, CODE_SIGNING);
    let no_eku = ca.identity("no-eku-signer", VALID_FROM, VALID_UNTIL, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
    let expired = ca.identity("expired-signer", "20200101000000Z", "20210101000000Z", CODE_SIGNING);
    let truncated = dir.join("truncated.p12");
    std::fs::write(&truncated, &std::fs::read(&good).unwrap()[..1000]).unwrap();
    /// What goes wrong, the P12, its password, the icon (default: a good one), and what the
    /// error must say.
    type Case<'a> = (&'a str, &'a Utf8Path, &'a str, Option<&'a [u8]>, &'a [&'a str]);
    let cases: [Case<'_>; 6] = [
        ("truncated P12", &truncated, "secret", None, &["truncated.p12", "damaged", "openssl pkcs12 -export"]),
        ("wrong password", &good, "not the password", None, &["password", "is wrong", "GREETER_P12_PASSWORD"]),
        ("no code-signing EKU", &no_eku, "secret", None, &["no-eku-signer", "does not allow code signing", "1.3.6.1.5.5.7.3.3"]),
        ("expired", &expired, "secret", None, &["expired-signer", "expired on 2021-01-01"]),
        ("not an icon", &good, "secret", Some(b"\x89PNG\r\n\x1a\n, a PNG file"), &["app.ico", "a PNG image, not an .ico file"]),
        ("truncated icon", &good, "secret", Some(&test_icon()[..100]), &["app.ico", "truncated"]),
    ];
    for (index, (what, p12, password, icon, expected)) in cases.into_iter().enumerate() {
        let sea = package_with_identity(&dir.join(format!("pkg-{index}")), &node, Some(p12));
        if let Some(icon) = icon {
            std::fs::write(dir.join(format!("pkg-{index}/assets/app.ico")), icon).unwrap();
        }
        let out = dir.join(format!("out-{index}"));
        let error = format!("{:#}", build_signed(&sea, &out, password).unwrap_err());
        for needle in expected {
            assert!(error.contains(needle), "{what}: `{needle}` not in: {error}");
        }
        let left: Vec<String> = std::fs::read_dir(&out).map(|entries| entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
        assert!(left.iter().all(|name| name.ends_with(".lock")), "{what}: the failed build left {left:?}");
    }
    // An empty icon.
    let sea = package_with_identity(&dir.join("pkg-empty"), &node, None);
    std::fs::write(dir.join("pkg-empty/assets/app.ico"), b"").unwrap();
    let error = format!("{:#}", build_signed(&sea, &dir.join("out-empty"), "").unwrap_err());
    assert!(error.contains("app.ico is empty"), "{error}");
}

#[test]
fn every_identity_form_signs_windows_executables_that_osslsigncode_verifies() {
    let node = real_node(NODE_22, "win-x64").unwrap();
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let blob = dir.join("sea-prep.blob");
    std::fs::write(&blob, b"a blob").unwrap();
    for form in Form::ALL {
        let files = ca.identity_in(&format!("signer-{form:?}").to_lowercase(), VALID_FROM, VALID_UNTIL, CODE_SIGNING, form);
        let env = files.env(&sea_build::sign::IdentityVariables::WINDOWS, sea_build::Env::from_process().without_var("SOURCE_DATE_EPOCH"));
        let out = dir.join(format!("app-{form:?}.exe"));
        sea_build::commands::inject_file(&node.path, &blob, &out, sea_build::sign::SignMode::Identity, &env).unwrap_or_else(|error| panic!("{form:?}: {error}"));
        assert_osslsigncode_verifies(&out, &ca.dir().join("ca.pem"));
    }
}

/// Every bad identity is a clear error when signing a Windows executable, and nothing is written.
#[test]
fn bad_identities_sign_no_windows_executable() {
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let node = real_node(NODE_22, "win-x64").unwrap();
    sea_build_tests::identity::assert_inject_refuses_bad_identities(&ca, &node.path, &sea_build::sign::IdentityVariables::WINDOWS, &dir);
}

#[test]
fn inject_signs_windows_executables_with_the_environments_identity() {
    let node = real_node(NODE_22, "win-x64").unwrap();
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let p12 = ca.identity("inject-signer", VALID_FROM, VALID_UNTIL, CODE_SIGNING);
    let blob = dir.join("sea-prep.blob");
    std::fs::write(&blob, b"a blob; only its place matters here").unwrap();
    let out = dir.join("app.exe");
    let env = sea_build::Env::from_process().with_var("SEA_BUILD_WINDOWS_P12", p12.as_str()).with_var("SEA_BUILD_WINDOWS_P12_PASSWORD", "secret").without_var("SOURCE_DATE_EPOCH");
    sea_build::commands::inject_file(&node.path, &blob, &out, sea_build::sign::SignMode::Identity, &env).unwrap();
    assert_osslsigncode_verifies(&out, &ca.dir().join("ca.pem"));
    assert_lief_verifies(&out);
    assert_eq!(find_blob(&std::fs::read(&out).unwrap()).unwrap(), Some(&b"a blob; only its place matters here"[..]));
    // Made file to file (the base never in memory), the bytes are those of unsigning,
    // injecting and signing in memory (RSA signatures without a time are deterministic).
    let unsigned = unsign(&std::fs::read(&node.path).unwrap()).unwrap();
    let injected = inject_to_vec(&unsigned, b"a blob; only its place matters here").unwrap();
    let password = sea_build::sign::identity::Password { value: "secret", variable: "PASSWORD" };
    let read = sea_build::sign::identity::SigningIdentity::from_p12(&std::fs::read(&p12).unwrap(), password, p12.as_str()).unwrap();
    let identity = sea_build::pe::authenticode::AuthenticodeIdentity::new(read, p12.as_str(), 1_800_000_000).unwrap();
    let options = sea_build::pe::authenticode::SignOptions { program_name: Some("app"), ..Default::default() };
    let in_memory = sea_build::pe::authenticode::sign_to_vec(&injected, &identity, &options).unwrap();
    assert!(std::fs::read(&out).unwrap() == in_memory, "the file-to-file signed executable differs from the one made in memory");
    let plain = dir.join("plain.exe");
    sea_build::commands::inject_file(&node.path, &blob, &plain, sea_build::sign::SignMode::None, &env).unwrap();
    assert!(std::fs::read(&plain).unwrap() == injected, "the file-to-file executable differs from the one made in memory");
    // With SOURCE_DATE_EPOCH, the signing time is recorded (and still verifies).
    let timed = dir.join("timed.exe");
    sea_build::commands::inject_file(&node.path, &blob, &timed, sea_build::sign::SignMode::Identity, &env.clone().with_var("SOURCE_DATE_EPOCH", "1767225600")).unwrap();
    let (ok, text) = tool("osslsigncode", &["verify", "-CAfile", ca.dir().join("ca.pem").as_str(), "-in", timed.as_str()]);
    assert!(ok && text.contains("Signing time: Jan  1 00:00:00 2026 GMT"), "{text}");
    // A wrong password publishes nothing.
    let refused = dir.join("refused.exe");
    let error =
        format!("{:#}", sea_build::commands::inject_file(&node.path, &blob, &refused, sea_build::sign::SignMode::Identity, &env.with_var("SEA_BUILD_WINDOWS_P12_PASSWORD", "wrong")).unwrap_err());
    assert!(error.contains("is wrong"), "{error}");
    assert!(!refused.exists());
}
/// A local RFC 3161 time-stamp authority on 127.0.0.1: `openssl ts -reply` behind a small
/// HTTP server, with a certificate the test CA issued. Stops when dropped.
struct LocalTsa {
    url: String,
    server: std::sync::Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl LocalTsa {
    fn start(ca: &TestCa) -> LocalTsa {
        let dir = ca.dir().to_owned();
        ca.openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=sea-build test TSA"]);
        std::fs::write(dir.join("tsa.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n").unwrap();
        ca.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "tsa.csr",
            "-out",
            "tsa.pem",
            "-startdate",
            VALID_FROM,
            "-enddate",
            VALID_UNTIL,
            "-extfile",
            "tsa.ext",
            "-notext",
        ]);
        std::fs::write(dir.join("tsa.serial"), "01\n").unwrap();
        std::fs::write(
            dir.join("tsa.cnf"),
            "[tsa]\ndefault_tsa=t\n[t]\nserial=tsa.serial\nsigner_cert=tsa.pem\ncerts=ca.pem\nsigner_key=tsa.key\nsigner_digest=sha256\ndefault_policy=1.2.3.4.1\ndigests=sha256\naccuracy=secs:1\ness_cert_id_alg=sha256\n",
        )
        .unwrap();
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}/", server.server_addr().to_ip().unwrap());
        let serving = server.clone();
        let thread = std::thread::spawn(move || {
            let mut answered = 0;
            // Bounded: the test asks once per signature.
            while answered < 8 {
                let Ok(mut request) = serving.recv() else { break };
                let mut query = Vec::new();
                std::io::Read::read_to_end(request.as_reader(), &mut query).unwrap();
                std::fs::write(dir.join("query.tsq"), &query).unwrap();
                let output = Command::new("openssl").args(["ts", "-reply", "-config", "tsa.cnf", "-queryfile", "query.tsq", "-out", "reply.tsr"]).current_dir(&dir).output().unwrap();
                assert!(output.status.success(), "openssl ts -reply: {}", String::from_utf8_lossy(&output.stderr));
                let reply = std::fs::read(dir.join("reply.tsr")).unwrap();
                request.respond(tiny_http::Response::from_data(reply).with_header("Content-Type: application/timestamp-reply".parse::<tiny_http::Header>().unwrap())).unwrap();
                answered += 1;
            }
            answered
        });
        LocalTsa { url, server, thread: Some(thread) }
    }

    /// Stops the server; returns how many time stamps it gave.
    fn stop(mut self) -> usize {
        self.server.unblock();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for LocalTsa {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

#[test]
fn signatures_can_carry_an_rfc_3161_time_stamp() {
    let node = real_node(NODE_24, "win-x64").unwrap();
    wine();
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let p12 = ca.identity("stamped-signer", VALID_FROM, VALID_UNTIL, CODE_SIGNING);
    let tsa = LocalTsa::start(&ca);
    let mut sea = package_with_identity(&dir.join("pkg"), &node, Some(&p12));
    sea.code_cache = false;
    sea.windows.sign.as_mut().unwrap().timestamp_url = Some(tsa.url.clone());
    let artifact = build_signed(&sea, &dir.join("out"), "secret").unwrap();
    assert_eq!(tsa.stop(), 1, "one time stamp per signature");
    let ca_pem = ca.dir().join("ca.pem");
    let (ok, text) = tool("osslsigncode", &["verify", "-CAfile", ca_pem.as_str(), "-TSA-CAfile", ca_pem.as_str(), "-in", artifact.path.as_str()]);
    assert!(ok && text.contains("Signature verification: ok"), "{text}");
    assert!(text.contains("sea-build test TSA"), "the time stamp is read:\n{text}");
    assert!(!text.contains("No timestamp"), "{text}");
    assert_lief_verifies(&artifact.path);
    // An authority that does not answer is an error naming the setting; nothing is published.
    let mut unreachable = package_with_identity(&dir.join("pkg2"), &node, Some(&p12));
    unreachable.code_cache = false;
    unreachable.windows.sign.as_mut().unwrap().timestamp_url = Some("http://127.0.0.1:9/".into());
    let error = format!("{:#}", build_signed(&unreachable, &dir.join("out2"), "secret").unwrap_err());
    assert!(error.contains("windows.timestamp-url") && error.contains("127.0.0.1:9"), "{error}");
    assert!(!dir.join("out2/greeter.exe").exists());
}
// --- end of Windows identity -------------------------------------------------------------------
