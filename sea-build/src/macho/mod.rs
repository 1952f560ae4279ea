//! Mach-O (macOS) byte formats: the helpers that unsigning, relativising and injection share.
//!
//! Only what node ships is supported: 64-bit little-endian images for x86_64 and arm64, alone
//! (*thin*) or bundled in a *universal* (fat) file. Everything here works on bytes in memory;
//! reading and writing files is the caller's business.
//!
//! ## A thin image
//!
//! ```text
//! | mach_header_64 (32 bytes) | load commands (ncmds, sizeofcmds bytes) | free space |
//! | __TEXT sections ... | __DATA_CONST ... | __DATA ... | __LINKEDIT |
//! ```
//!
//! `__TEXT` starts at file offset 0, so the header and load commands are part of it; the first
//! section's file offset limits how far the load commands can grow (the *header room*). The
//! `__LINKEDIT` segment comes last, in command order, in the file and in memory. It holds
//! data that only the loader and tools read, each piece announced by a load command as a file
//! offset and a size:
//!
//! - `LC_DYLD_INFO(_ONLY)`: rebase, bind, weak bind, lazy bind opcodes and the export trie;
//! - `LC_SYMTAB`: the symbol table (16-byte `nlist_64` entries) and the string table;
//! - `LC_DYSYMTAB`: the indirect symbol table, and in old layouts a table of contents,
//!   module table, external references and relocations;
//! - every `linkedit_data_command`: function starts, data in code, chained fixups, export
//!   trie, split info, dylib code-sign DRs, linker optimization hints, atom info, and the
//!   code signature (`LC_CODE_SIGNATURE`), which when present comes last.
//!
//! [`ThinImage::file_ranges`] lists all of them with the position of the offset field, so a
//! transformation can move them; [`ThinImage::data_end`] is where the meaningful data of the
//! image ends when the signature is left out.
//!
//! ## A universal file
//!
//! A big-endian `fat_header` (magic `0xcafebabe`, slice count) and one 20-byte `fat_arch` per
//! slice (cputype, cpusubtype, offset, size, align); each slice is a thin image at an offset
//! that is a multiple of 2^align (2^14 for arm64 slices made by Apple's and LLVM's lipo).
//! [`fat_slices`] reads one (also the rare 64-bit `0xcafebabf` variant), [`FatLayout`] writes
//! one (always the 32-bit variant, like lipo) and [`map_slices`] transforms every slice.

use std::mem::size_of;

use anyhow::{Context, Result, bail};
use object::LittleEndian as Le;
use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64, FAT_MAGIC, FAT_MAGIC_64, MH_CIGAM, MH_CIGAM_64, MH_MAGIC, MH_MAGIC_64, MachHeader64};

#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod fixture;
pub mod relativise;
pub mod signature;
pub mod strip;
mod thin;
mod universal;
pub mod unsign;
pub mod uuid;

pub use thin::{Command, FileRange, NLIST_LEN, Segment, ThinImage, linkedit_data_name};
pub(crate) use universal::shrink_slices;
pub use universal::{FatEntry, FatLayout, FatSlice, fat_slices, map_slices};

/// Length of a 64-bit Mach-O header; the load commands follow it.
///
/// ```
/// assert_eq!(sea_build::macho::HEADER_LEN, 32);
/// ```
pub const HEADER_LEN: usize = size_of::<MachHeader64<Le>>();

/// Name of the segment that must come last and holds symbols, fixups and the signature.
pub const LINKEDIT: &[u8] = b"__LINKEDIT";

/// `LC_ATOM_INFO`: a `linkedit_data_command` written by Apple's newer linker (not yet among
/// the `object` crate's constants).
pub const LC_ATOM_INFO: u32 = 0x36;

/// `LC_FUNCTION_VARIANTS`: a `linkedit_data_command` of macOS 26 SDKs.
pub const LC_FUNCTION_VARIANTS: u32 = 0x37;

/// `LC_FUNCTION_VARIANT_FIXUPS`: a `linkedit_data_command` of macOS 26 SDKs.
pub const LC_FUNCTION_VARIANT_FIXUPS: u32 = 0x38;

/// The loader's page size for a CPU type: 16 KiB on arm64, 4 KiB on x86_64.
///
/// Segments start on these boundaries in the file and in memory.
///
/// ```
/// use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};
/// assert_eq!(sea_build::macho::page_size(CPU_TYPE_ARM64)?, 0x4000);
/// assert_eq!(sea_build::macho::page_size(CPU_TYPE_X86_64)?, 0x1000);
/// assert!(sea_build::macho::page_size(7).is_err(), "i386 is not supported");
/// # anyhow::Ok(())
/// ```
pub fn page_size(cputype: u32) -> Result<u64> {
    match cputype {
        CPU_TYPE_ARM64 => Ok(0x4000),
        CPU_TYPE_X86_64 => Ok(0x1000),
        other => bail!(
            "unsupported Mach-O CPU type {other:#x} ({}): only x86_64 and arm64 images are \
             supported",
            arch_name(other)
        ),
    }
}

/// A readable name for a Mach-O CPU type, for messages.
///
/// ```
/// assert_eq!(sea_build::macho::arch_name(object::macho::CPU_TYPE_ARM64), "arm64");
/// assert_eq!(sea_build::macho::arch_name(0x1234), "unknown");
/// ```
pub fn arch_name(cputype: u32) -> &'static str {
    match cputype {
        CPU_TYPE_ARM64 => "arm64",
        CPU_TYPE_X86_64 => "x86_64",
        object::macho::CPU_TYPE_X86 => "i386",
        object::macho::CPU_TYPE_ARM => "arm",
        object::macho::CPU_TYPE_ARM64_32 => "arm64_32",
        object::macho::CPU_TYPE_POWERPC => "ppc",
        object::macho::CPU_TYPE_POWERPC64 => "ppc64",
        _ => "unknown",
    }
}

/// Whether `data` starts like a universal (fat) file (magic `0xcafebabe` or `0xcafebabf`).
///
/// Only the magic is looked at; [`fat_slices`] validates the rest. (Java class files share
/// the 32-bit magic; they fail there.)
///
/// ```
/// assert!(sea_build::macho::is_fat(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1]));
/// assert!(!sea_build::macho::is_fat(&[0xcf, 0xfa, 0xed, 0xfe]));
/// ```
pub fn is_fat(data: &[u8]) -> bool {
    matches!(data.first_chunk::<4>().map(|magic| u32::from_be_bytes(*magic)), Some(FAT_MAGIC | FAT_MAGIC_64))
}

/// What kind of Mach-O file `data` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One 64-bit little-endian image.
    Thin,
    /// A universal file holding one or more thin images.
    Fat,
}

/// Tells a thin image from a universal file, or explains why `data` is neither (a 32-bit or
/// big-endian image, or not Mach-O at all).
///
/// ```
/// use sea_build::macho::{Kind, kind};
/// assert_eq!(kind(&[0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0])?, Kind::Thin);
/// assert_eq!(kind(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1])?, Kind::Fat);
/// assert!(kind(b"\x7fELF").unwrap_err().to_string().contains("not a Mach-O file"));
/// # anyhow::Ok(())
/// ```
pub fn kind(data: &[u8]) -> Result<Kind> {
    let Some(magic) = data.first_chunk::<4>() else {
        bail!("not a Mach-O file: it is {} bytes long, too short for a magic number", data.len());
    };
    match u32::from_be_bytes(*magic) {
        FAT_MAGIC | FAT_MAGIC_64 => Ok(Kind::Fat),
        // The big-endian reading of a little-endian 64-bit magic.
        MH_CIGAM_64 => Ok(Kind::Thin),
        MH_MAGIC_64 => bail!("big-endian 64-bit Mach-O images are not supported: use an x86_64 or arm64 binary"),
        MH_MAGIC | MH_CIGAM => {
            bail!("32-bit Mach-O images are not supported: use a 64-bit x86_64 or arm64 binary")
        }
        other => bail!(
            "not a Mach-O file (it starts with {other:#010x}; Mach-O starts with cffaedfe, \
             universal files with cafebabe): use a macOS binary"
        ),
    }
}

/// "slice N (arch) of the universal file", for error context.
pub(crate) fn in_slice(index: usize, slice: &FatSlice<'_>) -> String {
    format!("in slice {index} ({}) of the universal file", arch_name(slice.cputype))
}

/// Rounds `value` up to a multiple of the power of two `alignment`; `None` on overflow.
pub(crate) fn align_up(value: u64, alignment: u64) -> Option<u64> {
    Some(value.checked_add(alignment - 1)? & !(alignment - 1))
}

/// Writes a 4- or 8-byte little-endian offset field of a [`FileRange`] into `bytes`, where
/// `base` is the image offset at which `bytes` starts.
pub(crate) fn set_field(bytes: &mut [u8], base: usize, range: &FileRange, value: u64) -> Result<()> {
    let at = range.field.checked_sub(base).context("internal error: field before buffer")?;
    if range.wide {
        let slot = bytes.get_mut(at..at + 8).context("internal error: field past buffer")?;
        slot.copy_from_slice(&value.to_le_bytes());
    } else {
        let value = u32::try_from(value).ok().with_context(|| {
            format!(
                "the {} would move to offset {value:#x}, beyond the 4 GiB a 32-bit Mach-O offset \
                 can hold",
                range.what
            )
        })?;
        let slot = bytes.get_mut(at..at + 4).context("internal error: field past buffer")?;
        slot.copy_from_slice(&value.to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fixture::{Options, image, tiny_image, universal};
    use crate::testing::XorShift;
    use std::mem::offset_of;

    use object::macho::SegmentCommand64;

    use super::*;

    #[test]
    fn parses_the_tiny_image() {
        let data = tiny_image();
        let thin = ThinImage::parse(&data).unwrap();
        assert_eq!(thin.cputype(), CPU_TYPE_ARM64);
        assert_eq!(thin.page_size(), 0x4000);
        let names: Vec<&[u8]> = thin.segments().iter().map(|s| s.name()).collect();
        assert_eq!(names, [&b"__PAGEZERO"[..], b"__TEXT", b"__LINKEDIT"]);
        let linkedit = thin.linkedit().unwrap();
        assert_eq!(linkedit.fileoff(), 0x4000);
        assert_eq!(thin.data_end(), data.len() as u64);
        assert_eq!(thin.header_room().unwrap(), 512);
        assert!(thin.code_signature().is_none());
        let whats: Vec<&str> = thin.file_ranges().iter().map(|r| r.what).collect();
        assert_eq!(whats, ["section contents", "LC_SYMTAB symbol table", "LC_SYMTAB string table", "LC_FUNCTION_STARTS"]);
        // Each field really holds the offset it announces.
        for range in thin.file_ranges() {
            let field = u32::from_le_bytes(data[range.field..range.field + 4].try_into().unwrap());
            assert_eq!(u64::from(field), range.offset, "{}", range.what);
        }
    }

    #[test]
    fn signed_image_reports_signature_and_data_end() {
        let data = image(Options { signature: Some(100), ..Options::default() });
        let thin = ThinImage::parse(&data).unwrap();
        let signature = thin.code_signature().unwrap();
        assert_eq!(signature.end(), data.len() as u64);
        assert!(thin.data_end() <= signature.offset);
        assert!(signature.offset - thin.data_end() < 16);
    }

    #[test]
    fn refuses_what_is_not_a_thin_64_bit_image() {
        let data = tiny_image();
        let error = |bytes: &[u8]| ThinImage::parse(bytes).unwrap_err().to_string();
        assert!(error(b"").contains("too short"));
        assert!(error(b"\x7fELF....").contains("not a Mach-O file"));
        assert!(error(&[0xce, 0xfa, 0xed, 0xfe, 0, 0, 0, 0]).contains("32-bit"));
        assert!(error(&[0xfe, 0xed, 0xfa, 0xcf, 0, 0, 0, 0]).contains("big-endian"));
        assert!(error(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1]).contains("universal"));
        let mut i386 = data.clone();
        i386[4..8].copy_from_slice(&7u32.to_le_bytes());
        assert!(error(&i386).contains("i386"));
        let mut too_many = data.clone();
        too_many[20..24].copy_from_slice(&0xffffu32.to_le_bytes());
        assert!(error(&too_many).contains("truncated"));
        let mut fewer = data.clone();
        fewer[16..20].copy_from_slice(&2u32.to_le_bytes());
        assert!(error(&fewer).contains("sizeofcmds"));
    }

    #[test]
    fn truncations_are_errors_not_panics() {
        for data in [tiny_image(), image(Options { signature: Some(64), ..Options::default() })] {
            for len in 0..data.len() {
                let error = ThinImage::parse(&data[..len]).unwrap_err().to_string();
                assert!(error.contains("truncated") || error.contains("too short"), "{len}: {error}");
            }
        }
    }

    #[test]
    fn corrupted_headers_never_panic() {
        let data = image(Options { signature: Some(64), ..Options::default() });
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15u64);
        let mut next = || random.next_u64();
        let commands_end = ThinImage::parse(&data).unwrap().commands_end();
        for _ in 0..5000 {
            let mut corrupted = data.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % commands_end;
                corrupted[at] = next() as u8;
            }
            if let Ok(thin) = ThinImage::parse(&corrupted) {
                let _ = thin.linkedit();
                let _ = thin.header_room();
                let _ = thin.data_end();
            }
        }
    }

    #[test]
    fn linkedit_must_be_last() {
        let data = tiny_image();
        let thin = ThinImage::parse(&data).unwrap();
        // Move __TEXT's file range beyond __LINKEDIT.
        let text = thin.segment(b"__TEXT").unwrap();
        let mut moved = data.clone();
        let at = text.command.offset + offset_of!(SegmentCommand64<Le>, vmaddr);
        moved[at..at + 8].copy_from_slice(&0x2_0000_0000u64.to_le_bytes());
        let error = ThinImage::parse(&moved).unwrap().linkedit().unwrap_err().to_string();
        assert!(error.contains("lies beyond __LINKEDIT"), "{error}");
        // Rename __LINKEDIT: gone.
        let linkedit = thin.linkedit().unwrap();
        let mut renamed = data.clone();
        renamed[linkedit.command.offset + 10] = b'X';
        let error = ThinImage::parse(&renamed).unwrap().linkedit().unwrap_err().to_string();
        assert!(error.contains("no __LINKEDIT"), "{error}");
    }

    #[test]
    fn fat_round_trip_keeps_alignment_and_order() {
        let arm = tiny_image();
        let x86 = image(Options { cputype: CPU_TYPE_X86_64, ..Options::default() });
        let fat = universal(&[&x86, &arm]);
        assert_eq!(kind(&fat).unwrap(), Kind::Fat);
        let slices = fat_slices(&fat).unwrap();
        assert_eq!(slices.len(), 2);
        assert_eq!((slices[0].offset, slices[0].align), (0x1000, 12));
        assert_eq!(slices[1].offset % 0x4000, 0);
        assert_eq!(slices[0].data, &x86[..]);
        assert_eq!(slices[1].data, &arm[..]);
        // Identity transform rebuilds the same bytes.
        assert_eq!(map_slices(&fat, |s| Ok(s.to_vec())).unwrap(), fat);
        // A growing transform moves the second slice to its next aligned offset.
        let grown = map_slices(&fat, |s| {
            let mut v = s.to_vec();
            v.extend_from_slice(&[0xaa; 0x1001]);
            Ok(v)
        })
        .unwrap();
        let slices = fat_slices(&grown).unwrap();
        assert_eq!(slices[1].offset % 0x4000, 0);
        assert!(slices[1].offset >= 0x1000 + x86.len() as u64 + 0x1001);
        // Errors name the slice.
        let error = map_slices(&fat, |_| bail!("boom")).unwrap_err();
        assert!(format!("{error:#}").contains("slice 0 (x86_64)"), "{error:#}");
    }

    #[test]
    fn fat_64_bit_header_is_read() {
        let arm = tiny_image();
        let mut fat = Vec::new();
        fat.extend_from_slice(&FAT_MAGIC_64.to_be_bytes());
        fat.extend_from_slice(&1u32.to_be_bytes());
        fat.extend_from_slice(&CPU_TYPE_ARM64.to_be_bytes());
        fat.extend_from_slice(&0u32.to_be_bytes());
        fat.extend_from_slice(&0x4000u64.to_be_bytes());
        fat.extend_from_slice(&(arm.len() as u64).to_be_bytes());
        fat.extend_from_slice(&14u32.to_be_bytes());
        fat.extend_from_slice(&0u32.to_be_bytes());
        fat.resize(0x4000, 0);
        fat.extend_from_slice(&arm);
        let slices = fat_slices(&fat).unwrap();
        assert_eq!(slices[0].data, &arm[..]);
        // Rebuilt with the 32-bit header.
        let rebuilt = map_slices(&fat, |s| Ok(s.to_vec())).unwrap();
        assert_eq!(&rebuilt[..4], &FAT_MAGIC.to_be_bytes());
        assert_eq!(fat_slices(&rebuilt).unwrap()[0].data, &arm[..]);
    }

    #[test]
    fn bad_fat_files_are_errors() {
        let arm = tiny_image();
        let fat = universal(&[&arm]);
        for len in 0..fat.len() {
            assert!(fat_slices(&fat[..len]).is_err(), "{len}");
        }
        let mut none = fat.clone();
        none[4..8].copy_from_slice(&0u32.to_be_bytes());
        assert!(fat_slices(&none).unwrap_err().to_string().contains("no slices"));
        let mut java = fat.clone();
        java[4..8].copy_from_slice(&0x0034u32.to_be_bytes());
        assert!(fat_slices(&java).unwrap_err().to_string().contains("Java"));
        let mut misaligned = fat.clone();
        misaligned[16..20].copy_from_slice(&0x100u32.to_be_bytes());
        assert!(fat_slices(&misaligned).unwrap_err().to_string().contains("not aligned"));
        let mut overlapping = fat.clone();
        overlapping[16..20].copy_from_slice(&0u32.to_be_bytes());
        overlapping[24..28].copy_from_slice(&0u32.to_be_bytes());
        assert!(fat_slices(&overlapping).unwrap_err().to_string().contains("overlaps"));
    }

    #[test]
    fn layout_refuses_4_gib() {
        let error = FatLayout::new(vec![FatEntry { cputype: CPU_TYPE_ARM64, cpusubtype: 0, align: 14, size: 1 << 32 }]).unwrap_err().to_string();
        assert!(error.contains("4 GiB"), "{error}");
        assert!(FatLayout::new(Vec::new()).is_err());
    }
}
