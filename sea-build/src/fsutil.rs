//! Small file-system helpers shared by every step that publishes a file.

use std::io::Write;

use anyhow::{Context, Result};
use camino::Utf8Path;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// readers see the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_str().is_empty()).unwrap_or(Utf8Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {dir}"))?;
    let mut file = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir).with_context(|| format!("could not create a temporary file in {dir}"))?;
    file.write_all(bytes).with_context(|| format!("could not write {path}"))?;
    persist(file, path, false)
}

/// Flushes `file` to disk and renames it to `path` atomically.
pub(crate) fn persist(file: tempfile::NamedTempFile, path: &Utf8Path, executable: bool) -> Result<()> {
    file.as_file().sync_all().with_context(|| format!("could not flush {}", file.path().display()))?;
    if executable {
        make_executable(Utf8Path::from_path(file.path()).context("temporary file path is not UTF-8")?)?;
    }
    file.persist(path).with_context(|| format!("could not move a finished file into place at {path}"))?;
    Ok(())
}


/// Sets the executable bits (0o755) on Unix; does nothing elsewhere.
pub(crate) fn make_executable(path: &Utf8Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("could not make {path} executable"))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
