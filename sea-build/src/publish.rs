//! Putting finished files at their final paths, the one way sea-build does it: write a
//! `.partial-*` temporary file beside the destination, then rename it into place. Readers see
//! the old file or the new one, never half of one; a build that fails or is killed leaves
//! only `.partial-*` files, which the next build of that directory sweeps
//! ([`crate::fsutil::lock_output_dir`]).
//!
//! Two strengths: cache entries are flushed to disk before the rename ([`persist`]), because
//! a later build trusts them; artifacts are not ([`write_executable`], `artifact::publish`),
//! like a compiler's outputs: a crash leaves the old file or the new one, and syncing 100+ MB
//! would double the cost of a build.

use std::io::Write;

use anyhow::{Context, Result};
use camino::Utf8Path;

/// The prefix of every temporary file that becomes a published one.
pub(crate) const PARTIAL_PREFIX: &str = ".partial-";

/// A new `.partial-*` file in `dir` (ending in `suffix`: Windows runs executables by their
/// `.exe` name).
pub(crate) fn partial_file(dir: &Utf8Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(PARTIAL_PREFIX).suffix(suffix).tempfile_in(dir).with_context(|| format!("could not create a temporary file in {dir}"))
}

/// The directory of `path`, `.` for a bare file name.
pub(crate) fn dir_of(path: &Utf8Path) -> &Utf8Path {
    path.parent().filter(|dir| !dir.as_str().is_empty()).unwrap_or(Utf8Path::new("."))
}

/// Flushes `file` to disk, makes it executable (0755) or readable by everyone (0644), and
/// renames it to `path` (durable, as a cache entry must be).
pub(crate) fn persist(file: tempfile::NamedTempFile, path: &Utf8Path, executable: bool) -> Result<()> {
    file.as_file().sync_all().with_context(|| format!("could not flush {}", file.path().display()))?;
    // Temporary files are created 0600; what is published is read by others too.
    let temporary = Utf8Path::from_path(file.path()).context("temporary file path is not UTF-8")?;
    if executable {
        crate::fsutil::make_executable(temporary)?
    } else {
        crate::fsutil::make_readable(temporary)?
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

#[cfg(test)]
mod tests {
    use camino::Utf8PathBuf;

    use super::*;

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
