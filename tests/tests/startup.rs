//! Starting faster and shipping smaller on Linux, with real node 22, 24 and 26 (pinned):
//! `use-snapshot` SEAs run from their startup snapshot, a main without the deserialize call
//! gets a clear error, `strip = true` SEAs run with their cache accepted, pass readelf
//! and GNU strip, and are smaller by the size of node's symbol tables and debug sections as
//! readelf lists them, and a trained code cache is accepted and gives correct results on input
//! it was not trained on.

use std::collections::BTreeMap;
use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::{Artifact, CacheAccepted};
use sea_build::node::{NodeFetcher, Platform, SourceKind, Version};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::Processes;
use sea_build::{Sea, SeaMetadata, verify};
use sea_build_tests::nodes::pinned::{NODE_22, NODE_24, NODE_26};
use sea_build_tests::nodes::test_env;

/// Builds its state (a table of squares and a greeting read from a file) at build time; at
/// run time prints it with the arguments, and says whether it runs from the snapshot.
const SNAPSHOT_MAIN: &str = r#"const v8 = require('node:v8');
const fs = require('node:fs');
// At build time main runs in the staging directory, which holds the assets.
const state = { greeting: fs.readFileSync('js/greeting.txt', 'utf8').trim(), squares: [1, 2, 3, 4].map((n) => n * n) };
v8.startupSnapshot.setDeserializeMainFunction(() => {
  console.log(`${state.greeting} ${state.squares.join(',')} [${process.argv.slice(2).join(' ')}] snapshot=${v8.startupSnapshot.isBuildingSnapshot() ? 'building' : 'restored'} ${process.version}`);
  if (process.argv.includes('--fail')) process.exit(3);
});
"#;

const PLAIN_MAIN: &str = "console.log(`plain from ${process.version}`);\n";

fn fetcher() -> NodeFetcher {
    NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm])
}

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// A package at `dir` with `main` (and the asset `greeting.txt` beside it), declaring a SEA.
fn package(dir: &Utf8Path, node: Version, main: &str, metadata: SeaMetadata) -> Sea {
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("js/main.js"), main).unwrap();
    std::fs::write(dir.join("js/greeting.txt"), "hello, snapshot\n").unwrap();
    SeaMetadata {
        name: Some("app".into()),
        main: Some("js/main.js".into()),
        node_version: Some(node.to_string()),
        assets: BTreeMap::from([("greeting.txt".to_owned(), "js/greeting.txt".into())]),
        ..metadata
    }
    .resolve("app", dir, "test")
    .unwrap()
}

fn try_build(sea: &Sea, out: &Utf8Path) -> sea_build::Result<Artifact> {
    let fetcher = fetcher();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &test_env() };
    pipeline.build(sea, Platform::host().unwrap(), out)
}

fn run(artifact: &Utf8Path, args: &[&str]) -> std::process::Output {
    Command::new(artifact).args(args).env_clear().output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn snapshot_seas_for_node_22_24_and_26_start_from_their_snapshot() {
    for pinned in [NODE_22, NODE_24, NODE_26] {
        let (_keep, dir) = temp();
        // Bundled (the default) and unbundled mains both become snapshots.
        for bundle in [true, false] {
            let sea = package(&dir.join(format!("pkg-{bundle}")), pinned, SNAPSHOT_MAIN, SeaMetadata { use_snapshot: Some(true), bundle: Some(bundle), ..SeaMetadata::default() });
            let artifact = try_build(&sea, &dir.join(format!("out-{bundle}"))).unwrap_or_else(|error| panic!("node {pinned}, bundle {bundle}: {error:#}"));
            assert!(artifact.manifest.startup_snapshot, "node {pinned}");
            assert!(!artifact.manifest.code_cache_embedded, "node calls a code cache beside a snapshot redundant");
            assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::NoCache);

            let output = run(&artifact.path, &["a", "b c"]);
            assert!(output.status.success(), "node {pinned}: {}", text(&output.stderr));
            // The greeting was read from the package at build time: the artifact has no such file.
            assert_eq!(text(&output.stdout), format!("hello, snapshot 1,4,9,16 [a b c] snapshot=restored v{pinned}\n"), "node {pinned}, bundle {bundle}");
            assert_eq!(text(&output.stderr), "", "node {pinned}: stderr must be empty");
            assert_eq!(run(&artifact.path, &["--fail"]).status.code(), Some(3), "exit codes pass through");

            let report = verify::verify(&artifact.path, &[], &fetcher(), &Processes, &test_env()).unwrap();
            assert!(report.passed(), "node {pinned}: {report:#?}");
            let names: Vec<&str> = report.checks.iter().map(|check| check.name).collect();
            assert!(names.contains(&"startup snapshot embedded") && names.contains(&"run-time check"), "{names:?}");
            let made_by = report.checks.iter().find(|check| check.name == "startup snapshot embedded").unwrap();
            assert!(made_by.outcome.as_ref().unwrap().contains(&format!("made by node {pinned} for linux-x64")), "{made_by:?}");
        }
    }
}

#[test]
fn verify_cache_refuses_a_snapshot_from_another_node() {
    let (_keep, dir) = temp();
    let sea = package(&dir.join("pkg"), NODE_24, SNAPSHOT_MAIN, SeaMetadata { use_snapshot: Some(true), ..SeaMetadata::default() });
    let artifact = try_build(&sea, &dir.join("out")).unwrap();
    // The manifest claims node 22: the snapshot's head says 24.
    let manifest_path = sea_build::artifact::manifest_path(&artifact.path);
    let mut manifest = artifact.manifest.clone();
    manifest.node_version = NODE_22;
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let report = verify::verify(&artifact.path, &[], &fetcher(), &Processes, &test_env()).unwrap();
    assert!(!report.passed());
    let failed = report.checks.iter().find(|check| check.outcome.is_err()).unwrap();
    assert_eq!(failed.name, "startup snapshot embedded");
    assert!(failed.outcome.as_ref().unwrap_err().contains(&format!("made by node {NODE_24}")), "{failed:?}");
}

#[test]
fn a_snapshot_main_without_the_deserialize_call_gets_an_error_that_says_so() {
    for pinned in [NODE_22, NODE_24, NODE_26] {
        let (_keep, dir) = temp();
        let sea = package(&dir.join("pkg"), pinned, PLAIN_MAIN, SeaMetadata { use_snapshot: Some(true), ..SeaMetadata::default() });
        let error = format!("{:#}", try_build(&sea, &dir.join("out")).unwrap_err());
        assert!(error.contains("did not call `v8.startupSnapshot.setDeserializeMainFunction(fn)`") && error.contains("use-snapshot = false"), "node {pinned}: {error}");
        assert!(error.contains("js/main.js"), "the error names the file: {error}");
        // Nothing was published.
        assert!(!dir.join("out/app").exists());
    }
}

#[test]
fn snapshots_for_targets_that_cannot_run_here_are_refused() {
    let (_keep, dir) = temp();
    let sea = package(&dir.join("pkg"), NODE_26, SNAPSHOT_MAIN, SeaMetadata { use_snapshot: Some(true), ..SeaMetadata::default() });
    let fetcher = fetcher();
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &test_env() };
    let error = format!("{:#}", pipeline.build(&sea, "darwin-x64".parse().unwrap(), &dir.join("out")).unwrap_err());
    assert!(error.contains("with `use-snapshot`") && error.contains("cannot run here") && error.contains("use-snapshot = false"), "{error}");
}

/// The sections `readelf -SW` lists for `path`: (name, type, file size).
fn readelf_sections(path: &Utf8Path) -> Vec<(String, String, u64)> {
    let output = Command::new("readelf").args(["-SW", path.as_str()]).output().expect("readelf (binutils) is installed by `cargo xtask test`");
    assert!(output.status.success() && output.stderr.is_empty(), "readelf -S {path}: {}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .filter_map(|line| {
            // "  [12] .name  TYPE  address offset size ...": the bracket may hold a space.
            let rest = line.trim_start().strip_prefix('[')?;
            let (_, rest) = rest.split_once(']')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.len() < 5 || fields[0] == "Name" {
                return None;
            }
            Some((fields[0].to_owned(), fields[1].to_owned(), u64::from_str_radix(fields[4], 16).ok()?))
        })
        .collect()
}

#[test]
fn stripped_seas_for_node_22_24_and_26_run_with_their_cache_and_are_smaller_by_the_symbol_tables() {
    for pinned in [NODE_22, NODE_24, NODE_26] {
        let (_keep, dir) = temp();
        let metadata = |strip| SeaMetadata { strip: Some(strip), bundle: Some(false), ..SeaMetadata::default() };
        let whole = try_build(&package(&dir.join("whole"), pinned, PLAIN_MAIN, metadata(false)), &dir.join("whole/out")).unwrap();
        let stripped = try_build(&package(&dir.join("stripped"), pinned, PLAIN_MAIN, metadata(true)), &dir.join("stripped/out")).unwrap();
        assert_eq!(whole.manifest.stripped_bytes, None);
        assert_eq!(stripped.manifest.cache_accepted, CacheAccepted::Yes, "node {pinned}");

        // It runs, with its cache accepted (node prints nothing on stderr), and verify agrees.
        let output = run(&stripped.path, &[]);
        assert!(output.status.success(), "node {pinned}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), format!("plain from v{pinned}\n"));
        assert_eq!(text(&output.stderr), "", "node {pinned}: stderr must be empty");
        let report = verify::verify(&stripped.path, &[], &fetcher(), &Processes, &test_env()).unwrap();
        assert!(report.passed(), "node {pinned}: {report:#?}");

        // Smaller by what readelf lists for node's symbol table, its strings and debug info,
        // less the zeros that keep the appended segment's file offset and address apart by
        // the first PT_LOAD's bias (for old kernels) while its address stays above node's
        // .bss: the stripped file ends below that address, so up to the .bss size plus two
        // pages of zeros come back.
        let base_sections = readelf_sections(&whole.node.path);
        let symbols: u64 = base_sections.iter().filter(|(name, kind, _)| kind == "SYMTAB" || name == ".strtab" || name.starts_with(".debug")).map(|(_, _, size)| size).sum();
        let bss = base_sections.iter().find(|(name, _, _)| name == ".bss").map_or(0, |(_, _, size)| *size);
        assert!(symbols > 1 << 20, "node {pinned} ships its symbol tables: {symbols} bytes");
        let (whole_len, stripped_len) = (std::fs::metadata(&whole.path).unwrap().len(), std::fs::metadata(&stripped.path).unwrap().len());
        let saved = whole_len - stripped_len;
        eprintln!("node {pinned}: {whole_len} -> {stripped_len} bytes, {saved} saved; symbol tables and debug sections {symbols}, .bss {bss}");
        assert!(saved <= symbols + 4096 && saved + bss + 2 * 4096 >= symbols, "node {pinned}: {whole_len} - {stripped_len} = {saved}, symbol tables {symbols}, .bss {bss}");
        let recorded = stripped.manifest.stripped_bytes.unwrap();
        assert!(recorded >= symbols && recorded < symbols + 64, "node {pinned}: manifest says {recorded}, readelf {symbols}");

        // An independent reader: no symbol table, no debug sections, our note still there,
        // and nothing readelf warns about in any of its views.
        let sections = readelf_sections(&stripped.path);
        assert!(sections.iter().all(|(name, kind, _)| kind != "SYMTAB" && name != ".strtab" && !name.starts_with(".debug")), "{sections:?}");
        assert!(sections.iter().any(|(name, _, _)| name == ".note.node.sea") && sections.iter().any(|(name, _, _)| name == ".dynsym"));
        // Node's own annobin notes make readelf warn about gaps; the SEA may add no warning.
        let warnings = |path: &Utf8Path| {
            let all = Command::new("readelf").args(["-aW", path.as_str()]).output().unwrap();
            assert!(all.status.success(), "readelf -a {path}: {}", text(&all.stderr));
            text(&all.stderr)
        };
        assert_eq!(warnings(&stripped.path), warnings(&whole.node.path), "readelf -a warns about the stripped SEA of node {pinned}, and not about node");
        assert_eq!(
            sea_build::inject::find_blob(&std::fs::read(&stripped.path).unwrap()).unwrap().map(<[u8]>::len),
            sea_build::inject::find_blob(&std::fs::read(&whole.path).unwrap()).unwrap().map(<[u8]>::len)
        );

        // GNU strip takes it, and what it writes still runs with the cache. (It says it
        // adjusted the LMA of .note.node.sea, as it does for unstripped SEAs.)
        let again = dir.join("again");
        let strip = Command::new("strip").args(["-o", again.as_str(), stripped.path.as_str()]).output().expect("strip (binutils) is installed by `cargo xtask test`");
        assert!(strip.status.success(), "strip on the stripped SEA of node {pinned}: {}", text(&strip.stderr));
        let output = run(&again, &[]);
        assert_eq!((text(&output.stdout), text(&output.stderr)), (format!("plain from v{pinned}\n"), String::new()), "node {pinned} after GNU strip");
        // And so does llvm-strip.
        let llvm = dir.join("llvm");
        let strip = Command::new("llvm-strip").args(["-o", llvm.as_str(), stripped.path.as_str()]).output().expect("llvm-strip (llvm) is installed by `cargo xtask test`");
        assert!(strip.status.success(), "llvm-strip on the stripped SEA of node {pinned}: {}", text(&strip.stderr));
        let output = run(&llvm, &[]);
        assert_eq!((text(&output.stdout), text(&output.stderr)), (format!("plain from v{pinned}\n"), String::new()), "node {pinned} after llvm-strip");
    }
}

#[test]
fn stripping_is_reproducible_across_checkouts() {
    let (_keep, dir) = temp();
    let metadata = || SeaMetadata { strip: Some(true), bundle: Some(false), ..SeaMetadata::default() };
    let a = try_build(&package(&dir.join("a"), NODE_24, PLAIN_MAIN, metadata()), &dir.join("a/out")).unwrap();
    let b = try_build(&package(&dir.join("b/c/d"), NODE_24, PLAIN_MAIN, metadata()), &dir.join("b/c/d/out")).unwrap();
    assert_eq!(a.manifest.artifact_sha256, b.manifest.artifact_sha256);
    assert_eq!(sea_build::digest::sha256_hex(&std::fs::read(&a.path).unwrap()), a.manifest.artifact_sha256, "the hash computed while writing is the file's");
}

#[test]
fn a_snapshot_can_be_stripped_too() {
    let (_keep, dir) = temp();
    let sea = package(&dir.join("pkg"), NODE_24, SNAPSHOT_MAIN, SeaMetadata { use_snapshot: Some(true), strip: Some(true), ..SeaMetadata::default() });
    let artifact = try_build(&sea, &dir.join("out")).unwrap();
    assert!(artifact.manifest.startup_snapshot && artifact.manifest.stripped_bytes.is_some());
    let output = run(&artifact.path, &[]);
    assert_eq!(text(&output.stdout), format!("hello, snapshot 1,4,9,16 [] snapshot=restored v{NODE_24}\n"), "{}", text(&output.stderr));
}

/// A small calculator: tokenizer, parser and evaluator, run on the expressions of a file (one a
/// line) or on `--expr E`. Most of its functions are compiled lazily, when a run needs them.
const CALCULATOR: &str = r#"const fs = require('node:fs');
function tokenize(text) {
  const tokens = [];
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    if (/[0-9.]/.test(c)) { let j = i; while (j < text.length && /[0-9.]/.test(text[j])) j++; tokens.push({ kind: 'num', value: Number(text.slice(i, j)) }); i = j; continue; }
    if (/[a-z]/.test(c)) { let j = i; while (j < text.length && /[a-z]/.test(text[j])) j++; tokens.push({ kind: 'name', value: text.slice(i, j) }); i = j; continue; }
    tokens.push({ kind: 'op', value: c }); i++;
  }
  return tokens;
}
function parse(tokens) {
  let at = 0;
  const peek = () => tokens[at];
  const take = () => tokens[at++];
  function primary() {
    const t = take();
    if (t.kind === 'num') return { kind: 'num', value: t.value };
    if (t.kind === 'name') { take(); const arg = sum(); take(); return { kind: 'call', name: t.value, arg }; }
    if (t.value === '(') { const e = sum(); take(); return e; }
    if (t.value === '-') return { kind: 'neg', arg: primary() };
    throw new Error('unexpected ' + t.value);
  }
  function power() { const base = primary(); if (peek() && peek().value === '^') { take(); return { kind: 'bin', op: '^', left: base, right: power() }; } return base; }
  function product() { let left = power(); while (peek() && '*/%'.includes(peek().value)) { const op = take().value; left = { kind: 'bin', op, left, right: power() }; } return left; }
  function sum() { let left = product(); while (peek() && '+-'.includes(peek().value)) { const op = take().value; left = { kind: 'bin', op, left, right: product() }; } return left; }
  return sum();
}
const functions = { sqrt: Math.sqrt, abs: Math.abs, floor: Math.floor, fact: (n) => (n <= 1 ? 1 : n * functions.fact(n - 1)) };
function evaluate(node) {
  switch (node.kind) {
    case 'num': return node.value;
    case 'neg': return -evaluate(node.arg);
    case 'call': return functions[node.name](evaluate(node.arg));
    case 'bin': {
      const a = evaluate(node.left), b = evaluate(node.right);
      switch (node.op) { case '+': return a + b; case '-': return a - b; case '*': return a * b; case '/': return a / b; case '%': return a % b; case '^': return a ** b; }
    }
  }
  throw new Error('bad node');
}
const args = process.argv.slice(2);
const lines = args[0] === '--expr' ? [args[1]] : fs.readFileSync(args[0], 'utf8').split('\n').filter(Boolean);
console.log(lines.map((line) => evaluate(parse(tokenize(line)))).join(' '));
"#;

/// The code cache embedded in `artifact`, as node finds it.
fn embedded_cache_len(artifact: &Artifact) -> usize {
    let image = std::fs::read(&artifact.path).unwrap();
    let blob = sea_build::inject::find_blob(&image).unwrap().unwrap().to_vec();
    let version = artifact.manifest.node_version;
    let layout = sea_build::blob::BlobLayout::for_node_version(version.major, version.minor, version.patch).unwrap();
    sea_build::blob::parse(&blob, layout).unwrap().code_cache.unwrap().len()
}

#[test]
fn a_trained_code_cache_is_accepted_and_correct_on_input_it_was_not_trained_on() {
    for pinned in [NODE_22, NODE_24, NODE_26] {
        let (_keep, dir) = temp();
        let build = |name: &str, metadata: SeaMetadata| {
            let pkg = dir.join(name);
            std::fs::create_dir_all(pkg.join("fixtures")).unwrap();
            std::fs::write(pkg.join("fixtures/train.txt"), "1 + 2 * 3\n(4 + 5) ^ 2 % 7\nsqrt(16) + abs(-3)\n").unwrap();
            let sea = package(&pkg, pinned, CALCULATOR, SeaMetadata { bundle: Some(false), verify_args: vec!["--expr".into(), "1+1".into()], ..metadata });
            try_build(&sea, &pkg.join("out")).unwrap_or_else(|error| panic!("node {pinned}: {error:#}"))
        };
        let trained_metadata: SeaMetadata = serde_json::from_value(serde_json::json!({"code-cache": "trained", "train-args": ["fixtures/train.txt"]})).unwrap();
        let trained = build("trained", trained_metadata);
        let plain = build("plain", SeaMetadata::default());
        assert!(trained.manifest.code_cache_trained && !plain.manifest.code_cache_trained);
        assert_eq!(trained.manifest.cache_accepted, CacheAccepted::Yes, "node {pinned}");
        // The run compiled functions the plain cache does not hold.
        let (trained_len, plain_len) = (embedded_cache_len(&trained), embedded_cache_len(&plain));
        assert!(trained_len > plain_len, "node {pinned}: trained cache {trained_len} bytes, plain {plain_len}");

        // Input it was not trained on: other expressions, one through a function (fact) the
        // training never called, and a file it never read.
        std::fs::write(dir.join("other.txt"), "fact(5) - 2 ^ 3\nfloor(7 / 2) * -1\n").unwrap();
        for (args, expected) in [(vec![dir.join("other.txt").to_string()], "112 -3\n"), (vec!["--expr".to_owned(), "2 * (3 + 4) - fact(3)".to_owned()], "8\n")] {
            let output = Command::new(&trained.path).args(&args).env_clear().output().unwrap();
            assert!(output.status.success(), "node {pinned}: {}", text(&output.stderr));
            assert_eq!(text(&output.stdout), expected, "node {pinned} {args:?}");
            assert_eq!(text(&output.stderr), "", "node {pinned}: the trained cache must be accepted (no `Code cache data rejected.`)");
        }
        let report = verify::verify(&trained.path, &[], &fetcher(), &Processes, &test_env()).unwrap();
        assert!(report.passed(), "node {pinned}: {report:#?}");

        // The training run is made with `--predictable`: the same package elsewhere gives the
        // same bytes.
        let trained_metadata: SeaMetadata = serde_json::from_value(serde_json::json!({"code-cache": "trained", "train-args": ["fixtures/train.txt"]})).unwrap();
        let again = build("elsewhere/trained", trained_metadata);
        assert_eq!(again.manifest.artifact_sha256, trained.manifest.artifact_sha256, "node {pinned}");
    }
}

#[test]
fn a_failing_training_run_and_missing_train_args_get_clear_errors() {
    let (_keep, dir) = temp();
    let metadata: SeaMetadata = serde_json::from_value(serde_json::json!({"code-cache": "trained", "train-args": ["fixtures/missing.txt"], "bundle": false})).unwrap();
    let sea = package(&dir.join("pkg"), NODE_24, CALCULATOR, SeaMetadata { verify_args: vec!["--expr".into(), "1".into()], ..metadata });
    let error = format!("{:#}", try_build(&sea, &dir.join("out")).unwrap_err());
    assert!(error.contains("training the code cache failed") && error.contains("fixtures/missing.txt") && error.contains("ENOENT"), "{error}");
    assert!(!dir.join("out/app").exists());

    let missing: SeaMetadata = serde_json::from_value(serde_json::json!({"code-cache": "trained", "main": "js/main.js"})).unwrap();
    let error = missing.resolve("app", &dir.join("pkg"), "Cargo.toml").unwrap_err();
    assert_eq!(error.kind(), sea_build::ErrorKind::Config, "{error}");
    assert!(error.to_string().contains("needs `train-args`"), "{error}");
}
