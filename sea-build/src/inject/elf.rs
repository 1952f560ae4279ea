//! Injection into Linux (ELF64 little-endian: x86_64, aarch64 and ppc64le) node binaries.
//!
//! Node finds its blob at run time by walking the main program's PT_NOTE segments in
//! memory for a note named `NODE_SEA_BLOB`. [`inject`] therefore only *appends* to the
//! image; nothing that exists is rewritten except the ELF header and the fuse byte
//! (dynamic symbols, hash tables, relocations and `.dynamic` stay byte-identical):
//!
//! ```text
//! | original image (fuse set; new e_phoff, e_phnum, e_shoff, e_shnum) | zero padding to a page |
//! | new PT_LOAD (R): program header table (old + PT_LOAD + PT_NOTE), note NODE_SEA_BLOB |
//! | copy of .shstrtab + ".note.node.sea" | section header table (old + .note.node.sea) |
//! ```
//!
//! The new segment lies above every existing segment, in pages of its own, with the same
//! `p_vaddr - p_offset` as the first PT_LOAD, because kernels before 5.18 compute `AT_PHDR`
//! as that difference plus `e_phoff`. PT_PHDR is pointed at the new table. PT_LOADs stay
//! in ascending address order.
//!
//! Both `strip`s keep the result working (checked on node 20 to 26 with GNU strip 2.40 and
//! llvm-strip 14), which constrains the layout:
//! - the allocated `SHT_NOTE` section `.note.node.sea` makes them keep the note;
//! - the table starts the segment and no section covers it: GNU strip places the program
//!   headers at the start of the segment that holds them and moves any section found there;
//! - PT_PHDR gets `p_align` = page size: llvm-strip lays out PT_PHDR (first in the table,
//!   same offset as our PT_LOAD) as the PT_LOAD's parent, aligned by PT_PHDR's `p_align`;
//! - one page of address space is left free below the segment: GNU strip repacks the file
//!   and may start the segment up to a page lower.

use std::io::Write;

use crate::error::fail;
use anyhow::{Context, Result, bail, ensure};
use object::elf::{
    ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_AARCH64, EM_PPC64, EM_X86_64, ET_DYN, ET_EXEC, PF_R, PN_XNUM, PT_LOAD, PT_NOTE, PT_PHDR, SHF_ALLOC, SHN_LORESERVE, SHN_XINDEX, SHT_NOTE, SHT_STRTAB,
};

use super::{NODE_SEA_BLOB, Piece, Splice, elf_strip, fuse};

/// Name of the allocated `SHT_NOTE` section covering the blob's note.
pub const NOTE_SECTION_NAME: &str = ".note.node.sea";

const FILE_HEADER_LEN: usize = 64;
const PROGRAM_HEADER_LEN: usize = 56;
const SECTION_HEADER_LEN: usize = 64;
const NOTE_HEADER_LEN: usize = 12;
/// Zero bytes we accept between the old end of file and the new segment. Real binaries
/// need less than a page (their bss ends near their file size); more means damaged
/// headers, which would otherwise make us write gigabytes of zeros.
const MAX_PADDING: u64 = 64 << 20;

/// Where [`inject`] put things, for logs and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectionSummary {
    /// File offset of the new PT_LOAD (and of the new program header table).
    pub segment_offset: u64,
    /// Virtual address of the new PT_LOAD.
    pub segment_vaddr: u64,
    /// File offset of the blob (the note's descriptor).
    pub blob_offset: u64,
    /// Total length of the output.
    pub output_len: u64,
    /// Bytes of the base image left out by [`Options::strip`] (0 without it).
    pub stripped_len: u64,
}

/// How [`plan_with`] and [`inject_with`] inject.
///
/// ```
/// let options = sea_build::inject::elf::Options { strip: true };
/// assert_ne!(options, Default::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Leave node's static symbol table and debug sections out, in the same pass (see
    /// [`elf_strip`]).
    pub strip: bool,
}

/// Writes `image` with `blob` injected (and the fuse set) to `out`.
///
/// The image is streamed as slices, never copied: only the ELF header and the fuse byte
/// are written from owned copies, followed by the appended parts (see the
/// [module docs](self)). Refuses, with an error saying why: non-ELF, 32-bit, big-endian,
/// machines other than x86_64/aarch64, non-executables, truncated headers, a missing or
/// duplicated fuse, and already injected binaries (fuse set, a `.note.node.sea` section or
/// a `NODE_SEA_BLOB` note).
///
/// All checks run before the first byte is written, so an error leaves `out` untouched
/// unless writing itself fails.
///
/// ```
/// # use sea_build::inject::{elf, fuse::FUSE_SENTINEL};
/// # fn tiny_elf() -> Vec<u8> {
/// #     let le16 = |v: u16| v.to_le_bytes().to_vec();
/// #     let le32 = |v: u32| v.to_le_bytes().to_vec();
/// #     let le64 = |v: u64| v.to_le_bytes().to_vec();
/// #     let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/// #     for part in [le16(2), le16(62), le32(1), le64(0x400078), le64(64), le64(0), le32(0),
/// #                  le16(64), le16(56), le16(1), le16(64), le16(0), le16(0)] {
/// #         elf.extend(part);
/// #     }
/// #     for part in [le32(1), le32(5), le64(0), le64(0x400000), le64(0x400000), le64(0x100),
/// #                  le64(0x100), le64(0x1000)] {
/// #         elf.extend(part);
/// #     }
/// #     elf.extend(format!("{FUSE_SENTINEL}:0").bytes());
/// #     elf.resize(0x100, 0);
/// #     elf
/// # }
/// let image = tiny_elf(); // a minimal ELF64 x86_64 executable containing the fuse
/// let mut out = Vec::new();
/// let summary = elf::inject(&image, b"blob bytes", &mut out)?;
/// assert_eq!(summary.output_len, out.len() as u64);
/// assert_eq!(elf::find_blob(&out)?, Some(&b"blob bytes"[..]));
/// assert!(elf::inject(&out, b"again", &mut Vec::new()).is_err(), "already injected");
/// # anyhow::Ok(())
/// ```
pub fn inject(image: &[u8], blob: &[u8], out: &mut impl Write) -> Result<InjectionSummary> {
    inject_with(image, blob, out, Options::default())
}

/// [`inject`], as `options` say: with [`Options::strip`], the symbol tables and debug
/// sections are left out of the output.
///
/// ```no_run
/// use sea_build::inject::elf;
/// let image = std::fs::read("node")?;
/// let mut out = Vec::new();
/// let summary = elf::inject_with(&image, &std::fs::read("sea-prep.blob")?, &mut out, elf::Options { strip: true })?;
/// println!("{} bytes of symbols and debug info left out", summary.stripped_len);
/// # anyhow::Ok(())
/// ```
pub fn inject_with(image: &[u8], blob: &[u8], out: &mut impl Write, options: Options) -> Result<InjectionSummary> {
    // Format errors first: they say more than a missing fuse.
    Elf::parse(image)?;
    let fuse_offset = fuse::unset_fuse_offset(image)?;
    let (splice, summary) = plan_with(image, blob.len(), fuse_offset, options)?;
    splice.write(image, blob, out).context("writing the injected ELF image failed")?;
    Ok(summary)
}

/// The injection [`inject`] performs, as a [`Splice`] of the image's own bytes and new ones,
/// given the offset of the fuse's `'0'` (from [`fuse::unset_fuse_offset`] or
/// [`fuse::find_fuse_in`]).
///
/// Reads only the headers and existing notes of `image`, so over a memory map it leaves the
/// rest of the file unread; writing the splice file-to-file then costs what a copy costs.
/// Makes the same checks as [`inject`].
///
/// ```no_run
/// use sea_build::inject::{elf, fuse};
/// let image = std::fs::read("node")?;
/// let blob = std::fs::read("sea-prep.blob")?;
/// let (splice, summary) = elf::plan(&image, blob.len(), fuse::unset_fuse_offset(&image)?)?;
/// assert_eq!(splice.len(blob.len()), summary.output_len);
/// # anyhow::Ok(())
/// ```
pub fn plan(image: &[u8], blob_len: usize, fuse_offset: usize) -> Result<(Splice, InjectionSummary)> {
    plan_with(image, blob_len, fuse_offset, Options::default())
}

/// [`plan`], as `options` say. With [`Options::strip`] the splice skips the ranges
/// [`elf_strip::plan`] names, so later base bytes move down: a file-to-file writer must
/// copy those instead of leaving them in place.
///
/// ```no_run
/// use sea_build::inject::{elf, fuse};
/// let image = std::fs::read("node")?;
/// let (splice, summary) = elf::plan_with(&image, 1000, fuse::unset_fuse_offset(&image)?, elf::Options { strip: true })?;
/// assert_eq!(splice.len(1000), summary.output_len);
/// # anyhow::Ok(())
/// ```
pub fn plan_with(image: &[u8], blob_len: usize, fuse_offset: usize, options: Options) -> Result<(Splice, InjectionSummary)> {
    fuse::check_unset_at(image, fuse_offset)?;
    // Format errors from the injector first: they say more than the strip planner's.
    Elf::parse(image)?;
    let strip = if options.strip { Some(elf_strip::plan(image)?) } else { None };
    let plan = plan_injection(image, blob_len, fuse_offset, strip.as_ref())?;
    Ok((plan.splice(), plan.summary))
}

/// [`inject`] into a new vector; convenient for small images and tests.
///
/// ```no_run
/// let image = std::fs::read("node")?;
/// let blob = std::fs::read("sea-prep.blob")?;
/// std::fs::write("app", sea_build::inject::elf::inject_to_vec(&image, &blob)?)?;
/// # anyhow::Ok(())
/// ```
pub fn inject_to_vec(image: &[u8], blob: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    inject(image, blob, &mut out)?;
    Ok(out)
}

/// The blob node would find in `image` at run time, or `None`.
///
/// Walks the PT_NOTE segments that a PT_LOAD maps (the only ones node can see, since it
/// reads them in memory), pads notes by the segment's `p_align` (8 when it is 8, else 4)
/// and returns the descriptor of the first non-empty note named `NODE_SEA_BLOB`.
/// Fails on images that are not x86_64/aarch64 ELF64 executables, on truncated headers,
/// and on a `NODE_SEA_BLOB` note running past its segment.
///
/// ```
/// // Not an ELF file at all:
/// assert!(sea_build::inject::elf::find_blob(b"MZ\x90\x00").is_err());
/// ```
pub fn find_blob(image: &[u8]) -> Result<Option<&[u8]>> {
    let elf = Elf::parse(image)?;
    find_blob_in(&elf)
}

/// The note name node matches: `NODE_SEA_BLOB` and its terminating NUL.
fn note_name() -> Vec<u8> {
    let mut name = NODE_SEA_BLOB.as_bytes().to_vec();
    name.push(0);
    name
}

fn find_blob_in<'a>(elf: &Elf<'a>) -> Result<Option<&'a [u8]>> {
    let wanted_name = note_name();
    for segment in elf.program_headers.iter().filter(|p| p.kind == PT_NOTE) {
        if !elf.is_mapped(segment) {
            continue;
        }
        let notes = segment.file_range().and_then(|range| elf.image.get(range)).with_context(|| {
            format!(
                "PT_NOTE at offset {:#x} ({:#x} bytes) lies past the end of the file ({} bytes): \
                     the binary is truncated",
                segment.offset,
                segment.file_size,
                elf.image.len()
            )
        })?;
        let padding = if segment.align == 8 { 8 } else { 4 };
        let mut position = 0usize;
        while let Some(header) = notes.get(position..).and_then(|rest| rest.first_chunk::<12>()) {
            let mut fields = Fields::new(header);
            let (name_len, desc_len) = (fields.u32() as usize, fields.u32() as usize);
            let name_start = position + NOTE_HEADER_LEN;
            let name = name_start.checked_add(name_len).and_then(|name_end| notes.get(name_start..name_end));
            let desc_start = name_start.checked_add(name_len).and_then(|end| align_up_usize(end, padding));
            let desc_end = desc_start.and_then(|start| start.checked_add(desc_len));
            if name == Some(wanted_name.as_slice()) && desc_len != 0 {
                let desc = desc_start.zip(desc_end).and_then(|(start, end)| notes.get(start..end)).with_context(|| {
                    format!(
                        "the {NODE_SEA_BLOB} note at offset {:#x} announces {desc_len} bytes, \
                             more than its PT_NOTE holds: the binary is damaged",
                        segment.offset + position as u64
                    )
                })?;
                return Ok(Some(desc));
            }
            match desc_end.and_then(|end| align_up_usize(end, padding)) {
                Some(next) if next > position => position = next,
                _ => break,
            }
        }
    }
    Ok(None)
}

/// Everything [`inject`] writes besides the image's own bytes, computed up front.
struct Plan {
    file_header: Vec<u8>,
    fuse_offset: usize,
    /// The base bytes after the fuse that the output keeps (all of them unless stripping).
    kept_after_fuse: Vec<std::ops::Range<u64>>,
    padding: u64,
    program_headers: Vec<u8>,
    note_head: Vec<u8>,
    note_padding: usize,
    section_names: Vec<u8>,
    section_headers_padding: usize,
    section_headers: Vec<u8>,
    summary: InjectionSummary,
}

impl Plan {
    fn splice(&self) -> Splice {
        let mut splice = Splice::default();
        let fuse = self.fuse_offset as u64;
        splice.push(Piece::Bytes(self.file_header.clone()));
        splice.push(Piece::Base(FILE_HEADER_LEN as u64..fuse));
        splice.push(Piece::Bytes(b"1".to_vec()));
        for range in &self.kept_after_fuse {
            splice.push(Piece::Base(range.clone()));
        }
        splice.push(Piece::Zeros(self.padding));
        splice.push(Piece::Bytes(self.program_headers.clone()));
        splice.push(Piece::Bytes(self.note_head.clone()));
        splice.push(Piece::Blob);
        splice.push(Piece::Zeros(self.note_padding as u64));
        splice.push(Piece::Bytes(self.section_names.clone()));
        splice.push(Piece::Zeros(self.section_headers_padding as u64));
        splice.push(Piece::Bytes(self.section_headers.clone()));
        splice
    }
}

/// Page size the new segment is aligned to: 4 KiB on x86_64; 64 KiB on aarch64 and ppc64le
/// so the result also loads on 64K-page kernels (the usual ones on ppc64le).
fn page_size(machine: u16) -> u64 {
    if machine == EM_AARCH64 || machine == EM_PPC64 { 0x10000 } else { 0x1000 }
}

fn plan_injection(image: &[u8], blob_len: usize, fuse_offset: usize, strip: Option<&elf_strip::StripPlan>) -> Result<Plan> {
    let elf = Elf::parse(image)?;
    // Stripping: the base bytes kept, and the length they add up to.
    let no_strip = elf_strip::StripPlan::default();
    let strip_plan = strip.unwrap_or(&no_strip);
    ensure!(strip_plan.skipped().first().is_none_or(|first| first.start > fuse_offset as u64), "internal error: stripping would leave out bytes before the fuse at {fuse_offset:#x}");
    let kept_len = image.len() as u64 - strip_plan.skipped_len();
    if elf.section_named(NOTE_SECTION_NAME).is_some() {
        fail!(
            AlreadyInjected,
            "the binary already carries a SEA blob (it has a {NOTE_SECTION_NAME} section): \
             inject into a fresh node binary"
        );
    }
    if find_blob_in(&elf)?.is_some() {
        fail!(
            AlreadyInjected,
            "the binary already carries a SEA blob (a {NODE_SEA_BLOB} note): inject into a \
             fresh node binary"
        );
    }
    ensure!(fuse_offset >= FILE_HEADER_LEN, "the fuse lies inside the ELF header (offset {fuse_offset:#x}): not a node binary");
    ensure!(
        blob_len != 0,
        "the blob is empty: node ignores empty notes; generate the blob with \
         `node --experimental-sea-config`"
    );
    let note_desc_len = u32::try_from(blob_len).map_err(|_| {
        anyhow::anyhow!(
            "the blob is {} bytes, but an ELF note holds at most {} bytes: make the \
             application or its assets smaller",
            blob_len,
            u32::MAX
        )
    })?;

    // Where the new segment goes.
    let page = page_size(elf.header.machine);
    let loads: Vec<&ProgramHeader> = elf.program_headers.iter().filter(|p| p.kind == PT_LOAD).collect();
    let first_load = loads.first().context("the ELF file has no PT_LOAD segment: not an executable node binary")?;
    let mut highest_end = 0u64;
    for load in &loads {
        let end = load.vaddr.checked_add(load.mem_size).with_context(|| format!("PT_LOAD at {:#x} with size {:#x} overflows the address space: the binary is damaged", load.vaddr, load.mem_size))?;
        highest_end = highest_end.max(end);
    }
    let overflow = || anyhow::anyhow!("the new segment would lie beyond the 64-bit address space");
    let end_of_file = align_up(kept_len, page).ok_or_else(overflow)?;
    // One page of address space stays free above the existing segments: GNU strip moves
    // our segment's start up to a page lower (it packs the file and keeps the note's
    // address), which must not reach into the page of the last segment (often bss).
    let above_all = align_up(highest_end, page).and_then(|end| end.checked_add(page)).ok_or_else(overflow)?;
    let (segment_offset, segment_vaddr) = match first_load.vaddr.checked_sub(first_load.offset) {
        // Keep the first PT_LOAD's vaddr - offset (old kernels' AT_PHDR), padding the file
        // when the address right after the file would collide with existing segments.
        Some(bias) if bias % page == 0 => {
            let offset = end_of_file.max(above_all.saturating_sub(bias));
            (offset, bias.checked_add(offset).ok_or_else(overflow)?)
        }
        // Unusual layouts cannot satisfy old kernels; stay page-congruent at least.
        _ => (end_of_file, above_all),
    };

    let padding = segment_offset - kept_len;
    ensure!(
        padding <= MAX_PADDING,
        "the new segment would start at offset {segment_offset:#x} (address {segment_vaddr:#x}, \
         above the highest segment end {highest_end:#x}), {padding} bytes after the end of the \
         file, more than the {MAX_PADDING}-byte limit: the program headers look damaged; use an \
         unmodified node binary"
    );

    // The new program header table: old entries, the new PT_LOAD after the last PT_LOAD
    // (addresses ascend), the new PT_NOTE after the last PT_NOTE.
    let program_header_count = elf.program_headers.len() + 2;
    ensure!(
        program_header_count < usize::from(PN_XNUM),
        "the binary has {} program headers; adding two would need extended numbering, which \
         is not supported",
        elf.program_headers.len()
    );
    let table_len = (program_header_count * PROGRAM_HEADER_LEN) as u64;
    let name = note_name();
    let name_len_padded = align_up_usize(name.len(), 4).ok_or_else(overflow)?;
    let desc_len_padded = align_up_usize(blob_len, 4).ok_or_else(overflow)?;
    let note_len = (NOTE_HEADER_LEN + name_len_padded) as u64 + desc_len_padded as u64;
    // The table starts the segment (see the module docs); the note follows, 8-aligned
    // because the table's size is a multiple of 8.
    let (table_offset, table_vaddr) = (segment_offset, segment_vaddr);
    let note_offset = segment_offset + table_len;
    let note_vaddr = segment_vaddr.checked_add(table_len).ok_or_else(overflow)?;
    let segment_len = table_len + note_len;
    segment_vaddr.checked_add(segment_len).ok_or_else(overflow)?;

    let new_load = ProgramHeader { kind: PT_LOAD, flags: PF_R, offset: segment_offset, vaddr: segment_vaddr, paddr: segment_vaddr, file_size: segment_len, mem_size: segment_len, align: page };
    let new_note = ProgramHeader { kind: PT_NOTE, flags: PF_R, offset: note_offset, vaddr: note_vaddr, paddr: note_vaddr, file_size: note_len, mem_size: note_len, align: 4 };
    let mut program_headers: Vec<ProgramHeader> = elf
        .program_headers
        .iter()
        .map(|old| {
            let mut copy = *old;
            if copy.kind == PT_PHDR {
                copy.offset = table_offset;
                copy.vaddr = table_vaddr;
                copy.paddr = table_vaddr;
                copy.file_size = table_len;
                copy.mem_size = table_len;
                // For llvm-strip (module docs); the table is page-aligned, so it holds.
                copy.align = page;
            }
            copy
        })
        .collect();
    let after_last = |headers: &[ProgramHeader], kind: u32| headers.iter().rposition(|p| p.kind == kind).map_or(0, |index| index + 1);
    // PT_LOADs must ascend by address, and ours is the highest.
    let load_position = after_last(&program_headers, PT_LOAD);
    program_headers.insert(load_position, new_load);
    // Next to the other notes, or right after our PT_LOAD when they come before it.
    let note_position = after_last(&program_headers, PT_NOTE).max(load_position + 1);
    program_headers.insert(note_position, new_note);

    let mut note_head = Vec::with_capacity(NOTE_HEADER_LEN + name_len_padded);
    note_head.extend_from_slice(&(name.len() as u32).to_le_bytes());
    note_head.extend_from_slice(&note_desc_len.to_le_bytes());
    note_head.extend_from_slice(&0u32.to_le_bytes());
    note_head.extend_from_slice(&name);
    note_head.resize(NOTE_HEADER_LEN + name_len_padded, 0);

    // Section names: a copy of the old .shstrtab with ours appended (the old one stays
    // where it is, unreferenced), placed after the segment.
    let names_offset = segment_offset + segment_len;
    let old_names_index = elf.section_names_index();
    let mut section_names = match old_names_index {
        Some(index) => elf.section_data(index)?.to_vec(),
        None => Vec::new(),
    };
    if section_names.last() != Some(&0) {
        section_names.push(0);
    }
    ensure!(
        section_names.len() < (u32::MAX / 2) as usize,
        "the section name table is {} bytes, too large for 32-bit name offsets: the binary is \
         damaged",
        section_names.len()
    );
    let mut add_name = |name: &str| {
        let at = section_names.len() as u32;
        section_names.extend_from_slice(name.as_bytes());
        section_names.push(0);
        at
    };
    let note_section_name = add_name(NOTE_SECTION_NAME);
    let own_names_name = old_names_index.is_none().then(|| add_name(".shstrtab"));

    // Read from the base before stripping renumbers anything.
    let old_names_index = match (old_names_index, strip) {
        (Some(index), Some(strip)) => Some(strip.new_index(index).context("internal error: stripping would leave out the section name table")?),
        (index, _) => index,
    };
    let mut section_headers = match strip {
        Some(strip) => strip.sections().iter().map(|header| SectionHeader::read(object::bytes_of(header))).collect(),
        None => elf.section_headers.clone(),
    };
    if section_headers.is_empty() {
        section_headers.push(SectionHeader::default());
    }
    section_headers.push(SectionHeader {
        name: note_section_name,
        kind: SHT_NOTE,
        flags: u64::from(SHF_ALLOC),
        addr: note_vaddr,
        offset: note_offset,
        size: note_len,
        align: 4,
        ..SectionHeader::default()
    });
    let names_index = match (old_names_index, own_names_name) {
        (Some(index), _) => index,
        (None, name) => {
            section_headers.push(SectionHeader { name: name.unwrap_or_default(), kind: SHT_STRTAB, align: 1, ..SectionHeader::default() });
            section_headers.len() - 1
        }
    };
    if let Some(names_header) = section_headers.get_mut(names_index) {
        names_header.offset = names_offset;
        names_header.size = section_names.len() as u64;
    }
    ensure!(
        section_headers.len() < usize::from(SHN_LORESERVE),
        "the binary has {} sections; adding ours would need extended section numbering, which \
         is not supported",
        elf.section_headers.len()
    );

    let names_end = names_offset + section_names.len() as u64;
    let section_headers_offset = align_up(names_end, 8).ok_or_else(overflow)?;
    let section_headers_bytes: Vec<u8> = section_headers.iter().flat_map(|header| header.to_bytes()).collect();
    let output_len = section_headers_offset + section_headers_bytes.len() as u64;

    let mut header = elf.header;
    header.program_headers_offset = table_offset;
    header.program_header_count = program_header_count as u16;
    header.section_headers_offset = section_headers_offset;
    header.section_header_count = section_headers.len() as u16;
    header.section_names_index = names_index as u16;
    // Without section headers e_shentsize means nothing and may hold anything; the output
    // has a table of ELF64 section headers, whatever the input said.
    header.section_header_size = SECTION_HEADER_LEN as u16;

    Ok(Plan {
        file_header: header.to_bytes(),
        fuse_offset,
        padding,
        program_headers: program_headers.iter().flat_map(|header| header.to_bytes()).collect(),
        note_head,
        // Up to the table, which is 8-aligned.
        note_padding: desc_len_padded - blob_len,
        kept_after_fuse: strip_plan.kept_ranges(fuse_offset as u64 + 1..image.len() as u64).collect(),
        section_names,
        section_headers_padding: (section_headers_offset - names_end) as usize,
        section_headers: section_headers_bytes,
        summary: InjectionSummary { segment_offset, segment_vaddr, blob_offset: note_offset + (NOTE_HEADER_LEN + name_len_padded) as u64, output_len, stripped_len: strip_plan.skipped_len() },
    })
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    Some(value.checked_add(alignment - 1)? & !(alignment - 1))
}

fn align_up_usize(value: usize, alignment: usize) -> Option<usize> {
    Some(value.checked_add(alignment - 1)? & !(alignment - 1))
}

/// Sequential little-endian reads from a slice whose length the caller has checked;
/// reads past the end yield zeros rather than panicking.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields { rest: bytes }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        match self.rest.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.rest = rest;
                *head
            }
            None => {
                self.rest = &[];
                [0; N]
            }
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
}

/// The ELF64 file header, every field kept so it can be written back unchanged.
#[derive(Debug, Clone, Copy)]
struct FileHeader {
    ident: [u8; 16],
    kind: u16,
    machine: u16,
    version: u32,
    entry: u64,
    program_headers_offset: u64,
    section_headers_offset: u64,
    flags: u32,
    header_size: u16,
    program_header_size: u16,
    program_header_count: u16,
    section_header_size: u16,
    section_header_count: u16,
    section_names_index: u16,
}

impl FileHeader {
    fn read(bytes: &[u8; FILE_HEADER_LEN]) -> Self {
        let mut fields = Fields::new(bytes);
        FileHeader {
            ident: fields.array(),
            kind: fields.u16(),
            machine: fields.u16(),
            version: fields.u32(),
            entry: fields.u64(),
            program_headers_offset: fields.u64(),
            section_headers_offset: fields.u64(),
            flags: fields.u32(),
            header_size: fields.u16(),
            program_header_size: fields.u16(),
            program_header_count: fields.u16(),
            section_header_size: fields.u16(),
            section_header_count: fields.u16(),
            section_names_index: fields.u16(),
        }
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(FILE_HEADER_LEN);
        bytes.extend_from_slice(&self.ident);
        bytes.extend_from_slice(&self.kind.to_le_bytes());
        bytes.extend_from_slice(&self.machine.to_le_bytes());
        bytes.extend_from_slice(&self.version.to_le_bytes());
        bytes.extend_from_slice(&self.entry.to_le_bytes());
        bytes.extend_from_slice(&self.program_headers_offset.to_le_bytes());
        bytes.extend_from_slice(&self.section_headers_offset.to_le_bytes());
        bytes.extend_from_slice(&self.flags.to_le_bytes());
        bytes.extend_from_slice(&self.header_size.to_le_bytes());
        bytes.extend_from_slice(&self.program_header_size.to_le_bytes());
        bytes.extend_from_slice(&self.program_header_count.to_le_bytes());
        bytes.extend_from_slice(&self.section_header_size.to_le_bytes());
        bytes.extend_from_slice(&self.section_header_count.to_le_bytes());
        bytes.extend_from_slice(&self.section_names_index.to_le_bytes());
        bytes
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProgramHeader {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    paddr: u64,
    file_size: u64,
    mem_size: u64,
    align: u64,
}

impl ProgramHeader {
    fn read(bytes: &[u8]) -> Self {
        let mut fields = Fields::new(bytes);
        ProgramHeader { kind: fields.u32(), flags: fields.u32(), offset: fields.u64(), vaddr: fields.u64(), paddr: fields.u64(), file_size: fields.u64(), mem_size: fields.u64(), align: fields.u64() }
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(PROGRAM_HEADER_LEN);
        bytes.extend_from_slice(&self.kind.to_le_bytes());
        bytes.extend_from_slice(&self.flags.to_le_bytes());
        for value in [self.offset, self.vaddr, self.paddr, self.file_size, self.mem_size, self.align] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    fn file_range(&self) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(self.offset).ok()?;
        let end = start.checked_add(usize::try_from(self.file_size).ok()?)?;
        Some(start..end)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct SectionHeader {
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entry_size: u64,
}

impl SectionHeader {
    fn read(bytes: &[u8]) -> Self {
        let mut fields = Fields::new(bytes);
        SectionHeader {
            name: fields.u32(),
            kind: fields.u32(),
            flags: fields.u64(),
            addr: fields.u64(),
            offset: fields.u64(),
            size: fields.u64(),
            link: fields.u32(),
            info: fields.u32(),
            align: fields.u64(),
            entry_size: fields.u64(),
        }
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(SECTION_HEADER_LEN);
        bytes.extend_from_slice(&self.name.to_le_bytes());
        bytes.extend_from_slice(&self.kind.to_le_bytes());
        for value in [self.flags, self.addr, self.offset, self.size] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.extend_from_slice(&self.link.to_le_bytes());
        bytes.extend_from_slice(&self.info.to_le_bytes());
        bytes.extend_from_slice(&self.align.to_le_bytes());
        bytes.extend_from_slice(&self.entry_size.to_le_bytes());
        bytes
    }
}

/// The headers of a validated ELF64 little-endian x86_64/aarch64 executable.
struct Elf<'a> {
    image: &'a [u8],
    header: FileHeader,
    program_headers: Vec<ProgramHeader>,
    section_headers: Vec<SectionHeader>,
}

impl<'a> Elf<'a> {
    fn parse(image: &'a [u8]) -> Result<Self> {
        let header_bytes = image.first_chunk::<FILE_HEADER_LEN>().with_context(|| {
            format!(
                "not an ELF executable: the file is {} bytes, shorter than an ELF64 header \
                 ({FILE_HEADER_LEN} bytes)",
                image.len()
            )
        })?;
        let header = FileHeader::read(header_bytes);
        let ident = header.ident;
        if ident[..4] != ELFMAG {
            bail!(
                "not an ELF file (it starts with {:02x?}, ELF starts with 7f 45 4c 46): use a \
                 Linux node binary",
                &ident[..4]
            );
        }
        if ident[4] != ELFCLASS64 {
            bail!(
                "32-bit ELF files (class {}) are not supported: sea-build injects into 64-bit \
                 x86_64, aarch64 or ppc64le Linux nodes",
                ident[4]
            );
        }
        if ident[5] != ELFDATA2LSB {
            bail!(
                "big-endian ELF files (data encoding {}) are not supported: use an x86_64, \
                 aarch64 or ppc64le Linux node",
                ident[5]
            );
        }
        if ![EM_X86_64, EM_AARCH64, EM_PPC64].contains(&header.machine) {
            bail!(
                "ELF machine {} is not supported (only x86_64 = {EM_X86_64}, aarch64 = \
                 {EM_AARCH64} and little-endian ppc64 = {EM_PPC64}): use a linux-x64, linux-arm64 \
                 or linux-ppc64le node",
                header.machine
            );
        }
        if header.kind != ET_EXEC && header.kind != ET_DYN {
            bail!(
                "ELF type {} is not an executable (expected ET_EXEC {ET_EXEC} or ET_DYN \
                 {ET_DYN}): use the node executable itself",
                header.kind
            );
        }

        if header.program_header_count == PN_XNUM {
            bail!("extended program header numbering (e_phnum = {PN_XNUM:#x}) is not supported");
        }
        if header.program_header_count == 0 {
            bail!("the ELF file has no program headers: not an executable");
        }
        if usize::from(header.program_header_size) != PROGRAM_HEADER_LEN {
            bail!("e_phentsize is {}, expected {PROGRAM_HEADER_LEN} for ELF64: the header is damaged", header.program_header_size);
        }
        let program_table = table(image, header.program_headers_offset, header.program_header_count, PROGRAM_HEADER_LEN).with_context(|| {
            format!(
                "the program header table ({} entries at offset {:#x}) lies past the end of the \
                 file ({} bytes): the binary is truncated",
                header.program_header_count,
                header.program_headers_offset,
                image.len()
            )
        })?;
        let program_headers = program_table.chunks_exact(PROGRAM_HEADER_LEN).map(ProgramHeader::read).collect();

        let section_headers = if header.section_headers_offset == 0 {
            Vec::new()
        } else {
            if header.section_header_count == 0 {
                bail!("extended section numbering (e_shnum = 0 with e_shoff {:#x}) is not supported", header.section_headers_offset);
            }
            if usize::from(header.section_header_size) != SECTION_HEADER_LEN {
                bail!(
                    "e_shentsize is {}, expected {SECTION_HEADER_LEN} for ELF64: the header is \
                     damaged",
                    header.section_header_size
                );
            }
            if header.section_names_index == SHN_XINDEX {
                bail!("extended section numbering (e_shstrndx = SHN_XINDEX) is not supported");
            }
            let section_table = table(image, header.section_headers_offset, header.section_header_count, SECTION_HEADER_LEN).with_context(|| {
                format!(
                    "the section header table ({} entries at offset {:#x}) lies past the end of \
                     the file ({} bytes): the binary is truncated",
                    header.section_header_count,
                    header.section_headers_offset,
                    image.len()
                )
            })?;
            section_table.chunks_exact(SECTION_HEADER_LEN).map(SectionHeader::read).collect()
        };

        Ok(Elf { image, header, program_headers, section_headers })
    }

    /// True when a PT_LOAD maps the segment's file bytes at the segment's addresses.
    fn is_mapped(&self, segment: &ProgramHeader) -> bool {
        let Some(end) = segment.offset.checked_add(segment.file_size) else {
            return false;
        };
        self.program_headers.iter().any(|load| {
            load.kind == PT_LOAD
                && load.offset <= segment.offset
                && load.offset.checked_add(load.file_size).is_some_and(|load_end| end <= load_end)
                && load.vaddr.wrapping_sub(load.offset) == segment.vaddr.wrapping_sub(segment.offset)
        })
    }

    /// Index of the section name table, when there is a usable one.
    fn section_names_index(&self) -> Option<usize> {
        let index = usize::from(self.header.section_names_index);
        let names = self.section_headers.get(index)?;
        (index != 0 && names.kind == SHT_STRTAB).then_some(index)
    }

    fn section_data(&self, index: usize) -> Result<&'a [u8]> {
        let section = self.section_headers.get(index).with_context(|| format!("no section {index}"))?;
        usize::try_from(section.offset).ok().zip(usize::try_from(section.size).ok()).and_then(|(start, len)| self.image.get(start..start.checked_add(len)?)).with_context(|| {
            format!(
                "section {index} ({:#x} bytes at offset {:#x}) lies past the end of the file \
                     ({} bytes): the binary is truncated",
                section.size,
                section.offset,
                self.image.len()
            )
        })
    }

    fn section_named(&self, wanted: &str) -> Option<&SectionHeader> {
        let names = self.section_data(self.section_names_index()?).ok()?;
        self.section_headers
            .iter()
            .find(|section| usize::try_from(section.name).ok().and_then(|start| names.get(start..)).and_then(|rest| rest.split(|&byte| byte == 0).next()) == Some(wanted.as_bytes()))
    }
}

/// The bytes of a table of `count` entries of `entry_len` bytes at `offset`, if in the file.
fn table(image: &[u8], offset: u64, count: u16, entry_len: usize) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let len = usize::from(count).checked_mul(entry_len)?;
    image.get(start..start.checked_add(len)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::fuse::FUSE_SENTINEL;
    use object::elf::{SHT_NOBITS, SHT_PROGBITS};
    use object::read::elf::{ElfFile64, FileHeader as _, ProgramHeader as _};
    use object::{LittleEndian, Object, ObjectSection};

    #[derive(Clone, Copy)]
    struct Options {
        machine: u16,
        kind: u16,
        with_phdr: bool,
        with_note: bool,
        with_sections: bool,
        fuse_state: Option<u8>,
    }

    const DEFAULT: Options = Options { machine: EM_X86_64, kind: ET_EXEC, with_phdr: true, with_note: true, with_sections: true, fuse_state: Some(b'0') };

    const RODATA_OFFSET: usize = 0x200;
    const DATA_OFFSET: usize = 0x1000;

    /// A small ELF64 executable: PT_PHDR, a read-only PT_LOAD (headers, a GNU note and a
    /// "rodata" holding the fuse), a read-write PT_LOAD with bss, and sections for all.
    fn synthetic_elf(options: Options) -> Vec<u8> {
        let base: u64 = if options.kind == ET_EXEC { 0x400000 } else { 0 };
        let data_vaddr = base + 0x10000 + DATA_OFFSET as u64;
        let mut segments = Vec::new();
        let phdr_count = 2 + usize::from(options.with_phdr) + usize::from(options.with_note);
        let phdrs_len = (phdr_count * PROGRAM_HEADER_LEN) as u64;
        let note_offset = (FILE_HEADER_LEN as u64 + phdrs_len).next_multiple_of(4);
        let note: Vec<u8> = [&4u32.to_le_bytes()[..], &8u32.to_le_bytes(), &3u32.to_le_bytes()].concat().into_iter().chain(*b"GNU\0").chain([1, 2, 3, 4, 5, 6, 7, 8]).collect();
        if options.with_phdr {
            segments.push(ProgramHeader { kind: PT_PHDR, flags: PF_R, offset: 64, vaddr: base + 64, paddr: base + 64, file_size: phdrs_len, mem_size: phdrs_len, align: 8 });
        }
        let page = page_size(options.machine);
        segments.push(ProgramHeader { kind: PT_LOAD, flags: PF_R, offset: 0, vaddr: base, paddr: base, file_size: 0x300, mem_size: 0x300, align: page });
        segments.push(ProgramHeader { kind: PT_LOAD, flags: PF_R | 2, offset: DATA_OFFSET as u64, vaddr: data_vaddr, paddr: data_vaddr, file_size: 0x20, mem_size: 0x3000, align: page });
        if options.with_note {
            segments.push(ProgramHeader {
                kind: PT_NOTE,
                flags: PF_R,
                offset: note_offset,
                vaddr: base + note_offset,
                paddr: base + note_offset,
                file_size: note.len() as u64,
                mem_size: note.len() as u64,
                align: 4,
            });
        }

        let mut image = vec![0u8; DATA_OFFSET + 0x20];
        let mut rodata = b"hello\0".to_vec();
        if let Some(state) = options.fuse_state {
            rodata.extend_from_slice(FUSE_SENTINEL.as_bytes());
            rodata.extend_from_slice(&[b':', state, 0]);
        }
        image[RODATA_OFFSET..RODATA_OFFSET + rodata.len()].copy_from_slice(&rodata);
        image[note_offset as usize..note_offset as usize + note.len()].copy_from_slice(&note);
        image[DATA_OFFSET..].copy_from_slice(&[0x5a; 0x20]);
        image.extend_from_slice(b"synthetic\0");
        let comment_offset = DATA_OFFSET + 0x20;

        let mut names = vec![0u8];
        let mut name = |text: &str| {
            let at = names.len() as u32;
            names.extend_from_slice(text.as_bytes());
            names.push(0);
            at
        };
        let mut sections = vec![SectionHeader::default()];
        if options.with_note {
            sections.push(SectionHeader {
                name: name(".note.gnu.build-id"),
                kind: SHT_NOTE,
                flags: u64::from(SHF_ALLOC),
                addr: base + note_offset,
                offset: note_offset,
                size: note.len() as u64,
                align: 4,
                ..SectionHeader::default()
            });
        }
        sections.push(SectionHeader {
            name: name(".rodata"),
            kind: SHT_PROGBITS,
            flags: u64::from(SHF_ALLOC),
            addr: base + RODATA_OFFSET as u64,
            offset: RODATA_OFFSET as u64,
            size: rodata.len() as u64,
            align: 1,
            ..SectionHeader::default()
        });
        sections.push(SectionHeader {
            name: name(".data"),
            kind: SHT_PROGBITS,
            flags: u64::from(SHF_ALLOC) | 1,
            addr: data_vaddr,
            offset: DATA_OFFSET as u64,
            size: 0x20,
            align: 8,
            ..SectionHeader::default()
        });
        sections.push(SectionHeader {
            name: name(".bss"),
            kind: SHT_NOBITS,
            flags: u64::from(SHF_ALLOC) | 1,
            addr: data_vaddr + 0x20,
            offset: DATA_OFFSET as u64 + 0x20,
            size: 0x3000 - 0x20,
            align: 8,
            ..SectionHeader::default()
        });
        sections.push(SectionHeader { name: name(".comment"), kind: SHT_PROGBITS, offset: comment_offset as u64, size: 10, align: 1, ..SectionHeader::default() });
        let names_name = name(".shstrtab");
        let names_offset = image.len();
        sections.push(SectionHeader { name: names_name, kind: SHT_STRTAB, offset: names_offset as u64, size: names.len() as u64, align: 1, ..SectionHeader::default() });
        image.extend_from_slice(&names);
        image.resize(image.len().next_multiple_of(8), 0);
        let section_headers_offset = image.len();
        if options.with_sections {
            for section in &sections {
                image.extend(section.to_bytes());
            }
        }

        let header = FileHeader {
            ident: [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            kind: options.kind,
            machine: options.machine,
            version: 1,
            entry: base + RODATA_OFFSET as u64,
            program_headers_offset: 64,
            section_headers_offset: if options.with_sections { section_headers_offset as u64 } else { 0 },
            flags: 0,
            header_size: 64,
            program_header_size: 56,
            program_header_count: segments.len() as u16,
            section_header_size: if options.with_sections { 64 } else { 0 },
            section_header_count: if options.with_sections { sections.len() as u16 } else { 0 },
            section_names_index: if options.with_sections { sections.len() as u16 - 1 } else { 0 },
        };
        image[..64].copy_from_slice(&header.to_bytes());
        let table: Vec<u8> = segments.iter().flat_map(|header| header.to_bytes()).collect();
        image[64..64 + table.len()].copy_from_slice(&table);
        image
    }

    fn fuse_offset(image: &[u8]) -> usize {
        fuse::find_fuse(image).unwrap().offset()
    }

    /// Checks everything an injected image must satisfy, using the `object` crate's parser.
    fn check_injected(image: &[u8], out: &[u8], blob: &[u8], options: Options) {
        let page = page_size(options.machine);
        assert_eq!(find_blob(out).unwrap(), Some(blob));
        assert!(fuse::find_fuse(&out[..image.len()]).unwrap().is_set());

        // The original bytes survive, except the ELF header and the fuse byte.
        let fuse_at = fuse_offset(image);
        for (at, (old, new)) in image.iter().zip(out).enumerate() {
            if at >= 64 && at != fuse_at {
                assert_eq!(old, new, "byte {at:#x} changed");
            }
        }

        let file = ElfFile64::<LittleEndian>::parse(out).expect("object parses the output");
        let endian = LittleEndian;
        let header = file.elf_header();
        let segments = file.elf_program_headers();
        // Every old program header survives unchanged, in order; only PT_PHDR moves.
        let old_headers = Elf::parse(image).unwrap().program_headers;
        let new_headers = Elf::parse(out).unwrap().program_headers;
        assert_eq!(new_headers.len(), old_headers.len() + 2);
        let mut kept = new_headers.iter().filter(|p| p.offset < image.len() as u64 || p.kind == PT_PHDR);
        for old in old_headers.iter().filter(|p| p.kind != PT_PHDR) {
            assert_eq!(kept.find(|p| p.kind != PT_PHDR), Some(old));
        }
        let loads: Vec<_> = segments.iter().filter(|p| p.p_type(endian) == PT_LOAD).collect();
        for pair in loads.windows(2) {
            let end = pair[0].p_vaddr(endian) + pair[0].p_memsz(endian);
            assert!(end.next_multiple_of(page) <= pair[1].p_vaddr(endian), "PT_LOADs ascend, own pages");
        }
        let new_load = loads.last().unwrap();
        let below = loads[loads.len() - 2];
        let below_end = below.p_vaddr(endian) + below.p_memsz(endian);
        assert!(below_end.next_multiple_of(page) + page <= new_load.p_vaddr(endian), "a free page");
        let phoff = header.e_phoff(endian);
        assert_eq!(new_load.p_offset(endian), phoff);
        assert_eq!(new_load.p_offset(endian) % page, 0);
        assert_eq!(new_load.p_vaddr(endian) % page, 0);
        assert_eq!(new_load.p_align(endian), page);
        assert_eq!(new_load.p_flags(endian), PF_R);
        assert!(phoff >= image.len() as u64);
        let first = loads[0];
        assert_eq!(new_load.p_vaddr(endian) - new_load.p_offset(endian), first.p_vaddr(endian) - first.p_offset(endian), "old kernels: AT_PHDR = first load bias + e_phoff");
        let phdr: Vec<_> = segments.iter().filter(|p| p.p_type(endian) == PT_PHDR).collect();
        if options.with_phdr {
            assert_eq!(segments[0].p_type(endian), PT_PHDR, "PT_PHDR stays first");
            assert_eq!(phdr[0].p_offset(endian), phoff);
            assert_eq!(phdr[0].p_vaddr(endian), new_load.p_vaddr(endian));
            assert_eq!(phdr[0].p_filesz(endian), (segments.len() * 56) as u64);
            assert_eq!(phdr[0].p_align(endian), page, "for llvm-strip");
        } else {
            assert!(phdr.is_empty());
        }
        let note = segments.iter().rfind(|p| p.p_type(endian) == PT_NOTE).unwrap();
        assert_eq!(note.p_align(endian), 4);
        assert_eq!(note.p_offset(endian), phoff + (segments.len() * 56) as u64);
        assert_eq!(note.p_offset(endian) + note.p_filesz(endian), new_load.p_offset(endian) + new_load.p_filesz(endian));
        let mut parsed = note.notes(endian, out).unwrap().unwrap();
        let first_note = parsed.next().unwrap().unwrap();
        assert_eq!(first_note.name(), NODE_SEA_BLOB.as_bytes());
        assert_eq!(first_note.desc(), blob);
        assert_eq!(first_note.n_type(endian), 0);
        assert!(parsed.next().unwrap().is_none());

        let note_section = file.section_by_name(NOTE_SECTION_NAME).unwrap();
        assert_eq!(note_section.address(), note.p_vaddr(endian));
        assert_eq!(note_section.file_range(), Some((note.p_offset(endian), note.p_filesz(endian))));
        assert_eq!(note_section.flags(), object::SectionFlags::Elf { sh_flags: u64::from(SHF_ALLOC) });
        if options.with_sections {
            for name in [".rodata", ".data", ".comment", ".shstrtab"] {
                let old = ElfFile64::<LittleEndian>::parse(image).unwrap();
                let before = old.section_by_name(name).unwrap();
                let after = file.section_by_name(name).unwrap();
                assert_eq!(before.index(), after.index(), "{name} keeps its index");
                // .rodata holds the fuse, compared byte by byte above.
                if name != ".shstrtab" && name != ".rodata" {
                    assert_eq!(before.data().unwrap(), after.data().unwrap(), "{name}");
                }
            }
        }
        // `object` does not list the null section.
        assert_eq!(header.e_shnum(endian) as usize, file.sections().count() + 1);
    }

    fn injected(image: &[u8], blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let summary = inject(image, blob, &mut out).unwrap();
        assert_eq!(summary.output_len, out.len() as u64);
        let blob_at = summary.blob_offset as usize;
        assert_eq!(&out[blob_at..blob_at + blob.len()], blob);
        out
    }

    #[test]
    fn injects_into_every_variant() {
        let variants = [
            DEFAULT,
            Options { kind: ET_DYN, ..DEFAULT },
            Options { machine: EM_AARCH64, ..DEFAULT },
            Options { machine: EM_AARCH64, kind: ET_DYN, ..DEFAULT },
            Options { machine: EM_PPC64, kind: ET_DYN, ..DEFAULT },
            Options { with_phdr: false, ..DEFAULT },
            Options { with_note: false, ..DEFAULT },
            Options { with_note: false, with_phdr: false, kind: ET_DYN, ..DEFAULT },
        ];
        for options in variants {
            let image = synthetic_elf(options);
            for blob_len in [1, 2, 3, 4, 5, 8, 1000] {
                let blob: Vec<u8> = (0..blob_len).map(|i| i as u8 ^ 0xa5).collect();
                let out = injected(&image, &blob);
                check_injected(&image, &out, &blob, options);
            }
        }
    }

    #[test]
    fn stripping_an_image_without_symbol_tables_changes_nothing() {
        for options in [DEFAULT, Options { with_sections: false, ..DEFAULT }, Options { kind: ET_DYN, machine: EM_AARCH64, ..DEFAULT }] {
            let image = synthetic_elf(options);
            let mut stripped = Vec::new();
            let summary = inject_with(&image, b"blob", &mut stripped, super::Options { strip: true }).unwrap();
            assert_eq!(summary.stripped_len, 0);
            assert_eq!(stripped, injected(&image, b"blob"));
        }
    }

    #[test]
    fn injects_without_section_headers() {
        let options = Options { with_sections: false, ..DEFAULT };
        let image = synthetic_elf(options);
        let out = injected(&image, b"blob");
        assert_eq!(find_blob(&out).unwrap(), Some(&b"blob"[..]));
        let file = ElfFile64::<LittleEndian>::parse(&out[..]).unwrap();
        let names: Vec<_> = file.sections().map(|s| s.name().unwrap().to_owned()).collect();
        // `object` skips the null section.
        assert_eq!(names, [NOTE_SECTION_NAME, ".shstrtab"]);
    }

    #[test]
    fn writes_the_section_header_size_when_the_input_has_no_sections() {
        // Found by fuzzing (inject_elf): an image without section headers (e_shoff 0) but a
        // junk e_shentsize was injected with that e_shentsize, so the output did not parse.
        let mut image = synthetic_elf(Options { with_sections: false, ..DEFAULT });
        assert_eq!(u64::from_le_bytes(image[0x28..0x30].try_into().unwrap()), 0);
        image[0x3a..0x3c].copy_from_slice(&0x4500u16.to_le_bytes());
        let out = injected(&image, b"blob");
        assert_eq!(u16::from_le_bytes([out[0x3a], out[0x3b]]), SECTION_HEADER_LEN as u16);
        assert_eq!(find_blob(&out).unwrap(), Some(&b"blob"[..]));
    }

    #[test]
    fn new_segment_keeps_the_first_load_bias_and_skips_bss() {
        let image = synthetic_elf(DEFAULT);
        let mut out = Vec::new();
        let summary = inject(&image, b"x", &mut out).unwrap();
        // The file is far shorter than the address range, so it is padded.
        // bss ends at 0x414000, plus the free page for GNU strip.
        assert_eq!(summary.segment_vaddr, 0x415000);
        assert_eq!(summary.segment_offset, 0x15000);
        assert!(out[image.len()..0x15000].iter().all(|&b| b == 0));
    }

    #[test]
    fn refuses_already_injected_images() {
        let image = synthetic_elf(DEFAULT);
        let out = injected(&image, b"blob");
        let error = inject(&out, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("already carries a SEA blob"), "{error}");

        // A fuse set by hand, without a blob.
        let set = synthetic_elf(Options { fuse_state: Some(b'1'), ..DEFAULT });
        let error = inject(&set, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("already"), "{error}");

        // A blob note with the fuse reset (e.g. by a confused tool) is still refused.
        let mut reset = out.clone();
        reset[fuse_offset(&image)] = b'0';
        let mut unnamed = reset.clone();
        let error = inject(&reset, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains(NOTE_SECTION_NAME), "{error}");
        // Without the section (renamed), the note itself gives it away.
        let names_start = out.windows(NOTE_SECTION_NAME.len()).rposition(|w| w == NOTE_SECTION_NAME.as_bytes()).unwrap();
        unnamed[names_start + 1] = b'X';
        let error = inject(&unnamed, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("NODE_SEA_BLOB note"), "{error}");
    }

    #[test]
    fn refuses_what_it_cannot_handle() {
        let image = synthetic_elf(DEFAULT);
        let refuse = |bytes: &[u8], expected: &str| {
            let error = inject(bytes, b"blob", &mut Vec::new()).unwrap_err().to_string();
            assert!(error.contains(expected), "expected {expected:?} in {error:?}");
        };
        refuse(b"MZ not an elf file, but long enough to hold an ELF header, really it is....", "not an ELF file");
        refuse(b"\x7fELF", "shorter than an ELF64 header");
        let mut bits32 = image.clone();
        bits32[4] = 1;
        refuse(&bits32, "32-bit");
        let mut big = image.clone();
        big[5] = 2;
        refuse(&big, "big-endian");
        let mut arm32 = image.clone();
        arm32[18] = 40;
        refuse(&arm32, "machine 40");
        let mut relocatable = image.clone();
        relocatable[16] = 1;
        refuse(&relocatable, "not an executable");
        refuse(&synthetic_elf(Options { fuse_state: None, ..DEFAULT }), "not a node binary");
        assert!(inject(&image, b"", &mut Vec::new()).unwrap_err().to_string().contains("empty"));
        let mut no_phdrs = image.clone();
        no_phdrs[56] = 0;
        refuse(&no_phdrs, "no program headers");
        let mut bad_phoff = image.clone();
        bad_phoff[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        refuse(&bad_phoff, "past the end");
    }

    #[test]
    fn output_is_unchanged_when_refused() {
        let image = synthetic_elf(Options { fuse_state: Some(b'1'), ..DEFAULT });
        let mut out = Vec::new();
        assert!(inject(&image, b"blob", &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn truncated_images_are_errors_not_panics() {
        let image = synthetic_elf(DEFAULT);
        for len in 0..image.len() {
            assert!(inject(&image[..len], b"blob", &mut Vec::new()).is_err(), "length {len}");
            let _ = find_blob(&image[..len]);
        }
        let out = injected(&image, b"the blob");
        for len in 0..out.len() {
            // Either an error or some answer; never a panic.
            let _ = find_blob(&out[..len]);
            let _ = inject(&out[..len], b"x", &mut Vec::new());
        }
    }

    #[test]
    fn corrupted_headers_never_panic() {
        let image = synthetic_elf(DEFAULT);
        let out = injected(&image, b"blob!");
        // Deterministic pseudo-random byte changes in and around the headers and tables.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let phoff = Elf::parse(&out).unwrap().header.program_headers_offset as usize;
        for _ in 0..4000 {
            let mut corrupted = out.clone();
            for _ in 0..1 + next() % 4 {
                let region = if next() % 2 == 0 { 0..64 + 5 * 56 } else { phoff..out.len() };
                let at = region.start + (next() as usize) % region.len();
                corrupted[at] = next() as u8;
            }
            let _ = find_blob(&corrupted);
            let _ = inject(&corrupted, b"x", &mut Vec::new());
            let mut original = image.clone();
            let at = (next() as usize) % original.len();
            original[at] = next() as u8;
            let _ = inject(&original, b"x", &mut Vec::new());
        }
    }

    #[test]
    fn find_blob_respects_note_alignment_and_mapping() {
        let image = synthetic_elf(DEFAULT);
        assert_eq!(find_blob(&image).unwrap(), None);
        let out = injected(&image, b"abcde");
        let elf = Elf::parse(&out).unwrap();
        let note_index = elf.program_headers.iter().rposition(|p| p.kind == PT_NOTE).unwrap();
        let at = elf.header.program_headers_offset as usize + note_index * PROGRAM_HEADER_LEN;

        // Moved out of every PT_LOAD's address range: node cannot see it.
        let mut unmapped = out.clone();
        unmapped[at + 16..at + 24].copy_from_slice(&0x7000_0000u64.to_le_bytes());
        assert_eq!(find_blob(&unmapped).unwrap(), None);

        // With p_align 8 the descriptor would start at 32 rather than 28 bytes in.
        let mut aligned8 = out.clone();
        aligned8[at + 48..at + 56].copy_from_slice(&8u64.to_le_bytes());
        // ...which then overruns the segment: damaged, not silently wrong.
        let error = find_blob(&aligned8).unwrap_err().to_string();
        assert!(error.contains("more than its PT_NOTE holds"), "{error}");
    }
}
