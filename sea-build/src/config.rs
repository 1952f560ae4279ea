//! What a SEA is made of: the `[package.metadata.sea]` table of a crate's `Cargo.toml`, or the
//! same fields given to [`crate::Build`] in `build.rs`.
//!
//! ```toml
//! [package.metadata.sea]
//! name = "hello"                   # default: the package name
//! main = "js/main.js"              # required: the entry point (.js, .mjs, .cjs, .ts, .mts, .cts)
//! bundle = true                    # unset (default): bundle when one file serves, else mount the package
//! vfs = []                         # paths or globs mounted for the program, beside the package's own
//! node-version = "24"              # exact, major, "lts", "latest", "local" or a path
//! targets = ["host"]               # Node platform names or Rust target triples
//! code-cache = true               # or "trained", with train-args
//! train-args = []                  # what main runs with to train the cache (package-relative)
//! use-snapshot = false             # run main at build time and start from its V8 heap snapshot
//! strip = true                     # Linux, macOS: leave node's symbol tables (and ELF debug sections) out
//! icu = "full"                     # or the locales whose ICU data ships, e.g. ["en"]
//! archive = false                  # also write the release archive (.tar.xz, or .zip for Windows)
//! compress = false                 # a mounted package's files stored deflated, inflated when read
//! assets = { "greeting.txt" = "js/greeting.txt" }
//! exec-argv = []
//! exec-argv-extension = "none"     # "none" (default), "env" or "cli": may NODE_OPTIONS add flags?
//! verify-args = []                 # what the build runs the artifact with: it must exit 0
//! sidecar-dir = "binaries"         # also place it as binaries/<name>-<target triple> (Tauri)
//! ```

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::ErrorKind;
use crate::blob::ExecArgvExtension;
use crate::icu::IcuData;
use crate::node::{Platform, Version, VersionSpec};
use crate::sign::{IdentityConfig, SignMode};

/// The `icu` field as written: `"full"` or a list of locales.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum IcuField {
    /// A name: only `"full"` is one.
    Name(String),
    /// Locales, as BCP 47 (`pt-BR`) or ICU (`pt_BR`) names.
    Locales(Vec<String>),
}

impl IcuField {
    /// The ICU data this field asks for.
    ///
    /// ```
    /// use sea_build::config::IcuField;
    /// use sea_build::icu::IcuData;
    /// assert_eq!(IcuField::Name("full".into()).resolve()?, IcuData::Full);
    /// assert_eq!(IcuField::Locales(vec!["en".into()]).resolve()?, IcuData::Locales(vec!["en".into()]));
    /// assert!(IcuField::Name("small".into()).resolve().is_err());
    /// # anyhow::Ok(())
    /// ```
    pub fn resolve(&self) -> Result<IcuData> {
        match self {
            IcuField::Name(name) if name == "full" => Ok(IcuData::Full),
            IcuField::Name(name) => bail!("`icu = {name:?}` is not a choice: write \"full\" (node's data as it is) or the locales to keep, such as [\"en\"]"),
            IcuField::Locales(locales) => IcuData::from_field(Some(locales)),
        }
    }
}

/// The `[package.metadata.sea]` table as written.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SeaMetadata {
    /// The artifact's name; default: the package name.
    pub name: Option<String>,
    /// The entry point, relative to the package directory.
    pub main: Option<Utf8PathBuf>,
    /// `true`: `main` is bundled with everything it requires and imports into one file;
    /// `false`: `main` ships as it is. Unset (the default): bundled when one file serves the
    /// program, otherwise the package is mounted (see [`Bundling::Auto`]).
    pub bundle: Option<bool>,
    /// Paths or globs (relative to the package directory) mounted for the program: added to a
    /// mounted package, or with `bundle` set, embedded and mounted with node's `useVfs`
    /// (node 26+).
    #[serde(default)]
    pub vfs: Vec<String>,
    /// The node version spec; default `lts`.
    pub node_version: Option<String>,
    /// Targets; default `["host"]`.
    pub targets: Option<Vec<String>>,
    /// Whether to embed a V8 code cache (`true`, `false`, or `"trained"`); default true.
    pub code_cache: Option<CodeCacheMode>,
    /// With `code-cache = "trained"`: the arguments main runs with, in the package directory,
    /// to train the cache (see [`crate::train`]).
    pub train_args: Option<Vec<String>>,
    /// Whether `main` runs at build time and the artifact starts from the V8 startup snapshot
    /// it leaves (node's `useSnapshot`); default false. `main` must call
    /// `v8.startupSnapshot.setDeserializeMainFunction`.
    pub use_snapshot: Option<bool>,
    /// Whether Linux and macOS artifacts leave out node's symbol tables (Linux: the static
    /// symbol table and the debug sections; macOS: the local symbols); default true.
    pub strip: Option<bool>,
    /// Which of node's ICU data ships: `"full"` (default) or a list of locales (`["en"]`), whose
    /// data is kept with their sublocales and parents (see [`crate::icu`]).
    pub icu: Option<IcuField>,
    /// Whether the release archive users download is written next to the artifact
    /// (`.tar.xz`, `.zip` for Windows; see [`crate::release`]); default false.
    pub archive: Option<bool>,
    /// Whether a mounted package's files are stored deflated and inflated when read (a
    /// smaller artifact for a little start-up); default false. No effect on a bundled program.
    pub compress: Option<bool>,
    /// Assets: key (as `sea.getAsset` sees it) to path relative to the package directory.
    #[serde(default)]
    pub assets: BTreeMap<String, Utf8PathBuf>,
    /// Arguments node starts with, before the user's.
    #[serde(default)]
    pub exec_argv: Vec<String>,
    /// Whether NODE_OPTIONS (`env`) or the command line (`cli`) may extend `exec-argv`; default
    /// `none`, which keeps a user's NODE_OPTIONS from rejecting the code cache.
    pub exec_argv_extension: Option<String>,
    /// Arguments the artifact is run with before it is published, and by `verify-cache`. The
    /// run gets no other arguments, an empty standard input, an empty environment (no `HOME`,
    /// no `PATH`) and 60 seconds, and must exit 0, or the build fails and nothing is
    /// published; default: no arguments, so a CLI that exits non-zero without any needs one
    /// such as `["--version"]`.
    #[serde(default)]
    pub verify_args: Vec<String>,
    /// A directory (relative to the package directory) where each artifact is also placed as
    /// a sidecar, `<name>-<rust target triple>[.exe]` with its manifest, the name Tauri's
    /// `externalBin` expects; none by default.
    pub sidecar_dir: Option<Utf8PathBuf>,
    /// How Mach-O artifacts are signed: `"adhoc"` (default), `"identity"` or `"none"`.
    pub sign: Option<SignMode>,
    /// The P12 identity for `sign = "identity"`, relative to the package directory
    /// (`SEA_BUILD_SIGN_P12` overrides it).
    pub sign_p12: Option<Utf8PathBuf>,
    /// The environment variable holding the P12's password; default
    /// `SEA_BUILD_SIGN_P12_PASSWORD`.
    pub sign_p12_password_env: Option<String>,
    /// A PEM private key, instead of a P12, relative to the package directory
    /// (`SEA_BUILD_SIGN_KEY` overrides it); with `sign-cert`.
    pub sign_key: Option<Utf8PathBuf>,
    /// The PEM certificate chain of `sign-key`: its certificate and the CA certificates above
    /// it (`SEA_BUILD_SIGN_CERT` overrides it).
    pub sign_cert: Option<Utf8PathBuf>,
    /// The variable holding an encrypted `sign-key`'s password; default
    /// `SEA_BUILD_SIGN_KEY_PASSWORD`.
    pub sign_key_password_env: Option<String>,
    /// `[package.metadata.sea.windows]`: version resource, icon and Authenticode signing of
    /// Windows artifacts.
    pub windows: Option<WindowsMetadata>,
}

// --- Windows identity (issue 14) -------------------------------------------------------------

/// The `[package.metadata.sea.windows]` table as written:
///
/// ```toml
/// [package.metadata.sea.windows]
/// version-info = { LegalCopyright = "(c) Ann", Comments = "" }  # "" removes a default
/// icon = "assets/app.ico"
/// sign = "identity"                 # or "none" (default)
/// sign-p12 = "certs/windows.p12"    # SEA_BUILD_WINDOWS_P12 overrides it
/// sign-p12-password-env = "MY_PW"   # default SEA_BUILD_WINDOWS_P12_PASSWORD
/// # or a PEM pair instead of the P12 (SEA_BUILD_WINDOWS_SIGN_KEY, SEA_BUILD_WINDOWS_SIGN_CERT
/// # override them; an encrypted key's password in SEA_BUILD_WINDOWS_SIGN_KEY_PASSWORD):
/// # sign-key = "certs/key.pem"
/// # sign-cert = "certs/chain.pem"
/// timestamp-url = "http://timestamp.example/"  # optional RFC 3161 time-stamp authority
/// ```
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WindowsMetadata {
    /// Version-resource strings over the defaults from `[package]`; an empty value removes
    /// the key.
    #[serde(default)]
    pub version_info: BTreeMap<String, String>,
    /// An `.ico` file, relative to the package directory, replacing node's icon.
    pub icon: Option<Utf8PathBuf>,
    /// `"identity"` signs with Authenticode; `"none"` (default) leaves the artifact unsigned.
    pub sign: Option<SignMode>,
    /// The P12 identity, relative to the package directory (`SEA_BUILD_WINDOWS_P12`
    /// overrides it).
    pub sign_p12: Option<Utf8PathBuf>,
    /// The variable holding the P12's password; default `SEA_BUILD_WINDOWS_P12_PASSWORD`.
    pub sign_p12_password_env: Option<String>,
    /// A PEM private key instead of the P12 (`SEA_BUILD_WINDOWS_SIGN_KEY` overrides it).
    pub sign_key: Option<Utf8PathBuf>,
    /// `sign-key`'s PEM certificate chain (`SEA_BUILD_WINDOWS_SIGN_CERT` overrides it).
    pub sign_cert: Option<Utf8PathBuf>,
    /// The variable holding an encrypted `sign-key`'s password; default
    /// `SEA_BUILD_WINDOWS_SIGN_KEY_PASSWORD`.
    pub sign_key_password_env: Option<String>,
    /// An RFC 3161 time-stamp authority's URL; none by default (the output then does not
    /// depend on the clock).
    pub timestamp_url: Option<String>,
}

/// The default variable for the Windows P12 password.
pub const WINDOWS_P12_PASSWORD_ENV: &str = crate::sign::IdentityVariables::WINDOWS.p12_password;
/// The variable that names the Windows P12 file, over `sign-p12`.
pub const WINDOWS_P12_PATH_ENV: &str = crate::sign::IdentityVariables::WINDOWS.p12;

/// How Windows artifacts look and are signed, resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowsConfig {
    /// The version resource replacing node's (`None` keeps node's).
    pub version_info: Option<crate::pe::version_info::VersionInfo>,
    /// The `.ico` file replacing node's icon, relative to the package directory.
    pub icon: Option<Utf8PathBuf>,
    /// Authenticode signing, when asked for.
    pub sign: Option<WindowsSigning>,
}

/// Authenticode signing as declared (the identity is read when building).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowsSigning {
    /// The identity.
    pub identity: IdentityConfig,
    /// The RFC 3161 time-stamp authority, if any.
    pub timestamp_url: Option<String>,
}

impl WindowsMetadata {
    /// Resolves the table for package `package`, whose SEA is called `name`.
    fn resolve(self, package: &crate::pe::version_info::PackageFields, name: &str, origin: &str) -> Result<WindowsConfig> {
        let version_info = crate::pe::version_info::VersionInfo::for_package(package, &format!("{name}.exe"), &self.version_info).with_context(|| format!("{origin}: bad `windows.version-info`"))?;
        let sign = match self.sign.unwrap_or(SignMode::None) {
            SignMode::None => None,
            SignMode::Identity => {
                let identity =
                    IdentityConfig::declared([self.sign_p12, self.sign_key, self.sign_cert], [self.sign_p12_password_env, self.sign_key_password_env], &crate::sign::IdentityVariables::WINDOWS);
                Some(WindowsSigning { identity, timestamp_url: self.timestamp_url })
            }
            SignMode::AdHoc => bail!("{origin}: `windows.sign = \"adhoc\"` does not exist for Windows (Authenticode has no ad-hoc signatures): use \"identity\" with a P12, or \"none\""),
        };
        Ok(WindowsConfig { version_info: Some(version_info), icon: self.icon, sign })
    }
}
// --- end of Windows identity -----------------------------------------------------------------

/// A SEA, fully resolved: everything the pipeline needs, paths relative to `package_dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sea {
    /// The artifact's name (without `.exe`).
    pub name: String,
    /// The directory `main` and assets are relative to.
    pub package_dir: Utf8PathBuf,
    /// The entry point, relative to `package_dir`.
    pub main: Utf8PathBuf,
    /// How `main` ships (see [`Bundling`]).
    pub bundle: Bundling,
    /// Paths or globs mounted: added to the mounted package ([`crate::mount`]), or with
    /// `bundle` set, with node's `useVfs` (see [`crate::vfs`]).
    pub vfs: Vec<String>,
    /// Which node to build from.
    pub node: VersionSpec,
    /// What to build for.
    pub targets: Vec<Platform>,
    /// Whether to embed a V8 code cache.
    pub code_cache: bool,
    /// With a trained cache (see [`crate::train`]): the arguments main runs with to train it.
    pub train_args: Option<Vec<String>>,
    /// Whether the artifact starts from a V8 startup snapshot made by running `main` at build
    /// time (see [`crate::generate`]); the snapshot takes the code cache's place.
    pub use_snapshot: bool,
    /// Whether Linux and macOS artifacts leave out node's symbol tables (see
    /// [`crate::inject::elf_strip`] and [`crate::macho::strip`]).
    pub strip: bool,
    /// Which of node's ICU data the artifacts carry (see [`crate::icu`]).
    pub icu: IcuData,
    /// Whether the release archive is written next to the artifact (see [`crate::release`]).
    pub archive: bool,
    /// Whether a mounted package's files are stored deflated (see [`crate::mount::pack`]).
    pub compress: bool,
    /// Assets: key to path relative to `package_dir`.
    pub assets: BTreeMap<String, Utf8PathBuf>,
    /// Arguments node starts with.
    pub exec_argv: Vec<String>,
    /// Who may extend `exec_argv`.
    pub exec_argv_extension: ExecArgvExtension,
    /// Arguments for the run before publishing and the run-time cache check.
    pub verify_args: Vec<String>,
    /// Where each artifact is also placed as a sidecar, relative to `package_dir` (or
    /// absolute); see [`crate::artifact::sidecar_file_name`].
    pub sidecar_dir: Option<Utf8PathBuf>,
    /// How Mach-O artifacts are signed.
    pub sign: SignConfig,
    /// Version resource, icon and signing of Windows artifacts.
    pub windows: WindowsConfig,
}

/// How a SEA's Mach-O artifacts are signed, as declared (the identity itself is read when
/// building).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignConfig {
    /// Ad-hoc, identity or none.
    pub mode: SignMode,
    /// The identity for [`SignMode::Identity`].
    pub identity: IdentityConfig,
}

/// How a SEA's `main` ships: the `bundle` field.
///
/// ```
/// use sea_build::config::Bundling;
/// assert_eq!(Bundling::from_field(None), Bundling::Auto);
/// assert_eq!(Bundling::from_field(Some(true)), Bundling::Always);
/// assert!(Bundling::Auto.bundles() && !Bundling::Never.bundles());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bundling {
    /// `bundle` unset: `main` is bundled when esbuild can follow everything the program
    /// loads and nothing in it depends on where its files lie; otherwise the program's
    /// package is mounted ([`crate::mount`]), its code compiled from caches made at build time.
    #[default]
    Auto,
    /// `bundle = true`: always one bundled file (see [`crate::bundle`]).
    Always,
    /// `bundle = false`: `main` ships as it is.
    Never,
}

impl Bundling {
    /// The mode a `bundle` field (`None` when unset) asks for.
    pub fn from_field(bundle: Option<bool>) -> Bundling {
        match bundle {
            None => Bundling::Auto,
            Some(true) => Bundling::Always,
            Some(false) => Bundling::Never,
        }
    }

    /// Whether esbuild runs (to bundle, or to find out whether a bundle serves).
    pub fn bundles(self) -> bool {
        self != Bundling::Never
    }
}

impl Sea {
    /// How `main` ships for this SEA: as `bundle` says, but always bundled with `use-snapshot`
    /// and `bundle` unset (a snapshot's main runs at build time, where no mount is served).
    pub fn bundling(&self) -> Bundling {
        if self.use_snapshot && self.bundle == Bundling::Auto { Bundling::Always } else { self.bundle }
    }
}

/// What `code-cache` asks for: `false`, `true` (node's plain cache) or `"trained"`.
///
/// ```
/// use sea_build::config::CodeCacheMode;
/// let parsed: Vec<CodeCacheMode> = serde_json::from_str(r#"[false, true, "trained"]"#)?;
/// assert_eq!(parsed, [CodeCacheMode::Off, CodeCacheMode::Plain, CodeCacheMode::Trained]);
/// assert!(serde_json::from_str::<CodeCacheMode>(r#""fast""#).is_err());
/// # anyhow::Ok(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCacheMode {
    /// No code cache.
    Off,
    /// Node's own cache, made as `main` is compiled.
    Plain,
    /// A cache made after `main` ran with `train-args` (see [`crate::train`]).
    Trained,
}

impl<'de> serde::Deserialize<'de> for CodeCacheMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Flag(bool),
            Name(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Flag(true) => Ok(CodeCacheMode::Plain),
            Written::Flag(false) => Ok(CodeCacheMode::Off),
            Written::Name(name) if name == "trained" => Ok(CodeCacheMode::Trained),
            Written::Name(name) => Err(serde::de::Error::custom(format!("`code-cache` is \"{name}\": expected true, false or \"trained\""))),
        }
    }
}

impl SeaMetadata {
    /// Resolves the table of package `package` (in `package_dir`); `origin` names it in errors.
    /// What the table asks for that is invalid is an [`ErrorKind::Config`] error.
    ///
    /// ```
    /// use sea_build::{ErrorKind, SeaMetadata};
    /// let error = SeaMetadata::default().resolve("app", ".".into(), "Cargo.toml").unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::Config);
    /// assert!(error.to_string().contains("`main` is missing"));
    /// ```
    pub fn resolve(self, package: &str, package_dir: &Utf8Path, origin: &str) -> crate::Result<Sea> {
        let fields = crate::pe::version_info::PackageFields { name: package.to_owned(), version: "0.0.0".to_owned(), ..Default::default() };
        self.resolve_package(&fields, package_dir, origin)
    }

    /// [`resolve`](Self::resolve), with the package's `[package]` fields, which the Windows
    /// version resource takes its defaults from.
    ///
    /// ```
    /// use sea_build::{ErrorKind, SeaMetadata, pe::version_info::PackageFields};
    /// let fields = PackageFields { name: "app".into(), version: "1.2.3".into(), ..Default::default() };
    /// let metadata = SeaMetadata { main: Some("main.js".into()), targets: Some(vec!["win-x99".into()]), ..Default::default() };
    /// let error = metadata.resolve_package(&fields, ".".into(), "Cargo.toml").unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::Config);
    /// assert!(error.to_string().starts_with("Cargo.toml: bad entry in `targets`: unknown target `win-x99`"));
    /// ```
    pub fn resolve_package(self, package_fields: &crate::pe::version_info::PackageFields, package_dir: &Utf8Path, origin: &str) -> crate::Result<Sea> {
        crate::error::typed_as(ErrorKind::Config, || {
            let package = package_fields.name.as_str();
            let main = self.main.with_context(|| format!("{origin}: `main` is missing: name the JavaScript entry point, e.g. main = \"js/main.js\""))?;
            let node = self.node_version.as_deref().unwrap_or("lts").parse().with_context(|| format!("{origin}: bad `node-version`"))?;
            let targets = self.targets.unwrap_or_else(|| vec!["host".to_owned()]);
            if targets.is_empty() {
                bail!("{origin}: `targets` is empty: list at least one, e.g. [\"host\"]");
            }
            let targets = targets.iter().map(|t| t.parse::<Platform>().with_context(|| format!("{origin}: bad entry in `targets`"))).collect::<Result<Vec<_>>>()?;
            let exec_argv_extension = match self.exec_argv_extension.as_deref().unwrap_or("none") {
                "none" => ExecArgvExtension::None,
                "env" => ExecArgvExtension::Env,
                "cli" => ExecArgvExtension::Cli,
                other => bail!("{origin}: `exec-argv-extension` is `{other}`: expected \"none\", \"env\" or \"cli\""),
            };
            let mode = self.code_cache.unwrap_or(CodeCacheMode::Plain);
            let train_args = match (mode, self.train_args) {
                (CodeCacheMode::Trained, Some(args)) if !args.is_empty() => Some(args),
                (CodeCacheMode::Trained, _) => {
                    bail!("{origin}: `code-cache = \"trained\"` needs `train-args`: the arguments main runs with to do representative work, e.g. train-args = [\"-p\", \"fixtures/project\"]")
                }
                (_, Some(_)) => bail!("{origin}: `train-args` is set but `code-cache` is not \"trained\": set code-cache = \"trained\" or drop train-args"),
                (_, None) => None,
            };
            let name = self.name.unwrap_or_else(|| package.to_owned());
            let windows = self.windows.unwrap_or_default().resolve(package_fields, &name, origin)?;
            let sea = Sea {
                name,
                package_dir: package_dir.to_owned(),
                main,
                bundle: Bundling::from_field(self.bundle),
                vfs: self.vfs,
                node,
                targets,
                code_cache: mode != CodeCacheMode::Off,
                train_args,
                use_snapshot: self.use_snapshot.unwrap_or(false),
                strip: self.strip.unwrap_or(true),
                icu: self.icu.as_ref().map(IcuField::resolve).transpose().with_context(|| format!("{origin}: bad `icu`"))?.unwrap_or_default(),
                archive: self.archive.unwrap_or(false),
                compress: self.compress.unwrap_or(false),
                assets: self.assets,
                exec_argv: self.exec_argv,
                exec_argv_extension,
                verify_args: self.verify_args,
                sidecar_dir: self.sidecar_dir,
                sign: SignConfig {
                    mode: self.sign.unwrap_or_default(),
                    identity: IdentityConfig::declared(
                        [self.sign_p12, self.sign_key, self.sign_cert],
                        [self.sign_p12_password_env, self.sign_key_password_env],
                        &crate::sign::IdentityVariables::MACOS,
                    ),
                },
                windows,
            };
            sea.check_files(origin)?;
            Ok(sea)
        })
    }
}

impl Sea {
    /// Fails unless `main` and every asset exist and stay inside the package, with
    /// [`ErrorKind::Config`].
    ///
    /// ```
    /// use sea_build::{ErrorKind, SeaMetadata};
    /// let temp = tempfile::tempdir()?;
    /// std::fs::write(temp.path().join("main.js"), "")?;
    /// let dir = camino::Utf8Path::from_path(temp.path()).unwrap();
    /// let mut sea = SeaMetadata { main: Some("main.js".into()), ..Default::default() }.resolve("app", dir, "Cargo.toml")?;
    /// sea.main = "../main.js".into();
    /// assert_eq!(sea.check_files("Cargo.toml").unwrap_err().kind(), ErrorKind::Config);
    /// # anyhow::Ok(())
    /// ```
    pub fn check_files(&self, origin: &str) -> crate::Result<()> {
        crate::error::typed_as(ErrorKind::Config, || {
            if !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') || self.name.is_empty() {
                bail!("{origin}: the name `{}` is not a plain file name (letters, digits, `-`, `_`, `.`)", self.name);
            }
            let inside = |what: &str, path: &Utf8Path| -> Result<()> {
                if path.is_absolute() || path.components().any(|c| c == camino::Utf8Component::ParentDir) {
                    bail!("{origin}: {what} `{path}` must be a path inside the package directory {} (relative, no `..`): the blob must not depend on where the checkout is", self.package_dir);
                }
                let full = self.package_dir.join(path);
                if !full.is_file() {
                    bail!("{origin}: {what} `{path}` does not exist (looked for {full})");
                }
                Ok(())
            };
            inside("main", &self.main)?;
            if self.bundle == Bundling::Never && matches!(self.main.extension(), Some("ts" | "mts" | "cts" | "tsx")) {
                bail!("{origin}: main `{}` is TypeScript, which needs `bundle = true` (the default) to become JavaScript", self.main);
            }
            for (key, path) in &self.assets {
                inside(&format!("asset `{key}`"), path)?;
            }
            if let Some(icon) = &self.windows.icon {
                inside("windows.icon", icon)?;
            }
            Ok(())
        })
    }

    /// Fails when `version` cannot honour a field, instead of letting node drop it silently,
    /// with [`ErrorKind::Config`].
    ///
    /// ```
    /// use sea_build::{ErrorKind, SeaMetadata, node::Version};
    /// let temp = tempfile::tempdir()?;
    /// std::fs::write(temp.path().join("main.js"), "")?;
    /// let dir = camino::Utf8Path::from_path(temp.path()).unwrap();
    /// let sea = SeaMetadata { main: Some("main.js".into()), exec_argv: vec!["--no-warnings".into()], ..Default::default() }.resolve("app", dir, "Cargo.toml")?;
    /// sea.check_node_supports(Version::new(24, 7, 0))?;
    /// assert_eq!(sea.check_node_supports(Version::new(24, 6, 0)).unwrap_err().kind(), ErrorKind::Config);
    /// # anyhow::Ok(())
    /// ```
    pub fn check_node_supports(&self, version: Version) -> crate::Result<()> {
        crate::error::typed_as(ErrorKind::Config, || {
            let at_least = |major, minor| (version.major, version.minor) >= (major, minor);
            let needs = |what: &str, since: &str| -> Result<()> { bail!("{what} needs node {since} or newer, but this SEA builds from node {version}: upgrade `node-version` or drop the field") };
            if (version.major, version.minor) < (20, 6) {
                needs("a SEA built by sea-build", "20.6")?;
            }
            if !self.assets.is_empty() && !(at_least(20, 12) && (version.major != 21 || version.minor >= 7)) {
                needs("`assets`", "20.12 (21.7)")?;
            }
            if !self.exec_argv.is_empty() && !supports_exec_argv(version) {
                needs("`exec-argv`", "22.20 / 24.7")?;
            }
            if self.bundle == Bundling::Never && self.main.extension() == Some("mjs") && !at_least(25, 7) {
                needs("an ES module main shipped as it is (`bundle = false`)", "25.7")?;
            }
            if !self.vfs.is_empty() && self.bundle != Bundling::Auto && version.major < 26 {
                needs("`vfs` with `bundle` set (node's useVfs)", "26")?;
            }
            if self.bundle == Bundling::Auto && !self.vfs.is_empty() && !at_least(22, 15) {
                needs("`vfs` (a mounted package)", "22.15")?;
            }
            if self.train_args.is_some() && self.use_snapshot {
                bail!("`code-cache = \"trained\"` and `use-snapshot` cannot be combined: a snapshot takes the code cache's place; drop one of them");
            }
            if self.use_snapshot && !self.vfs.is_empty() {
                bail!("`use-snapshot` and `vfs` cannot be combined: a snapshot's main runs once, at build time, and cannot read the mounted files then; drop one of them");
            }
            Ok(())
        })
    }
}

/// Whether `version` knows `execArgv` and `execArgvExtension` (22.20+, 24.7+, 25+).
pub fn supports_exec_argv(version: Version) -> bool {
    match version.major {
        22 => version.minor >= 20,
        24 => version.minor >= 7,
        major => major >= 25,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sea(assets: bool, exec_argv: bool, main: &str) -> Sea {
        Sea {
            name: "x".into(),
            package_dir: ".".into(),
            main: main.into(),
            bundle: Bundling::Never,
            vfs: vec![],
            node: VersionSpec::Lts,
            targets: vec![],
            code_cache: true,
            train_args: None,
            use_snapshot: false,
            strip: false,
            icu: IcuData::Full,
            archive: false,
            compress: false,
            assets: if assets { [("a".to_owned(), "a".into())].into() } else { BTreeMap::new() },
            exec_argv: if exec_argv { vec!["--no-warnings".into()] } else { vec![] },
            exec_argv_extension: ExecArgvExtension::None,
            verify_args: vec![],
            sidecar_dir: None,
            sign: SignConfig::default(),
            windows: WindowsConfig::default(),
        }
    }

    #[test]
    fn fields_newer_than_the_node_are_refused() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(sea(true, false, "m.js").check_node_supports(v("20.11.1")).is_err());
        assert!(sea(true, false, "m.js").check_node_supports(v("20.12.0")).is_ok());
        assert!(sea(false, true, "m.js").check_node_supports(v("24.6.0")).is_err());
        assert!(sea(false, true, "m.js").check_node_supports(v("24.7.0")).is_ok());
        assert!(sea(false, true, "m.js").check_node_supports(v("22.19.0")).is_err());
        assert!(sea(false, true, "m.js").check_node_supports(v("23.11.0")).is_err());
        assert!(sea(false, false, "m.mjs").check_node_supports(v("25.6.0")).is_err());
        assert!(sea(false, false, "m.mjs").check_node_supports(v("25.7.0")).is_ok());
        let bundled = Sea { bundle: Bundling::Always, ..sea(false, false, "m.mjs") };
        assert!(bundled.check_node_supports(v("24.21.0")).is_ok(), "a bundled ES module becomes CommonJS for older nodes");
        let mounted = Sea { vfs: vec!["data".into()], ..sea(false, false, "m.js") };
        assert!(mounted.check_node_supports(v("24.21.0")).unwrap_err().to_string().contains("`vfs`"));
        assert!(mounted.check_node_supports(v("26.10.0")).is_ok());
        let auto = Sea { bundle: Bundling::Auto, ..mounted };
        assert!(auto.check_node_supports(v("24.21.0")).is_ok(), "a mounted package takes vfs entries on node 22.15+");
        assert!(auto.check_node_supports(v("22.14.0")).is_err());
        let error = sea(true, false, "m.js").check_node_supports(v("20.8.0")).unwrap_err().to_string();
        assert!(error.contains("`assets` needs node 20.12"), "{error}");
    }

    #[test]
    fn strip_is_on_and_archive_off_unless_the_table_says_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        std::fs::write(dir.join("main.js"), "").unwrap();
        let resolve = |table: &str| toml::from_str::<SeaMetadata>(&format!("main = \"main.js\"\n{table}")).unwrap().resolve("app", dir, "Cargo.toml").unwrap();
        let defaults = resolve("");
        assert!(defaults.strip && !defaults.archive);
        let chosen = resolve("strip = false\narchive = true\n");
        assert!(!chosen.strip && chosen.archive);
    }

    #[test]
    fn the_windows_table_resolves_with_defaults_from_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        std::fs::write(dir.join("main.js"), "").unwrap();
        let fields = crate::pe::version_info::PackageFields { name: "hello".into(), version: "2.0.1".into(), description: None, authors: vec!["Ann <ann@example.org>".into()] };
        let table = |windows: &str| -> SeaMetadata { toml::from_str(&format!("main = \"main.js\"\n[windows]\n{windows}")).unwrap() };
        let sea = table("version-info = { LegalCopyright = \"(c) Ann\", CompanyName = \"\" }\nsign = \"identity\"\nsign-p12 = \"id.p12\"").resolve_package(&fields, dir, "Cargo.toml").unwrap();
        let info = sea.windows.version_info.unwrap();
        assert_eq!(info.strings["ProductName"], "hello");
        assert_eq!(info.strings["OriginalFilename"], "hello.exe");
        assert_eq!(info.strings["LegalCopyright"], "(c) Ann");
        assert!(!info.strings.contains_key("CompanyName"));
        assert_eq!(info.file_version.parts, [2, 0, 1, 0]);
        let signing = sea.windows.sign.unwrap();
        assert_eq!((signing.identity.p12.as_deref(), signing.identity.p12_password_env.as_str()), (Some(Utf8Path::new("id.p12")), WINDOWS_P12_PASSWORD_ENV));
        // Without a table: node's version resource is replaced all the same, nothing is signed.
        let plain: SeaMetadata = toml::from_str("main = \"main.js\"").unwrap();
        let sea = plain.resolve_package(&fields, dir, "Cargo.toml").unwrap();
        assert_eq!(sea.windows.version_info.unwrap().strings["CompanyName"], "Ann");
        assert!(sea.windows.sign.is_none() && sea.windows.icon.is_none());
        let error = |windows: &str| format!("{:#}", table(windows).resolve_package(&fields, dir, "Cargo.toml").unwrap_err());
        assert!(error("sign = \"adhoc\"").contains("no ad-hoc signatures"));
        assert!(error("version-info = { FileVersion = \"1.2.70000\" }").contains("65535"));
        assert!(error("icon = \"missing.ico\"").contains("windows.icon `missing.ico` does not exist"));
        assert!(toml::from_str::<SeaMetadata>("main = \"main.js\"\n[windows]\nicons = \"a.ico\"").is_err(), "unknown keys are refused");
    }

    #[test]
    fn metadata_requires_main_and_rejects_unknown_fields() {
        let error = SeaMetadata::default().resolve("p", ".".into(), "Cargo.toml").unwrap_err().to_string();
        assert!(error.contains("`main` is missing"), "{error}");
        let parsed: Result<SeaMetadata, _> = serde_json::from_value(serde_json::json!({"main": "m.js", "mian": 1}));
        assert!(parsed.is_err());
    }
}
