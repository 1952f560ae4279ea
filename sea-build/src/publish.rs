//! Putting finished files at their final paths, the one way sea-build does it: write a
//! `.partial-*` temporary file beside the destination, then rename it into place. Readers see
//! the old file or the new one, never half of one; a build that fails or is killed leaves
//! only `.partial-*` files, which the next build of that directory sweeps
//! ([`crate::fsutil::lock_output_dir`]).
//!
//! Two strengths: cache entries are flushed to disk before the rename ([`persist`]), because
//! a later build trusts them; artifacts are not ([`write_executable`], [`publish_artifact`]),
//! like a compiler's outputs: a crash leaves the old file or the new one, and syncing 100+ MB
//! would double the cost of a build.

use std::io::Write;

use anyhow::{Context, Result};
use camino::Utf8Path;

use crate::artifact::{Manifest, manifest_path};

/// The prefix of every temporary file that becomes a published one.
pub(crate) const PARTIAL_PREFIX: &str = ".partial-";

/// A new `.partial-*` file in `dir` (ending in `suffix`: Windows runs executables by their
/// `.exe` name).
pub(crate) fn partial_file(dir: &Utf8Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(PARTIAL_PREFIX).suffix(suffix).tempfile_in(dir).with_context(|| format!("could not create a temporary file in {dir}"))
}

/// The directory of `path`, `.` for a bare file name.
fn dir_of(path: &Utf8Path) -> &Utf8Path {
    path.parent().filter(|dir| !dir.as_str().is_empty()).unwrap_or(Utf8Path::new("."))
}

/// Flushes `file` to disk and renames it to `path` (a cache entry: durable).
pub(crate) fn persist(file: tempfile::NamedTempFile, path: &Utf8Path, executable: bool) -> Result<()> {
    file.as_file().sync_all().with_context(|| format!("could not flush {}", file.path().display()))?;
    if executable {
        crate::fsutil::make_executable(Utf8Path::from_path(file.path()).context("temporary file path is not UTF-8")?)?;
    }
    file.persist(path).with_context(|| format!("could not move a finished file into place at {path}"))?;
    Ok(())
}

/// Writes `bytes` to `path` (creating its directory), durably.
pub(crate) fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> Result<()> {
    let dir = dir_of(path);
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {dir}"))?;
    let mut file = partial_file(dir, "")?;
    file.write_all(bytes).with_context(|| format!("could not write {path}"))?;
    persist(file, path, false)
}

/// Closes a finished executable and makes it so; it can then run before it is published.
pub(crate) fn close_executable(file: tempfile::NamedTempFile) -> Result<tempfile::TempPath> {
    // Closed first: Linux refuses to execute a file open for writing.
    let path = file.into_temp_path();
    crate::fsutil::make_executable(Utf8Path::from_path(&path).context("the output directory is not UTF-8")?)?;
    Ok(path)
}

/// Writes an executable at `out` with `write`; on failure nothing is left behind.
pub(crate) fn write_executable(out: &Utf8Path, write: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let mut file = partial_file(dir_of(out), "")?;
    write(file.as_file_mut())?;
    close_executable(file)?.persist(out).with_context(|| format!("could not move the finished file to {out}"))?;
    Ok(())
}

/// Moves the finished artifact `output` to `path` and writes its manifest beside it, so that
/// at every moment, a kill included, an artifact at `path` has a manifest describing it:
/// the old artifact is removed first, then the new manifest is renamed into place, then the
/// artifact. An interrupted publish leaves at most a manifest without its artifact, which
/// readers ignore ([`crate::artifact::published_artifact`]) and the next build replaces.
pub(crate) fn publish_artifact(output: tempfile::TempPath, path: &Utf8Path, manifest: &Manifest) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(manifest)?;
    json.push(b'\n');
    let mut manifest_file = partial_file(dir_of(path), "")?;
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
    use camino::Utf8PathBuf;

    use super::*;
    use crate::artifact::{CacheAccepted, published_artifact};
    use crate::runtime::Execution;

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
        }
    }

    fn finished_artifact(dir: &Utf8Path, bytes: &[u8]) -> tempfile::TempPath {
        let mut file = partial_file(dir, "").unwrap();
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
        assert!(publish_artifact(finished_artifact(dir, b"new"), &path, &manifest()).is_err());
        assert!(!path.exists(), "an artifact without its manifest was left at {path}");

        std::fs::remove_dir(manifest_path(&path)).unwrap();
        publish_artifact(finished_artifact(dir, b"new"), &path, &manifest()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(published_artifact(&manifest_path(&path)), Some(path.clone()));
        let written: Manifest = serde_json::from_slice(&std::fs::read(manifest_path(&path)).unwrap()).unwrap();
        assert_eq!(written, manifest());
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = Utf8PathBuf::from_path_buf(dir.path().join("app")).unwrap();
        assert!(
            write_executable(&out, |file| {
                file.write_all(b"half")?;
                anyhow::bail!("the writer failed")
            })
            .is_err()
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_executable(&out, |file| Ok(file.write_all(b"whole")?)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"whole");
    }
}
