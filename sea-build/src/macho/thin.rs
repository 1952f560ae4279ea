//! A thin (single-architecture) 64-bit image: its load commands, segments and the file
//! ranges `__LINKEDIT` data lives in.

use std::mem::{offset_of, size_of};

use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as Le;
use object::macho::{
    DyldInfoCommand, DysymtabCommand, LC_CODE_SIGNATURE, LC_DATA_IN_CODE, LC_DYLD_CHAINED_FIXUPS, LC_DYLD_EXPORTS_TRIE, LC_DYLD_INFO, LC_DYLD_INFO_ONLY, LC_DYLIB_CODE_SIGN_DRS, LC_DYSYMTAB,
    LC_FUNCTION_STARTS, LC_LINKER_OPTIMIZATION_HINT, LC_NOTE, LC_SEGMENT, LC_SEGMENT_64, LC_SEGMENT_SPLIT_INFO, LC_SYMTAB, LC_TWOLEVEL_HINTS, LinkeditDataCommand, MachHeader64, NoteCommand,
    S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL, S_ZEROFILL, SECTION_TYPE, Section64, SegmentCommand64, SymtabCommand, TwolevelHintsCommand,
};
use object::read::macho::{MachHeader as _, Segment as _};

use super::*;

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
/// # let image = sea_build::macho::fixture::tiny_image();
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
    /// contents and relocations, and all linkedit data (see the [module docs](super)).
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
        // dyld refuses an image with two of the same linkedit data command (two
        // LC_DYLD_CHAINED_FIXUPS, say); only one of them would be kept in step when __LINKEDIT moves.
        for (index, range) in self.ranges.iter().enumerate().filter(|(_, range)| linkedit_data_name(range.cmd).is_some()) {
            let twice = self.ranges[..index].iter().any(|seen| seen.cmd == range.cmd);
            ensure!(!twice, "the Mach-O file is damaged: it has two {} load commands (the second is load command {})", range.what, range.command_index);
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
