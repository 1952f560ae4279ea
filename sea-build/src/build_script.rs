//! The build-script front end: [`Build`] builds a crate's SEA from its `build.rs`, the way cc-rs
//! builds C code.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

use crate::Env;
use crate::config::SeaMetadata;
use crate::node::{LockFile, NodeFetcher, Platform};
use crate::pipeline::{Artifact, Pipeline};
use crate::progress::CargoWarnings;
use crate::run::Processes;

/// Builds the crate's SEA from `build.rs`.
///
/// Starts from the crate's `[package.metadata.sea]` table (if any); the methods override its
/// fields. The SEA is built for the crate's own target (`TARGET`) into `OUT_DIR/sea/`, and the
/// crate learns its path from `SEA_<NAME>_PATH` (name upper-cased, `-` as `_`):
///
/// ```no_run
/// // build.rs
/// fn main() {
///     sea_build::Build::new().main("js/main.js").node_version("24").asset("greeting.txt", "js/greeting.txt").build();
/// }
/// // src/main.rs: let sea = env!("SEA_HELLO_PATH");
/// ```
///
/// It prints `cargo::rerun-if-changed` for main, every file bundled with it, the assets, the
/// `vfs` files, Cargo.toml and sea.lock, and
/// `cargo::rerun-if-env-changed` for every variable it reads. Under `DOCS_RS` it builds nothing.
// The example is a build script, so its `fn main` is the point.
#[allow(clippy::needless_doctest_main)]
#[derive(Clone, Debug, Default)]
pub struct Build {
    name: Option<String>,
    main: Option<Utf8PathBuf>,
    bundle: Option<bool>,
    vfs: Option<Vec<String>>,
    node_version: Option<String>,
    code_cache: Option<bool>,
    assets: BTreeMap<String, Utf8PathBuf>,
    exec_argv: Option<Vec<String>>,
    exec_argv_extension: Option<String>,
    verify_args: Option<Vec<String>>,
    sign: Option<crate::sign::SignMode>,
    sign_p12: Option<Utf8PathBuf>,
    sign_p12_password_env: Option<String>,
    windows: crate::config::WindowsMetadata,
}

impl Build {
    /// A builder that takes its defaults from `[package.metadata.sea]`.
    pub fn new() -> Build {
        Build::default()
    }

    /// The artifact's name (default: the package name).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// The JavaScript entry point, relative to the crate directory.
    pub fn main(mut self, path: impl Into<Utf8PathBuf>) -> Self {
        self.main = Some(path.into());
        self
    }

    /// Whether `main` is bundled with everything it requires and imports (default: yes; see
    /// [`crate::bundle`]).
    pub fn bundle(mut self, enabled: bool) -> Self {
        self.bundle = Some(enabled);
        self
    }

    /// Mounts the files a path or glob (relative to the crate) names, with node's `useVfs`
    /// (node 26+; see [`crate::vfs`]).
    pub fn vfs(mut self, pattern: &str) -> Self {
        self.vfs.get_or_insert_with(Vec::new).push(pattern.to_owned());
        self
    }

    /// The node version spec (`24`, `24.11.1`, `lts`, `local`, a path).
    pub fn node_version(mut self, spec: &str) -> Self {
        self.node_version = Some(spec.to_owned());
        self
    }

    /// Whether to embed a V8 code cache (default: yes).
    pub fn code_cache(mut self, enabled: bool) -> Self {
        self.code_cache = Some(enabled);
        self
    }

    /// Embeds the file at `path` (relative to the crate) as asset `key`.
    pub fn asset(mut self, key: &str, path: impl Into<Utf8PathBuf>) -> Self {
        self.assets.insert(key.to_owned(), path.into());
        self
    }

    /// Adds an argument node starts with.
    pub fn exec_arg(mut self, arg: &str) -> Self {
        self.exec_argv.get_or_insert_with(Vec::new).push(arg.to_owned());
        self
    }

    /// Who may extend the exec arguments: `none` (default), `env` or `cli`.
    pub fn exec_argv_extension(mut self, who: &str) -> Self {
        self.exec_argv_extension = Some(who.to_owned());
        self
    }

    /// The arguments the artifact is run with to check its code cache.
    pub fn verify_args(mut self, args: &[&str]) -> Self {
        self.verify_args = Some(args.iter().map(|a| (*a).to_owned()).collect());
        self
    }

    /// How Mach-O artifacts are signed (default ad-hoc).
    pub fn sign(mut self, mode: crate::sign::SignMode) -> Self {
        self.sign = Some(mode);
        self
    }

    /// The P12 identity for [`SignMode::Identity`](crate::sign::SignMode::Identity),
    /// relative to the crate directory.
    pub fn sign_p12(mut self, path: impl Into<Utf8PathBuf>) -> Self {
        self.sign_p12 = Some(path.into());
        self
    }

    /// The environment variable holding the P12's password (default
    /// `SEA_BUILD_SIGN_P12_PASSWORD`).
    pub fn sign_p12_password_env(mut self, variable: &str) -> Self {
        self.sign_p12_password_env = Some(variable.to_owned());
        self
    }

    // --- Windows identity (issue 14) ---------------------------------------------------------

    /// Sets (or, with `""`, removes) a string of the Windows version resource, over the
    /// defaults from `[package]` and `[package.metadata.sea.windows]`'s `version-info`.
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_version_info("LegalCopyright", "(c) Ann").build();
    /// ```
    pub fn windows_version_info(mut self, key: &str, value: &str) -> Self {
        self.windows.version_info.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The `.ico` file (relative to the crate) replacing node's icon in Windows artifacts.
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_icon("assets/app.ico").build();
    /// ```
    pub fn windows_icon(mut self, path: impl Into<Utf8PathBuf>) -> Self {
        self.windows.icon = Some(path.into());
        self
    }

    /// How Windows artifacts are signed: [`SignMode::Identity`](crate::sign::SignMode::Identity)
    /// (Authenticode, with a P12) or [`SignMode::None`](crate::sign::SignMode::None) (default).
    ///
    /// ```no_run
    /// use sea_build::sign::SignMode;
    /// sea_build::Build::new().windows_sign(SignMode::Identity).windows_sign_p12("certs/windows.p12").build();
    /// ```
    pub fn windows_sign(mut self, mode: crate::sign::SignMode) -> Self {
        self.windows.sign = Some(mode);
        self
    }

    /// The P12 identity for Authenticode, relative to the crate directory
    /// (`SEA_BUILD_WINDOWS_P12` overrides it).
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_sign_p12("certs/windows.p12").build();
    /// ```
    pub fn windows_sign_p12(mut self, path: impl Into<Utf8PathBuf>) -> Self {
        self.windows.sign_p12 = Some(path.into());
        self
    }

    /// The environment variable holding the Windows P12's password (default
    /// `SEA_BUILD_WINDOWS_P12_PASSWORD`).
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_sign_p12_password_env("MY_PASSWORD").build();
    /// ```
    pub fn windows_sign_p12_password_env(mut self, variable: &str) -> Self {
        self.windows.sign_p12_password_env = Some(variable.to_owned());
        self
    }

    /// An RFC 3161 time-stamp authority for Authenticode signatures (none by default).
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_timestamp_url("http://127.0.0.1:3180/").build();
    /// ```
    pub fn windows_timestamp_url(mut self, url: &str) -> Self {
        self.windows.timestamp_url = Some(url.to_owned());
        self
    }

    // --- end of Windows identity -------------------------------------------------------------

    /// Builds the SEA and returns its path; on failure, panics with a message written for
    /// Cargo's output.
    pub fn build(&self) -> Utf8PathBuf {
        match self.try_build() {
            Ok(path) => path,
            Err(error) => {
                println!("cargo::warning=sea-build failed: {error:#}");
                panic!("\n\nsea-build could not build the SEA:\n{error:#}\n\n");
            }
        }
    }

    /// Builds the SEA and returns its path.
    pub fn try_build(&self) -> Result<Utf8PathBuf> {
        let env = Env::for_build_script();
        let manifest_dir: Utf8PathBuf = env.var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR is unset: call sea_build::Build from a build script")?.into();
        let out_dir: Utf8PathBuf = env.var("OUT_DIR").context("OUT_DIR is unset: call sea_build::Build from a build script")?.into();
        let package = env.var("CARGO_PKG_NAME").unwrap_or_else(|| "sea".to_owned());
        let cargo_toml = manifest_dir.join("Cargo.toml");
        println!("cargo::rerun-if-changed={cargo_toml}");
        let fields = crate::pe::version_info::PackageFields {
            name: package.clone(),
            version: env.var("CARGO_PKG_VERSION").unwrap_or_else(|| "0.0.0".to_owned()),
            description: env.var("CARGO_PKG_DESCRIPTION").filter(|text| !text.is_empty()),
            authors: env.var("CARGO_PKG_AUTHORS").map(|authors| authors.split(':').filter(|a| !a.is_empty()).map(str::to_owned).collect()).unwrap_or_default(),
        };
        let sea = self.merged(&cargo_toml)?.resolve_package(&fields, &manifest_dir, cargo_toml.as_ref())?;
        let windows_p12 = sea.windows.sign.as_ref().and_then(|signing| signing.p12.as_ref());
        for path in std::iter::once(&sea.main).chain(sea.assets.values()).chain(sea.windows.icon.as_ref()).chain(windows_p12) {
            println!("cargo::rerun-if-changed={}", manifest_dir.join(path));
        }
        let target: Platform = env.var("TARGET").context("TARGET is unset")?.parse()?;
        let out = out_dir.join("sea");
        let path = out.join(format!("{}{}", sea.name, if target.os == crate::node::Os::Windows { ".exe" } else { "" }));
        println!("cargo::rustc-env=SEA_{}_PATH={path}", sea.name.to_ascii_uppercase().replace(['-', '.'], "_"));
        if env.var_os("DOCS_RS").is_some() {
            return Ok(path);
        }
        let lock_path = workspace_root(&manifest_dir)?.join("sea.lock");
        println!("cargo::rerun-if-changed={lock_path}");
        let lock = LockFile::read(&lock_path)?;
        let fetcher = NodeFetcher::from_env(&env)?.project_dir(&manifest_dir);
        let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &CargoWarnings, lock: Some((&lock, &lock_path)), env: &env };
        let artifact: Artifact = pipeline.build(&sea, target, &out)?;
        // Bundled: every module that went in, dependencies included.
        for input in &artifact.inputs {
            println!("cargo::rerun-if-changed={}", manifest_dir.join(input));
        }
        Ok(artifact.path)
    }

    /// The crate's `[package.metadata.sea]` with this builder's fields on top.
    fn merged(&self, cargo_toml: &Utf8Path) -> Result<SeaMetadata> {
        let text = std::fs::read_to_string(cargo_toml).with_context(|| format!("could not read {cargo_toml}"))?;
        let manifest: toml::Table = toml::from_str(&text).with_context(|| format!("{cargo_toml} is not valid TOML"))?;
        let table = manifest.get("package").and_then(|p| p.get("metadata")).and_then(|m| m.get("sea")).cloned();
        let mut metadata: SeaMetadata = match table {
            Some(table) => table.try_into().with_context(|| format!("[package.metadata.sea] of {cargo_toml} is not valid"))?,
            None => SeaMetadata::default(),
        };
        let this = self.clone();
        metadata.name = this.name.or(metadata.name);
        metadata.main = this.main.or(metadata.main);
        metadata.bundle = this.bundle.or(metadata.bundle);
        metadata.vfs = this.vfs.unwrap_or(metadata.vfs);
        metadata.node_version = this.node_version.or(metadata.node_version);
        metadata.code_cache = this.code_cache.or(metadata.code_cache);
        metadata.assets.extend(this.assets);
        metadata.exec_argv = this.exec_argv.unwrap_or(metadata.exec_argv);
        metadata.exec_argv_extension = this.exec_argv_extension.or(metadata.exec_argv_extension);
        metadata.verify_args = this.verify_args.unwrap_or(metadata.verify_args);
        metadata.sign = this.sign.or(metadata.sign);
        metadata.sign_p12 = this.sign_p12.or(metadata.sign_p12);
        metadata.sign_p12_password_env = this.sign_p12_password_env.or(metadata.sign_p12_password_env);
        let mut windows = metadata.windows.unwrap_or_default();
        windows.version_info.extend(this.windows.version_info);
        windows.icon = this.windows.icon.or(windows.icon);
        windows.sign = this.windows.sign.or(windows.sign);
        windows.sign_p12 = this.windows.sign_p12.or(windows.sign_p12);
        windows.sign_p12_password_env = this.windows.sign_p12_password_env.or(windows.sign_p12_password_env);
        windows.timestamp_url = this.windows.timestamp_url.or(windows.timestamp_url);
        metadata.windows = Some(windows);
        Ok(metadata)
    }
}

/// The root directory of the workspace the package in `package_dir` belongs to, found the way
/// Cargo finds it (so `sea.lock` is where `cargo xtask fetch` writes it).
///
/// Starting with the package's own manifest and going up, the first `Cargo.toml` that decides:
/// one with a `workspace` table (in any TOML form) is the root unless its `workspace.exclude`
/// covers the package and `workspace.members` does not name it; one with `package.workspace`
/// points at the root explicitly. The walk stops below a `target/package` directory, as Cargo's
/// does; a package no workspace claims is its own root.
fn workspace_root(package_dir: &Utf8Path) -> Result<Utf8PathBuf> {
    for (depth, dir) in package_dir.ancestors().enumerate() {
        if depth > 0 && dir.ends_with("target/package") {
            break;
        }
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("could not read {manifest} while looking for the workspace root"))?;
        let table: toml::Table = toml::from_str(&text).with_context(|| format!("{manifest} is not valid TOML"))?;
        if let Some(workspace) = table.get("workspace").and_then(toml::Value::as_table) {
            if !excludes(dir, workspace, package_dir) {
                return Ok(dir.to_owned());
            }
        } else if let Some(root) = table.get("package").and_then(|package| package.get("workspace")).and_then(toml::Value::as_str) {
            return Ok(normalize(&dir.join(root)));
        }
    }
    Ok(package_dir.to_owned())
}

/// Whether the workspace rooted at `root` leaves out the package in `package_dir`: a path in
/// `exclude` contains it and no path in `members` does (Cargo compares the literal entries).
fn excludes(root: &Utf8Path, workspace: &toml::Table, package_dir: &Utf8Path) -> bool {
    let contains = |key: &str| {
        let paths = workspace.get(key).and_then(toml::Value::as_array).map(Vec::as_slice).unwrap_or_default();
        paths.iter().filter_map(toml::Value::as_str).any(|path| package_dir.starts_with(root.join(path)))
    };
    contains("exclude") && !contains("members")
}

/// `path` with `.` and `..` resolved lexically, as Cargo resolves `package.workspace`.
fn normalize(path: &Utf8Path) -> Utf8PathBuf {
    let mut normal = Utf8PathBuf::new();
    for component in path.components() {
        match component {
            Utf8Component::CurDir => {}
            Utf8Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory tree of manifests: `(path relative to the root, contents)`.
    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Utf8PathBuf) {
        let temp = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(temp.path().to_owned()).unwrap();
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        (temp, root)
    }

    const PACKAGE: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n";

    #[test]
    fn the_nearest_workspace_table_above_is_the_root() {
        let (_temp, root) = tree(&[("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n"), ("crates/app/Cargo.toml", PACKAGE)]);
        assert_eq!(workspace_root(&root.join("crates/app")).unwrap(), root);
    }

    #[test]
    fn a_package_with_its_own_workspace_table_is_its_root() {
        let (_temp, root) = tree(&[("Cargo.toml", "[workspace]\n"), ("app/Cargo.toml", &format!("{PACKAGE}[workspace]\n"))]);
        assert_eq!(workspace_root(&root.join("app")).unwrap(), root.join("app"));
    }

    #[test]
    fn inline_and_dotted_workspace_tables_count() {
        for manifest in ["workspace = { members = [\"app\"] }\n", "workspace.members = [\"app\"]\n", "[workspace] # the root\n"] {
            let (_temp, root) = tree(&[("Cargo.toml", manifest), ("app/Cargo.toml", PACKAGE)]);
            assert_eq!(workspace_root(&root.join("app")).unwrap(), root, "{manifest}");
        }
    }

    #[test]
    fn a_commented_out_or_quoted_workspace_header_does_not() {
        let middle = "# [workspace]\n[package]\nname = \"middle\"\nversion = \"0.1.0\"\ndescription = \"\"\"\n[workspace]\n\"\"\"\n";
        let (_temp, root) = tree(&[("Cargo.toml", "[workspace]\n"), ("middle/Cargo.toml", middle), ("middle/app/Cargo.toml", PACKAGE)]);
        assert_eq!(workspace_root(&root.join("middle/app")).unwrap(), root);
    }

    #[test]
    fn package_workspace_names_the_root_explicitly() {
        let app = format!("{PACKAGE}workspace = \"../..\"\n");
        let (_temp, root) = tree(&[("Cargo.toml", "[workspace]\n"), ("nested/Cargo.toml", "[workspace]\n"), ("nested/app/Cargo.toml", &app)]);
        assert_eq!(workspace_root(&root.join("nested/app")).unwrap(), root);
    }

    #[test]
    fn an_excluded_package_is_its_own_root() {
        let (_temp, root) = tree(&[("Cargo.toml", "[workspace]\nexclude = [\"vendor\"]\n"), ("vendor/app/Cargo.toml", PACKAGE)]);
        assert_eq!(workspace_root(&root.join("vendor/app")).unwrap(), root.join("vendor/app"));
        // A member path listed explicitly wins over the exclusion, as in Cargo.
        let (_temp, root) = tree(&[("Cargo.toml", "[workspace]\nmembers = [\"vendor/app\"]\nexclude = [\"vendor\"]\n"), ("vendor/app/Cargo.toml", PACKAGE)]);
        assert_eq!(workspace_root(&root.join("vendor/app")).unwrap(), root);
    }

    #[test]
    fn a_package_outside_any_workspace_is_its_own_root() {
        let (_temp, root) = tree(&[("app/Cargo.toml", PACKAGE)]);
        assert_eq!(workspace_root(&root.join("app")).unwrap(), root.join("app"));
    }
}
