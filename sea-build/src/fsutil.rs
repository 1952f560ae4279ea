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
    set_mode(path, 0o755).with_context(|| format!("could not make {path} executable"))
}

/// Makes `path` readable by everyone and writable by its owner (0644), as a compiler's outputs
/// are: temporary files are created 0600.
pub(crate) fn make_readable(path: &Utf8Path) -> Result<()> {
    set_mode(path, 0o644).with_context(|| format!("could not make {path} readable"))
}

/// Sets `path`'s Unix permission bits; nothing elsewhere.
fn set_mode(path: &Utf8Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
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

/// Up to the first `len` bytes of `file` (named `path` in errors), which is left positioned at
/// its start: 4 KiB tell a format, 64 KiB hold the load commands of any usual Mach-O.
pub(crate) fn read_head(file: &mut std::fs::File, path: &Utf8Path, len: u64) -> Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let mut head = Vec::with_capacity(len.min(1 << 16) as usize);
    (&*file).take(len).read_to_end(&mut head).and_then(|_| file.rewind()).with_context(|| format!("could not read {path}"))?;
    Ok(head)
}

/// Allocates `len` bytes of `file`, a fresh output about to be written from its start (or a
/// kernel copy made into it), up front where the system can (Linux). Written through the page
/// cache, an output's blocks are otherwise allocated late, and ext4 then flushes the whole file
/// when it is renamed over the previous artifact (its `auto_da_alloc`), which costs about a
/// third of a `cp` of node. Only a hint: errors (file systems without `fallocate`) are ignored,
/// and the file's length never changes (`FALLOC_FL_KEEP_SIZE`), so its bytes do not depend on
/// whether the hint was taken.
pub(crate) fn preallocate(file: &std::fs::File, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(len) = libc::off_t::try_from(len)
            && len > 0
        {
            // SAFETY: fallocate(2) on an open descriptor we own, with plain integers; it reads
            // and writes no memory of this process.
            let _ = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, len);
}

/// Asks the kernel to make the pages of `map` from byte `from` on present and writable in one
/// go, ahead of an edit that writes most of them: one fault per page costs more than the
/// edit. Only a hint (Linux 5.14 and later; ignored elsewhere and on error).
pub(crate) fn prefault_for_writing(map: &memmap2::MmapMut, from: u64) {
    #[cfg(target_os = "linux")]
    {
        let start = usize::try_from(from).unwrap_or(usize::MAX) & !0xfff;
        if start < map.len() {
            let _ = map.advise_range(memmap2::Advice::PopulateWrite, start, map.len() - start);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (map, from);
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
/// down within the file.
///
/// With `sha256`, the output is hashed piece by piece as it is written, the base ranges as
/// they lie in the copy, a megabyte at a time; without it, base ranges that stay in place
/// are not read at all (the caller hashes the output another way, see
/// `commands::inject_elf_file`).
pub(crate) fn apply_splice_to_copy(file: &std::fs::File, splice: &crate::inject::Splice, blob: &[u8], mut sha256: Option<&mut crate::digest::Sha256>) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};

    use crate::inject::Piece;
    let hashing = sha256.is_some();
    let mut hash = |bytes: &[u8]| {
        if let Some(sha256) = sha256.as_deref_mut() {
            sha256.update(bytes);
        }
    };
    let mut out = file;
    let mut buffer = vec![0u8; 1 << 20];
    let mut at = 0u64;
    for piece in splice.pieces() {
        let len = match piece {
            Piece::Base(range) if range.start == at => {
                if hashing {
                    out.seek(SeekFrom::Start(at))?;
                    let mut left = range.end - range.start;
                    while left > 0 {
                        let chunk = &mut buffer[..usize::try_from(left).unwrap_or(usize::MAX).min(1 << 20)];
                        out.read_exact(chunk)?;
                        hash(chunk);
                        left -= chunk.len() as u64;
                    }
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
                    hash(chunk);
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
                hash(bytes);
                bytes.len() as u64
            }
            Piece::Zeros(count) => {
                out.seek(SeekFrom::Start(at))?;
                crate::splice::write_zeros(&mut out, *count)?;
                if hashing {
                    buffer.fill(0);
                    let mut left = *count;
                    while left > 0 {
                        let chunk = usize::try_from(left).unwrap_or(usize::MAX).min(buffer.len());
                        hash(&buffer[..chunk]);
                        left -= chunk as u64;
                    }
                }
                *count
            }
            Piece::Blob => {
                out.seek(SeekFrom::Start(at))?;
                out.write_all(blob)?;
                hash(blob);
                blob.len() as u64
            }
        };
        at += len;
    }
    file.set_len(at)?;
    Ok(())
}

/// A hasher fed what `splice` makes of the image `base` and `blob`, reading the
/// base ranges a megabyte at a time through a handle of its own (so another thread may copy
/// from `base` meanwhile).
pub(crate) fn sha256_of_splice(base: &Utf8Path, splice: &crate::inject::Splice, blob: &[u8]) -> std::io::Result<crate::digest::Sha256> {
    use std::io::{Read, Seek, SeekFrom, Write};

    use crate::inject::Piece;
    let mut file = std::fs::File::open(base)?;
    let mut sha256 = crate::digest::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    for piece in splice.pieces() {
        match piece {
            Piece::Base(range) => {
                file.seek(SeekFrom::Start(range.start))?;
                let mut left = range.end - range.start;
                while left > 0 {
                    let chunk = &mut buffer[..usize::try_from(left).unwrap_or(usize::MAX).min(1 << 20)];
                    file.read_exact(chunk)?;
                    sha256.update(chunk);
                    left -= chunk.len() as u64;
                }
            }
            Piece::Bytes(bytes) => sha256.update(bytes),
            Piece::Zeros(count) => crate::splice::write_zeros(&mut sha256, *count)?,
            Piece::Blob => sha256.update(blob),
        }
    }
    sha256.flush()?;
    Ok(sha256)
}

/// The digests, by `digest`, of the `chunk`-byte chunks of the file `path` (counted from its
/// start) that lie wholly inside `span` and the file, read through a handle of its own (so
/// another thread may copy from the file meanwhile). Indexed by chunk; `None` for the chunks
/// before the span.
pub(crate) fn chunk_digests_within(path: &Utf8Path, span: std::ops::Range<u64>, chunk: usize, digest: impl Fn(&[u8]) -> [u8; 32]) -> std::io::Result<Vec<Option<[u8; 32]>>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let size = chunk as u64;
    let end = span.end.min(file.metadata()?.len());
    let (first, last) = (span.start.div_ceil(size), end / size);
    let mut digests = vec![None; first.min(last) as usize];
    if first < last {
        file.seek(SeekFrom::Start(first * size))?;
        let mut buffer = vec![0u8; chunk];
        for _ in first..last {
            file.read_exact(&mut buffer)?;
            digests.push(Some(digest(&buffer)));
        }
    }
    Ok(digests)
}

/// Writes `bytes` at `offset` of `file`.
pub(crate) fn write_at(file: &std::fs::File, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(windows)]
    {
        let mut written = 0;
        while written < bytes.len() {
            written += std::os::windows::fs::FileExt::seek_write(file, &bytes[written..], offset + written as u64)?;
        }
        Ok(())
    }
}

/// The file system's hole granularity sea-build assumes (one page, one ext4/XFS/btrfs block).
const HOLE_BLOCK: u64 = 4096;

/// Makes `range` of `file` zeros: a hole where the file system allows (Linux `fallocate`
/// punching the whole blocks inside it), written zeros elsewhere.
pub(crate) fn zero_range(file: &std::fs::File, range: std::ops::Range<u64>) -> std::io::Result<()> {
    let inner = range.start.div_ceil(HOLE_BLOCK) * HOLE_BLOCK..range.end / HOLE_BLOCK * HOLE_BLOCK;
    if inner.start < inner.end && punch_hole(file, inner.clone()) {
        write_zeros_at(file, range.start..inner.start)?;
        return write_zeros_at(file, inner.end..range.end);
    }
    write_zeros_at(file, range)
}

fn write_zeros_at(file: &std::fs::File, range: std::ops::Range<u64>) -> std::io::Result<()> {
    static ZEROS: [u8; 65536] = [0; 65536];
    let mut at = range.start;
    while at < range.end {
        let len = (range.end - at).min(ZEROS.len() as u64) as usize;
        write_at(file, at, &ZEROS[..len])?;
        at += len as u64;
    }
    Ok(())
}

/// Deallocates `range` (whole blocks) of `file`, keeping its size; false when the file
/// system cannot (the caller then writes zeros).
fn punch_hole(file: &std::fs::File, range: std::ops::Range<u64>) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(range.start), libc::off_t::try_from(range.end - range.start)) else { return false };
        // SAFETY: fallocate(2) on an open descriptor we own, with plain integers.
        unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, offset, len) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, range);
        false
    }
}

/// Turns every run of at least `min_blocks` whole zero blocks of `file` into a hole, where the
/// file system allows; the contents stay the same. Returns how many bytes became holes.
pub(crate) fn punch_zero_runs(file: &std::fs::File, min_blocks: u64) -> std::io::Result<u64> {
    let map = map_readonly(file).map_err(std::io::Error::other)?;
    let block = HOLE_BLOCK as usize;
    let mut punched = 0;
    let mut run_start = None;
    let blocks = map.len() / block;
    for index in 0..=blocks {
        let zero = index < blocks && map[index * block..(index + 1) * block].iter().all(|&byte| byte == 0);
        match (zero, run_start) {
            (true, None) => run_start = Some(index),
            (false, Some(start)) => {
                run_start = None;
                if (index - start) as u64 >= min_blocks {
                    let range = (start * block) as u64..(index * block) as u64;
                    if !punch_hole(file, range.clone()) {
                        return Ok(punched);
                    }
                    punched += range.end - range.start;
                }
            }
            _ => {}
        }
    }
    Ok(punched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::{Piece, Splice};

    #[test]
    fn chunk_digests_cover_the_whole_chunks_inside_the_span() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8Path::from_path(dir.path()).unwrap().join("file");
        let bytes: Vec<u8> = (0..100u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let sum = |chunk: &[u8]| [chunk.iter().fold(0u8, |total, &b| total.wrapping_add(b)); 32];
        // Chunks of 10: 1 and 2 are wholly inside 5..35; the span past the end stops at it.
        assert_eq!(chunk_digests_within(&path, 5..35, 10, sum).unwrap(), vec![None, Some(sum(&bytes[10..20])), Some(sum(&bytes[20..30]))]);
        assert_eq!(chunk_digests_within(&path, 95..u64::MAX, 10, sum).unwrap(), vec![None; 10]);
        assert_eq!(chunk_digests_within(&path, 90..u64::MAX, 10, sum).unwrap()[9], Some(sum(&bytes[90..])));
        assert_eq!(chunk_digests_within(&path, 12..18, 10, sum).unwrap(), vec![None]);
        assert!(chunk_digests_within(&path.with_file_name("missing"), 0..10, 10, sum).is_err());
    }

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

        let (got, sha256) = applied_to_copy(&base, &splice, true);
        assert_eq!(got, expected);
        assert_eq!(sha256.unwrap(), crate::digest::sha256_hex(&expected), "the hash computed while writing is the output's");
        // Unhashed, the bytes in place are left unread and the output is the same.
        assert_eq!(applied_to_copy(&base, &splice, false).0, expected);

        // A splice that moves base bytes up cannot be applied to a copy.
        let mut moving = Splice::default();
        moving.push(Piece::Bytes(b"new".to_vec()));
        moving.push(Piece::Base(0..10));
        assert!(apply_splice_to_copy(&tempfile::tempfile().unwrap(), &moving, b"", None).is_err());
    }

    /// `splice` applied to a copy of `base` with the blob `BLOB`: the output, and its hash
    /// when `hash`.
    fn applied_to_copy(base: &[u8], splice: &Splice, hash: bool) -> (Vec<u8>, Option<String>) {
        use std::io::{Read, Seek, SeekFrom};
        let mut copy = tempfile::tempfile().unwrap();
        copy.write_all(base).unwrap();
        let mut sha256 = hash.then(crate::digest::Sha256::new);
        apply_splice_to_copy(&copy, splice, b"BLOB", sha256.as_mut()).unwrap();
        let mut got = Vec::new();
        copy.seek(SeekFrom::Start(0)).unwrap();
        copy.read_to_end(&mut got).unwrap();
        (got, sha256.map(crate::digest::Sha256::finish_hex))
    }

    #[test]
    fn a_splice_hashed_from_its_base_file_is_hashed_as_written() {
        let base: Vec<u8> = (0..(3u32 << 20) + 5).map(|i| (i % 253) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("node")).unwrap();
        std::fs::write(&path, &base).unwrap();
        let mut splice = Splice::default();
        splice.push(Piece::Bytes(b"HDR".to_vec()));
        splice.push(Piece::Base(3..(2 << 20)));
        splice.push(Piece::Zeros(7));
        splice.push(Piece::Base((2 << 20) + 1..base.len() as u64));
        splice.push(Piece::Blob);
        let mut expected = Vec::new();
        splice.write(&base, b"BLOB", &mut expected).unwrap();
        assert_eq!(sha256_of_splice(&path, &splice, b"BLOB").unwrap().finish_hex(), crate::digest::sha256_hex(&expected));

        // A base shorter than the splice says is an error, not a short hash.
        std::fs::write(&path, &base[..1000]).unwrap();
        assert!(sha256_of_splice(&path, &splice, b"BLOB").is_err());
    }

    #[test]
    fn base_bytes_moved_down_overlapping_their_old_place_arrive_intact() {
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

        let (got, sha256) = applied_to_copy(&base, &splice, true);
        assert!(got == expected, "the moved bytes differ from the splice written out");
        assert_eq!(sha256.unwrap(), crate::digest::sha256_hex(&expected));
    }
}
