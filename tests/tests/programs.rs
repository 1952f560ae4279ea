//! Real programs: packages with their own files, their package.json and dependencies from the
//! npm registry (pinned versions, installed by npm), bundled by esbuild or mounted with `vfs`,
//! built into linux-x64 SEAs from pinned nodes and run. And the guard that goes with them: an
//! artifact that does not run is never published.

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::{Artifact, CacheAccepted, manifest_path};
use sea_build::node::{NodeFetcher, Platform, SourceKind, Version};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::Processes;
use sea_build::runtime::Execution;
use sea_build::{Sea, SeaMetadata, verify};
use sea_build_tests::nodes::pinned::{NODE_24, NODE_26};
use sea_build_tests::nodes::test_env;
use sea_build_tests::packages::{install, pinned};

/// A CommonJS command-line program: a bin script that requires its own lib file, its
/// package.json and two dependencies (semver spread over many files).
const CLI: &str = r#"#!/usr/bin/env node
const { describe } = require('../lib/describe.js');
const pkg = require('../package.json');
if (process.argv.includes('--crash')) throw new Error('crash requested');
console.log(`${pkg.name} ${pkg.version}: ${describe(process.argv.slice(2))}`);
"#;

const DESCRIBE: &str = r#"const ms = require('ms');
const semver = require('semver');
exports.describe = (args) => `${ms(90000)} ${semver.gt('1.10.0', '1.9.0')} ${semver.coerce('v' + (args[0] || '0.1')).version}`;
"#;

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

fn write(dir: &Utf8Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The SEA `metadata` declares for the package in `dir`, built from `node`.
fn sea(dir: &Utf8Path, node: Version, metadata: SeaMetadata) -> Sea {
    SeaMetadata { name: Some("app".into()), node_version: Some(node.to_string()), ..metadata }.resolve("app", dir, "test").unwrap()
}

fn fetcher() -> NodeFetcher {
    NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm])
}

fn try_build(sea: &Sea, out: &Utf8Path) -> sea_build::Result<Artifact> {
    let fetcher = fetcher();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &test_env() };
    pipeline.build(sea, Platform::host().unwrap(), out)
}

fn run(artifact: &Utf8Path, args: &[&str]) -> (String, String) {
    let output = std::process::Command::new(artifact).args(args).env_clear().output().unwrap();
    assert!(output.status.success(), "{artifact} {args:?}: {output:?}");
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

/// The CommonJS program, installed at `dir`.
fn cli_package(dir: &Utf8Path) {
    install(dir, "demo-cli", &[pinned::MS, pinned::SEMVER], false).unwrap();
    write(dir, &[("bin/cli.js", CLI), ("lib/describe.js", DESCRIBE)]);
}

fn cli_metadata() -> SeaMetadata {
    SeaMetadata { main: Some("bin/cli.js".into()), verify_args: vec!["2.5".into()], ..SeaMetadata::default() }
}

fn no_artifact_in(out: &Utf8Path) {
    let left: Vec<String> = std::fs::read_dir(out).map(|dir| dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    assert!(left.iter().all(|name| name.ends_with(".lock")), "something was published in {out}: {left:?}");
}

#[test]
fn a_commonjs_package_with_dependencies_is_bundled_runs_and_accepts_its_cache() {
    let (_keep, dir) = temp();
    cli_package(&dir.join("pkg"));
    let artifact = try_build(&sea(&dir.join("pkg"), NODE_24, cli_metadata()), &dir.join("out")).unwrap();
    assert!(artifact.manifest.code_cache_embedded);
    assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes);
    assert_eq!(artifact.manifest.run_time_check, Execution::Native, "it ran before it was published");
    let bundle_sha256 = artifact.manifest.bundle_sha256.clone().expect("the manifest records the bundle");
    assert_eq!(bundle_sha256.len(), 64);
    for bundled in ["package.json", "lib/describe.js", "node_modules/ms/index.js", "node_modules/semver/functions/coerce.js"] {
        assert!(artifact.inputs.iter().any(|input| input == bundled), "{bundled} is not among {:?}", artifact.inputs);
    }

    let (stdout, stderr) = run(&artifact.path, &["3.1"]);
    assert_eq!(stdout, "demo-cli 1.4.2: 2m true 3.1.0\n");
    assert!(!stderr.contains("Code cache data rejected"), "{stderr}");

    // verify-cache passes; a run that fails is reported as a failed run, not a rejected cache.
    let report = verify::verify(&artifact.path, &[], &fetcher(), &Processes, &test_env()).unwrap();
    assert!(report.passed(), "{report:#?}");
    let manifest = manifest_path(&artifact.path);
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    json["verify-args"] = serde_json::json!(["--crash"]);
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let report = verify::verify(&artifact.path, &[], &fetcher(), &Processes, &test_env()).unwrap();
    let run_check = report.checks.iter().find(|check| check.name == "run-time check").unwrap();
    let reason = run_check.outcome.clone().unwrap_err();
    assert!(reason.contains("the artifact failed to run (exit 1, run natively)") && reason.contains("crash requested") && !reason.contains("rejected"), "{reason}");
}

#[test]
fn the_same_package_from_two_checkout_paths_gives_identical_artifacts() {
    let (_keep, dir) = temp();
    let artifacts: Vec<Artifact> = ["first/checkout", "second"]
        .iter()
        .map(|checkout| {
            let package = dir.join(checkout).join("pkg");
            cli_package(&package);
            try_build(&sea(&package, NODE_24, cli_metadata()), &dir.join(checkout).join("out")).unwrap()
        })
        .collect();
    assert_eq!(artifacts[0].manifest.bundle_sha256, artifacts[1].manifest.bundle_sha256);
    assert_eq!(artifacts[0].manifest.artifact_sha256, artifacts[1].manifest.artifact_sha256);
    assert_eq!(std::fs::read(&artifacts[0].path).unwrap(), std::fs::read(&artifacts[1].path).unwrap());
    let bytes = std::fs::read(&artifacts[0].path).unwrap();
    let checkout = dir.as_str().as_bytes();
    assert!(!bytes.windows(checkout.len()).any(|window| window == checkout), "the checkout path leaked into the artifact");
}

#[test]
fn an_es_module_with_top_level_await_ships_as_a_module_on_node_26() {
    let (_keep, dir) = temp();
    let package = dir.join("pkg");
    install(&package, "esm-app", &[pinned::MS], true).unwrap();
    write(
        &package,
        &[
            (
                "src/main.js",
                "import ms from 'ms';\nimport { label } from './label.js';\nconst delay = await Promise.resolve(ms('2 days'));\nconsole.log(`${label} ${delay} ${typeof require} ${import.meta.url.startsWith('file://')}`);\n",
            ),
            ("src/label.js", "export const label = 'esm';\n"),
        ],
    );
    let bundled = SeaMetadata { main: Some("src/main.js".into()), bundle: Some(true), ..SeaMetadata::default() };
    let artifact = try_build(&sea(&package, NODE_26, bundled), &dir.join("out")).unwrap();
    assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes);
    let image = std::fs::read(&artifact.path).unwrap();
    let blob = sea_build::inject::find_blob(&image).unwrap().unwrap();
    let layout = sea_build::blob::BlobLayout::for_node_version(26, 10, 0).unwrap();
    assert_eq!(sea_build::blob::parse(blob, layout).unwrap().main_format, Some(sea_build::blob::MainFormat::Module));
    // `require` exists in the module bundle only for the CommonJS dependencies' built-ins.
    assert_eq!(run(&artifact.path, &[]).0, "esm 172800000 function true\n");

    // With the defaults, on a node that loads no ES module main, the package is mounted
    // (the module uses `import.meta.url`) and its top-level await works.
    let artifact = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("src/main.js".into()), ..SeaMetadata::default() }), &dir.join("out24")).unwrap();
    assert!(artifact.manifest.mounted.is_some(), "{:?}", artifact.manifest);
    assert_eq!(run(&artifact.path, &[]).0, "esm 172800000 undefined true\n");
}

#[test]
fn a_typescript_main_is_bundled() {
    let (_keep, dir) = temp();
    let package = dir.join("pkg");
    install(&package, "ts-app", &[pinned::MS], false).unwrap();
    write(
        &package,
        &[
            (
                "src/main.ts",
                "import ms from 'ms';\nimport { greet, type Greeting } from './greet';\nconst greeting: Greeting = { name: 'typescript', after: ms(1500) };\nconsole.log(greet(greeting));\n",
            ),
            ("src/greet.ts", "export interface Greeting { name: string; after: string }\nexport function greet(g: Greeting): string { return `hello ${g.name} after ${g.after}`; }\n"),
        ],
    );
    let artifact = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("src/main.ts".into()), ..SeaMetadata::default() }), &dir.join("out")).unwrap();
    assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes);
    assert_eq!(run(&artifact.path, &[]).0, "hello typescript after 2s\n");
}

#[test]
fn what_a_bundle_cannot_serve_is_a_build_error_naming_the_module() {
    let (_keep, dir) = temp();
    /// A package's name, its files, and what the error must say.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 3] = [
        (
            "addon",
            &[
                ("main.js", "require('fast-thing');\n"),
                ("node_modules/fast-thing/index.js", "module.exports = require('./build/Release/fast.node');\n"),
                ("node_modules/fast-thing/build/Release/fast.node", "\x7fELF"),
            ],
            &["native addon node_modules/fast-thing/build/Release/fast.node", "required by node_modules/fast-thing/index.js"],
        ),
        ("computed", &[("main.js", "const name = process.argv[2];\nrequire(require('path').join(__dirname, 'plugins', name));\n")], &["main.js:2", "computed from the module's own location", "vfs"]),
        (
            "reads-beside",
            &[("main.js", "const fs = require('fs');\nconst path = require('path');\nconsole.log(fs.readFileSync(path.join(__dirname, 'data.txt'), 'utf8'));\n"), ("data.txt", "data")],
            &["main.js:3", "`data.txt`", "asset"],
        ),
    ];
    for (name, files, expected) in cases {
        let package = dir.join(name);
        write(&package, files);
        let metadata = SeaMetadata { main: Some("main.js".into()), bundle: Some(true), ..SeaMetadata::default() };
        let out = dir.join(name).join("out");
        let error = format!("{:#}", try_build(&sea(&package, NODE_24, metadata), &out).unwrap_err());
        for needle in expected {
            assert!(error.contains(needle), "{name}: `{needle}` is not in: {error}");
        }
        no_artifact_in(&out);
    }
    // A computed path that may name a built-in is left to run time, with esbuild's warning.
    let package = dir.join("maybe-builtin");
    write(&package, &[("main.js", "const name = process.argv[2];\nif (name) require(name);\nconsole.log('ok');\n")]);
    let artifact = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("main.js".into()), ..SeaMetadata::default() }), &package.join("out")).unwrap();
    assert_eq!(run(&artifact.path, &[]).0, "ok\n");
    assert_eq!(run(&artifact.path, &["node:os"]).0, "ok\n");
    // Declared as an asset with `bundle = true`, the file read beside the module is the
    // program's business: the read is left to run time, where it fails.
    let package = dir.join("reads-beside");
    let metadata = SeaMetadata { main: Some("main.js".into()), bundle: Some(true), assets: [("data.txt".to_owned(), "data.txt".into())].into(), verify_args: vec![], ..SeaMetadata::default() };
    let error = try_build(&sea(&package, NODE_24, metadata), &package.join("out")).unwrap_err();
    assert_eq!(error.kind(), sea_build::ErrorKind::ArtifactFailedToRun);
    let error = error.to_string();
    assert!(error.contains("failed to run (exit 1)") && error.contains("ENOENT"), "the read is left to run time, where it fails: {error}");
    // With the defaults, each of these programs ships mounted and works as under node.
    for (name, expected) in [("reads-beside", "data\n"), ("computed", "plugin a\n")] {
        let package = dir.join(name);
        write(&package, &[("plugins/a.js", "console.log('plugin a');\n")]);
        let verify_args = if name == "computed" { vec!["a.js".to_owned()] } else { vec![] };
        let artifact = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("main.js".into()), verify_args, ..SeaMetadata::default() }), &package.join("out-default")).unwrap();
        assert!(artifact.manifest.mounted.is_some(), "{name}: {:?}", artifact.manifest);
        assert_eq!(run(&artifact.path, &["a.js"]).0, expected, "{name}");
    }
    // With `bundle = false`, a relative require no file serves is a warning: the run decides.
    let package = dir.join("unbundled");
    write(&package, &[("main.js", "if (process.argv[2] === 'x') console.log(require('./lib/x.js'));\nconsole.log('main');\n")]);
    let artifact = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("main.js".into()), bundle: Some(false), ..SeaMetadata::default() }), &package.join("out")).unwrap();
    assert_eq!(run(&artifact.path, &[]).0, "main\n");
    let error = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("main.js".into()), bundle: Some(false), verify_args: vec!["x".into()], ..SeaMetadata::default() }), &package.join("out-x"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("ERR_UNKNOWN_BUILTIN_MODULE") && error.contains("leave `bundle` unset"), "{error}");
}

#[test]
fn a_main_at_the_top_of_its_package_requires_its_dependencies_when_mounted() {
    let (_keep, dir) = temp();
    let package = dir.join("pkg");
    install(&package, "top-main", &[pinned::MS], false).unwrap();
    write(
        &package,
        &[
            (
                "main.js",
                "const ms = require('ms');\nconst text = require('fs').readFileSync(require('path').join(__dirname, 'data.txt'), 'utf8');\nconsole.log(ms(1000), text.trim(), require.resolve('ms').endsWith('index.js'));\n",
            ),
            ("data.txt", "beside\n"),
        ],
    );
    let artifact = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("main.js".into()), ..SeaMetadata::default() }), &dir.join("out")).unwrap();
    assert!(artifact.manifest.mounted.is_some(), "{:?}", artifact.manifest);
    assert_eq!(run(&artifact.path, &[]).0, "1s beside true\n");
}

#[test]
fn a_program_that_crashes_at_start_is_never_published() {
    let (_keep, dir) = temp();
    let package = dir.join("pkg");
    write(&package, &[("main.js", "function start() { throw new Error('the configuration is missing'); }\nstart();\n")]);
    let out = dir.join("out");
    let error = try_build(&sea(&package, NODE_24, SeaMetadata { main: Some("main.js".into()), ..SeaMetadata::default() }), &out).unwrap_err();
    assert_eq!(error.kind(), sea_build::ErrorKind::ArtifactFailedToRun);
    let error = error.to_string();
    assert!(error.contains("failed to run (exit 1)"), "{error}");
    assert!(error.contains("Error: the configuration is missing") && error.contains("at start"), "the error shows the stack: {error}");
    assert!(error.contains("verify-args"), "{error}");
    no_artifact_in(&out);
}

#[test]
fn a_vfs_program_on_node_26_reads_files_and_requires_from_node_modules() {
    let (_keep, dir) = temp();
    let package = dir.join("pkg");
    install(&package, "vfs-app", &[pinned::MS], false).unwrap();
    write(
        &package,
        &[
            (
                "bin/cli.js",
                "const fs = require('fs');\nconst path = require('path');\nconst ms = require('ms');\nconst { shout } = require('../lib/shout.js');\nconst text = fs.readFileSync(path.join(__dirname, '..', 'data', 'greeting.txt'), 'utf8').trim();\nconsole.log(`${shout(text)} ${ms(60000)} ${require.main === module} ${require('../package.json').name}`);\n",
            ),
            ("lib/shout.js", "exports.shout = (text) => text.toUpperCase();\n"),
            ("data/greeting.txt", "hello from the vfs\n"),
        ],
    );
    let metadata =
        SeaMetadata { main: Some("bin/cli.js".into()), bundle: Some(false), vfs: ["bin", "lib", "data/*.txt", "node_modules/**", "package.json"].map(String::from).to_vec(), ..SeaMetadata::default() };
    let artifact = try_build(&sea(&package, NODE_26, metadata.clone()), &dir.join("out")).unwrap();
    assert!(!artifact.manifest.code_cache_embedded);
    assert!(artifact.manifest.code_cache_omitted.as_deref().is_some_and(|why| why.contains("vfs")), "{:?}", artifact.manifest);
    assert_eq!(artifact.manifest.run_time_check, Execution::Native, "it ran before it was published");
    assert_eq!(run(&artifact.path, &[]).0, "HELLO FROM THE VFS 1m true vfs-app\n");

    // What the static check cannot be sure of is a warning, not a refusal: `require("..")`
    // through package.json, an `import()` of a template string, a require on a branch never
    // taken of a file the package does not ship.
    let package = dir.join("unsure");
    write(
        &package,
        &[
            ("package.json", r#"{"name":"unsure","main":"lib/index.js"}"#),
            ("lib/index.js", "exports.name = 'unsure';\n"),
            ("locales/en.mjs", "export const hello = 'hello';\n"),
            (
                "bin/cli.js",
                "const lib = require('..');\nif (process.env.NEVER_SET) require('./not-shipped.js');\nconst lang = process.argv[2] || 'en';\nimport(`../locales/${lang}.mjs`).then((m) => console.log(lib.name, m.hello));\n",
            ),
        ],
    );
    let unsure = SeaMetadata { main: Some("bin/cli.js".into()), bundle: Some(false), vfs: ["bin", "lib", "locales", "package.json"].map(String::from).to_vec(), ..SeaMetadata::default() };
    let artifact = try_build(&sea(&package, NODE_26, unsure), &dir.join("out-unsure")).unwrap();
    assert_eq!(run(&artifact.path, &[]).0, "unsure hello\n");

    // Refused on a node without useVfs.
    let error = format!("{:#}", try_build(&sea(&package, NODE_24, metadata), &dir.join("out24")).unwrap_err());
    assert!(error.contains("`vfs` with `bundle` set (node's useVfs) needs node 26"), "{error}");
}
