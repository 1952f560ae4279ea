//! Leaving node's static symbol table and debug sections out of a Linux SEA (`strip = true`),
//! in the same pass as the injection.
//!
//! Official node binaries keep `.symtab`, its `.strtab` and `.debug_*` (about 18 MB of node
//! 24's 126 MB). Nothing at run time reads them: they are not allocated, and they lie in the
//! file after every segment. [`plan`] finds them and returns what the injector needs to leave
//! them out: the byte ranges of the base image to skip and the section headers that remain,
//! with their offsets moved down and their section links renumbered. The injector then copies
//! the rest as it always does and writes its new section header table from these headers.
//!
//! What is left out:
//! - the `SHT_SYMTAB` section, and the string table it links to when nothing else uses it;
//! - every section named `.debug*` or `.zdebug*`;
//! - relocation sections that apply to, or use symbols of, a section left out.
//!
//! Only sections that are not allocated, lie in the file after the end of every segment and
//! come after every allocated section in the section table are left out. The last rule keeps
//! the section indices that `.dynsym` refers to (its `st_shndx`) valid; a binary that breaks
//! one of these rules is refused with an error, never half stripped.

use std::ops::Range;

use anyhow::{Result, bail};
use object::Endianness;
use object::elf::{ELFCLASS64, ELFDATA2LSB, SHF_ALLOC, SHF_INFO_LINK, SHT_GROUP, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_STRTAB, SHT_SYMTAB, SHT_SYMTAB_SHNDX, SectionHeader64};

use crate::elf::{Elf64, FileHeader as _, ProgramHeader as _, SectionHeader as _};

/// A section header of the 64-bit images stripped here.
type Section = SectionHeader64<Endianness>;

/// A section [`plan`] leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedSection {
    /// Its name, as the section name table spells it.
    pub name: String,
    /// Its index in the base image's section table.
    pub index: usize,
    /// Its size in the file.
    pub size: u64,
}

/// What leaving the symbol tables and debug sections out of one ELF image takes.
///
/// ```
/// use sea_build::inject::elf_strip::StripPlan;
/// // Nothing skipped: offsets and indices stay.
/// let plan = StripPlan::default();
/// assert_eq!(plan.new_offset(0x1234), 0x1234);
/// assert_eq!(plan.kept_ranges(0..10).collect::<Vec<_>>(), [0..10]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StripPlan {
    /// Byte ranges of the base image left out, ascending and disjoint.
    skipped: Vec<Range<u64>>,
    /// The section headers that remain, in order, with new offsets and links.
    sections: Vec<Section>,
    /// Base index → index in `sections`, `None` for the sections left out.
    indices: Vec<Option<usize>>,
    /// The sections left out.
    removed: Vec<RemovedSection>,
}

impl StripPlan {
    /// The byte ranges of the base image left out, ascending and disjoint.
    pub fn skipped(&self) -> &[Range<u64>] {
        &self.skipped
    }

    /// How many bytes of the base image are left out.
    pub fn skipped_len(&self) -> u64 {
        self.skipped.iter().map(|range| range.end - range.start).sum()
    }

    /// The sections left out, in section table order.
    pub fn removed(&self) -> &[RemovedSection] {
        &self.removed
    }

    /// The section headers that remain, edited for the stripped file.
    pub fn sections(&self) -> &[SectionHeader64<Endianness>] {
        &self.sections
    }

    /// The index in the stripped section table of the base image's section `index`; `None`
    /// when that section is left out (or there is none).
    pub fn new_index(&self, index: usize) -> Option<usize> {
        match self.indices.get(index) {
            Some(new) => *new,
            // A plan with no sections (the default) renumbers nothing.
            None if self.indices.is_empty() => Some(index),
            None => None,
        }
    }

    /// Where the byte at `offset` of the base image lands in the stripped file (an offset
    /// inside a skipped range lands where that range was).
    pub fn new_offset(&self, offset: u64) -> u64 {
        let before: u64 = self.skipped.iter().take_while(|range| range.start < offset).map(|range| range.end.min(offset) - range.start).sum();
        offset - before
    }

    /// The parts of `range` (of the base image) that are kept, in order.
    pub fn kept_ranges(&self, range: Range<u64>) -> impl Iterator<Item = Range<u64>> + '_ {
        let mut at = range.start;
        let end = range.end;
        let mut skipped = self.skipped.iter().filter(move |skip| skip.end > range.start && skip.start < range.end);
        std::iter::from_fn(move || {
            while at < end {
                match skipped.next() {
                    Some(skip) if skip.start <= at => at = at.max(skip.end),
                    Some(skip) => {
                        let kept = at..skip.start;
                        at = skip.end;
                        return Some(kept);
                    }
                    None => {
                        let kept = at..end;
                        at = end;
                        return Some(kept);
                    }
                }
            }
            None
        })
    }
}

/// Plans leaving the static symbol table and the debug sections of `image` out (see the
/// [module docs](self)). An image without any plans nothing: an empty [`StripPlan::skipped`].
///
/// Errors name what stands in the way; the fix is always to build with `strip = false`.
///
/// ```
/// // Not an ELF file:
/// assert!(sea_build::inject::elf_strip::plan(b"MZ\x90\x00").is_err());
/// ```
pub fn plan(image: &[u8]) -> Result<StripPlan> {
    let refuse = |why: String| anyhow::anyhow!("cannot leave the symbol tables out (`strip = true`): {why}; build with `strip = false`");
    let elf = Elf64::parse(image).map_err(|error| refuse(format!("unreadable ELF file ({error})")))?;
    let ident = elf.header().e_ident();
    if ident.class != ELFCLASS64 || ident.data != ELFDATA2LSB {
        bail!(refuse("not a 64-bit little-endian ELF file".into()));
    }
    let endian = elf.endian();
    let headers = elf.sections();
    if headers.is_empty() {
        return Ok(StripPlan::default());
    }
    let name_of = |section: &Section| elf.section_name(section).map(|name| String::from_utf8_lossy(name).into_owned()).unwrap_or_default();
    let names_index = usize::from(elf.header().e_shstrndx(endian));
    if names_index == 0 || names_index >= headers.len() {
        bail!(refuse(format!("unreadable section table (e_shstrndx {names_index} names no section)")));
    }

    let mut removed = vec![false; headers.len()];
    for (index, section) in headers.iter().enumerate().skip(1) {
        let name = name_of(section);
        let debug = name.starts_with(".debug") || name.starts_with(".zdebug");
        if section.sh_flags(endian) & u64::from(SHF_ALLOC) == 0 && (debug || section.sh_type(endian) == SHT_SYMTAB) {
            removed[index] = true;
        }
    }
    // The symbol table's own string table, and its extended index table, go with it unless
    // something that stays uses them.
    let linked_from_removed: Vec<usize> =
        headers.iter().enumerate().filter(|(index, section)| removed[*index] && section.sh_type(endian) == SHT_SYMTAB).map(|(_, section)| section.sh_link(endian) as usize).collect();
    for strings in linked_from_removed {
        let Some(section) = headers.get(strings) else { continue };
        let used_elsewhere = headers.iter().enumerate().any(|(index, other)| !removed[index] && index != strings && other.sh_link(endian) as usize == strings);
        if strings != 0 && strings != names_index && section.sh_type(endian) == SHT_STRTAB && section.sh_flags(endian) & u64::from(SHF_ALLOC) == 0 && !used_elsewhere {
            removed[strings] = true;
        }
    }
    for (index, section) in headers.iter().enumerate() {
        if section.sh_type(endian) == SHT_SYMTAB_SHNDX && removed.get(section.sh_link(endian) as usize) == Some(&true) {
            removed[index] = true;
        }
    }
    // Relocations of or against what is left out (relocatable debug info) go too.
    for (index, section) in headers.iter().enumerate() {
        let kind = section.sh_type(endian);
        if (kind == SHT_REL || kind == SHT_RELA) && section.sh_flags(endian) & u64::from(SHF_ALLOC) == 0 {
            let gone = |link: u32| removed.get(link as usize) == Some(&true) && link != 0;
            if gone(section.sh_link(endian)) || gone(section.sh_info(endian)) {
                removed[index] = true;
            }
        }
    }
    if !removed.contains(&true) {
        return Ok(StripPlan { indices: (0..headers.len()).map(Some).collect(), sections: headers.to_vec(), ..StripPlan::default() });
    }

    // What stays must not refer to what goes, by index.
    if let Some(group) = headers.iter().find(|section| section.sh_type(endian) == SHT_GROUP) {
        bail!(refuse(format!("it has a section group ({}), whose members are named by index", name_of(group))));
    }
    let last_allocated = headers.iter().rposition(|section| section.sh_flags(endian) & u64::from(SHF_ALLOC) != 0).unwrap_or(0);
    if let Some(first) = removed.iter().position(|&gone| gone).filter(|&first| first < last_allocated) {
        bail!(refuse(format!(
            "section {first} ({}) comes before the allocated section {last_allocated} ({}) in the section table, so leaving it out would renumber sections the dynamic symbols refer to",
            name_of(&headers[first]),
            name_of(&headers[last_allocated])
        )));
    }
    for (index, section) in headers.iter().enumerate().filter(|(index, _)| !removed[*index]) {
        let kind = section.sh_type(endian);
        let info_is_index = kind == SHT_REL || kind == SHT_RELA || section.sh_flags(endian) & u64::from(SHF_INFO_LINK) != 0;
        for (what, target) in [("links to", section.sh_link(endian)), ("applies to", if info_is_index { section.sh_info(endian) } else { 0 })] {
            if target != 0 && removed.get(target as usize) == Some(&true) {
                bail!(refuse(format!("section {index} ({}) {what} section {target} ({}), which would be left out", name_of(section), name_of(&headers[target as usize]))));
            }
        }
    }

    // Nothing that is loaded may move: every segment's bytes end before the first byte left
    // out.
    let segments_end = elf.segments().iter().map(|segment| segment.p_offset(endian).saturating_add(segment.p_filesz(endian))).max().unwrap_or(0);
    let file_range = |section: &Section| -> Option<Range<u64>> {
        let (offset, size) = (section.sh_offset(endian), section.sh_size(endian));
        (section.sh_type(endian) != SHT_NOBITS && size != 0).then(|| offset..offset.saturating_add(size))
    };
    let mut in_file: Vec<(usize, Range<u64>)> = headers.iter().enumerate().filter_map(|(index, section)| file_range(section).map(|range| (index, range))).collect();
    in_file.sort_by_key(|(index, range)| (range.start, *index));
    for (index, range) in &in_file {
        if range.end > image.len() as u64 {
            bail!(refuse(format!("section {index} ({}) runs past the end of the file ({} bytes): the binary is truncated", name_of(&headers[*index]), image.len())));
        }
        if removed[*index] && range.start < segments_end {
            bail!(refuse(format!("section {index} ({}) lies inside a segment (the segments end at file offset {segments_end:#x})", name_of(&headers[*index]))));
        }
    }

    // Consecutive sections left out (in file order) become one skipped range. Each range
    // shrinks to a multiple of the largest alignment among the kept sections after it, so
    // every section that moves keeps its alignment.
    let mut skipped = Vec::new();
    let mut position = 0;
    while position < in_file.len() {
        if !removed[in_file[position].0] {
            position += 1;
            continue;
        }
        let start = in_file[position].1.start;
        let mut end = in_file[position].1.end;
        while position < in_file.len() && removed[in_file[position].0] {
            end = end.max(in_file[position].1.end);
            position += 1;
        }
        let alignment = in_file[position..].iter().filter(|(index, _)| !removed[*index]).map(|(index, _)| headers[*index].sh_addralign(endian).max(1)).max().unwrap_or(1);
        if !alignment.is_power_of_two() {
            bail!(refuse(format!("a section after the ones left out has an alignment of {alignment}, which is not a power of two")));
        }
        let len = (end - start) & !(alignment - 1);
        if len != 0 {
            skipped.push(start..start + len);
        }
    }
    let plan_offsets = StripPlan { skipped, ..StripPlan::default() };

    let mut indices = Vec::with_capacity(headers.len());
    let mut next = 0;
    for gone in &removed {
        indices.push((!gone).then(|| {
            next += 1;
            next - 1
        }));
    }
    let renumber = |target: u32| -> u32 { indices.get(target as usize).copied().flatten().map_or(target, |new| new as u32) };
    let mut kept = Vec::with_capacity(next);
    let mut removed_sections = Vec::new();
    for (index, section) in headers.iter().enumerate() {
        if removed[index] {
            removed_sections.push(RemovedSection { name: name_of(section), index, size: section.sh_size(endian) });
            continue;
        }
        let mut edited = *section;
        edited.sh_offset.set(endian, plan_offsets.new_offset(section.sh_offset(endian)));
        edited.sh_link.set(endian, renumber(section.sh_link(endian)));
        let kind = section.sh_type(endian);
        if kind == SHT_REL || kind == SHT_RELA || section.sh_flags(endian) & u64::from(SHF_INFO_LINK) != 0 {
            edited.sh_info.set(endian, renumber(section.sh_info(endian)));
        }
        kept.push(edited);
    }
    Ok(StripPlan { skipped: plan_offsets.skipped, sections: kept, indices, removed: removed_sections })
}

/// The sum of the file sizes of the sections [`plan`] would leave out of `image`: what a
/// stripped SEA saves, up to alignment.
///
/// ```
/// assert!(sea_build::inject::elf_strip::removable_len(b"not elf").is_err());
/// ```
pub fn removable_len(image: &[u8]) -> Result<u64> {
    plan(image).map(|plan| plan.removed().iter().map(|section| section.size).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;
    use object::elf::{EM_X86_64, ET_EXEC, PT_LOAD, SHT_DYNSYM, SHT_PROGBITS};

    struct Section {
        name: &'static str,
        kind: u32,
        flags: u64,
        size: u64,
        align: u64,
        link: u32,
    }

    /// An ELF64 executable with one PT_LOAD over its first 0x1000 bytes, the given sections
    /// laid out after the segment in order (each at its alignment), then `.shstrtab` and the
    /// section header table. Section bytes are filled with their index.
    fn synthetic(sections: &[Section]) -> Vec<u8> {
        let mut image = vec![0u8; 0x1000];
        let mut names = vec![0u8];
        let mut records: Vec<[u64; 8]> = vec![[0; 8]];
        let mut name_at = |name: &str| {
            let at = names.len() as u64;
            names.extend_from_slice(name.as_bytes());
            names.push(0);
            at
        };
        for (index, section) in sections.iter().enumerate() {
            let allocated = section.flags & u64::from(SHF_ALLOC) != 0;
            let offset = if allocated { 0x100 + 0x100 * index as u64 } else { (image.len() as u64).next_multiple_of(section.align.max(1)) };
            if !allocated {
                image.resize(offset as usize, 0xee);
                image.extend(std::iter::repeat_n(index as u8 + 1, section.size as usize));
            }
            records.push([name_at(section.name), u64::from(section.kind), section.flags, if allocated { 0x400000 + offset } else { 0 }, offset, section.size, u64::from(section.link), section.align]);
        }
        let names_name = name_at(".shstrtab");
        let names_offset = image.len() as u64;
        image.extend_from_slice(&names);
        records.push([names_name, u64::from(SHT_STRTAB), 0, 0, names_offset, names.len() as u64, 0, 1]);
        let table_offset = (image.len() as u64).next_multiple_of(8);
        image.resize(table_offset as usize, 0);
        for [name, kind, flags, addr, offset, size, link, align] in &records {
            for (value, width) in [(*name, 4), (*kind, 4), (*flags, 8), (*addr, 8), (*offset, 8), (*size, 8), (*link, 4), (0, 4), (*align, 8), (0, 8)] {
                image.extend_from_slice(&value.to_le_bytes()[..width]);
            }
        }
        let mut header = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        header.extend_from_slice(&ET_EXEC.to_le_bytes());
        header.extend_from_slice(&EM_X86_64.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(&0x400000u64.to_le_bytes());
        header.extend_from_slice(&64u64.to_le_bytes());
        header.extend_from_slice(&table_offset.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        for value in [64u16, 56, 1, 64, records.len() as u16, records.len() as u16 - 1] {
            header.extend_from_slice(&value.to_le_bytes());
        }
        // PT_LOAD, R+X, the first page.
        header.extend_from_slice(&PT_LOAD.to_le_bytes());
        header.extend_from_slice(&5u32.to_le_bytes());
        for value in [0u64, 0x400000, 0x400000, 0x1000, 0x1000, 0x1000] {
            header.extend_from_slice(&value.to_le_bytes());
        }
        image[..header.len()].copy_from_slice(&header);
        image
    }

    const ALLOC: u64 = SHF_ALLOC as u64;

    fn node_like() -> Vec<Section> {
        vec![
            Section { name: ".dynsym", kind: SHT_DYNSYM, flags: ALLOC, size: 0x30, align: 8, link: 2 },
            Section { name: ".dynstr", kind: SHT_STRTAB, flags: ALLOC, size: 0x10, align: 1, link: 0 },
            Section { name: ".comment", kind: SHT_PROGBITS, flags: 0, size: 0x13, align: 1, link: 0 },
            Section { name: ".debug_info", kind: SHT_PROGBITS, flags: 0, size: 0x101, align: 1, link: 0 },
            Section { name: ".debug_str", kind: SHT_PROGBITS, flags: 0, size: 0x33, align: 1, link: 0 },
            Section { name: ".symtab", kind: SHT_SYMTAB, flags: 0, size: 0x48, align: 8, link: 7 },
            Section { name: ".strtab", kind: SHT_STRTAB, flags: 0, size: 0x77, align: 1, link: 0 },
        ]
    }

    #[test]
    fn leaves_out_symbols_and_debug_info_and_renumbers_what_follows() {
        let image = synthetic(&node_like());
        let plan = plan(&image).unwrap();
        let names: Vec<&str> = plan.removed().iter().map(|section| section.name.as_str()).collect();
        assert_eq!(names, [".debug_info", ".debug_str", ".symtab", ".strtab"]);
        // One run from .debug_info to the end of .strtab, alignment padding included.
        assert_eq!(plan.skipped().len(), 1);
        let removed: u64 = plan.removed().iter().map(|section| section.size).sum();
        assert!(plan.skipped_len() >= removed && plan.skipped_len() < removed + 8, "{plan:?}");
        // null, .dynsym, .dynstr, .comment, .shstrtab.
        assert_eq!(plan.sections().len(), 5);
        assert_eq!(plan.new_index(8), Some(4));
        assert_eq!(plan.new_index(5), None);
        let endian = Endianness::Little;
        let names_section = &plan.sections()[4];
        let old_offset = Elf64::parse(&image).unwrap().sections()[8].sh_offset(endian);
        assert_eq!(names_section.sh_offset(endian), old_offset - plan.skipped_len());
        assert_eq!(plan.sections()[1].sh_link(endian), 2, ".dynsym still links to .dynstr");
        // Splicing the kept ranges puts .shstrtab's bytes where its new header says.
        let stripped: Vec<u8> = plan.kept_ranges(0..image.len() as u64).flat_map(|range| image[range.start as usize..range.end as usize].to_vec()).collect();
        let at = names_section.sh_offset(endian) as usize;
        assert_eq!(&stripped[at..at + 11], b"\0.dynsym\0.d");
        assert_eq!(stripped.len() as u64, image.len() as u64 - plan.skipped_len());
    }

    #[test]
    fn an_image_without_symbols_plans_nothing() {
        let sections: Vec<Section> = node_like().into_iter().filter(|section| !section.name.starts_with(".debug") && section.kind != SHT_SYMTAB && section.name != ".strtab").collect();
        let image = synthetic(&sections);
        let plan = plan(&image).unwrap();
        assert!(plan.skipped().is_empty() && plan.removed().is_empty());
        assert_eq!(plan.sections().len(), sections.len() + 2);
        assert_eq!(plan.new_index(3), Some(3));
    }

    #[test]
    fn moved_sections_keep_their_alignment() {
        let mut sections = node_like();
        sections.push(Section { name: ".note.kept", kind: SHT_PROGBITS, flags: 0, size: 0x20, align: 16, link: 0 });
        let image = synthetic(&sections);
        let plan = plan(&image).unwrap();
        assert_eq!(plan.skipped_len() % 16, 0);
        let note = plan.sections().iter().find(|section| section.sh_addralign(Endianness::Little) == 16).unwrap();
        assert_eq!(note.sh_offset(Endianness::Little) % 16, 0);
    }

    #[test]
    fn refuses_what_would_break_references() {
        // A kept section linking to .symtab.
        let mut sections = node_like();
        sections.push(Section { name: ".kept", kind: SHT_PROGBITS, flags: 0, size: 4, align: 1, link: 6 });
        let error = plan(&synthetic(&sections)).unwrap_err().to_string();
        assert!(error.contains("(.kept) links to section 6 (.symtab)") && error.contains("strip = false"), "{error}");

        // Debug info before an allocated section renumbers what .dynsym names.
        let mut sections = node_like();
        sections.swap(0, 3);
        let error = plan(&synthetic(&sections)).unwrap_err().to_string();
        assert!(error.contains("comes before the allocated section"), "{error}");
    }

    #[test]
    fn refuses_sections_inside_a_segment() {
        let mut image = synthetic(&node_like());
        // Grow the PT_LOAD's file size over the whole file.
        let size = (image.len() as u64).to_le_bytes();
        image[64 + 32..64 + 40].copy_from_slice(&size);
        let error = plan(&image).unwrap_err().to_string();
        assert!(error.contains("lies inside a segment"), "{error}");
    }

    #[test]
    fn kept_ranges_cut_out_the_skipped_ones() {
        let plan = StripPlan { skipped: vec![10..20, 30..40], ..StripPlan::default() };
        assert_eq!(plan.kept_ranges(0..50).collect::<Vec<_>>(), [0..10, 20..30, 40..50]);
        assert_eq!(plan.kept_ranges(15..35).collect::<Vec<_>>(), [std::ops::Range { start: 20, end: 30 }]);
        assert_eq!(plan.kept_ranges(12..18).count(), 0);
        assert_eq!(plan.new_offset(25), 15);
        assert_eq!(plan.new_offset(15), 10);
        assert_eq!(plan.new_offset(45), 25);
    }

    #[test]
    fn damaged_images_get_errors_not_panics() {
        let image = synthetic(&node_like());
        let mut random = XorShift(0x9e3779b97f4a7c15u64);
        for _ in 0..2000 {
            let mut copy = image.clone();
            for _ in 0..4 {
                let state = random.next_u64();
                // The ELF header and program header, or the section headers and names at the end.
                let tail = 0x300.min(copy.len());
                let at = if state & 1 == 0 { (state >> 8) as usize % 0x80 } else { copy.len() - 1 - (state >> 8) as usize % tail };
                copy[at] = (state >> 32) as u8;
            }
            let _ = plan(&copy);
        }
    }
}
