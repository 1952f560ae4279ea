//! Running Linux programs of another architecture (node to generate a blob with a code cache,
//! a SEA to check it) under qemu-user on a Linux host.
//!
//! A V8 code cache is accepted only by the node build that made it, so the cache of a
//! linux-arm64 SEA must come from linux-arm64 node. On a Linux x64 host, Debian's `qemu-user`
//! runs it: `qemu-aarch64 -L /usr/aarch64-linux-gnu node ...`, with the target's C runtime
//! from Debian's cross packages (`libc6-arm64-cross libstdc++6-arm64-cross`, which install into
//! `/usr/<triple>`; node 26 also needs `libatomic1-arm64-cross`). Measured with qemu-user 7.2: node 24 linux-arm64 starts in about 1 s, and
//! a blob it generates under qemu is accepted by the arm64 artifact under qemu, while one made
//! by linux-x64 node of the same version is rejected. Not checked: acceptance on real arm64
//! hardware.
//!
//! The program is invoked explicitly rather than through `binfmt_misc`, which is system-wide
//! state a container may not allow.
//!
//! Configuration ([`find_qemu`]): `SEA_BUILD_QEMU` switches qemu off (`0`, `off`, `false`, `no`,
//! `none`); otherwise `qemu-<arch>` is looked up on `PATH`. `SEA_BUILD_QEMU_LD_PREFIX` names the
//! target's sysroot (default: `/usr/<triple>`, where Debian's cross packages put it).

use anyhow::{Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::Env;
use crate::node::{Arch, Os, Platform};
use crate::run::{Invocation, RunOutput, Runner};

/// Switches qemu off (`0`, `off`, `false`, `no`, `none`).
pub const QEMU_VAR: &str = "SEA_BUILD_QEMU";

/// Names the target's sysroot, given to qemu as `-L` (default: `/usr/<triple>`).
pub const LD_PREFIX_VAR: &str = "SEA_BUILD_QEMU_LD_PREFIX";

/// What running `platform`'s programs under qemu needs: the qemu program's name, the GNU
/// triple whose sysroot Debian's cross packages install into `/usr/<triple>`, and those
/// packages' Debian architecture name.
///
/// ```
/// use sea_build::qemu::emulation;
/// let arm64 = emulation("linux-arm64".parse()?).unwrap();
/// assert_eq!((arm64.program, arm64.triple, arm64.debian_arch), ("qemu-aarch64", "aarch64-linux-gnu", "arm64"));
/// assert!(emulation("win-x64".parse()?).is_none());
/// # anyhow::Ok(())
/// ```
pub fn emulation(platform: Platform) -> Option<Emulation> {
    if platform.os != Os::Linux {
        return None;
    }
    let (program, triple, debian_arch) = match platform.arch {
        Arch::X64 => ("qemu-x86_64", "x86_64-linux-gnu", "amd64"),
        Arch::Arm64 => ("qemu-aarch64", "aarch64-linux-gnu", "arm64"),
        Arch::Armv7l => ("qemu-arm", "arm-linux-gnueabihf", "armhf"),
        Arch::Ppc64le => ("qemu-ppc64le", "powerpc64le-linux-gnu", "ppc64el"),
        Arch::S390x => ("qemu-s390x", "s390x-linux-gnu", "s390x"),
        Arch::X86 => return None,
    };
    Some(Emulation { program, triple, debian_arch })
}

/// How one Linux architecture is emulated; see [`emulation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Emulation {
    /// The qemu-user program, such as `qemu-aarch64`.
    pub program: &'static str,
    /// The GNU triple, such as `aarch64-linux-gnu`: the default sysroot is `/usr/<triple>`.
    pub triple: &'static str,
    /// Debian's name of the architecture, as in `libc6-<arch>-cross`.
    pub debian_arch: &'static str,
}

impl Emulation {
    /// The Debian packages that give qemu the target's C and C++ runtime (node 26 for arm64
    /// also needs libatomic).
    ///
    /// ```
    /// let ppc = sea_build::qemu::emulation("linux-ppc64le".parse()?).unwrap();
    /// assert_eq!(ppc.cross_packages(), ["libc6-ppc64el-cross", "libstdc++6-ppc64el-cross", "libatomic1-ppc64el-cross"]);
    /// # anyhow::Ok(())
    /// ```
    pub fn cross_packages(&self) -> [String; 3] {
        ["libc6", "libstdc++6", "libatomic1"].map(|library| format!("{library}-{}-cross", self.debian_arch))
    }
}

/// A qemu-user program and the sysroot it loads the target's libraries from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qemu {
    /// The program, such as `/usr/bin/qemu-aarch64`.
    pub program: Utf8PathBuf,
    /// The directory given as `-L`: the target's `/lib`, `/usr/lib` and dynamic loader.
    pub sysroot: Utf8PathBuf,
}

/// Finds qemu for running `platform`'s programs on this Linux host, as configured by `env`
/// (see the [module docs](self)).
///
/// `Ok(Err(reason))` when qemu cannot be used for it: switched off, not a Linux target of
/// another architecture, the program or the sysroot missing (the reason says which packages
/// to install).
///
/// ```
/// use sea_build::{Env, qemu::find_qemu};
/// let off = Env::from_process().with_var("SEA_BUILD_QEMU", "off");
/// let why = find_qemu(&off, "linux-arm64".parse()?)?.unwrap_err();
/// assert!(why.contains("SEA_BUILD_QEMU"));
/// # anyhow::Ok(())
/// ```
pub fn find_qemu(env: &Env, platform: Platform) -> Result<Result<Qemu, String>> {
    let host = Platform::host()?;
    let Some(emulation) = emulation(platform).filter(|_| host.os == Os::Linux && host.arch != platform.arch) else {
        return Ok(Err(format!("qemu-user runs only Linux programs of another architecture on a Linux host, not {platform} programs on {host}")));
    };
    if let Some(value) = env.var(QEMU_VAR).filter(|value| crate::run::is_off(value)) {
        return Ok(Err(format!("qemu is switched off ({QEMU_VAR}={value})")));
    }
    let packages = format!("qemu-user {}", emulation.cross_packages().join(" "));
    let Some(program) = crate::wine::find_on_path(emulation.program, &env.var_os("PATH").unwrap_or_default()) else {
        return Ok(Err(format!("{} is not on PATH: install it (Debian: apt-get install {packages}, or `cargo xtask setup` in sea-build's workspace)", emulation.program)));
    };
    let sysroot = match env.var(LD_PREFIX_VAR) {
        Some(dir) => {
            let dir = Utf8PathBuf::from(dir);
            if !dir.is_dir() {
                bail!("{LD_PREFIX_VAR}={dir} is not a directory: point it at the {platform} sysroot (the directory holding its lib/), or unset it to use /usr/{}", emulation.triple);
            }
            dir
        }
        None => Utf8PathBuf::from(format!("/usr/{}", emulation.triple)),
    };
    if !sysroot.join("lib").is_dir() {
        return Ok(Err(format!("{sysroot} holds no {platform} C runtime: install it (Debian: apt-get install {packages}), or set {LD_PREFIX_VAR} to a sysroot")));
    }
    Ok(Ok(Qemu { program, sysroot }))
}

impl Qemu {
    /// `target` (an invocation of a program for the emulated architecture) as an invocation
    /// of qemu running it with the sysroot: same arguments, working directory, environment,
    /// input and timeout.
    ///
    /// ```
    /// # use sea_build::{qemu::Qemu, run::Invocation};
    /// let qemu = Qemu { program: "/usr/bin/qemu-aarch64".into(), sysroot: "/usr/aarch64-linux-gnu".into() };
    /// let wrapped = qemu.invocation(&Invocation::new("node", ["--version"]));
    /// assert_eq!(wrapped.program, "/usr/bin/qemu-aarch64");
    /// assert_eq!(wrapped.args, ["-L", "/usr/aarch64-linux-gnu", "node", "--version"]);
    /// ```
    pub fn invocation(&self, target: &Invocation) -> Invocation {
        let mut wrapped = target.clone();
        wrapped.program = self.program.clone();
        wrapped.args = ["-L".to_owned(), self.sysroot.to_string(), target.program.to_string()].into_iter().chain(target.args.iter().cloned()).collect();
        wrapped
    }

    /// The first line `qemu-<arch> --version` prints, such as `qemu-aarch64 version 7.2.22
    /// (Debian 1:7.2+dfsg-7+deb12u18)`.
    pub fn version(&self, runner: &dyn Runner) -> Result<String> {
        crate::run::first_line(runner, &Invocation::new(&self.program, ["--version"]))
    }

    /// Checks that `node` (for the emulated architecture) starts under qemu, by running
    /// `node -e 0`; the error says why not.
    pub fn check_node(&self, node: &Utf8Path, runner: &dyn Runner) -> Result<()> {
        let output = runner.run(&self.invocation(&Invocation::new(node, ["-e", "0"])))?;
        if !output.success() {
            bail!("{node} does not start under {} -L {} (exit {:?}):\n{}", self.program, self.sysroot, output.code, output.stderr_text().trim());
        }
        Ok(())
    }
}

/// A [`Runner`] that runs every program under qemu.
pub struct UnderQemu<'a> {
    /// The qemu to run under.
    pub qemu: &'a Qemu,
    /// What runs qemu itself.
    pub runner: &'a dyn Runner,
}

impl Runner for UnderQemu<'_> {
    fn run(&self, invocation: &Invocation) -> Result<RunOutput> {
        self.runner.run(&self.qemu.invocation(invocation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_qemu_and_the_sysroot_or_says_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("sysroot/lib")).unwrap();
        let arm64: Platform = "linux-arm64".parse().unwrap();
        let env = Env::from_process().with_var("PATH", dir.join("bin").as_str()).without_var(QEMU_VAR).without_var(LD_PREFIX_VAR);
        let why = find_qemu(&env, arm64).unwrap().unwrap_err();
        assert!(why.contains("qemu-aarch64 is not on PATH") && why.contains("libc6-arm64-cross"), "{why}");

        std::fs::write(dir.join("bin/qemu-aarch64"), "#!/bin/sh\n").unwrap();
        crate::fsutil::make_executable(&dir.join("bin/qemu-aarch64")).unwrap();
        let env = env.with_var(LD_PREFIX_VAR, dir.join("sysroot").as_str());
        let qemu = find_qemu(&env, arm64).unwrap().unwrap();
        assert_eq!((qemu.program.as_str(), qemu.sysroot.as_str()), (dir.join("bin/qemu-aarch64").as_str(), dir.join("sysroot").as_str()));

        let error = find_qemu(&env.clone().with_var(LD_PREFIX_VAR, dir.join("missing").as_str()), arm64).unwrap_err().to_string();
        assert!(error.contains("SEA_BUILD_QEMU_LD_PREFIX") && error.contains("is not a directory"), "{error}");
        let empty_root = env.clone().with_var(LD_PREFIX_VAR, dir.join("bin").as_str());
        assert!(find_qemu(&empty_root, arm64).unwrap().unwrap_err().contains("holds no linux-arm64 C runtime"));
        for off in ["off", "0", "NO"] {
            assert!(find_qemu(&env.clone().with_var(QEMU_VAR, off), arm64).unwrap().unwrap_err().contains("switched off"));
        }
        assert!(find_qemu(&env, "win-x64".parse().unwrap()).unwrap().is_err());
        if Platform::host().unwrap().arch == Arch::X64 {
            assert!(find_qemu(&env, "linux-x64".parse().unwrap()).unwrap().is_err(), "the host's own architecture needs no qemu");
        }
    }

    #[test]
    fn wraps_an_invocation_keeping_its_settings() {
        let qemu = Qemu { program: "/usr/bin/qemu-ppc64le".into(), sysroot: "/usr/powerpc64le-linux-gnu".into() };
        let mut target = Invocation::new("/cache/node", ["-e", "0"]);
        target.clean_env = true;
        target.env = vec![("A".into(), "1".into())];
        target.cwd = Some("/staging".into());
        let wrapped = qemu.invocation(&target);
        assert_eq!(wrapped.args, ["-L", "/usr/powerpc64le-linux-gnu", "/cache/node", "-e", "0"]);
        assert_eq!((wrapped.clean_env, wrapped.env.clone(), wrapped.cwd.clone()), (true, target.env.clone(), target.cwd.clone()));
        assert!(!wrapped.stdio_files);
    }
}
