//! Recomputing `LC_UUID` from an image's contents.
//!
//! Debuggers, crash reporters and `dsymutil` pair a binary with its debug information by
//! the UUID in `LC_UUID`. Linkers derive it from a hash of the output, so any edit of the
//! bytes (relativised paths, zeroed timestamps) must be followed by a new UUID, and a
//! reproducible edit must give a reproducible UUID.
//!
//! [`recompute`] zeroes the UUID field, hashes the whole image and stores 16 bytes of the
//! hash with the RFC 4122 version (3, name-based, as ld64 and lld write it) and variant bits
//! set. The hash is SHA-256 over 16 MiB chunks, hashed in parallel, followed by SHA-256 of
//! the image length and the chunk digests: the result depends only on the bytes, never on
//! the number of threads.

use anyhow::{Context, Result};
use object::macho::{LC_UUID, UuidCommand};
use object::pod::from_bytes_mut;

use super::{Kind, ThinImage, fat_slices, in_slice, kind};

/// Size of the chunks the hash is made of, from the start of the image: part of the UUID's
/// definition, never change it.
pub const CHUNK: usize = 16 << 20;

/// The digest of one [`CHUNK`] of an image, as [`uuid_of_known`] takes it.
///
/// ```
/// use sea_build::macho::uuid::{chunk_digest, uuid_of, uuid_of_known};
/// let bytes = b"some image bytes";
/// assert_eq!(uuid_of_known(bytes, &[Some(chunk_digest(bytes))]), uuid_of(bytes));
/// ```
pub fn chunk_digest(chunk: &[u8]) -> [u8; 32] {
    crate::digest::sha256(chunk)
}

/// The UUID for `bytes` (hashed as they are), with version and variant bits set.
///
/// ```
/// let uuid = sea_build::macho::uuid::uuid_of(b"some image bytes");
/// assert_eq!(uuid[6] >> 4, 3, "version 3");
/// assert_eq!(uuid[8] >> 6, 0b10, "RFC 4122 variant");
/// assert_eq!(uuid, sea_build::macho::uuid::uuid_of(b"some image bytes"));
/// ```
pub fn uuid_of(bytes: &[u8]) -> [u8; 16] {
    uuid_of_known(bytes, &[])
}

/// [`uuid_of`], taking the digests of some chunks from `known`: `known[i]`, when `Some`, must
/// be [`chunk_digest`] of the `i`-th [`CHUNK`] of `bytes` (a caller hashed the parts an edit
/// leaves alone while it copied them, for instance); the other chunks are hashed here. A wrong
/// digest gives a wrong UUID.
///
/// ```
/// use sea_build::macho::uuid::{CHUNK, chunk_digest, uuid_of, uuid_of_known};
/// let bytes = vec![7u8; CHUNK + 10];
/// let first = chunk_digest(&bytes[..CHUNK]);
/// assert_eq!(uuid_of_known(&bytes, &[Some(first), None]), uuid_of(&bytes));
/// ```
pub fn uuid_of_known(bytes: &[u8], known: &[Option<[u8; 32]>]) -> [u8; 16] {
    let digests = chunk_digests(bytes, known);
    let mut hasher = crate::digest::Sha256::new();
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    for digest in &digests {
        hasher.update(digest);
    }
    let hash = hasher.finish();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&hash[..16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x30;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// The digest of every `CHUNK` of `bytes`: those `known` lacks, computed on all available
/// cores.
fn chunk_digests(bytes: &[u8], known: &[Option<[u8; 32]>]) -> Vec<[u8; 32]> {
    let chunks: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
    let mut digests: Vec<Option<[u8; 32]>> = (0..chunks.len()).map(|index| known.get(index).copied().flatten()).collect();
    let missing: Vec<usize> = (0..chunks.len()).filter(|&index| digests[index].is_none()).collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(missing.len());
    if threads > 1 {
        let (chunks, missing) = (&chunks, &missing);
        // Thread t hashes the missing chunks t, t + threads, t + 2 * threads, ...
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                (0..threads).map(|first| scope.spawn(move || missing.iter().skip(first).step_by(threads).map(|&index| (index, chunk_digest(chunks[index]))).collect::<Vec<_>>())).collect();
            for handle in handles {
                // A thread that died (it cannot) leaves its chunks to the loop below.
                for (index, value) in handle.join().unwrap_or_default() {
                    digests[index] = Some(value);
                }
            }
        });
    }
    digests.into_iter().enumerate().map(|(index, value)| value.unwrap_or_else(|| chunk_digest(chunks[index]))).collect()
}

/// Recomputes the `LC_UUID` of a thin image in place and returns it, or `None` when the
/// image has no `LC_UUID` (then nothing changes).
///
/// ```
/// # let mut image = sea_build::macho::fixture::tiny_image();
/// let uuid = sea_build::macho::uuid::recompute(&mut image)?.expect("the image has LC_UUID");
/// assert_eq!(sea_build::macho::uuid::recompute(&mut image)?, Some(uuid), "stable");
/// # anyhow::Ok(())
/// ```
pub fn recompute(image: &mut [u8]) -> Result<Option<[u8; 16]>> {
    recompute_known(image, &[])
}

/// [`recompute`], taking the digests of the chunks in `known` as [`uuid_of_known`] does. The
/// chunk holding the UUID field is always hashed here, after the field is zeroed.
///
/// ```
/// use sea_build::macho::uuid::{recompute, recompute_known};
/// # let image = sea_build::macho::fixture::tiny_image();
/// let (mut a, mut b) = (image.clone(), image);
/// assert_eq!(recompute_known(&mut a, &[None])?, recompute(&mut b)?);
/// # anyhow::Ok(())
/// ```
pub fn recompute_known(image: &mut [u8], known: &[Option<[u8; 32]>]) -> Result<Option<[u8; 16]>> {
    let Some((offset, index, len)) = ThinImage::parse(image)?.command(LC_UUID).map(|c| (c.offset, c.index, c.bytes.len())) else {
        return Ok(None);
    };
    let field = {
        let (uuid, _) = from_bytes_mut::<UuidCommand<object::LittleEndian>>(&mut image[offset..offset + len]).ok().with_context(|| {
            format!(
                "load command {} (LC_UUID) is {} bytes, too short for a UUID: the binary is \
                     damaged",
                index, len
            )
        })?;
        uuid.uuid = [0; 16];
        offset + std::mem::offset_of!(UuidCommand<object::LittleEndian>, uuid)
    };
    let mut known = known.to_vec();
    if let Some(digest) = known.get_mut(field / CHUNK) {
        *digest = None;
    }
    let uuid = uuid_of_known(image, &known);
    image[field..field + 16].copy_from_slice(&uuid);
    Ok(Some(uuid))
}

/// [`recompute`] for a thin image or every slice of a universal file, in place.
///
/// ```
/// # let mut image = sea_build::macho::fixture::tiny_image();
/// sea_build::macho::uuid::recompute_all(&mut image)?;
/// # anyhow::Ok(())
/// ```
pub fn recompute_all(data: &mut [u8]) -> Result<()> {
    match kind(data)? {
        Kind::Thin => {
            recompute(data)?;
        }
        Kind::Fat => {
            let slices: Vec<_> = fat_slices(data)?.iter().enumerate().map(|(index, s)| (s.offset as usize, s.data.len(), in_slice(index, s))).collect();
            for (offset, len, context) in slices {
                recompute(&mut data[offset..offset + len]).context(context)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macho::fixture::tiny_image;

    #[test]
    fn uuid_depends_on_every_byte_and_not_on_the_old_uuid() {
        let mut image = tiny_image();
        let first = recompute(&mut image).unwrap().unwrap();
        let command = ThinImage::parse(&image).unwrap().command(LC_UUID).unwrap();
        assert_eq!(&command.bytes[8..24], &first);

        // A different old UUID gives the same new one.
        let mut other = image.clone();
        other[command.offset + 8..command.offset + 24].fill(0xee);
        assert_eq!(recompute(&mut other).unwrap().unwrap(), first);
        assert!(other == image);

        // Any other byte changes it.
        let last = image.len() - 1;
        image[last] ^= 1;
        assert_ne!(recompute(&mut image).unwrap().unwrap(), first);
    }

    #[test]
    fn chunked_hash_is_independent_of_threads() {
        let bytes: Vec<u8> = (0..CHUNK * 2 + 12345).map(|i| (i % 251) as u8).collect();
        let parallel = chunk_digests(&bytes, &[]);
        let serial: Vec<[u8; 32]> = bytes.chunks(CHUNK).map(crate::digest::sha256).collect();
        assert_eq!(parallel, serial);
        assert_eq!(parallel.len(), 3);
        assert_eq!(uuid_of(&bytes), uuid_of(&bytes.clone()));
        assert!(chunk_digests(&[], &[]).is_empty());
        // Digests given are taken, those missing computed: a wrong one shows.
        assert_eq!(chunk_digests(&bytes, &[None, Some(serial[1])]), serial);
        assert_eq!(chunk_digests(&bytes, &[Some([9; 32])])[0], [9; 32]);
        let empty = uuid_of(&[]);
        assert_eq!(empty[6] >> 4, 3);
    }

    #[test]
    fn the_chunk_holding_the_uuid_is_always_hashed_anew() {
        let image = tiny_image();
        let (mut a, mut b) = (image.clone(), image);
        // A digest for chunk 0 taken before the field was zeroed (or plain wrong) is ignored.
        assert_eq!(recompute_known(&mut a, &[Some([1; 32])]).unwrap(), recompute(&mut b).unwrap());
        assert!(a == b);
    }

    #[test]
    fn images_without_uuid_are_left_alone() {
        let image = tiny_image();
        let thin = ThinImage::parse(&image).unwrap();
        let command = thin.command(LC_UUID).unwrap();
        // Turn LC_UUID into an unknown command.
        let mut no_uuid = image.clone();
        no_uuid[command.offset..command.offset + 4].copy_from_slice(&0x7777u32.to_le_bytes());
        let copy = no_uuid.clone();
        assert_eq!(recompute(&mut no_uuid).unwrap(), None);
        assert!(copy == no_uuid);
        assert!(recompute(&mut b"junk".to_vec()).is_err());
    }
}
