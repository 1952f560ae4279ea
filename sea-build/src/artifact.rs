//! What a build produces: the artifact, the manifest written beside it, and how a reader
//! finds one from the other.

use std::io::Write;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::node::NodeBinary;
use crate::runtime::Execution;

/// Whether the artifact accepted its code cache when run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheAccepted {
    /// It ran without the rejection warning.
    Yes,
    /// It printed the rejection warning.
    No,
    /// The artifact cannot run on this machine, so nobody could check.
    NotRunnableHere,
    /// The artifact carries no code cache.
    NoCache,
}

impl std::fmt::Display for CacheAccepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CacheAccepted::Yes => "yes",
            CacheAccepted::No => "no",
            CacheAccepted::NotRunnableHere => "not runnable here",
            CacheAccepted::NoCache => "no cache",
        })
    }
}

/// The JSON manifest written beside each artifact (`<name>.sea.json`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    /// The SEA's name.
    pub name: String,
    /// The Rust target triple.
    pub target: String,
    /// The Node platform name.
    pub platform: String,
    /// The node version built from.
    pub node_version: crate::node::Version,
    /// Where that node came from.
    pub node_source: String,
    /// SHA-256 of the node binary built from.
    pub node_sha256: String,
    /// SHA-256 of the artifact.
    pub artifact_sha256: String,
    /// Whether a V8 code cache is embedded.
    pub code_cache_embedded: bool,
    /// Whether the artifact accepted it when run here.
    pub cache_accepted: CacheAccepted,
    /// Why no code cache is embedded although the SEA asks for one, when that is so for a
    /// reason other than the target not running here (`vfs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_cache_omitted: Option<String>,
    /// SHA-256 of the bundle, when `main` was bundled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_sha256: Option<String>,
    /// How the run-time check ran before the artifact was published (with `verify-args`,
    /// exiting 0): natively, under Wine or qemu (which, and its version), or not at all (and
    /// why).
    #[serde(default)]
    pub run_time_check: Execution,
    /// Whether NODE_OPTIONS is kept from extending exec-argv (node 22.20+/24.7+).
    pub node_options_guard: bool,
    /// Arguments for the run-time cache check.
    pub verify_args: Vec<String>,
    /// Whether the artifact starts from a V8 startup snapshot (`use-snapshot`), made by the
    /// target's own node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub startup_snapshot: bool,
    /// How many bytes of node's symbol tables (and ELF debug sections) `strip` left out, when
    /// it did: absent with `strip = false` and for Windows artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripped_bytes: Option<u64>,
    /// With `icu` locales: what was asked for and how much of node's ICU data was left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_trimmed: Option<IcuTrimmed>,
    /// The release archive written next to the artifact (`archive`), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveRecord>,
    /// Whether the embedded code cache was trained (`code-cache = "trained"`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub code_cache_trained: bool,
    /// The mounted package, when the program ships as its files (see [`crate::mount`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounted: Option<Mounted>,
}

/// node's ICU data trimmed to some locales (`icu = [...]`), in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IcuTrimmed {
    /// The locales asked for (each kept with its sublocales and parents).
    pub locales: Vec<String>,
    /// How many locale data files were left out.
    pub removed_items: usize,
    /// How many bytes of the ICU data package are zeros now (holes on disk where the file
    /// system allows).
    pub freed_bytes: u64,
/// The release archive of an artifact, in the manifest (see [`crate::release`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArchiveRecord {
    /// Its file name, in the artifact's directory: `<name>-<platform>.tar.xz` or `.zip`.
    pub file: String,
    /// Its SHA-256, in hex.
    pub sha256: String,
    /// Its length in bytes.
    pub bytes: u64,
}

/// What a mounted package holds, in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Mounted {
    /// How many files.
    pub files: usize,
    /// Their bytes in all.
    pub bytes: u64,
    /// With `compress`: the bytes they take in the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed: Option<u64>,
    /// Whether its CommonJS modules carry code caches made by the target's node.
    pub module_caches: bool,
}

/// A built SEA.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The executable.
    pub path: Utf8PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The node it was built from.
    pub node: NodeBinary,
    /// The esbuild that bundled `main`, when it was bundled.
    pub bundler: Option<crate::bundle::esbuild::Esbuild>,
    /// Every package file the artifact is made from, package-relative.
    pub inputs: Vec<Utf8PathBuf>,
}

/// How big a file is, and how much of the disk it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSizes {
    /// Its length in bytes.
    pub len: u64,
    /// The bytes of the blocks the file system allocated for it (less than `len` for a sparse
    /// file, more for a file with a partial last block); `len` where that is not known.
    pub on_disk: u64,
}

impl FileSizes {
    /// The sizes of the file at `path`.
    ///
    /// ```
    /// let temp = tempfile::tempdir()?;
    /// let path = camino::Utf8PathBuf::from_path_buf(temp.path().join("a")).unwrap();
    /// std::fs::write(&path, vec![1u8; 10_000])?;
    /// let sizes = sea_build::artifact::FileSizes::of(&path)?;
    /// assert_eq!(sizes.len, 10_000);
    /// # anyhow::Ok(())
    /// ```
    pub fn of(path: &Utf8Path) -> std::io::Result<FileSizes> {
        let metadata = std::fs::metadata(path)?;
        #[cfg(unix)]
        let on_disk = std::os::unix::fs::MetadataExt::blocks(&metadata) * 512;
        #[cfg(not(unix))]
        let on_disk = metadata.len();
        Ok(FileSizes { len: metadata.len(), on_disk })
    }
}

/// The manifest path of an artifact: `hello` → `hello.sea.json`, `hello.exe` → `hello.sea.json`.
pub fn manifest_path(artifact: &Utf8Path) -> Utf8PathBuf {
    let stem = artifact.file_name().map(|name| name.strip_suffix(".exe").unwrap_or(name)).unwrap_or("sea");
    artifact.with_file_name(format!("{stem}.sea.json"))
}

/// The artifact a manifest at `manifest` describes, when it is there: `hello.sea.json` →
/// `hello` or `hello.exe`. `None` when a build was interrupted between publishing the
/// manifest and the artifact.
pub fn published_artifact(manifest: &Utf8Path) -> Option<Utf8PathBuf> {
    let stem = manifest.as_str().strip_suffix(".sea.json")?;
    [format!("{stem}.exe"), stem.to_owned()].into_iter().map(Utf8PathBuf::from).find(|path| path.is_file())
}

/// Moves the finished artifact `output` to `path` and writes its manifest beside it, so that
/// at every moment, a kill included, an artifact at `path` has a manifest describing it:
/// the old artifact is removed first, then the new manifest is renamed into place, then the
/// artifact. An interrupted publish leaves at most a manifest without its artifact, which
/// readers ignore ([`published_artifact`]) and the next build replaces.
pub(crate) fn publish(output: tempfile::TempPath, path: &Utf8Path, manifest: &Manifest) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(manifest)?;
    json.push(b'\n');
    let mut manifest_file = crate::publish::partial_file(crate::publish::dir_of(path), "")?;
    manifest_file.write_all(&json).with_context(|| format!("could not write the manifest of {path}"))?;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("could not remove the previous artifact {path}")),
    }
    let manifest_at = manifest_path(path);
    manifest_file.persist(&manifest_at).with_context(|| format!("could not move the manifest into place at {manifest_at}"))?;
    output.persist(path).with_context(|| format!("could not move the finished artifact to {path}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            name: "app".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            platform: "linux-x64".into(),
            node_version: crate::node::Version::new(24, 21, 0),
            node_source: "npm".into(),
            node_sha256: "aa".repeat(32),
            artifact_sha256: "bb".repeat(32),
            code_cache_embedded: true,
            cache_accepted: CacheAccepted::Yes,
            code_cache_omitted: None,
            bundle_sha256: None,
            run_time_check: Execution::Native,
            node_options_guard: true,
            verify_args: Vec::new(),
            startup_snapshot: false,
            stripped_bytes: None,
            icu_trimmed: None,
            archive: None,
            code_cache_trained: false,
            mounted: None,
        }
    }

    fn finished_artifact(dir: &Utf8Path, bytes: &[u8]) -> tempfile::TempPath {
        let mut file = crate::publish::partial_file(dir, "").unwrap();
        file.write_all(bytes).unwrap();
        file.into_temp_path()
    }

    #[test]
    fn an_artifact_is_never_published_without_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let path = dir.join("app");
        std::fs::write(&path, b"the previous build").unwrap();
        // The manifest cannot be written (a directory stands at its path): the new artifact
        // must not be published, and the previous one, whose manifest is now gone, neither.
        std::fs::create_dir(manifest_path(&path)).unwrap();
        assert!(publish(finished_artifact(dir, b"new"), &path, &manifest()).is_err());
        assert!(!path.exists(), "an artifact without its manifest was left at {path}");

        std::fs::remove_dir(manifest_path(&path)).unwrap();
        publish(finished_artifact(dir, b"new"), &path, &manifest()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(published_artifact(&manifest_path(&path)), Some(path.clone()));
        let written: Manifest = serde_json::from_slice(&std::fs::read(manifest_path(&path)).unwrap()).unwrap();
        assert_eq!(written, manifest());
    }
}
