//! Removing the Authenticode signature of a PE image.
//!
//! Official node.exe builds are signed. The signature is a certificate table appended to the
//! file, found through data directory 4 (`IMAGE_DIRECTORY_ENTRY_SECURITY`), whose address is
//! a *file offset*. The signature's hash covers every byte of the file except the CheckSum
//! field, that directory entry and the table itself, so any edit (injecting a blob, flipping
//! the fuse) invalidates it; leaving it in place yields a file that Windows and
//! `osslsigncode` report as carrying a *corrupted* signature rather than none.
//!
//! Removal: the table must end the file (at most 7 zero bytes of alignment padding may
//! follow it); the file is cut at the table's offset, the directory entry zeroed and the
//! CheckSum recomputed. A table anywhere else means the file was modified after signing
//! (data appended behind the signature), and is refused rather than guessed at.

use std::ops::Range;

use anyhow::{Result, bail};
use object::pe::IMAGE_DIRECTORY_ENTRY_SECURITY;

use super::{PeHeaders, PeImage, checksum_skipping, put_u32};
use crate::splice::{Piece, Splice};

/// Zero bytes allowed after the certificate table: it is padded to 8-byte alignment, and some
/// signers leave that padding outside the directory's size.
const MAX_TRAILING_PADDING: usize = 7;

/// The file range of `image`'s certificate table, `None` when it has none (no security
/// directory, or one of size 0).
///
/// Fails when the table runs past the end of the file (truncated), when other bytes than up
/// to 7 zeros of padding follow it (the file was modified after signing), or when it overlaps the headers or the
/// sections' data.
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// # let image = std::fs::read("node.exe").unwrap_or_default();
/// # if image.is_empty() { return Ok(()) }
/// let headers = sea_build::pe::PeHeaders::parse(&image)?;
/// if let Some(table) = sea_build::pe::certificate_table(&headers, &image)? {
///     assert_eq!(table.end, image.len());
/// }
/// # Ok(())
/// # }
/// ```
pub fn certificate_table(headers: &PeHeaders, image: &[u8]) -> Result<Option<Range<usize>>> {
    Ok(certificate_table_in(headers, &PeImage::whole(image))?.map(|table| table.start as usize..table.end as usize))
}

/// [`certificate_table`] of a file of which only some parts are at hand: reads the bytes
/// after the table, if any.
pub fn certificate_table_in(headers: &PeHeaders, image: &PeImage<'_>) -> Result<Option<Range<u64>>> {
    let file_len = image.len();
    let Some(directory) = headers.data_directory(IMAGE_DIRECTORY_ENTRY_SECURITY) else {
        return Ok(None);
    };
    if directory.size == 0 {
        return Ok(None);
    }
    let start = u64::from(directory.virtual_address);
    let end = start + u64::from(directory.size);
    if end > file_len {
        bail!(
            "the certificate table (signature) at file offset {start:#x}, {} bytes, runs past \
             the end of the file ({file_len} bytes): the file is truncated; download it again",
            directory.size
        );
    }
    if file_len - end > MAX_TRAILING_PADDING as u64 || image.get(end..file_len).is_none_or(|rest| rest.iter().any(|&b| b != 0)) {
        bail!(
            "the certificate table (signature) at file offset {start:#x}..{end:#x} does not end \
             the file: {} more bytes (not just zero padding) follow it, so the file was modified after it was signed \
             (data appended, e.g. by another injector); start from an unmodified, signed or \
             unsigned, executable",
            file_len - end
        );
    }
    let sections_end = headers.sections_file_end();
    if start < sections_end || start < u64::from(headers.size_of_headers) {
        bail!(
            "the certificate table (signature) at file offset {start:#x} overlaps the headers \
             or section data (which end at {:#x}): the security directory is damaged; start \
             from an unmodified executable",
            sections_end.max(u64::from(headers.size_of_headers))
        );
    }
    Ok(Some(start..end))
}

/// What removing the signature of an image means: the length to keep and the directory
/// entry to clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    /// Bytes of the image kept: everything before the certificate table.
    pub keep: u64,
    /// File offset of the security directory entry (8 bytes), cleared.
    pub directory_offset: usize,
    /// File offset of the CheckSum field, recomputed.
    pub check_sum_offset: usize,
}

/// What removing the signature of `image` (with its parsed `headers`) takes; `None` when
/// there is nothing to remove (no security directory, or an all-zero one). Fails as
/// [`certificate_table`] does.
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// # let bytes = std::fs::read("node.exe").unwrap_or_default();
/// # if bytes.is_empty() { return Ok(()) }
/// use sea_build::pe::{PeHeaders, PeImage, unsign::removal};
/// let image = PeImage::whole(&bytes);
/// if let Some(removal) = removal(&PeHeaders::parse_image(&image)?, &image)? {
///     assert!(removal.keep < bytes.len() as u64);
/// }
/// # Ok(())
/// # }
/// ```
pub fn removal(headers: &PeHeaders, image: &PeImage<'_>) -> Result<Option<Removal>> {
    let Some(directory) = headers.data_directory(IMAGE_DIRECTORY_ENTRY_SECURITY) else {
        return Ok(None);
    };
    if directory.is_empty() {
        return Ok(None);
    }
    let keep = certificate_table_in(headers, image)?.map_or(image.len(), |table| table.start);
    let Some(directory_offset) = headers.data_directory_offset(IMAGE_DIRECTORY_ENTRY_SECURITY) else {
        return Ok(None);
    };
    Ok(Some(Removal { keep, directory_offset, check_sum_offset: headers.check_sum_offset() }))
}

/// `None` when there is nothing to remove (no security directory, or an all-zero one).
fn plan(image: &[u8]) -> Result<Option<Removal>> {
    let headers = PeHeaders::parse(image)?;
    removal(&headers, &PeImage::whole(image))
}

impl Removal {
    /// The unsigned image as a [`Splice`] of the signed one: its headers with the directory
    /// entry cleared and the CheckSum field zero (the caller computes it over the result,
    /// see [`crate::pe::Checksum`]), then the rest up to the table. `headers` are the
    /// image's first bytes, at least through both fields.
    pub fn splice(&self, headers: &[u8]) -> Result<Splice> {
        let mut head = headers.to_vec();
        put_u32(&mut head, self.directory_offset, 0)?;
        put_u32(&mut head, self.directory_offset + 4, 0)?;
        put_u32(&mut head, self.check_sum_offset, 0)?;
        let head_len = (head.len() as u64).min(self.keep);
        head.truncate(head_len as usize);
        let mut splice = Splice::default();
        splice.push(Piece::Bytes(head));
        splice.push(Piece::Base(head_len..self.keep));
        Ok(splice)
    }

    fn apply(&self, image: &mut Vec<u8>) -> Result<()> {
        image.truncate(self.keep as usize);
        put_u32(image, self.directory_offset, 0)?;
        put_u32(image, self.directory_offset + 4, 0)?;
        let check_sum = checksum_skipping(image, self.check_sum_offset);
        put_u32(image, self.check_sum_offset, check_sum)
    }
}

/// Removes the Authenticode signature of `image` in place; returns whether anything changed.
///
/// An unsigned image is left untouched (`false`). A security directory of size 0 but with an
/// address is cleared (and the CheckSum recomputed). See the [module docs](self) for what
/// is refused.
///
/// ```no_run
/// let mut image = std::fs::read("node.exe")?;
/// if sea_build::pe::unsign_in_place(&mut image)? {
///     std::fs::write("node-unsigned.exe", &image)?;
/// }
/// # anyhow::Ok(())
/// ```
pub fn unsign_in_place(image: &mut Vec<u8>) -> Result<bool> {
    match plan(image)? {
        Some(removal) => {
            removal.apply(image)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// `image` without its Authenticode signature (a copy of everything before the certificate
/// table, with the security directory cleared and the CheckSum recomputed); an unsigned
/// image is returned unchanged.
///
/// ```no_run
/// let signed = std::fs::read("node.exe")?;
/// let unsigned = sea_build::pe::unsign(&signed)?;
/// assert!(unsigned.len() < signed.len());
/// assert_eq!(sea_build::pe::unsign(&unsigned)?, unsigned, "unsigning twice changes nothing");
/// # anyhow::Ok(())
/// ```
pub fn unsign(image: &[u8]) -> Result<Vec<u8>> {
    match plan(image)? {
        Some(removal) => {
            let mut unsigned = image[..removal.keep as usize].to_vec();
            removal.apply(&mut unsigned)?;
            Ok(unsigned)
        }
        None => Ok(image.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{SyntheticPe, security_directory_offset, signed};
    use super::super::{PeHeaders, checksum};
    use super::*;

    #[test]
    fn unsigning_restores_the_unsigned_image() {
        let image = SyntheticPe::default().build();
        let signed = signed(&image);
        assert!(signed.len() > image.len());
        let headers = PeHeaders::parse(&signed).unwrap();
        assert_eq!(certificate_table(&headers, &signed).unwrap(), Some(image.len()..signed.len()));
        assert_eq!(checksum(&signed).unwrap(), headers.check_sum);

        let unsigned = unsign(&signed).unwrap();
        // The image was already 8-byte aligned: exactly the original comes back.
        assert_eq!(unsigned, image);
        let mut in_place = signed.clone();
        assert!(unsign_in_place(&mut in_place).unwrap());
        assert_eq!(in_place, image);
    }

    #[test]
    fn unsigned_images_are_unchanged() {
        for image in [SyntheticPe::default().build(), SyntheticPe { resources: false, ..SyntheticPe::default() }.build()] {
            assert_eq!(unsign(&image).unwrap(), image);
            let mut copy = image.clone();
            assert!(!unsign_in_place(&mut copy).unwrap());
            assert_eq!(copy, image);
            assert_eq!(certificate_table(&PeHeaders::parse(&image).unwrap(), &image).unwrap(), None);
        }
    }

    #[test]
    fn alignment_padding_after_the_table_is_allowed() {
        let image = SyntheticPe::default().build();
        let mut padded = signed(&image);
        padded.extend([0; 7]);
        crate::pe::update_checksum(&mut padded).unwrap();
        assert_eq!(unsign(&padded).unwrap(), image);
    }

    #[test]
    fn a_table_not_at_the_end_is_refused() {
        let image = SyntheticPe::default().build();
        let mut appended = signed(&image);
        appended.extend(b"appended after signing");
        let error = unsign(&appended).unwrap_err().to_string();
        assert!(error.contains("does not end the file"), "{error}");
        // Seven bytes, but not zeros.
        let mut junk = signed(&image);
        junk.extend(b"junk");
        let error = unsign(&junk).unwrap_err().to_string();
        assert!(error.contains("does not end the file"), "{error}");
    }

    #[test]
    fn a_truncated_table_is_refused() {
        let image = SyntheticPe::default().build();
        let signed = signed(&image);
        for cut in [1, 8, signed.len() - image.len() - 1] {
            let error = unsign(&signed[..signed.len() - cut]).unwrap_err().to_string();
            assert!(error.contains("truncated"), "{error}");
        }
    }

    #[test]
    fn a_table_over_the_sections_is_refused() {
        let image = SyntheticPe::default().build();
        let mut overlapping = signed(&image);
        let directory = security_directory_offset(&overlapping);
        let headers = PeHeaders::parse(&overlapping).unwrap();
        let inside = headers.sections[1].pointer_to_raw_data;
        let size = (overlapping.len() as u32) - inside;
        overlapping[directory..directory + 4].copy_from_slice(&inside.to_le_bytes());
        overlapping[directory + 4..directory + 8].copy_from_slice(&size.to_le_bytes());
        let error = unsign(&overlapping).unwrap_err().to_string();
        assert!(error.contains("overlaps the headers or section data"), "{error}");
    }

    #[test]
    fn an_empty_directory_with_an_address_is_cleared() {
        let image = SyntheticPe::default().build();
        let mut stale = image.clone();
        let directory = security_directory_offset(&stale);
        stale[directory..directory + 4].copy_from_slice(&0x1234u32.to_le_bytes());
        assert!(unsign_in_place(&mut stale).unwrap());
        assert_eq!(stale, image);
    }
}
