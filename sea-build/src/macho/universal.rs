//! Universal (fat) files: reading the slices, laying a new file out, transforming each slice.

use std::io::Write;
use std::mem::size_of;

use anyhow::{Context, Result, ensure};
use object::macho::{FAT_MAGIC, FAT_MAGIC_64, FatArch32, FatHeader};
use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};

use crate::splice::write_zeros;

use super::*;

/// Largest slice alignment we accept in a universal file (2^20); lipo uses at most 2^14.
const MAX_FAT_ALIGN: u32 = 20;

/// Largest number of slices we accept; real files have one to four, and Java class files,
/// which share the magic, have at least 45 here (their major version).
const MAX_FAT_ARCHES: usize = 30;

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
/// # let image = sea_build::macho::fixture::tiny_image();
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

/// Shrinks every slice of the universal file `data` where it lies with `shrink` (which
/// returns the slice's new length, at most its old one), then packs the slices down, each
/// at its alignment and in file order, and writes a new universal header. Returns the
/// length of the result: the rest of `data` is to be cut. Errors from a slice name it.
pub(crate) fn shrink_slices(data: &mut [u8], mut shrink: impl FnMut(&mut [u8]) -> Result<u64>) -> Result<u64> {
    let mut slices: Vec<(FatEntry, usize, String)> = fat_slices(data)?
        .iter()
        .enumerate()
        .map(|(index, slice)| {
            let entry = FatEntry { cputype: slice.cputype, cpusubtype: slice.cpusubtype, align: slice.align, size: slice.data.len() as u64 };
            (entry, slice.offset as usize, in_slice(index, slice))
        })
        .collect();
    slices.sort_by_key(|(_, offset, _)| *offset);
    for (entry, offset, context) in &mut slices {
        let image = &mut data[*offset..*offset + entry.size as usize];
        let len = shrink(image).context(context.clone())?;
        ensure!(len <= entry.size, "internal error: {context} grew from {} to {len} bytes while shrinking", entry.size);
        entry.size = len;
    }
    let layout = FatLayout::new(slices.iter().map(|(entry, _, _)| *entry).collect())?;
    let header = layout.header();
    let mut written = header.len();
    for ((entry, old_offset, _), &new_offset) in slices.iter().zip(layout.offsets()) {
        let new_offset = new_offset as usize;
        ensure!(new_offset <= *old_offset && written <= new_offset, "internal error: slice moving from {old_offset:#x} to {new_offset:#x}");
        data.copy_within(*old_offset..*old_offset + entry.size as usize, new_offset);
        data[written..new_offset].fill(0);
        written = new_offset + entry.size as usize;
    }
    data[..header.len()].copy_from_slice(&header);
    Ok(layout.len())
}
