//! Every environment read goes through [`Env`], so that a build script tells Cargo to rerun when a
//! variable it depends on changes, and tests can fake the environment without touching the process.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;

/// A view of the environment variables sea-build reads.
///
/// In a build script ([`Env::for_build_script`]) each read prints
/// `cargo::rerun-if-env-changed=NAME`, once per name, the way cc-rs does.
///
/// ```
/// use sea_build::Env;
/// let env = Env::from_process().with_var("SEA_BUILD_OFFLINE", "1");
/// assert_eq!(env.var("SEA_BUILD_OFFLINE").as_deref(), Some("1"));
/// assert!(env.flag("SEA_BUILD_OFFLINE"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Env {
    announce_to_cargo: bool,
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
        Self { announce_to_cargo: true, ..Self::default() }
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
        self.announce_to_cargo
    }

    /// Reads `name` as raw OS string; empty values count as unset.
    pub fn var_os(&self, name: &str) -> Option<OsString> {
        if self.announce_to_cargo {
            let mut announced = self.announced.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if announced.insert(name.to_owned()) {
                println!("cargo::rerun-if-env-changed={name}");
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
