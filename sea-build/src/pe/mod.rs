//! Windows Portable Executable (PE) headers, the image checksum, and signature removal.
//!
//! A PE image as far as sea-build cares:
//!
//! ```text
//! 0x00            DOS header ("MZ"); e_lfanew (u32 at 0x3c) = offset of the NT headers
//! e_lfanew        "PE\0\0", file header (20 bytes: machine, NumberOfSections, ...,
//!                 SizeOfOptionalHeader)
//! e_lfanew + 24   optional header: magic 0x10b (PE32) or 0x20b (PE32+), ...,
//!                 SizeOfInitializedData (+8), SectionAlignment (+32), FileAlignment (+36),
//!                 SizeOfImage (+56), SizeOfHeaders (+60), CheckSum (+64), ...,
//!                 NumberOfRvaAndSizes (+92 / +108), then that many data directories
//!                 (8 bytes each: address, size)
//! after it        the section table: NumberOfSections headers of 40 bytes each
//! ...             free header space up to the first section's raw data
//! sections        raw data, each at a multiple of FileAlignment
//! end of file     optionally the Authenticode certificate table (data directory 4, whose
//!                 "address" is a file offset, not an address)
//! ```
//!
//! Addresses in the headers are RVAs (relative to the image base once loaded); a section maps
//! `[PointerToRawData, +SizeOfRawData)` of the file at `[VirtualAddress, +VirtualSize)`.
//!
//! [`PeHeaders`] reads all of this with the `object` crate and adds the file offsets of the
//! fields an editor has to rewrite; [`Checksum`] computes the optional header's CheckSum;
//! [`unsign()`] removes an Authenticode signature. Everything works on bytes; reading and
//! writing files is left to the caller.

use std::mem::{offset_of, size_of};

use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as LE;
use object::pe::{
    IMAGE_NT_OPTIONAL_HDR32_MAGIC, IMAGE_NT_OPTIONAL_HDR64_MAGIC, IMAGE_SIZEOF_SECTION_HEADER, ImageDosHeader, ImageFileHeader, ImageNtHeaders32, ImageNtHeaders64, ImageOptionalHeader32,
    ImageOptionalHeader64,
};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, optional_header_magic};

#[cfg(feature = "windows")]
pub mod authenticode;
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod fixture;
pub mod icon;
pub mod identity;
pub mod image;
pub mod resource;
#[cfg(test)]
pub(crate) mod testing;
pub mod unsign;
pub mod version_info;

pub use image::PeImage;
pub use unsign::{certificate_table, unsign, unsign_in_place};

/// Length of one section header in the section table.
pub const SECTION_HEADER_LEN: usize = IMAGE_SIZEOF_SECTION_HEADER;

/// Length of one data directory entry (address, size).
pub const DATA_DIRECTORY_LEN: usize = 8;

/// The two optional header formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeKind {
    /// 32-bit images (magic `0x10b`), e.g. win-x86 node.
    Pe32,
    /// 64-bit images (magic `0x20b`), e.g. win-x64 and win-arm64 node.
    Pe32Plus,
}

/// One data directory entry: an RVA and a size (for the certificate table, entry 4, the
/// "RVA" is a file offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataDirectory {
    /// RVA of the data (file offset for the certificate table).
    pub virtual_address: u32,
    /// Length of the data in bytes.
    pub size: u32,
}

impl DataDirectory {
    /// True when both fields are zero (the directory is absent).
    ///
    /// ```
    /// use sea_build::pe::DataDirectory;
    /// assert!(DataDirectory::default().is_empty());
    /// assert!(!DataDirectory { virtual_address: 0x1000, size: 0 }.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.virtual_address == 0 && self.size == 0
    }
}

/// One section header, with where it lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// The 8 name bytes, NUL-padded (a name of exactly 8 bytes has no NUL).
    pub name: [u8; 8],
    /// Bytes the section occupies in memory (0 in some old images: then `size_of_raw_data`).
    pub virtual_size: u32,
    /// Its RVA.
    pub virtual_address: u32,
    /// Bytes of file data, a multiple of FileAlignment.
    pub size_of_raw_data: u32,
    /// File offset of that data.
    pub pointer_to_raw_data: u32,
    /// `IMAGE_SCN_*` flags.
    pub characteristics: u32,
    /// File offset of this header in the section table.
    pub header_offset: usize,
}

impl Section {
    /// The name as text, without the NUL padding.
    ///
    /// ```
    /// # use sea_build::pe::Section;
    /// let section = Section { name: *b".rsrc\0\0\0", virtual_size: 0, virtual_address: 0,
    ///     size_of_raw_data: 0, pointer_to_raw_data: 0, characteristics: 0, header_offset: 0 };
    /// assert_eq!(section.name(), ".rsrc");
    /// ```
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// Bytes of file data the loader maps at the section's address: the smaller of the raw
    /// size and the virtual size (the rest of the memory is zero-filled).
    pub fn mapped_size(&self) -> u32 {
        if self.virtual_size == 0 { self.size_of_raw_data } else { self.size_of_raw_data.min(self.virtual_size) }
    }

    /// Bytes the section occupies in memory, before rounding to SectionAlignment.
    pub fn memory_size(&self) -> u32 {
        if self.virtual_size == 0 { self.size_of_raw_data } else { self.virtual_size }
    }

    /// End of the section's file data (offset + raw size).
    pub fn raw_end(&self) -> u64 {
        u64::from(self.pointer_to_raw_data) + u64::from(self.size_of_raw_data)
    }

    /// End of the section in memory (RVA + memory size), before rounding.
    pub fn virtual_end(&self) -> u64 {
        u64::from(self.virtual_address) + u64::from(self.memory_size())
    }

    /// The header as the 40 bytes of the section table (relocation and line-number fields
    /// zero, as in every image).
    ///
    /// ```
    /// # use sea_build::pe::Section;
    /// let section = Section { name: *b".rsrc\0\0\0", virtual_size: 0x10, virtual_address: 0x2000,
    ///     size_of_raw_data: 0x200, pointer_to_raw_data: 0x400, characteristics: 0x4000_0040,
    ///     header_offset: 0 };
    /// let bytes = section.to_bytes();
    /// assert_eq!(&bytes[..8], b".rsrc\0\0\0");
    /// assert_eq!(&bytes[12..16], &0x2000u32.to_le_bytes());
    /// assert_eq!(&bytes[36..40], &0x4000_0040u32.to_le_bytes());
    /// ```
    pub fn to_bytes(&self) -> [u8; SECTION_HEADER_LEN] {
        let mut bytes = [0u8; SECTION_HEADER_LEN];
        bytes[..8].copy_from_slice(&self.name);
        for (at, value) in [(8, self.virtual_size), (12, self.virtual_address), (16, self.size_of_raw_data), (20, self.pointer_to_raw_data), (36, self.characteristics)] {
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        bytes
    }
}

/// The headers of a PE image, parsed by the `object` crate, plus the file offsets of the
/// fields an editor rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeHeaders {
    /// PE32 or PE32+.
    pub kind: PeKind,
    /// `IMAGE_FILE_MACHINE_*`.
    pub machine: u16,
    /// File offset of the NT headers (`e_lfanew`, the "PE\0\0" signature).
    pub nt_offset: usize,
    /// File offset of the optional header.
    pub optional_header_offset: usize,
    /// File offset of the section table.
    pub section_table_offset: usize,
    /// Alignment of section data in the file.
    pub file_alignment: u32,
    /// Alignment of sections in memory.
    pub section_alignment: u32,
    /// SizeOfImage: the memory the loaded image spans.
    pub size_of_image: u32,
    /// SizeOfHeaders: the header bytes, rounded to FileAlignment.
    pub size_of_headers: u32,
    /// SizeOfInitializedData.
    pub size_of_initialized_data: u32,
    /// The CheckSum field as stored.
    pub check_sum: u32,
    /// The data directories (NumberOfRvaAndSizes of them, normally 16).
    pub data_directories: Vec<DataDirectory>,
    /// The section table, in table order.
    pub sections: Vec<Section>,
}

impl PeHeaders {
    /// Parses the headers of `image` (a whole PE file).
    ///
    /// Fails, saying what is wrong, when `image` is not a PE image, when a header or the
    /// section table lies past the end of the data, when a section's data runs past the end
    /// of the file (a truncated download), or when an alignment is not a power of two.
    ///
    /// ```
    /// use sea_build::pe::PeHeaders;
    /// let error = PeHeaders::parse(b"\x7fELF...").unwrap_err();
    /// assert!(error.to_string().contains("not a Windows executable"));
    /// ```
    pub fn parse(image: &[u8]) -> Result<PeHeaders> {
        Self::parse_head(image, image.len() as u64)
    }

    /// Parses the headers of a PE file of `file_len` bytes from `head`, its first bytes
    /// (which must hold every header and the section table), as [`parse`](Self::parse) does.
    ///
    /// ```
    /// use sea_build::pe::PeHeaders;
    /// let error = PeHeaders::parse_head(b"MZ", 1 << 20).unwrap_err();
    /// assert!(error.to_string().contains("not a Windows executable"));
    /// ```
    pub fn parse_head(head: &[u8], file_len: u64) -> Result<PeHeaders> {
        let image = head;
        let dos = ImageDosHeader::parse(image).map_err(|_| {
            anyhow::anyhow!(
                "not a Windows executable: the file does not start with an MZ header of 64 \
                 bytes; use a node.exe from a win-x64, win-x86 or win-arm64 build"
            )
        })?;
        let nt_offset = dos.nt_headers_offset() as usize;
        let magic = optional_header_magic(image).map_err(|error| {
            anyhow::anyhow!(
                "not a PE image: no valid NT headers at e_lfanew {nt_offset:#x} ({error}) in a \
                 file of {} bytes; the file is truncated or not a Windows executable",
                file_len
            )
        })?;
        match magic {
            IMAGE_NT_OPTIONAL_HDR64_MAGIC => Self::parse_as::<ImageNtHeaders64>(image, file_len, nt_offset, PeKind::Pe32Plus),
            IMAGE_NT_OPTIONAL_HDR32_MAGIC => Self::parse_as::<ImageNtHeaders32>(image, file_len, nt_offset, PeKind::Pe32),
            other => bail!(
                "unsupported PE optional header magic {other:#06x} (expected 0x10b or 0x20b): \
                 not a Windows executable sea-build can edit"
            ),
        }
    }

    /// Parses the headers of `image`, whose [head](PeImage::head) must hold them; when it
    /// does not and the file is longer, more of its start is noted as missing.
    pub fn parse_image(image: &PeImage<'_>) -> Result<PeHeaders> {
        Self::parse_head(image.head(), image.len()).inspect_err(|_| image.headers_short())
    }

    fn parse_as<Pe: ImageNtHeaders>(image: &[u8], file_len: u64, nt_offset: usize, kind: PeKind) -> Result<PeHeaders> {
        let mut offset = nt_offset as u64;
        let (nt, directories) = Pe::parse(image, &mut offset).map_err(|error| {
            anyhow::anyhow!(
                "the PE headers at {nt_offset:#x} are damaged or truncated ({error}) in a file \
                 of {} bytes; download the executable again",
                file_len
            )
        })?;
        let section_table_offset = offset as usize;
        let table = nt.sections(image, offset).map_err(|error| {
            anyhow::anyhow!(
                "the PE section table at {section_table_offset:#x} ({} entries) lies past the \
                 end of the file ({} bytes; {error}): the file is truncated",
                nt.file_header().number_of_sections.get(LE),
                file_len
            )
        })?;
        let sections: Vec<Section> = table
            .iter()
            .enumerate()
            .map(|(index, header)| Section {
                name: header.name,
                virtual_size: header.virtual_size.get(LE),
                virtual_address: header.virtual_address.get(LE),
                size_of_raw_data: header.size_of_raw_data.get(LE),
                pointer_to_raw_data: header.pointer_to_raw_data.get(LE),
                characteristics: header.characteristics.get(LE),
                header_offset: section_table_offset + index * SECTION_HEADER_LEN,
            })
            .collect();
        let optional = nt.optional_header();
        let headers = PeHeaders {
            kind,
            machine: nt.file_header().machine.get(LE),
            nt_offset,
            optional_header_offset: nt_offset + 4 + size_of::<ImageFileHeader>(),
            section_table_offset,
            file_alignment: optional.file_alignment(),
            section_alignment: optional.section_alignment(),
            size_of_image: optional.size_of_image(),
            size_of_headers: optional.size_of_headers(),
            size_of_initialized_data: optional.size_of_initialized_data(),
            check_sum: optional.check_sum(),
            data_directories: directories.iter().map(|entry| DataDirectory { virtual_address: entry.virtual_address.get(LE), size: entry.size.get(LE) }).collect(),
            sections,
        };
        headers.validate(file_len)?;
        Ok(headers)
    }

    fn validate(&self, file_len: u64) -> Result<()> {
        for (what, value) in [("FileAlignment", self.file_alignment), ("SectionAlignment", self.section_alignment)] {
            ensure!(value.is_power_of_two(), "the PE {what} is {value:#x}, not a power of two: the headers are damaged");
        }
        for section in &self.sections {
            if section.size_of_raw_data != 0 && section.raw_end() > file_len {
                bail!(
                    "section {} has its data at {:#x}..{:#x}, past the end of the file ({} \
                     bytes): the file is truncated; download it again",
                    section.name(),
                    section.pointer_to_raw_data,
                    section.raw_end(),
                    file_len
                );
            }
        }
        Ok(())
    }

    /// Data directory `index` (`object::pe::IMAGE_DIRECTORY_ENTRY_*`), or `None` when the
    /// image has fewer directories.
    pub fn data_directory(&self, index: usize) -> Option<DataDirectory> {
        self.data_directories.get(index).copied()
    }

    /// File offset of data directory entry `index`, or `None` when the image has fewer.
    pub fn data_directory_offset(&self, index: usize) -> Option<usize> {
        (index < self.data_directories.len()).then(|| self.optional_header_offset + self.optional_header_len() + index * DATA_DIRECTORY_LEN)
    }

    /// Length of the fixed part of the optional header (before the data directories).
    fn optional_header_len(&self) -> usize {
        match self.kind {
            PeKind::Pe32 => size_of::<ImageOptionalHeader32>(),
            PeKind::Pe32Plus => size_of::<ImageOptionalHeader64>(),
        }
    }

    /// File offset of the file header's NumberOfSections (u16).
    pub fn number_of_sections_offset(&self) -> usize {
        self.nt_offset + 4 + offset_of!(ImageFileHeader, number_of_sections)
    }

    /// File offset of the optional header's CheckSum (u32).
    pub fn check_sum_offset(&self) -> usize {
        self.optional_header_offset
            + match self.kind {
                PeKind::Pe32 => offset_of!(ImageOptionalHeader32, check_sum),
                PeKind::Pe32Plus => offset_of!(ImageOptionalHeader64, check_sum),
            }
    }

    /// File offset of the optional header's SizeOfImage (u32).
    pub fn size_of_image_offset(&self) -> usize {
        self.optional_header_offset
            + match self.kind {
                PeKind::Pe32 => offset_of!(ImageOptionalHeader32, size_of_image),
                PeKind::Pe32Plus => offset_of!(ImageOptionalHeader64, size_of_image),
            }
    }

    /// File offset of the optional header's SizeOfInitializedData (u32).
    pub fn size_of_initialized_data_offset(&self) -> usize {
        self.optional_header_offset
            + match self.kind {
                PeKind::Pe32 => offset_of!(ImageOptionalHeader32, size_of_initialized_data),
                PeKind::Pe32Plus => offset_of!(ImageOptionalHeader64, size_of_initialized_data),
            }
    }

    /// End of the section table in the file.
    pub fn section_table_end(&self) -> usize {
        self.section_table_offset + self.sections.len() * SECTION_HEADER_LEN
    }

    /// Where the header area ends: the first section's file data, or SizeOfHeaders when
    /// no section has any. New section headers must fit before it.
    pub fn header_room_end(&self) -> usize {
        self.sections.iter().filter(|section| section.size_of_raw_data != 0).map(|section| section.pointer_to_raw_data as usize).min().unwrap_or(usize::MAX).min(self.size_of_headers as usize)
    }

    /// End of the last section's file data (0 without sections).
    pub fn sections_file_end(&self) -> u64 {
        self.sections.iter().filter(|section| section.size_of_raw_data != 0).map(Section::raw_end).max().unwrap_or(0)
    }

    /// End of the last section in memory, rounded up to SectionAlignment (SizeOfImage as it
    /// should be).
    pub fn sections_memory_end(&self) -> u64 {
        let end = self.sections.iter().map(Section::virtual_end).max().unwrap_or(0).max(u64::from(self.size_of_headers));
        end.next_multiple_of(u64::from(self.section_alignment))
    }

    /// The section whose memory range holds `rva`.
    pub fn section_at_rva(&self, rva: u32) -> Option<&Section> {
        self.sections.iter().find(|section| section.virtual_address <= rva && u64::from(rva) < section.virtual_end())
    }

    /// File offset of the `len` bytes at `rva`, when they all lie in file data that the loader
    /// maps (a section's raw data, not its zero-filled tail).
    ///
    /// ```
    /// # use sea_build::pe::{PeHeaders, PeKind, Section};
    /// # let headers = PeHeaders { kind: PeKind::Pe32Plus, machine: 0x8664, nt_offset: 0x80,
    /// #     optional_header_offset: 0x98, section_table_offset: 0x188, file_alignment: 0x200,
    /// #     section_alignment: 0x1000, size_of_image: 0x3000, size_of_headers: 0x400,
    /// #     size_of_initialized_data: 0, check_sum: 0, data_directories: vec![],
    /// #     sections: vec![Section { name: *b".rsrc\0\0\0", virtual_size: 0x100,
    /// #         virtual_address: 0x2000, size_of_raw_data: 0x200, pointer_to_raw_data: 0x400,
    /// #         characteristics: 0, header_offset: 0x188 }] };
    /// // A section mapping file bytes 0x400.. at RVA 0x2000, 0x100 bytes long:
    /// assert_eq!(headers.rva_to_offset(0x2010, 0x10), Some(0x410));
    /// assert_eq!(headers.rva_to_offset(0x20f0, 0x20), None, "runs past the section");
    /// ```
    pub fn rva_to_offset(&self, rva: u32, len: u32) -> Option<usize> {
        let section = self.section_at_rva(rva)?;
        let within = rva - section.virtual_address;
        let end = u64::from(within) + u64::from(len);
        (end <= u64::from(section.mapped_size())).then(|| section.pointer_to_raw_data as usize + within as usize)
    }
}

/// Writes `value` little-endian at `offset` of `bytes`.
pub(crate) fn put_u32(bytes: &mut [u8], offset: usize, value: u32) -> Result<()> {
    let field = offset.checked_add(4).and_then(|end| bytes.get_mut(offset..end)).with_context(|| format!("internal error: PE field at {offset:#x} outside the headers"))?;
    field.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// Writes `value` little-endian at `offset` of `bytes`.
pub(crate) fn put_u16(bytes: &mut [u8], offset: usize, value: u16) -> Result<()> {
    let field = offset.checked_add(2).and_then(|end| bytes.get_mut(offset..end)).with_context(|| format!("internal error: PE field at {offset:#x} outside the headers"))?;
    field.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// The PE image checksum, computed incrementally over the bytes of a file in order.
///
/// The algorithm: the file as little-endian u32 words (a trailing partial word padded with
/// zeros), the CheckSum field itself counted as zero, summed with end-around carry, folded
/// to 16 bits (again with end-around carry), plus the file length. Feed the CheckSum field
/// as zeros (or use [`checksum_skipping`]); splitting the input anywhere gives the same sum.
///
/// ```
/// use sea_build::pe::Checksum;
/// let mut whole = Checksum::new();
/// whole.update(b"abcdefghij");
/// let mut pieces = Checksum::new();
/// pieces.update(b"abc");
/// pieces.update_zeros(0);
/// pieces.update(b"defghij");
/// assert_eq!(whole.finish(), pieces.finish());
/// // One word 0x64636261 ("abcd"), 0x68676665 ("efgh"), 0x00006a69 ("ij" + padding):
/// let sum: u64 = 0x6463_6261 + 0x6867_6665 + 0x6a69;
/// let folded = (sum & 0xffff) + (sum >> 16);
/// let folded = (folded & 0xffff) + (folded >> 16);
/// assert_eq!(whole.finish(), folded as u32 + 10);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Checksum {
    sum: u64,
    pending: [u8; 4],
    pending_len: usize,
    length: u64,
}

impl Checksum {
    /// An empty sum.
    pub fn new() -> Checksum {
        Checksum::default()
    }

    /// Adds the next `bytes` of the file.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.length += bytes.len() as u64;
        if self.pending_len != 0 {
            let take = (4 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 4 {
                return;
            }
            self.add_word(u32::from_le_bytes(self.pending));
            self.pending_len = 0;
        }
        let words = bytes.chunks_exact(4);
        let tail = words.remainder();
        // A u64 accumulator only overflows after 2^32 words (16 GiB): fold per call.
        let sum: u64 = words.map(|word| u64::from(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))).sum();
        self.add_wide(sum);
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len();
    }

    /// Adds `count` zero bytes (padding, or the CheckSum field).
    pub fn update_zeros(&mut self, mut count: u64) {
        if self.pending_len != 0 {
            let fill = (4 - self.pending_len as u64).min(count);
            self.update(&[0u8; 3][..fill as usize]);
            count -= fill;
        }
        // Whole zero words add nothing to the sum, only to the length.
        let tail = count % 4;
        self.length += count - tail;
        self.update(&[0u8; 3][..tail as usize]);
    }

    fn add_word(&mut self, word: u32) {
        self.add_wide(u64::from(word));
    }

    fn add_wide(&mut self, value: u64) {
        let (sum, carry) = self.sum.overflowing_add(value);
        self.sum = sum + u64::from(carry);
    }

    /// The CheckSum value for the bytes fed so far.
    pub fn finish(&self) -> u32 {
        let mut sum = self.sum;
        if self.pending_len != 0 {
            let mut word = [0u8; 4];
            word[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
            let (wrapped, carry) = sum.overflowing_add(u64::from(u32::from_le_bytes(word)));
            sum = wrapped + u64::from(carry);
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        (sum as u32).wrapping_add(self.length as u32)
    }
}

/// The checksum of `image` with the 4 bytes at `field_offset` (the CheckSum field) counted
/// as zero.
///
/// ```
/// let image = [1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0];
/// // The middle word is skipped: 1 + 2, plus the length 12.
/// assert_eq!(sea_build::pe::checksum_skipping(&image, 4), 15);
/// ```
pub fn checksum_skipping(image: &[u8], field_offset: usize) -> u32 {
    let mut sum = Checksum::new();
    let before = field_offset.min(image.len());
    let after = field_offset.saturating_add(4).min(image.len());
    sum.update(&image[..before]);
    sum.update_zeros((after - before) as u64);
    sum.update(&image[after..]);
    sum.finish()
}

/// The checksum `image`'s CheckSum field should hold.
///
/// ```no_run
/// let image = std::fs::read("node.exe")?;
/// let headers = sea_build::pe::PeHeaders::parse(&image)?;
/// assert_eq!(sea_build::pe::checksum(&image)?, headers.check_sum);
/// # anyhow::Ok(())
/// ```
pub fn checksum(image: &[u8]) -> Result<u32> {
    let headers = PeHeaders::parse(image)?;
    Ok(checksum_skipping(image, headers.check_sum_offset()))
}

/// Recomputes and stores `image`'s CheckSum; returns the new value.
///
/// ```no_run
/// let mut image = std::fs::read("edited.exe")?;
/// sea_build::pe::update_checksum(&mut image)?;
/// std::fs::write("edited.exe", image)?;
/// # anyhow::Ok(())
/// ```
pub fn update_checksum(image: &mut [u8]) -> Result<u32> {
    let offset = PeHeaders::parse(image)?.check_sum_offset();
    let value = checksum_skipping(image, offset);
    put_u32(image, offset, value)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::testing::{NT_OFFSET, SyntheticPe};
    use super::*;
    use crate::testing::XorShift;

    /// The checksum as Microsoft describes it: 16-bit words with end-around carry at every
    /// step, plus the file length. Written independently of [`Checksum`].
    fn reference_checksum(image: &[u8], field: usize) -> u32 {
        let mut sum: u32 = 0;
        let mut at = 0;
        while at < image.len() {
            let byte = |i: usize| {
                if (field..field + 4).contains(&i) { 0 } else { *image.get(i).unwrap_or(&0) }
            };
            let word = u32::from(byte(at)) | u32::from(byte(at + 1)) << 8;
            sum += word;
            sum = (sum & 0xffff) + (sum >> 16);
            at += 2;
        }
        sum + image.len() as u32
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut random = XorShift(seed | 1);
        (0..len).map(|_| (random.next_u64() >> 24) as u8).collect()
    }

    #[test]
    fn checksum_agrees_with_the_16_bit_definition() {
        for len in [0, 1, 2, 3, 4, 5, 7, 64, 67, 1000, 4099] {
            for field in [0, 2, 8, 64, len / 2] {
                let data = pseudo_random(len, (len * 31 + field) as u64);
                assert_eq!(checksum_skipping(&data, field), reference_checksum(&data, field), "len {len} field {field}");
            }
        }
        // All ones: the folding's end-around carries are exercised.
        let ones = vec![0xff; 1 << 16];
        assert_eq!(checksum_skipping(&ones, 8), reference_checksum(&ones, 8));
    }

    #[test]
    fn incremental_checksum_does_not_depend_on_the_split() {
        let data = pseudo_random(1001, 5);
        let mut whole = Checksum::new();
        whole.update(&data);
        for split in [0, 1, 2, 3, 5, 500, 999, 1001] {
            for second in [split, (split + 3).min(1001), 1001] {
                let mut pieces = Checksum::new();
                pieces.update(&data[..split]);
                pieces.update(&data[split..second]);
                pieces.update(&data[second..]);
                assert_eq!(pieces.finish(), whole.finish(), "{split} {second}");
            }
        }
        // Zeros fed as a count equal zeros fed as bytes, at any alignment.
        for before in 0..6 {
            for zeros in 0..11u64 {
                let mut as_bytes = Checksum::new();
                as_bytes.update(&data[..before]);
                as_bytes.update(&vec![0; zeros as usize]);
                as_bytes.update(&data[before..before + 7]);
                let mut as_count = Checksum::new();
                as_count.update(&data[..before]);
                as_count.update_zeros(zeros);
                as_count.update(&data[before..before + 7]);
                assert_eq!(as_count.finish(), as_bytes.finish(), "{before} {zeros}");
            }
        }
    }

    #[test]
    fn parses_pe32_plus_and_pe32() {
        for kind in [PeKind::Pe32Plus, PeKind::Pe32] {
            let image = SyntheticPe { kind, ..SyntheticPe::default() }.build();
            let headers = PeHeaders::parse(&image).unwrap();
            assert_eq!(headers.kind, kind);
            assert_eq!(headers.nt_offset, NT_OFFSET);
            assert_eq!(headers.optional_header_offset, NT_OFFSET + 24);
            assert_eq!(headers.check_sum_offset(), NT_OFFSET + 24 + 64);
            assert_eq!(headers.size_of_image_offset(), NT_OFFSET + 24 + 56);
            assert_eq!(headers.size_of_initialized_data_offset(), NT_OFFSET + 24 + 8);
            assert_eq!(headers.number_of_sections_offset(), NT_OFFSET + 6);
            let directories = NT_OFFSET + 24 + if kind == PeKind::Pe32Plus { 112 } else { 96 };
            assert_eq!(headers.data_directory_offset(2), Some(directories + 16));
            assert_eq!(headers.data_directory_offset(16), None);
            assert_eq!(headers.data_directories.len(), 16);
            let names: Vec<String> = headers.sections.iter().map(Section::name).collect();
            assert_eq!(names, [".text", ".rdata", ".rsrc", ".reloc"]);
            assert_eq!((headers.file_alignment, headers.section_alignment), (0x200, 0x1000));
            assert_eq!(headers.section_table_end(), headers.section_table_offset + 4 * 40);
            assert_eq!(headers.header_room_end(), 0x400);
            assert_eq!(headers.sections_file_end(), image.len() as u64);
            assert_eq!(headers.sections_memory_end(), u64::from(headers.size_of_image));
            assert_eq!(checksum(&image).unwrap(), headers.check_sum);
            assert_ne!(headers.check_sum, 0);
            let rsrc = headers.sections[2];
            let directory = headers.data_directory(2).unwrap();
            assert_eq!(directory.virtual_address, rsrc.virtual_address);
            assert_eq!(headers.rva_to_offset(rsrc.virtual_address + 4, 4), Some(rsrc.pointer_to_raw_data as usize + 4));
            assert_eq!(headers.rva_to_offset(rsrc.virtual_address + rsrc.virtual_size, 1), None);
            assert_eq!(headers.rva_to_offset(0x10, 1), None, "headers are not a section");
            // Section headers round-trip through to_bytes.
            let at = rsrc.header_offset;
            assert_eq!(image[at..at + 40], rsrc.to_bytes());
        }
    }

    #[test]
    fn update_checksum_stores_the_sum() {
        let mut image = SyntheticPe::default().build();
        let headers = PeHeaders::parse(&image).unwrap();
        let at = headers.check_sum_offset();
        image[at..at + 4].copy_from_slice(&[1, 2, 3, 4]);
        let value = update_checksum(&mut image).unwrap();
        assert_eq!(value, reference_checksum(&image, at));
        assert_eq!(image[at..at + 4], value.to_le_bytes());
    }

    #[test]
    fn refuses_what_is_not_a_pe_image() {
        let image = SyntheticPe::default().build();
        let error = |bytes: &[u8]| PeHeaders::parse(bytes).unwrap_err().to_string();
        assert!(error(b"MZ").contains("not a Windows executable"));
        let mut no_pe = image.clone();
        no_pe[NT_OFFSET] = b'X';
        assert!(error(&no_pe).contains("not a PE image"), "{}", error(&no_pe));
        let mut rom = image.clone();
        rom[NT_OFFSET + 24..NT_OFFSET + 26].copy_from_slice(&0x107u16.to_le_bytes());
        assert!(error(&rom).contains("0x0107"), "{}", error(&rom));
        let mut odd_alignment = image.clone();
        odd_alignment[NT_OFFSET + 24 + 36..NT_OFFSET + 24 + 40].copy_from_slice(&0x300u32.to_le_bytes());
        assert!(error(&odd_alignment).contains("FileAlignment"));
        let truncated = &image[..image.len() - 1];
        assert!(error(truncated).contains("truncated"), "{}", error(truncated));
    }

    #[test]
    fn truncated_or_corrupted_headers_are_errors_not_panics() {
        let image = SyntheticPe::default().build();
        for len in 0..0x400 {
            assert!(PeHeaders::parse(&image[..len]).is_err(), "length {len}");
        }
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..3000 {
            let corrupted = random.corrupt_one(&image, 0..0x300);
            if let Ok(headers) = PeHeaders::parse(&corrupted) {
                let _ = headers.rva_to_offset((random.0 >> 40) as u32, 16);
                let _ = headers.sections_memory_end();
            }
        }
    }
}
