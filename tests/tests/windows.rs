//! Windows SEAs: real win-x64 node 22 and 24 (from the npm registry) unsigned, given a blob
//! with a code cache made by that node.exe under Wine, injected, run under Wine, and checked
//! with independent tools (llvm-readobj, osslsigncode).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::blob::ExecArgvExtension;
use sea_build::inject::pe::{find_blob, inject_to_vec};
use sea_build::node::{NodeBinary, NodeFetcher, Platform};
use sea_build::pe::{PeHeaders, certificate_table, checksum, unsign};
use sea_build::pipeline::{CACHE_REJECTED, CacheAccepted, Pipeline, run_artifact};
use sea_build::progress::Silent;
use sea_build::run::{Processes, Runner};
use sea_build::wine::{UnderWine, Wine, find_wine, is_missing_placeholders};
use sea_build::{Sea, generate};
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

/// A small package (main + asset) declaring a SEA for win-x64.
fn package(dir: &Utf8Path, node: &NodeBinary, code_cache: bool, main: &str) -> Sea {
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("js/main.js"), main).unwrap();
    std::fs::write(dir.join("js/greeting.txt"), "hello, asset\n").unwrap();
    Sea {
        name: "greeter".into(),
        package_dir: dir.to_owned(),
        main: "js/main.js".into(),
        bundle: false,
        vfs: vec![],
        node: node.version.to_string().parse().unwrap(),
        targets: vec!["win-x64".parse::<Platform>().unwrap()],
        code_cache,
        train_args: None,
        use_snapshot: false,
        strip: false,
        assets: BTreeMap::from([("greeting.txt".to_owned(), "js/greeting.txt".into())]),
        exec_argv: vec![],
        exec_argv_extension: ExecArgvExtension::None,
        verify_args: vec![],
        sign: Default::default(),
    }
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
    let staged = generate::stage(&sea, node.version, None, &staging, &Processes).unwrap();
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
    let staged = generate::stage(&sea, node.version, None, &staging, &Processes).unwrap();
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
