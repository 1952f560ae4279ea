//! PE files at the edge: the byte layer's plans ([`inject::pe::plan`], [`pe::unsign::removal`],
//! [`pe::authenticode::signature`]) carried out on files without holding an image in memory.
//!
//! Only the parts a plan reads are read from the base (its headers, its resource section and
//! resource data, the bytes after a certificate table), by positioned reads: the base may be
//! a user's file, which is never mapped. The output, one of our own `.partial-` files, is
//! written in order: the kept ranges of the base copied by the kernel (`copy_file_range`), the
//! new bytes written. Then the CheckSum (and an Authenticode hash, when signing) is computed
//! over the output a fixed-size chunk at a time.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::inject::{self, fuse};
use crate::pe::authenticode::{self, AuthenticodeIdentity, HashLayout, SignOptions};
use crate::pe::identity::ResourceChanges;
use crate::pe::{self, Checksum, PeHeaders, PeImage};
use crate::splice::{Piece, Splice};

/// Bytes of a base read before planning: a node.exe's headers take 1 KiB.
const HEAD_LEN: u64 = 64 << 10;

/// Rounds of reading what a plan found missing before the whole base is read instead (a
/// node.exe takes three: headers, the end of the signature, the resource section).
const ROUNDS: usize = 16;

/// The buffer the streaming passes over an output read through.
const CHUNK: usize = 256 << 10;

/// Writes `base` with `blob` injected (and `changes` made to its resources) to `out`, its
/// signature removed on the way; the CheckSum computed over what was written.
///
/// `fuse_offset` is where the cache found the unset fuse when it verified `base` (checked
/// here); without it the base is searched.
pub(crate) fn inject(base: &Utf8Path, blob: &[u8], changes: &ResourceChanges<'_>, out: &mut File, fuse_offset: Option<u64>) -> Result<inject::pe::InjectionSummary> {
    let file = File::open(base).with_context(|| format!("could not open {base}"))?;
    // Searched once, however many rounds the planning takes.
    let mut found = None;
    let plan = plan_over(&file, base, |image| {
        let options = inject::pe::Options { unsign: true };
        inject::pe::plan(image, blob, changes, options, |len| {
            if let Some(offset) = found {
                return Ok(offset);
            }
            let offset = unset_fuse(&file, len, fuse_offset)?;
            found = Some(offset);
            Ok(offset)
        })
    })?;
    write_splice(&file, &plan.splice, blob, out).context("could not write the injected executable")?;
    store_checksum(out, plan.check_sum_offset)?;
    Ok(plan.summary)
}

/// Writes `base` without its Authenticode signature to `out` (unchanged when unsigned), as
/// [`pe::unsign()`] would.
pub(crate) fn unsign(base: &Utf8Path, out: &mut File) -> Result<()> {
    let file = File::open(base).with_context(|| format!("could not open {base}"))?;
    let plan = plan_over(&file, base, |image| {
        let headers = PeHeaders::parse_image(image)?;
        let Some(removal) = pe::unsign::removal(&headers, image)? else {
            let mut whole = Splice::default();
            whole.push(Piece::Base(0..image.len()));
            return Ok((whole, None));
        };
        let fields_end = (removal.directory_offset + 8).max(removal.check_sum_offset + 4);
        let head = image.get_at(0, fields_end).context("internal error: the security directory lies past the headers")?;
        Ok((removal.splice(head)?, Some(removal.check_sum_offset)))
    })
    .with_context(|| format!("could not remove the signature of {base}"))?;
    let (splice, check_sum) = plan;
    write_splice(&file, &splice, &[], out).context("could not write the unsigned executable")?;
    if let Some(offset) = check_sum {
        store_checksum(out, offset)?;
    }
    Ok(())
}

/// Signs the unsigned PE image in `file`, one of our own temporary files, with Authenticode
/// where it lies: the hash is computed over the file a chunk at a time, the table appended,
/// the directory entry and CheckSum rewritten. The bytes are those
/// [`authenticode::sign_to_vec`] gives for the same image.
pub(crate) fn sign(file: &mut File, identity: &AuthenticodeIdentity, options: &SignOptions<'_>) -> Result<()> {
    let len = file.metadata().context("could not read the length of the image to sign")?.len();
    let head = read_range(file, 0..len.min(HEAD_LEN)).context("could not read the image to sign")?;
    let headers = PeHeaders::parse_head(&head, len)?;
    let layout = HashLayout::of(&headers, len)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    stream(file, len, |offset, chunk| {
        // The hash skips the CheckSum and the directory entry: fed around them.
        let mut at = 0;
        for skipped in layout.skipped() {
            let (start, end) = (clip(skipped.start, offset, chunk.len()), clip(skipped.end, offset, chunk.len()));
            digest.update(&chunk[at.min(start)..start]);
            at = at.max(end);
        }
        digest.update(&chunk[at..]);
    })
    .context("could not read the image to sign")?;
    digest.update(&[0u8; 8][..layout.padding]);
    let hash: [u8; 32] = digest.finish().as_ref().try_into().context("internal error: SHA-256 is not 32 bytes")?;
    let signature = authenticode::signature(&layout, &hash, identity, options)?;
    let mut out: &File = file;
    let mut appended = vec![0u8; signature.padding];
    appended.extend_from_slice(&signature.table);
    out.seek(SeekFrom::Start(len)).and_then(|_| out.write_all(&appended)).context("could not append the signature")?;
    let (at, offset, size) = signature.directory;
    let entry: Vec<u8> = offset.to_le_bytes().into_iter().chain(size.to_le_bytes()).collect();
    out.seek(SeekFrom::Start(at as u64)).and_then(|_| out.write_all(&entry)).context("could not write the signature's directory entry")?;
    store_checksum(file, signature.check_sum)?;
    Ok(())
}

/// `bound` as an index into a chunk of `len` bytes at file offset `offset`.
fn clip(bound: u64, offset: u64, len: usize) -> usize {
    bound.saturating_sub(offset).min(len as u64) as usize
}

/// Plans over the parts of `file` (named `path` in errors) that `plan` reads: the first
/// bytes, then whatever the last round found missing, until it needs nothing more.
fn plan_over<T>(file: &File, path: &Utf8Path, mut plan: impl FnMut(&PeImage<'_>) -> Result<T>) -> Result<T> {
    let len = file.metadata().with_context(|| format!("could not read the length of {path}"))?.len();
    let mut parts = vec![(0, read_range(file, 0..len.min(HEAD_LEN)).with_context(|| format!("could not read {path}"))?)];
    for _ in 0..ROUNDS {
        let image = PeImage::from_parts(len, parts.iter().map(|(offset, bytes)| (*offset, bytes.as_slice())).collect());
        let planned = plan(&image);
        let missing = image.missing();
        if planned.is_ok() || missing.is_empty() {
            return planned;
        }
        for range in missing {
            let bytes = read_range(file, range.clone()).with_context(|| format!("could not read {path}"))?;
            parts.push((range.start, bytes));
        }
    }
    // A layout that keeps asking (resources scattered over the file): plan over all of it.
    let whole = read_range(file, 0..len).with_context(|| format!("could not read {path}"))?;
    plan(&PeImage::whole(&whole))
}

/// The bytes of `range` of `file`.
fn read_range(file: &File, range: Range<u64>) -> std::io::Result<Vec<u8>> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(range.start))?;
    let mut bytes = vec![0u8; (range.end - range.start) as usize];
    reader.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The offset of the unset fuse's `'0'` in the first `len` bytes of `file`: `known`, when
/// the bytes there are the unset fuse, else searched a megabyte at a time.
fn unset_fuse(file: &File, len: u64, known: Option<u64>) -> Result<usize> {
    let prefix = fuse::FUSE_SENTINEL.len() as u64 + 1;
    if let Some(offset) = known.filter(|offset| *offset >= prefix && *offset < len) {
        let around = read_range(file, offset - prefix..offset + 1).context("could not read the fuse")?;
        fuse::check_unset_at(&around, prefix as usize)?;
        return Ok(offset as usize);
    }
    let mut reader = file;
    reader.seek(SeekFrom::Start(0)).context("could not read the executable")?;
    fuse::find_fuse_in(reader.take(len))?.unset()
}

/// Writes what `splice` makes of `base` (and `blob`) to `out` from its start: base ranges
/// are copied by the kernel, file to file, and never pass through this process.
pub(crate) fn write_splice(base: &File, splice: &Splice, blob: &[u8], out: &mut File) -> std::io::Result<()> {
    out.set_len(0)?;
    out.seek(SeekFrom::Start(0))?;
    crate::fsutil::preallocate(out, splice.len(blob.len()));
    let base_len = base.metadata()?.len();
    for piece in splice.pieces() {
        match piece {
            Piece::Base(range) => {
                if range.end > base_len {
                    return Err(std::io::Error::other(format!("internal error: the plan reads bytes {range:?} of a {base_len}-byte base")));
                }
                let mut source = base;
                source.seek(SeekFrom::Start(range.start))?;
                let copied = std::io::copy(&mut source.take(range.end - range.start), out)?;
                if copied != range.end - range.start {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the base became shorter while it was copied"));
                }
            }
            Piece::Bytes(bytes) => out.write_all(bytes)?,
            Piece::Zeros(count) => crate::splice::write_zeros(out, *count)?,
            Piece::Blob => out.write_all(blob)?,
        }
    }
    out.flush()
}

/// Computes the CheckSum of the PE image in `file` (the field at `offset` counted as zero),
/// reading it a chunk at a time, and stores it; returns it.
pub(crate) fn store_checksum(file: &File, offset: usize) -> Result<u32> {
    let len = file.metadata().context("could not read the length of the executable")?.len();
    let field = offset as u64..offset as u64 + 4;
    if field.end > len {
        bail!("internal error: the CheckSum field at {offset:#x} lies past the end of the image");
    }
    let mut sum = Checksum::new();
    stream(file, len, |at, chunk| {
        let (start, end) = (clip(field.start, at, chunk.len()), clip(field.end, at, chunk.len()));
        sum.update(&chunk[..start]);
        sum.update_zeros((end - start) as u64);
        sum.update(&chunk[end..]);
    })
    .context("could not read the executable to compute its CheckSum")?;
    let value = sum.finish();
    let mut out = file;
    out.seek(SeekFrom::Start(field.start)).and_then(|_| out.write_all(&value.to_le_bytes())).context("could not write the CheckSum")?;
    Ok(value)
}

/// Feeds the first `len` bytes of `file` to `each` (with their file offset), a chunk at a time.
fn stream(file: &File, len: u64, mut each: impl FnMut(u64, &[u8])) -> std::io::Result<()> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(0))?;
    let mut buffer = vec![0u8; CHUNK];
    let mut at = 0u64;
    while at < len {
        let chunk = &mut buffer[..(len - at).min(CHUNK as u64) as usize];
        reader.read_exact(chunk)?;
        each(at, chunk);
        at += chunk.len() as u64;
    }
    Ok(())
}

/// The SHA-256 (hex) of `file`, read a chunk at a time.
pub(crate) fn sha256(file: &File) -> Result<String> {
    let len = file.metadata().context("could not read the length of the artifact")?.len();
    let mut digest = crate::digest::Sha256::new();
    stream(file, len, |_, chunk| digest.update(chunk)).context("could not read the artifact to hash it")?;
    Ok(digest.finish_hex())
}

#[cfg(test)]
mod tests {
    use camino::Utf8PathBuf;

    use super::*;
    use crate::ErrorKind;
    use crate::pe::testing::{SyntheticPe, signed};
    use crate::pe::version_info::VersionInfo;

    /// `bytes` as a file in `dir`, and an empty output file beside it.
    fn files(dir: &tempfile::TempDir, bytes: &[u8]) -> (Utf8PathBuf, File) {
        let base = Utf8PathBuf::from_path_buf(dir.path().join("node.exe")).unwrap();
        std::fs::write(&base, bytes).unwrap();
        let out = tempfile::tempfile_in(dir.path()).unwrap();
        (base, out)
    }

    fn contents(file: &File) -> Vec<u8> {
        read_range(file, 0..file.metadata().unwrap().len()).unwrap()
    }

    #[test]
    fn file_injection_equals_unsigning_then_injecting_in_memory() {
        let version = VersionInfo::default();
        let with_version = ResourceChanges::new(Some(&version), None).unwrap();
        let none = ResourceChanges::default();
        for (synthetic, changes) in [
            (SyntheticPe::default(), &none),
            (SyntheticPe::default(), &with_version),
            (SyntheticPe { resources_last: true, ..SyntheticPe::default() }, &none),
            (SyntheticPe { resources: false, ..SyntheticPe::default() }, &with_version),
            (SyntheticPe { kind: pe::PeKind::Pe32, ..SyntheticPe::default() }, &none),
        ] {
            let image = synthetic.build();
            let blob: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
            let mut expected = Vec::new();
            let expected_summary = inject::pe::inject_with(&image, &blob, changes, &mut expected).unwrap();
            for base_bytes in [image.clone(), signed(&image)] {
                let dir = tempfile::tempdir().unwrap();
                let (base, mut out) = files(&dir, &base_bytes);
                let summary = super::inject(&base, &blob, changes, &mut out, None).unwrap();
                assert_eq!(summary, expected_summary);
                assert!(contents(&out) == expected, "the file differs from the image injected in memory");
                // With the fuse's offset known, as the cache records it.
                let known = inject::fuse::find_fuse(&image).unwrap().offset() as u64;
                super::inject(&base, &blob, changes, &mut out, Some(known)).unwrap();
                assert!(contents(&out) == expected);
            }
        }
    }

    #[test]
    fn file_injection_refuses_as_injection_does() {
        let image = SyntheticPe::default().build();
        let dir = tempfile::tempdir().unwrap();
        let injected = inject::pe::inject_to_vec(&image, b"blob").unwrap();
        let kind = |bytes: &[u8], known: Option<u64>| {
            let (base, mut out) = files(&dir, bytes);
            crate::Error::from(super::inject(&base, b"blob", &ResourceChanges::default(), &mut out, known).unwrap_err())
        };
        let error = kind(&injected, None);
        assert_eq!(error.kind(), ErrorKind::AlreadyInjected, "{error}");
        let set = SyntheticPe { fuse: Some(b'1'), ..SyntheticPe::default() }.build();
        assert_eq!(kind(&set, None).kind(), ErrorKind::AlreadyInjected);
        assert_eq!(kind(&SyntheticPe { fuse: None, ..SyntheticPe::default() }.build(), None).kind(), ErrorKind::NotNode);
        let error = kind(&image, Some(0x401));
        assert!(error.to_string().contains("not the state byte of an unset fuse"), "{error}");
        let mut appended = signed(&image);
        appended.extend(b"data appended after the signature");
        let error = kind(&appended, None);
        assert!(error.to_string().contains("does not end the file"), "{error}");
        let error = kind(&image[..image.len() - 100], None);
        assert!(error.to_string().contains("truncated"), "{error}");
        let full = SyntheticPe { extra_sections: 11, ..SyntheticPe::default() }.build();
        assert!(kind(&full, None).to_string().contains("no room for another section header"));
    }

    #[test]
    fn file_unsigning_equals_unsigning_in_memory() {
        let image = SyntheticPe::default().build();
        let mut padded = signed(&image);
        padded.extend([0; 5]);
        crate::pe::update_checksum(&mut padded).unwrap();
        for base_bytes in [image.clone(), signed(&image), padded] {
            let dir = tempfile::tempdir().unwrap();
            let (base, mut out) = files(&dir, &base_bytes);
            super::unsign(&base, &mut out).unwrap();
            assert_eq!(contents(&out), pe::unsign(&base_bytes).unwrap());
        }
    }

    #[test]
    fn the_checksum_is_stored_over_the_file() {
        let mut image = SyntheticPe::default().build();
        image.extend(vec![0x5a; 3 * CHUNK + 3]);
        let offset = PeHeaders::parse(&image).unwrap().check_sum_offset();
        image[offset..offset + 4].copy_from_slice(&[1, 2, 3, 4]);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&image).unwrap();
        let value = store_checksum(&file, offset).unwrap();
        assert_eq!(value, pe::checksum_skipping(&image, offset));
        assert_eq!(contents(&file)[offset..offset + 4], value.to_le_bytes());
        assert_eq!(sha256(&file).unwrap(), crate::digest::sha256_hex(&contents(&file)));
    }
}
