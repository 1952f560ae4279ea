//! Injection into macOS (Mach-O, x86_64 and arm64, thin or universal) node binaries.
//!
//! Node finds its blob at run time with `getsectdata("NODE_SEA", "__NODE_SEA_BLOB")`: a
//! segment `NODE_SEA` with one section `__NODE_SEA_BLOB` whose size is the blob's exact
//! length. [`inject`] adds that segment in the only place where nothing existing has to
//! move in memory: right before `__LINKEDIT`, which always comes last.
//!
//! ```text
//! before: | header, load commands | free | __TEXT ... __DATA ... | __LINKEDIT (L) |
//! after:  | header, load commands + NODE_SEA | free - 152 | __TEXT (fuse set) ... __DATA ... |
//!         | NODE_SEA at L: blob, zeros to the page | __LINKEDIT at L + shift |
//! ```
//!
//! - The new `LC_SEGMENT_64` (72 bytes plus one 80-byte section) goes into the free space
//!   after the load commands, immediately before `__LINKEDIT`'s command (the commands after
//!   it move down). `__TEXT` never moves: an image without room is refused (we also keep
//!   16 bytes for the `LC_CODE_SIGNATURE` the signer adds afterwards).
//! - `NODE_SEA` takes `__LINKEDIT`'s old file offset and address; its size is the blob
//!   rounded up to the page (16 KiB on arm64, 4 KiB on x86_64): the *shift*. It is
//!   read-only (`maxprot` = `initprot` = `VM_PROT_READ`), its section `S_REGULAR`, align 2^0.
//! - `__LINKEDIT` moves up by the shift in the file and in memory, and so does every offset
//!   that points into it: dyld info (rebase, bind, weak and lazy bind, exports), the symbol
//!   and string tables, every dysymtab table, and every `linkedit_data_command` (function
//!   starts, data in code, chained fixups, exports trie, ...).
//! - Chained fixups index their per-segment starts by segment number, and newer dyld
//!   versions insist that `seg_count` equals the number of segments. The starts table gets an
//!   empty entry for `NODE_SEA`; when the table has no spare bytes the fixups blob grows by 8
//!   and the linkedit data after it moves 8 bytes further.
//! - The fuse in `__TEXT` is flipped in the streamed output.
//!
//! The image is streamed: only the header and load commands (and chained fixups, when they
//! change) are copied; everything else is written from the input slice. A universal file
//! has every slice injected and is rebuilt with the same slice alignments.
//!
//! Signed input is refused: remove the signature first ([`crate::macho::unsign::unsign`])
//! and sign the result afterwards.

use std::io::Write;
use std::mem::{offset_of, size_of};

use crate::error::fail;
use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as Le;
use object::macho::{LC_DYLD_CHAINED_FIXUPS, LC_SEGMENT_64, LinkeditDataCommand, MH_EXECUTE, MachHeader64, S_REGULAR, Section64, SegmentCommand64, VM_PROT_READ};
use object::pod::{bytes_of, from_bytes_mut};
use object::read::macho::{MachHeader as _, Section as _};
use object::{U32, U64};

use super::fuse;
use crate::macho::{FatEntry, FatLayout, Kind, LINKEDIT, Segment, ThinImage, align_up, fat_slices, in_slice, kind, set_field};
use crate::splice::{Piece, Splice};

/// Name of the segment node looks in.
pub const SEGMENT_NAME: &str = "NODE_SEA";

/// Name of the section holding the blob.
pub const SECTION_NAME: &str = "__NODE_SEA_BLOB";

/// Bytes the `NODE_SEA` load command takes: a segment command and one section header.
///
/// ```
/// assert_eq!(sea_build::inject::macho::SEGMENT_COMMAND_LEN, 152);
/// ```
pub const SEGMENT_COMMAND_LEN: usize = size_of::<SegmentCommand64<Le>>() + size_of::<Section64<Le>>();

/// Bytes kept free for the `LC_CODE_SIGNATURE` command the signer adds after injection.
pub const SIGNATURE_COMMAND_LEN: usize = size_of::<LinkeditDataCommand<Le>>();

/// What [`inject`] did to one thin image (one slice of a universal file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceSummary {
    /// CPU type of the image (`CPU_TYPE_ARM64` or `CPU_TYPE_X86_64`).
    pub cputype: u32,
    /// File offset of the image in the output (0 for a thin file).
    pub slice_offset: u64,
    /// Offset of the `NODE_SEA` segment (and the blob) within the image: `__LINKEDIT`'s old
    /// file offset.
    pub segment_offset: u64,
    /// Address of the `NODE_SEA` segment: `__LINKEDIT`'s old address.
    pub segment_vmaddr: u64,
    /// How far `__LINKEDIT` moved: the blob's length rounded up to the page.
    pub shift: u64,
    /// Bytes the chained fixups grew by (0 or 8).
    pub fixups_growth: u64,
    /// Free bytes left after the load commands (at least [`SIGNATURE_COMMAND_LEN`]).
    pub header_room_left: u64,
    /// Length of the injected image.
    pub len: u64,
}

/// Where [`inject`] put things, for logs and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectionSummary {
    /// One entry per thin image, in file order.
    pub slices: Vec<SliceSummary>,
    /// Total length of the output.
    pub output_len: u64,
}

/// Writes `image` (thin or universal, unsigned) with `blob` injected and the fuse set to
/// `out`.
///
/// Only the header and load commands are held in memory; the rest is streamed from `image`
/// (see the [module docs](self)). Every check runs before the first byte is written, so an
/// error leaves `out` untouched unless writing itself fails. Refused, with the reason: data
/// that is not an x86_64/arm64 Mach-O executable, a signed image, an image without room for
/// the new load command, an already injected image (a `NODE_SEA` segment or a set fuse), a
/// missing or repeated fuse, an empty blob, a truncated or damaged image.
///
/// ```
/// use sea_build::inject::macho;
/// # let node = sea_build::macho::fixture::node_like(object::macho::CPU_TYPE_ARM64);
/// // `node`: a tiny arm64 executable holding the fuse
/// let mut out = Vec::new();
/// let summary = macho::inject(&node, b"blob bytes", &mut out)?;
/// assert_eq!(summary.output_len, out.len() as u64);
/// assert_eq!(summary.slices[0].shift, 0x4000);
/// assert_eq!(macho::find_blob(&out)?, Some(&b"blob bytes"[..]));
/// assert!(macho::inject(&out, b"again", &mut Vec::new()).is_err(), "already injected");
/// # anyhow::Ok(())
/// ```
pub fn inject(image: &[u8], blob: &[u8], out: &mut impl Write) -> Result<InjectionSummary> {
    match kind(image)? {
        Kind::Thin => {
            let plan = plan_thin(image, blob)?;
            plan.write(blob, out).context("writing the injected Mach-O image failed")?;
            out.flush().context("writing the injected Mach-O image failed")?;
            Ok(InjectionSummary { output_len: plan.summary.len, slices: vec![plan.summary] })
        }
        Kind::Fat => {
            let slices = fat_slices(image)?;
            let mut plans = Vec::with_capacity(slices.len());
            for (index, slice) in slices.iter().enumerate() {
                plans.push(plan_thin(slice.data, blob).with_context(|| in_slice(index, slice))?);
            }
            let layout =
                FatLayout::new(slices.iter().zip(&plans).map(|(slice, plan)| FatEntry { cputype: slice.cputype, cpusubtype: slice.cpusubtype, align: slice.align, size: plan.summary.len }).collect())?;
            layout.write_to(out, |index, writer| plans[index].write(blob, writer).context("writing the injected universal file failed"))?;
            let summaries = plans.iter().zip(layout.offsets()).map(|(plan, &offset)| SliceSummary { slice_offset: offset, ..plan.summary }).collect();
            Ok(InjectionSummary { slices: summaries, output_len: layout.len() })
        }
    }
}

/// [`inject`] into a new vector; convenient for small images and tests.
///
/// ```no_run
/// let image = sea_build::macho::unsign::unsign(&std::fs::read("node")?)?;
/// let blob = std::fs::read("sea-prep.blob")?;
/// std::fs::write("app", sea_build::inject::macho::inject_to_vec(&image, &blob)?)?;
/// # anyhow::Ok(())
/// ```
pub fn inject_to_vec(image: &[u8], blob: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    inject(image, blob, &mut out)?;
    Ok(out)
}

/// The blob node would find in the thin `image`: the contents of section
/// `NODE_SEA,__NODE_SEA_BLOB`, or `None` when there is no such section.
///
/// Fails on universal files (use [`find_blobs`]), on data that is not a supported Mach-O
/// image, and on a section that lies outside its segment or the file.
///
/// ```
/// # let image = sea_build::macho::fixture::tiny_image();
/// assert_eq!(sea_build::inject::macho::find_blob(&image)?, None);
/// assert!(sea_build::inject::macho::find_blob(b"\x7fELF").is_err());
/// # anyhow::Ok(())
/// ```
pub fn find_blob(image: &[u8]) -> Result<Option<&[u8]>> {
    let thin = ThinImage::parse(image)?;
    let Some(segment) = thin.segment(SEGMENT_NAME.as_bytes()) else {
        return Ok(None);
    };
    let Some(section) = segment.sections.iter().find(|s| s.name() == SECTION_NAME.as_bytes()) else {
        return Ok(None);
    };
    let (offset, size) = (u64::from(section.offset.get(Le)), section.size.get(Le));
    let end = offset.checked_add(size);
    ensure!(
        offset >= segment.fileoff() && end.is_some_and(|end| end <= segment.file_end()),
        "section {SEGMENT_NAME},{SECTION_NAME} ({offset:#x}, {size} bytes) lies outside its \
         segment ({:#x}..{:#x}): the binary is damaged",
        segment.fileoff(),
        segment.file_end()
    );
    // The segment was checked to lie inside the file when parsing.
    Ok(image.get(offset as usize..(offset + size) as usize))
}

/// The blob of one thin image, as found by [`find_blobs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceBlob<'a> {
    /// CPU type of the image.
    pub cputype: u32,
    /// The blob, or `None` when the image has none.
    pub blob: Option<&'a [u8]>,
}

/// [`find_blob`] for every thin image of `data` (one for a thin file, one per slice of a
/// universal file), in file order.
///
/// ```
/// # let image = sea_build::macho::fixture::tiny_image();
/// let blobs = sea_build::inject::macho::find_blobs(&image)?;
/// assert_eq!(blobs.len(), 1);
/// assert_eq!(blobs[0].blob, None);
/// # anyhow::Ok(())
/// ```
pub fn find_blobs(data: &[u8]) -> Result<Vec<SliceBlob<'_>>> {
    let images = match kind(data)? {
        Kind::Thin => vec![data],
        Kind::Fat => fat_slices(data)?.iter().map(|s| s.data).collect(),
    };
    images
        .into_iter()
        .enumerate()
        .map(|(index, image)| {
            let blob = find_blob(image).with_context(|| format!("in image {index}"))?;
            let cputype = ThinImage::parse(image)?.cputype();
            Ok(SliceBlob { cputype, blob })
        })
        .collect()
}

/// Everything [`inject`] writes for one thin image, computed up front: the output as a
/// splice of the input.
struct ThinPlan<'a> {
    image: &'a [u8],
    splice: Splice,
    summary: SliceSummary,
}

impl ThinPlan<'_> {
    fn write(&self, blob: &[u8], out: &mut (impl Write + ?Sized)) -> Result<()> {
        self.splice.write(self.image, blob, &mut WriteRef(out))
    }
}

/// `&mut W` as a sized writer, for [`Splice::write`].
struct WriteRef<'w, W: Write + ?Sized>(&'w mut W);

impl<W: Write + ?Sized> Write for WriteRef<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The injection of `blob` into the unsigned thin `image` as a splice of `image`, with its
/// summary: what [`inject`] writes, for a caller that applies it where the image lies
/// ([`Splice::apply_in_place`]).
///
/// ```
/// # let node = sea_build::macho::fixture::node_like(object::macho::CPU_TYPE_ARM64);
/// let (splice, summary) = sea_build::inject::macho::plan(&node, b"blob bytes")?;
/// let mut image = node.clone();
/// image.resize(summary.len as usize, 0);
/// splice.apply_in_place(&mut image, node.len() as u64, b"blob bytes")?;
/// assert_eq!(image, sea_build::inject::macho::inject_to_vec(&node, b"blob bytes")?);
/// # anyhow::Ok(())
/// ```
pub fn plan(image: &[u8], blob: &[u8]) -> Result<(Splice, SliceSummary)> {
    ensure!(kind(image)? == Kind::Thin, "a universal file has one injection per slice: inject it with `inject`");
    let plan = plan_thin(image, blob)?;
    Ok((plan.splice, plan.summary))
}

/// The chained-fixups blob rewritten with an empty starts entry for `NODE_SEA`.
struct FixupsEdit {
    /// The blob's range in the input.
    offset: u64,
    end: u64,
    /// The rewritten blob.
    bytes: Vec<u8>,
    /// How much longer it is (0 or 8).
    growth: u64,
}

fn plan_thin<'a>(image: &'a [u8], blob: &[u8]) -> Result<ThinPlan<'a>> {
    let thin = ThinImage::parse(image)?;
    ensure!(thin.header().filetype(Le) == MH_EXECUTE, "the Mach-O image is not an executable (file type {}): inject into the node executable", thin.header().filetype(Le));
    if thin.code_signature().is_some() {
        fail!(
            Signed,
            "the Mach-O image is code-signed: remove the signature first \
             (sea_build::macho::unsign::unsign), inject, then sign the result"
        );
    }
    if thin.segment(SEGMENT_NAME.as_bytes()).is_some() {
        fail!(
            AlreadyInjected,
            "the binary already carries a SEA blob (it has a {SEGMENT_NAME} segment): inject \
             into a fresh node binary"
        );
    }
    ensure!(!blob.is_empty(), "the blob is empty: generate it with `node --experimental-sea-config`");
    let linkedit = thin.linkedit()?;
    ensure!(linkedit.sections.is_empty(), "__LINKEDIT has {} sections; moving them is not supported", linkedit.sections.len());
    let fuse_offset = fuse::unset_fuse_offset(image)?;
    let commands_end = thin.commands_end();
    let new_commands_end = commands_end + SEGMENT_COMMAND_LEN;

    let room = thin.header_room()?;
    let needed = (SEGMENT_COMMAND_LEN + SIGNATURE_COMMAND_LEN) as u64;
    if room < needed {
        fail!(
            NoHeaderRoom,
            "no room for the {SEGMENT_NAME} load command: it needs {needed} free bytes after the \
             load commands ({SEGMENT_COMMAND_LEN} for the segment, {SIGNATURE_COMMAND_LEN} for \
             the code signature added afterwards) but the image has {room} (load commands end \
             at {commands_end:#x}); moving __TEXT to make room breaks the binary, so use a \
             node build with more header padding (official builds have it, or link with \
             -headerpad)"
        );
    }
    if let Some(at) = image[commands_end..new_commands_end].iter().position(|&b| b != 0) {
        bail!(
            "the free space after the load commands is not empty (byte {:#x} is not zero): \
             something lives there that this tool does not know; refusing to overwrite it",
            commands_end + at
        );
    }

    ensure!(
        fuse_offset >= new_commands_end && (fuse_offset as u64) < linkedit.fileoff(),
        "the fuse lies at offset {fuse_offset:#x}, outside the segment contents before \
         __LINKEDIT: not a node binary"
    );

    let page = thin.page_size();
    let shift = align_up(blob.len() as u64, page).context("the blob is too large for the address space")?;
    let fixups = plan_fixups(&thin, &linkedit)?;
    let growth = fixups.as_ref().map_or(0, |f| f.growth);

    // The load commands with every offset into __LINKEDIT moved.
    let mut commands = image[..commands_end].to_vec();
    let linkedit_start = linkedit.fileoff();
    for range in thin.file_ranges() {
        if range.offset < linkedit_start {
            continue;
        }
        let after_fixups = fixups.as_ref().is_some_and(|f| range.offset >= f.end && range.cmd != LC_DYLD_CHAINED_FIXUPS);
        let moved = range.offset + shift + if after_fixups { growth } else { 0 };
        set_field(&mut commands, 0, range, moved)?;
        if range.cmd == LC_DYLD_CHAINED_FIXUPS {
            let size_field = range.field + offset_of!(LinkeditDataCommand<Le>, datasize) - offset_of!(LinkeditDataCommand<Le>, dataoff);
            let new_size = u32::try_from(range.len + growth).context("chained fixups too large")?;
            commands[size_field..size_field + 4].copy_from_slice(&new_size.to_le_bytes());
        }
    }
    {
        let (segment, _) = from_bytes_mut::<SegmentCommand64<Le>>(&mut commands[linkedit.command.offset..]).ok().context("internal error: __LINKEDIT command vanished")?;
        segment.fileoff.set(Le, linkedit.fileoff() + shift);
        segment.vmaddr.set(Le, linkedit.vmaddr() + shift);
        let filesize = linkedit.filesize() + growth;
        segment.filesize.set(Le, filesize);
        if linkedit.vmsize() < filesize {
            segment.vmsize.set(Le, align_up(filesize, page).unwrap_or(filesize));
        }
    }
    // Insert NODE_SEA before __LINKEDIT's command.
    let mut new_commands = Vec::with_capacity(new_commands_end);
    new_commands.extend_from_slice(&commands[..linkedit.command.offset]);
    new_commands.extend_from_slice(&segment_command(&linkedit, blob.len() as u64, shift)?);
    new_commands.extend_from_slice(&commands[linkedit.command.offset..]);
    {
        let (header, _) = from_bytes_mut::<MachHeader64<Le>>(&mut new_commands).ok().context("internal error: header vanished")?;
        header.ncmds.set(Le, header.ncmds.get(Le) + 1);
        header.sizeofcmds.set(Le, header.sizeofcmds.get(Le) + SEGMENT_COMMAND_LEN as u32);
    }

    let linkedit_at = linkedit_start;
    let fuse_at = fuse_offset as u64;
    let mut splice = Splice::default();
    splice.push(Piece::Bytes(new_commands));
    splice.push(Piece::Base(new_commands_end as u64..fuse_at));
    splice.push(Piece::Bytes(b"1".to_vec()));
    splice.push(Piece::Base(fuse_at + 1..linkedit_at));
    splice.push(Piece::Blob);
    splice.push(Piece::Zeros(shift - blob.len() as u64));
    match fixups {
        Some(edit) => {
            splice.push(Piece::Base(linkedit_at..edit.offset));
            splice.push(Piece::Bytes(edit.bytes));
            splice.push(Piece::Base(edit.end..image.len() as u64));
        }
        None => splice.push(Piece::Base(linkedit_at..image.len() as u64)),
    }
    Ok(ThinPlan {
        image,
        splice,
        summary: SliceSummary {
            cputype: thin.cputype(),
            slice_offset: 0,
            segment_offset: linkedit_start,
            segment_vmaddr: linkedit.vmaddr(),
            shift,
            fixups_growth: growth,
            header_room_left: room - SEGMENT_COMMAND_LEN as u64,
            len: image.len() as u64 + shift + growth,
        },
    })
}

/// The `NODE_SEA` segment command with its one section, at `__LINKEDIT`'s old place.
fn segment_command(linkedit: &Segment<'_>, blob_len: u64, shift: u64) -> Result<Vec<u8>> {
    let name16 = |name: &str| {
        let mut bytes = [0u8; 16];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        bytes
    };
    let offset = u32::try_from(linkedit.fileoff()).ok().with_context(|| format!("__LINKEDIT starts at {:#x}, beyond the 4 GiB a section offset can hold", linkedit.fileoff()))?;
    let segment = SegmentCommand64 {
        cmd: U32::new(Le, LC_SEGMENT_64),
        cmdsize: U32::new(Le, SEGMENT_COMMAND_LEN as u32),
        segname: name16(SEGMENT_NAME),
        vmaddr: U64::new(Le, linkedit.vmaddr()),
        vmsize: U64::new(Le, shift),
        fileoff: U64::new(Le, linkedit.fileoff()),
        filesize: U64::new(Le, shift),
        maxprot: U32::new(Le, VM_PROT_READ),
        initprot: U32::new(Le, VM_PROT_READ),
        nsects: U32::new(Le, 1),
        flags: U32::new(Le, 0),
    };
    let section = Section64 {
        sectname: name16(SECTION_NAME),
        segname: name16(SEGMENT_NAME),
        addr: U64::new(Le, linkedit.vmaddr()),
        size: U64::new(Le, blob_len),
        offset: U32::new(Le, offset),
        align: U32::new(Le, 0),
        reloff: U32::new(Le, 0),
        nreloc: U32::new(Le, 0),
        flags: U32::new(Le, S_REGULAR),
        reserved1: U32::new(Le, 0),
        reserved2: U32::new(Le, 0),
        reserved3: U32::new(Le, 0),
    };
    let mut bytes = bytes_of(&segment).to_vec();
    bytes.extend_from_slice(bytes_of(&section));
    Ok(bytes)
}

/// Offsets in the chained fixups header (`dyld_chained_fixups_header`, seven u32 words).
const FIXUPS_STARTS_OFFSET: usize = 4;
const FIXUPS_IMPORTS_OFFSET: usize = 8;
const FIXUPS_SYMBOLS_OFFSET: usize = 12;
const FIXUPS_HEADER_LEN: usize = 28;

/// Adds an empty starts entry for `NODE_SEA` (at `__LINKEDIT`'s segment index) to the
/// chained fixups, when the image has them and their starts table counts every segment.
fn plan_fixups(thin: &ThinImage<'_>, linkedit: &Segment<'_>) -> Result<Option<FixupsEdit>> {
    let Some(range) = thin.file_ranges().iter().find(|r| r.cmd == LC_DYLD_CHAINED_FIXUPS).copied() else {
        return Ok(None);
    };
    if let Some(inside) = thin.file_ranges().iter().find(|r| r.cmd != LC_DYLD_CHAINED_FIXUPS && r.len > 0 && r.offset < range.end() && r.end() > range.offset) {
        bail!(
            "the {} ({:#x}..{:#x}) overlaps the chained fixups ({:#x}..{:#x}): the binary is \
             damaged",
            inside.what,
            inside.offset,
            inside.end(),
            range.offset,
            range.end()
        );
    }
    let damaged = |what: &str| anyhow::anyhow!("the chained fixups at {:#x} ({} bytes) are damaged: {what}", range.offset, range.len);
    // Parsing validated non-empty ranges against the file; an empty one may point anywhere.
    let data =
        usize::try_from(range.offset).ok().zip(usize::try_from(range.end()).ok()).and_then(|(start, end)| thin.data().get(start..end)).ok_or_else(|| damaged("they lie past the end of the file"))?;
    let word = |at: usize| -> Result<u32> { data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| damaged(&format!("offset {at:#x} lies past their end"))) };
    ensure!(data.len() >= FIXUPS_HEADER_LEN, damaged("shorter than their header"));
    let starts = word(FIXUPS_STARTS_OFFSET)? as usize;
    let imports = word(FIXUPS_IMPORTS_OFFSET)? as usize;
    let symbols = word(FIXUPS_SYMBOLS_OFFSET)? as usize;
    let seg_count = word(starts)? as usize;
    let segment_count = thin.segments().len();
    let index = thin.segments().iter().position(|s| s.name() == LINKEDIT && s.command.index == linkedit.command.index).context("internal error: __LINKEDIT not among the segments")?;
    if seg_count != segment_count {
        // Not the layout linkers write (a tool inserted a segment before); leave it alone.
        return Ok(None);
    }
    let entries_at = starts + 4;
    let entries_end = entries_at + 4 * seg_count;
    let mut offsets = Vec::with_capacity(seg_count);
    for entry in 0..seg_count {
        offsets.push(word(entries_at + 4 * entry)?);
    }
    // The first structure after the starts table: a segment's starts, imports or symbols.
    let mut next = [imports, symbols].into_iter().filter(|&at| at >= entries_end).min().unwrap_or(data.len());
    for &offset in offsets.iter().filter(|&&o| o != 0) {
        let at = starts.saturating_add(offset as usize);
        ensure!(at >= entries_end, damaged("a segment's starts lie inside the starts table"));
        ensure!(at < data.len(), damaged(&format!("a segment's starts (at {at:#x}) lie past their end")));
        next = next.min(at);
    }
    ensure!(imports >= entries_end && symbols >= entries_end && next <= data.len(), damaged("the imports or symbols overlap the starts table"));
    ensure!(imports <= data.len() && symbols <= data.len(), damaged(&format!("the imports ({imports:#x}) or symbols ({symbols:#x}) lie past their end")));
    let growth: usize = if next - entries_end >= 4 { 0 } else { 8 };
    // Every offset moved below lies inside the fixups, whose length fits a u32 (datasize),
    // so adding the growth cannot overflow; checked all the same.
    let moved = |offset: u32| offset.checked_add(growth as u32).ok_or_else(|| damaged(&format!("offset {offset:#x} overflows when moved")));

    let mut bytes = Vec::with_capacity(data.len() + growth);
    bytes.extend_from_slice(&data[..starts]);
    bytes.extend_from_slice(&(seg_count as u32 + 1).to_le_bytes());
    let adjust = |offset: u32| if offset == 0 { Ok(0) } else { moved(offset) };
    for &offset in &offsets[..index] {
        bytes.extend_from_slice(&adjust(offset)?.to_le_bytes());
    }
    bytes.extend_from_slice(&0u32.to_le_bytes());
    for &offset in &offsets[index..] {
        bytes.extend_from_slice(&adjust(offset)?.to_le_bytes());
    }
    // The 4 bytes used up by the entry came from spare room, or 8 were added.
    let rest_from = if growth == 0 { entries_end + 4 } else { entries_end };
    bytes.resize(bytes.len() + growth.saturating_sub(4), 0);
    bytes.extend_from_slice(&data[rest_from..]);
    if growth > 0 {
        for field in [FIXUPS_IMPORTS_OFFSET, FIXUPS_SYMBOLS_OFFSET] {
            let value = moved(word(field)?)?;
            bytes[field..field + 4].copy_from_slice(&value.to_le_bytes());
        }
    }
    ensure!(bytes.len() == data.len() + growth, "internal error: rewritten chained fixups are {} bytes, expected {}", bytes.len(), data.len() + growth);
    Ok(Some(FixupsEdit { offset: range.offset, end: range.end(), bytes, growth: growth as u64 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::fuse::FuseState;
    use crate::macho::fixture::{Fixups, Options, image, node_like, universal};
    use crate::macho::unsign::unsign;
    use crate::testing::XorShift;
    use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};

    fn with_fuse(options: Options) -> Vec<u8> {
        image(Options { text: format!("{}:0", fuse::FUSE_SENTINEL).into_bytes(), ..options })
    }

    fn blob_of(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    fn word(data: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(data[at..at + 4].try_into().unwrap())
    }

    /// Checks everything an injected thin image must satisfy against its original.
    fn check_injected(original: &[u8], out: &[u8], blob: &[u8], summary: &SliceSummary) {
        let before = ThinImage::parse(original).unwrap();
        let after = ThinImage::parse(out).unwrap();
        assert_eq!(find_blob(out).unwrap(), Some(blob));
        assert_eq!(summary.len, out.len() as u64);

        // Fuse set, everything else in __TEXT and __DATA unchanged after the load commands.
        let fuse_at = fuse::find_fuse(original).unwrap().offset();
        assert_eq!(fuse::find_fuse(out).unwrap(), FuseState::Set { offset: fuse_at });
        let new_end = after.commands_end();
        assert_eq!(new_end, before.commands_end() + SEGMENT_COMMAND_LEN);
        let old_linkedit = before.linkedit().unwrap();
        for at in new_end..old_linkedit.fileoff() as usize {
            if at != fuse_at {
                assert_eq!(original[at], out[at], "byte {at:#x}");
            }
        }

        // Segments: the old ones in order with NODE_SEA right before __LINKEDIT.
        let names: Vec<&[u8]> = after.segments().iter().map(|s| s.name()).collect();
        let mut expected: Vec<&[u8]> = before.segments().iter().map(|s| s.name()).collect();
        expected.insert(expected.len() - 1, SEGMENT_NAME.as_bytes());
        assert_eq!(names, expected);
        let sea = after.segment(SEGMENT_NAME.as_bytes()).unwrap();
        let linkedit = after.linkedit().unwrap();
        assert_eq!(sea.command.index + 1, linkedit.command.index);
        let page = before.page_size();
        let shift = (blob.len() as u64).next_multiple_of(page);
        assert_eq!(summary.shift, shift);
        assert_eq!((sea.fileoff(), sea.filesize()), (old_linkedit.fileoff(), shift));
        assert_eq!((sea.vmaddr(), sea.vmsize()), (old_linkedit.vmaddr(), shift));
        assert_eq!(sea.header.maxprot.get(Le), VM_PROT_READ);
        assert_eq!(sea.header.initprot.get(Le), VM_PROT_READ);
        assert_eq!(sea.sections.len(), 1);
        let section = &sea.sections[0];
        assert_eq!(section.size.get(Le), blob.len() as u64);
        assert_eq!(section.addr.get(Le), sea.vmaddr());
        assert_eq!(section.align.get(Le), 0);
        assert_eq!(section.flags.get(Le), S_REGULAR);
        assert!(out[sea.fileoff() as usize + blob.len()..sea.file_end() as usize].iter().all(|&b| b == 0));
        assert_eq!(linkedit.fileoff(), old_linkedit.fileoff() + shift);
        assert_eq!(linkedit.vmaddr(), old_linkedit.vmaddr() + shift);
        assert_eq!(linkedit.filesize(), old_linkedit.filesize() + summary.fixups_growth);
        assert!(linkedit.vmsize() >= linkedit.filesize());
        assert_eq!(linkedit.file_end(), out.len() as u64);
        assert_eq!(after.header_room().unwrap(), before.header_room().unwrap() - SEGMENT_COMMAND_LEN as u64);
        assert_eq!(summary.header_room_left, after.header_room().unwrap());

        // Every range keeps its contents (chained fixups are checked separately).
        let old_ranges = before.file_ranges();
        let new_ranges: Vec<_> = after.file_ranges().iter().filter(|r| r.offset != sea.fileoff() || r.what != "section contents").collect();
        assert_eq!(old_ranges.len(), new_ranges.len());
        for (old, new) in old_ranges.iter().zip(new_ranges) {
            let growth = if old.cmd == LC_DYLD_CHAINED_FIXUPS { summary.fixups_growth } else { 0 };
            assert_eq!((old.what, old.len + growth), (new.what, new.len));
            // Chained fixups are checked separately, __text (the fuse) byte by byte above.
            if old.cmd == LC_DYLD_CHAINED_FIXUPS || old.offset < old_linkedit.fileoff() {
                continue;
            }
            let old_bytes = &original[old.offset as usize..old.end() as usize];
            let new_bytes = &out[new.offset as usize..new.end() as usize];
            assert!(old_bytes == new_bytes, "{} moved badly", old.what);
            if old.offset >= old_linkedit.fileoff() {
                assert!(new.offset >= old.offset + shift, "{}", old.what);
            }
        }
    }

    fn injected(image: &[u8], blob: &[u8]) -> (Vec<u8>, InjectionSummary) {
        let mut out = Vec::new();
        let summary = inject(image, blob, &mut out).unwrap();
        assert_eq!(summary.output_len, out.len() as u64);
        (out, summary)
    }

    #[test]
    fn injects_into_thin_images() {
        for cputype in [CPU_TYPE_ARM64, CPU_TYPE_X86_64] {
            for fixups in [Fixups::None, Fixups::Tight, Fixups::Spare] {
                let original = with_fuse(Options { cputype, fixups, ..Options::default() });
                let page = ThinImage::parse(&original).unwrap().page_size() as usize;
                for len in [1, 7, page - 1, page, page + 1, 3 * page + 5] {
                    let blob = blob_of(len);
                    let (out, summary) = injected(&original, &blob);
                    assert_eq!(summary.slices.len(), 1);
                    check_injected(&original, &out, &blob, &summary.slices[0]);
                    assert_eq!(inject_to_vec(&original, &blob).unwrap(), out);
                }
            }
        }
    }

    #[test]
    fn chained_fixups_get_an_entry_for_the_new_segment() {
        for (fixups, growth) in [(Fixups::Spare, 0), (Fixups::Tight, 8)] {
            let original = with_fuse(Options { fixups, ..Options::default() });
            let (out, summary) = injected(&original, b"blob");
            assert_eq!(summary.slices[0].fixups_growth, growth);
            let range_of = |data: &[u8]| *ThinImage::parse(data).unwrap().file_ranges().iter().find(|r| r.cmd == LC_DYLD_CHAINED_FIXUPS).unwrap();
            let (old, new) = (range_of(&original), range_of(&out));
            assert_eq!(new.len, old.len + growth);
            let old = &original[old.offset as usize..old.end() as usize];
            let new = &out[new.offset as usize..new.end() as usize];
            let starts = word(old, 4) as usize;
            assert_eq!(word(new, 4) as usize, starts);
            // Segments: __PAGEZERO, __TEXT, NODE_SEA, __LINKEDIT.
            assert_eq!(word(new, starts), 4);
            let entries: Vec<u32> = (0..4).map(|i| word(new, starts + 4 + 4 * i)).collect();
            assert_eq!(entries[0], 0);
            assert_eq!(entries[2..], [0, 0]);
            assert_eq!(entries[1], word(old, starts + 8) + growth as u32);
            // The per-segment starts, imports and symbols are the same bytes, moved.
            let segment_starts = |blob: &[u8], entry: u32| {
                let at = starts + entry as usize;
                blob[at..at + 24].to_vec()
            };
            assert_eq!(segment_starts(new, entries[1]), segment_starts(old, word(old, starts + 8)));
            let tail = |blob: &[u8]| blob[word(blob, 8) as usize..].to_vec();
            assert_eq!(tail(new), tail(old));
            assert_eq!(word(new, 12), word(old, 12) + growth as u32);
            // Later linkedit data moved by the shift plus the growth.
            let starts_of = |data: &[u8]| ThinImage::parse(data).unwrap().file_ranges().iter().find(|r| r.what == "LC_FUNCTION_STARTS").unwrap().offset;
            assert_eq!(starts_of(&out), starts_of(&original) + 0x4000 + growth);
        }
    }

    #[test]
    fn injects_into_every_slice_of_a_universal_file() {
        let (arm, x86) = (node_like(CPU_TYPE_ARM64), node_like(CPU_TYPE_X86_64));
        let fat = universal(&[&x86, &arm]);
        let blob = blob_of(5000);
        let (out, summary) = injected(&fat, &blob);
        let slices = fat_slices(&out).unwrap();
        assert_eq!(summary.slices.len(), 2);
        for ((slice, original), slice_summary) in slices.iter().zip([&x86, &arm]).zip(&summary.slices) {
            assert_eq!(slice.offset, slice_summary.slice_offset);
            assert_eq!(slice.offset % (1 << slice.align), 0);
            check_injected(original, slice.data, &blob, slice_summary);
        }
        let blobs = find_blobs(&out).unwrap();
        assert_eq!(blobs, [SliceBlob { cputype: CPU_TYPE_X86_64, blob: Some(&blob[..]) }, SliceBlob { cputype: CPU_TYPE_ARM64, blob: Some(&blob[..]) },]);
        assert!(find_blob(&out).unwrap_err().to_string().contains("universal"));
        let error = format!("{:#}", inject(&out, b"x", &mut Vec::new()).unwrap_err());
        assert!(error.contains("slice 0 (x86_64)") && error.contains("already"), "{error}");
    }

    fn refused(image: &[u8], blob: &[u8]) -> String {
        let mut out = Vec::new();
        let error = format!("{:#}", inject(image, blob, &mut out).unwrap_err());
        assert!(out.is_empty(), "nothing written when refusing");
        error
    }

    #[test]
    fn refuses_what_it_cannot_handle() {
        let node = node_like(CPU_TYPE_ARM64);
        let expect = |image: &[u8], blob: &[u8], wanted: &str| {
            let error = refused(image, blob);
            assert!(error.contains(wanted), "expected {wanted:?} in {error:?}");
        };
        expect(&node, b"", "empty");
        expect(b"\x7fELF\x02\x01\x01\x00", b"blob", "not a Mach-O file");
        expect(&image(Options::default()), b"blob", "not a node binary");
        let signed = with_fuse(Options { signature: Some(64), ..Options::default() });
        expect(&signed, b"blob", "unsign");
        // ... which works once unsigned.
        assert!(inject(&unsign(&signed).unwrap(), b"blob", &mut Vec::new()).is_ok());
        let mut dylib = node.clone();
        dylib[12..16].copy_from_slice(&object::macho::MH_DYLIB.to_le_bytes());
        expect(&dylib, b"blob", "not an executable");
        let mut set = node.clone();
        let fuse_at = fuse::find_fuse(&node).unwrap().offset();
        set[fuse_at] = b'1';
        expect(&set, b"blob", "already");
        let mut junk = node.clone();
        let commands_end = ThinImage::parse(&node).unwrap().commands_end();
        junk[commands_end + 100] = 0x42;
        expect(&junk, b"blob", "not empty");
    }

    #[test]
    fn refuses_images_without_header_room() {
        let needed = SEGMENT_COMMAND_LEN + SIGNATURE_COMMAND_LEN;
        for room in [0, 32, needed - 1] {
            let cramped = with_fuse(Options { header_room: room as u32, ..Options::default() });
            let error = refused(&cramped, b"blob");
            assert!(error.contains(&format!("needs {needed} free bytes")) && error.contains(&format!("has {room}")), "{error}");
        }
        let just_enough = with_fuse(Options { header_room: needed as u32, ..Options::default() });
        let (_, summary) = injected(&just_enough, b"blob");
        assert_eq!(summary.slices[0].header_room_left, SIGNATURE_COMMAND_LEN as u64);
    }

    #[test]
    fn refuses_already_injected_images() {
        let node = node_like(CPU_TYPE_X86_64);
        let (out, _) = injected(&node, b"blob");
        assert!(refused(&out, b"blob").contains("NODE_SEA segment"));
        // Fuse reset by hand: the segment still gives it away.
        let mut reset = out.clone();
        reset[fuse::find_fuse(&node).unwrap().offset()] = b'0';
        assert!(refused(&reset, b"blob").contains("already carries a SEA blob"));
    }

    #[test]
    fn truncated_images_are_errors_not_panics() {
        for fixups in [Fixups::None, Fixups::Tight] {
            let node = with_fuse(Options { fixups, ..Options::default() });
            for len in 0..node.len() {
                assert!(inject(&node[..len], b"blob", &mut Vec::new()).is_err(), "{len}");
            }
            let (out, _) = injected(&node, b"the blob");
            for len in 0..out.len() {
                let _ = find_blob(&out[..len]);
                let _ = find_blobs(&out[..len]);
            }
        }
    }

    #[test]
    fn corrupted_images_never_panic() {
        let node = with_fuse(Options { fixups: Fixups::Tight, ..Options::default() });
        let (out, _) = injected(&node, b"blob!");
        let linkedit = ThinImage::parse(&node).unwrap().linkedit().unwrap().fileoff() as usize;
        let commands_end = ThinImage::parse(&node).unwrap().commands_end();
        let mut random = XorShift(0x2545_f491_4f6c_dd1du64);
        let mut next = || random.next_u64();
        for _ in 0..4000 {
            let mut corrupted = node.clone();
            for _ in 0..1 + next() % 4 {
                // The load commands or the chained fixups.
                let at = if next() % 2 == 0 { (next() as usize) % commands_end } else { linkedit + (next() as usize) % 96 };
                corrupted[at] = next() as u8;
            }
            let _ = inject(&corrupted, b"x", &mut Vec::new());
            let mut damaged = out.clone();
            let at = (next() as usize) % (commands_end + SEGMENT_COMMAND_LEN);
            damaged[at] = next() as u8;
            let _ = find_blob(&damaged);
        }
    }

    #[test]
    fn refuses_chained_fixups_whose_offsets_lie_past_their_end() {
        // Found by fuzzing (inject_macho): a starts-table entry, or the imports offset, near
        // u32::MAX overflowed when moved by the 8 bytes the table grows by.
        let node = with_fuse(Options { fixups: Fixups::Tight, ..Options::default() });
        let range = *ThinImage::parse(&node).unwrap().file_ranges().iter().find(|r| r.cmd == LC_DYLD_CHAINED_FIXUPS).unwrap();
        let fixups = range.offset as usize;
        let starts = word(&node[fixups..], FIXUPS_STARTS_OFFSET) as usize;
        // The entry of __PAGEZERO (0: no starts), then the imports offset.
        for (at, expected) in [(fixups + starts + 4, "a segment's starts"), (fixups + FIXUPS_IMPORTS_OFFSET, "the imports"), (fixups + FIXUPS_SYMBOLS_OFFSET, "or symbols")] {
            for value in [u32::MAX, u32::MAX - 7, range.len as u32 + 1] {
                let mut damaged = node.clone();
                damaged[at..at + 4].copy_from_slice(&value.to_le_bytes());
                let error = refused(&damaged, b"blob");
                assert!(error.contains("chained fixups") && error.contains(expected), "{value:#x} at {at:#x}: {error}");
            }
        }
    }

    #[test]
    fn refuses_empty_chained_fixups_past_the_end_of_the_file() {
        // Found by fuzzing (inject_macho): LC_DYLD_CHAINED_FIXUPS with datasize 0 and a
        // dataoff past the end of the file (parsing checks only non-empty ranges) was sliced.
        let node = with_fuse(Options { fixups: Fixups::Tight, ..Options::default() });
        let command = ThinImage::parse(&node).unwrap().command(LC_DYLD_CHAINED_FIXUPS).unwrap().offset;
        let mut damaged = node.clone();
        let (dataoff, datasize) = (command + offset_of!(LinkeditDataCommand<Le>, dataoff), command + offset_of!(LinkeditDataCommand<Le>, datasize));
        damaged[dataoff..dataoff + 4].copy_from_slice(&0x1000_0060u32.to_le_bytes());
        damaged[datasize..datasize + 4].fill(0);
        let error = refused(&damaged, b"blob");
        assert!(error.contains("chained fixups") && error.contains("past the end of the file"), "{error}");
    }

    #[test]
    fn find_blob_checks_the_section() {
        let (out, _) = injected(&node_like(CPU_TYPE_ARM64), b"abc");
        let thin = ThinImage::parse(&out).unwrap();
        let sea = thin.segment(SEGMENT_NAME.as_bytes()).unwrap();
        let size_at = sea.command.offset + size_of::<SegmentCommand64<Le>>() + offset_of!(Section64<Le>, size);
        let mut oversized = out.clone();
        oversized[size_at..size_at + 8].copy_from_slice(&0x4001u64.to_le_bytes());
        assert!(find_blob(&oversized).unwrap_err().to_string().contains("outside its segment"));
        let mut renamed = out.clone();
        let name_at = sea.command.offset + size_of::<SegmentCommand64<Le>>() + 2;
        renamed[name_at] = b'X';
        assert_eq!(find_blob(&renamed).unwrap(), None);
    }
}
