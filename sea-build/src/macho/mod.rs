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

use std::io::Write;
use std::mem::{offset_of, size_of};

use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as Le;
use object::macho::{
    CPU_TYPE_ARM64, CPU_TYPE_X86_64, DyldInfoCommand, DysymtabCommand, FAT_MAGIC, FAT_MAGIC_64, FatArch32, FatHeader, LC_CODE_SIGNATURE, LC_DATA_IN_CODE, LC_DYLD_CHAINED_FIXUPS, LC_DYLD_EXPORTS_TRIE,
    LC_DYLD_INFO, LC_DYLD_INFO_ONLY, LC_DYLIB_CODE_SIGN_DRS, LC_DYSYMTAB, LC_FUNCTION_STARTS, LC_LINKER_OPTIMIZATION_HINT, LC_NOTE, LC_SEGMENT, LC_SEGMENT_64, LC_SEGMENT_SPLIT_INFO, LC_SYMTAB,
    LC_TWOLEVEL_HINTS, LinkeditDataCommand, MH_CIGAM, MH_CIGAM_64, MH_MAGIC, MH_MAGIC_64, MachHeader64, NoteCommand, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL, S_ZEROFILL, SECTION_TYPE, Section64,
    SegmentCommand64, SymtabCommand, TwolevelHintsCommand,
};
use object::read::macho::{FatArch, MachHeader as _, MachOFatFile32, MachOFatFile64, Segment as _};

use crate::inject::write_zeros;

pub mod relativise;
pub mod unsign;
pub mod uuid;

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

/// Largest slice alignment we accept in a universal file (2^20); lipo uses at most 2^14.
const MAX_FAT_ALIGN: u32 = 20;

/// Largest number of slices we accept; real files have one to four, and Java class files,
/// which share the magic, have at least 45 here (their major version).
const MAX_FAT_ARCHES: usize = 30;

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

/// One load command of a thin image.
#[derive(Debug, Clone, Copy)]
pub struct Command<'a> {
    /// Position among the load commands (0-based).
    pub index: usize,
    /// File offset of the command within the image.
    pub offset: usize,
    /// The `LC_*` value.
    pub cmd: u32,
    /// The whole command, `cmdsize` bytes, header included.
    pub bytes: &'a [u8],
}

/// A `LC_SEGMENT_64` command and its sections.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The load command holding the segment.
    pub command: Command<'a>,
    /// The segment header.
    pub header: &'a SegmentCommand64<Le>,
    /// The section headers that follow it.
    pub sections: &'a [Section64<Le>],
}

impl Segment<'_> {
    /// The segment name, without trailing NULs.
    pub fn name(&self) -> &[u8] {
        self.header.name()
    }

    /// File offset of the segment's contents.
    pub fn fileoff(&self) -> u64 {
        self.header.fileoff.get(Le)
    }

    /// Bytes of the segment stored in the file.
    pub fn filesize(&self) -> u64 {
        self.header.filesize.get(Le)
    }

    /// Virtual address of the segment.
    pub fn vmaddr(&self) -> u64 {
        self.header.vmaddr.get(Le)
    }

    /// Bytes of address space the segment occupies.
    pub fn vmsize(&self) -> u64 {
        self.header.vmsize.get(Le)
    }

    /// Offset just past the segment's contents in the file (validated by [`ThinImage::parse`]
    /// not to overflow).
    pub fn file_end(&self) -> u64 {
        self.fileoff().saturating_add(self.filesize())
    }

    /// Address just past the segment in memory (saturating).
    pub fn vm_end(&self) -> u64 {
        self.vmaddr().saturating_add(self.vmsize())
    }
}

/// A file range that a load command points at (everything besides segments), with the
/// position of the field holding its offset so it can be moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRange {
    /// What the range holds, for messages (e.g. `"LC_SYMTAB string table"`).
    pub what: &'static str,
    /// The `LC_*` value of the command that points at it.
    pub cmd: u32,
    /// Index of that command among the load commands.
    pub command_index: usize,
    /// File offset of the range within the image.
    pub offset: u64,
    /// Length in bytes (entries times entry size for tables).
    pub len: u64,
    /// File offset, within the image, of the field that holds `offset`.
    pub field: usize,
    /// Whether that field is 8 bytes wide (else 4).
    pub wide: bool,
}

impl FileRange {
    /// Offset just past the range (saturating).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// A parsed, validated thin image: 64-bit little-endian, x86_64 or arm64, load commands and
/// every range they announce inside the data.
///
/// Parsing uses the `object` crate and copies nothing but the list of commands.
///
/// ```
/// # let image = sea_build::macho::test_support::tiny_image();
/// use sea_build::macho::ThinImage;
/// let thin = ThinImage::parse(&image)?; // a minimal arm64 executable
/// assert_eq!(thin.linkedit()?.name(), b"__LINKEDIT");
/// assert!(thin.header_room()? > 0);
/// # anyhow::Ok(())
/// ```
#[derive(Debug, Clone)]
pub struct ThinImage<'a> {
    data: &'a [u8],
    header: &'a MachHeader64<Le>,
    commands: Vec<Command<'a>>,
    segments: Vec<Segment<'a>>,
    ranges: Vec<FileRange>,
}

impl<'a> ThinImage<'a> {
    /// Parses and validates `data` as one thin image.
    ///
    /// Fails, saying what is wrong, on universal files (use [`fat_slices`] or
    /// [`map_slices`]), 32-bit or big-endian images, CPU types other than x86_64 and arm64,
    /// load commands that overrun `sizeofcmds` or the file, and segments or data ranges
    /// that reach past the end of the file (a truncated file).
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        match kind(data)? {
            Kind::Thin => {}
            Kind::Fat => bail!(
                "this is a universal (fat) Mach-O file, not a single image: handle each slice \
                 (sea_build::macho::map_slices)"
            ),
        }
        let header = MachHeader64::<Le>::parse(data, 0).map_err(|_| {
            anyhow::anyhow!(
                "the Mach-O file is truncated: {} bytes, shorter than its {HEADER_LEN}-byte \
                 header",
                data.len()
            )
        })?;
        let cputype = header.cputype(Le);
        page_size(cputype)?;
        let sizeofcmds = header.sizeofcmds(Le) as usize;
        let commands_end = HEADER_LEN + sizeofcmds;
        ensure!(
            commands_end <= data.len(),
            "the Mach-O file is truncated: its load commands end at {commands_end:#x} but the \
             file has only {} bytes",
            data.len()
        );
        let mut iterator = header.load_commands(Le, data, 0).context("the Mach-O load commands cannot be read")?;
        let mut commands = Vec::new();
        let mut offset = HEADER_LEN;
        let ncmds = header.ncmds(Le);
        while let Some(command) = iterator.next().with_context(|| {
            format!(
                "load command {} of {ncmds} at offset {offset:#x} is damaged (size below 8 or \
                 past sizeofcmds = {sizeofcmds}): the binary is damaged",
                commands.len()
            )
        })? {
            commands.push(Command { index: commands.len(), offset, cmd: command.cmd(), bytes: command.raw_data() });
            offset += command.raw_data().len();
        }
        ensure!(
            offset == commands_end,
            "the {ncmds} load commands take {} bytes but the header says sizeofcmds = \
             {sizeofcmds}: the binary is damaged",
            offset - HEADER_LEN
        );

        let mut segments = Vec::new();
        for command in &commands {
            match command.cmd {
                LC_SEGMENT_64 => segments.push(segment_of(*command)?),
                LC_SEGMENT => bail!(
                    "load command {} is a 32-bit LC_SEGMENT inside a 64-bit image: the binary \
                     is damaged",
                    command.index
                ),
                _ => {}
            }
        }
        let mut image = ThinImage { data, header, commands, segments, ranges: Vec::new() };
        image.ranges = image.collect_ranges()?;
        image.validate_ranges()?;
        Ok(image)
    }

    /// The image's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The Mach-O header.
    pub fn header(&self) -> &'a MachHeader64<Le> {
        self.header
    }

    /// `CPU_TYPE_X86_64` or `CPU_TYPE_ARM64`.
    pub fn cputype(&self) -> u32 {
        self.header.cputype(Le)
    }

    /// The loader's page size for this image ([`page_size`]).
    pub fn page_size(&self) -> u64 {
        page_size(self.cputype()).unwrap_or(0x4000)
    }

    /// File offset just past the load commands (`32 + sizeofcmds`).
    pub fn commands_end(&self) -> usize {
        HEADER_LEN + self.header.sizeofcmds(Le) as usize
    }

    /// Every load command, in order.
    pub fn commands(&self) -> &[Command<'a>] {
        &self.commands
    }

    /// The first load command of kind `cmd`.
    pub fn command(&self, cmd: u32) -> Option<Command<'a>> {
        self.commands.iter().find(|c| c.cmd == cmd).copied()
    }

    /// Every `LC_SEGMENT_64`, in command order.
    pub fn segments(&self) -> &[Segment<'a>] {
        &self.segments
    }

    /// The segment named `name`, if any.
    pub fn segment(&self, name: &[u8]) -> Option<Segment<'a>> {
        self.segments.iter().find(|s| s.name() == name).copied()
    }

    /// The `__LINKEDIT` segment, checked to be the last segment in command order, in the
    /// file and in memory (what every tool that edits linkedit data relies on).
    pub fn linkedit(&self) -> Result<Segment<'a>> {
        let Some(linkedit) = self.segment(LINKEDIT) else {
            bail!("the Mach-O image has no __LINKEDIT segment: it is not a linked executable");
        };
        let last = self.segments.last().map(|s| s.command.index);
        if last != Some(linkedit.command.index) {
            let after = self.segments.iter().filter(|s| s.command.index > linkedit.command.index).map(|s| String::from_utf8_lossy(s.name()).into_owned()).collect::<Vec<_>>().join(", ");
            bail!(
                "__LINKEDIT is not the last segment (followed by {after}): unsupported layout; \
                 use a binary produced by a standard linker"
            );
        }
        for segment in &self.segments {
            if segment.command.index == linkedit.command.index {
                continue;
            }
            let in_file = segment.filesize() == 0 || segment.file_end() <= linkedit.fileoff();
            let in_memory = segment.vmsize() == 0 || segment.vm_end() <= linkedit.vmaddr();
            ensure!(
                in_file && in_memory,
                "segment {} (file {:#x}..{:#x}, memory {:#x}..{:#x}) lies beyond __LINKEDIT \
                 (file offset {:#x}, address {:#x}): __LINKEDIT must come last; unsupported \
                 layout",
                String::from_utf8_lossy(segment.name()),
                segment.fileoff(),
                segment.file_end(),
                segment.vmaddr(),
                segment.vm_end(),
                linkedit.fileoff(),
                linkedit.vmaddr()
            );
        }
        Ok(linkedit)
    }

    /// Every file range the load commands point at besides segment contents: section
    /// contents and relocations, and all linkedit data (see the [module docs](self)).
    /// Empty ranges are included (their offset fields still have to move with the data).
    pub fn file_ranges(&self) -> &[FileRange] {
        &self.ranges
    }

    /// The `LC_CODE_SIGNATURE` range, if the image is signed.
    pub fn code_signature(&self) -> Option<FileRange> {
        self.ranges.iter().find(|r| r.cmd == LC_CODE_SIGNATURE).copied()
    }

    /// Where the image's meaningful data ends when the code signature is left out: the
    /// largest end of every segment except `__LINKEDIT` and of every [`file range`]
    /// (symbols, strings, indirect symbols, dyld info, fixups, ...) except the signature.
    /// A signed image has only alignment padding between this and its signature.
    ///
    /// [`file range`]: Self::file_ranges
    pub fn data_end(&self) -> u64 {
        let segment_ends = self.segments.iter().filter(|s| s.name() != LINKEDIT).map(|s| s.file_end());
        let range_ends = self.ranges.iter().filter(|r| r.cmd != LC_CODE_SIGNATURE && r.len > 0).map(|r| r.end());
        segment_ends.chain(range_ends).max().unwrap_or(0)
    }

    /// Free bytes between the end of the load commands and the first byte of content the
    /// file holds after them (the lowest section or data offset): the room for new load
    /// commands. Fails when the load commands overlap content.
    pub fn header_room(&self) -> Result<u64> {
        let commands_end = self.commands_end() as u64;
        let first_content = self.first_content_offset();
        first_content.checked_sub(commands_end).with_context(|| {
            format!(
                "the load commands end at {commands_end:#x}, past the first content at \
                 {first_content:#x}: the binary is damaged"
            )
        })
    }

    /// The lowest file offset after the load commands that holds content: a section (not
    /// zero-fill), a segment starting after the header, or any non-empty file range.
    fn first_content_offset(&self) -> u64 {
        let section_starts = self
            .segments
            .iter()
            .flat_map(|s| s.sections.iter())
            .filter(|section| {
                let kind = section.flags.get(Le) & SECTION_TYPE;
                !matches!(kind, S_ZEROFILL | S_GB_ZEROFILL | S_THREAD_LOCAL_ZEROFILL) && section.size.get(Le) > 0
            })
            .map(|section| u64::from(section.offset.get(Le)));
        let segment_starts = self.segments.iter().filter(|s| s.filesize() > 0).map(|s| s.fileoff());
        let range_starts = self.ranges.iter().filter(|r| r.len > 0).map(|r| r.offset);
        section_starts.chain(segment_starts).chain(range_starts).filter(|&offset| offset > 0).min().unwrap_or(self.data.len() as u64)
    }

    fn collect_ranges(&self) -> Result<Vec<FileRange>> {
        let mut ranges = Vec::new();
        for command in &self.commands {
            // Most commands hold (u32 offset, u32 count) pairs; `pair` reads one, the offset
            // at `field` (from the `object` struct layout) and the count right after it.
            let pair = |what: &'static str, field: usize, entry_len: u64| {
                let word = |at: usize| command.bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                let (offset, count) = word(field).zip(word(field + 4)).with_context(|| {
                    format!(
                        "load command {} ({what}) is {} bytes, too short for its fields: the \
                         binary is damaged",
                        command.index,
                        command.bytes.len()
                    )
                })?;
                anyhow::Ok(FileRange { what, cmd: command.cmd, command_index: command.index, offset: offset.into(), len: u64::from(count) * entry_len, field: command.offset + field, wide: false })
            };
            match command.cmd {
                LC_SEGMENT_64 => {
                    let segment = segment_of(*command)?;
                    for (index, section) in segment.sections.iter().enumerate() {
                        let at = size_of::<SegmentCommand64<Le>>() + index * size_of::<Section64<Le>>();
                        let kind = section.flags.get(Le) & SECTION_TYPE;
                        let zero_fill = matches!(kind, S_ZEROFILL | S_GB_ZEROFILL | S_THREAD_LOCAL_ZEROFILL);
                        if !zero_fill && section.offset.get(Le) != 0 {
                            // The size is a u64 and not next to the offset.
                            ranges.push(FileRange {
                                what: "section contents",
                                cmd: command.cmd,
                                command_index: command.index,
                                offset: section.offset.get(Le).into(),
                                len: section.size.get(Le),
                                field: command.offset + at + offset_of!(Section64<Le>, offset),
                                wide: false,
                            });
                        }
                        if section.nreloc.get(Le) != 0 {
                            ranges.push(pair("section relocations", at + offset_of!(Section64<Le>, reloff), 8)?);
                        }
                    }
                }
                LC_SYMTAB => {
                    ranges.push(pair("LC_SYMTAB symbol table", offset_of!(SymtabCommand<Le>, symoff), NLIST_LEN)?);
                    ranges.push(pair("LC_SYMTAB string table", offset_of!(SymtabCommand<Le>, stroff), 1)?);
                }
                LC_DYSYMTAB => {
                    for (what, field, entry_len) in [
                        ("LC_DYSYMTAB table of contents", offset_of!(DysymtabCommand<Le>, tocoff), 8),
                        ("LC_DYSYMTAB module table", offset_of!(DysymtabCommand<Le>, modtaboff), 56),
                        ("LC_DYSYMTAB external references", offset_of!(DysymtabCommand<Le>, extrefsymoff), 4),
                        ("LC_DYSYMTAB indirect symbols", offset_of!(DysymtabCommand<Le>, indirectsymoff), 4),
                        ("LC_DYSYMTAB external relocations", offset_of!(DysymtabCommand<Le>, extreloff), 8),
                        ("LC_DYSYMTAB local relocations", offset_of!(DysymtabCommand<Le>, locreloff), 8),
                    ] {
                        ranges.push(pair(what, field, entry_len)?);
                    }
                }
                LC_DYLD_INFO | LC_DYLD_INFO_ONLY => {
                    for (what, field) in [
                        ("dyld rebase info", offset_of!(DyldInfoCommand<Le>, rebase_off)),
                        ("dyld bind info", offset_of!(DyldInfoCommand<Le>, bind_off)),
                        ("dyld weak bind info", offset_of!(DyldInfoCommand<Le>, weak_bind_off)),
                        ("dyld lazy bind info", offset_of!(DyldInfoCommand<Le>, lazy_bind_off)),
                        ("dyld export trie", offset_of!(DyldInfoCommand<Le>, export_off)),
                    ] {
                        ranges.push(pair(what, field, 1)?);
                    }
                }
                LC_TWOLEVEL_HINTS => {
                    ranges.push(pair("LC_TWOLEVEL_HINTS", offset_of!(TwolevelHintsCommand<Le>, offset), 4)?);
                }
                LC_NOTE => {
                    let note: &NoteCommand<Le> = command_struct(*command, "LC_NOTE")?;
                    ranges.push(FileRange {
                        what: "LC_NOTE",
                        cmd: command.cmd,
                        command_index: command.index,
                        offset: note.offset.get(Le),
                        len: note.size.get(Le),
                        field: command.offset + offset_of!(NoteCommand<Le>, offset),
                        wide: true,
                    });
                }
                cmd => {
                    if let Some(what) = linkedit_data_name(cmd) {
                        ranges.push(pair(what, offset_of!(LinkeditDataCommand<Le>, dataoff), 1)?);
                    }
                }
            }
        }
        Ok(ranges)
    }

    fn validate_ranges(&self) -> Result<()> {
        let len = self.data.len() as u64;
        for segment in &self.segments {
            let end = segment.fileoff().checked_add(segment.filesize());
            ensure!(
                end.is_some_and(|end| end <= len),
                "the Mach-O file is truncated: segment {} ends at {:#x} but the file has only \
                 {len} bytes; get the binary again",
                String::from_utf8_lossy(segment.name()),
                segment.fileoff() as u128 + segment.filesize() as u128
            );
        }
        for range in self.ranges.iter().filter(|r| r.len > 0) {
            ensure!(
                range.offset.checked_add(range.len).is_some_and(|end| end <= len),
                "the Mach-O file is truncated: the {} (load command {}) ends at {:#x} but the \
                 file has only {len} bytes; get the binary again",
                range.what,
                range.command_index,
                range.offset as u128 + range.len as u128
            );
        }
        Ok(())
    }
}

/// Size of one 64-bit symbol table entry (`nlist_64`).
pub const NLIST_LEN: u64 = 16;

// `ThinImage::collect_ranges` reads each offset field's count right after it.
const _: () = {
    macro_rules! adjacent {
        ($t:ty, $offset:ident, $count:ident) => {
            assert!(offset_of!($t, $count) == offset_of!($t, $offset) + 4);
        };
    }
    adjacent!(Section64<Le>, reloff, nreloc);
    adjacent!(SymtabCommand<Le>, symoff, nsyms);
    adjacent!(SymtabCommand<Le>, stroff, strsize);
    adjacent!(DysymtabCommand<Le>, tocoff, ntoc);
    adjacent!(DysymtabCommand<Le>, modtaboff, nmodtab);
    adjacent!(DysymtabCommand<Le>, extrefsymoff, nextrefsyms);
    adjacent!(DysymtabCommand<Le>, indirectsymoff, nindirectsyms);
    adjacent!(DysymtabCommand<Le>, extreloff, nextrel);
    adjacent!(DysymtabCommand<Le>, locreloff, nlocrel);
    adjacent!(DyldInfoCommand<Le>, rebase_off, rebase_size);
    adjacent!(DyldInfoCommand<Le>, bind_off, bind_size);
    adjacent!(DyldInfoCommand<Le>, weak_bind_off, weak_bind_size);
    adjacent!(DyldInfoCommand<Le>, lazy_bind_off, lazy_bind_size);
    adjacent!(DyldInfoCommand<Le>, export_off, export_size);
    adjacent!(TwolevelHintsCommand<Le>, offset, nhints);
    adjacent!(LinkeditDataCommand<Le>, dataoff, datasize);
};

/// The name of a `linkedit_data_command` kind, or `None` for other commands.
///
/// ```
/// use object::macho::{LC_CODE_SIGNATURE, LC_UUID};
/// assert_eq!(sea_build::macho::linkedit_data_name(LC_CODE_SIGNATURE), Some("LC_CODE_SIGNATURE"));
/// assert_eq!(sea_build::macho::linkedit_data_name(LC_UUID), None);
/// ```
pub fn linkedit_data_name(cmd: u32) -> Option<&'static str> {
    Some(match cmd {
        LC_CODE_SIGNATURE => "LC_CODE_SIGNATURE",
        LC_SEGMENT_SPLIT_INFO => "LC_SEGMENT_SPLIT_INFO",
        LC_FUNCTION_STARTS => "LC_FUNCTION_STARTS",
        LC_DATA_IN_CODE => "LC_DATA_IN_CODE",
        LC_DYLIB_CODE_SIGN_DRS => "LC_DYLIB_CODE_SIGN_DRS",
        LC_LINKER_OPTIMIZATION_HINT => "LC_LINKER_OPTIMIZATION_HINT",
        LC_DYLD_EXPORTS_TRIE => "LC_DYLD_EXPORTS_TRIE",
        LC_DYLD_CHAINED_FIXUPS => "LC_DYLD_CHAINED_FIXUPS",
        LC_ATOM_INFO => "LC_ATOM_INFO",
        LC_FUNCTION_VARIANTS => "LC_FUNCTION_VARIANTS",
        LC_FUNCTION_VARIANT_FIXUPS => "LC_FUNCTION_VARIANT_FIXUPS",
        _ => return None,
    })
}

fn segment_of(command: Command<'_>) -> Result<Segment<'_>> {
    let (header, rest) = object::pod::from_bytes::<SegmentCommand64<Le>>(command.bytes).ok().with_context(|| {
        format!(
            "load command {} (LC_SEGMENT_64) is {} bytes, shorter than a segment header: the \
                 binary is damaged",
            command.index,
            command.bytes.len()
        )
    })?;
    let sections = header.sections(Le, rest).ok().with_context(|| {
        format!(
            "segment {} announces {} sections but its load command has room for only {}: the \
             binary is damaged",
            String::from_utf8_lossy(header.name()),
            header.nsects.get(Le),
            rest.len() / size_of::<Section64<Le>>()
        )
    })?;
    Ok(Segment { command, header, sections })
}

fn command_struct<'a, T: object::pod::Pod>(command: Command<'a>, name: &str) -> Result<&'a T> {
    object::pod::from_bytes::<T>(command.bytes).map(|(value, _)| value).ok().with_context(|| {
        format!(
            "load command {} ({name}) is {} bytes, shorter than {} bytes: the binary is \
                 damaged",
            command.index,
            command.bytes.len(),
            size_of::<T>()
        )
    })
}

/// One slice of a universal file.
#[derive(Debug, Clone, Copy)]
pub struct FatSlice<'a> {
    /// CPU type (`CPU_TYPE_ARM64`, ...).
    pub cputype: u32,
    /// CPU subtype.
    pub cpusubtype: u32,
    /// The slice's offset is a multiple of 2^align.
    pub align: u32,
    /// File offset of the slice.
    pub offset: u64,
    /// The slice's bytes (a thin image).
    pub data: &'a [u8],
}

/// The slices of a universal file, in the order of its `fat_arch` table.
///
/// Reads both the usual 32-bit (`0xcafebabe`) and the 64-bit (`0xcafebabf`) layout. Fails on
/// other data, on no slices or implausibly many, on slices past the end of the file (a
/// truncated file), overlapping the header or each other, or misaligned.
///
/// ```
/// use sea_build::macho::{FatEntry, FatLayout, fat_slices};
/// let layout = FatLayout::new(vec![FatEntry { cputype: 0x0100000c, cpusubtype: 0, align: 14, size: 3 }])?;
/// let mut fat = Vec::new();
/// layout.write_to(&mut fat, |_, out| Ok(out.write_all(b"abc")?))?;
/// let slices = fat_slices(&fat)?;
/// assert_eq!((slices[0].offset, slices[0].data), (0x4000, &b"abc"[..]));
/// assert!(fat_slices(&fat[..0x4001]).is_err(), "truncated");
/// # anyhow::Ok(())
/// ```
pub fn fat_slices(data: &[u8]) -> Result<Vec<FatSlice<'_>>> {
    ensure!(is_fat(data), "not a universal (fat) Mach-O file: it does not start with cafebabe");
    let slices = if data.get(..4) == Some(&FAT_MAGIC_64.to_be_bytes()[..]) {
        let file = MachOFatFile64::parse(data).ok().context(
            "the universal file is truncated: its fat_arch_64 table runs past the end; get the \
             binary again",
        )?;
        fat_arches(data, file.arches())?
    } else {
        let count = data.get(4..8).map_or(0, |n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]));
        ensure!(
            count as usize <= MAX_FAT_ARCHES,
            "the universal file announces {count} slices (more than {MAX_FAT_ARCHES}): it is \
             damaged, or it is not a Mach-O file (Java class files share the magic number)"
        );
        let file = MachOFatFile32::parse(data).ok().context(
            "the universal file is truncated: its fat_arch table runs past the end; get the \
             binary again",
        )?;
        fat_arches(data, file.arches())?
    };
    ensure!(!slices.is_empty(), "the universal file holds no slices: it is damaged");
    ensure!(slices.len() <= MAX_FAT_ARCHES, "the universal file announces {} slices (more than {MAX_FAT_ARCHES}): it is damaged", slices.len());
    let header_len = fat_header_len(slices.len(), data.get(..4) == Some(&FAT_MAGIC_64.to_be_bytes()[..]));
    let mut by_offset: Vec<&FatSlice> = slices.iter().collect();
    by_offset.sort_by_key(|s| s.offset);
    let mut previous_end = header_len as u64;
    for slice in by_offset {
        ensure!(
            slice.offset >= previous_end,
            "the {} slice at offset {:#x} overlaps the fat header or the previous slice (which \
             ends at {previous_end:#x}): the universal file is damaged",
            arch_name(slice.cputype),
            slice.offset
        );
        previous_end = slice.offset + slice.data.len() as u64;
    }
    Ok(slices)
}

fn fat_arches<'a, A: FatArch>(data: &'a [u8], arches: &[A]) -> Result<Vec<FatSlice<'a>>> {
    arches
        .iter()
        .enumerate()
        .map(|(index, arch)| {
            let (offset, size) = arch.file_range();
            let name = arch_name(arch.cputype());
            let align = arch.align();
            ensure!(
                align <= MAX_FAT_ALIGN,
                "slice {index} ({name}) has alignment 2^{align}, more than 2^{MAX_FAT_ALIGN}: \
                 the universal file is damaged"
            );
            ensure!(
                offset % (1u64 << align) == 0,
                "slice {index} ({name}) at offset {offset:#x} is not aligned to 2^{align}: the \
                 universal file is damaged"
            );
            let slice = arch.data(data).ok().with_context(|| {
                format!(
                    "the universal file is truncated: slice {index} ({name}) spans \
                     {offset:#x}..{:#x} but the file has only {} bytes; get the binary again",
                    offset as u128 + size as u128,
                    data.len()
                )
            })?;
            Ok(FatSlice { cputype: arch.cputype(), cpusubtype: arch.cpusubtype(), align, offset, data: slice })
        })
        .collect()
}

fn fat_header_len(count: usize, wide: bool) -> usize {
    let arch = if wide { size_of::<object::macho::FatArch64>() } else { size_of::<FatArch32>() };
    size_of::<FatHeader>() + count * arch
}

/// One slice to be laid out in a universal file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatEntry {
    /// CPU type of the slice.
    pub cputype: u32,
    /// CPU subtype of the slice.
    pub cpusubtype: u32,
    /// The slice starts at a multiple of 2^align.
    pub align: u32,
    /// Length of the slice in bytes.
    pub size: u64,
}

/// Where the slices of a universal file go: after the header, each at the next multiple of
/// its own 2^align, in the given order. Written with the 32-bit `fat_arch` layout, so every
/// offset and size must stay below 4 GiB.
///
/// ```
/// use sea_build::macho::{FatEntry, FatLayout};
/// let layout = FatLayout::new(vec![
///     FatEntry { cputype: 0x01000007, cpusubtype: 3, align: 12, size: 0x1234 },
///     FatEntry { cputype: 0x0100000c, cpusubtype: 0, align: 14, size: 10 },
/// ])?;
/// assert_eq!(layout.offsets(), [0x1000, 0x4000]);
/// assert_eq!(layout.len(), 0x400a);
/// # anyhow::Ok(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatLayout {
    entries: Vec<FatEntry>,
    offsets: Vec<u64>,
    len: u64,
}

impl FatLayout {
    /// Lays out `entries`; fails on no entries, an alignment above 2^20, or a file that the
    /// 32-bit header cannot describe (4 GiB and more).
    pub fn new(entries: Vec<FatEntry>) -> Result<Self> {
        ensure!(!entries.is_empty(), "a universal file needs at least one slice");
        ensure!(entries.len() <= MAX_FAT_ARCHES, "{} slices are more than the {MAX_FAT_ARCHES} supported", entries.len());
        let mut position = fat_header_len(entries.len(), false) as u64;
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in &entries {
            ensure!(entry.align <= MAX_FAT_ALIGN, "slice alignment 2^{} is more than the supported 2^{MAX_FAT_ALIGN}", entry.align);
            let offset = position.next_multiple_of(1u64 << entry.align);
            let end = offset + entry.size;
            ensure!(
                end <= u64::from(u32::MAX),
                "the {} slice would end at {end:#x}, beyond the 4 GiB a 32-bit universal header \
                 can describe; ship the architectures as separate files",
                arch_name(entry.cputype)
            );
            offsets.push(offset);
            position = end;
        }
        Ok(FatLayout { entries, offsets, len: position })
    }

    /// File offset of each slice, in entry order.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Total length of the universal file.
    #[allow(clippy::len_without_is_empty)] // a layout always has a slice
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The big-endian `fat_header` and `fat_arch` table.
    pub fn header(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(fat_header_len(self.entries.len(), false));
        bytes.extend_from_slice(&FAT_MAGIC.to_be_bytes());
        bytes.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        for (entry, offset) in self.entries.iter().zip(&self.offsets) {
            for word in [entry.cputype, entry.cpusubtype, *offset as u32, entry.size as u32, entry.align] {
                bytes.extend_from_slice(&word.to_be_bytes());
            }
        }
        bytes
    }

    /// Writes the universal file: the header, then for each slice the zero padding up to its
    /// offset and whatever `write_slice(index, out)` writes, which must be exactly the
    /// entry's `size` bytes.
    pub fn write_to<W: Write>(&self, out: &mut W, mut write_slice: impl FnMut(usize, &mut dyn Write) -> Result<()>) -> Result<()> {
        let header = self.header();
        out.write_all(&header).context("writing the universal header failed")?;
        let mut position = header.len() as u64;
        for (index, (entry, &offset)) in self.entries.iter().zip(&self.offsets).enumerate() {
            write_zeros(out, offset - position).context("writing the universal file failed")?;
            let mut counted = CountingWriter { inner: &mut *out, count: 0 };
            write_slice(index, &mut counted)?;
            ensure!(
                counted.count == entry.size,
                "internal error: slice {index} ({}) was announced as {} bytes but {} were \
                 written",
                arch_name(entry.cputype),
                entry.size,
                counted.count
            );
            position = offset + entry.size;
        }
        out.flush().context("writing the universal file failed")?;
        Ok(())
    }
}

/// A writer that counts what passes through it.
struct CountingWriter<'w, W: Write> {
    inner: &'w mut W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Applies `transform` to a thin image, or to every slice of a universal file and rebuilds
/// it (same slice order, CPU types and alignments; slices packed at their alignment).
///
/// Errors from a slice name it (index and architecture).
///
/// ```
/// # let image = sea_build::macho::test_support::tiny_image();
/// use sea_build::macho::map_slices;
/// // Thin input: the function sees the whole image.
/// let same = map_slices(&image, |thin| Ok(thin.to_vec()))?;
/// assert_eq!(same, image);
/// # anyhow::Ok(())
/// ```
pub fn map_slices(data: &[u8], mut transform: impl FnMut(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    if kind(data)? == Kind::Thin {
        return transform(data);
    }
    let slices = fat_slices(data)?;
    let mut outputs = Vec::with_capacity(slices.len());
    for (index, slice) in slices.iter().enumerate() {
        let output = transform(slice.data).with_context(|| in_slice(index, slice))?;
        outputs.push(output);
    }
    let layout =
        FatLayout::new(slices.iter().zip(&outputs).map(|(slice, output)| FatEntry { cputype: slice.cputype, cpusubtype: slice.cpusubtype, align: slice.align, size: output.len() as u64 }).collect())?;
    let mut out = Vec::with_capacity(layout.len() as usize);
    layout.write_to(&mut out, |index, writer| {
        writer.write_all(&outputs[index])?;
        Ok(())
    })?;
    Ok(out)
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

/// Small hand-built Mach-O images for doc examples and unit tests (not a public API).
#[doc(hidden)]
pub mod test_support {
    use object::macho::*;
    use object::pod::bytes_of;
    use object::{BigEndian, LittleEndian as Le, U32, U64};

    use crate::inject::fuse::FUSE_SENTINEL;

    /// Chained fixups in [`image`]'s `__LINKEDIT`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fixups {
        /// No `LC_DYLD_CHAINED_FIXUPS`.
        None,
        /// Fixups whose starts table is directly followed by the first segment's starts.
        Tight,
        /// Fixups with 8 spare bytes after the starts table.
        Spare,
    }

    /// Options for [`image`].
    #[derive(Debug, Clone)]
    pub struct Options {
        /// `CPU_TYPE_ARM64` or `CPU_TYPE_X86_64`.
        pub cputype: u32,
        /// Bytes of free space after the load commands.
        pub header_room: u32,
        /// Append an `LC_CODE_SIGNATURE` with this many bytes of signature data.
        pub signature: Option<u32>,
        /// Contents put at the start of `__text` (e.g. the fuse); at most 64 bytes.
        pub text: Vec<u8>,
        /// Chained fixups at the start of `__LINKEDIT`.
        pub fixups: Fixups,
    }

    impl Default for Options {
        fn default() -> Self {
            Options { cputype: CPU_TYPE_ARM64, header_room: 512, signature: None, text: Vec::new(), fixups: Fixups::None }
        }
    }

    /// A minimal arm64 executable: `__PAGEZERO`, `__TEXT` (one section), `__LINKEDIT` with
    /// a function-starts blob, two symbols and a string table.
    pub fn tiny_image() -> Vec<u8> {
        image(Options::default())
    }

    /// [`tiny_image`] for `cputype` with the unset fuse in `__text`: injectable.
    pub fn node_like(cputype: u32) -> Vec<u8> {
        image(Options { cputype, text: format!("{FUSE_SENTINEL}:0").into_bytes(), ..Options::default() })
    }

    /// A deterministic pseudo-random sequence (xorshift64) for corruption tests.
    pub struct XorShift(pub u64);

    impl XorShift {
        /// The next value.
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// A universal file of thin `images`, each with lipo's alignment for its CPU type
    /// (2^14 for arm64, 2^12 otherwise).
    pub fn universal(images: &[&[u8]]) -> Vec<u8> {
        let entries = images
            .iter()
            .map(|image| {
                let cputype = u32::from_le_bytes([image[4], image[5], image[6], image[7]]);
                let arm = cputype == CPU_TYPE_ARM64;
                super::FatEntry { cputype, cpusubtype: if arm { 0 } else { 3 }, align: if arm { 14 } else { 12 }, size: image.len() as u64 }
            })
            .collect();
        let layout = super::FatLayout::new(entries).expect("a valid layout");
        let mut fat = Vec::new();
        layout.write_to(&mut fat, |index, out| Ok(out.write_all(images[index])?)).expect("writing to a vector");
        fat
    }

    fn name16(name: &str) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        bytes
    }

    fn segment(name: &str, vm: (u64, u64), file: (u64, u64), nsects: u32, prot: u32) -> SegmentCommand64<Le> {
        SegmentCommand64 {
            cmd: U32::new(Le, LC_SEGMENT_64),
            cmdsize: U32::new(Le, 72 + 80 * nsects),
            segname: name16(name),
            vmaddr: U64::new(Le, vm.0),
            vmsize: U64::new(Le, vm.1),
            fileoff: U64::new(Le, file.0),
            filesize: U64::new(Le, file.1),
            maxprot: U32::new(Le, prot),
            initprot: U32::new(Le, prot),
            nsects: U32::new(Le, nsects),
            flags: U32::new(Le, 0),
        }
    }

    fn linkedit_data(cmd: u32, offset: u64, size: u64) -> LinkeditDataCommand<Le> {
        LinkeditDataCommand { cmd: U32::new(Le, cmd), cmdsize: U32::new(Le, 16), dataoff: U32::new(Le, offset as u32), datasize: U32::new(Le, size as u32) }
    }

    /// A chained-fixups blob for three segments with starts for segment 1.
    fn fixups_blob(spare: bool) -> Vec<u8> {
        let mut blob = Vec::new();
        let starts = 32u32;
        let first = if spare { 24u32 } else { 16 };
        let imports = starts + first + 24;
        let symbols = imports + 4;
        for word in [0, starts, imports, symbols, 1, 1, 0] {
            blob.extend_from_slice(&u32::to_le_bytes(word));
        }
        blob.resize(starts as usize, 0);
        for word in [3, 0, first, 0] {
            blob.extend_from_slice(&u32::to_le_bytes(word));
        }
        blob.resize((starts + first) as usize, 0);
        // dyld_chained_starts_in_segment: size, page size, format, segment offset, max
        // pointer, page count, one page start (none).
        blob.extend_from_slice(&22u32.to_le_bytes());
        blob.extend_from_slice(&0x4000u16.to_le_bytes());
        blob.extend_from_slice(&6u16.to_le_bytes());
        blob.extend_from_slice(&0u64.to_le_bytes());
        blob.extend_from_slice(&0u32.to_le_bytes());
        blob.extend_from_slice(&1u16.to_le_bytes());
        blob.extend_from_slice(&0xffffu16.to_le_bytes());
        blob.resize(imports as usize, 0);
        blob.extend_from_slice(&(1u32 | (1 << 9)).to_le_bytes());
        blob.extend_from_slice(b"\0_puts\0");
        blob.resize(blob.len().next_multiple_of(8), 0);
        blob
    }

    /// A minimal executable shaped by `options` (see [`Options`]).
    pub fn image(options: Options) -> Vec<u8> {
        let page: u64 = if options.cputype == CPU_TYPE_ARM64 { 0x4000 } else { 0x1000 };
        let base = 0x1_0000_0000u64;
        let fixups = match options.fixups {
            Fixups::None => None,
            Fixups::Tight => Some(fixups_blob(false)),
            Fixups::Spare => Some(fixups_blob(true)),
        };
        let text_len = page;
        // Commands are laid out first to know where __text starts.
        let commands_len = 72 + (72 + 80) + 72 + 24 + 16 + 24 + options.signature.map_or(0, |_| 16) + fixups.as_ref().map_or(0, |_| 16);
        let text_offset = u64::from(32 + commands_len + options.header_room);
        let linkedit_off = text_len;
        // __LINKEDIT: [chained fixups], function starts (8), symbols (2 x 16), strings (16),
        // [signature].
        let fixups_len = fixups.as_ref().map_or(0, |f| f.len() as u64);
        let starts_off = linkedit_off + fixups_len;
        let symoff = starts_off + 8;
        let stroff = symoff + 32;
        let strings: &[u8] = b" \0_main\0_other\0\0";
        let data_end = stroff + strings.len() as u64;
        let signature_off = data_end.next_multiple_of(16);
        let end = options.signature.map_or(data_end, |size| signature_off + u64::from(size));

        let mut commands: Vec<u8> = Vec::new();
        let mut ncmds = 0u32;
        let mut add = |bytes: &[u8]| {
            commands.extend_from_slice(bytes);
            ncmds += 1;
        };
        add(bytes_of(&segment("__PAGEZERO", (0, base), (0, 0), 0, 0)));
        let text_size = (text_len - text_offset).min(64);
        let mut text = bytes_of(&segment("__TEXT", (base, text_len), (0, text_len), 1, 5)).to_vec();
        text.extend_from_slice(bytes_of(&Section64 {
            sectname: name16("__text"),
            segname: name16("__TEXT"),
            addr: U64::new(Le, base + text_offset),
            size: U64::new(Le, text_size),
            offset: U32::new(Le, text_offset as u32),
            align: U32::new(Le, 2),
            reloff: U32::new(Le, 0),
            nreloc: U32::new(Le, 0),
            flags: U32::new(Le, S_ATTR_PURE_INSTRUCTIONS | S_ATTR_SOME_INSTRUCTIONS),
            reserved1: U32::new(Le, 0),
            reserved2: U32::new(Le, 0),
            reserved3: U32::new(Le, 0),
        }));
        add(&text);
        let linkedit_len = end - linkedit_off;
        add(bytes_of(&segment("__LINKEDIT", (base + text_len, linkedit_len), (linkedit_off, linkedit_len), 0, 1)));
        if fixups.is_some() {
            add(bytes_of(&linkedit_data(LC_DYLD_CHAINED_FIXUPS, linkedit_off, fixups_len)));
        }
        add(bytes_of(&SymtabCommand {
            cmd: U32::new(Le, LC_SYMTAB),
            cmdsize: U32::new(Le, 24),
            symoff: U32::new(Le, symoff as u32),
            nsyms: U32::new(Le, 2),
            stroff: U32::new(Le, stroff as u32),
            strsize: U32::new(Le, strings.len() as u32),
        }));
        add(bytes_of(&linkedit_data(LC_FUNCTION_STARTS, starts_off, 8)));
        add(bytes_of(&UuidCommand { cmd: U32::new(Le, LC_UUID), cmdsize: U32::new(Le, 24), uuid: [0x11; 16] }));
        if let Some(size) = options.signature {
            add(bytes_of(&linkedit_data(LC_CODE_SIGNATURE, signature_off, u64::from(size))));
        }

        let header = MachHeader64 {
            magic: U32::new(BigEndian, MH_CIGAM_64),
            cputype: U32::new(Le, options.cputype),
            cpusubtype: U32::new(Le, if options.cputype == CPU_TYPE_ARM64 { 0 } else { 3 }),
            filetype: U32::new(Le, MH_EXECUTE),
            ncmds: U32::new(Le, ncmds),
            sizeofcmds: U32::new(Le, commands.len() as u32),
            flags: U32::new(Le, MH_PIE | MH_DYLDLINK | MH_TWOLEVEL),
            reserved: U32::new(Le, 0),
        };
        let mut image = vec![0u8; end as usize];
        image[..32].copy_from_slice(bytes_of(&header));
        image[32..32 + commands.len()].copy_from_slice(&commands);
        let text_at = text_offset as usize;
        image[text_at..text_at + options.text.len()].copy_from_slice(&options.text);
        if let Some(fixups) = &fixups {
            image[linkedit_off as usize..][..fixups.len()].copy_from_slice(fixups);
        }
        image[starts_off as usize..][..8].copy_from_slice(&[0x80, 0x0b, 0, 0, 0, 0, 0, 0]);
        let nlists = [(2u32, base + text_offset), (8, base + text_offset + 4)];
        for (index, (strx, value)) in nlists.into_iter().enumerate() {
            let at = symoff as usize + index * 16;
            image[at..at + 4].copy_from_slice(&strx.to_le_bytes());
            image[at + 4] = N_SECT | N_EXT;
            image[at + 5] = 1;
            image[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
        }
        image[stroff as usize..][..strings.len()].copy_from_slice(strings);
        if options.signature.is_some() {
            // The magic of a code-signature superblob, then zeros.
            image[signature_off as usize..][..4].copy_from_slice(&0xfade0cc0u32.to_be_bytes());
        }
        image
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{Options, XorShift, image, tiny_image, universal};
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
