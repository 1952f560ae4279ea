//! What the tests need from the machine, and installing it when missing: with apt-get when we
//! are root, otherwise by printing the exact command and failing.

use anyhow::{Result, bail};
use xshell::{Shell, cmd};

/// A command the tests run, and the Debian package that provides it.
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
    Tool { command: "clang", package: "clang", why: "compiles real Mach-O fixtures" },
    Tool { command: "ld64.lld-14", package: "lld", why: "links real Mach-O fixtures" },
    Tool { command: "openssl", package: "openssl", why: "makes the P12 identity the signing tests use" },
    Tool { command: "wine", package: "wine", why: "runs win-x64 node to make the code cache of Windows SEAs, and runs them" },
    Tool { command: "llvm-readobj", package: "llvm", why: "lists the resources of injected Windows executables independently" },
    Tool { command: "osslsigncode", package: "osslsigncode", why: "checks that unsigned Windows executables read as unsigned" },
    Tool { command: "lld-link", package: "lld", why: "links that program" },
    Tool { command: "ld64.lld-19", package: "lld-19", why: "links Mach-O fixtures with chained fixups (LLVM 16+)" },
    Tool { command: "llvm-objdump-19", package: "llvm-19", why: "prints Mach-O chained fixups and dyld info (LLVM 16+)" },
];

fn missing_tools() -> Vec<&'static Tool> {
    TOOLS.iter().filter(|tool| !on_path(tool.command)).collect()
}

fn on_path(command: &str) -> bool {
    let path = sea_build::Env::from_process().var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(command).is_file())
}

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u").quiet().read().is_ok_and(|uid| uid.trim() == "0")
}

/// Installs what is missing, or fails with the command that would.
pub(crate) fn ensure(sh: &Shell) -> Result<()> {
    let missing = missing_tools();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|tool| tool.package).collect();
    packages.sort_unstable();
    packages.dedup();
    for tool in &missing {
        eprintln!("test prerequisite missing: `{}` (Debian package {}), which {}", tool.command, tool.package, tool.why);
    }
    if !is_root(sh) {
        bail!("install the test prerequisites first:\n    sudo apt-get update && sudo apt-get install -y {}", packages.join(" "));
    }
    cmd!(sh, "apt-get update -q").env("DEBIAN_FRONTEND", "noninteractive").run()?;
    let install = packages.clone();
    cmd!(sh, "apt-get install -y -q --no-install-recommends {install...}").env("DEBIAN_FRONTEND", "noninteractive").run()?;
    let still = missing_tools();
    if !still.is_empty() {
        let names: Vec<&str> = still.iter().map(|tool| tool.command).collect();
        bail!("installed {} but still cannot find {}", packages.join(" "), names.join(", "));
    }
    Ok(())
}
