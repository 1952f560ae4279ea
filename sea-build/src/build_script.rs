//! The build-script front end: [`Build`] builds a crate's SEA from its `build.rs`, the way cc-rs
//! builds C code.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

use crate::Env;
use crate::blob::ExecArgvExtension;
use crate::config::{Sea, SeaMetadata};
use crate::env::CargoOutput;
use crate::node::{LockFile, NodeFetcher, Platform, VersionSpec};
use crate::pipeline::Pipeline;
use crate::progress::{CargoWarnings, Reporter};
use crate::run::{Processes, Runner};
use crate::sign::SignMode;

/// Builds the crate's SEA from `build.rs`.
///
/// Starts from the crate's `[package.metadata.sea]` table (if any); the setters override its
/// fields. The SEA is built for the crate's own target (`TARGET`, or [`Build::target`]) into
/// `OUT_DIR/sea/` (or [`Build::out_dir`]), and the crate learns its path from
/// `SEA_<NAME>_PATH` (name upper-cased, `-` and `.` as `_`):
///
/// ```no_run
/// // build.rs
/// use sea_build::node::VersionSpec;
///
/// fn main() {
///     sea_build::Build::new()
///         .main("js/main.js")
///         .node_version(VersionSpec::Major(24))
///         .asset("greeting.txt", "js/greeting.txt")
///         .build();
/// }
/// // src/main.rs: let sea = env!("SEA_HELLO_PATH");
/// ```
///
/// It prints `cargo::rerun-if-changed` for main, every file bundled with it, the assets, the
/// `vfs` files, Cargo.toml and sea.lock; `cargo::rerun-if-env-changed` for every variable it
/// reads that Cargo does not set itself; and every warning of every stage (acquisition,
/// bundling, the cache check) as `cargo::warning`. Under `DOCS_RS` it builds nothing.
// The example is a build script, so its `fn main` is the point.
#[allow(clippy::needless_doctest_main)]
#[derive(Clone, Default)]
pub struct Build {
    name: Option<String>,
    main: Option<Utf8PathBuf>,
    bundle: Option<bool>,
    vfs: Option<Vec<String>>,
    node_version: Option<VersionSpec>,
    code_cache: Option<crate::config::CodeCacheMode>,
    train_args: Option<Vec<String>>,
    use_snapshot: Option<bool>,
    strip: Option<bool>,
    icu: Option<crate::icu::IcuData>,
    archive: Option<bool>,
    compress: Option<bool>,
    assets: BTreeMap<String, Utf8PathBuf>,
    exec_argv: Option<Vec<String>>,
    exec_argv_extension: Option<ExecArgvExtension>,
    verify_args: Option<Vec<String>>,
    sidecar_dir: Option<Utf8PathBuf>,
    sign: Option<SignMode>,
    sign_p12: Option<Utf8PathBuf>,
    sign_p12_password_env: Option<String>,
    sign_pem: Option<(Utf8PathBuf, Utf8PathBuf)>,
    out_dir: Option<Utf8PathBuf>,
    target: Option<Platform>,
    env: Option<Env>,
    runner: Option<Arc<dyn Runner>>,
    reporter: Option<Arc<dyn Reporter>>,
    cargo: CargoOutput,
    windows: crate::config::WindowsMetadata,
}

impl std::fmt::Debug for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Build")
            .field("name", &self.name)
            .field("main", &self.main)
            .field("node_version", &self.node_version)
            .field("out_dir", &self.out_dir)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Build {
    /// A builder that takes its defaults from `[package.metadata.sea]`.
    pub fn new() -> Build {
        Build::default()
    }

    /// The artifact's name (default: the package name).
    pub fn name(&mut self, name: &str) -> &mut Build {
        self.name = Some(name.to_owned());
        self
    }

    /// The JavaScript entry point, relative to the crate directory.
    pub fn main(&mut self, path: impl Into<Utf8PathBuf>) -> &mut Build {
        self.main = Some(path.into());
        self
    }

    /// `true`: `main` is always bundled with everything it requires and imports into one file
    /// (see [`crate::bundle`]); `false`: it ships as it is. Not called (the default): bundled
    /// when one file serves the program, otherwise its package is mounted (see
    /// [`crate::mount`]).
    pub fn bundle(&mut self, enabled: bool) -> &mut Build {
        self.bundle = Some(enabled);
        self
    }

    /// Mounts the files a path or glob (relative to the crate) names: beside the program's
    /// package when it is mounted (see [`crate::mount`]), or with `bundle` set, with node's
    /// `useVfs` (node 26+; see [`crate::vfs`]).
    pub fn vfs(&mut self, pattern: &str) -> &mut Build {
        self.vfs.get_or_insert_with(Vec::new).push(pattern.to_owned());
        self
    }

    /// Which node to build from (default `lts`; `"24".parse()?` gives a [`VersionSpec`]).
    pub fn node_version(&mut self, spec: VersionSpec) -> &mut Build {
        self.node_version = Some(spec);
        self
    }

    /// Whether to embed a V8 code cache (default: yes).
    pub fn code_cache(&mut self, enabled: bool) -> &mut Build {
        self.code_cache = Some(if enabled { crate::config::CodeCacheMode::Plain } else { crate::config::CodeCacheMode::Off });
        self
    }

    /// Embeds a trained code cache (see [`crate::train`]): main runs at build time with
    /// `args` in the crate directory, by node for the target, and the cache holds the
    /// functions that run compiled.
    ///
    /// ```no_run
    /// sea_build::Build::new().main("js/main.js").trained_code_cache(&["-p", "fixtures/project"]).build();
    /// ```
    pub fn trained_code_cache(&mut self, args: &[&str]) -> &mut Build {
        self.code_cache = Some(crate::config::CodeCacheMode::Trained);
        self.train_args = Some(args.iter().map(|arg| (*arg).to_owned()).collect());
        self
    }

    /// Whether `main` runs at build time and the SEA starts from the V8 startup snapshot it
    /// leaves (node's `useSnapshot`; default: no). `main` must call
    /// `v8.startupSnapshot.setDeserializeMainFunction`, and node for the target must run
    /// where the build runs.
    ///
    /// ```no_run
    /// sea_build::Build::new().main("js/main.js").use_snapshot(true).build();
    /// ```
    pub fn use_snapshot(&mut self, enabled: bool) -> &mut Build {
        self.use_snapshot = Some(enabled);
        self
    }

    /// Whether a Linux or macOS SEA leaves out node's symbol tables (default: yes; about
    /// 18 MB of node 24 for Linux, 20 MB for macOS). `false` keeps them, for debugging node
    /// itself. Windows SEAs are built as they are.
    ///
    /// ```no_run
    /// sea_build::Build::new().main("js/main.js").strip(false).build();
    /// ```
    pub fn strip(&mut self, enabled: bool) -> &mut Build {
        self.strip = Some(enabled);
        self
    }

    /// Which of node's ICU data ships (default: all of it, [`IcuData::Full`](crate::icu::IcuData::Full)):
    /// with [`IcuData::Locales`](crate::icu::IcuData::Locales), only what those locales, their
    /// sublocales and parents need; other locales fall back to `root` (see [`crate::icu`]).
    ///
    /// ```no_run
    /// use sea_build::icu::IcuData;
    /// sea_build::Build::new().main("js/main.js").icu(IcuData::Locales(vec!["en".into()])).build();
    /// ```
    pub fn icu(&mut self, icu: crate::icu::IcuData) -> &mut Build {
        self.icu = Some(icu);
        self
    }

    /// Whether the release archive users download is written next to the SEA (default: no):
    /// `<name>-<platform>.tar.xz` (`.zip` for Windows) holding the SEA and node's LICENSE,
    /// reproducible, its SHA-256 in the manifest. `.tar.xz` needs the `xz` feature, `.zip`
    /// the `windows` feature.
    ///
    /// ```no_run
    /// sea_build::Build::new().main("js/main.js").archive(true).build();
    /// ```
    pub fn archive(&mut self, enabled: bool) -> &mut Build {
        self.archive = Some(enabled);
        self
    }

    /// Whether a mounted package's files are stored deflated and inflated when read: a
    /// smaller artifact for a little start-up (default: no). No effect on a bundled program.
    ///
    /// ```no_run
    /// sea_build::Build::new().main("node_modules/prettier/bin/prettier.cjs").compress(true).build();
    /// ```
    pub fn compress(&mut self, enabled: bool) -> &mut Build {
        self.compress = Some(enabled);
        self
    }

    /// Embeds the file at `path` (relative to the crate) as asset `key`.
    pub fn asset(&mut self, key: &str, path: impl Into<Utf8PathBuf>) -> &mut Build {
        self.assets.insert(key.to_owned(), path.into());
        self
    }

    /// Adds an argument node starts with.
    pub fn exec_arg(&mut self, arg: &str) -> &mut Build {
        self.exec_argv.get_or_insert_with(Vec::new).push(arg.to_owned());
        self
    }

    /// Who may extend the exec arguments (default [`ExecArgvExtension::None`]).
    pub fn exec_argv_extension(&mut self, who: ExecArgvExtension) -> &mut Build {
        self.exec_argv_extension = Some(who);
        self
    }

    /// The arguments the artifact is run with before it is published (it must exit 0) and to
    /// check its code cache.
    pub fn verify_args(&mut self, args: &[&str]) -> &mut Build {
        self.verify_args = Some(args.iter().map(|a| (*a).to_owned()).collect());
        self
    }

    /// Also places the artifact in `dir` (relative to the crate directory) as a sidecar,
    /// `<name>-<rust target triple>[.exe]` with its manifest and node's LICENSE: the name
    /// Tauri's `externalBin` expects (`src-tauri/binaries/<name>-x86_64-unknown-linux-gnu`).
    ///
    /// ```no_run
    /// sea_build::Build::new().main("sidecar/main.js").sidecar_dir("binaries").build();
    /// ```
    pub fn sidecar_dir(&mut self, dir: impl Into<Utf8PathBuf>) -> &mut Build {
        self.sidecar_dir = Some(dir.into());
        self
    }

    /// How Mach-O artifacts are signed (default ad-hoc).
    pub fn sign(&mut self, mode: SignMode) -> &mut Build {
        self.sign = Some(mode);
        self
    }

    /// The P12 identity for [`SignMode::Identity`], relative to the crate directory.
    pub fn sign_p12(&mut self, path: impl Into<Utf8PathBuf>) -> &mut Build {
        self.sign_p12 = Some(path.into());
        self
    }

    /// The environment variable holding the P12's password (default
    /// `SEA_BUILD_SIGN_P12_PASSWORD`).
    pub fn sign_p12_password_env(&mut self, variable: &str) -> &mut Build {
        self.sign_p12_password_env = Some(variable.to_owned());
        self
    }

    /// A PEM key and its certificate chain for [`SignMode::Identity`] instead of a P12, relative
    /// to the crate directory (an encrypted key's password in `SEA_BUILD_SIGN_KEY_PASSWORD`).
    ///
    /// ```no_run
    /// sea_build::Build::new().sign(sea_build::sign::SignMode::Identity).sign_pem("certs/key.pem", "certs/chain.pem").build();
    /// ```
    pub fn sign_pem(&mut self, key: impl Into<Utf8PathBuf>, chain: impl Into<Utf8PathBuf>) -> &mut Build {
        self.sign_pem = Some((key.into(), chain.into()));
        self
    }

    /// Where the artifact goes (default `OUT_DIR/sea`).
    pub fn out_dir(&mut self, dir: impl Into<Utf8PathBuf>) -> &mut Build {
        self.out_dir = Some(dir.into());
        self
    }

    /// What to build for (default: the crate's `TARGET`).
    pub fn target(&mut self, platform: Platform) -> &mut Build {
        self.target = Some(platform);
        self
    }

    /// Reads variables from `env` instead of the process environment (every read is still
    /// announced to Cargo).
    pub fn env(&mut self, env: Env) -> &mut Build {
        self.env = Some(env);
        self
    }

    /// Runs node and the artifact through `runner` (default: as processes).
    pub fn runner(&mut self, runner: Arc<dyn Runner>) -> &mut Build {
        self.runner = Some(runner);
        self
    }

    /// Sends progress and warnings to `reporter` (default: warnings as `cargo::warning`).
    pub fn reporter(&mut self, reporter: Arc<dyn Reporter>) -> &mut Build {
        self.reporter = Some(reporter);
        self
    }

    /// Sets (or, with `""`, removes) a string of the Windows version resource, over the
    /// defaults from `[package]` and `[package.metadata.sea.windows]`'s `version-info`.
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_version_info("LegalCopyright", "(c) Ann").build();
    /// ```
    pub fn windows_version_info(&mut self, key: &str, value: &str) -> &mut Build {
        self.windows.version_info.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The `.ico` file (relative to the crate) replacing node's icon in Windows artifacts.
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_icon("assets/app.ico").build();
    /// ```
    pub fn windows_icon(&mut self, path: impl Into<Utf8PathBuf>) -> &mut Build {
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
    pub fn windows_sign(&mut self, mode: crate::sign::SignMode) -> &mut Build {
        self.windows.sign = Some(mode);
        self
    }

    /// The P12 identity for Authenticode, relative to the crate directory
    /// (`SEA_BUILD_WINDOWS_P12` overrides it).
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_sign_p12("certs/windows.p12").build();
    /// ```
    pub fn windows_sign_p12(&mut self, path: impl Into<Utf8PathBuf>) -> &mut Build {
        self.windows.sign_p12 = Some(path.into());
        self
    }

    /// The environment variable holding the Windows P12's password (default
    /// `SEA_BUILD_WINDOWS_P12_PASSWORD`).
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_sign_p12_password_env("MY_PASSWORD").build();
    /// ```
    pub fn windows_sign_p12_password_env(&mut self, variable: &str) -> &mut Build {
        self.windows.sign_p12_password_env = Some(variable.to_owned());
        self
    }

    /// A PEM key and its certificate chain for Authenticode instead of a P12, relative to the
    /// crate directory (an encrypted key's password in `SEA_BUILD_WINDOWS_SIGN_KEY_PASSWORD`).
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_sign_pem("certs/key.pem", "certs/chain.pem").build();
    /// ```
    pub fn windows_sign_pem(&mut self, key: impl Into<Utf8PathBuf>, chain: impl Into<Utf8PathBuf>) -> &mut Build {
        (self.windows.sign_key, self.windows.sign_cert) = (Some(key.into()), Some(chain.into()));
        self
    }

    /// An RFC 3161 time-stamp authority for Authenticode signatures (none by default).
    ///
    /// ```no_run
    /// sea_build::Build::new().windows_timestamp_url("http://127.0.0.1:3180/").build();
    /// ```
    pub fn windows_timestamp_url(&mut self, url: &str) -> &mut Build {
        self.windows.timestamp_url = Some(url.to_owned());
        self
    }

    /// Builds the SEA and returns its path; on failure, panics with a message written for
    /// Cargo's output.
    pub fn build(&self) -> Utf8PathBuf {
        match self.try_build() {
            Ok(path) => path,
            Err(error) => {
                self.cargo.line(&format!("cargo::warning=sea-build failed: {error:#}"));
                panic!("\n\nsea-build could not build the SEA:\n{error:#}\n\n");
            }
        }
    }

    /// Builds the SEA and returns its path.
    pub fn try_build(&self) -> crate::Result<Utf8PathBuf> {
        self.try_build_inner().map_err(crate::Error::from)
    }

    // The body of `try_build`: anyhow's error inside the crate, marked with kinds where they are known.
    fn try_build_inner(&self) -> Result<Utf8PathBuf> {
        let env = self.env.clone().unwrap_or_default().announcing_to(self.cargo.clone());
        let manifest_dir: Utf8PathBuf = env.var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR is unset: call sea_build::Build from a build script")?.into();
        let out = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => Utf8PathBuf::from(env.var("OUT_DIR").context("OUT_DIR is unset: call sea_build::Build from a build script, or set Build::out_dir")?).join("sea"),
        };
        let target = match self.target {
            Some(platform) => platform,
            None => env.var("TARGET").context("TARGET is unset: call sea_build::Build from a build script, or set Build::target")?.parse()?,
        };
        let cargo_toml = manifest_dir.join("Cargo.toml");
        self.rerun_if_changed(&cargo_toml);
        let sea = self.sea(&env, &manifest_dir)?;
        let identities = std::iter::once(&sea.sign.identity).chain(sea.windows.sign.as_ref().map(|signing| &signing.identity));
        let identity_files = identities.flat_map(|identity| [&identity.p12, &identity.key, &identity.cert]).flatten();
        for path in std::iter::once(&sea.main).chain(sea.assets.values()).chain(sea.windows.icon.as_ref()).chain(identity_files) {
            self.rerun_if_changed(&manifest_dir.join(path));
        }
        let path = out.join(format!("{}{}", sea.name, if target.os == crate::node::Os::Windows { ".exe" } else { "" }));
        self.cargo.line(&format!("cargo::rustc-env=SEA_{}_PATH={path}", sea.name.to_ascii_uppercase().replace(['-', '.'], "_")));
        if env.var_os("DOCS_RS").is_some() {
            return Ok(path);
        }
        let lock_path = workspace_root(&manifest_dir)?.join("sea.lock");
        self.rerun_if_changed(&lock_path);
        let lock = LockFile::read(&lock_path)?;
        let reporter: Arc<dyn Reporter> = self.reporter.clone().unwrap_or_else(|| Arc::new(CargoWarnings::to(self.cargo.clone())));
        let runner: Arc<dyn Runner> = self.runner.clone().unwrap_or_else(|| Arc::new(Processes));
        let fetcher = NodeFetcher::from_env(&env)?.project_dir(&manifest_dir).reporter(reporter.clone());
        let pipeline = Pipeline { fetcher: &fetcher, runner: runner.as_ref(), reporter: reporter.as_ref(), lock: Some((&lock, &lock_path)), env: &env };
        let artifact = pipeline.build(&sea, target, &out)?;
        // A build script reads sea.lock and never writes it: without a pin, the next build may
        // resolve the same request to a newer node.
        if lock.pinned(&sea.node, target).is_none() && !matches!(artifact.node.source.as_str(), "local" | "path") {
            reporter.report(crate::progress::Event::Warning(&format!(
                "node `{}` resolved to {} for {target}, and {lock_path} does not pin it, so a later build may pick a newer release: pin it with `cargo xtask fetch --node {} --target {target}` (sea-build's `fetch` command), and commit sea.lock",
                sea.node, artifact.node.version, sea.node
            )));
        }
        // Bundled: every module that went in, dependencies included.
        for input in &artifact.inputs {
            self.rerun_if_changed(&manifest_dir.join(input));
        }
        Ok(artifact.path)
    }

    fn rerun_if_changed(&self, path: &Utf8Path) {
        self.cargo.line(&format!("cargo::rerun-if-changed={path}"));
    }

    /// The SEA this builder describes: the crate's `[package.metadata.sea]` with this
    /// builder's fields on top.
    fn sea(&self, env: &Env, manifest_dir: &Utf8Path) -> Result<Sea> {
        let cargo_toml = manifest_dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&cargo_toml).with_context(|| format!("could not read {cargo_toml}"))?;
        let manifest: toml::Table = toml::from_str(&text).with_context(|| format!("{cargo_toml} is not valid TOML"))?;
        let table = manifest.get("package").and_then(|p| p.get("metadata")).and_then(|m| m.get("sea")).cloned();
        let mut metadata: SeaMetadata = match table {
            Some(table) => table.try_into().with_context(|| format!("[package.metadata.sea] of {cargo_toml} is not valid"))?,
            None => SeaMetadata::default(),
        };
        // Fields the table holds as written are set before it is resolved; typed ones after.
        let this = self.clone();
        metadata.name = this.name.or(metadata.name);
        metadata.main = this.main.or(metadata.main);
        metadata.bundle = this.bundle.or(metadata.bundle);
        metadata.vfs = this.vfs.unwrap_or(metadata.vfs);
        metadata.code_cache = this.code_cache.or(metadata.code_cache);
        metadata.train_args = this.train_args.or(metadata.train_args);
        metadata.use_snapshot = this.use_snapshot.or(metadata.use_snapshot);
        metadata.strip = this.strip.or(metadata.strip);
        metadata.archive = this.archive.or(metadata.archive);
        metadata.compress = this.compress.or(metadata.compress);
        metadata.assets.extend(this.assets);
        metadata.exec_argv = this.exec_argv.unwrap_or(metadata.exec_argv);
        metadata.verify_args = this.verify_args.unwrap_or(metadata.verify_args);
        metadata.sidecar_dir = this.sidecar_dir.or(metadata.sidecar_dir);
        metadata.sign = this.sign.or(metadata.sign);
        metadata.sign_p12 = this.sign_p12.or(metadata.sign_p12);
        metadata.sign_p12_password_env = this.sign_p12_password_env.or(metadata.sign_p12_password_env);
        if let Some((key, cert)) = this.sign_pem {
            (metadata.sign_key, metadata.sign_cert) = (Some(key), Some(cert));
        }
        let mut windows = metadata.windows.unwrap_or_default();
        windows.version_info.extend(this.windows.version_info);
        windows.icon = this.windows.icon.or(windows.icon);
        windows.sign = this.windows.sign.or(windows.sign);
        windows.sign_p12 = this.windows.sign_p12.or(windows.sign_p12);
        windows.sign_p12_password_env = this.windows.sign_p12_password_env.or(windows.sign_p12_password_env);
        windows.sign_key = this.windows.sign_key.or(windows.sign_key);
        windows.sign_cert = this.windows.sign_cert.or(windows.sign_cert);
        windows.timestamp_url = this.windows.timestamp_url.or(windows.timestamp_url);
        metadata.windows = Some(windows);
        let package = manifest.get("package").and_then(|p| p.get("name")).and_then(toml::Value::as_str).map(str::to_owned).or_else(|| env.var("CARGO_PKG_NAME")).unwrap_or_else(|| "sea".to_owned());
        // The Windows version resource's defaults: the crate's `[package]`, as Cargo passes it.
        let fields = crate::pe::version_info::PackageFields {
            name: package,
            version: env.var("CARGO_PKG_VERSION").unwrap_or_else(|| "0.0.0".to_owned()),
            description: env.var("CARGO_PKG_DESCRIPTION").filter(|text| !text.is_empty()),
            authors: env.var("CARGO_PKG_AUTHORS").map(|authors| authors.split(':').filter(|a| !a.is_empty()).map(str::to_owned).collect()).unwrap_or_default(),
        };
        let mut sea = metadata.resolve_package(&fields, manifest_dir, cargo_toml.as_str())?;
        if let Some(spec) = this.node_version {
            sea.node = spec;
        }
        if let Some(who) = this.exec_argv_extension {
            sea.exec_argv_extension = who;
        }
        if let Some(icu) = this.icu {
            sea.icu = icu;
        }
        Ok(sea)
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

    /// A crate directory whose Cargo.toml holds `metadata`, with `js/main.js`.
    fn package(metadata: &str) -> (tempfile::TempDir, Utf8PathBuf) {
        tree(&[("Cargo.toml", &format!("{PACKAGE}\n[package.metadata.sea]\n{metadata}")), ("js/main.js", "console.log(1)\n"), ("js/a.txt", "a"), ("js/b.txt", "b")])
    }

    /// A builder as a build script of the crate in `dir` would run it, with its output kept.
    fn builder(dir: &Utf8Path) -> Build {
        let mut build = Build { cargo: CargoOutput::captured(), ..Build::default() };
        let env = Env::from_process().with_var("CARGO_MANIFEST_DIR", dir.as_str()).with_var("OUT_DIR", dir.join("out").as_str()).with_var("TARGET", "x86_64-unknown-linux-gnu").without_var("DOCS_RS");
        build.env(env);
        build
    }

    #[test]
    fn the_setters_override_the_metadata_table() {
        let (_temp, dir) =
            package("main = \"js/main.js\"\nnode-version = \"22\"\nexec-argv-extension = \"cli\"\nassets = { \"a.txt\" = \"js/a.txt\" }\ncode-cache = false\nsidecar-dir = \"binaries\"\n");
        let mut build = builder(&dir);
        build.name("tool").node_version(VersionSpec::Exact(crate::node::Version::new(24, 21, 0))).exec_argv_extension(ExecArgvExtension::Env).asset("b.txt", "js/b.txt");
        let sea = build.sea(build.env.as_ref().unwrap(), &dir).unwrap();
        assert_eq!(sea.name, "tool");
        assert_eq!(sea.node, VersionSpec::Exact(crate::node::Version::new(24, 21, 0)));
        assert_eq!(sea.exec_argv_extension, ExecArgvExtension::Env);
        assert!(!sea.code_cache, "a field the builder leaves alone keeps the table's value");
        assert_eq!(sea.assets.keys().collect::<Vec<_>>(), ["a.txt", "b.txt"]);
        assert_eq!(sea.sidecar_dir.as_deref(), Some(Utf8Path::new("binaries")), "the table's sidecar-dir");
        build.sidecar_dir("src-tauri/binaries");
        assert_eq!(build.sea(build.env.as_ref().unwrap(), &dir).unwrap().sidecar_dir.as_deref(), Some(Utf8Path::new("src-tauri/binaries")), "the setter's");
        // Without a table the package name and the builder's main do.
        let (_temp, bare) = tree(&[("Cargo.toml", PACKAGE), ("js/main.js", "")]);
        let mut build = builder(&bare);
        build.main("js/main.js");
        let sea = build.sea(build.env.as_ref().unwrap(), &bare).unwrap();
        assert_eq!((sea.name.as_str(), sea.main.as_str(), sea.node.clone()), ("app", "js/main.js", VersionSpec::Lts));
    }

    #[test]
    fn docs_rs_builds_nothing_and_cargo_hears_only_what_it_does_not_know() {
        let (_temp, dir) = package("main = \"js/main.js\"\n");
        let mut build = builder(&dir);
        build.env(build.env.clone().unwrap().with_var("DOCS_RS", "1"));
        let path = build.try_build().unwrap();
        assert_eq!(path, dir.join("out/sea/app"));
        assert!(!dir.join("out").exists(), "nothing is built under DOCS_RS");
        let lines = build.cargo.lines();
        for expected in [
            format!("cargo::rustc-env=SEA_APP_PATH={path}"),
            format!("cargo::rerun-if-changed={dir}/Cargo.toml"),
            format!("cargo::rerun-if-changed={dir}/js/main.js"),
            "cargo::rerun-if-env-changed=DOCS_RS".to_owned(),
        ] {
            assert!(lines.contains(&expected), "{expected} missing from {lines:#?}");
        }
        let announced: Vec<&str> = lines.iter().filter_map(|line| line.strip_prefix("cargo::rerun-if-env-changed=")).collect();
        for set_by_cargo in ["CARGO_MANIFEST_DIR", "OUT_DIR", "TARGET", "CARGO_PKG_NAME", "PATH"] {
            assert!(!announced.contains(&set_by_cargo), "{set_by_cargo} announced: {announced:?}");
        }
    }

    #[test]
    fn offline_without_the_node_in_the_cache_fails_and_says_so() {
        let (_temp, dir) = package("main = \"js/main.js\"\nnode-version = \"24.21.0\"\n");
        let cache = tempfile::tempdir().unwrap();
        let mut build = builder(&dir);
        build.env(build.env.clone().unwrap().with_var("SEA_BUILD_OFFLINE", "1").with_var("SEA_BUILD_CACHE_DIR", cache.path().as_os_str().to_owned()));
        let error = format!("{:#}", build.try_build().unwrap_err());
        assert!(error.contains("offline") && error.contains("24.21.0"), "{error}");
        assert!(!dir.join("out/sea/app").exists());
        let lines = build.cargo.lines();
        assert!(lines.contains(&"cargo::rerun-if-env-changed=SEA_BUILD_OFFLINE".to_owned()), "{lines:#?}");
    }

    #[test]
    fn a_target_whose_feature_is_off_is_refused_by_name() {
        let (_temp, dir) = package("main = \"js/main.js\"\nnode-version = \"24.21.0\"\n");
        let cache = tempfile::tempdir().unwrap();
        let mut build = builder(&dir);
        build.target("win-x64".parse().unwrap());
        // Offline with an empty cache: with the feature on, the build gets as far as acquisition.
        build.env(build.env.clone().unwrap().with_var("SEA_BUILD_OFFLINE", "1").with_var("SEA_BUILD_CACHE_DIR", cache.path().as_os_str().to_owned()));
        let error = format!("{:#}", build.try_build().unwrap_err());
        if cfg!(feature = "windows") {
            assert!(error.contains("offline") && !error.contains("feature"), "{error}");
        } else {
            assert!(error.contains("win-x64") && error.contains("`windows` feature"), "{error}");
        }
    }

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
