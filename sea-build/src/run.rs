//! The process edge: every program sea-build runs (node to generate a blob, an artifact to check
//! its cache) goes through a [`Runner`], so tests can record or fake what would run.

use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8PathBuf;

/// A program to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The executable.
    pub program: Utf8PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The working directory (default: inherited).
    pub cwd: Option<Utf8PathBuf>,
    /// Start from an empty environment (plus `env`) instead of the inherited one.
    pub clean_env: bool,
    /// Variables to set.
    pub env: Vec<(String, String)>,
    /// Bytes for standard input (default: none, stdin is closed).
    pub stdin: Option<Vec<u8>>,
    /// How long it may run before it is killed.
    pub timeout: Duration,
    /// Connect standard input, output and error to temporary files instead of pipes (Windows
    /// programs under Wine fail with EBADF on pipes, and processes that outlive the program,
    /// such as wineserver's, would hold a pipe open).
    pub stdio_files: bool,
    /// Run without address space randomisation (Linux; elsewhere it has no effect). A code
    /// cache made after a training run carries a few bytes of whatever the heap held before
    /// (padding V8 leaves in the bytecode of functions compiled during the run), which would
    /// otherwise differ from run to run with the addresses the kernel picks.
    pub fixed_addresses: bool,
}

impl Invocation {
    /// Runs `program` with `args`, in the inherited environment minus every `NODE_*` variable
    /// (NODE_OPTIONS would change V8's flags and so the code cache), for at most two minutes.
    pub fn new(program: impl Into<Utf8PathBuf>, args: impl IntoIterator<Item = impl Into<String>>) -> Invocation {
        Invocation {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: None,
            clean_env: false,
            env: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(120),
            stdio_files: false,
            fixed_addresses: false,
        }
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }
}

/// What a program did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOutput {
    /// Its exit code (`None` when killed by a signal or the timeout).
    pub code: Option<i32>,
    /// Whether it was killed for running too long.
    pub timed_out: bool,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl RunOutput {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// How it failed, when it did: `exit N`, `killed by a signal` or `timed out after N s`
    /// (`timeout` is the limit it ran under).
    pub fn failure(&self, timeout: Duration) -> Option<String> {
        match self.code {
            Some(0) => None,
            Some(code) => Some(format!("exit {code}")),
            None if self.timed_out => Some(format!("timed out after {} s", timeout.as_secs())),
            None => Some("killed by a signal".to_owned()),
        }
    }

    /// Standard error as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs [`Invocation`]s.
pub trait Runner: Send + Sync {
    /// Runs one program to completion (or to its timeout).
    fn run(&self, invocation: &Invocation) -> Result<RunOutput>;

    /// Whether executables for `platform` can run here: decides whether a code cache can be
    /// made (only the target's own binary can make one) and checked. Default: the host only.
    fn can_run(&self, platform: crate::node::Platform) -> bool {
        platform.is_host()
    }
}

/// Runs real processes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Processes;

impl Runner for Processes {
    fn run(&self, invocation: &Invocation) -> Result<RunOutput> {
        let temporary = || tempfile::tempfile().context("could not create a temporary file for the standard input or output of a process");
        let files = if invocation.stdio_files { Some((temporary()?, temporary()?)) } else { None };
        let mut expression = duct::cmd(invocation.program.as_std_path(), &invocation.args).unchecked();
        expression = match &files {
            Some((stdout, stderr)) => expression.stdout_file(stdout.try_clone()?).stderr_file(stderr.try_clone()?),
            None => expression.stdout_capture().stderr_capture(),
        };
        if let Some(cwd) = &invocation.cwd {
            expression = expression.dir(cwd);
        }
        if invocation.clean_env {
            expression = expression.full_env(invocation.env.iter().cloned());
        } else {
            // Only the names, to keep what this process has of NODE_* from the child; `Env`
            // reads variables by name, and this configures nothing.
            #[allow(clippy::disallowed_methods)]
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("NODE_") {
                    expression = expression.env_remove(name);
                }
            }
            for (name, value) in &invocation.env {
                expression = expression.env(name, value);
            }
        }
        expression = match &invocation.stdin {
            Some(bytes) if invocation.stdio_files => {
                let mut input = temporary()?;
                std::io::Write::write_all(&mut input, bytes).context("could not write the input of a process to a temporary file")?;
                std::io::Seek::rewind(&mut input).context("could not rewind a temporary input file")?;
                expression.stdin_file(input)
            }
            Some(bytes) => expression.stdin_bytes(bytes.clone()),
            None => expression.stdin_null(),
        };
        #[cfg(target_os = "linux")]
        if invocation.fixed_addresses {
            expression = expression.before_spawn(|command| {
                use std::os::unix::process::CommandExt;
                // SAFETY: between fork and exec the closure calls personality(2) alone, which
                // allocates nothing and takes no lock; the child's children inherit it (Wine's,
                // qemu's).
                unsafe {
                    command.pre_exec(|| {
                        let current = libc::personality(0xffff_ffff);
                        if current == -1 || libc::personality(current as libc::c_ulong | libc::ADDR_NO_RANDOMIZE as libc::c_ulong) == -1 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    })
                };
                Ok(())
            });
        }
        let handle = start_when_not_busy(&expression).with_context(|| format!("could not start {}", invocation.program))?;
        let finished = handle.wait_timeout(invocation.timeout).with_context(|| format!("waiting for {} failed", invocation.program))?.cloned();
        let Some(output) = finished else {
            handle.kill().with_context(|| format!("could not stop {}", invocation.program))?;
            return Ok(RunOutput { code: None, timed_out: true, ..RunOutput::default() });
        };
        let (stdout, stderr) = match files {
            Some((stdout, stderr)) => (read_from_start(stdout)?, read_from_start(stderr)?),
            None => (output.stdout, output.stderr),
        };
        Ok(RunOutput { code: output.status.code(), timed_out: false, stdout, stderr })
    }
}

/// Starts `expression`, trying again for a moment while Linux says the program is busy.
///
/// A program just written by this process (the artifact checked before it is published) is
/// closed before it runs, but a child another thread forks meanwhile holds a copy of the
/// descriptor until that child executes its own program, and for that instant `execve`
/// refuses the file with `ETXTBSY`. The copy goes away by itself within milliseconds.
fn start_when_not_busy(expression: &duct::Expression) -> std::io::Result<duct::Handle> {
    let mut delay = std::time::Duration::from_millis(5);
    for _ in 0..8 {
        match expression.start() {
            Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            started => return started,
        }
    }
    expression.start()
}

/// Everything written to `file` (shared with a finished child).
fn read_from_start(mut file: std::fs::File) -> Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    file.seek(std::io::SeekFrom::Start(0)).context("could not rewind a captured output file")?;
    file.read_to_end(&mut bytes).context("could not read a captured output file")?;
    Ok(bytes)
}

/// Whether `value` (of `SEA_BUILD_WINE` or `SEA_BUILD_QEMU`) switches a tool off: `0`, `off`,
/// `false`, `no` or `none`, in any case.
pub(crate) fn is_off(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "0" | "off" | "false" | "no" | "none")
}

/// The first line a program prints on standard output, such as the answer to `--version`;
/// an error saying what ran when it fails or prints nothing.
pub(crate) fn first_line(runner: &dyn Runner, invocation: &Invocation) -> Result<String> {
    let output = runner.run(invocation)?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.lines().map(str::trim).find(|line| !line.is_empty()) {
        Some(line) if output.success() => Ok(line.to_owned()),
        _ => anyhow::bail!("`{}` printed no version (exit {:?}): {}", invocation.display(), output.code, output.stderr_text().trim()),
    }
}
