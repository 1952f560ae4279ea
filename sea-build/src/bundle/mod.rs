//! Bundling: `main` and everything it requires or imports (its own files, JSON, `package.json`,
//! dependencies in `node_modules`, TypeScript) become one file, made by esbuild for the SEA's
//! node version, before the blob is generated. Node's built-in modules stay external, and
//! bundler annotations (`"sideEffects"`, `/* @__PURE__ */`) are ignored, as node ignores them.
//!
//! The bundle is CommonJS, or an ES module (`mainFormat: "module"`) when the program is one and
//! node loads ES module mains (25.7+). It is the same bytes from any checkout path: esbuild
//! runs in the package directory, so the module names it writes are package-relative, and its
//! version is pinned ([`esbuild::ESBUILD_VERSION`]).
//!
//! In a SEA, `__filename` and `import.meta.filename` are the executable's path, `__dirname`
//! and `import.meta.dirname` its directory, and `import.meta.url` its `file:` URL, in every
//! bundled module (a CommonJS bundle gets the last three defined to match).
//!
//! With `bundle` unset, [`bundle`] answers whether one file serves the program at all
//! ([`Outcome::NotServed`] names why not, and the package is mounted instead, see
//! [`crate::mount`]). With `bundle = true`, what one file cannot serve is a build error naming
//! the module: a native addon (`.node`), a `require` or `import` whose path is computed from the
//! module's location, and a file read through `fs` beside a module (`path.join(__dirname,
//! "data.txt")`) unless it is declared as an asset or in `vfs`.

pub mod esbuild;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::blob::MainFormat;
use crate::config::{Bundling, Sea};
use crate::node::Version;
use crate::run::{Invocation, Runner};

/// Where esbuild writes its account of the inputs, inside the staging directory.
const METAFILE: &str = ".sea-build/bundle-meta.json";

/// A bundled main, written into the staging directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// Its path relative to the staging directory.
    pub path: Utf8PathBuf,
    /// How node loads it.
    pub format: MainFormat,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Every file that went into it, package-relative (what a build script reruns on).
    pub inputs: Vec<Utf8PathBuf>,
    /// What esbuild warned about (such as a `require` of a path computed at run time, left to
    /// run time, where a SEA loads only built-in modules), when it did.
    pub warnings: Option<String>,
}

/// Whether the program is an ES module, as node would load it: `.mjs` and `.mts` always,
/// `.cjs` and `.cts` never, otherwise when the nearest `package.json` (inside the package) says
/// `"type": "module"`.
pub fn program_is_module(sea: &Sea) -> Result<bool> {
    match sea.main.extension() {
        Some("mjs" | "mts") => return Ok(true),
        Some("cjs" | "cts") => return Ok(false),
        _ => {}
    }
    let mut dir = sea.package_dir.join(&sea.main);
    while dir.pop() && dir.starts_with(&sea.package_dir) {
        let manifest = dir.join("package.json");
        match std::fs::read(&manifest) {
            Ok(bytes) => {
                let json: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| format!("{manifest} is not valid JSON"))?;
                return Ok(json.get("type").and_then(serde_json::Value::as_str) == Some("module"));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("could not read {manifest}")),
        }
    }
    Ok(false)
}

/// The format of the blob's main: an ES module only where the program is one and node `version`
/// loads ES module mains (25.7+); otherwise CommonJS.
pub fn main_format(is_module: bool, version: Version) -> MainFormat {
    if is_module && (version.major, version.minor) >= (25, 7) { MainFormat::Module } else { MainFormat::CommonJs }
}

/// The staged name of a bundled main: TypeScript extensions become JavaScript ones
/// (`src/main.ts` → `src/main.js`, `.mts` → `.mjs`, `.cts` → `.cjs`).
///
/// ```
/// use sea_build::bundle::bundled_name;
/// assert_eq!(bundled_name("src/main.ts".into()), "src/main.js");
/// assert_eq!(bundled_name("bin/cli.mts".into()), "bin/cli.mjs");
/// assert_eq!(bundled_name("bin/cli.js".into()), "bin/cli.js");
/// ```
pub fn bundled_name(main: &Utf8Path) -> Utf8PathBuf {
    match main.extension() {
        Some("ts" | "tsx") => main.with_extension("js"),
        Some("mts") => main.with_extension("mjs"),
        Some("cts") => main.with_extension("cjs"),
        _ => main.to_owned(),
    }
}

/// esbuild's command line for bundling `main` (relative to the package directory, where
/// esbuild runs) into `outfile` for node `version`, as `format`.
pub fn esbuild_args(main: &Utf8Path, outfile: &Utf8Path, metafile: &Utf8Path, version: Version, format: MainFormat) -> Vec<String> {
    let mut args = vec![
        main.as_str().replace('\\', "/"),
        "--bundle".to_owned(),
        "--platform=node".to_owned(),
        format!("--target=node{}.{}", version.major, version.minor),
        format!("--outfile={outfile}"),
        format!("--metafile={metafile}"),
        "--log-level=warning".to_owned(),
        "--log-limit=20".to_owned(),
        "--color=false".to_owned(),
        // Native addons are loaded "empty" so that they show up in the metafile, where they
        // are found and refused with the module that requires them.
        "--loader:.node=empty".to_owned(),
        // Node ignores `"sideEffects": false` and `/* @__PURE__ */`: a bundle that honoured them
        // could drop an import a program runs for its effects (a bin that only imports its CLI).
        "--ignore-annotations".to_owned(),
    ];
    match format {
        MainFormat::CommonJs => {
            // What an ES module would see, from what a CommonJS SEA main has.
            args.extend([
                "--format=cjs".to_owned(),
                "--define:import.meta.url=__sea_import_meta_url".to_owned(),
                "--define:import.meta.filename=__filename".to_owned(),
                "--define:import.meta.dirname=__dirname".to_owned(),
                "--banner:js=var __sea_import_meta_url = require(\"node:url\").pathToFileURL(__filename).href;".to_owned(),
            ]);
        }
        MainFormat::Module => {
            // CommonJS dependencies inside an ES module bundle still `require` built-ins.
            args.extend([
                "--format=esm".to_owned(),
                "--banner:js=import { createRequire as __seaCreateRequire } from \"node:module\"; const require = __seaCreateRequire(import.meta.url);".to_owned(),
            ]);
        }
    }
    args
}

/// What esbuild's metafile says about the inputs.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Metafile {
    #[serde(default)]
    inputs: BTreeMap<String, Input>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Input {
    #[serde(default)]
    imports: Vec<Import>,
}

#[derive(Debug, serde::Deserialize)]
struct Import {
    path: String,
    #[serde(default)]
    external: bool,
}

impl Metafile {
    /// Parses the metafile's JSON; `path` names it in errors.
    pub(crate) fn parse(json: &[u8], path: &Utf8Path) -> Result<Metafile> {
        serde_json::from_slice(json).with_context(|| format!("esbuild's metafile {path} is not the JSON esbuild writes"))
    }

    /// Every native addon in the bundle, with the modules that require it.
    pub(crate) fn native_addons(&self) -> Vec<(&str, Vec<&str>)> {
        self.inputs
            .keys()
            .filter(|path| path.ends_with(".node"))
            .map(|addon| {
                let importers = self.inputs.iter().filter(|(_, input)| input.imports.iter().any(|import| !import.external && import.path == *addon)).map(|(path, _)| path.as_str()).collect();
                (addon.as_str(), importers)
            })
            .collect()
    }

    /// The JavaScript and TypeScript modules in the bundle, package-relative (a bin script
    /// without an extension among them).
    pub(crate) fn source_modules(&self) -> impl Iterator<Item = &str> {
        self.inputs.keys().map(String::as_str).filter(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            match name.rsplit_once('.') {
                Some((_, extension)) => matches!(extension, "js" | "mjs" | "cjs" | "ts" | "mts" | "cts" | "jsx" | "tsx"),
                None => true,
            }
        })
    }
}

/// A file read through `fs` beside the module that reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReadBeside {
    /// The 1-based line of the call.
    pub(crate) line: usize,
    /// The file name the call joins to the module's directory.
    pub(crate) file: String,
}

/// `fs` calls whose path argument is built from the module's own location (`__dirname`,
/// `__filename`, `import.meta.url`/`dirname`) and names a file with a string literal: the reads
/// a bundle cannot serve, where they can be detected.
pub(crate) fn reads_beside_module(source: &str) -> Vec<ReadBeside> {
    const CALLS: [&str; 7] = ["readFileSync(", "readFile(", "createReadStream(", "readdirSync(", "readdir(", "openSync(", "open("];
    let mut found: Vec<ReadBeside> = location_calls(source, &CALLS).into_iter().filter_map(|(line, arguments)| Some(ReadBeside { line, file: first_string_literal(arguments)? })).collect();
    found.sort_by_key(|read| read.line);
    found.dedup();
    found
}

/// The 1-based lines of `require(...)` and `import(...)` calls whose path is built from the
/// module's own location (`require(path.join(__dirname, name))`): a relative path computed at
/// run time, which a bundle cannot serve. (A computed path that is not relative, such as
/// `require(name)`, may name a built-in: esbuild warns and leaves it to run time.)
pub(crate) fn requires_from_location(source: &str) -> Vec<usize> {
    let mut lines: Vec<usize> = location_calls(source, &["require(", "import("]).into_iter().map(|(line, _)| line).collect();
    lines.dedup();
    lines
}

/// Calls of any of `calls` (`name(`, not `myname(` nor `obj.name(` for `require(`) whose
/// arguments mention the module's own location, with their 1-based lines and argument text.
fn location_calls<'s>(source: &'s str, calls: &[&str]) -> Vec<(usize, &'s str)> {
    const LOCATIONS: [&str; 4] = ["__dirname", "__filename", "import.meta.url", "import.meta.dirname"];
    let mut found = Vec::new();
    for call in calls {
        for (at, _) in source.match_indices(call) {
            // `require` and `import` stand alone; `fs.readFile(` is a method call.
            let standalone = matches!(*call, "require(" | "import(");
            if source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || (standalone && c == '.')) {
                continue;
            }
            let arguments = call_arguments(&source[at + call.len()..]);
            if LOCATIONS.iter().any(|location| arguments.contains(location)) {
                found.push((source[..at].matches('\n').count() + 1, arguments));
            }
        }
    }
    found.sort_by_key(|(line, _)| *line);
    found
}

/// The text of a call's arguments up to its closing parenthesis (at most a few hundred bytes).
fn call_arguments(after_paren: &str) -> &str {
    let mut depth = 0usize;
    for (index, c) in after_paren.char_indices().take(400) {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &after_paren[..index],
            ')' => depth -= 1,
            _ => {}
        }
    }
    ""
}

/// The first '…', "…" or `…` (without `${`) literal in `text`, when it names a file.
fn first_string_literal(text: &str) -> Option<String> {
    let start = text.find(['\'', '"', '`'])?;
    let quote = text[start..].chars().next()?;
    let rest = &text[start + 1..];
    let literal = &rest[..rest.find(quote)?];
    let name = literal.trim_start_matches("./").trim_start_matches('/');
    (!name.is_empty() && !literal.contains("${") && !literal.contains('\\')).then(|| name.to_owned())
}

/// The relative specifiers (`./x`, `../y`) `source` requires or imports, with their 1-based
/// lines: what a main shipped as it is cannot load in a SEA.
pub(crate) fn relative_specifiers(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for opener in ["require(", "import(", "from ", "import "] {
        for (at, _) in source.match_indices(opener) {
            if opener.ends_with('(') && source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.') {
                continue;
            }
            let rest = source[at + opener.len()..].trim_start();
            let Some(quote) = rest.chars().next().filter(|c| matches!(c, '\'' | '"' | '`')) else { continue };
            let Some(end) = rest[1..].find(quote) else { continue };
            let specifier = &rest[1..1 + end];
            if specifier.starts_with("./") || specifier.starts_with("../") || specifier == "." || specifier == ".." {
                found.push((source[..at].matches('\n').count() + 1, specifier.to_owned()));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// What bundling found: a bundle that serves the program, or why one does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// One file serves the program.
    Served(Bundle),
    /// It does not (`bundle` unset): why, naming the module.
    NotServed(String),
}

/// Bundles `sea`'s main for node `version` with the esbuild executable `esbuild` into
/// `staging` (at [`bundled_name`]), and checks what went in (`mounted`: the package-relative
/// files `vfs` embeds, which modules may read).
///
/// With `bundle = true` ([`Bundling::Always`]) what a bundle cannot serve is an error, and an
/// import esbuild cannot resolve is left to run time with a warning (an optional dependency
/// fails there as it would under node, in the branch that needs it). With `bundle` unset
/// ([`Bundling::Auto`]), anything that makes one file doubtful (an unresolved import, a
/// path computed at run time, a module that uses its own location, a native addon) is
/// answered with [`Outcome::NotServed`]: the caller mounts the package instead.
pub fn bundle(sea: &Sea, version: Version, is_module: bool, esbuild: &Utf8Path, staging: &Utf8Path, mounted: &[Utf8PathBuf], runner: &dyn Runner) -> Result<Outcome> {
    let auto = sea.bundling() == Bundling::Auto;
    // Snapshots and trained caches are made from a CommonJS main.
    let format = main_format(is_module && !sea.use_snapshot && sea.train_args.is_none(), version);
    let relative = bundled_name(&sea.main);
    let outfile = staging.join(&relative);
    let metafile = staging.join(METAFILE);
    let mut externals: Vec<String> = Vec::new();
    let output = loop {
        let mut args = esbuild_args(&sea.main, &outfile, &metafile, version, format);
        args.extend(externals.iter().map(|name| format!("--external:{name}")));
        let mut invocation = Invocation::new(esbuild, args);
        invocation.cwd = Some(sea.package_dir.clone());
        let output = runner.run(&invocation)?;
        if output.success() {
            break output;
        }
        let stderr = output.stderr_text();
        let unresolved = unresolved_imports(&stderr);
        if auto {
            let first = stderr.lines().find(|line| line.contains("ERROR")).unwrap_or("esbuild failed").trim();
            return Ok(Outcome::NotServed(format!("esbuild cannot bundle it ({})", first.trim_start_matches("✘ ").trim_start_matches("[ERROR] "))));
        }
        if !unresolved.is_empty() && externals.is_empty() {
            externals = unresolved;
            continue;
        }
        let hint = if stderr.contains("Top-level await is currently not supported") && !is_module {
            "\nTop-level await needs an ES module: name the main `.mjs`/`.mts` or give its package.json `\"type\": \"module\"`."
        } else if stderr.contains("Top-level await") {
            "\nTop-level await needs an ES module main, which node loads from 25.7 on: build from a newer node, or leave `bundle` unset so the package is mounted and loaded as ES modules."
        } else {
            ""
        };
        crate::error::fail!(ToolFailed, "bundling {} (in {}) with esbuild failed: the errors, as esbuild reports them:\n{}{hint}", sea.main, sea.package_dir, stderr.trim_end());
    };
    let meta_bytes = std::fs::read(&metafile).with_context(|| format!("esbuild reported success but wrote no metafile at {metafile}"))?;
    let meta = Metafile::parse(&meta_bytes, &metafile)?;
    if auto && let Some(reason) = location_dependence(sea, &meta, &output.stderr_text()) {
        return Ok(Outcome::NotServed(reason));
    }
    check_inputs(sea, &meta, mounted)?;
    let bytes = std::fs::read(&outfile).with_context(|| format!("esbuild reported success but wrote no bundle at {outfile}"))?;
    let inputs = meta.inputs.keys().filter_map(|path| normalize(Utf8Path::new(path))).collect();
    let mut warnings: Vec<String> = externals
        .iter()
        .map(|name| format!("`{name}` cannot be resolved (not installed?): it is left to run time, where requiring it fails with MODULE_NOT_FOUND in the branch that needs it, as under node"))
        .collect();
    warnings.extend(Some(output.stderr_text().trim().to_owned()).filter(|text| !text.is_empty()));
    let warnings = Some(warnings.join("\n")).filter(|text| !text.is_empty());
    Ok(Outcome::Served(Bundle { path: relative, format, sha256: crate::digest::sha256_hex(&bytes), inputs, warnings }))
}

/// Whether `source` calls `import(...)` with anything but a string literal.
fn computed_import(source: &str) -> bool {
    source.match_indices("import(").any(|(at, _)| {
        let standalone = !source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.');
        let argument = source[at + "import(".len()..].trim_start();
        standalone && !(argument.starts_with(['\'', '"']) || (argument.starts_with('`') && !argument[1..].split('`').next().unwrap_or_default().contains("${")))
    })
}

/// The specifiers esbuild reports as `Could not resolve "x"`, each once.
fn unresolved_imports(stderr: &str) -> Vec<String> {
    let mut found: Vec<String> =
        stderr.lines().filter_map(|line| line.split("Could not resolve \"").nth(1)).filter_map(|rest| rest.split('"').next()).filter(|name| !name.is_empty()).map(str::to_owned).collect();
    found.sort();
    found.dedup();
    found
}

/// Why one bundled file may not behave as the program does (`bundle` unset), naming the
/// module: a native addon, a `require`/`import` esbuild left to run time or cannot see (an
/// `import()` of a computed path, code built from strings), or a module that uses its own
/// location (`__dirname`, `import.meta.url`, `require.resolve`, a worker file) or asks the
/// module system about itself (`module.parent`, `require.main`).
fn location_dependence(sea: &Sea, meta: &Metafile, esbuild_warnings: &str) -> Option<String> {
    // Also what asks the module system about the module itself, which a bundle's wrapper
    // answers differently (`module.parent` is unset for every bundled module).
    const LOCATION: [&str; 14] = [
        "__dirname",
        "__filename",
        "import.meta.url",
        "import.meta.dirname",
        "import.meta.filename",
        "require.resolve",
        "createRequire",
        "new Worker",
        "new Function",
        "eval(",
        "module.parent",
        "require.main",
        "require.cache",
        "module.children",
    ];
    if let Some((addon, _)) = meta.native_addons().into_iter().next() {
        return Some(format!("it loads the native addon {addon}"));
    }
    if esbuild_warnings.contains("will not be bundled") {
        return Some("esbuild leaves a `require` or `import` of a computed path to run time".to_owned());
    }
    for module in meta.source_modules() {
        let Ok(source) = std::fs::read_to_string(sea.package_dir.join(module)) else { continue };
        if let Some(token) = LOCATION.iter().find(|token| source.contains(*token)) {
            return Some(format!("{module} uses `{token}`"));
        }
        if computed_import(&source) {
            return Some(format!("{module} imports a computed path with `import()`"));
        }
    }
    None
}

/// Refuses what a bundle cannot serve: native addons, and files read beside a module.
fn check_inputs(sea: &Sea, meta: &Metafile, mounted: &[Utf8PathBuf]) -> Result<()> {
    if let Some((addon, importers)) = meta.native_addons().into_iter().next() {
        bail!(
            "{} cannot be bundled: it loads the native addon {addon} (required by {}), and a SEA cannot load a native addon from inside itself. Ship the program without that dependency, or load the addon from a file beside the executable at run time",
            sea.main,
            if importers.is_empty() { "an unknown module".to_owned() } else { importers.join(", ") }
        );
    }
    let declared: std::collections::BTreeSet<&Utf8PathBuf> = sea.assets.values().chain(mounted).collect();
    for module in meta.source_modules() {
        let path = sea.package_dir.join(module);
        let Ok(source) = std::fs::read_to_string(&path) else { continue };
        if let Some(line) = requires_from_location(&source).first() {
            bail!(
                "{module}:{line}: requires or imports a path computed from the module's own location, which a bundle cannot serve (in a SEA, `__dirname` is the executable's directory). Require the file with a string literal so it is bundled, or set `bundle = false` and list the files in `vfs` (node 26+)"
            );
        }
        let module_dir = Utf8Path::new(module).parent().unwrap_or(Utf8Path::new(""));
        for read in reads_beside_module(&source) {
            let beside = normalize(&module_dir.join(&read.file));
            // Only files that are really there: a name that is not a file beside the module is
            // no evidence of a read the bundle breaks.
            if beside.as_ref().is_some_and(|file| sea.package_dir.join(file).is_file() && !declared.contains(file)) {
                bail!(
                    "{module}:{}: reads `{}` beside the module through `fs`, which a bundle cannot serve (in a SEA, `__dirname` is the executable's directory). Declare it as an asset and read it with `require(\"node:sea\").getAsset(...)`, or list it in `vfs` (node 26+)",
                    read.line,
                    read.file
                );
            }
        }
    }
    Ok(())
}

/// `a/./b/../c` → `a/c`; `None` when the path climbs out of the package.
fn normalize(path: &Utf8Path) -> Option<Utf8PathBuf> {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            camino::Utf8Component::Normal(part) => parts.push(part),
            camino::Utf8Component::ParentDir => {
                parts.pop()?;
            }
            camino::Utf8Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/").into())
}

/// For `bundle = false`: what `main` requires or imports of its own files that no `vfs` file
/// serves (`mounted`: the package-relative files `vfs` embeds), as warnings. Not refusals:
/// the require may sit on a branch the program never takes, or resolve in a way this check
/// does not follow (`require("..")` through a `package.json`); the run before publishing
/// decides.
pub fn check_unbundled(sea: &Sea, mounted: &[Utf8PathBuf]) -> Result<Vec<String>> {
    let path = sea.package_dir.join(&sea.main);
    let source = std::fs::read_to_string(&path).with_context(|| format!("could not read {path}"))?;
    let main_dir = sea.main.parent().unwrap_or(Utf8Path::new(""));
    let mut warnings = Vec::new();
    for (line, specifier) in relative_specifiers(&source) {
        let served = normalize(&main_dir.join(&specifier)).is_some_and(|target| {
            let prefix = if target.as_str().is_empty() { String::new() } else { format!("{target}/") };
            let candidates = ["", ".js", ".json", ".cjs", ".mjs", "/index.js", "/index.json"];
            candidates.iter().any(|suffix| mounted.iter().any(|file| file.as_str() == format!("{target}{suffix}"))) || mounted.iter().any(|file| file.as_str() == format!("{prefix}package.json"))
        });
        if !served {
            warnings.push(format!(
                "{}:{line}: requires or imports `{specifier}`, but with `bundle = false` a SEA's main can load only node's built-in modules{}: if the program reaches it, it fails. Leave `bundle` unset so the package is mounted, or list the file in `vfs`",
                sea.main,
                if mounted.is_empty() { String::new() } else { " and the files in `vfs`, which do not include it".to_owned() }
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_reads_beside_the_module() {
        let source = "const fs = require('fs');\nconst a = fs.readFileSync(path.join(__dirname, 'data.txt'), 'utf8');\nfs.readFileSync(process.argv[2]);\nfs.createReadStream(new URL(\"./x.bin\", import.meta.url));\nmyreadFile(__dirname + '/nope');\n";
        assert_eq!(reads_beside_module(source), [ReadBeside { line: 2, file: "data.txt".into() }, ReadBeside { line: 4, file: "x.bin".into() }]);
        assert!(reads_beside_module("fs.readFileSync(path.join(__dirname, name))").is_empty());
        assert!(reads_beside_module("fs.readFileSync(`${__dirname}/${name}`)").is_empty());
    }

    #[test]
    fn finds_requires_of_paths_built_from_the_module_location() {
        let source = "const a = require(name);\nconst b = require(path.join(__dirname, 'plugins', name));\nconst c = await import(new URL(name, import.meta.url));\nmodule.require(__dirname);\n";
        assert_eq!(requires_from_location(source), [2, 3]);
    }

    #[test]
    fn finds_relative_specifiers() {
        let source = "const a = require('./lib/a');\nconst fs = require(\"fs\");\nimport b from \"../b.js\";\nconst c = await import('./c.mjs');\nobj.require('./not-a-call');\n";
        assert_eq!(relative_specifiers(source), [(1, "./lib/a".to_owned()), (3, "../b.js".to_owned()), (4, "./c.mjs".to_owned())]);
    }

    #[test]
    fn native_addons_name_their_importers() {
        let json = br#"{"inputs":{
            "node_modules/a/build/Release/a.node":{"bytes":0,"imports":[]},
            "node_modules/a/index.js":{"bytes":9,"imports":[{"path":"node_modules/a/build/Release/a.node","kind":"require-call"}]},
            "node_modules/a/bin/a":{"bytes":9,"imports":[]},
            "main.js":{"bytes":9,"imports":[{"path":"node_modules/a/index.js","kind":"require-call"},{"path":"fs","kind":"require-call","external":true}]}}}"#;
        let meta = Metafile::parse(json, "meta.json".into()).unwrap();
        assert_eq!(meta.native_addons(), [("node_modules/a/build/Release/a.node", vec!["node_modules/a/index.js"])]);
        assert_eq!(meta.source_modules().collect::<Vec<_>>(), ["main.js", "node_modules/a/bin/a", "node_modules/a/index.js"]);
    }

    #[test]
    fn format_follows_the_program_and_the_node() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert_eq!(main_format(true, v("26.10.0")), MainFormat::Module);
        assert_eq!(main_format(true, v("25.6.0")), MainFormat::CommonJs);
        assert_eq!(main_format(false, v("26.10.0")), MainFormat::CommonJs);
        let args = esbuild_args("src/main.ts".into(), "/s/src/main.js".into(), "/s/m.json".into(), v("24.21.0"), MainFormat::CommonJs);
        assert_eq!(args[0], "src/main.ts");
        assert!(args.contains(&"--target=node24.21".to_owned()) && args.contains(&"--format=cjs".to_owned()));
    }

    #[test]
    fn computed_imports_are_told_from_literal_ones() {
        assert!(computed_import("const m = await import(name);"));
        assert!(computed_import("import(`./locale/${lang}.js`)"));
        assert!(!computed_import("import('./a.js'); import(\"b\"); import(`c`); x.import(y)"));
    }

    #[test]
    fn unresolved_imports_are_named_once() {
        let stderr = "✘ [ERROR] Could not resolve \"fsevents\"\n\n    node_modules/x/a.js:1:8:\n✘ [ERROR] Could not resolve \"@scope/opt\"\n✘ [ERROR] Could not resolve \"fsevents\"\n";
        assert_eq!(unresolved_imports(stderr), ["@scope/opt", "fsevents"]);
        assert!(unresolved_imports("✘ [ERROR] Top-level await is currently not supported").is_empty());
    }

    #[test]
    fn normalizes_inside_the_package_only() {
        assert_eq!(normalize("lib/../data/./a.txt".into()), Some("data/a.txt".into()));
        assert_eq!(normalize("../a".into()), None);
    }
}
