//! Running Windows programs (node.exe to generate a blob with a code cache, a Windows SEA to
//! check it) under Wine on Linux.
//!
//! The recipe, measured with Wine 8.0 (Debian 12) and node 22/24 win-x64:
//!
//! - **A private prefix**, created once and reused: `<cache>/wine/prefix-win64` (the sea-build
//!   cache, see [`crate::node::Cache::from_env`]), or `SEA_BUILD_WINE_PREFIX`. Creation runs
//!   `wine wineboot --init` (7 s), `wine winecfg -v win10` (node refuses to start on Wine's
//!   default Windows 7: "Node.js is only supported on Windows 8.1 ... or higher") and
//!   `wineserver -w` (about 5 s, until the registry is on disk), under an exclusive lock on
//!   `<prefix>.lock`, and ends by writing a marker file; a prefix without the marker is
//!   half-made and is created again. It takes about 700 MB.
//! - **No display, no desktop side effects**: `DISPLAY` and `WAYLAND_DISPLAY` are emptied,
//!   `WINEDEBUG=-all` silences Wine's own messages, and `WINEDLLOVERRIDES` disables
//!   `winemenubuilder.exe` (which would otherwise add menu entries under `~/.local/share` and
//!   `~/.config`) and `mscoree`/`mshtml` (no Mono or Gecko installer prompts).
//! - **Files, not pipes**: node under Wine dies with `Error: open EBADF` when its standard
//!   input or output is a pipe; files work. Wine's helper processes (wineserver, services)
//!   also outlive the program and would keep a pipe open. Wrapped invocations therefore set
//!   [`Invocation::stdio_files`].
//! - **Node 24 and newer do not start under Wine 8.0**: V8 13 reserves memory with
//!   `VirtualAlloc2(MEM_RESERVE | MEM_RESERVE_PLACEHOLDER)`, which Wine 8.0 rejects
//!   (ERROR_INVALID_PARAMETER), and node stops with `Fatal process out of memory:
//!   SegmentedTable::InitializeTable (subspace allocation)`. Node 22 (V8 12) runs.
//!   [`Wine::check_node`] tells the two apart. Wine 10.0 (Debian 13) runs node 22, 24 and 26.
//! - Timeouts are the wrapped invocation's own; killing `wine` kills the Windows process
//!   (the loader `exec`s into it). wineserver exits by itself shortly after the last program.
//!
//! Detection ([`find_wine`]): `SEA_BUILD_WINE` names the wine program (a path or a name on
//! `PATH`), or disables Wine with `0`, `off`, `false`, `no` or `none`; otherwise `wine`, then
//! `wine64`, is looked up on `PATH`.

use std::fs::File;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::Env;
use crate::node::Cache;
use crate::run::{Invocation, RunOutput, Runner};

/// Names the wine program, or disables Wine (`0`, `off`, `false`, `no`, `none`).
pub const WINE_VAR: &str = "SEA_BUILD_WINE";

/// Names the Wine prefix directory sea-build uses (default: `wine/prefix-win64` in the cache).
pub const PREFIX_VAR: &str = "SEA_BUILD_WINE_PREFIX";

/// The file whose presence says a prefix is complete.
const READY_MARKER: &str = ".sea-build-ready";

/// How long creating a prefix may take, per step.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(300);

/// What V8 13 (node 24+) prints when Wine cannot reserve placeholder memory.
const PLACEHOLDER_FAILURE: &str = "SegmentedTable::InitializeTable (subspace allocation)";

/// The explanation [`Wine::check_node`] gives for that failure.
const MISSING_PLACEHOLDERS: &str = "this Wine does not support VirtualAlloc2 with MEM_RESERVE_PLACEHOLDER, \
     which node 24 and newer (V8 13) need";

/// Whether `error` (from [`Wine::check_node`]) is the missing-placeholder limitation of
/// older Wine versions rather than some other failure.
///
/// ```
/// assert!(!sea_build::wine::is_missing_placeholders(&anyhow::anyhow!("exit 1")));
/// ```
pub fn is_missing_placeholders(error: &anyhow::Error) -> bool {
    crate::error::kind_of(error) == Some(crate::ErrorKind::HostCannotRun)
}

/// A Wine installation and the private prefix sea-build runs Windows programs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wine {
    /// The wine program (`wine` found on `PATH`, or whatever `SEA_BUILD_WINE` names).
    pub program: Utf8PathBuf,
    /// The `WINEPREFIX` directory.
    pub prefix: Utf8PathBuf,
}

/// Finds Wine as configured by `env` (see the [module docs](self)): `Ok(None)` when it is
/// disabled or not installed, an error when `SEA_BUILD_WINE` names a program that is not
/// there or when no cache directory can hold the prefix.
///
/// ```
/// use sea_build::{Env, wine::find_wine};
/// let off = Env::from_process().with_var("SEA_BUILD_WINE", "off");
/// assert_eq!(find_wine(&off)?, None);
/// let missing = Env::from_process().with_var("SEA_BUILD_WINE", "/nonexistent/wine");
/// assert!(find_wine(&missing).is_err());
/// # anyhow::Ok(())
/// ```
pub fn find_wine(env: &Env) -> Result<Option<Wine>> {
    let path = env.var_os("PATH").unwrap_or_default();
    let program = match env.var(WINE_VAR) {
        Some(value) if crate::run::is_off(&value) => {
            return Ok(None);
        }
        Some(value) => {
            let found = if value.contains('/') { Some(Utf8PathBuf::from(&value)).filter(|p| is_executable(p)) } else { find_on_path(&value, &path) };
            Some(found.with_context(|| format!("{WINE_VAR}={value} names no executable program: point it at the wine program, or set it to `off`"))?)
        }
        None => ["wine", "wine64"].iter().find_map(|name| find_on_path(name, &path)),
    };
    let Some(program) = program else {
        return Ok(None);
    };
    let prefix = match env.var(PREFIX_VAR) {
        Some(prefix) => Utf8PathBuf::from(prefix),
        None => Cache::from_env(env)?.root().join("wine").join("prefix-win64"),
    };
    Ok(Some(Wine { program, prefix }))
}

fn is_executable(path: &Utf8Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    path.is_file()
}

pub(crate) fn find_on_path(name: &str, path: &std::ffi::OsStr) -> Option<Utf8PathBuf> {
    std::env::split_paths(path).filter_map(|dir| Utf8PathBuf::from_path_buf(dir.join(name)).ok()).find(|candidate| is_executable(candidate))
}

impl Wine {
    /// The variables every Wine process gets: the prefix, no debug output, no display, no
    /// menu entries, no Mono or Gecko prompts.
    ///
    /// ```
    /// # use sea_build::wine::Wine;
    /// let wine = Wine { program: "/opt/wine/bin/wine".into(), prefix: "/cache/prefix".into() };
    /// assert!(wine.environment().contains(&("WINEDEBUG".to_owned(), "-all".to_owned())));
    /// ```
    pub fn environment(&self) -> Vec<(String, String)> {
        // Wine turns Unix paths into Windows ones through the locale's character set: without
        // a UTF-8 locale (a build's runs get none), a path with `ü` or `测` cannot be opened.
        [("WINEPREFIX", self.prefix.as_str()), ("WINEDEBUG", "-all"), ("WINEDLLOVERRIDES", "winemenubuilder.exe=d;mscoree=d;mshtml=d"), ("DISPLAY", ""), ("WAYLAND_DISPLAY", ""), ("LC_ALL", "C.UTF-8")]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// `windows` (an invocation of a Windows program) as an invocation of wine running it in
    /// the prefix: same arguments, working directory, input and timeout, the Wine variables
    /// added, standard input and output through files. Paths in the arguments are passed
    /// as they are: relative ones resolve against the working directory (Wine maps the Unix
    /// root to drive Z:).
    ///
    /// ```
    /// # use sea_build::{run::Invocation, wine::Wine};
    /// let wine = Wine { program: "/opt/wine/bin/wine".into(), prefix: "/cache/prefix".into() };
    /// let wrapped = wine.invocation(&Invocation::new("node.exe", ["--version"]));
    /// assert_eq!(wrapped.program, "/opt/wine/bin/wine");
    /// assert_eq!(wrapped.args, ["node.exe", "--version"]);
    /// assert!(wrapped.stdio_files);
    /// ```
    pub fn invocation(&self, windows: &Invocation) -> Invocation {
        let mut wrapped = windows.clone();
        wrapped.program = self.program.clone();
        wrapped.args = std::iter::once(windows.program.to_string()).chain(windows.args.iter().cloned()).collect();
        wrapped.env.extend(self.environment());
        wrapped.stdio_files = true;
        wrapped
    }

    /// Creates the prefix unless it is complete already; returns whether it did.
    ///
    /// Safe to call from several threads and processes at once: they wait for one another on
    /// `<prefix>.lock`, and only the first creates the prefix.
    ///
    /// ```no_run
    /// # use sea_build::{Env, run::Processes, wine::find_wine};
    /// let wine = find_wine(&Env::from_process())?.expect("wine is installed");
    /// wine.prepare(&Processes)?;
    /// # anyhow::Ok(())
    /// ```
    pub fn prepare(&self, runner: &dyn Runner) -> Result<bool> {
        if self.prefix.join(READY_MARKER).is_file() {
            return Ok(false);
        }
        let parent = self.prefix.parent().filter(|p| !p.as_str().is_empty()).unwrap_or(Utf8Path::new("."));
        std::fs::create_dir_all(parent).with_context(|| format!("could not create {parent} for the Wine prefix: set {PREFIX_VAR} to a writable directory"))?;
        let lock_path = self.prefix.with_extension("lock");
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).with_context(|| format!("could not open the lock file {lock_path}"))?;
        lock.lock().with_context(|| format!("could not lock {lock_path}"))?;
        if self.prefix.join(READY_MARKER).is_file() {
            return Ok(false);
        }
        if self.prefix.exists() {
            // Left half-made by an interrupted creation.
            std::fs::remove_dir_all(&self.prefix).with_context(|| format!("could not remove the incomplete Wine prefix {}", self.prefix))?;
        }
        let step = |program: &Utf8Path, args: &[&str], extra: &[(&str, &str)]| -> Result<()> {
            let mut invocation = Invocation::new(program, args.iter().copied());
            invocation.env = self.environment();
            invocation.env.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
            invocation.stdio_files = true;
            invocation.timeout = PREPARE_TIMEOUT;
            let output = runner.run(&invocation)?;
            if !output.success() {
                bail!(
                    "creating the Wine prefix {} failed: `{}` {}:\n{}",
                    self.prefix,
                    invocation.display(),
                    if output.timed_out { format!("ran for more than {PREPARE_TIMEOUT:?}") } else { format!("exited with {:?}", output.code) },
                    output.stderr_text().trim()
                );
            }
            Ok(())
        };
        step(&self.program, &["wineboot", "--init"], &[("WINEARCH", "win64")])?;
        // Node refuses Windows 7, Wine's default.
        step(&self.program, &["winecfg", "-v", "win10"], &[])?;
        // The registry reaches the disk when the wineserver exits.
        if let Some(server) = self.wineserver() {
            step(&server, &["-w"], &[])?;
        }
        let marker = self.prefix.join(READY_MARKER);
        std::fs::write(&marker, format!("created by sea-build with {}\n", self.program)).with_context(|| format!("could not write {marker}"))?;
        drop(lock);
        Ok(true)
    }

    /// Checks that `node` (a win-x64 or win-arm64 node.exe) starts under this Wine, by
    /// running `node.exe -e 0`; the error says why not.
    ///
    /// Node 24 and newer (V8 13) reserve memory with `VirtualAlloc2(MEM_RESERVE_PLACEHOLDER)`,
    /// which Wine 8.0 (Debian 12) rejects, so they stop at start-up with `Fatal process out
    /// of memory: SegmentedTable::InitializeTable`; that case gets its own
    /// explanation, recognisable with [`is_missing_placeholders`].
    ///
    /// ```no_run
    /// # use sea_build::{Env, run::Processes, wine::find_wine};
    /// let wine = find_wine(&Env::from_process())?.expect("wine is installed");
    /// wine.check_node("node.exe".as_ref(), &Processes)?;
    /// # anyhow::Ok(())
    /// ```
    pub fn check_node(&self, node: &Utf8Path, runner: &dyn Runner) -> Result<()> {
        let under_wine = UnderWine { wine: self, runner };
        let output = under_wine.run(&Invocation::new(node, ["-e", "0"]))?;
        if output.success() {
            return Ok(());
        }
        let stderr = output.stderr_text();
        if stderr.contains(PLACEHOLDER_FAILURE) {
            crate::error::fail!(
                HostCannotRun,
                "{node} cannot run under {}: {MISSING_PLACEHOLDERS} (it stopped with `{PLACEHOLDER_FAILURE}`); \
                 install a newer Wine or build this target without a code cache",
                self.program
            );
        }
        bail!("{node} does not start under {} (exit {:?}):\n{}", self.program, output.code, stderr.trim());
    }

    /// The first line `wine --version` prints, such as `wine-10.0 (Debian 10.0~repack-6)`.
    pub fn version(&self, runner: &dyn Runner) -> Result<String> {
        crate::run::first_line(runner, &Invocation::new(&self.program, ["--version"]))
    }

    /// The `wineserver` that belongs to the wine program: beside it, else on `PATH` (the
    /// process's own, which the Wine processes inherit).
    pub fn wineserver(&self) -> Option<Utf8PathBuf> {
        let beside = self.program.parent().map(|dir| dir.join("wineserver")).filter(|p| is_executable(p));
        beside.or_else(|| find_on_path("wineserver", &Env::from_process().var_os("PATH").unwrap_or_default()))
    }
}

/// A [`Runner`] that runs every program under Wine, creating the prefix first if needed.
///
/// ```no_run
/// # use sea_build::{Env, run::{Invocation, Processes, Runner}, wine::{UnderWine, find_wine}};
/// let wine = find_wine(&Env::from_process())?.expect("wine is installed");
/// let under_wine = UnderWine { wine: &wine, runner: &Processes };
/// let output = under_wine.run(&Invocation::new("node.exe", ["--version"]))?;
/// println!("{}", String::from_utf8_lossy(&output.stdout));
/// # anyhow::Ok(())
/// ```
pub struct UnderWine<'a> {
    /// The Wine to run under.
    pub wine: &'a Wine,
    /// What runs wine itself.
    pub runner: &'a dyn Runner,
}

/// What Wine itself prints when it, not the program, failed: Wine's noise, not node's verdict.
/// - `wine: Unhandled page fault`: Wine 8.0's fault handler, now and then while node shuts
///   down (about once in a few hundred runs, after correct output). Wine 10.0 (Debian 13) did
///   not fault once in 1300 runs of node 22.23.3; the marker stays for Wine 8.0, which still
///   runs node 22.
/// - `wine client error:`: the process lost its wineserver (`recvmsg: Connection reset by
///   peer`), seen twice in full test runs with Wine 10.0 when one Wine session started as
///   another's server was shutting down.
const WINE_FAILURES: &[&str] = &["wine: Unhandled page fault", "wine client error:"];

impl Runner for UnderWine<'_> {
    fn run(&self, invocation: &Invocation) -> Result<RunOutput> {
        self.wine.prepare(self.runner)?;
        let wrapped = self.wine.invocation(invocation);
        let output = self.runner.run(&wrapped)?;
        // One more try when Wine itself said it failed, or when the process ended by a signal
        // before printing anything (seen once with several Wine sessions starting at the same
        // time), so a flaky start or shutdown is not taken for the program's verdict; a second
        // failure is reported as it is.
        let killed_silently = output.code.is_none() && !output.timed_out && output.stderr.is_empty();
        let stderr = output.stderr_text();
        if WINE_FAILURES.iter().any(|marker| stderr.contains(marker)) || killed_silently {
            return self.runner.run(&wrapped);
        }
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        (dir, path)
    }

    fn fake_program(path: &Utf8Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        crate::fsutil::make_executable(path).unwrap();
    }

    #[test]
    fn finds_wine_on_path_or_where_the_variable_says() {
        let (_keep, dir) = temp();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        fake_program(&dir.join("bin/wine64"));
        std::fs::write(dir.join("bin/wine"), "not executable").unwrap();
        let env = Env::from_process().with_var("PATH", dir.join("bin").as_str()).with_var("SEA_BUILD_CACHE_DIR", dir.join("cache").as_str()).without_var(WINE_VAR).without_var(PREFIX_VAR);
        let wine = find_wine(&env).unwrap().unwrap();
        assert_eq!(wine.program, dir.join("bin/wine64"), "a non-executable `wine` is skipped");
        assert_eq!(wine.prefix, dir.join("cache/wine/prefix-win64"));

        fake_program(&dir.join("custom-wine"));
        let env = env.with_var(WINE_VAR, dir.join("custom-wine").as_str()).with_var(PREFIX_VAR, "/elsewhere/prefix");
        let wine = find_wine(&env).unwrap().unwrap();
        assert_eq!((wine.program.as_str(), wine.prefix.as_str()), (dir.join("custom-wine").as_str(), "/elsewhere/prefix"));
        let by_name = env.clone().with_var(WINE_VAR, "wine64");
        assert_eq!(find_wine(&by_name).unwrap().unwrap().program, dir.join("bin/wine64"));

        for off in ["0", "OFF", "false", "no", "none"] {
            assert_eq!(find_wine(&env.clone().with_var(WINE_VAR, off)).unwrap(), None);
        }
        let error = find_wine(&env.clone().with_var(WINE_VAR, "wine-9")).unwrap_err().to_string();
        assert!(error.contains("SEA_BUILD_WINE=wine-9 names no executable program"), "{error}");
        let nothing = Env::from_process().with_var("PATH", dir.join("empty").as_str()).without_var(WINE_VAR);
        assert_eq!(find_wine(&nothing).unwrap(), None);
    }

    #[test]
    fn wraps_an_invocation_for_wine() {
        let wine = Wine { program: "/opt/wine/bin/wine".into(), prefix: "/cache/wine/prefix-win64".into() };
        let mut windows = Invocation::new("/project/node.exe", ["--predictable", "--experimental-sea-config", "sea-config.json"]);
        windows.cwd = Some("/project/staging".into());
        windows.env = vec![("KEEP".into(), "1".into())];
        windows.clean_env = true;
        windows.stdin = Some(b"input".to_vec());
        windows.timeout = Duration::from_secs(7);
        let wrapped = wine.invocation(&windows);
        assert_eq!(wrapped.program, "/opt/wine/bin/wine");
        assert_eq!(wrapped.args, ["/project/node.exe", "--predictable", "--experimental-sea-config", "sea-config.json"]);
        assert_eq!(wrapped.cwd.as_deref(), Some(Utf8Path::new("/project/staging")));
        assert!(wrapped.clean_env && wrapped.stdio_files);
        assert_eq!(wrapped.stdin.as_deref(), Some(&b"input"[..]));
        assert_eq!(wrapped.timeout, Duration::from_secs(7));
        let value = |name: &str| wrapped.env.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(value("KEEP"), Some("1"));
        assert_eq!(value("WINEPREFIX"), Some("/cache/wine/prefix-win64"));
        assert_eq!(value("WINEDEBUG"), Some("-all"));
        assert_eq!(value("DISPLAY"), Some(""));
        assert!(value("WINEDLLOVERRIDES").unwrap().contains("winemenubuilder.exe=d"));
    }

    /// Records what would run, and makes the prefix directory the way wineboot would.
    struct FakeWine {
        ran: Mutex<Vec<String>>,
        fail_on: Option<&'static str>,
    }

    impl Runner for FakeWine {
        fn run(&self, invocation: &Invocation) -> Result<RunOutput> {
            assert!(invocation.stdio_files, "wine always gets files: {}", invocation.display());
            let prefix = invocation.env.iter().find(|(n, _)| n == "WINEPREFIX").map(|(_, v)| v.clone()).unwrap();
            let line = invocation.args.join(" ");
            self.ran.lock().unwrap().push(line.clone());
            if line == "wineboot --init" {
                assert!(invocation.env.contains(&("WINEARCH".to_owned(), "win64".to_owned())));
                std::thread::sleep(Duration::from_millis(50));
                std::fs::create_dir_all(format!("{prefix}/drive_c")).unwrap();
            }
            let failed = self.fail_on.is_some_and(|fail| line.starts_with(fail));
            Ok(RunOutput { code: Some(if failed { 1 } else { 0 }), stderr: if failed { b"it broke".to_vec() } else { Vec::new() }, ..RunOutput::default() })
        }
    }

    #[test]
    fn prepares_the_prefix_once_even_when_asked_concurrently() {
        let (_keep, dir) = temp();
        let wine = Wine { program: dir.join("no-such-dir/wine"), prefix: dir.join("wine/prefix-win64") };
        let fake = FakeWine { ran: Mutex::new(Vec::new()), fail_on: None };
        let created: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| wine.prepare(&fake).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(created.iter().filter(|&&c| c).count(), 1, "{created:?}");
        let ran = fake.ran.lock().unwrap().clone();
        // Without a wineserver beside the program, only the PATH's could be waited for.
        assert_eq!(&ran[..2], ["wineboot --init", "winecfg -v win10"]);
        assert!(ran.len() <= 3, "{ran:?}");
        assert!(wine.prefix.join(READY_MARKER).is_file());
        assert!(!wine.prepare(&fake).unwrap());

        // A run under Wine prepares first (here: nothing left to do), then wraps.
        let under = UnderWine { wine: &wine, runner: &fake };
        under.run(&Invocation::new("app.exe", ["x"])).unwrap();
        assert_eq!(fake.ran.lock().unwrap().last().unwrap(), "app.exe x");
    }

    #[test]
    fn a_failed_creation_is_reported_and_retried() {
        let (_keep, dir) = temp();
        let wine = Wine { program: dir.join("wine"), prefix: dir.join("prefix") };
        let failing = FakeWine { ran: Mutex::new(Vec::new()), fail_on: Some("winecfg") };
        let error = wine.prepare(&failing).unwrap_err().to_string();
        assert!(error.contains("creating the Wine prefix") && error.contains("winecfg -v win10") && error.contains("it broke"), "{error}");
        assert!(!wine.prefix.join(READY_MARKER).exists());
        // The half-made prefix is removed and made again.
        std::fs::write(wine.prefix.join("drive_c/leftover"), "x").unwrap();
        let working = FakeWine { ran: Mutex::new(Vec::new()), fail_on: None };
        assert!(wine.prepare(&working).unwrap());
        assert!(!wine.prefix.join("drive_c/leftover").exists());
    }

    /// Fails its first run as Wine does when it loses its server, and runs fine afterwards.
    struct ServerLost {
        runs: Mutex<usize>,
        message: &'static str,
    }

    impl Runner for ServerLost {
        fn run(&self, _invocation: &Invocation) -> Result<RunOutput> {
            let mut runs = self.runs.lock().unwrap();
            *runs += 1;
            Ok(match *runs {
                1 => RunOutput { code: Some(1), stderr: self.message.as_bytes().to_vec(), ..RunOutput::default() },
                _ => RunOutput { code: Some(0), stdout: b"v24\n".to_vec(), ..RunOutput::default() },
            })
        }
    }

    #[test]
    fn wine_failing_itself_is_tried_once_more_and_the_program_failing_is_not() {
        let (_keep, dir) = temp();
        let wine = Wine { program: dir.join("wine"), prefix: dir.join("prefix") };
        std::fs::create_dir_all(&wine.prefix).unwrap();
        std::fs::write(wine.prefix.join(READY_MARKER), "").unwrap();
        for message in ["wine client error:0: recvmsg: Connection reset by peer\n", "wine: Unhandled page fault on read access to 0000000000000000\n"] {
            let flaky = ServerLost { runs: Mutex::new(0), message };
            let output = UnderWine { wine: &wine, runner: &flaky }.run(&Invocation::new("node.exe", ["--version"])).unwrap();
            assert_eq!((output.code, *flaky.runs.lock().unwrap()), (Some(0), 2), "{message}");
        }
        // The program's own failure is its verdict: not run again.
        let failing = ServerLost { runs: Mutex::new(0), message: "Error: Cannot find module 'x'\n" };
        let output = UnderWine { wine: &wine, runner: &failing }.run(&Invocation::new("app.exe", [""; 0])).unwrap();
        assert_eq!((output.code, *failing.runs.lock().unwrap()), (Some(1), 1));
    }

    /// Answers `-e 0` like node 24 under Wine 8.0 does, and everything else with success.
    struct OldWine;

    impl Runner for OldWine {
        fn run(&self, invocation: &Invocation) -> Result<RunOutput> {
            if invocation.args.first().is_some_and(|arg| arg == "wineboot") {
                let prefix = invocation.env.iter().find(|(name, _)| name == "WINEPREFIX").map(|(_, value)| value.clone()).unwrap();
                std::fs::create_dir_all(prefix).unwrap();
            }
            let node = invocation.args.iter().any(|arg| arg == "-e");
            Ok(RunOutput {
                code: Some(if node { 3 } else { 0 }),
                stderr: if node { format!("#\n# Fatal process out of memory: {PLACEHOLDER_FAILURE}\n#\n").into_bytes() } else { Vec::new() },
                ..RunOutput::default()
            })
        }
    }

    #[test]
    fn check_node_explains_the_placeholder_limitation() {
        let (_keep, dir) = temp();
        let wine = Wine { program: dir.join("wine"), prefix: dir.join("prefix") };
        let error = wine.check_node("node.exe".as_ref(), &OldWine).unwrap_err();
        assert!(is_missing_placeholders(&error), "{error}");
        assert!(error.to_string().contains("MEM_RESERVE_PLACEHOLDER"), "{error}");
        let fine = FakeWine { ran: Mutex::new(Vec::new()), fail_on: None };
        wine.check_node("node.exe".as_ref(), &fine).unwrap();
        assert_eq!(fine.ran.lock().unwrap().last().unwrap(), "node.exe -e 0");
        let broken = FakeWine { ran: Mutex::new(Vec::new()), fail_on: Some("node.exe") };
        let error = wine.check_node("node.exe".as_ref(), &broken).unwrap_err();
        assert!(!is_missing_placeholders(&error) && error.to_string().contains("it broke"), "{error}");
    }
}
