//! Generating the SEA preparation blob with the target's own node binary.
//!
//! Node stores `main` verbatim in the blob and in the code cache's script name, so generation
//! runs in a staging directory holding copies of `main` and the assets at their package-relative
//! paths: the blob never sees the checkout's location. `--predictable` makes V8's output
//! byte-identical from run to run without entering the flag hash, and the V8 flags of
//! `exec-argv` are given to the generator too, so the cache matches what the artifact runs with.

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::blob::{self, BlobLayout, ExecArgvExtension};
use crate::config::{Sea, supports_exec_argv};
use crate::node::Version;
use crate::run::{Invocation, Runner};

/// The blob file name inside the staging directory.
const OUTPUT: &str = "sea-prep.blob";

/// A generated blob.
#[derive(Clone, Debug)]
pub struct GeneratedBlob {
    /// The blob's bytes.
    pub bytes: Vec<u8>,
    /// Whether it carries a code cache.
    pub code_cache: bool,
    /// Whether NODE_OPTIONS is kept from extending `exec-argv` (`execArgvExtension: "none"`).
    pub node_options_guard: bool,
}

/// Copies `main` and the assets of `sea` into `staging` at their package-relative paths.
pub fn stage(sea: &Sea, staging: &Utf8Path) -> Result<()> {
    for relative in std::iter::once(&sea.main).chain(sea.assets.values()) {
        let (from, to) = (sea.package_dir.join(relative), staging.join(relative));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("could not create {parent}"))?;
        }
        std::fs::copy(&from, &to).with_context(|| format!("could not copy {from} to {to}"))?;
    }
    Ok(())
}

/// The `sea-config.json` node reads, with paths relative to the staging directory.
pub fn sea_config(sea: &Sea, version: Version, code_cache: bool) -> serde_json::Value {
    let mut config = serde_json::json!({
        "main": sea.main.as_str().replace('\\', "/"),
        "output": OUTPUT,
        "disableExperimentalSEAWarning": true,
        "useSnapshot": false,
        "useCodeCache": code_cache,
    });
    if !sea.assets.is_empty() {
        config["assets"] = sea.assets.iter().map(|(key, path)| (key.clone(), serde_json::Value::from(path.as_str().replace('\\', "/")))).collect();
    }
    if !sea.exec_argv.is_empty() {
        config["execArgv"] = sea.exec_argv.clone().into();
    }
    if supports_exec_argv(version) {
        config["execArgvExtension"] = match sea.exec_argv_extension {
            ExecArgvExtension::None => "none",
            ExecArgvExtension::Env => "env",
            ExecArgvExtension::Cli => "cli",
        }
        .into();
    }
    if sea.main_is_module() {
        config["mainFormat"] = "module".into();
    }
    config
}

/// The entries of `exec_argv` that are V8 flags by `node --v8-options` (whose text is given):
/// those change V8's flag hash, so the generator must run with them too.
pub fn v8_flags(exec_argv: &[String], v8_options: &str) -> Vec<String> {
    let known: std::collections::HashSet<String> =
        v8_options.lines().filter_map(|line| line.trim_start().strip_prefix("--")).filter_map(|rest| rest.split_whitespace().next()).map(|name| name.replace('_', "-")).collect();
    exec_argv
        .iter()
        .filter(|arg| {
            let Some(name) = arg.strip_prefix("--") else { return false };
            let name = name.split('=').next().unwrap_or(name).replace('_', "-");
            known.contains(&name) || name.strip_prefix("no-").is_some_and(|n| known.contains(n))
        })
        .cloned()
        .collect()
}

/// Runs `generator` (a node binary of `version` that runs here) in `staging` to produce the
/// blob. `staging` must already hold the staged files.
pub fn generate(sea: &Sea, version: Version, generator: &Utf8Path, code_cache: bool, staging: &Utf8Path, runner: &dyn Runner) -> Result<GeneratedBlob> {
    let layout = BlobLayout::for_node_version(version.major, version.minor, version.patch).with_context(|| format!("node {version} is too old for a SEA built by sea-build (20.6 or newer)"))?;
    let config = sea_config(sea, version, code_cache);
    std::fs::write(staging.join("sea-config.json"), serde_json::to_vec_pretty(&config)?).with_context(|| format!("could not write {staging}/sea-config.json"))?;
    let mut args = vec!["--predictable".to_owned()];
    if code_cache && !sea.exec_argv.is_empty() {
        let listing = runner.run(&Invocation::new(generator, ["--v8-options"]))?;
        args.extend(v8_flags(&sea.exec_argv, &String::from_utf8_lossy(&listing.stdout)));
    }
    args.extend(["--experimental-sea-config".to_owned(), "sea-config.json".to_owned()]);
    let mut invocation = Invocation::new(generator, args);
    invocation.cwd = Some(staging.to_owned());
    let output = runner.run(&invocation)?;
    if !output.success() {
        bail!("generating the SEA blob failed: `{}` in {staging} exited with {:?}:\n{}", invocation.display(), output.code, output.stderr_text().trim());
    }
    let blob_path = staging.join(OUTPUT);
    let bytes = std::fs::read(&blob_path).with_context(|| format!("node reported success but wrote no blob at {blob_path}"))?;
    let parsed = blob::parse(&bytes, layout).with_context(|| format!("the blob node {version} wrote ({blob_path}) is not in the layout sea-build expects for that version"))?;
    if code_cache && parsed.code_cache.is_none() {
        bail!("node {version} wrote a blob without the code cache that was asked for ({blob_path})");
    }
    Ok(GeneratedBlob { code_cache: parsed.code_cache.is_some(), node_options_guard: parsed.exec_argv_extension == Some(ExecArgvExtension::None), bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_v8_flags_out_of_exec_argv() {
        let listing = "Options:\n  --stack-trace-limit (...)\n        type: int\n  --max_old_space_size (...)\n  --opt (...)\n";
        let argv: Vec<String> = ["--no-warnings", "--stack-trace-limit=5", "--max-old-space-size=100", "--no-opt", "script-arg"].map(String::from).to_vec();
        assert_eq!(v8_flags(&argv, listing), ["--stack-trace-limit=5", "--max-old-space-size=100", "--no-opt"]);
    }
}
