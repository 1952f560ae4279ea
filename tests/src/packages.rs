//! Real npm packages for the program tests, at pinned versions, installed with npm itself into a
//! test's package directory. npm's cache lives in the shared test cache, and installs prefer it,
//! so only the first run needs the registry.

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::nodes::shared_cache_dir;

/// The dependencies the test programs use, in one place, exact versions only.
pub mod pinned {
    /// `ms`: one CommonJS file.
    pub const MS: (&str, &str) = ("ms", "2.1.3");
    /// `semver`: CommonJS spread over many files.
    pub const SEMVER: (&str, &str) = ("semver", "7.6.3");
}

/// Writes `package.json` for `name` with `dependencies` (and `"type": "module"` when `module`)
/// into `dir`, then runs `npm install` there: from npm's cache when it has them, from the
/// registry npm is configured with otherwise. No install scripts run.
pub fn install(dir: &Utf8Path, name: &str, dependencies: &[(&str, &str)], module: bool) -> Result<()> {
    let mut manifest = serde_json::json!({ "name": name, "version": "1.4.2", "private": true });
    if module {
        manifest["type"] = "module".into();
    }
    manifest["dependencies"] = dependencies.iter().map(|(package, version)| ((*package).to_owned(), serde_json::Value::from(*version))).collect();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("package.json"), serde_json::to_vec_pretty(&manifest)?)?;
    if dependencies.is_empty() {
        return Ok(());
    }
    let cache = shared_cache_dir().join("npm-cache");
    let output = std::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts", "--prefer-offline", "--loglevel=error", "--cache"])
        .arg(cache.as_str())
        .current_dir(dir)
        .output()
        .context("could not run npm: the program tests install their dependencies with it (Debian package npm; `cargo xtask test` installs it)")?;
    if !output.status.success() {
        bail!("`npm install` in {dir} failed (the first run needs the npm registry; later runs use the cache in {cache}):\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// A corpus program installed once, as the corpus describes, into the shared test cache
/// (`<cache>/corpus/<name>-<version>`): written in a temporary directory and renamed into
/// place, so a run killed halfway leaves nothing a later run would trust. Returns its
/// directory, whose `package.json` depends on the program alone.
pub fn install_program(program: &crate::corpus::Program) -> Result<camino::Utf8PathBuf> {
    let (package, version) = program.package;
    let dir = shared_cache_dir().join("corpus").join(format!("{}-{version}", program.name));
    if dir.join("node_modules").join(package).join("package.json").is_file() {
        return Ok(dir);
    }
    let parent = dir.parent().context("the corpus directory has a parent")?;
    std::fs::create_dir_all(parent)?;
    let temp = tempfile::Builder::new().prefix(".partial-").tempdir_in(parent)?;
    let temp_dir = Utf8Path::from_path(temp.path()).context("the test cache is not UTF-8")?;
    install(temp_dir, &format!("corpus-{}", program.name), &[program.package], false)?;
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
