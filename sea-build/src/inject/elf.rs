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
//!
//! The headers are read and written as `object`'s Pod types, through [`crate::elf`].

use std::io::Write;
use std::mem::size_of;
use std::ops::Range;

use crate::elf::{self, Elf64, FileHeader as _, ProgramHeader as _, align_up};
use crate::error::fail;
use anyhow::{Context, Result, bail, ensure};
use object::elf::{
    ELFCLASS64, ELFDATA2LSB, EM_AARCH64, EM_PPC64, EM_X86_64, ET_DYN, ET_EXEC, FileHeader64, NoteHeader32, PF_R, PN_XNUM, PT_LOAD, PT_NOTE, PT_PHDR, ProgramHeader64, SHF_ALLOC, SHN_LORESERVE,
    SHT_NOTE, SHT_STRTAB, SectionHeader64,
};
use object::{Endianness, U32, U64};

use super::{NODE_SEA_BLOB, Piece, Splice, elf_strip, fuse};

/// Name of the allocated `SHT_NOTE` section covering the blob's note.
pub const NOTE_SECTION_NAME: &str = ".note.node.sea";

type Header = FileHeader64<Endianness>;
type Segment = ProgramHeader64<Endianness>;
type Section = SectionHeader64<Endianness>;

const FILE_HEADER_LEN: usize = size_of::<Header>();
const PROGRAM_HEADER_LEN: usize = size_of::<Segment>();
const SECTION_HEADER_LEN: usize = size_of::<Section>();
const NOTE_HEADER_LEN: usize = size_of::<NoteHeader32<Endianness>>();
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
    parse(image)?;
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
    parse(image)?;
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
    let elf = parse(image)?;
    find_blob_in(&elf)
}

/// The node binaries [`inject`] takes: ELF64 little-endian executables for x86_64, aarch64 or
/// ppc64le, parsed. Checks the ident, machine and type before the tables, so the message
/// says what the file is rather than what is wrong with its tables.
fn parse(image: &[u8]) -> Result<Elf64<'_>> {
    let header = elf::file_header::<Header>(image)?;
    let ident = header.e_ident();
    if ident.class != ELFCLASS64 {
        bail!("32-bit ELF files (class {}) are not supported: sea-build injects into 64-bit x86_64, aarch64 or ppc64le Linux nodes", ident.class);
    }
    if ident.data != ELFDATA2LSB {
        bail!("big-endian ELF files (data encoding {}) are not supported: use an x86_64, aarch64 or ppc64le Linux node", ident.data);
    }
    let e = Endianness::Little;
    let machine = header.e_machine(e);
    if ![EM_X86_64, EM_AARCH64, EM_PPC64].contains(&machine) {
        bail!("ELF machine {machine} is not supported (only x86_64 = {EM_X86_64}, aarch64 = {EM_AARCH64} and little-endian ppc64 = {EM_PPC64}): use a linux-x64, linux-arm64 or linux-ppc64le node");
    }
    let kind = header.e_type(e);
    if kind != ET_EXEC && kind != ET_DYN {
        bail!("ELF type {kind} is not an executable (expected ET_EXEC {ET_EXEC} or ET_DYN {ET_DYN}): use the node executable itself");
    }
    if header.e_phnum(e) == 0 {
        bail!("the ELF file has no program headers: not an executable");
    }
    Elf64::parse(image)
}

/// The note name node matches: `NODE_SEA_BLOB` and its terminating NUL.
fn note_name() -> Vec<u8> {
    let mut name = NODE_SEA_BLOB.as_bytes().to_vec();
    name.push(0);
    name
}

fn find_blob_in<'a>(elf: &Elf64<'a>) -> Result<Option<&'a [u8]>> {
    let wanted_name = note_name();
    let e = elf.endian();
    for segment in elf.segments().iter().filter(|p| p.p_type(e) == PT_NOTE && elf.is_mapped(p)) {
        let notes = elf.notes(segment).with_context(|| {
            format!("PT_NOTE at offset {:#x} ({:#x} bytes) lies past the end of the file ({} bytes): the binary is truncated", segment.p_offset(e), segment.p_filesz(e), elf.data().len())
        })?;
        for note in notes {
            if note.name == Some(wanted_name.as_slice()) && note.desc_len != 0 {
                let desc = note.desc.with_context(|| {
                    format!(
                        "the {NODE_SEA_BLOB} note at offset {:#x} announces {} bytes, more than its PT_NOTE holds: the binary is damaged",
                        segment.p_offset(e) + note.position as u64,
                        note.desc_len
                    )
                })?;
                return Ok(Some(desc));
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
    kept_after_fuse: Vec<Range<u64>>,
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

fn overflow() -> anyhow::Error {
    anyhow::anyhow!("the new segment would lie beyond the 64-bit address space")
}

fn plan_injection(image: &[u8], blob_len: usize, fuse_offset: usize, strip: Option<&elf_strip::StripPlan>) -> Result<Plan> {
    let elf = parse(image)?;
    // Stripping: the base bytes kept, and the length they add up to.
    let no_strip = elf_strip::StripPlan::default();
    let strip_plan = strip.unwrap_or(&no_strip);
    ensure!(strip_plan.skipped().first().is_none_or(|first| first.start > fuse_offset as u64), "internal error: stripping would leave out bytes before the fuse at {fuse_offset:#x}");
    let kept_len = image.len() as u64 - strip_plan.skipped_len();
    refuse_injected(&elf)?;
    ensure!(fuse_offset >= FILE_HEADER_LEN, "the fuse lies inside the ELF header (offset {fuse_offset:#x}): not a node binary");
    let note = NoteLayout::new(blob_len)?;
    let segment = place_segment(&elf, kept_len)?;
    let layout = Layout::new(&elf, segment, &note)?;
    let program_headers = program_headers(&elf, &layout);
    let (section_names, section_headers) = section_tables(&elf, strip, &layout)?;

    let names_end = layout.names_offset + section_names.len() as u64;
    let section_headers_offset = align_up(names_end, 8).ok_or_else(overflow)?;
    let section_headers_bytes = object::pod::bytes_of_slice(&section_headers.headers).to_vec();
    let output_len = section_headers_offset + section_headers_bytes.len() as u64;
    let file_header = file_header(&elf, &layout, program_headers.len(), section_headers_offset, &section_headers);
    let summary = InjectionSummary { segment_offset: segment.offset, segment_vaddr: segment.vaddr, blob_offset: layout.blob_offset(&note), output_len, stripped_len: strip_plan.skipped_len() };
    Ok(Plan {
        file_header: object::pod::bytes_of(&file_header).to_vec(),
        fuse_offset,
        padding: segment.padding,
        program_headers: object::pod::bytes_of_slice(&program_headers).to_vec(),
        note_head: note.head(elf.endian()),
        // Up to the table, which is 8-aligned.
        note_padding: note.desc_len_padded - blob_len,
        kept_after_fuse: strip_plan.kept_ranges(fuse_offset as u64 + 1..image.len() as u64).collect(),
        section_names,
        section_headers_padding: (section_headers_offset - names_end) as usize,
        section_headers: section_headers_bytes,
        summary,
    })
}

/// Refuses an image that carries a blob already, by its section or by its note (a fuse
/// reset by some tool must not let a second blob in).
fn refuse_injected(elf: &Elf64<'_>) -> Result<()> {
    if elf.section_named(NOTE_SECTION_NAME).is_some() {
        fail!(AlreadyInjected, "the binary already carries a SEA blob (it has a {NOTE_SECTION_NAME} section): inject into a fresh node binary");
    }
    if find_blob_in(elf)?.is_some() {
        fail!(AlreadyInjected, "the binary already carries a SEA blob (a {NODE_SEA_BLOB} note): inject into a fresh node binary");
    }
    Ok(())
}

/// The note holding the blob: its header and name, then the blob padded to 4 bytes.
struct NoteLayout {
    /// `n_descsz`: the blob's length.
    desc_len: u32,
    /// Header and name, padded to 4 bytes: what comes before the blob.
    head_len: usize,
    desc_len_padded: usize,
}

impl NoteLayout {
    fn new(blob_len: usize) -> Result<Self> {
        ensure!(blob_len != 0, "the blob is empty: node ignores empty notes; generate the blob with `node --experimental-sea-config`");
        let desc_len =
            u32::try_from(blob_len).map_err(|_| anyhow::anyhow!("the blob is {blob_len} bytes, but an ELF note holds at most {} bytes: make the application or its assets smaller", u32::MAX))?;
        let name_len_padded = note_name().len().next_multiple_of(4);
        let desc_len_padded = blob_len.checked_next_multiple_of(4).ok_or_else(overflow)?;
        Ok(NoteLayout { desc_len, head_len: NOTE_HEADER_LEN + name_len_padded, desc_len_padded })
    }

    fn len(&self) -> u64 {
        self.head_len as u64 + self.desc_len_padded as u64
    }

    /// The note's header and name, in the image's byte order.
    fn head(&self, e: Endianness) -> Vec<u8> {
        let name = note_name();
        let header = NoteHeader32 { n_namesz: U32::new(e, name.len() as u32), n_descsz: U32::new(e, self.desc_len), n_type: U32::new(e, 0) };
        let mut head = [object::pod::bytes_of(&header), &name].concat();
        head.resize(self.head_len, 0);
        head
    }
}

/// Where the new segment starts, in the file and in memory.
#[derive(Clone, Copy)]
struct SegmentPlace {
    offset: u64,
    vaddr: u64,
    /// Zeros between the (kept) end of the image and `offset`.
    padding: u64,
    page: u64,
}

/// Places the new segment above every existing one, in pages of its own, after the `kept_len`
/// bytes of the image the output keeps (see the module docs).
fn place_segment(elf: &Elf64<'_>, kept_len: u64) -> Result<SegmentPlace> {
    let e = elf.endian();
    let page = page_size(elf.header().e_machine(e));
    let mut loads = elf.segments().iter().filter(|p| p.p_type(e) == PT_LOAD);
    let first_load = loads.clone().next().context("the ELF file has no PT_LOAD segment: not an executable node binary")?;
    let highest_end = loads.try_fold(0u64, |highest, load| {
        let (vaddr, size) = (load.p_vaddr(e), load.p_memsz(e));
        let end = vaddr.checked_add(size).with_context(|| format!("PT_LOAD at {vaddr:#x} with size {size:#x} overflows the address space: the binary is damaged"))?;
        anyhow::Ok(highest.max(end))
    })?;
    let end_of_file = align_up(kept_len, page).ok_or_else(overflow)?;
    // One page of address space stays free above the existing segments: GNU strip moves
    // our segment's start up to a page lower (it packs the file and keeps the note's
    // address), which must not reach into the page of the last segment (often bss).
    let above_all = align_up(highest_end, page).and_then(|end| end.checked_add(page)).ok_or_else(overflow)?;
    let (offset, vaddr) = match first_load.p_vaddr(e).checked_sub(first_load.p_offset(e)) {
        // Keep the first PT_LOAD's vaddr - offset (old kernels' AT_PHDR), padding the file
        // when the address right after the file would collide with existing segments.
        Some(bias) if bias % page == 0 => {
            let offset = end_of_file.max(above_all.saturating_sub(bias));
            (offset, bias.checked_add(offset).ok_or_else(overflow)?)
        }
        // Unusual layouts cannot satisfy old kernels; stay page-congruent at least.
        _ => (end_of_file, above_all),
    };
    let padding = offset - kept_len;
    ensure!(
        padding <= MAX_PADDING,
        "the new segment would start at offset {offset:#x} (address {vaddr:#x}, above the highest segment end {highest_end:#x}), {padding} bytes after the end of the file, more than the \
         {MAX_PADDING}-byte limit: the program headers look damaged; use an unmodified node binary"
    );
    Ok(SegmentPlace { offset, vaddr, padding, page })
}

/// The new segment's contents: the program header table (which starts it, see the module
/// docs), then the note, 8-aligned because the table's size is a multiple of 8; the copied
/// section names follow the segment.
struct Layout {
    segment: SegmentPlace,
    program_header_count: usize,
    table_len: u64,
    note_offset: u64,
    note_vaddr: u64,
    note_len: u64,
    segment_len: u64,
    names_offset: u64,
}

impl Layout {
    fn new(elf: &Elf64<'_>, segment: SegmentPlace, note: &NoteLayout) -> Result<Self> {
        let program_header_count = elf.segments().len() + 2;
        ensure!(program_header_count < usize::from(PN_XNUM), "the binary has {} program headers; adding two would need extended numbering, which is not supported", elf.segments().len());
        let table_len = (program_header_count * PROGRAM_HEADER_LEN) as u64;
        let note_len = note.len();
        let note_vaddr = segment.vaddr.checked_add(table_len).ok_or_else(overflow)?;
        let segment_len = table_len + note_len;
        segment.vaddr.checked_add(segment_len).ok_or_else(overflow)?;
        let note_offset = segment.offset + table_len;
        Ok(Layout { segment, program_header_count, table_len, note_offset, note_vaddr, note_len, segment_len, names_offset: segment.offset + segment_len })
    }

    fn blob_offset(&self, note: &NoteLayout) -> u64 {
        self.note_offset + note.head_len as u64
    }
}

/// A program header in the image's byte order.
fn program_header(e: Endianness, kind: u32, offset: u64, vaddr: u64, size: u64, align: u64) -> Segment {
    let (u32, u64) = (|v| U32::new(e, v), |v| U64::new(e, v));
    Segment { p_type: u32(kind), p_flags: u32(PF_R), p_offset: u64(offset), p_vaddr: u64(vaddr), p_paddr: u64(vaddr), p_filesz: u64(size), p_memsz: u64(size), p_align: u64(align) }
}

/// The new program header table: the old entries with PT_PHDR pointed at the new table, the
/// new PT_LOAD after the last PT_LOAD (addresses ascend), the new PT_NOTE after the last
/// PT_NOTE.
fn program_headers(elf: &Elf64<'_>, layout: &Layout) -> Vec<Segment> {
    let e = elf.endian();
    let SegmentPlace { offset, vaddr, page, .. } = layout.segment;
    let new_load = program_header(e, PT_LOAD, offset, vaddr, layout.segment_len, page);
    let new_note = program_header(e, PT_NOTE, layout.note_offset, layout.note_vaddr, layout.note_len, 4);
    let mut headers = Vec::with_capacity(layout.program_header_count);
    headers.extend(elf.segments().iter().map(|old| match old.p_type(e) {
        // For llvm-strip (module docs), p_align is the page; the table is page-aligned, so it holds.
        PT_PHDR => Segment { p_flags: old.p_flags, ..program_header(e, PT_PHDR, offset, vaddr, layout.table_len, page) },
        _ => *old,
    }));
    let after_last = |headers: &[Segment], kind: u32| headers.iter().rposition(|p| p.p_type(e) == kind).map_or(0, |index| index + 1);
    // PT_LOADs must ascend by address, and ours is the highest.
    let load_position = after_last(&headers, PT_LOAD);
    headers.insert(load_position, new_load);
    // Next to the other notes, or right after our PT_LOAD when they come before it.
    let note_position = after_last(&headers, PT_NOTE).max(load_position + 1);
    headers.insert(note_position, new_note);
    headers
}

/// A section header in the image's byte order; links, info and entry size 0.
#[allow(clippy::too_many_arguments)] // One argument per field set, as in the struct.
fn section_header(e: Endianness, name: u32, kind: u32, flags: u64, addr: u64, offset: u64, size: u64, align: u64) -> Section {
    let (u32, u64) = (|v| U32::new(e, v), |v| U64::new(e, v));
    Section {
        sh_name: u32(name),
        sh_type: u32(kind),
        sh_flags: u64(flags),
        sh_addr: u64(addr),
        sh_offset: u64(offset),
        sh_size: u64(size),
        sh_link: u32(0),
        sh_info: u32(0),
        sh_addralign: u64(align),
        sh_entsize: u64(0),
    }
}

/// The new section header table, and which entry is the section name table.
struct SectionTable {
    headers: Vec<Section>,
    names_index: usize,
}

/// Section names: a copy of the old `.shstrtab` with ours appended (the old one stays where
/// it is, unreferenced), and the section header table: the old one (or what stripping
/// keeps) with `.note.node.sea` added, a null section and a `.shstrtab` when the image had
/// none, and the names table's entry pointed at the copy.
fn section_tables(elf: &Elf64<'_>, strip: Option<&elf_strip::StripPlan>, layout: &Layout) -> Result<(Vec<u8>, SectionTable)> {
    let e = elf.endian();
    let old_names_index = elf.section_names_index();
    let mut names = match old_names_index {
        Some(index) => elf.section_data(index)?.to_vec(),
        None => Vec::new(),
    };
    if names.last() != Some(&0) {
        names.push(0);
    }
    ensure!(names.len() < (u32::MAX / 2) as usize, "the section name table is {} bytes, too large for 32-bit name offsets: the binary is damaged", names.len());
    let mut add_name = |name: &str| {
        let at = names.len() as u32;
        names.extend_from_slice(name.as_bytes());
        names.push(0);
        at
    };
    let note_section_name = add_name(NOTE_SECTION_NAME);
    let own_names_name = old_names_index.is_none().then(|| add_name(".shstrtab"));

    // Read from the base before stripping renumbers anything.
    let old_names_index = match (old_names_index, strip) {
        (Some(index), Some(strip)) => Some(strip.new_index(index).context("internal error: stripping would leave out the section name table")?),
        (index, _) => index,
    };
    let mut headers = match strip {
        Some(strip) => strip.sections().to_vec(),
        None => elf.sections().to_vec(),
    };
    if headers.is_empty() {
        headers.push(section_header(e, 0, 0, 0, 0, 0, 0, 0));
    }
    headers.push(section_header(e, note_section_name, SHT_NOTE, u64::from(SHF_ALLOC), layout.note_vaddr, layout.note_offset, layout.note_len, 4));
    let names_index = match (old_names_index, own_names_name) {
        (Some(index), _) => index,
        (None, name) => {
            headers.push(section_header(e, name.unwrap_or_default(), SHT_STRTAB, 0, 0, 0, 0, 1));
            headers.len() - 1
        }
    };
    if let Some(names_header) = headers.get_mut(names_index) {
        names_header.sh_offset.set(e, layout.names_offset);
        names_header.sh_size.set(e, names.len() as u64);
    }
    ensure!(headers.len() < usize::from(SHN_LORESERVE), "the binary has {} sections; adding ours would need extended section numbering, which is not supported", elf.sections().len());
    Ok((names, SectionTable { headers, names_index }))
}

/// The ELF header with the new tables' places and sizes; everything else as it was.
fn file_header(elf: &Elf64<'_>, layout: &Layout, program_header_count: usize, section_headers_offset: u64, sections: &SectionTable) -> Header {
    let e = elf.endian();
    let mut header = *elf.header();
    header.e_phoff.set(e, layout.segment.offset);
    header.e_phnum.set(e, program_header_count as u16);
    header.e_shoff.set(e, section_headers_offset);
    header.e_shnum.set(e, sections.headers.len() as u16);
    header.e_shstrndx.set(e, sections.names_index as u16);
    // Without section headers e_shentsize means nothing and may hold anything; the output
    // has a table of ELF64 section headers, whatever the input said.
    header.e_shentsize.set(e, SECTION_HEADER_LEN as u16);
    header
}

#[cfg(test)]
mod tests;
