//! How a target's programs run on this machine, if at all: natively, under Wine (Windows on
//! Linux) or under qemu-user (Linux of another architecture). Only the target's own node makes
//! a code cache its artifact accepts, so this decides whether a SEA gets a cache here, and how
//! the cache is checked before publishing and by `verify-cache`.

use anyhow::Result;
use camino::Utf8Path;

use crate::Env;
use crate::node::{Os, Platform};
use crate::qemu::{Qemu, UnderQemu, find_qemu};
use crate::run::{Invocation, RunOutput, Runner};
use crate::wine::{UnderWine, Wine, find_wine};

/// How a target's programs ran here (recorded in the manifest as `run-time-check`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "how", rename_all = "kebab-case")]
pub enum Execution {
    /// Directly: the target is this machine's platform.
    Native,
    /// Under Wine.
    Wine {
        /// The wine program.
        program: String,
        /// What `wine --version` printed.
        version: String,
    },
    /// Under qemu-user.
    Qemu {
        /// The qemu program.
        program: String,
        /// What `qemu-<arch> --version` printed first.
        version: String,
        /// The sysroot given as `-L`.
        sysroot: String,
    },
    /// Not at all.
    NotRun {
        /// Why not.
        reason: String,
    },
}

impl Default for Execution {
    /// What a manifest written before sea-build recorded this says.
    fn default() -> Self {
        Execution::NotRun { reason: "not recorded (the manifest predates the record)".to_owned() }
    }
}

impl std::fmt::Display for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Execution::Native => f.write_str("natively"),
            Execution::Wine { version, .. } => write!(f, "under Wine ({version})"),
            Execution::Qemu { program, version, .. } => {
                let name = Utf8Path::new(program).file_name().unwrap_or(program);
                let version = version.split_whitespace().skip_while(|word| *word != "version").nth(1).unwrap_or(version);
                write!(f, "under qemu ({name} {version})")
            }
            Execution::NotRun { reason } => write!(f, "not run here: {reason}"),
        }
    }
}

enum Kind<'a> {
    Native(&'a dyn Runner),
    Wine(Wine, &'a dyn Runner),
    Qemu(Qemu, &'a dyn Runner),
    NotRun,
}

/// Runs a target's programs the way they run here (see [`TargetRunner::for_target`]).
pub struct TargetRunner<'a> {
    /// How they run, for the manifest and messages.
    pub execution: Execution,
    kind: Kind<'a>,
}

impl<'a> TargetRunner<'a> {
    /// Decides how `platform`'s programs run here, with `runner` running the processes (and
    /// Wine or qemu, where needed) and settings (`SEA_BUILD_WINE`, `SEA_BUILD_QEMU`, ...) read
    /// from `env`. `node` (that platform's node binary) must start with `-e 0` under Wine or
    /// qemu for them to be used; when it does not, the reason is kept.
    ///
    /// ```no_run
    /// # use sea_build::{Env, run::Processes, runtime::TargetRunner};
    /// let target = TargetRunner::for_target("linux-arm64".parse()?, "node".as_ref(), &Processes, &Env::from_process())?;
    /// println!("linux-arm64 programs run {}", target.execution);
    /// # anyhow::Ok(())
    /// ```
    pub fn for_target(platform: Platform, node: &Utf8Path, runner: &'a dyn Runner, env: &Env) -> Result<TargetRunner<'a>> {
        if runner.can_run(platform) {
            return Ok(TargetRunner { execution: Execution::Native, kind: Kind::Native(runner) });
        }
        let not_run = |reason: String| TargetRunner { execution: Execution::NotRun { reason }, kind: Kind::NotRun };
        let host = Platform::host()?;
        match (platform.os, host.os) {
            (Os::Windows, Os::Linux) if platform.arch == host.arch => {
                let Some(wine) = find_wine(env)? else {
                    return Ok(not_run(format!("no Wine here (none on PATH, or {} switched it off): install Wine 10 or newer (Wine 8 runs node 22 only)", crate::wine::WINE_VAR)));
                };
                if let Err(error) = wine.check_node(node, runner) {
                    return Ok(not_run(format!("{error:#}")));
                }
                let execution = Execution::Wine { program: wine.program.to_string(), version: wine.version(runner)? };
                Ok(TargetRunner { execution, kind: Kind::Wine(wine, runner) })
            }
            (Os::Linux, Os::Linux) => {
                let qemu = match find_qemu(env, platform)? {
                    Ok(qemu) => qemu,
                    Err(reason) => return Ok(not_run(reason)),
                };
                if let Err(error) = qemu.check_node(node, runner) {
                    return Ok(not_run(format!("{error:#}")));
                }
                let execution = Execution::Qemu { program: qemu.program.to_string(), version: qemu.version(runner)?, sysroot: qemu.sysroot.to_string() };
                Ok(TargetRunner { execution, kind: Kind::Qemu(qemu, runner) })
            }
            (Os::Darwin, _) => Ok(not_run(format!("{platform} programs run only on macOS on that architecture, and this is {host}"))),
            _ => Ok(not_run(format!("{platform} programs do not run on {host} (Wine runs only Windows programs of the host's architecture)"))),
        }
    }

    /// `invocation` as it runs here (wrapped for Wine or qemu), to run it some other way (a
    /// benchmark's own timing); `None` when the target's programs do not run here. A Wine
    /// prefix must already exist ([`Wine::prepare`]).
    pub fn wrap(&self, invocation: &Invocation) -> Option<Invocation> {
        match &self.kind {
            Kind::Native(_) => Some(invocation.clone()),
            Kind::Wine(wine, _) => Some(wine.invocation(invocation)),
            Kind::Qemu(qemu, _) => Some(qemu.invocation(invocation)),
            Kind::NotRun => None,
        }
    }

    /// This, as a runner, when the target's programs run here.
    pub fn runner(&self) -> Option<&dyn Runner> {
        match self.kind {
            Kind::NotRun => None,
            _ => Some(self),
        }
    }
}

impl Runner for TargetRunner<'_> {
    fn run(&self, invocation: &Invocation) -> Result<RunOutput> {
        match &self.kind {
            Kind::Native(runner) => runner.run(invocation),
            Kind::Wine(wine, runner) => UnderWine { wine, runner: *runner }.run(invocation),
            Kind::Qemu(qemu, runner) => UnderQemu { qemu, runner: *runner }.run(invocation),
            Kind::NotRun => anyhow::bail!("cannot run `{}` here: {}", invocation.display(), self.execution),
        }
    }

    fn can_run(&self, _platform: Platform) -> bool {
        !matches!(self.kind, Kind::NotRun)
    }
}

/// What node printed when V8 refused the embedded code cache.
pub const CACHE_REJECTED: &str = "Code cache data rejected.";

/// How long the run-time checks let an artifact run.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs an artifact the way the run-time checks do: a clean environment plus `env`, `args`,
/// and a one-minute limit ([`RUN_TIMEOUT`]).
pub fn run_artifact(runner: &dyn Runner, artifact: &Utf8Path, args: &[String], env: &[(String, String)]) -> Result<RunOutput> {
    let mut invocation = Invocation::new(artifact, args.iter().cloned());
    invocation.clean_env = true;
    invocation.env = env.to_vec();
    invocation.timeout = RUN_TIMEOUT;
    runner.run(&invocation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_how_a_target_ran() {
        let qemu = Execution::Qemu { program: "/usr/bin/qemu-aarch64".into(), version: "qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7)".into(), sysroot: "/usr/aarch64-linux-gnu".into() };
        assert_eq!(qemu.to_string(), "under qemu (qemu-aarch64 7.2.22)");
        let wine = Execution::Wine { program: "wine".into(), version: "wine-10.0 (Debian 10.0~repack-6)".into() };
        assert_eq!(wine.to_string(), "under Wine (wine-10.0 (Debian 10.0~repack-6))");
        assert_eq!(Execution::Native.to_string(), "natively");
        let json = serde_json::to_value(&qemu).unwrap();
        assert_eq!(json["how"], "qemu");
        assert_eq!(serde_json::from_value::<Execution>(json).unwrap(), qemu);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_darwin_target_does_not_run_on_linux() {
        let target = TargetRunner::for_target("darwin-arm64".parse().unwrap(), "node".as_ref(), &crate::run::Processes, &Env::from_process()).unwrap();
        assert!(target.runner().is_none());
        assert!(target.execution.to_string().contains("run only on macOS"), "{}", target.execution);
        assert!(target.run(&Invocation::new("node", ["-e", "0"])).is_err());
    }
}
