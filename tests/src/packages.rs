//! Real npm packages for the program tests, at pinned versions, installed with npm itself into a
//! test's package directory. npm's cache lives in the shared test cache, and installs prefer it,
//! so only the first run needs the registry.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::nodes::shared_cache_dir;

/// The dependencies the test programs use, in one place, exact versions only.
pub mod pinned {
    /// `ms`: one CommonJS file.
    pub const MS: (&str, &str) = ("ms", "2.1.3");
    /// `semver`: CommonJS spread over many files.
    pub const SEMVER: (&str, &str) = ("semver", "7.6.3");
    /// `postject`: node's documented injector, the conformance suite's control.
    pub const POSTJECT: (&str, &str) = ("postject", "1.0.0-alpha.6");
}

/// Writes `package.json` for `name` with `dependencies` (and `"type": "module"` when `module`)
/// into `dir`, then runs `npm install` there: from npm's cache when it has them, from the
/// registry npm is configured with otherwise. No install scripts run.
pub fn install(dir: &Utf8Path, name: &str, dependencies: &[(&str, &str)], module: bool) -> Result<()> {
    write_manifest(dir, name, dependencies, module)?;
    if dependencies.is_empty() {
        return Ok(());
    }
    npm(dir, &["install", "--no-package-lock"])
}

/// Writes the `package.json` [`install`] describes into `dir`.
fn write_manifest(dir: &Utf8Path, name: &str, dependencies: &[(&str, &str)], module: bool) -> Result<()> {
    let mut manifest = serde_json::json!({ "name": name, "version": "1.4.2", "private": true });
    if module {
        manifest["type"] = "module".into();
    }
    manifest["dependencies"] = dependencies.iter().map(|(package, version)| ((*package).to_owned(), serde_json::Value::from(*version))).collect();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("package.json"), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

/// Runs `npm <command>` in `dir` with npm's cache in the shared test cache, preferred to the
/// registry, and no install scripts.
fn npm(dir: &Utf8Path, command: &[&str]) -> Result<()> {
    let cache = shared_cache_dir().join("npm-cache");
    let output = std::process::Command::new("npm")
        .args(command)
        .args(["--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline", "--loglevel=error", "--cache"])
        .arg(cache.as_str())
        .current_dir(dir)
        .output()
        .context("could not run npm: the program tests install their dependencies with it (Debian package npm; `cargo xtask test` installs it)")?;
    if !output.status.success() {
        bail!("`npm {}` in {dir} failed (the first run needs the npm registry; later runs use the cache in {cache}):\n{}", command.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// The lockfile that pins every package a corpus program installs:
/// `tests/corpus/<name>/package-lock.json`.
pub fn lockfile(program: &crate::corpus::Program) -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(program.name).join("package-lock.json")
}

/// A corpus program installed once, as the corpus describes, into the shared test cache
/// (`<cache>/corpus/<name>-<version>-<lock>`, `<lock>` a short hash of its lockfile, so a
/// changed lockfile gets a fresh install): `npm ci` from the lockfile in a temporary directory,
/// renamed into place, so a run killed halfway leaves nothing a later run would trust. Returns
/// its directory, whose `package.json` depends on the program alone.
pub fn install_program(program: &crate::corpus::Program) -> Result<Utf8PathBuf> {
    let (package, version) = program.package;
    let lockfile = lockfile(program);
    let lock = std::fs::read(&lockfile).with_context(|| format!("no lockfile for the corpus program {}: the corpus module says how to make {lockfile}", program.name))?;
    let hash = sea_build::digest::sha256_hex(&lock);
    let dir = shared_cache_dir().join("corpus").join(format!("{}-{version}-{}", program.name, &hash[..12]));
    if dir.join("node_modules").join(package).join("package.json").is_file() {
        return Ok(dir);
    }
    let parent = dir.parent().context("the corpus directory has a parent")?;
    std::fs::create_dir_all(parent)?;
    let temp = tempfile::Builder::new().prefix(".partial-").tempdir_in(parent)?;
    let temp_dir = Utf8Path::from_path(temp.path()).context("the test cache is not UTF-8")?;
    write_manifest(temp_dir, &format!("corpus-{}", program.name), &[program.package], false)?;
    std::fs::write(temp_dir.join("package-lock.json"), &lock)?;
    npm(temp_dir, &["ci"])?;
    match std::fs::rename(temp_dir, &dir) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to remove.
            let _ = temp.keep();
        }
        // Another test installed it meanwhile.
        Err(_) if dir.join("node_modules").join(package).join("package.json").is_file() => {}
        Err(error) => return Err(error).with_context(|| format!("could not move the installed {package} to {dir}")),
    }
    Ok(dir)
}
