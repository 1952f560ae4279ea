//! Node's own SEA scenarios as a conformance suite: what node's `test/sea` checks (the
//! experimental warning, code caches, assets, `execArgv` and its extension, snapshots, an empty
//! or ES module main, inspector flags, dynamic import, `useVfs`), written as our own programs
//! and run against executables sea-build injected. Each runs for linux-x64 on every pinned node
//! that has it, for win-x64 under Wine and linux-arm64 under qemu on node 26, and built by the
//! pipeline from `[package.metadata.sea]` where the scenario maps onto it.
//!
//! postject (pinned, from the npm registry) injects the same blob as the control: its executable
//! must print what ours prints. A plain copy of node (no blob) is the negative control: every
//! scenario's check must fail on it. CI runs each scenario on the newest pinned node that has
//! it, and four scenarios under Wine and qemu; `cargo xtask test --full` runs the whole matrix.
//! Each test prints its table and its time.

use std::time::Instant;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::node::{NodeBinary, NodeFetcher, Os, Platform, SourceKind, Version};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::{Invocation, Processes, RunOutput, Runner};
use sea_build::runtime::TargetRunner;
use sea_build::{Env, SeaMetadata};
use sea_build_tests::nodes::pinned::{NODE_22, NODE_24, NODE_26};
use sea_build_tests::nodes::{real_node, test_env};
use sea_build_tests::packages::{self, pinned::POSTJECT};
use sea_build_tests::{full_matrix as full, temp_dir as temp};

/// What node prints once at start-up unless the blob or a flag silences it.
const WARNING: &str = "ExperimentalWarning: Single executable application is an experimental feature";

/// The scenarios CI runs under Wine and qemu.
const FOREIGN_SLICE: &[&str] = &["basic", "code-cache", "assets", "snapshot"];

/// How to get what the foreign targets need.
const HOW_TO_SET_UP: &str = "run `cargo xtask setup` (qemu-user, the cross C runtimes and a Wine 10) and the tests through `cargo xtask test`, which sets SEA_BUILD_WINE";

/// One of node's SEA scenarios.
struct Scenario {
    name: &'static str,
    /// Whether a node release has it.
    on: fn(Version) -> bool,
    /// The package's files, main first.
    files: &'static [(&'static str, &'static str)],
    /// Files that lie beside the executable when it runs.
    beside: &'static [(&'static str, &'static str)],
    /// `sea-config.json`'s fields besides `main` and `output` (JSON members).
    config: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// All of stdout.
    stdout: &'static str,
    /// Whether node prints its experimental warning.
    warning: bool,
    /// What stderr must show, and what it must not.
    stderr_has: &'static [&'static str],
    stderr_lacks: &'static [&'static str],
    /// The scenario as `[package.metadata.sea]` fields, where it maps onto them.
    metadata: Option<&'static str>,
}

fn any(_: Version) -> bool {
    true
}

/// `execArgv`, `execArgvExtension` and `getAssetKeys`: 22.20 and 24.7 on.
fn exec_argv(version: Version) -> bool {
    (version.major, version.minor) >= (if version.major == 22 { (22, 20) } else { (24, 7) })
}

/// ES module mains (25.7) and `useVfs` (26).
fn node_26(version: Version) -> bool {
    version.major >= 26
}

/// A CommonJS main's `import()` of a file on disk: node 26 refuses it without an opt-in field
/// that 26.10 does not have yet.
fn before_26(version: Version) -> bool {
    version.major < 26
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "basic",
        on: any,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\nassert(require('node:sea').isSea());\nassert.strictEqual(process.argv[0], process.execPath);\nassert.deepStrictEqual(process.argv.slice(2), ['-a', '--b=c', 'd']);\n// The main's require loads built-in modules only.\nassert.throws(() => require('./main.js'), { code: 'ERR_UNKNOWN_BUILTIN_MODULE' });\nconsole.log('Hello, world! \u{1F60A}');\nconsole.log('ok basic');\n",
        )],
        beside: &[],
        config: "",
        args: &["-a", "--b=c", "d"],
        env: &[],
        stdout: "Hello, world! \u{1F60A}\nok basic\n",
        warning: true,
        stderr_has: &["only supports loading built-in modules"],
        stderr_lacks: &[],
        metadata: None,
    },
    Scenario {
        name: "warning-disabled",
        on: any,
        files: &[("main.js", "console.log('ok warning-disabled');\n")],
        beside: &[],
        config: r#""disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "ok warning-disabled\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: None,
    },
    Scenario {
        name: "code-cache",
        on: any,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\nfunction fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nassert.strictEqual(fib(20), 6765);\nconsole.log('ok code-cache');\n",
        )],
        beside: &[],
        config: r#""useCodeCache": true, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "ok code-cache\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Code cache data rejected", "Warning"],
        metadata: None,
    },
    Scenario {
        name: "assets",
        on: any,
        files: &[
            (
                "main.js",
                "const assert = require('node:assert');\nconst { getAsset, getAssetAsBlob, getRawAsset } = require('node:sea');\nconst text = getAsset('greeting.txt', 'utf8');\nassert.strictEqual(text, 'Gr\u{fc}\u{df}e, asset \u{1F60A}\\n');\nconst copy = getAsset('greeting.txt');\nassert(copy instanceof ArrayBuffer);\nassert.deepStrictEqual(Buffer.from(copy), Buffer.from(text));\nassert.deepStrictEqual(new Uint8Array(getRawAsset('greeting.txt')), new Uint8Array(copy));\n// Every getAsset is a copy of its own.\nnew Uint8Array(copy)[0] = 0;\nassert.strictEqual(getAsset('greeting.txt', 'utf8'), text);\nassert.throws(() => getAsset('missing.txt'), { code: 'ERR_SINGLE_EXECUTABLE_APPLICATION_ASSET_NOT_FOUND' });\nassert.throws(() => getRawAsset(1), { code: 'ERR_INVALID_ARG_TYPE' });\ngetAssetAsBlob('data/more.txt').text().then((more) => {\n  assert.strictEqual(more, 'more data\\n');\n  process.stdout.write(text);\n  console.log('ok assets');\n});\n",
            ),
            ("greeting.txt", "Gr\u{fc}\u{df}e, asset \u{1F60A}\n"),
            ("more.txt", "more data\n"),
        ],
        beside: &[],
        config: r#""assets": { "greeting.txt": "greeting.txt", "data/more.txt": "more.txt" }, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "Gr\u{fc}\u{df}e, asset \u{1F60A}\nok assets\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: Some(r#"assets = { "greeting.txt" = "greeting.txt", "data/more.txt" = "more.txt" }"#),
    },
    Scenario {
        name: "asset-keys",
        on: exec_argv,
        files: &[
            (
                "main.js",
                "const assert = require('node:assert');\nassert.deepStrictEqual(require('node:sea').getAssetKeys().sort(), ['a.txt', 'dir/b.txt', 'dir/sub/c.txt']);\nconsole.log('ok asset-keys');\n",
            ),
            ("a.txt", "a\n"),
        ],
        beside: &[],
        config: r#""assets": { "a.txt": "a.txt", "dir/b.txt": "a.txt", "dir/sub/c.txt": "a.txt" }, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "ok asset-keys\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: Some(r#"assets = { "a.txt" = "a.txt", "dir/b.txt" = "a.txt", "dir/sub/c.txt" = "a.txt" }"#),
    },
    Scenario {
        name: "asset-keys-empty",
        on: exec_argv,
        files: &[("main.js", "require('node:assert').deepStrictEqual(require('node:sea').getAssetKeys(), []);\nconsole.log('ok asset-keys-empty');\n")],
        beside: &[],
        config: r#""disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "ok asset-keys-empty\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: None,
    },
    Scenario {
        name: "exec-argv",
        on: exec_argv,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\nassert.deepStrictEqual(process.execArgv, ['--no-warnings', '--disable-proto=throw']);\nassert.deepStrictEqual(process.argv.slice(2), ['user-arg']);\nassert.throws(() => ({}).__proto__, { code: 'ERR_PROTO_ACCESS' });\nprocess.emitWarning('silenced by --no-warnings');\nconsole.log('ok exec-argv');\n",
        )],
        beside: &[],
        // No `disableExperimentalSEAWarning`: --no-warnings silences node's warning too.
        config: r#""execArgv": ["--no-warnings", "--disable-proto=throw"]"#,
        args: &["user-arg"],
        env: &[],
        stdout: "ok exec-argv\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["silenced by --no-warnings"],
        metadata: Some(r#"exec-argv = ["--no-warnings", "--disable-proto=throw"]"#),
    },
    Scenario {
        name: "exec-argv-extension-none",
        on: exec_argv,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\nassert.deepStrictEqual(process.execArgv, ['--no-warnings']);\n// NODE_OPTIONS does not reach node.\nassert.strictEqual(({}).__proto__, Object.prototype);\nconsole.log('ok exec-argv-extension-none');\n",
        )],
        beside: &[],
        config: r#""execArgv": ["--no-warnings"], "execArgvExtension": "none""#,
        args: &[],
        env: &[("NODE_OPTIONS", "--disable-proto=throw")],
        stdout: "ok exec-argv-extension-none\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &[],
        metadata: Some(
            r#"exec-argv = ["--no-warnings"]
exec-argv-extension = "none""#,
        ),
    },
    Scenario {
        name: "exec-argv-extension-env",
        on: exec_argv,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\nassert.deepStrictEqual(process.execArgv, ['--no-warnings']);\nlet blocked = false;\ntry { ({}).__proto__; } catch { blocked = true; }\n// NODE_OPTIONS reaches node (and process.execArgv does not show it).\nassert.strictEqual(blocked, 'NODE_OPTIONS' in process.env);\nconsole.log('ok exec-argv-extension-env');\n",
        )],
        beside: &[],
        config: r#""execArgv": ["--no-warnings"], "execArgvExtension": "env""#,
        args: &[],
        env: &[("NODE_OPTIONS", "--disable-proto=throw")],
        stdout: "ok exec-argv-extension-env\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &[],
        metadata: Some(
            r#"exec-argv = ["--no-warnings"]
exec-argv-extension = "env""#,
        ),
    },
    Scenario {
        name: "exec-argv-extension-cli",
        on: exec_argv,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\nassert.deepStrictEqual(process.execArgv, ['--no-warnings', '--disable-proto=throw']);\nassert.deepStrictEqual(process.argv.slice(2), ['user-arg']);\n// --node-options won over NODE_OPTIONS, which would have deleted __proto__.\nassert.throws(() => ({}).__proto__, { code: 'ERR_PROTO_ACCESS' });\nconsole.log('ok exec-argv-extension-cli');\n",
        )],
        beside: &[],
        config: r#""execArgv": ["--no-warnings"], "execArgvExtension": "cli""#,
        args: &["--node-options=--disable-proto=throw", "user-arg"],
        env: &[("NODE_OPTIONS", "--disable-proto=delete")],
        stdout: "ok exec-argv-extension-cli\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &[],
        metadata: Some(
            r#"exec-argv = ["--no-warnings"]
exec-argv-extension = "cli""#,
        ),
    },
    Scenario {
        name: "snapshot",
        on: any,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\nconst { startupSnapshot } = require('node:v8');\nassert(startupSnapshot.isBuildingSnapshot());\nconst made = { words: ['made', 'at', 'build', 'time'] };\nstartupSnapshot.setDeserializeMainFunction((data) => {\n  assert(!startupSnapshot.isBuildingSnapshot());\n  console.log(data.words.join(' '));\n  console.log('ok snapshot');\n}, made);\n",
        )],
        beside: &[],
        config: r#""useSnapshot": true, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "made at build time\nok snapshot\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: Some("use-snapshot = true"),
    },
    Scenario {
        name: "snapshot-code-cache",
        on: any,
        files: &[("main.js", "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => console.log('ok snapshot-code-cache'));\n")],
        beside: &[],
        // Node ignores the code cache when it has a snapshot.
        config: r#""useSnapshot": true, "useCodeCache": true, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "ok snapshot-code-cache\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["rejected", "Warning"],
        metadata: None,
    },
    Scenario {
        name: "snapshot-worker",
        on: any,
        files: &[(
            "main.js",
            "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {\n  const { Worker } = require('node:worker_threads');\n  new Worker(\"console.log('hello from a worker')\", { eval: true }).on('exit', () => console.log('ok snapshot-worker'));\n});\n",
        )],
        beside: &[],
        config: r#""useSnapshot": true, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "hello from a worker\nok snapshot-worker\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: None,
    },
    Scenario { name: "empty", on: any, files: &[("main.js", "")], beside: &[], config: "", args: &[], env: &[], stdout: "", warning: true, stderr_has: &[], stderr_lacks: &[], metadata: None },
    Scenario {
        name: "inspect-in-sea-flags",
        on: any,
        files: &[(
            "main.js",
            "const assert = require('node:assert');\n// The flag is the program's, not node's.\nassert.deepStrictEqual(process.argv.slice(2), ['--inspect=0']);\nassert.strictEqual(require('node:inspector').url(), undefined);\nconsole.log('ok inspect-in-sea-flags');\n",
        )],
        beside: &[],
        config: r#""disableExperimentalSEAWarning": true"#,
        args: &["--inspect=0"],
        env: &[],
        stdout: "ok inspect-in-sea-flags\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Debugger listening"],
        metadata: None,
    },
    Scenario {
        name: "inspect-node-options",
        on: any,
        files: &[("main.js", "require('node:assert').match(require('node:inspector').url(), /^ws:\\/\\/127\\.0\\.0\\.1:\\d+\\//);\nconsole.log('ok inspect-node-options');\n")],
        beside: &[],
        config: r#""disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[("NODE_OPTIONS", "--inspect=127.0.0.1:0")],
        stdout: "ok inspect-node-options\n",
        warning: false,
        stderr_has: &["Debugger listening on ws://127.0.0.1:"],
        stderr_lacks: &[],
        metadata: None,
    },
    Scenario {
        name: "esm",
        on: node_26,
        files: &[(
            "main.mjs",
            "import assert from 'node:assert';\nimport { isSea } from 'node:sea';\nassert(isSea());\nassert.match(import.meta.url, /^file:/);\nconst answer = await Promise.resolve(42);\nconsole.log(`ok esm ${answer}`);\n",
        )],
        beside: &[],
        config: r#""mainFormat": "module", "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[("NODE_DEBUG_NATIVE", "SEA")],
        stdout: "ok esm 42\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["code cache accepted", "Warning"],
        metadata: Some("code-cache = false"),
    },
    Scenario {
        name: "esm-code-cache",
        on: node_26,
        files: &[("main.mjs", "import { isSea } from 'node:sea';\nconsole.log(`ok esm-code-cache ${isSea()}`);\n")],
        beside: &[],
        config: r#""mainFormat": "module", "useCodeCache": true, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[("NODE_DEBUG_NATIVE", "SEA")],
        stdout: "ok esm-code-cache true\n",
        warning: false,
        stderr_has: &["SEA module code cache accepted"],
        stderr_lacks: &["Warning"],
        metadata: Some("code-cache = true"),
    },
    Scenario {
        name: "dynamic-import",
        on: before_26,
        files: &[(
            "main.js",
            "const path = require('node:path');\nconst { pathToFileURL } = require('node:url');\nconst beside = pathToFileURL(path.join(path.dirname(process.execPath), 'user.mjs')).href;\nPromise.all([import('node:os'), import(beside)]).then(([os, user]) => {\n  require('node:assert').strictEqual(typeof os.arch(), 'string');\n  console.log(user.message);\n  console.log('ok dynamic-import');\n});\n",
        )],
        beside: &[("user.mjs", "export const message = 'imported from beside the executable';\n")],
        config: r#""disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "imported from beside the executable\nok dynamic-import\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: None,
    },
    Scenario {
        name: "esm-dynamic-import",
        on: node_26,
        files: &[("main.mjs", "const { sep } = await import('node:path');\nconst os = await import('node:os');\nconsole.log(`ok esm-dynamic-import ${typeof sep} ${typeof os.arch()}`);\n")],
        beside: &[],
        config: r#""mainFormat": "module", "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "ok esm-dynamic-import string string\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: None,
    },
    Scenario {
        name: "vfs",
        on: node_26,
        files: &[
            (
                "main.js",
                "const assert = require('node:assert');\nconst fs = require('node:fs');\nconst path = require('node:path');\nconst greeting = path.join(__dirname, 'data', 'greeting.txt');\nassert(fs.existsSync(greeting) && !fs.existsSync(path.join(__dirname, 'missing.txt')));\nassert(fs.statSync(greeting).isFile() && fs.statSync(path.join(__dirname, 'data')).isDirectory());\nassert(fs.readdirSync(__dirname).includes('modules'));\nconst text = fs.readFileSync(greeting, 'utf8');\n// Reads are copies: changing one leaves the next alone.\nfs.readFileSync(greeting)[0] = 0;\nassert.strictEqual(fs.readFileSync(greeting, 'utf8'), text);\nassert.strictEqual(require('./modules/calculator.js').sum(2, 3), 5);\nprocess.stdout.write(text);\nconsole.log('ok vfs');\n",
            ),
            ("data/greeting.txt", "hello from the vfs\n"),
            ("modules/calculator.js", "const { add } = require('./math.js');\nexports.sum = (a, b) => add(a, b);\n"),
            ("modules/math.js", "exports.add = (a, b) => a + b;\n"),
        ],
        beside: &[],
        config: r#""useVfs": true, "assets": { "data/greeting.txt": "data/greeting.txt", "modules/calculator.js": "modules/calculator.js", "modules/math.js": "modules/math.js" }, "disableExperimentalSEAWarning": true"#,
        args: &[],
        env: &[],
        stdout: "hello from the vfs\nok vfs\n",
        warning: false,
        stderr_has: &[],
        stderr_lacks: &["Warning"],
        metadata: Some(r#"vfs = ["data/**", "modules/**"]"#),
    },
];

fn write_files(dir: &Utf8Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// postject, installed with npm (from npm's cache after the first run) into a directory the
/// guard removes; its command-line script.
fn postject() -> (tempfile::TempDir, Utf8PathBuf) {
    let (keep, dir) = temp();
    packages::install(&dir, "sea-conformance-control", &[POSTJECT], false).unwrap();
    (keep, dir.join("node_modules/postject/dist/cli.js"))
}

/// What one scenario gave on one target and node.
struct Row {
    scenario: &'static str,
    target: String,
    node: Version,
    /// Ours, postject's and the plain node's verdicts ("-" where not run).
    ours: String,
    control: String,
    plain: String,
}

/// Stdout and stderr as text, with Windows line ends and pids made comparable, and lines that
/// differ on every run (the inspector's address) left out.
fn normalized(output: &RunOutput) -> (String, String) {
    let stderr: String = output.stderr_text().replace('\r', "").lines().filter(|line| !line.contains("ws://") && !line.contains("For help, see")).map(|line| format!("{line}\n")).collect();
    let mut stable = String::new();
    let mut rest = stderr.as_str();
    while let Some(at) = rest.find("(node:") {
        stable.push_str(&rest[..at + 6]);
        rest = rest[at + 6..].trim_start_matches(|c: char| c.is_ascii_digit());
        stable.push_str("PID");
    }
    stable.push_str(rest);
    (String::from_utf8_lossy(&output.stdout).replace('\r', ""), stable)
}

/// The scenario's check of one run; `warning` says whether node's experimental warning is due.
fn check(scenario: &Scenario, output: &RunOutput, warning: bool) -> Result<(), String> {
    let (stdout, stderr) = normalized(output);
    let stderr_all = output.stderr_text();
    let mut problems = Vec::new();
    if output.code != Some(0) {
        problems.push(format!("exit status {:?}", output.code));
    }
    if stdout != scenario.stdout {
        problems.push(format!("stdout {stdout:?}"));
    }
    if stderr.contains(WARNING) != warning {
        problems.push(format!("the experimental warning {}", if warning { "missing" } else { "shown" }));
    }
    problems.extend(scenario.stderr_has.iter().filter(|text| !stderr_all.contains(*text)).map(|text| format!("no {text:?} on stderr")));
    problems.extend(scenario.stderr_lacks.iter().filter(|text| stderr_all.contains(*text)).map(|text| format!("{text:?} on stderr")));
    if problems.is_empty() { Ok(()) } else { Err(format!("{}; stderr: {stderr_all:?}", problems.join(", "))) }
}

/// Runs `exe` as the scenario says, where `target` runs its platform's programs.
fn run(target: &TargetRunner, scenario: &Scenario, exe: &Utf8Path) -> RunOutput {
    let mut invocation = Invocation::new(exe, scenario.args.iter().copied());
    invocation.cwd = exe.parent().map(Utf8Path::to_owned);
    invocation.clean_env = true;
    invocation.env = scenario.env.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
    target.run(&invocation).unwrap_or_else(|error| panic!("could not run {exe}: {error:#}"))
}

/// `<dir>/<name>/app` (`app.exe` on Windows), beside the files the scenario puts there: the
/// executables have one name, which node prints in some of its messages.
fn place(dir: &Utf8Path, name: &str, scenario: &Scenario, node: &NodeBinary) -> Utf8PathBuf {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    write_files(&dir.join(name), scenario.beside);
    dir.join(name).join(if node.platform.os == Os::Windows { "app.exe" } else { "app" })
}

/// The scenario on one node and target: the blob generated by that node (where `target` runs
/// it), injected by sea-build and by postject into copies of it, and the three executables run.
fn conform(scenario: &Scenario, node: &NodeBinary, target: &TargetRunner, postject: &Utf8Path) -> Row {
    let (_keep, dir) = temp();
    let package = dir.join("package");
    write_files(&package, scenario.files);
    let separator = if scenario.config.is_empty() { "" } else { ", " };
    std::fs::write(package.join("sea-config.json"), format!(r#"{{ "main": "{}", "output": "sea-prep.blob"{separator}{} }}"#, scenario.files[0].0, scenario.config)).unwrap();
    let mut generate = Invocation::new(&node.path, ["--experimental-sea-config", "sea-config.json"]);
    generate.cwd = Some(package.clone());
    generate.clean_env = true;
    let generated = target.run(&generate).unwrap();
    assert!(generated.success(), "{}: node {} could not generate the blob: {}", scenario.name, node.version, generated.stderr_text());
    let blob = package.join("sea-prep.blob");

    let ours = place(&dir, "ours", scenario, node);
    sea_build::commands::inject_file(&node.path, &blob, &ours, Default::default(), &Env::from_process()).unwrap();
    let control = place(&dir, "postject", scenario, node);
    std::fs::copy(&node.path, &control).unwrap();
    let injected = std::process::Command::new("node")
        .arg(postject)
        .args([control.as_str(), "NODE_SEA_BLOB", blob.as_str(), "--sentinel-fuse", sea_build::inject::fuse::FUSE_SENTINEL])
        .output()
        .expect("node runs postject (Debian package nodejs; `cargo xtask test` installs it)");
    assert!(injected.status.success(), "postject failed: {}", String::from_utf8_lossy(&injected.stderr));
    let plain = place(&dir, "plain", scenario, node);
    std::fs::copy(&node.path, &plain).unwrap();

    let ours_output = run(target, scenario, &ours);
    let control_output = run(target, scenario, &control);
    let verdict = |result: Result<(), String>| match result {
        Ok(()) => "ok".to_owned(),
        Err(problem) => format!("FAILED: {problem}"),
    };
    let control = match check(scenario, &control_output, scenario.warning) {
        Ok(()) if normalized(&control_output) == normalized(&ours_output) => "same".to_owned(),
        Ok(()) => format!("DIFFERS: ours {:?}, postject {:?}", normalized(&ours_output), normalized(&control_output)),
        Err(problem) => format!("postject's fails too: {problem}"),
    };
    let plain = match check(scenario, &run(target, scenario, &plain), scenario.warning) {
        Ok(()) => "PASSED without a blob".to_owned(),
        Err(_) => "fails".to_owned(),
    };
    Row { scenario: scenario.name, target: node.platform.to_string(), node: node.version, ours: verdict(check(scenario, &ours_output, scenario.warning)), control, plain }
}

/// Whether a row is what conformance means: ours passes, postject's behaves the same, the plain
/// node fails ("-": not run in that row; the pipeline's rows lean on the matrix's controls).
fn conforms(row: &Row) -> bool {
    row.ours == "ok" && matches!(row.control.as_str(), "same" | "-") && matches!(row.plain.as_str(), "fails" | "-")
}

/// Prints the rows as a table with the time taken, and fails with every row that does not conform.
fn report(what: &str, rows: &[Row], started: Instant) {
    eprintln!("{what}: {} runs in {:.1} s", rows.len(), started.elapsed().as_secs_f64());
    eprintln!("| scenario | target | node | sea-build | postject | plain node |\n|---|---|---|---|---|---|");
    for row in rows {
        let short = |text: &str| text.chars().take(60).collect::<String>();
        eprintln!("| {} | {} | {} | {} | {} | {} |", row.scenario, row.target, row.node, short(&row.ours), short(&row.control), short(&row.plain));
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|row| !conforms(row))
        .map(|row| format!("{} on {} node {}: {}; postject: {}; plain node: {}", row.scenario, row.target, row.node, row.ours, row.control, row.plain))
        .collect();
    assert!(failed.is_empty(), "{what}: {} of {} do not conform:\n{}", failed.len(), rows.len(), failed.join("\n"));
}

/// Every scenario on `versions` for `platform` (those of `names`, when given), each on the nodes
/// that have it.
fn matrix(platform: &str, versions: &[Version], names: Option<&[&str]>) -> Vec<Row> {
    let platform: Platform = platform.parse().unwrap();
    let (_keep, postject_cli) = postject();
    let mut rows = Vec::new();
    for &version in versions {
        let node = real_node(version, platform.node_name()).unwrap();
        let target = TargetRunner::for_target(platform, &node.path, &Processes, &test_env()).unwrap();
        assert!(target.runner().is_some(), "{platform} programs do not run here ({}): {HOW_TO_SET_UP}", target.execution);
        for scenario in SCENARIOS.iter().filter(|scenario| (scenario.on)(version) && names.is_none_or(|names| names.contains(&scenario.name))) {
            rows.push(conform(scenario, &node, &target, &postject_cli));
        }
    }
    rows
}

#[test]
fn node_scenarios_on_linux_x64() {
    let started = Instant::now();
    let rows = if full() {
        matrix("linux-x64", &[NODE_22, NODE_24, NODE_26], None)
    } else {
        // Each scenario once, on the newest pinned node that has it.
        let mut rows = matrix("linux-x64", &[NODE_26], None);
        let left: Vec<&str> = SCENARIOS.iter().filter(|scenario| !(scenario.on)(NODE_26)).map(|scenario| scenario.name).collect();
        rows.extend(matrix("linux-x64", &[NODE_24], Some(&left)));
        rows
    };
    assert!(SCENARIOS.iter().all(|scenario| rows.iter().any(|row| row.scenario == scenario.name)), "every scenario runs");
    report("linux-x64", &rows, started);
}

#[test]
fn node_scenarios_on_win_x64_under_wine() {
    let started = Instant::now();
    let rows = matrix("win-x64", &[NODE_26], (!full()).then_some(FOREIGN_SLICE));
    report("win-x64 under Wine", &rows, started);
}

#[test]
fn node_scenarios_on_linux_arm64_under_qemu() {
    let started = Instant::now();
    let rows = matrix("linux-arm64", &[NODE_26], (!full()).then_some(FOREIGN_SLICE));
    report("linux-arm64 under qemu", &rows, started);
}

/// The scenarios that map onto `[package.metadata.sea]`, declared there (with `bundle = false`,
/// so main ships as node's scenario has it) and built by the pipeline for this machine; the
/// artifact runs as the scenario says. sea-build always disables the experimental warning.
#[test]
fn node_scenarios_through_the_pipeline() {
    let started = Instant::now();
    let versions: &[Version] = if full() { &[NODE_22, NODE_24, NODE_26] } else { &[NODE_26] };
    let host = Platform::host().unwrap();
    let fetcher = NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm]);
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &test_env() };
    let mut rows = Vec::new();
    for &version in versions {
        for scenario in SCENARIOS.iter().filter(|scenario| scenario.metadata.is_some() && (scenario.on)(version)) {
            let (_keep, dir) = temp();
            write_files(&dir, scenario.files);
            let args: Vec<String> = scenario.args.iter().map(|arg| format!("{arg:?}")).collect();
            let toml = format!("main = {:?}\nnode-version = \"{version}\"\nbundle = false\nverify-args = [{}]\n{}\n", scenario.files[0].0, args.join(", "), scenario.metadata.unwrap_or_default());
            let metadata: SeaMetadata = toml::from_str(&toml).unwrap_or_else(|error| panic!("{}: {error}\n{toml}", scenario.name));
            let sea = metadata.resolve("app", &dir, "conformance").unwrap();
            let ours = match pipeline.build(&sea, host, &dir.join("out")) {
                Ok(artifact) => {
                    write_files(artifact.path.parent().unwrap(), scenario.beside);
                    check(scenario, &run(&TargetRunner::for_target(host, &artifact.node.path, &Processes, &test_env()).unwrap(), scenario, &artifact.path), false)
                }
                Err(error) => Err(format!("the build failed: {error:#}")),
            };
            let ours = ours.map_or_else(|problem| format!("FAILED: {problem}"), |()| "ok".to_owned());
            rows.push(Row { scenario: scenario.name, target: format!("{host} (pipeline)"), node: version, ours, control: "-".into(), plain: "-".into() });
        }
    }
    report("the pipeline", &rows, started);
}
