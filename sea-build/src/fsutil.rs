//! Small file-system helpers: the output directory's lock, modes, maps and reads of a head.

use std::io::Write;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

/// Locks the output directory `dir` (creating it) for one build, through `<dir>.lock` beside
/// it (so the directory holds only artifacts), waiting while another build holds it; then
/// removes the `.partial-*` files and `.staging-*` directories a killed build left there.
/// The lock lasts as long as the returned file.
pub(crate) fn lock_output_dir(dir: &Utf8Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {dir}"))?;
    let lock_path = Utf8PathBuf::from(format!("{}.lock", dir.as_str().trim_end_matches('/')));
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).with_context(|| format!("could not open {lock_path}"))?;
    lock.lock().with_context(|| format!("could not lock {lock_path}"))?;
    for entry in dir.read_dir_utf8().with_context(|| format!("could not list {dir}"))? {
        let entry = entry.with_context(|| format!("could not list {dir}"))?;
        let name = entry.file_name();
        let removed = if name.starts_with(".partial-") {
            std::fs::remove_file(entry.path())
        } else if name.starts_with(".staging-") {
            std::fs::remove_dir_all(entry.path())
        } else {
            continue;
        };
        removed.with_context(|| format!("could not remove {}, left by an interrupted build", entry.path()))?;
    }
    Ok(lock)
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

/// A read-only memory map of `file`, one of our own unpublished temporary files.
///
/// Used to read an image's headers without reading the image: pages are only loaded when
/// touched. Never map a user's file (an input binary, a local node): another process may
/// truncate it, and touching a page past the new end kills this one with SIGBUS. Copy it
/// first (the kernel copies, see `pipeline::inject_into`), or read it.
pub(crate) fn map_readonly(file: &std::fs::File) -> Result<memmap2::Mmap> {
    // SAFETY: callers map only temporary files this process created and has not published,
    // which nothing else writes or truncates while the map lives.
    unsafe { memmap2::Mmap::map(file) }.context("could not map a temporary file into memory")
}

/// A writable memory map of `file`, one of our own unpublished temporary files (see
/// [`map_readonly`]): byte-format code edits the file where it lies, touching only the pages
/// that change.
pub(crate) fn map_writable(file: &std::fs::File) -> Result<memmap2::MmapMut> {
    // SAFETY: as for `map_readonly`: our own temporary file, which nothing else writes or
    // truncates while the map lives.
    unsafe { memmap2::MmapMut::map_mut(file) }.context("could not map a temporary file into memory")
}

/// Up to the first 4 KiB of `file` (named `path` in errors): enough to tell its format.
pub(crate) fn read_head(file: &mut std::fs::File, path: &Utf8Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    file.take(4096).read_to_end(&mut head).with_context(|| format!("could not read {path}"))?;
    Ok(head)
}

/// Replaces the contents of `file` with `bytes`.
pub(crate) fn overwrite(mut file: &std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)
}

/// Turns `file`, a copy of the base image, into the output of `splice`: every base range of
/// the splice must lie where the base already has it (injection that appends and patches in
/// place, as ELF's does), so only the new bytes are written and the bulk stays as the kernel
/// copied it, or lower (what a stripped ELF leaves after the symbol tables), and is then moved
/// down within the file. Returns the SHA-256 (hex) of the output, computed piece by piece as it is
/// written: the base ranges are hashed as they lie in the copy, a megabyte at a time.
pub(crate) fn apply_splice_to_copy(file: &std::fs::File, splice: &crate::inject::Splice, blob: &[u8]) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};

    use crate::inject::Piece;
    let mut out = file;
    let mut sha256 = crate::digest::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut at = 0u64;
    for piece in splice.pieces() {
        let len = match piece {
            Piece::Base(range) if range.start == at => {
                out.seek(SeekFrom::Start(at))?;
                let mut left = range.end - range.start;
                while left > 0 {
                    let chunk = &mut buffer[..usize::try_from(left).unwrap_or(usize::MAX).min(1 << 20)];
                    out.read_exact(chunk)?;
                    sha256.update(chunk);
                    left -= chunk.len() as u64;
                }
                range.end - range.start
            }
            // Moved down: read ahead of where it writes, a chunk at a time, so nothing is
            // overwritten before it is read.
            Piece::Base(range) if range.start > at => {
                let (mut from, mut to) = (range.start, at);
                while from < range.end {
                    let chunk = &mut buffer[..usize::try_from(range.end - from).unwrap_or(usize::MAX).min(1 << 20)];
                    out.seek(SeekFrom::Start(from))?;
                    out.read_exact(chunk)?;
                    out.seek(SeekFrom::Start(to))?;
                    out.write_all(chunk)?;
                    sha256.update(chunk);
                    from += chunk.len() as u64;
                    to += chunk.len() as u64;
                }
                range.end - range.start
            }
            Piece::Base(range) => {
                return Err(std::io::Error::other(format!("internal error: the splice moves base bytes {range:?} up to offset {at}, which a copy cannot express")));
            }
            Piece::Bytes(bytes) => {
                out.seek(SeekFrom::Start(at))?;
                out.write_all(bytes)?;
                sha256.update(bytes);
                bytes.len() as u64
            }
            Piece::Zeros(count) => {
                out.seek(SeekFrom::Start(at))?;
                crate::splice::write_zeros(&mut out, *count)?;
                buffer.fill(0);
                let mut left = *count;
                while left > 0 {
                    let chunk = usize::try_from(left).unwrap_or(usize::MAX).min(buffer.len());
                    sha256.update(&buffer[..chunk]);
                    left -= chunk as u64;
                }
                *count
            }
            Piece::Blob => {
                out.seek(SeekFrom::Start(at))?;
                out.write_all(blob)?;
                sha256.update(blob);
                blob.len() as u64
            }
        };
        at += len;
    }
    file.set_len(at)?;
    Ok(sha256.finish_hex())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::{Piece, Splice};

    #[test]
    fn a_killed_build_s_leftovers_are_swept_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = Utf8Path::from_path(dir.path()).unwrap().join("x86_64-unknown-linux-gnu");
        std::fs::create_dir_all(out.join(".staging-abc/js")).unwrap();
        std::fs::write(out.join(".staging-abc/js/main.js"), "1").unwrap();
        std::fs::write(out.join(".partial-def"), "half an artifact").unwrap();
        std::fs::write(out.join("app"), "a published artifact").unwrap();
        let lock = lock_output_dir(&out).unwrap();
        let mut left: Vec<String> = out.read_dir_utf8().unwrap().map(|e| e.unwrap().file_name().to_owned()).collect();
        left.sort();
        assert_eq!(left, ["app"]);
        assert!(Utf8PathBuf::from(format!("{out}.lock")).is_file(), "the lock lives beside the directory");
        drop(lock);
    }

    #[test]
    fn a_splice_applied_to_a_copy_equals_the_splice_written_out() {
        let base = b"0123456789".to_vec();
        let mut splice = Splice::default();
        splice.push(Piece::Bytes(b"ab".to_vec()));
        splice.push(Piece::Base(2..5));
        splice.push(Piece::Bytes(b"X".to_vec()));
        splice.push(Piece::Base(6..10));
        splice.push(Piece::Zeros((2 << 20) + 3));
        splice.push(Piece::Blob);
        let mut expected = Vec::new();
        splice.write(&base, b"BLOB", &mut expected).unwrap();

        let mut copy = tempfile::tempfile().unwrap();
        copy.write_all(&base).unwrap();
        let sha256 = apply_splice_to_copy(&copy, &splice, b"BLOB").unwrap();
        let mut got = Vec::new();
        use std::io::{Read, Seek, SeekFrom};
        copy.seek(SeekFrom::Start(0)).unwrap();
        copy.read_to_end(&mut got).unwrap();
        assert_eq!(got, expected);
        assert_eq!(sha256, crate::digest::sha256_hex(&expected), "the hash computed while writing is the output's");

        // A splice that moves base bytes up cannot be applied to a copy.
        let mut moving = Splice::default();
        moving.push(Piece::Bytes(b"new".to_vec()));
        moving.push(Piece::Base(0..10));
        assert!(apply_splice_to_copy(&copy, &moving, b"").is_err());
    }

    #[test]
    fn base_bytes_moved_down_overlapping_their_old_place_arrive_intact() {
        use std::io::{Read, Seek, SeekFrom};
        // Three megabytes whose every position differs, with 100 bytes cut out near the
        // start: the rest moves down by less than one chunk, over itself.
        let base: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8 ^ (i >> 16) as u8).collect();
        let mut splice = Splice::default();
        splice.push(Piece::Bytes(b"HDR".to_vec()));
        splice.push(Piece::Base(3..100));
        splice.push(Piece::Base(200..base.len() as u64));
        splice.push(Piece::Blob);
        let mut expected = Vec::new();
        splice.write(&base, b"BLOB", &mut expected).unwrap();

        let mut copy = tempfile::tempfile().unwrap();
        copy.write_all(&base).unwrap();
        let sha256 = apply_splice_to_copy(&copy, &splice, b"BLOB").unwrap();
        let mut got = Vec::new();
        copy.seek(SeekFrom::Start(0)).unwrap();
        copy.read_to_end(&mut got).unwrap();
        assert!(got == expected, "the moved bytes differ from the splice written out");
        assert_eq!(sha256, crate::digest::sha256_hex(&expected));
    }
}
