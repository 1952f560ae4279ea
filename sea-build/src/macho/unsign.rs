//! Removing the code signature of a Mach-O file, so it can be edited and signed again.
//!
//! A signature is an `LC_CODE_SIGNATURE` load command pointing at a blob that ends
//! `__LINKEDIT` and the file. Removing it, per thin image:
//!
//! 1. compute where the image's meaningful data ends ([`ThinImage::data_end`]): every
//!    segment but `__LINKEDIT`, symbols, strings, indirect symbols, dyld info, fixups and
//!    every other linkedit blob, the signature left out;
//! 2. check that the signature's command is the last load command, that its blob ends the
//!    file, and that only alignment padding (under 16 bytes) separates the data from it;
//! 3. cut the file at that end, shrink `__LINKEDIT`'s `filesize` to match (and set its
//!    `vmsize` to the size rounded up to the page), zero the command's bytes in place and
//!    take it out of `ncmds` and `sizeofcmds`. The zeroed slot is the room the next
//!    signature's command needs.
//!
//! A universal file has every slice unsigned and is rebuilt with the same alignments.

use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as Le;
use object::macho::{MachHeader64, SegmentCommand64};

use super::{Kind, ThinImage, align_up, fat_slices, in_slice, kind, map_slices};

/// Largest gap the linkers leave between the data and the signature (it is 16-aligned).
const MAX_SIGNATURE_PADDING: u64 = 16;

/// Whether `data` (a thin image or any slice of a universal file) carries a code signature.
///
/// ```
/// # let image = sea_build::macho::fixture::tiny_image();
/// assert!(!sea_build::macho::unsign::is_signed(&image)?);
/// assert!(sea_build::macho::unsign::is_signed(b"not mach-o").is_err());
/// # anyhow::Ok(())
/// ```
pub fn is_signed(data: &[u8]) -> Result<bool> {
    match kind(data)? {
        Kind::Thin => Ok(ThinImage::parse(data)?.code_signature().is_some()),
        Kind::Fat => {
            for (index, slice) in fat_slices(data)?.iter().enumerate() {
                let thin = ThinImage::parse(slice.data).with_context(|| in_slice(index, slice))?;
                if thin.code_signature().is_some() {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// `data` without its code signature (every slice of a universal file); an unsigned input
/// comes back as an identical copy.
///
/// Fails with an explanation when the signature is not where signers put it: its command
/// not last, its blob not ending the file, data between the signature and the rest, or a
/// truncated file.
///
/// ```
/// use sea_build::macho::{fixture::{Options, image}, unsign::{is_signed, unsign}};
/// let signed = image(Options { signature: Some(200), ..Options::default() });
/// let unsigned = unsign(&signed)?;
/// assert!(!is_signed(&unsigned)?);
/// assert!(unsigned.len() < signed.len());
/// assert_eq!(unsign(&unsigned)?, unsigned, "nothing left to remove");
/// # anyhow::Ok(())
/// ```
pub fn unsign(data: &[u8]) -> Result<Vec<u8>> {
    if !is_signed(data)? {
        return Ok(data.to_vec());
    }
    map_slices(data, unsign_thin)
}

/// What unsigning one thin image changes: where it is cut, and the fields set.
struct Unsigning {
    /// The image's new length.
    end: usize,
    /// Where `__LINKEDIT`'s segment command is, and its new sizes.
    linkedit_at: usize,
    filesize: u64,
    vmsize: u64,
    /// The signature's load command, zeroed.
    command: std::ops::Range<usize>,
}

impl Unsigning {
    /// Applies the edits to `out`, the image's first [`Unsigning::end`] bytes.
    fn apply(&self, out: &mut [u8]) -> Result<()> {
        let (segment, _) = object::pod::from_bytes_mut::<SegmentCommand64<Le>>(&mut out[self.linkedit_at..]).ok().context("internal error: __LINKEDIT command moved")?;
        segment.filesize.set(Le, self.filesize);
        segment.vmsize.set(Le, self.vmsize);
        out[self.command.clone()].fill(0);
        let (header, _) = object::pod::from_bytes_mut::<MachHeader64<Le>>(out).ok().context("internal error: header vanished")?;
        header.ncmds.set(Le, header.ncmds.get(Le) - 1);
        let sizeofcmds = header.sizeofcmds.get(Le) - self.command.len() as u32;
        header.sizeofcmds.set(Le, sizeofcmds);
        Ok(())
    }
}

/// Unsigns one thin image.
fn unsign_thin(data: &[u8]) -> Result<Vec<u8>> {
    let Some(unsigning) = plan_thin(data)? else {
        return Ok(data.to_vec());
    };
    let mut out = data[..unsigning.end].to_vec();
    unsigning.apply(&mut out)?;
    Ok(out)
}

/// Removes the signature of `image` where it lies: a thin image is cut and edited in place,
/// without a second copy of it in memory (a universal file is rebuilt).
///
/// ```
/// use sea_build::macho::{fixture::{Options, image}, unsign::{unsign, unsign_in_place}};
/// let signed = image(Options { signature: Some(256), ..Options::default() });
/// let mut in_place = signed.clone();
/// unsign_in_place(&mut in_place)?;
/// assert_eq!(in_place, unsign(&signed)?);
/// # anyhow::Ok(())
/// ```
pub fn unsign_in_place(image: &mut Vec<u8>) -> Result<()> {
    match kind(image)? {
        Kind::Thin => {
            let len = unsign_slice(image)?;
            image.truncate(len as usize);
        }
        Kind::Fat => *image = unsign(image)?,
    }
    Ok(())
}

/// [`unsign_in_place`] for a thin image in a buffer that cannot shrink, such as a writable
/// map of the file: returns the unsigned image's length; cut the rest (for a file,
/// `set_len`). Only the header's pages are written.
///
/// ```
/// use sea_build::macho::{fixture::{Options, image}, unsign::{unsign, unsign_slice}};
/// let signed = image(Options { signature: Some(256), ..Options::default() });
/// let mut map = signed.clone();
/// let len = unsign_slice(&mut map)?;
/// assert_eq!(map[..len as usize], unsign(&signed)?[..]);
/// # anyhow::Ok(())
/// ```
pub fn unsign_slice(image: &mut [u8]) -> Result<u64> {
    ensure!(kind(image)? == Kind::Thin, "a universal file is rebuilt to unsign it: use `unsign`");
    match plan_thin(image)? {
        Some(unsigning) => {
            unsigning.apply(&mut image[..unsigning.end])?;
            Ok(unsigning.end as u64)
        }
        None => Ok(image.len() as u64),
    }
}

/// Checks that the signature of the thin image `data` can be removed and says how; `None`
/// when it is unsigned.
fn plan_thin(data: &[u8]) -> Result<Option<Unsigning>> {
    let image = ThinImage::parse(data)?;
    let Some(signature) = image.code_signature() else {
        return Ok(None);
    };
    let command_count = image.commands().len();
    if signature.command_index + 1 != command_count {
        bail!(
            "LC_CODE_SIGNATURE is load command {} of {command_count}, not the last one: a tool \
             added commands after signing; this layout cannot be unsigned safely (start from \
             the original binary)",
            signature.command_index
        );
    }
    let file_len = data.len() as u64;
    if signature.end() != file_len {
        bail!(
            "the code signature spans {:#x}..{:#x} but the file is {file_len:#x} bytes long: \
             the signature does not end the file (data was appended after signing, or the file \
             is truncated); start from the original binary",
            signature.offset,
            signature.end()
        );
    }
    let linkedit = image.linkedit()?;
    ensure!(
        signature.offset >= linkedit.fileoff() && signature.end() <= linkedit.file_end(),
        "the code signature ({:#x}..{:#x}) lies outside __LINKEDIT ({:#x}..{:#x}): the binary \
         is damaged",
        signature.offset,
        signature.end(),
        linkedit.fileoff(),
        linkedit.file_end()
    );
    let end = image.data_end().max(linkedit.fileoff());
    if end > signature.offset {
        let overlapping = image.file_ranges().iter().filter(|r| r.len > 0 && r.end() > signature.offset && r.what != signature.what).map(|r| r.what).next().unwrap_or("a segment");
        bail!(
            "the {overlapping} reaches {end:#x}, past the start of the code signature at {:#x}: \
             the binary is damaged",
            signature.offset
        );
    }
    ensure!(
        signature.offset - end < MAX_SIGNATURE_PADDING,
        "{} bytes lie between the end of the known data ({end:#x}) and the code signature \
         ({:#x}), more than alignment padding: something this tool does not know about lives \
         there, so it refuses to cut it off",
        signature.offset - end,
        signature.offset
    );

    let filesize = end - linkedit.fileoff();
    let command = image.commands()[signature.command_index];
    Ok(Some(Unsigning {
        end: end as usize,
        linkedit_at: linkedit.command.offset,
        filesize,
        vmsize: align_up(filesize, image.page_size()).unwrap_or(filesize),
        command: command.offset..command.offset + command.bytes.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{Options, image, universal};
    use super::*;
    use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};

    fn signed(cputype: u32) -> Vec<u8> {
        image(Options { cputype, signature: Some(300), ..Options::default() })
    }

    #[test]
    fn unsigning_gives_the_unsigned_layout() {
        for cputype in [CPU_TYPE_ARM64, CPU_TYPE_X86_64] {
            let signed = signed(cputype);
            let plain = image(Options {
                cputype,
                // The unsigned image has the 16 bytes of the zeroed command as extra room.
                header_room: 512 + 16,
                ..Options::default()
            });
            let unsigned = unsign(&signed).unwrap();
            assert_eq!(unsigned.len(), plain.len());
            let thin = ThinImage::parse(&unsigned).unwrap();
            assert!(thin.code_signature().is_none());
            assert_eq!(thin.header_room().unwrap(), 512 + 16);
            let linkedit = thin.linkedit().unwrap();
            assert_eq!(linkedit.file_end(), unsigned.len() as u64);
            assert_eq!(linkedit.vmsize() % thin.page_size(), 0);
            // Everything after the load commands is untouched; the command's slot is zero.
            let signed_end = ThinImage::parse(&signed).unwrap().commands_end();
            assert!(unsigned[signed_end..] == signed[signed_end..unsigned.len()]);
            assert_eq!(thin.commands_end(), signed_end - 16);
            assert!(unsigned[signed_end - 16..signed_end].iter().all(|&b| b == 0));
            assert!(!is_signed(&unsigned).unwrap());
        }
    }

    #[test]
    fn unsigned_input_is_returned_unchanged() {
        let plain = image(Options::default());
        assert_eq!(unsign(&plain).unwrap(), plain);
    }

    #[test]
    fn unsigns_every_slice_of_a_universal_file() {
        let (arm, x86) = (signed(CPU_TYPE_ARM64), signed(CPU_TYPE_X86_64));
        let fat = universal(&[&x86, &arm]);
        assert!(is_signed(&fat).unwrap());
        let unsigned = unsign(&fat).unwrap();
        assert!(!is_signed(&unsigned).unwrap());
        let slices = fat_slices(&unsigned).unwrap();
        assert_eq!(slices[0].data, unsign(&x86).unwrap());
        assert_eq!(slices[1].data, unsign(&arm).unwrap());
        assert_eq!(slices[1].offset % 0x4000, 0);
    }

    #[test]
    fn signature_not_at_the_end_is_refused() {
        let mut appended = signed(CPU_TYPE_ARM64);
        appended.extend_from_slice(&[0; 32]);
        let error = unsign(&appended).unwrap_err().to_string();
        assert!(error.contains("does not end the file"), "{error}");
    }

    #[test]
    fn signature_not_last_command_is_refused() {
        let data = signed(CPU_TYPE_ARM64);
        let thin = ThinImage::parse(&data).unwrap();
        // Swap the last two commands (LC_UUID and LC_CODE_SIGNATURE, 24 and 16 bytes).
        let commands = thin.commands();
        let (uuid, signature) = (commands[commands.len() - 2], commands[commands.len() - 1]);
        let mut swapped = data.clone();
        let mut both = signature.bytes.to_vec();
        both.extend_from_slice(uuid.bytes);
        swapped[uuid.offset..uuid.offset + both.len()].copy_from_slice(&both);
        let error = unsign(&swapped).unwrap_err().to_string();
        assert!(error.contains("not the last one"), "{error}");
    }

    #[test]
    fn unknown_data_before_the_signature_is_refused() {
        let data = signed(CPU_TYPE_ARM64);
        let thin = ThinImage::parse(&data).unwrap();
        let strings = *thin.file_ranges().iter().find(|r| r.what == "LC_SYMTAB string table").unwrap();
        // Shrink the string table by 16: 16+ bytes of unexplained data before the signature.
        let mut shrunk = data.clone();
        let at = strings.field + 4;
        let size = u32::from_le_bytes(shrunk[at..at + 4].try_into().unwrap());
        shrunk[at..at + 4].copy_from_slice(&(size - 16).to_le_bytes());
        let error = unsign(&shrunk).unwrap_err().to_string();
        assert!(error.contains("more than alignment padding"), "{error}");
        // Grow it into the signature: overlap.
        let mut grown = data.clone();
        grown[at..at + 4].copy_from_slice(&(size + 16).to_le_bytes());
        let error = unsign(&grown).unwrap_err().to_string();
        assert!(error.contains("past the start of the code signature"), "{error}");
    }

    #[test]
    fn truncated_files_are_errors_not_panics() {
        let data = signed(CPU_TYPE_ARM64);
        for len in 0..data.len() {
            let error = unsign(&data[..len]).unwrap_err().to_string();
            assert!(error.contains("truncated") || error.contains("too short"), "{len}: {error}");
        }
    }
}
