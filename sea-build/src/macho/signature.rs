//! Room for a code signature in an unsigned thin image, laid out the way apple-codesign and
//! Apple's `codesign` lay it out, so a signer can fill it where the image lies (a file, a
//! map) instead of writing the image again:
//!
//! - the signature starts at the end of `__LINKEDIT`'s data, rounded up to 16 bytes, and
//!   ends the file;
//! - `__LINKEDIT` grows to cover it: `filesize` to the new end, `vmsize` to that rounded up
//!   to 16 KiB (as `codesign` does, whatever the page size);
//! - an `LC_CODE_SIGNATURE` command (16 bytes of header room) points at it.
//!
//! Filling the room with the signature's bytes (zero-padded to its length) gives exactly the
//! file apple-codesign's `MachOSigner` writes for the same image and settings.

use anyhow::{Context, Result, ensure};
use object::LittleEndian as Le;
use object::macho::{LC_CODE_SIGNATURE, LinkeditDataCommand, MachHeader64, SegmentCommand64};
use object::pod::bytes_of;

use super::{HEADER_LEN, ThinImage, align_up};

/// Length of the `LC_CODE_SIGNATURE` command.
const COMMAND_LEN: usize = size_of::<LinkeditDataCommand<Le>>();

/// `codesign` rounds `__LINKEDIT`'s `vmsize` up to this.
const LINKEDIT_VM_ALIGN: u64 = 16 << 10;

/// Where a signature of a given length goes, and the header that points at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRoom {
    /// The image's new header and load commands: they replace its first `header.len()` bytes.
    pub header: Vec<u8>,
    /// File offset of the signature.
    pub offset: u64,
    /// The image's new length: the signature ends it. Bytes between the old end and the
    /// signature are zeros.
    pub file_len: u64,
}

/// Plans room for a signature of `len` bytes in the unsigned thin `image`.
///
/// ```
/// # let image = sea_build::macho::fixture::tiny_image();
/// let room = sea_build::macho::signature::reserve(&image, 4096)?;
/// assert_eq!(room.offset % 16, 0);
/// assert_eq!(room.file_len, room.offset + 4096);
/// # anyhow::Ok(())
/// ```
pub fn reserve(image: &[u8], len: u64) -> Result<SignatureRoom> {
    let thin = ThinImage::parse(image)?;
    ensure!(thin.code_signature().is_none(), "the image is signed already: remove the signature first (sea_build::macho::unsign)");
    if thin.header_room()? < COMMAND_LEN as u64 {
        crate::error::fail!(
            NoHeaderRoom,
            "the image has {} bytes free after its load commands, and the signature's command needs {COMMAND_LEN}: no room to sign it (relink with -headerpad)",
            thin.header_room()?
        );
    }
    let linkedit = thin.linkedit()?;
    ensure!(linkedit.file_end() == image.len() as u64, "__LINKEDIT ends at {:#x}, not at the end of the file ({:#x}): data after it would be lost when signing", linkedit.file_end(), image.len());
    let offset = align_up(linkedit.file_end(), 16).context("the image is too large to sign")?;
    let file_len = offset.checked_add(len).context("the signature is too large")?;
    let filesize = file_len - linkedit.fileoff();
    let vmsize = align_up(filesize, LINKEDIT_VM_ALIGN).context("__LINKEDIT is too large to sign")?;

    let commands_end = thin.commands_end();
    let mut header = image[..commands_end + COMMAND_LEN].to_vec();
    let (segment, _) = object::pod::from_bytes_mut::<SegmentCommand64<Le>>(&mut header[linkedit.command.offset..]).ok().context("internal error: __LINKEDIT command out of the header")?;
    segment.filesize.set(Le, filesize);
    segment.vmsize.set(Le, vmsize);
    let command = LinkeditDataCommand {
        cmd: object::U32::new(Le, LC_CODE_SIGNATURE),
        cmdsize: object::U32::new(Le, COMMAND_LEN as u32),
        dataoff: object::U32::new(Le, u32::try_from(offset).ok().context("the signature would start beyond 4 GiB, which a Mach-O offset cannot hold")?),
        datasize: object::U32::new(Le, u32::try_from(len).ok().context("the signature is larger than 4 GiB")?),
    };
    header[commands_end..].copy_from_slice(bytes_of(&command));
    let (mach, _) = object::pod::from_bytes_mut::<MachHeader64<Le>>(&mut header[..HEADER_LEN]).ok().context("internal error: no Mach-O header")?;
    mach.ncmds.set(Le, mach.ncmds.get(Le) + 1);
    mach.sizeofcmds.set(Le, mach.sizeofcmds.get(Le) + COMMAND_LEN as u32);
    Ok(SignatureRoom { header, offset, file_len })
}

impl SignatureRoom {
    /// Applies the room to `image` in memory: the header replaced, zeros up to
    /// [`SignatureRoom::file_len`].
    pub fn apply(&self, image: &mut Vec<u8>) {
        image[..self.header.len()].copy_from_slice(&self.header);
        image.resize(self.file_len as usize, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macho::fixture::{Options, image};

    #[test]
    fn the_room_is_where_the_signers_put_it() {
        let unsigned = image(Options::default());
        let room = reserve(&unsigned, 1000).unwrap();
        let mut prepared = unsigned.clone();
        room.apply(&mut prepared);
        let thin = ThinImage::parse(&prepared).unwrap();
        let signature = thin.code_signature().expect("an LC_CODE_SIGNATURE");
        assert_eq!((signature.offset, signature.len), (room.offset, 1000));
        assert_eq!(thin.linkedit().unwrap().file_end(), room.file_len);
        assert_eq!(thin.linkedit().unwrap().vmsize() % LINKEDIT_VM_ALIGN, 0);
        assert!(reserve(&prepared, 1000).is_err(), "signed already");
        let cramped = image(Options { header_room: 8, ..Options::default() });
        assert!(format!("{:#}", reserve(&cramped, 1000).unwrap_err()).contains("no room"));
    }
}
