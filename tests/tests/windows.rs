//! Windows SEAs: real win-x64 node 22 and 24 (from the npm registry) unsigned, given a blob
//! with a code cache made by that node.exe under Wine, injected, run under Wine, and checked
//! with independent tools (llvm-readobj, osslsigncode).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::blob::ExecArgvExtension;
use sea_build::inject::pe::{find_blob, inject_to_vec};
use sea_build::node::{NodeBinary, Platform};
use sea_build::pe::{PeHeaders, certificate_table, checksum, unsign};
use sea_build::pipeline::{CACHE_REJECTED, run_artifact};
use sea_build::run::{Processes, Runner};
use sea_build::wine::{UnderWine, Wine, find_wine, is_missing_placeholders};
use sea_build::{Sea, generate};
use sea_build_tests::nodes::{real_node, test_env};

const MAJORS: [&str; 2] = ["22", "24"];

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// Runs an independent checking tool, which `cargo xtask test` installs.
fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program} is needed by this test (apt-get install llvm osslsigncode): {error}"));
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
    for major in MAJORS {
        let node = real_node(major, "win-x64").unwrap();
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

/// The total resource count llvm-readobj reports.
fn resource_count(listing: &str) -> usize {
    let line = listing.lines().find_map(|line| line.trim().strip_prefix("Total Number of Resources: ")).expect("llvm-readobj prints the resource count");
    line.parse().unwrap()
}

/// llvm-readobj finds the blob under RCDATA, language 0, with its exact size, next to every
/// resource the base had (the manifest among them).
fn assert_blob_listed(base: &Utf8Path, app: &Utf8Path, blob_len: usize) {
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
    let (_, manifest) = types_after.iter().find(|(name, _)| name == "MANIFEST (ID 24)").expect("the manifest survives");
    assert!(dumps(manifest).concat().contains("<?xml"), "{manifest}");
    let (_, rcdata) = types_after.iter().find(|(name, _)| name == "RCDATA (ID 10)").unwrap();
    let blob_entry = rcdata.split("Name: ").find(|part| part.starts_with("NODE_SEA_BLOB [")).expect("NODE_SEA_BLOB under RCDATA");
    assert!(blob_entry.contains("Language: (ID 0)"), "{blob_entry}");
    assert!(blob_entry.contains(&format!("DataSize: {blob_len}\n")), "{blob_entry}");
}

#[test]
fn injected_official_binaries_keep_their_resources() {
    for major in MAJORS {
        let node = real_node(major, "win-x64").unwrap();
        let image = unsign(&std::fs::read(&node.path).unwrap()).unwrap();
        let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let out = inject_to_vec(&image, &blob).unwrap();
        assert_eq!(find_blob(&out).unwrap(), Some(&blob[..]));
        let (_guard, dir) = temp();
        let (base, app) = (dir.join("node.exe"), dir.join("app.exe"));
        std::fs::write(&base, &image).unwrap();
        std::fs::write(&app, &out).unwrap();
        assert_blob_listed(&base, &app, blob.len());
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
fn package(dir: &Utf8Path, node: &NodeBinary, code_cache: bool) -> Sea {
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("js/main.js"), MAIN).unwrap();
    std::fs::write(dir.join("js/greeting.txt"), "hello, asset\n").unwrap();
    Sea {
        name: "greeter".into(),
        package_dir: dir.to_owned(),
        main: "js/main.js".into(),
        node: node.version.to_string().parse().unwrap(),
        targets: vec!["win-x64".parse::<Platform>().unwrap()],
        code_cache,
        assets: BTreeMap::from([("greeting.txt".to_owned(), "js/greeting.txt".into())]),
        exec_argv: vec![],
        exec_argv_extension: ExecArgvExtension::None,
        verify_args: vec![],
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

fn build(node: &NodeBinary, dir: &Utf8Path, code_cache: bool) -> WindowsSea {
    let under_wine = UnderWine { wine: wine(), runner: &Processes };
    build_with(node, dir, code_cache, None, &under_wine)
}

/// [`build`], with the blob generated by `generator` (default: the unsigned node.exe).
fn build_with(node: &NodeBinary, dir: &Utf8Path, code_cache: bool, generator: Option<&Utf8Path>, runner: &dyn Runner) -> WindowsSea {
    let unsigned = unsign(&std::fs::read(&node.path).unwrap()).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let base = dir.join("node.exe");
    std::fs::write(&base, &unsigned).unwrap();
    let sea = package(&dir.join("pkg"), node, code_cache);
    let staging = dir.join("staging");
    generate::stage(&sea, &staging).unwrap();
    let blob = generate::generate(&sea, node.version, generator.unwrap_or(&base), code_cache, &staging, runner).unwrap();
    assert_eq!(blob.code_cache, code_cache);
    let app = dir.join("greeter.exe");
    std::fs::write(&app, inject_to_vec(&unsigned, &blob.bytes).unwrap()).unwrap();
    WindowsSea { base, app, blob: blob.bytes, code_cache }
}

#[test]
fn windows_seas_run_under_wine_with_their_cache_and_asset() {
    for major in MAJORS {
        let node = real_node(major, "win-x64").unwrap();
        let version = node.version;
        let (_keep, dir) = temp();
        match wine().check_node(&node.path, &Processes) {
            Ok(()) => {}
            Err(error) if major != "22" && is_missing_placeholders(&error) => {
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

        assert_blob_listed(&sea.base, &sea.app, sea.blob.len());
        assert_unsigned(&sea.app);
    }
}

/// A SEA for a node.exe that does not run here: blob without cache from the same node version
/// for linux-x64, injected, checked statically.
fn check_without_wine(node: &NodeBinary, dir: &Utf8Path) {
    let generator = real_node(&node.version.to_string(), "linux-x64").unwrap();
    let sea = build_with(node, &dir.join("static"), false, Some(&generator.path), &Processes);
    let out = std::fs::read(&sea.app).unwrap();
    assert_eq!(find_blob(&out).unwrap(), Some(&sea.blob[..]));
    assert_blob_listed(&sea.base, &sea.app, sea.blob.len());
    assert_unsigned(&sea.app);
}
