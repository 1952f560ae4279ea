//! Which node releases are LTS, for sources that do not say (the npm registry lists bare
//! versions): the official release index when it is reachable, else the release data of the
//! npm registry's `node-releases` package at one pinned version (sha512 integrity checked,
//! cached per user like esbuild), else the built-in table. A line is LTS from its first release
//! marked so.

use anyhow::{Context, Result, bail};

use super::version::LTS_STARTS;
use super::{Member, NodeFetcher, Version, extract_members};
use crate::progress::Event;

/// The `node-releases` version whose data says which lines are LTS: pinned, so a build does
/// not change because the package did.
pub(crate) const NODE_RELEASES_VERSION: &str = "2.0.67";

/// Where the LTS status of releases came from.
///
/// ```
/// assert!(sea_build::node::LtsOrigin::Index.to_string().contains("release index"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LtsOrigin {
    /// The official release index (or the configured mirror's).
    Index,
    /// The release data of the npm registry's `node-releases` package.
    ReleaseData,
    /// sea-build's own table.
    Table,
}

impl std::fmt::Display for LtsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LtsOrigin::Index => f.write_str("the release index"),
            LtsOrigin::ReleaseData => write!(f, "the npm registry's node-releases {NODE_RELEASES_VERSION} release data"),
            LtsOrigin::Table => write!(f, "sea-build's built-in table (lines up to {})", LTS_STARTS.last().map_or(String::new(), Version::to_string)),
        }
    }
}

/// The first LTS release of each line, and where that came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LtsLines {
    starts: Vec<Version>,
    pub origin: LtsOrigin,
}

impl LtsLines {
    /// Whether `version` belongs to a line in LTS by then.
    pub(crate) fn is_lts(&self, version: Version) -> bool {
        self.starts.iter().any(|start| start.major == version.major && version >= *start)
    }

    fn table() -> LtsLines {
        LtsLines { starts: LTS_STARTS.to_vec(), origin: LtsOrigin::Table }
    }
}

/// The first LTS release of each line in a release list (the official `index.json`, or
/// `node-releases`' `envs.json`): entries with a `version` (`v` optional) and an `lts` that is
/// a codename, or `false`. Pre-releases and other names are skipped.
pub(crate) fn starts_from_json(json: &str) -> Result<Vec<Version>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        version: String,
        #[serde(default)]
        lts: serde_json::Value,
        #[serde(default)]
        name: Option<String>,
    }
    let entries: Vec<Entry> = serde_json::from_str(json).context("not a list of node releases")?;
    let mut starts: Vec<Version> = Vec::new();
    for entry in entries.into_iter().filter(|entry| entry.lts.is_string() && entry.name.as_deref().is_none_or(|name| name == "nodejs")) {
        let Ok(version) = entry.version.trim_start_matches('v').parse::<Version>() else { continue };
        match starts.iter_mut().find(|start| start.major == version.major) {
            Some(start) => *start = (*start).min(version),
            None => starts.push(version),
        }
    }
    if starts.is_empty() {
        bail!("it marks no release as LTS");
    }
    starts.sort();
    Ok(starts)
}

impl NodeFetcher {
    /// The LTS lines, found once per fetcher: from the release index, else `node-releases`,
    /// else the table (offline: cached release data, else the table).
    pub(crate) fn lts_lines(&self) -> LtsLines {
        self.lts
            .get_or_init(|| {
                let index = if self.offline { None } else { self.http().get_text(&format!("{}/index.json", self.dist_base), "application/json", 64 << 20).ok() };
                if let Some(starts) = index.and_then(|json| starts_from_json(&json).ok()) {
                    return LtsLines { starts, origin: LtsOrigin::Index };
                }
                match self.release_data() {
                    Ok(starts) => LtsLines { starts, origin: LtsOrigin::ReleaseData },
                    Err(error) => {
                        let table = LtsLines::table();
                        self.progress().report(Event::Warning(&format!("LTS status comes from {}: {error:#}", table.origin)));
                        table
                    }
                }
            })
            .clone()
    }

    /// The LTS lines in `node-releases`' data, from the cache or downloaded into it.
    fn release_data(&self) -> Result<Vec<Version>> {
        let dir = self.cache.root().join(format!("node-releases-{NODE_RELEASES_VERSION}"));
        let path = dir.join("envs.json");
        if let Ok(json) = std::fs::read_to_string(&path) {
            return starts_from_json(&json).with_context(|| format!("reading {path}"));
        }
        if self.offline {
            bail!("offline, and node-releases {NODE_RELEASES_VERSION} is not in the cache ({path})");
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("could not create {dir}"))?;
        let temp = || tempfile::Builder::new().prefix(".partial-").tempfile_in(&dir).with_context(|| format!("could not create a temporary file in {dir}"));
        let downloaded = self.npm()?.download_package(self.http(), "node-releases", NODE_RELEASES_VERSION, temp()?, self.progress())?;
        let archive = downloaded.archive.reopen().with_context(|| format!("could not reopen the download of {}", downloaded.url))?;
        let mut json = Vec::new();
        let wanted = |relative: &str| (relative == "data/processed/envs.json").then_some(Member::Binary);
        let found = extract_members(std::io::BufReader::new(archive), downloaded.kind, &downloaded.url, &wanted, &mut |_, data| {
            data.read_to_end(&mut json)?;
            Ok(())
        })?;
        if !found {
            bail!("{} holds no package/data/processed/envs.json", downloaded.url);
        }
        let text = String::from_utf8(json).with_context(|| format!("{}'s envs.json is not UTF-8", downloaded.url))?;
        let starts = starts_from_json(&text).with_context(|| format!("reading {}'s envs.json", downloaded.url))?;
        let mut file = temp()?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        crate::publish::persist(file, &path, false)?;
        Ok(starts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_start_at_their_first_lts_release_in_either_list() {
        let index = r#"[{"version":"v26.13.0","lts":"Lithium"},{"version":"v26.12.0","lts":false},{"version":"v24.12.0","lts":"Krypton"},{"version":"v24.11.0","lts":"Krypton"}]"#;
        assert_eq!(starts_from_json(index).unwrap(), [Version::new(24, 11, 0), Version::new(26, 13, 0)]);
        let data = r#"[{"name":"nodejs","version":"26.13.0","lts":"Lithium"},{"name":"nodejs","version":"27.0.0-alpha.0","lts":false},{"name":"electron","version":"40.0.0","lts":"x"}]"#;
        let lines = LtsLines { starts: starts_from_json(data).unwrap(), origin: LtsOrigin::ReleaseData };
        assert!(lines.is_lts(Version::new(26, 14, 1)) && !lines.is_lts(Version::new(26, 12, 0)) && !lines.is_lts(Version::new(40, 0, 0)));
        assert!(starts_from_json(r#"[{"version":"v25.0.0","lts":false}]"#).is_err());
        assert!(LtsLines::table().is_lts(Version::new(24, 11, 0)));
    }
}
