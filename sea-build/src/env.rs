//! Every environment read goes through [`Env`], so that a build script tells Cargo to rerun when a
//! variable it depends on changes, and tests can fake the environment without touching the process.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;

/// Whether Cargo sets `name` for a build script itself: a change to one of those already
/// reruns it (or, like `PATH`, changes too often to be worth a rerun), so announcing it
/// would only add noise.
fn set_by_cargo(name: &str) -> bool {
    const EXACT: &[&str] =
        &["CARGO", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_MANIFEST_LINKS", "OUT_DIR", "TARGET", "HOST", "NUM_JOBS", "OPT_LEVEL", "DEBUG", "PROFILE", "RUSTC", "RUSTDOC", "PATH"];
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_CFG_", "CARGO_FEATURE_", "CARGO_ENCODED_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// Where a build script's `cargo::` lines go: standard output, where Cargo reads them, or a
/// buffer (tests of the build-script front end read it back).
#[derive(Clone, Debug, Default)]
pub(crate) struct CargoOutput {
    captured: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl CargoOutput {
    /// Lines go to standard output.
    pub(crate) fn stdout() -> Self {
        Self::default()
    }

    /// Lines are kept, for [`CargoOutput::lines`].
    #[cfg(test)]
    pub(crate) fn captured() -> Self {
        Self { captured: Some(Arc::default()) }
    }

    /// Emits one line.
    pub(crate) fn line(&self, line: &str) {
        match &self.captured {
            Some(lines) => lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line.to_owned()),
            None => println!("{line}"),
        }
    }

    /// The lines emitted so far (none for standard output).
    #[cfg(test)]
    pub(crate) fn lines(&self) -> Vec<String> {
        self.captured.as_ref().map(|lines| lines.lock().unwrap().clone()).unwrap_or_default()
    }
}

/// A view of the environment variables sea-build reads.
///
/// In a build script ([`Env::for_build_script`]) each read prints
/// `cargo::rerun-if-env-changed=NAME`, once per name, the way cc-rs does; not for the
/// variables Cargo sets itself (`CARGO_*`, `OUT_DIR`, `TARGET`, ...) nor `PATH`.
///
/// ```
/// use sea_build::Env;
/// let env = Env::from_process().with_var("SEA_BUILD_OFFLINE", "1");
/// assert_eq!(env.var("SEA_BUILD_OFFLINE").as_deref(), Some("1"));
/// assert!(env.flag("SEA_BUILD_OFFLINE"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Where reads are announced, in a build script.
    cargo: Option<CargoOutput>,
    overrides: Arc<BTreeMap<String, Option<OsString>>>,
    announced: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl Env {
    /// The process environment, read silently (for an xtask or any ordinary program).
    pub fn from_process() -> Self {
        Self::default()
    }

    /// The process environment as seen from a build script: each read is announced to Cargo with
    /// `cargo::rerun-if-env-changed`.
    pub fn for_build_script() -> Self {
        Self { cargo: Some(CargoOutput::stdout()), ..Self::default() }
    }

    /// Returns a copy whose reads are announced to `cargo` (a build script's output).
    pub(crate) fn announcing_to(mut self, cargo: CargoOutput) -> Self {
        self.cargo = Some(cargo);
        self
    }

    /// Returns a copy in which `name` reads as `value`, whatever the process has (for tests and
    /// for callers that configure sea-build programmatically).
    pub fn with_var(self, name: &str, value: impl Into<OsString>) -> Self {
        self.with_override(name, Some(value.into()))
    }

    /// Returns a copy in which `name` reads as unset.
    pub fn without_var(self, name: &str) -> Self {
        self.with_override(name, None)
    }

    fn with_override(mut self, name: &str, value: Option<OsString>) -> Self {
        Arc::make_mut(&mut self.overrides).insert(name.to_owned(), value);
        self
    }

    /// Whether reads are announced to Cargo (true in a build script).
    pub fn is_build_script(&self) -> bool {
        self.cargo.is_some()
    }

    /// Reads `name` as raw OS string; empty values count as unset.
    pub fn var_os(&self, name: &str) -> Option<OsString> {
        if let Some(cargo) = self.cargo.as_ref().filter(|_| !set_by_cargo(name)) {
            let mut announced = self.announced.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if announced.insert(name.to_owned()) {
                cargo.line(&format!("cargo::rerun-if-env-changed={name}"));
            }
        }
        let value = match self.overrides.get(name) {
            Some(value) => value.clone(),
            // The one read of the process environment that the workspace's clippy.toml allows.
            #[allow(clippy::disallowed_methods)]
            None => std::env::var_os(name),
        };
        value.filter(|v| !v.is_empty())
    }

    /// Reads `name` as UTF-8; non-UTF-8 and empty values count as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        self.var_os(name).and_then(|v| v.into_string().ok())
    }

    /// Reads `name` as a switch: `1`, `true`, `yes` and `on` (any case) are true.
    pub fn flag(&self, name: &str) -> bool {
        self.var(name).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
    }

    /// Every override, to pass on to a child process that must see the same configuration.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, Option<&OsString>)> {
        self.overrides.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }
}
