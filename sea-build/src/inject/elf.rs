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
use std::mem::size_of;
use std::ops::Range;

use crate::elf::{self, Elf64, FileHeader as _, ProgramHeader as _, align_up};
use crate::error::fail;
use anyhow::{Context, Result, bail, ensure};
use object::elf::{
    ELFCLASS64, ELFDATA2LSB, EM_AARCH64, EM_PPC64, EM_X86_64, ET_DYN, ET_EXEC, FileHeader64, NoteHeader32, PF_R, PN_XNUM, PT_LOAD, PT_NOTE, PT_PHDR, ProgramHeader64, SHF_ALLOC, SHN_LORESERVE, SHT_NOTE,
    SHT_STRTAB, SectionHeader64,
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
        bail!(
            "ELF machine {machine} is not supported (only x86_64 = {EM_X86_64}, aarch64 = {EM_AARCH64} and little-endian ppc64 = {EM_PPC64}): use a linux-x64, linux-arm64 or linux-ppc64le node"
        );
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
            format!(
                "PT_NOTE at offset {:#x} ({:#x} bytes) lies past the end of the file ({} bytes): the binary is truncated",
                segment.p_offset(e),
                segment.p_filesz(e),
                elf.data().len()
            )
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
        let desc_len = u32::try_from(blob_len).map_err(|_| {
            anyhow::anyhow!("the blob is {blob_len} bytes, but an ELF note holds at most {} bytes: make the application or its assets smaller", u32::MAX)
        })?;
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
        ensure!(
            program_header_count < usize::from(PN_XNUM),
            "the binary has {} program headers; adding two would need extended numbering, which is not supported",
            elf.segments().len()
        );
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
    ensure!(
        headers.len() < usize::from(SHN_LORESERVE),
        "the binary has {} sections; adding ours would need extended section numbering, which is not supported",
        elf.sections().len()
    );
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
mod tests {
    use super::*;
    use crate::inject::fuse::FUSE_SENTINEL;
    use object::elf::{SHT_NOBITS, SHT_PROGBITS};
    use object::elf::{EV_CURRENT, Ident};
    use object::read::elf::ElfFile64;
    use object::{LittleEndian, Object, ObjectSection, U16};

    const LE: Endianness = Endianness::Little;

    /// A little-endian program header.
    fn segment(kind: u32, flags: u32, offset: u64, vaddr: u64, file_size: u64, mem_size: u64, align: u64) -> Segment {
        Segment { p_flags: U32::new(LE, flags), p_filesz: U64::new(LE, file_size), p_memsz: U64::new(LE, mem_size), ..program_header(LE, kind, offset, vaddr, 0, align) }
    }

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
            segments.push(segment(PT_PHDR, PF_R, 64, base + 64, phdrs_len, phdrs_len, 8));
        }
        let page = page_size(options.machine);
        segments.push(segment(PT_LOAD, PF_R, 0, base, 0x300, 0x300, page));
        segments.push(segment(PT_LOAD, PF_R | 2, DATA_OFFSET as u64, data_vaddr, 0x20, 0x3000, page));
        if options.with_note {
            segments.push(segment(PT_NOTE, PF_R, note_offset, base + note_offset, note.len() as u64, note.len() as u64, 4));
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
        let allocated = u64::from(SHF_ALLOC);
        let mut sections = vec![section_header(LE, 0, 0, 0, 0, 0, 0, 0)];
        if options.with_note {
            sections.push(section_header(LE, name(".note.gnu.build-id"), SHT_NOTE, allocated, base + note_offset, note_offset, note.len() as u64, 4));
        }
        sections.push(section_header(LE, name(".rodata"), SHT_PROGBITS, allocated, base + RODATA_OFFSET as u64, RODATA_OFFSET as u64, rodata.len() as u64, 1));
        sections.push(section_header(LE, name(".data"), SHT_PROGBITS, allocated | 1, data_vaddr, DATA_OFFSET as u64, 0x20, 8));
        sections.push(section_header(LE, name(".bss"), SHT_NOBITS, allocated | 1, data_vaddr + 0x20, DATA_OFFSET as u64 + 0x20, 0x3000 - 0x20, 8));
        sections.push(section_header(LE, name(".comment"), SHT_PROGBITS, 0, 0, comment_offset as u64, 10, 1));
        let names_name = name(".shstrtab");
        let names_offset = image.len();
        sections.push(section_header(LE, names_name, SHT_STRTAB, 0, 0, names_offset as u64, names.len() as u64, 1));
        image.extend_from_slice(&names);
        image.resize(image.len().next_multiple_of(8), 0);
        let section_headers_offset = image.len();
        if options.with_sections {
            image.extend_from_slice(object::pod::bytes_of_slice(&sections));
        }

        let (u16, u32, u64) = (|v| U16::new(LE, v), |v| U32::new(LE, v), |v| U64::new(LE, v));
        let header = Header {
            e_ident: Ident { magic: object::elf::ELFMAG, class: ELFCLASS64, data: ELFDATA2LSB, version: EV_CURRENT, os_abi: 0, abi_version: 0, padding: [0; 7] },
            e_type: u16(options.kind),
            e_machine: u16(options.machine),
            e_version: u32(1),
            e_entry: u64(base + RODATA_OFFSET as u64),
            e_phoff: u64(64),
            e_shoff: u64(if options.with_sections { section_headers_offset as u64 } else { 0 }),
            e_flags: u32(0),
            e_ehsize: u16(64),
            e_phentsize: u16(56),
            e_phnum: u16(segments.len() as u16),
            e_shentsize: u16(if options.with_sections { 64 } else { 0 }),
            e_shnum: u16(if options.with_sections { sections.len() as u16 } else { 0 }),
            e_shstrndx: u16(if options.with_sections { sections.len() as u16 - 1 } else { 0 }),
        };
        image[..64].copy_from_slice(object::pod::bytes_of(&header));
        let table = object::pod::bytes_of_slice(&segments);
        image[64..64 + table.len()].copy_from_slice(table);
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
        let old_headers = Elf64::parse(image).unwrap().segments();
        let new_headers = Elf64::parse(out).unwrap().segments();
        assert_eq!(new_headers.len(), old_headers.len() + 2);
        let mut kept = new_headers.iter().filter(|p| p.p_offset(LE) < image.len() as u64 || p.p_type(LE) == PT_PHDR);
        for old in old_headers.iter().filter(|p| p.p_type(LE) != PT_PHDR) {
            assert_eq!(kept.find(|p| p.p_type(LE) != PT_PHDR).map(object::pod::bytes_of), Some(object::pod::bytes_of(old)));
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
        let phoff = Elf64::parse(&out).unwrap().header().e_phoff(LE) as usize;
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
        let elf = Elf64::parse(&out).unwrap();
        let note_index = elf.segments().iter().rposition(|p| p.p_type(LE) == PT_NOTE).unwrap();
        let at = elf.header().e_phoff(LE) as usize + note_index * PROGRAM_HEADER_LEN;

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
