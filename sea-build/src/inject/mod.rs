//! Putting a preparation blob into a node executable.
//!
//! Injection has two halves that every executable format shares:
//!
//! 1. the blob is stored where node's start-up code looks for a resource named
//!    [`NODE_SEA_BLOB`] (how and where depends on the format), and
//! 2. the [`fuse`] is flipped from `:0` to `:1`, which tells node to look at all.
//!
//! Each format module works on bytes only: it takes the base image (or, for PE, the parts of
//! it that injection reads) and the blob and plans the injected image as a [`Splice`], pieces
//! of the base plus new bytes, which the caller writes: from slices, or file to file with the
//! kernel copying the unchanged bulk, so a 120 MB node is never copied in memory. Reading and
//! writing files is left to the caller.
//!
//! Formats: [`elf`] (Linux), [`macho`] (macOS, thin and universal; unsign first with
//! [`crate::macho::unsign`]), [`pe`] (Windows; the signature removed in the same plan, or
//! first with [`crate::pe::unsign()`]).

pub mod elf;
pub mod elf_strip;
pub mod fuse;
pub mod macho;
pub mod pe;

/// The resource name node looks up at run time: the ELF note name, the Mach-O section
/// name suffix (`__NODE_SEA_BLOB`) and the Windows resource name.
///
/// ```
/// assert_eq!(sea_build::inject::NODE_SEA_BLOB, "NODE_SEA_BLOB");
/// ```
pub const NODE_SEA_BLOB: &str = "NODE_SEA_BLOB";

pub use crate::splice::{Piece, Splice};

/// The executable formats sea-build injects into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Linux.
    Elf,
    /// macOS, thin or universal.
    MachO,
    /// Windows.
    Pe,
}

impl Format {
    /// The format of `image`, by its magic number.
    ///
    /// ```
    /// use sea_build::inject::Format;
    /// assert_eq!(Format::detect(b"\x7fELF\x02\x01"), Some(Format::Elf));
    /// assert_eq!(Format::detect(b"MZ\x90\x00"), Some(Format::Pe));
    /// assert_eq!(Format::detect(b"#!/bin/sh"), None);
    /// ```
    pub fn detect(image: &[u8]) -> Option<Format> {
        match image.get(..4)? {
            [0x7f, b'E', b'L', b'F'] => Some(Format::Elf),
            [0xcf, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe] | [0xca, 0xfe, 0xba, 0xbf] => Some(Format::MachO),
            [b'M', b'Z', ..] => Some(Format::Pe),
            _ => None,
        }
    }
}

/// The images node would start from: the slices of a universal Mach-O file, else `image`.
pub fn images(image: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    Ok(match Format::detect(image) {
        Some(Format::MachO) if crate::macho::is_fat(image) => crate::macho::fat_slices(image)?.iter().map(|slice| slice.data).collect(),
        _ => vec![image],
    })
}

/// The blob node would find in one (thin) image, whatever its format; `None` when it has
/// none. Errors for images that are none of the formats, or damaged.
///
/// ```
/// assert!(sea_build::inject::find_blob(b"#!/bin/sh").is_err());
/// ```
pub fn find_blob(image: &[u8]) -> anyhow::Result<Option<&[u8]>> {
    match Format::detect(image) {
        Some(Format::Elf) => elf::find_blob(image),
        Some(Format::MachO) => macho::find_blob(image),
        Some(Format::Pe) => pe::find_blob(image),
        None => anyhow::bail!("not an executable sea-build knows (ELF, Mach-O or PE)"),
    }
}
