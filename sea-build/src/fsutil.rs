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

/// A read-only memory map of `file` (named `path` in errors).
///
/// Used to read an image's headers without reading the image: pages are only loaded when
/// touched.
pub(crate) fn map_readonly(file: &std::fs::File, path: &Utf8Path) -> Result<memmap2::Mmap> {
    // SAFETY: the map is read-only, and the files mapped here (cached node binaries and
    // our own temporary files) are only ever replaced by rename, never modified or
    // truncated in place, so the mapped bytes cannot change under us.
    unsafe { memmap2::Mmap::map(file) }.with_context(|| format!("could not map {path} into memory"))
}

/// Writes `splice` to `out`, its base ranges copied from `base` by the kernel
/// (`copy_file_range` on Linux, where `std::io::copy` between files uses it), so the
/// unchanged bulk of an image never passes through this process.
pub(crate) fn write_splice(base: &std::fs::File, splice: &crate::inject::Splice, blob: &[u8], out: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};

    use crate::inject::Piece;
    let mut base = base;
    for piece in splice.pieces() {
        match piece {
            Piece::Base(range) => {
                base.seek(SeekFrom::Start(range.start))?;
                let wanted = range.end - range.start;
                let copied = std::io::copy(&mut base.take(wanted), out)?;
                if copied != wanted {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("the base image ended {} bytes early", wanted - copied)));
                }
            }
            Piece::Bytes(bytes) => out.write_all(bytes)?,
            Piece::Zeros(count) => crate::inject::splice::write_zeros(out, *count)?,
            Piece::Blob => out.write_all(blob)?,
        }
    }
    Ok(())
}
