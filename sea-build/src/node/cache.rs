//! The per-user cache of verified node binaries.
//!
//! Layout: `<root>/node/v<version>/<platform>/{node,LICENSE,entry.toml,verified.toml}`. An
//! entry is trusted only when `entry.toml` exists and the binary hashes to what it records.
//! Hashing 120 MB on every build is the one slow step of a warm build, so when the binary is
//! verified (installed, or re-hashed), `verified.toml` records the file's stamp: size,
//! modification and change times, inode and device (Unix). A later lookup whose binary still
//! has that stamp trusts the verification instead of reading the binary; any difference (a
//! rewrite changes the change time, which no program can set) re-hashes it, and so does
//! [`NodeFetcher::verify_cache`](super::NodeFetcher::verify_cache) (`verify-cache`,
//! `sea --verify`) always. The stamp also keeps the offset of the SEA fuse found while
//! verifying, so injection does not search the binary again. Writers hold an
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
use crate::publish::persist;

/// Prefix of every temporary file in the cache; the sweeper deletes only these.
const TEMP_PREFIX: &str = ".partial-";
/// Node's licence, as its archives name it, in an entry.
pub(crate) const LICENSE: &str = "LICENSE";
const RECORD: &str = "entry.toml";
const STAMP: &str = "verified.toml";

/// The cache of verified node binaries.
///
/// ```
/// use sea_build::{Env, node::Cache};
/// let cache = Cache::from_env(&Env::from_process().with_var("SEA_BUILD_CACHE_DIR", "/tmp/sea-cache"))?;
/// assert_eq!(cache.root(), "/tmp/sea-cache");
/// # Ok::<(), sea_build::Error>(())
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
    /// SHA-256 of node's `LICENSE`, kept beside the binary when the archive had one. Entries
    /// cached before sea-build kept it record none: their LICENSE is not vouched for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_sha256: Option<String>,
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
    /// # Ok::<(), sea_build::Error>(())
    /// ```
    pub fn parse(text: &str, path: &Utf8Path) -> crate::Result<CacheRecord> {
        Ok(toml::from_str(text).with_context(|| format!("{path} is unreadable"))?)
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

/// What `verified.toml` says: the binary with this SHA-256 was verified while it had this
/// file stamp, and its unset SEA fuse is at this offset.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Stamp {
    binary_sha256: String,
    /// [`file_stamp`] of the binary when it was verified.
    file: String,
    /// The offset of the state byte of the binary's unset fuse, when it has exactly one.
    fuse_offset: Option<u64>,
}

/// Size, modification and change times (nanoseconds), inode and device of a file: what
/// changes when the file is rewritten, replaced or copied. The change time cannot be set by
/// any program, so a rewrite that restores the modification time still shows. `None` where
/// the platform does not give all of them (Windows), so there the binary is always re-hashed.
#[cfg(unix)]
fn file_stamp(metadata: &fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    Some(format!(
        "size {} mtime {}.{:09} ctime {}.{:09} inode {} device {}",
        metadata.size(),
        metadata.mtime(),
        metadata.mtime_nsec(),
        metadata.ctime(),
        metadata.ctime_nsec(),
        metadata.ino(),
        metadata.dev()
    ))
}

/// No stamp where the platform gives no inode: the binary is hashed on every use.
#[cfg(not(unix))]
fn file_stamp(_metadata: &fs::Metadata) -> Option<String> {
    None
}

/// A reader that hashes what it reads and notes whether it reached the end.
struct HashingReader<R> {
    inner: R,
    sha256: crate::digest::Sha256,
    at_end: bool,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.sha256.update(&buffer[..read]);
        self.at_end |= read == 0 && !buffer.is_empty();
        Ok(read)
    }
}

/// Reads `file` once: its SHA-256 (hex) and the offset of its unset fuse, if it has one.
fn hash_and_find_fuse(file: &File, path: &Utf8Path) -> Result<(String, Option<u64>)> {
    let mut reader = HashingReader { inner: file, sha256: crate::digest::Sha256::new(), at_end: false };
    // The search reads to the end unless reading fails; a binary without a (single, unset)
    // fuse is still a valid entry, for node releases older than SEA support.
    let fuse = crate::inject::fuse::find_fuse_in(&mut reader);
    if !reader.at_end {
        let error = fuse.err().map_or_else(|| "it ended early".to_owned(), |error| format!("{error:#}"));
        anyhow::bail!("could not read {path} to verify it: {error}");
    }
    let offset = match fuse {
        Ok(crate::inject::fuse::FuseState::Unset { offset }) => Some(offset as u64),
        _ => None,
    };
    Ok((reader.sha256.finish_hex(), offset))
}

/// Records that `binary` (open as `file`) was verified to hash to `binary_sha256`. Best
/// effort: without a stamp the next lookup hashes again, so a read-only cache still works.
fn write_stamp(dir: &Utf8Path, file: &File, binary_sha256: &str, fuse_offset: Option<u64>) {
    let Some(stamp) = file.metadata().ok().as_ref().and_then(file_stamp) else { return };
    let Ok(text) = toml::to_string(&Stamp { binary_sha256: binary_sha256.to_owned(), file: stamp, fuse_offset }) else { return };
    // Not flushed to disk: after a crash a stamp is either whole or unreadable, and an
    // unreadable one means hashing again.
    if let Ok(mut temp) = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)
        && temp.write_all(text.as_bytes()).is_ok()
    {
        let _ = temp.persist(dir.join(STAMP));
    }
}

/// Why the `LICENSE` of the entry in `dir` cannot be trusted, when its record vouches for one
/// and the file is missing or differs.
fn license_damage(dir: &Utf8Path, record: &CacheRecord, record_path: &Utf8Path) -> Option<String> {
    let expected = record.license_sha256.as_deref()?;
    let path = dir.join(LICENSE);
    match crate::digest::sha256_file(&path) {
        Ok(actual) if actual == expected => None,
        Ok(actual) => Some(format!("{path} hashes to {actual}, but {record_path} records {expected}")),
        Err(error) => Some(format!("could not read {path}, which {record_path} records: {error:#}")),
    }
}

/// The result of looking an entry up.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A complete entry whose binary matches its record; with its fuse offset when known.
    Hit { record: CacheRecord, binary: Utf8PathBuf, fuse_offset: Option<u64> },
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
    pub fn from_env(env: &Env) -> crate::Result<Cache> {
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

    /// Looks an entry up. The binary is trusted without reading it when it still has the file
    /// stamp recorded when it was last verified; otherwise (and always when `rehash`) it is
    /// hashed again, so a damaged or replaced file is never trusted.
    pub(crate) fn lookup(&self, key: &EntryKey, platform: Platform, rehash: bool) -> Result<Lookup> {
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
        let file = match File::open(&binary) {
            Ok(file) => file,
            Err(error) => return Ok(Lookup::Corrupt(format!("could not open {binary}: {error}"))),
        };
        let before = file.metadata().ok().as_ref().and_then(file_stamp);
        if !rehash
            && let Some(stamp) = fs::read_to_string(dir.join(STAMP)).ok().and_then(|text| toml::from_str::<Stamp>(&text).ok())
            && stamp.binary_sha256 == record.binary_sha256
            && before.as_ref() == Some(&stamp.file)
        {
            // The licence is small: always hashed.
            if let Some(why) = license_damage(&dir, &record, &record_path) {
                return Ok(Lookup::Corrupt(why));
            }
            return Ok(Lookup::Hit { record, binary, fuse_offset: stamp.fuse_offset });
        }
        let (actual, fuse_offset) = match hash_and_find_fuse(&file, &binary) {
            Ok(found) => found,
            Err(error) => return Ok(Lookup::Corrupt(format!("{error:#}"))),
        };
        if actual != record.binary_sha256 {
            return Ok(Lookup::Corrupt(format!("{binary} hashes to {actual}, but {record_path} records {}", record.binary_sha256)));
        }
        if let Some(why) = license_damage(&dir, &record, &record_path) {
            return Ok(Lookup::Corrupt(why));
        }
        // Stamped only when nothing changed the file while it was read.
        if before.is_some() && before == file.metadata().ok().as_ref().and_then(file_stamp) {
            write_stamp(&dir, &file, &actual, fuse_offset);
        }
        Ok(Lookup::Hit { record, binary, fuse_offset })
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

    /// Moves a verified binary (and license) into place and writes the record last; the
    /// binary's stamp records it as verified, with its fuse offset.
    pub(crate) fn install(&self, platform: Platform, binary: tempfile::NamedTempFile, license: Option<tempfile::NamedTempFile>, record: &CacheRecord, fuse_offset: Option<u64>) -> Result<Utf8PathBuf> {
        let binary_path = self.dir.join(platform.exe_name());
        persist(binary, &binary_path, true)?;
        if let Ok(file) = File::open(&binary_path) {
            write_stamp(&self.dir, &file, &record.binary_sha256, fuse_offset);
        }
        if let Some(license) = license {
            persist(license, &self.dir.join(LICENSE), false)?;
        }
        let mut record_file = self.temp_file()?;
        record_file.write_all(toml::to_string(record).context("could not encode the cache record")?.as_bytes())?;
        persist(record_file, &self.dir.join(RECORD), false)?;
        Ok(binary_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::fuse::FUSE_SENTINEL;

    const PLATFORM: &str = "linux-x64";

    /// A fake node binary: filler, one unset fuse, filler.
    fn binary(filler: u8) -> Vec<u8> {
        let mut bytes = vec![filler; 3000];
        bytes.extend_from_slice(FUSE_SENTINEL.as_bytes());
        bytes.extend_from_slice(b":0");
        bytes.extend(std::iter::repeat_n(filler, 5000));
        bytes
    }

    /// A cache in a new directory holding one complete entry for `bytes`, installed the way a
    /// download installs it.
    fn cache_with(bytes: &[u8]) -> (tempfile::TempDir, Cache, EntryKey, Platform, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Utf8Path::from_path(dir.path()).unwrap());
        let platform: Platform = PLATFORM.parse().unwrap();
        let version = Version::new(24, 21, 0);
        let key = EntryKey::Release(version);
        let entry = cache.lock(&key, platform).unwrap();
        let mut temp = entry.temp_file().unwrap();
        temp.write_all(bytes).unwrap();
        let record = CacheRecord {
            version,
            target: PLATFORM.to_owned(),
            source: "dist".to_owned(),
            url: "archive".to_owned(),
            archive_sha256: "aa".repeat(32),
            binary_sha256: crate::digest::sha256_hex(bytes),
            license_sha256: None,
        };
        let fuse_offset = crate::inject::fuse::find_fuse(bytes).unwrap().offset() as u64;
        let path = entry.install(platform, temp, None, &record, Some(fuse_offset)).unwrap();
        (dir, cache, key, platform, path)
    }

    /// Rewrites `path` in place with `bytes` and gives it a modification time 7 s later.
    fn rewrite(path: &Utf8Path, bytes: &[u8]) {
        let old = fs::metadata(path).unwrap();
        let mut file = File::options().write(true).open(path).unwrap();
        file.write_all(bytes).unwrap();
        file.set_modified(old.modified().unwrap() + std::time::Duration::from_secs(7)).unwrap();
        drop(file);
        let new = fs::metadata(path).unwrap();
        assert_eq!(new.len(), old.len(), "the rewrite keeps the size");
        assert_ne!(new.modified().unwrap(), old.modified().unwrap(), "the rewrite changes the modification time");
    }

    #[test]
    fn a_verified_entry_is_trusted_by_its_stamp_with_its_fuse_offset() {
        let bytes = binary(b'n');
        let (_dir, cache, key, platform, path) = cache_with(&bytes);
        let stamp: Stamp = toml::from_str(&fs::read_to_string(path.with_file_name(STAMP)).unwrap()).unwrap();
        assert_eq!(stamp.binary_sha256, crate::digest::sha256_hex(&bytes));
        let expected = Some(3000 + FUSE_SENTINEL.len() as u64 + 1);
        assert_eq!(stamp.fuse_offset, expected);
        match cache.lookup(&key, platform, false).unwrap() {
            Lookup::Hit { binary, fuse_offset, .. } => assert_eq!((binary, fuse_offset), (path.clone(), expected)),
            other => panic!("expected a hit, got {other:?}"),
        }
        // Without a stamp the binary is hashed (and searched) again, and stamped anew.
        fs::remove_file(path.with_file_name(STAMP)).unwrap();
        assert!(matches!(cache.lookup(&key, platform, false).unwrap(), Lookup::Hit { fuse_offset, .. } if fuse_offset == expected));
        assert!(path.with_file_name(STAMP).is_file(), "re-verifying records a new stamp");
    }

    #[test]
    fn a_binary_rewritten_on_disk_is_verified_again_and_refused() {
        let (_dir, cache, key, platform, path) = cache_with(&binary(b'n'));
        assert!(matches!(cache.lookup(&key, platform, false).unwrap(), Lookup::Hit { .. }));
        // Same size, other content, a new modification time: the stamp no longer matches.
        rewrite(&path, &binary(b'x'));
        match cache.lookup(&key, platform, false).unwrap() {
            Lookup::Corrupt(why) => assert!(why.contains("hashes to") && why.contains(path.as_str()), "{why}"),
            other => panic!("a changed binary must be refused, got {other:?}"),
        }
        // And it stays refused: a failed verification records no stamp.
        assert!(matches!(cache.lookup(&key, platform, false).unwrap(), Lookup::Corrupt(_)));
    }

    #[test]
    fn a_licence_is_kept_verified_like_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Utf8Path::from_path(dir.path()).unwrap());
        let platform: Platform = PLATFORM.parse().unwrap();
        let key = EntryKey::Release(Version::new(24, 21, 0));
        let entry = cache.lock(&key, platform).unwrap();
        let bytes = binary(b'n');
        let mut temp = entry.temp_file().unwrap();
        temp.write_all(&bytes).unwrap();
        let license_text = b"Node.js is licensed for use as follows:\n";
        let mut license = entry.temp_file().unwrap();
        license.write_all(license_text).unwrap();
        let record = CacheRecord {
            version: Version::new(24, 21, 0),
            target: PLATFORM.to_owned(),
            source: "dist".to_owned(),
            url: "archive".to_owned(),
            archive_sha256: "aa".repeat(32),
            binary_sha256: crate::digest::sha256_hex(&bytes),
            license_sha256: Some(crate::digest::sha256_hex(license_text)),
        };
        let path = entry.install(platform, temp, Some(license), &record, None).unwrap();
        drop(entry);
        assert!(matches!(cache.lookup(&key, platform, false).unwrap(), Lookup::Hit { .. }));
        // A changed licence is refused even while the binary's stamp vouches for the binary.
        fs::write(path.with_file_name(LICENSE), b"something else").unwrap();
        match cache.lookup(&key, platform, false).unwrap() {
            Lookup::Corrupt(why) => assert!(why.contains("LICENSE hashes to"), "{why}"),
            other => panic!("a changed LICENSE must be refused, got {other:?}"),
        }
        fs::remove_file(path.with_file_name(LICENSE)).unwrap();
        assert!(matches!(cache.lookup(&key, platform, true).unwrap(), Lookup::Corrupt(why) if why.contains("could not read")));
    }

    #[test]
    fn verify_cache_hashes_even_when_the_stamp_matches() {
        let (_dir, cache, key, platform, path) = cache_with(&binary(b'n'));
        rewrite(&path, &binary(b'x'));
        // A stamp that lies: it vouches for the damaged file as it is now.
        let record = CacheRecord::parse(&fs::read_to_string(path.with_file_name(RECORD)).unwrap(), &path).unwrap();
        write_stamp(path.parent().unwrap(), &File::open(&path).unwrap(), &record.binary_sha256, None);
        assert!(matches!(cache.lookup(&key, platform, false).unwrap(), Lookup::Hit { .. }), "the stamp is trusted without reading the binary");
        assert!(matches!(cache.lookup(&key, platform, true).unwrap(), Lookup::Corrupt(_)), "re-hashing finds the damage");
    }
}
