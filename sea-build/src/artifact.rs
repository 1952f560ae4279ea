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
    /// The licence of the node the artifact carries, as an SPDX expression: node is `MIT`
    /// (its bundled dependencies' notices are in its LICENSE file). A release must include it.
    #[serde(default = "node_spdx")]
    pub node_license: String,
    /// The file beside the artifact holding node's LICENSE (`<name>.node-LICENSE`), when the
    /// node came from a release archive that had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_license_file: Option<String>,
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

/// Node's licence as an SPDX expression.
pub const NODE_SPDX: &str = "MIT";

fn node_spdx() -> String {
    NODE_SPDX.to_owned()
}

/// The name of the copy of node's LICENSE published beside artifact `name` (without `.exe`).
///
/// ```
/// assert_eq!(sea_build::artifact::license_file_name("hello"), "hello.node-LICENSE");
/// ```
pub fn license_file_name(name: &str) -> String {
    format!("{name}.node-LICENSE")
}

/// node's ICU data trimmed to some locales (`icu = [...]`), in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IcuTrimmed {
    /// The locales asked for (each kept with its sublocales and parents).
    pub locales: Vec<String>,
    /// How many data files were left out: locales' and charset converters'.
    pub removed_items: usize,
    /// How many of those were charset converters (those node cannot open).
    #[serde(default)]
    pub removed_converters: usize,
    /// How many bytes of the ICU data package are zeros now (holes on disk where the file
    /// system allows).
    pub freed_bytes: u64,
}

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
    /// The copy placed as a sidecar (`sidecar-dir`), when one was asked for.
    pub sidecar: Option<Utf8PathBuf>,
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
    artifact.with_file_name(format!("{}.sea.json", artifact_stem(artifact)))
}

/// The artifact a manifest at `manifest` describes, when it is there: `hello.sea.json` →
/// `hello` or `hello.exe`. `None` when a build was interrupted between publishing the
/// manifest and the artifact.
pub fn published_artifact(manifest: &Utf8Path) -> Option<Utf8PathBuf> {
    let stem = manifest.as_str().strip_suffix(".sea.json")?;
    [format!("{stem}.exe"), stem.to_owned()].into_iter().map(Utf8PathBuf::from).find(|path| path.is_file())
}

/// Moves the finished artifact `output` to `path` and writes its manifest (and node's LICENSE,
/// from `license`) beside it, so that at every moment, a kill included, an artifact at `path`
/// has a manifest describing it: the licence is put in place first, then the old artifact is
/// removed, then the new manifest is renamed into place, then the artifact. An interrupted
/// publish leaves at most a manifest without its artifact, which readers ignore
/// ([`published_artifact`]) and the next build replaces. The manifest and the licence are
/// readable by everyone (0644), like the artifact.
pub(crate) fn publish(output: tempfile::TempPath, path: &Utf8Path, manifest: &Manifest, license: Option<&Utf8Path>) -> Result<()> {
    let dir = crate::publish::dir_of(path);
    let stem = artifact_stem(path);
    let mut manifest = manifest.clone();
    let license_at = dir.join(license_file_name(stem));
    match license {
        Some(source) => {
            let mut copy = crate::publish::partial_file(dir, "")?;
            let mut text = std::fs::File::open(source).with_context(|| format!("could not open node's LICENSE at {source}"))?;
            std::io::copy(&mut text, copy.as_file_mut()).with_context(|| format!("could not copy node's LICENSE to {license_at}"))?;
            crate::fsutil::make_readable(Utf8Path::from_path(copy.path()).context("the output directory is not UTF-8")?)?;
            copy.persist(&license_at).with_context(|| format!("could not move node's LICENSE into place at {license_at}"))?;
            manifest.node_license_file = Some(license_file_name(stem));
        }
        None => {
            manifest.node_license_file = None;
            remove_if_there(&license_at)?;
        }
    }
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    let mut manifest_file = crate::publish::partial_file(dir, "")?;
    manifest_file.write_all(&json).with_context(|| format!("could not write the manifest of {path}"))?;
    crate::fsutil::make_readable(Utf8Path::from_path(manifest_file.path()).context("the output directory is not UTF-8")?)?;
    remove_if_there(path).with_context(|| format!("could not remove the previous artifact {path}"))?;
    let manifest_at = manifest_path(path);
    manifest_file.persist(&manifest_at).with_context(|| format!("could not move the manifest into place at {manifest_at}"))?;
    output.persist(path).with_context(|| format!("could not move the finished artifact to {path}"))?;
    Ok(())
}

/// `hello` for `dir/hello` and `dir/hello.exe`.
fn artifact_stem(artifact: &Utf8Path) -> &str {
    artifact.file_name().map(|name| name.strip_suffix(".exe").unwrap_or(name)).unwrap_or("sea")
}

fn remove_if_there(path: &Utf8Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error).with_context(|| format!("could not remove {path}")),
        _ => Ok(()),
    }
}

/// The name Tauri expects of a sidecar (an `externalBin`) built for Rust target `triple`:
/// `<name>-<triple>`, plus `.exe` for Windows.
///
/// ```
/// use sea_build::artifact::sidecar_file_name;
/// assert_eq!(sidecar_file_name("greeter", "aarch64-apple-darwin"), "greeter-aarch64-apple-darwin");
/// assert_eq!(sidecar_file_name("greeter", "x86_64-pc-windows-msvc"), "greeter-x86_64-pc-windows-msvc.exe");
/// ```
pub fn sidecar_file_name(name: &str, triple: &str) -> String {
    let exe = if triple.contains("-windows-") { ".exe" } else { "" };
    format!("{name}-{triple}{exe}")
}

/// Places a copy of the published artifact at `artifact` in `dir` as a sidecar,
/// `dir/<name>-<triple>[.exe]` (see [`sidecar_file_name`]), with its manifest and node's
/// LICENSE, published the way the artifact was (a temporary file renamed into place).
pub(crate) fn place_sidecar(artifact: &Utf8Path, manifest: &Manifest, license: Option<&Utf8Path>, dir: &Utf8Path) -> Result<Utf8PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create the sidecar directory {dir}"))?;
    let path = dir.join(sidecar_file_name(&manifest.name, &manifest.target));
    let exe_suffix = if path.as_str().ends_with(".exe") { ".exe" } else { "" };
    let mut copy = crate::publish::partial_file(dir, exe_suffix)?;
    let mut source = std::fs::File::open(artifact).with_context(|| format!("could not open {artifact}"))?;
    std::io::copy(&mut source, copy.as_file_mut()).with_context(|| format!("could not copy {artifact} to {path}"))?;
    let copy = crate::publish::close_executable(copy)?;
    publish(copy, &path, manifest, license)?;
    Ok(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A manifest of an app for linux-x64, for tests of what reads manifests.
    pub(crate) fn manifest() -> Manifest {
        Manifest {
            name: "app".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            platform: "linux-x64".into(),
            node_version: crate::node::Version::new(24, 21, 0),
            node_source: "npm".into(),
            node_sha256: "aa".repeat(32),
            node_license: NODE_SPDX.into(),
            node_license_file: None,
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
        assert!(publish(finished_artifact(dir, b"new"), &path, &manifest(), None).is_err());
        assert!(!path.exists(), "an artifact without its manifest was left at {path}");

        std::fs::remove_dir(manifest_path(&path)).unwrap();
        publish(finished_artifact(dir, b"new"), &path, &manifest(), None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(published_artifact(&manifest_path(&path)), Some(path.clone()));
        let written: Manifest = serde_json::from_slice(&std::fs::read(manifest_path(&path)).unwrap()).unwrap();
        assert_eq!(written, manifest());
    }

    #[cfg(unix)]
    fn mode(path: &Utf8Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_manifest_and_licence_are_readable_like_the_artifact_and_the_licence_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let license = dir.join("LICENSE-from-the-cache");
        std::fs::write(&license, b"Node.js is licensed for use as follows:\n").unwrap();
        let path = dir.join("app");
        let output = finished_artifact(dir, b"artifact");
        crate::fsutil::make_executable(Utf8Path::from_path(&output).unwrap()).unwrap();
        publish(output, &path, &manifest(), Some(&license)).unwrap();
        let written: Manifest = serde_json::from_slice(&std::fs::read(manifest_path(&path)).unwrap()).unwrap();
        assert_eq!((written.node_license.as_str(), written.node_license_file.as_deref()), ("MIT", Some("app.node-LICENSE")));
        assert_eq!(std::fs::read(dir.join("app.node-LICENSE")).unwrap(), std::fs::read(&license).unwrap());
        #[cfg(unix)]
        assert_eq!([mode(&path), mode(&manifest_path(&path)), mode(&dir.join("app.node-LICENSE"))], [0o755, 0o644, 0o644]);

        // Rebuilt from a node without a LICENSE: the stale copy goes, and the manifest says so.
        publish(finished_artifact(dir, b"again"), &path, &manifest(), None).unwrap();
        assert!(!dir.join("app.node-LICENSE").exists());
        let written: Manifest = serde_json::from_slice(&std::fs::read(manifest_path(&path)).unwrap()).unwrap();
        assert_eq!(written.node_license_file, None);
    }

    #[test]
    fn a_sidecar_is_named_as_tauri_expects_with_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let path = dir.join("app");
        publish(finished_artifact(dir, b"artifact"), &path, &manifest(), None).unwrap();
        let sidecar = place_sidecar(&path, &manifest(), None, &dir.join("binaries")).unwrap();
        assert_eq!(sidecar, dir.join("binaries/app-x86_64-unknown-linux-gnu"));
        assert_eq!(std::fs::read(&sidecar).unwrap(), b"artifact");
        assert_eq!(published_artifact(&dir.join("binaries/app-x86_64-unknown-linux-gnu.sea.json")), Some(sidecar.clone()));
        let names: Vec<String> = std::fs::read_dir(dir.join("binaries")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names.len(), 2, "only the sidecar and its manifest, no temporary file: {names:?}");
    }
}
