//! Node versions and the version specs users write (`24.11.1`, `24`, `lts`, `local`, a path).

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, bail};

use crate::Result;
use camino::Utf8PathBuf;

/// An exact Node release version, such as `22.23.3`.
///
/// ```
/// use sea_build::node::Version;
/// let v: Version = "v22.23.3".parse()?;
/// assert_eq!((v.major, v.minor, v.patch), (22, 23, 3));
/// assert_eq!(v.to_string(), "22.23.3");
/// # Ok::<(), sea_build::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    /// The major release line.
    pub major: u32,
    /// The minor version.
    pub minor: u32,
    /// The patch version.
    pub patch: u32,
}

impl Version {
    /// Builds a version from its three numbers.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version { major, minor, patch }
    }

    /// The version as Node writes it in release names: `v22.23.3`.
    pub fn tag(&self) -> String {
        format!("v{self}")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Version> {
        crate::error::typed(|| {
            let digits = text.trim().strip_prefix('v').unwrap_or(text.trim());
            let parts: Vec<&str> = digits.split('.').collect();
            let [major, minor, patch] = parts[..] else {
                bail!("`{text}` is not a Node version: expected MAJOR.MINOR.PATCH such as 22.23.3");
            };
            let number = |part: &str| part.parse::<u32>().with_context(|| format!("`{text}` is not a Node version: `{part}` is not a number"));
            Ok(Version::new(number(major)?, number(minor)?, number(patch)?))
        })
    }
}

impl TryFrom<String> for Version {
    type Error = crate::Error;
    fn try_from(text: String) -> Result<Version> {
        text.parse()
    }
}

impl From<Version> for String {
    fn from(version: Version) -> String {
        version.to_string()
    }
}

/// Which Node to build from, as written in `node-version`, `--node` or the builder.
///
/// ```
/// use sea_build::node::{Version, VersionSpec};
/// assert_eq!("24".parse::<VersionSpec>()?, VersionSpec::Major(24));
/// assert_eq!("24.11.1".parse::<VersionSpec>()?, VersionSpec::Exact(Version::new(24, 11, 1)));
/// assert_eq!("lts".parse::<VersionSpec>()?, VersionSpec::Lts);
/// assert!(matches!("./node-v24.11.1-linux-x64.tar.xz".parse::<VersionSpec>()?, VersionSpec::Path(_)));
/// assert_eq!("banana".parse::<VersionSpec>().unwrap_err().kind(), sea_build::ErrorKind::Config);
/// # Ok::<(), sea_build::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VersionSpec {
    /// Exactly this release.
    Exact(Version),
    /// The newest release of this major line.
    Major(u32),
    /// The newest release of the newest line in long-term support.
    Lts,
    /// The newest release of all.
    Latest,
    /// The `node` found on `PATH` (host target only).
    Local,
    /// A node binary or a release archive on disk (air-gapped builds, custom builds).
    Path(Utf8PathBuf),
}

impl VersionSpec {
    /// Whether `version` satisfies this spec, for specs that name versions (not `local`, paths).
    pub fn matches(&self, version: Version) -> bool {
        match self {
            VersionSpec::Exact(exact) => *exact == version,
            VersionSpec::Major(major) => *major == version.major,
            VersionSpec::Lts | VersionSpec::Latest => true,
            VersionSpec::Local | VersionSpec::Path(_) => false,
        }
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Exact(version) => write!(f, "{version}"),
            VersionSpec::Major(major) => write!(f, "{major}"),
            VersionSpec::Lts => f.write_str("lts"),
            VersionSpec::Latest => f.write_str("latest"),
            VersionSpec::Local => f.write_str("local"),
            VersionSpec::Path(path) => write!(f, "{path}"),
        }
    }
}

impl FromStr for VersionSpec {
    type Err = crate::Error;

    /// Parses what a user writes; what is not a spec is a [`Config`](crate::ErrorKind::Config)
    /// error.
    fn from_str(text: &str) -> Result<VersionSpec> {
        crate::error::typed_as(crate::ErrorKind::Config, || {
            let trimmed = text.trim();
            let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
            match trimmed.to_ascii_lowercase().as_str() {
                "lts" => return Ok(VersionSpec::Lts),
                "latest" | "current" => return Ok(VersionSpec::Latest),
                "local" => return Ok(VersionSpec::Local),
                _ => {}
            }
            if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(VersionSpec::Major(bare.parse().with_context(|| format!("major version `{trimmed}` is out of range"))?));
            }
            if bare.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return Ok(VersionSpec::Exact(trimmed.parse()?));
            }
            let looks_like_path = trimmed.contains(['/', '\\']) || trimmed.starts_with('.') || std::path::Path::new(trimmed).exists();
            if looks_like_path {
                return Ok(VersionSpec::Path(Utf8PathBuf::from(trimmed)));
            }
            bail!("`{text}` is not a node version: use an exact version (24.11.1), a major (24), `lts`, `latest`, `local`, or a path to a node binary or archive")
        })
    }
}

/// A release as a source lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// The version.
    pub version: Version,
    /// Whether the release belongs to a line in long-term support.
    pub lts: bool,
}

/// The first release of each line that entered long-term support, for sources (like the npm
/// registry) that list versions without saying which are LTS, when neither the official index
/// nor `node-releases`' data can be had (see `lts.rs`); it covers lines up to its last entry.
pub(crate) const LTS_STARTS: &[Version] = &[Version::new(18, 12, 0), Version::new(20, 9, 0), Version::new(22, 11, 0), Version::new(24, 11, 0)];

/// Whether `version` is an LTS release by [`LTS_STARTS`].
pub(crate) fn is_known_lts(version: Version) -> bool {
    LTS_STARTS.iter().any(|start| start.major == version.major && version >= *start)
}

/// Picks the release `spec` asks for from `releases` (any order), or `None` when none fits.
///
/// ```
/// use sea_build::node::{resolve, Release, Version, VersionSpec};
/// let releases = [
///     Release { version: Version::new(22, 23, 3), lts: true },
///     Release { version: Version::new(24, 21, 0), lts: true },
///     Release { version: Version::new(25, 9, 0), lts: false },
/// ];
/// assert_eq!(resolve(&VersionSpec::Major(22), &releases), Some(Version::new(22, 23, 3)));
/// assert_eq!(resolve(&VersionSpec::Lts, &releases), Some(Version::new(24, 21, 0)));
/// assert_eq!(resolve(&VersionSpec::Latest, &releases), Some(Version::new(25, 9, 0)));
/// ```
pub fn resolve(spec: &VersionSpec, releases: &[Release]) -> Option<Version> {
    releases.iter().filter(|release| spec.matches(release.version) && (*spec != VersionSpec::Lts || release.lts)).map(|release| release.version).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for text in ["24", "24.11.1", "lts", "latest", "local", "./bin/node", "/opt/node/bin/node"] {
            let spec: VersionSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!("v22".parse::<VersionSpec>().unwrap(), VersionSpec::Major(22));
        assert!("22.1".parse::<VersionSpec>().is_err());
        assert!("banana".parse::<VersionSpec>().is_err());
    }

    #[test]
    fn versions_order_numerically() {
        let small: Version = "22.9.0".parse().unwrap();
        let large: Version = "22.10.0".parse().unwrap();
        assert!(small < large);
    }

    #[test]
    fn lts_by_table_starts_at_the_promotion_release() {
        assert!(!is_known_lts(Version::new(22, 10, 0)));
        assert!(is_known_lts(Version::new(22, 11, 0)));
        assert!(!is_known_lts(Version::new(23, 11, 0)));
    }

    #[test]
    fn exact_and_major_resolution() {
        let releases: Vec<Release> = ["20.20.2", "22.22.0", "22.23.3", "24.21.0", "26.10.0"].iter().map(|v| Release { version: v.parse().unwrap(), lts: !v.starts_with("26") }).collect();
        assert_eq!(resolve(&VersionSpec::Major(22), &releases), Some(Version::new(22, 23, 3)));
        assert_eq!(resolve(&VersionSpec::Exact(Version::new(22, 22, 0)), &releases), Some(Version::new(22, 22, 0)));
        assert_eq!(resolve(&VersionSpec::Exact(Version::new(22, 22, 1)), &releases), None);
        assert_eq!(resolve(&VersionSpec::Lts, &releases), Some(Version::new(24, 21, 0)));
        assert_eq!(resolve(&VersionSpec::Major(19), &releases), None);
    }
}
