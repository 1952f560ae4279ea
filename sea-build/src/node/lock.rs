//! `sea.lock`: the node binaries a workspace's SEAs are built from, pinned by SHA-256.
//!
//! ```toml
//! # This file is written by sea-build (`cargo xtask fetch`). Commit it.
//! version = 1
//!
//! [[node]]
//! request = "22"
//! target = "linux-x64"
//! version = "22.23.3"
//! source = "npm"
//! archive-sha256 = "…"
//! binary-sha256 = "…"
//! ```
//! A request (`22`, `lts`, `22.23.3`) is resolved once and then stays pinned until it is
//! fetched again with `--update`. The binary hash must always match; the archive hash is
//! compared when the same source serves it (the npm registry and the official site package the
//! same binary in different archives).

use anyhow::{Context, bail};

use crate::Result;
use camino::Utf8Path;

use super::NodeBinary;
use super::platform::Platform;
use super::version::{Version, VersionSpec};

const HEADER: &str = "# This file is written by sea-build (`cargo xtask fetch`). Commit it: builds verify the\n# node binaries they use against it.\n";

/// The contents of a `sea.lock` file.
///
/// ```
/// use sea_build::node::LockFile;
/// let lock = LockFile::parse("version = 1\n", "sea.lock".into())?;
/// assert!(lock.nodes.is_empty());
/// # Ok::<(), sea_build::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockFile {
    /// The format version, 1.
    pub version: u32,
    /// One entry per (request, target).
    #[serde(rename = "node", default)]
    pub nodes: Vec<LockedNode>,
    /// The build tools sea-build fetches (esbuild), one entry per (name, host platform).
    #[serde(rename = "tool", default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<LockedTool>,
}

/// One pinned build tool, such as the esbuild binary that bundles `main`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedTool {
    /// The tool (`esbuild`).
    pub name: String,
    /// The platform it runs on (the build machine's), as Node names it.
    pub target: String,
    /// Its exact version.
    pub version: String,
    /// SHA-256 of the package archive it came from.
    pub archive_sha256: String,
    /// SHA-256 of the executable.
    pub binary_sha256: String,
}

/// One pinned node binary.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedNode {
    /// The version as requested (`22`, `lts`, `22.23.3`).
    pub request: String,
    /// The platform, as Node names it.
    pub target: String,
    /// The version the request resolved to.
    pub version: Version,
    /// The source that served it (`dist` or `npm`).
    pub source: String,
    /// SHA-256 of the archive that source served.
    pub archive_sha256: String,
    /// SHA-256 of the node binary.
    pub binary_sha256: String,
}

impl LockFile {
    /// Reads `path`; a missing file is an empty lock.
    ///
    /// ```
    /// use sea_build::node::LockFile;
    /// let dir = tempfile::tempdir()?;
    /// let path = camino::Utf8PathBuf::try_from(dir.path().join("sea.lock"))?;
    /// assert!(LockFile::read(&path)?.nodes.is_empty());
    /// std::fs::write(&path, "version = 2\n")?;
    /// assert!(LockFile::read(&path).unwrap_err().to_string().contains("format version 2"));
    /// # anyhow::Ok(())
    /// ```
    pub fn read(path: &Utf8Path) -> Result<LockFile> {
        match std::fs::read_to_string(path) {
            Ok(text) => LockFile::parse(&text, path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(LockFile { version: 1, ..LockFile::default() }),
            Err(error) => crate::error::typed(|| Err(error).with_context(|| format!("could not read {path}"))),
        }
    }

    /// Parses the text of a lock file; `path` names it in errors.
    pub fn parse(text: &str, path: &Utf8Path) -> Result<LockFile> {
        crate::error::typed(|| {
            let lock: LockFile = toml::from_str(text).with_context(|| format!("{path} is not a valid sea.lock: fix or delete it, then run `cargo xtask fetch`"))?;
            if lock.version != 1 {
                bail!("{path} has format version {}, but this sea-build reads version 1: upgrade sea-build or delete the file", lock.version);
            }
            Ok(lock)
        })
    }

    /// Writes the lock to `path` atomically, entries sorted so the file diffs well.
    ///
    /// ```
    /// use sea_build::node::LockFile;
    /// let dir = tempfile::tempdir()?;
    /// let path = camino::Utf8PathBuf::try_from(dir.path().join("sea.lock"))?;
    /// LockFile::default().write(&path)?;
    /// assert_eq!(LockFile::read(&path)?.version, 1);
    /// # anyhow::Ok(())
    /// ```
    pub fn write(&self, path: &Utf8Path) -> Result<()> {
        let mut sorted = self.clone();
        sorted.version = 1;
        sorted.nodes.sort_by(|a, b| (&a.request, &a.target).cmp(&(&b.request, &b.target)));
        sorted.tools.sort_by(|a, b| (&a.name, &a.target).cmp(&(&b.name, &b.target)));
        let text = format!("{HEADER}{}", toml::to_string(&sorted).context("could not encode sea.lock")?);
        Ok(crate::publish::write_atomic(path, text.as_bytes())?)
    }

    /// The entry pinning `spec` for `platform`, if any.
    pub fn pinned(&self, spec: &VersionSpec, platform: Platform) -> Option<&LockedNode> {
        let request = spec.to_string();
        self.nodes.iter().find(|node| node.target == platform.node_name() && (node.request == request || matches!(spec, VersionSpec::Exact(v) if *v == node.version)))
    }

    /// Fails unless `node` agrees with the entry pinning `spec` (when there is one), with
    /// [`ErrorKind::LockMismatch`](crate::ErrorKind::LockMismatch).
    ///
    /// ```
    /// use sea_build::{ErrorKind, node::{LockFile, NodeBinary, Version, VersionSpec}};
    /// let node = NodeBinary {
    ///     version: Version::new(24, 11, 1),
    ///     platform: "linux-x64".parse()?,
    ///     source: "npm".into(),
    ///     origin: None,
    ///     archive_sha256: Some("aa".repeat(32)),
    ///     binary_sha256: "bb".repeat(32),
    ///     path: "node".into(),
    ///     downloaded: false,
    ///     fuse_offset: None,
    ///     license: None,
    /// };
    /// let spec = VersionSpec::Major(24);
    /// let mut lock = LockFile::default();
    /// lock.record(&spec, &node);
    /// lock.check(&spec, &node, "sea.lock".into())?;
    /// let other = NodeBinary { binary_sha256: "cc".repeat(32), ..node };
    /// assert_eq!(lock.check(&spec, &other, "sea.lock".into()).unwrap_err().kind(), ErrorKind::LockMismatch);
    /// # Ok::<(), sea_build::Error>(())
    /// ```
    pub fn check(&self, spec: &VersionSpec, node: &NodeBinary, lock_path: &Utf8Path) -> Result<()> {
        let Some(pinned) = self.pinned(spec, node.platform) else { return Ok(()) };
        let archive_differs = pinned.source == node.source && node.archive_sha256.as_deref().is_some_and(|sha| sha != pinned.archive_sha256);
        let what = if pinned.version != node.version {
            format!("it pins version {}, but {} was used", pinned.version, node.version)
        } else if pinned.binary_sha256 != node.binary_sha256 {
            format!("it pins binary SHA-256 {}, but {} gave {}", pinned.binary_sha256, node.source, node.binary_sha256)
        } else if archive_differs {
            format!("it pins archive SHA-256 {}, but {} served {}", pinned.archive_sha256, node.source, node.archive_sha256.as_deref().unwrap_or_default())
        } else {
            return Ok(());
        };
        crate::error::fail!(
            LockMismatch,
            "node {} for {} does not match {lock_path}: {what}. If you did not expect a change, stop: the download may have been tampered with. If the change is intended, run `cargo xtask fetch --node {spec} --target {} --update`",
            node.version,
            node.platform,
            node.platform
        )
    }

    /// Records `node` as the resolution of `spec`; returns whether anything changed. A node
    /// that `spec` cannot resolve to (`24` and a 22.x) is never recorded.
    pub fn record(&mut self, spec: &VersionSpec, node: &NodeBinary) -> bool {
        let Some(archive_sha256) = node.archive_sha256.clone() else { return false };
        if matches!(spec, VersionSpec::Local | VersionSpec::Path(_)) {
            // Local binaries are machine-specific; pinning them would break every other checkout.
            return false;
        }
        if !spec.matches(node.version) {
            return false;
        }
        let entry = LockedNode {
            request: spec.to_string(),
            target: node.platform.node_name().to_owned(),
            version: node.version,
            source: node.source.clone(),
            archive_sha256,
            binary_sha256: node.binary_sha256.clone(),
        };
        self.version = 1;
        upsert(&mut self.nodes, entry, |a, b| a.request == b.request && a.target == b.target)
    }

    /// The entry pinning tool `name` for `platform`, if any.
    pub fn pinned_tool(&self, name: &str, platform: Platform) -> Option<&LockedTool> {
        self.tools.iter().find(|tool| tool.name == name && tool.target == platform.node_name())
    }

    /// Records `tool` (replacing the entry of the same name and platform); returns whether
    /// anything changed.
    pub fn record_tool(&mut self, tool: LockedTool) -> bool {
        self.version = 1;
        upsert(&mut self.tools, tool, |a, b| a.name == b.name && a.target == b.target)
    }
}

/// Puts `entry` in `entries`, replacing the one `same` says it pins the same thing as; returns
/// whether anything changed.
fn upsert<T: PartialEq>(entries: &mut Vec<T>, entry: T, same: impl Fn(&T, &T) -> bool) -> bool {
    match entries.iter_mut().find(|existing| same(existing, &entry)) {
        Some(existing) if *existing == entry => false,
        Some(existing) => {
            *existing = entry;
            true
        }
        None => {
            entries.push(entry);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(version: Version, target: &str) -> NodeBinary {
        NodeBinary {
            version,
            platform: target.parse().unwrap(),
            source: "npm".to_owned(),
            origin: None,
            archive_sha256: Some("aa".repeat(32)),
            binary_sha256: "bb".repeat(32),
            path: "node".into(),
            downloaded: false,
            fuse_offset: None,
            license: None,
        }
    }

    #[test]
    fn a_request_is_never_pinned_to_a_node_it_cannot_resolve_to() {
        let mut lock = LockFile::default();
        let major_24: VersionSpec = "24".parse().unwrap();
        assert!(!lock.record(&major_24, &node(Version::new(22, 23, 3), "linux-x64")));
        assert!(!lock.record(&"24.21.0".parse().unwrap(), &node(Version::new(24, 21, 1), "linux-x64")));
        assert!(lock.nodes.is_empty());
        assert!(lock.record(&major_24, &node(Version::new(24, 21, 0), "linux-x64")));
        assert!(lock.record(&VersionSpec::Lts, &node(Version::new(24, 21, 0), "linux-x64")));
        assert_eq!(lock.nodes.len(), 2);
    }
}
