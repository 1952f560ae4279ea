//! The per-user cache of verified node binaries.
//!
//! Layout: `<root>/node/v<version>/<platform>/{node,LICENSE,entry.toml}`. An entry is trusted
//! only when `entry.toml` exists and the binary still hashes to what it records. Writers hold an
//! exclusive file lock per entry (`<platform>.lock` beside the directory), write into temporary
//! files inside the entry directory, and rename them into place with `entry.toml` last, so a
//! reader never sees half an entry and an interrupted download leaves nothing a later run
//! trusts (its temporary files are swept by the next writer).

use std::fs::{self, File};
use std::io::Write;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use super::platform::Platform;
use super::version::Version;
use crate::Env;
use crate::digest::sha256_file;
use crate::fsutil::persist;

/// Prefix of every temporary file in the cache; the sweeper deletes only these.
const TEMP_PREFIX: &str = ".partial-";
const RECORD: &str = "entry.toml";

/// The cache of verified node binaries.
///
/// ```
/// use sea_build::{Env, node::Cache};
/// let cache = Cache::from_env(&Env::from_process().with_var("SEA_BUILD_CACHE_DIR", "/tmp/sea-cache"))?;
/// assert_eq!(cache.root(), "/tmp/sea-cache");
/// # anyhow::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct Cache {
    root: Utf8PathBuf,
}

/// What the cache records about an entry (`entry.toml`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CacheRecord {
    /// The Node version.
    pub version: Version,
    /// The platform, as Node names it.
    pub target: String,
    /// Which source served it (`dist`, `npm`).
    pub source: String,
    /// The URL the archive came from.
    pub url: String,
    /// SHA-256 of the archive as downloaded.
    pub archive_sha256: String,
    /// SHA-256 of the extracted binary.
    pub binary_sha256: String,
}

impl CacheRecord {
    /// Parses the text of an `entry.toml`; `path` names it in errors.
    ///
    /// ```
    /// use sea_build::node::CacheRecord;
    /// let text = "version = \"22.23.3\"\ntarget = \"linux-x64\"\nsource = \"npm\"\nurl = \"u\"\narchive-sha256 = \"a\"\nbinary-sha256 = \"b\"\n";
    /// let record = CacheRecord::parse(text, "entry.toml".into())?;
    /// assert_eq!(record.target, "linux-x64");
    /// assert!(CacheRecord::parse("version = 1", "entry.toml".into()).is_err());
    /// # anyhow::Ok(())
    /// ```
    pub fn parse(text: &str, path: &Utf8Path) -> Result<CacheRecord> {
        toml::from_str(text).with_context(|| format!("{path} is unreadable"))
    }
}

/// What an entry is keyed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EntryKey {
    /// A release from a source (`v22.23.3`).
    Release(Version),
    /// A local archive, by the SHA-256 of its bytes.
    Archive(String),
}

impl EntryKey {
    fn dir_name(&self) -> String {
        match self {
            EntryKey::Release(version) => version.tag(),
            EntryKey::Archive(sha256) => format!("archive-{}", &sha256[..sha256.len().min(16)]),
        }
    }
}

/// The result of looking an entry up.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A complete entry whose binary matches its record.
    Hit { record: CacheRecord, binary: Utf8PathBuf },
    /// Nothing (complete) there.
    Miss,
    /// An entry whose binary no longer matches its record.
    Corrupt(String),
}

impl Cache {
    /// A cache rooted at `root`.
    pub fn new(root: impl Into<Utf8PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// The cache named by `SEA_BUILD_CACHE_DIR`, else `sea-build` in the per-user cache
    /// directory (`~/.cache/sea-build` on Linux, `~/Library/Caches/sea-build` on macOS,
    /// `%LOCALAPPDATA%\sea-build` on Windows).
    pub fn from_env(env: &Env) -> Result<Cache> {
        if let Some(root) = env.var("SEA_BUILD_CACHE_DIR") {
            return Ok(Cache::new(root));
        }
        let base = dirs::cache_dir().context("found no per-user cache directory: set SEA_BUILD_CACHE_DIR to a directory sea-build may use")?;
        let base = Utf8PathBuf::from_path_buf(base).map_err(|p| anyhow::anyhow!("the cache directory {} is not UTF-8: set SEA_BUILD_CACHE_DIR", p.display()))?;
        Ok(Cache::new(base.join("sea-build")))
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    fn entry_dir(&self, key: &EntryKey, platform: Platform) -> Utf8PathBuf {
        self.root.join("node").join(key.dir_name()).join(platform.node_name())
    }

    /// Where the binary of an entry lives (whether or not it is there yet).
    pub fn binary_path(&self, version: Version, platform: Platform) -> Utf8PathBuf {
        self.entry_dir(&EntryKey::Release(version), platform).join(platform.exe_name())
    }

    /// Looks an entry up, re-hashing the binary so that a damaged file is never trusted.
    pub(crate) fn lookup(&self, key: &EntryKey, platform: Platform) -> Result<Lookup> {
        let dir = self.entry_dir(key, platform);
        let record_path = dir.join(RECORD);
        let text = match fs::read_to_string(&record_path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Lookup::Miss),
            Err(error) => return Err(error).with_context(|| format!("could not read {record_path}")),
        };
        let record = match CacheRecord::parse(&text, &record_path) {
            Ok(record) => record,
            Err(error) => return Ok(Lookup::Corrupt(format!("{error:#}"))),
        };
        let binary = dir.join(platform.exe_name());
        let actual = match sha256_file(&binary) {
            Ok(actual) => actual,
            Err(error) => return Ok(Lookup::Corrupt(format!("{error:#}"))),
        };
        if actual != record.binary_sha256 {
            return Ok(Lookup::Corrupt(format!("{binary} hashes to {actual}, but {record_path} records {}", record.binary_sha256)));
        }
        Ok(Lookup::Hit { record, binary })
    }

    /// The versions cached for `platform`, complete entries only (unverified: [`Cache::lookup`]
    /// verifies the one chosen).
    pub(crate) fn versions(&self, platform: Platform) -> Vec<Version> {
        let Ok(dirs) = fs::read_dir(self.root.join("node")) else { return Vec::new() };
        dirs.filter_map(|dir| {
            let dir = dir.ok()?;
            let version: Version = dir.file_name().to_str()?.parse().ok()?;
            dir.path().join(platform.node_name()).join(RECORD).is_file().then_some(version)
        })
        .collect()
    }

    /// Takes the exclusive lock of an entry, waiting for other processes and threads that hold
    /// it, and sweeps temporary files an interrupted writer left behind.
    pub(crate) fn lock(&self, key: &EntryKey, platform: Platform) -> Result<EntryLock> {
        let dir = self.entry_dir(key, platform);
        fs::create_dir_all(&dir).with_context(|| format!("could not create the cache directory {dir}: set SEA_BUILD_CACHE_DIR to a writable directory"))?;
        let lock_path = dir.with_extension("lock");
        let file = File::options().create(true).truncate(false).write(true).open(&lock_path).with_context(|| format!("could not open the lock file {lock_path}"))?;
        file.lock().with_context(|| format!("could not lock {lock_path}"))?;
        let lock = EntryLock { _file: file, dir };
        lock.sweep()?;
        Ok(lock)
    }
}

/// Exclusive access to one cache entry; released on drop.
pub(crate) struct EntryLock {
    _file: File,
    dir: Utf8PathBuf,
}

impl EntryLock {
    fn sweep(&self) -> Result<()> {
        for entry in fs::read_dir(&self.dir).with_context(|| format!("could not list {}", self.dir))? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let path = entry.path();
                fs::remove_file(&path).with_context(|| format!("could not remove the stale temporary file {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// A temporary file inside the entry, deleted on drop unless persisted.
    pub(crate) fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(&self.dir).with_context(|| format!("could not create a temporary file in {}", self.dir))
    }

    /// Removes a damaged entry's record so it is rebuilt.
    pub(crate) fn invalidate(&self) -> Result<()> {
        match fs::remove_file(self.dir.join(RECORD)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error).with_context(|| format!("could not remove {}", self.dir.join(RECORD))),
            _ => Ok(()),
        }
    }

    /// Moves a verified binary (and license) into place and writes the record last.
    pub(crate) fn install(&self, platform: Platform, binary: tempfile::NamedTempFile, license: Option<tempfile::NamedTempFile>, record: &CacheRecord) -> Result<Utf8PathBuf> {
        let binary_path = self.dir.join(platform.exe_name());
        persist(binary, &binary_path, true)?;
        if let Some(license) = license {
            persist(license, &self.dir.join("LICENSE"), false)?;
        }
        let mut record_file = self.temp_file()?;
        record_file.write_all(toml::to_string(record).context("could not encode the cache record")?.as_bytes())?;
        persist(record_file, &self.dir.join(RECORD), false)?;
        Ok(binary_path)
    }
}
