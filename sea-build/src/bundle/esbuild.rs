//! Getting the esbuild executable that bundles `main`: the npm registry's `@esbuild/<platform>`
//! package for the machine that builds, at one pinned version, fetched the way node is
//! (registry from npm's configuration, sha512 integrity checked, cached per user, pinned by
//! SHA-256 in `sea.lock`, and offline only from the cache).

use std::io::Write;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::node::{HashingWriter, LockFile, LockedTool, Member, NodeFetcher, Os, Platform, extract_members};
use crate::progress::Event;

/// The esbuild version every bundle is made with: one pinned version, so that the same
/// sources give the same bundle on every machine and every day.
pub const ESBUILD_VERSION: &str = "0.28.2";

/// The tool's name in `sea.lock`.
const NAME: &str = "esbuild";

/// A verified esbuild executable in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Esbuild {
    /// Its version.
    pub version: String,
    /// The platform it runs on (this machine's).
    pub platform: Platform,
    /// The executable.
    pub path: Utf8PathBuf,
    /// SHA-256 of the package archive it came from.
    pub archive_sha256: String,
    /// SHA-256 of the executable.
    pub binary_sha256: String,
}

impl Esbuild {
    /// The `sea.lock` entry that pins it.
    pub fn locked(&self) -> LockedTool {
        LockedTool {
            name: NAME.to_owned(),
            target: self.platform.node_name().to_owned(),
            version: self.version.clone(),
            archive_sha256: self.archive_sha256.clone(),
            binary_sha256: self.binary_sha256.clone(),
        }
    }
}

/// What the cache records beside the executable (`entry.toml`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Record {
    version: String,
    url: String,
    archive_sha256: String,
    binary_sha256: String,
}

/// The npm package of esbuild for `platform`, and the executable's path inside it.
pub fn package_for(platform: Platform) -> (String, &'static str) {
    // esbuild names its packages after node's `process.platform` and `process.arch`.
    let (arch, os) = crate::snapshot::process_names(platform);
    let binary = if platform.os == Os::Windows { "esbuild.exe" } else { "bin/esbuild" };
    (format!("@esbuild/{os}-{arch}"), binary)
}

/// The verified esbuild for this machine: from the cache, or downloaded into it. With a lock,
/// the executable must match what it pins for this platform at [`ESBUILD_VERSION`].
pub fn fetch(fetcher: &NodeFetcher, lock: Option<(&LockFile, &Utf8Path)>) -> Result<Esbuild> {
    let platform = Platform::host()?;
    let (package, member) = package_for(platform);
    let dir = fetcher.cache_dir().join(NAME).join(ESBUILD_VERSION).join(platform.node_name());
    let binary = dir.join(member.rsplit('/').next().unwrap_or(member));
    let esbuild = match cached(&dir, &binary, platform)? {
        Some(esbuild) => esbuild,
        None if fetcher.is_offline() => crate::error::fail!(
            OfflineMiss,
            "offline (SEA_BUILD_OFFLINE or CARGO_NET_OFFLINE is set), and the cache in {} lacks esbuild {ESBUILD_VERSION} for {platform}, which bundles `main`. Prefetch it while online with `cargo xtask fetch`, or set `bundle = false`",
            fetcher.cache_dir()
        ),
        None => {
            download(fetcher, &package, member, &dir, &binary, platform).with_context(|| format!("could not get esbuild {ESBUILD_VERSION} ({package}) from the npm registry, which bundles `main`"))?
        }
    };
    if let Some((lock, lock_path)) = lock
        && let Some(pinned) = lock.pinned_tool(NAME, platform).filter(|pinned| pinned.version == esbuild.version)
        && pinned.binary_sha256 != esbuild.binary_sha256
    {
        bail!(
            "esbuild {} for {platform} does not match {lock_path}: it pins SHA-256 {}, but {} hashes to {}. If you did not expect a change, stop: the download may have been tampered with. If it is intended, delete the `[[tool]]` entry and build again",
            esbuild.version,
            pinned.binary_sha256,
            esbuild.path,
            esbuild.binary_sha256
        );
    }
    Ok(esbuild)
}

/// The cached executable, when its record is there and it still hashes to what that says.
fn cached(dir: &Utf8Path, binary: &Utf8Path, platform: Platform) -> Result<Option<Esbuild>> {
    let record_path = dir.join("entry.toml");
    let text = match std::fs::read_to_string(&record_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("could not read {record_path}")),
    };
    let Ok(record) = toml::from_str::<Record>(&text) else { return Ok(None) };
    match crate::digest::sha256_file(binary) {
        Ok(actual) if actual == record.binary_sha256 && record.version == ESBUILD_VERSION => {
            Ok(Some(Esbuild { version: record.version, platform, path: binary.to_owned(), archive_sha256: record.archive_sha256, binary_sha256: actual }))
        }
        // Damaged or half-written: fetched again.
        _ => Ok(None),
    }
}

/// Downloads and verifies the package, takes the executable out of it, and installs it with
/// its record written last.
fn download(fetcher: &NodeFetcher, package: &str, member: &str, dir: &Utf8Path, binary: &Utf8Path, platform: Platform) -> Result<Esbuild> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create the cache directory {dir}: set SEA_BUILD_CACHE_DIR to a writable directory"))?;
    let temp = || tempfile::Builder::new().prefix(".partial-").tempfile_in(dir).with_context(|| format!("could not create a temporary file in {dir}"));
    fetcher.progress().report(Event::Step(&format!("downloading esbuild {ESBUILD_VERSION} ({package}) from the npm registry")));
    let downloaded = fetcher.npm()?.download_package(fetcher.http(), package, ESBUILD_VERSION, temp()?, fetcher.progress())?;
    let archive = downloaded.archive.reopen().with_context(|| format!("could not reopen the download of {}", downloaded.url))?;
    let mut executable = HashingWriter::new(temp()?, false);
    let wanted = |relative: &str| (relative == member).then_some(Member::Binary);
    let found = extract_members(std::io::BufReader::new(archive), downloaded.kind, &downloaded.url, &wanted, &mut |_, data| {
        std::io::copy(data, &mut executable)?;
        Ok(())
    })?;
    if !found {
        bail!("{} holds no package/{member}: it is not the esbuild package sea-build expects", downloaded.url);
    }
    executable.flush()?;
    let (file, binary_sha256, _) = executable.finish();
    crate::publish::persist(file, binary, true)?;
    let record = Record { version: ESBUILD_VERSION.to_owned(), url: downloaded.url.clone(), archive_sha256: downloaded.sha256.clone(), binary_sha256: binary_sha256.clone() };
    let mut record_file = temp()?;
    record_file.write_all(toml::to_string(&record).context("could not encode the esbuild cache record")?.as_bytes())?;
    crate::publish::persist(record_file, &dir.join("entry.toml"), false)?;
    Ok(Esbuild { version: ESBUILD_VERSION.to_owned(), platform, path: binary.to_owned(), archive_sha256: downloaded.sha256, binary_sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_package_of_each_platform() {
        let package = |name: &str| package_for(name.parse().unwrap());
        assert_eq!(package("linux-x64"), ("@esbuild/linux-x64".to_owned(), "bin/esbuild"));
        assert_eq!(package("darwin-arm64"), ("@esbuild/darwin-arm64".to_owned(), "bin/esbuild"));
        assert_eq!(package("win-x64"), ("@esbuild/win32-x64".to_owned(), "esbuild.exe"));
    }
}
