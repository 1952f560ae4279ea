//! ELF (Linux) byte formats: reading an image's headers, tables and notes, for injection and
//! stripping.
//!
//! The headers are `object`'s Pod types (`object::elf::FileHeader64`, `ProgramHeader64`,
//! `SectionHeader64`, `NoteHeader32` and their 32-bit twins) read in place, through `object`'s
//! traits ([`FileHeader`], [`ProgramHeader`], [`SectionHeader`]), in either byte order
//! ([`Endianness`] comes from the file's ident). Editing a header is copying the Pod struct,
//! setting its fields (`field.set(endian, value)`) and writing `object::pod::bytes_of` of it;
//! nothing here reads or writes header bytes by hand. Everything works on bytes in memory.
//!
//! ```text
//! | file header (52 or 64 bytes) | ... | program header table (e_phoff, e_phnum entries) |
//! | segments' and sections' contents ... | section header table (e_shoff, e_shnum entries) |
//! ```
//!
//! [`Elf::parse`] checks what every reader here relies on: the magic, class and byte order;
//! a program header table and, when `e_shoff` is not 0, a section header table of the
//! class's entry size that lie inside the file. Extended numbering (`e_phnum = PN_XNUM`,
//! `e_shnum = 0` or `e_shstrndx = SHN_XINDEX` with the real values in section 0) is refused:
//! no node binary needs it.
//!
//! Which classes, byte orders and machines a caller accepts is its own business; the
//! injector takes only what node ships (see [`crate::inject::elf`]).

use std::mem::size_of;
use std::ops::Range;

use anyhow::{Context, Result, bail};
use object::Endianness;
use object::elf::{ELFDATA2LSB, ELFDATA2MSB, ELFMAG, PN_XNUM, PT_LOAD, SHN_XINDEX, SHT_STRTAB};
pub use object::read::elf::{FileHeader, NoteHeader, ProgramHeader, SectionHeader};

/// An ELF64 image in either byte order: what node ships.
pub type Elf64<'a> = Elf<'a, object::elf::FileHeader64<Endianness>>;

/// An ELF32 image in either byte order.
pub type Elf32<'a> = Elf<'a, object::elf::FileHeader32<Endianness>>;

/// `32` or `64`: the class `H` reads, for messages.
fn bits<H: FileHeader>() -> u32 {
    if H::is_type_64_sized() { 64 } else { 32 }
}

/// The file header at the start of `data`, after checking only that it is long enough and
/// starts with ELF's magic number; [`Elf::parse`] checks the rest.
///
/// ```
/// use object::elf::FileHeader64;
/// let error = sea_build::elf::file_header::<FileHeader64<object::Endianness>>(b"\x7fELF").unwrap_err();
/// assert!(error.to_string().contains("shorter than an ELF64 header"));
/// ```
pub fn file_header<H: FileHeader>(data: &[u8]) -> Result<&H> {
    let Ok((header, _)) = object::pod::from_bytes::<H>(data) else {
        bail!("not an ELF executable: the file is {} bytes, shorter than an ELF{} header ({} bytes)", data.len(), bits::<H>(), size_of::<H>());
    };
    let magic = header.e_ident().magic;
    if magic != ELFMAG {
        bail!("not an ELF file (it starts with {magic:02x?}, ELF starts with 7f 45 4c 46): use a Linux node binary");
    }
    Ok(header)
}

/// A parsed ELF image: its file header and its program and section header tables, read in
/// place (nothing is copied).
///
/// ```
/// # let image = sea_build::elf::tiny_elf64(object::Endianness::Big);
/// use object::elf::PT_LOAD;
/// use sea_build::elf::{Elf64, ProgramHeader as _};
/// let elf = Elf64::parse(&image)?; // a minimal big-endian ELF64 executable
/// assert_eq!(elf.segments()[0].p_type(elf.endian()), PT_LOAD);
/// assert!(elf.sections().is_empty());
/// # anyhow::Ok(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Elf<'a, H: FileHeader<Endian = Endianness>> {
    data: &'a [u8],
    header: &'a H,
    endian: Endianness,
    segments: &'a [H::ProgramHeader],
    sections: &'a [H::SectionHeader],
}

impl<'a, H: FileHeader<Endian = Endianness>> Elf<'a, H> {
    /// Parses `data` as an image of `H`'s class (see the [module docs](self) for what is
    /// checked). Errors say what is wrong: not ELF, another class, an unknown byte order,
    /// extended numbering, a wrong entry size, or a table past the end of the file.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let header = file_header::<H>(data)?;
        let class = header.e_ident().class;
        if (H::is_type_64_sized() && !header.is_class_64()) || (!H::is_type_64_sized() && !header.is_class_32()) {
            bail!("the ELF class is {class}, not ELF{}: read the file with the other class", bits::<H>());
        }
        let endian = match header.e_ident().data {
            ELFDATA2LSB => Endianness::Little,
            ELFDATA2MSB => Endianness::Big,
            other => bail!("unknown ELF data encoding {other}: the header is damaged"),
        };
        let segments = Self::program_table(data, header, endian)?;
        let sections = Self::section_table(data, header, endian)?;
        Ok(Elf { data, header, endian, segments, sections })
    }

    fn program_table(data: &'a [u8], header: &H, endian: Endianness) -> Result<&'a [H::ProgramHeader]> {
        let count = header.e_phnum(endian);
        if count == PN_XNUM {
            bail!("extended program header numbering (e_phnum = {PN_XNUM:#x}) is not supported");
        }
        let entry_len = size_of::<H::ProgramHeader>();
        if usize::from(header.e_phentsize(endian)) != entry_len {
            bail!("e_phentsize is {}, expected {entry_len} for ELF{}: the header is damaged", header.e_phentsize(endian), bits::<H>());
        }
        let offset: u64 = header.e_phoff(endian).into();
        table(data, offset, count)
            .with_context(|| format!("the program header table ({count} entries at offset {offset:#x}) lies past the end of the file ({} bytes): the binary is truncated", data.len()))
    }

    fn section_table(data: &'a [u8], header: &H, endian: Endianness) -> Result<&'a [H::SectionHeader]> {
        let offset: u64 = header.e_shoff(endian).into();
        if offset == 0 {
            return Ok(&[]);
        }
        let count = header.e_shnum(endian);
        if count == 0 {
            bail!("extended section numbering (e_shnum = 0 with e_shoff {offset:#x}) is not supported");
        }
        let entry_len = size_of::<H::SectionHeader>();
        if usize::from(header.e_shentsize(endian)) != entry_len {
            bail!("e_shentsize is {}, expected {entry_len} for ELF{}: the header is damaged", header.e_shentsize(endian), bits::<H>());
        }
        if header.e_shstrndx(endian) == SHN_XINDEX {
            bail!("extended section numbering (e_shstrndx = SHN_XINDEX) is not supported");
        }
        table(data, offset, count)
            .with_context(|| format!("the section header table ({count} entries at offset {offset:#x}) lies past the end of the file ({} bytes): the binary is truncated", data.len()))
    }

    /// The image's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The file header.
    pub fn header(&self) -> &'a H {
        self.header
    }

    /// The image's byte order.
    pub fn endian(&self) -> Endianness {
        self.endian
    }

    /// The program headers, in table order.
    pub fn segments(&self) -> &'a [H::ProgramHeader] {
        self.segments
    }

    /// The section headers, in table order (section 0, the null section, included); empty
    /// when the image has none.
    pub fn sections(&self) -> &'a [H::SectionHeader] {
        self.sections
    }

    /// True when a PT_LOAD maps `segment`'s file bytes at `segment`'s addresses, which is
    /// what a program reading its own headers in memory (node looking for its blob) sees.
    pub fn is_mapped(&self, segment: &H::ProgramHeader) -> bool {
        let e = self.endian;
        let (offset, size) = segment.file_range(e);
        let Some(end) = offset.checked_add(size) else {
            return false;
        };
        let bias = |p: &H::ProgramHeader| p.p_vaddr(e).into().wrapping_sub(p.p_offset(e).into());
        self.segments.iter().any(|load| {
            let (load_offset, load_size) = load.file_range(e);
            load.p_type(e) == PT_LOAD && load_offset <= offset && load_offset.checked_add(load_size).is_some_and(|load_end| end <= load_end) && bias(load) == bias(segment)
        })
    }

    /// The bytes of `segment` in the file, `None` when they lie past its end.
    pub fn segment_data(&self, segment: &H::ProgramHeader) -> Option<&'a [u8]> {
        segment.data(self.endian, self.data).ok()
    }

    /// Index of the section name table, when `e_shstrndx` names a string table other than
    /// the null section.
    pub fn section_names_index(&self) -> Option<usize> {
        let index = usize::from(self.header.e_shstrndx(self.endian));
        let names = self.sections.get(index)?;
        (index != 0 && names.sh_type(self.endian) == SHT_STRTAB).then_some(index)
    }

    /// The file bytes of section `index`. Errors when there is no such section or its
    /// bytes lie past the end of the file.
    pub fn section_data(&self, index: usize) -> Result<&'a [u8]> {
        let section = self.sections.get(index).with_context(|| format!("no section {index}"))?;
        let (offset, size) = (section.sh_offset(self.endian).into(), section.sh_size(self.endian).into());
        range(offset, size)
            .and_then(|range| self.data.get(range))
            .with_context(|| format!("section {index} ({size:#x} bytes at offset {offset:#x}) lies past the end of the file ({} bytes): the binary is truncated", self.data.len()))
    }

    /// The name of `section`, without its NUL, from the section name table; `None` without
    /// a readable table or a NUL-terminated name in it.
    pub fn section_name(&self, section: &H::SectionHeader) -> Option<&'a [u8]> {
        let names = self.section_data(self.section_names_index()?).ok()?;
        let rest = names.get(usize::try_from(section.sh_name(self.endian)).ok()?..)?;
        rest.split_inclusive(|&byte| byte == 0).next().and_then(|name| name.strip_suffix(&[0]))
    }

    /// The first section named `name`.
    pub fn section_named(&self, name: &str) -> Option<&'a H::SectionHeader> {
        self.sections.iter().find(|section| self.section_name(section) == Some(name.as_bytes()))
    }

    /// The notes of the PT_NOTE `segment`, padded by its `p_align` as readers in memory pad
    /// them (8 when it is 8, else 4); `None` when its bytes lie past the end of the file.
    pub fn notes(&self, segment: &H::ProgramHeader) -> Option<Notes<'a, H>> {
        let padding = if segment.p_align(self.endian).into() == 8 { 8 } else { 4 };
        Some(Notes { bytes: self.segment_data(segment)?, position: 0, padding, endian: self.endian, header: std::marker::PhantomData })
    }
}

/// The `count` entries of type `T` at `offset` of `data`, if they lie inside it.
fn table<T: object::Pod>(data: &[u8], offset: u64, count: u16) -> Option<&[T]> {
    let rest = data.get(usize::try_from(offset).ok()?..)?;
    object::pod::slice_from_bytes(rest, usize::from(count)).ok().map(|(entries, _)| entries)
}

/// `offset..offset + len` as indices, `None` when it does not fit.
fn range(offset: u64, len: u64) -> Option<Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    Some(start..start.checked_add(usize::try_from(len).ok()?)?)
}

/// Rounds `value` up to a multiple of the power of two `alignment`; `None` on overflow.
pub fn align_up(value: u64, alignment: u64) -> Option<u64> {
    Some(value.checked_add(alignment - 1)? & !(alignment - 1))
}

/// [`align_up`] for sizes in memory.
fn align_up_usize(value: usize, alignment: usize) -> Option<usize> {
    Some(value.checked_add(alignment - 1)? & !(alignment - 1))
}

/// One note of a PT_NOTE segment, as [`Notes`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note<'a> {
    /// Where the note starts, from the start of its segment.
    pub position: usize,
    /// The name, `n_namesz` bytes (its NUL included); `None` when it runs past the segment.
    pub name: Option<&'a [u8]>,
    /// `n_descsz`, what the note announces.
    pub desc_len: u32,
    /// The descriptor; `None` when it runs past the segment.
    pub desc: Option<&'a [u8]>,
}

/// The notes of a PT_NOTE segment ([`Elf::notes`]): each header that fits is read, even
/// when its name or descriptor runs past the segment, so a caller can tell a damaged note
/// it cares about from the end of the list.
#[derive(Debug, Clone)]
pub struct Notes<'a, H: FileHeader> {
    bytes: &'a [u8],
    position: usize,
    padding: usize,
    endian: Endianness,
    header: std::marker::PhantomData<H>,
}

impl<'a, H: FileHeader<Endian = Endianness>> Iterator for Notes<'a, H> {
    type Item = Note<'a>;

    fn next(&mut self) -> Option<Note<'a>> {
        let position = self.position;
        let (header, _) = object::pod::from_bytes::<H::NoteHeader>(self.bytes.get(position..)?).ok()?;
        let (name_len, desc_len) = (header.n_namesz(self.endian), header.n_descsz(self.endian));
        let name_start = position + size_of::<H::NoteHeader>();
        let name_end = name_start.checked_add(name_len as usize);
        let desc_start = name_end.and_then(|end| align_up_usize(end, self.padding));
        let desc_end = desc_start.and_then(|start| start.checked_add(desc_len as usize));
        let slice = |start: Option<usize>, end: Option<usize>| start.zip(end).and_then(|(start, end)| self.bytes.get(start..end));
        // A next position that does not advance (on overflow) ends the list.
        self.position = match desc_end.and_then(|end| align_up_usize(end, self.padding)) {
            Some(next) if next > position => next,
            _ => usize::MAX,
        };
        Some(Note { position, name: slice(Some(name_start), name_end), desc_len, desc: slice(desc_start, desc_end) })
    }
}

/// A minimal ELF64 x86_64 executable in byte order `endian`: one PT_LOAD over its first 0x100
/// bytes, no sections. For doc examples and tests.
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub fn tiny_elf64(endian: Endianness) -> Vec<u8> {
    use object::elf::{EM_X86_64, ET_EXEC, EV_CURRENT, FileHeader64, Ident, PF_R, PF_X, ProgramHeader64};
    use object::{U16, U32, U64};
    let data = if endian == Endianness::Little { ELFDATA2LSB } else { ELFDATA2MSB };
    let ident = Ident { magic: ELFMAG, class: object::elf::ELFCLASS64, data, version: EV_CURRENT, os_abi: 0, abi_version: 0, padding: [0; 7] };
    let (u16, u32, u64) = (|v| U16::new(endian, v), |v| U32::new(endian, v), |v| U64::new(endian, v));
    let header = FileHeader64 {
        e_ident: ident,
        e_type: u16(ET_EXEC),
        e_machine: u16(EM_X86_64),
        e_version: u32(EV_CURRENT.into()),
        e_entry: u64(0x400078),
        e_phoff: u64(64),
        e_shoff: u64(0),
        e_flags: u32(0),
        e_ehsize: u16(64),
        e_phentsize: u16(56),
        e_phnum: u16(1),
        e_shentsize: u16(64),
        e_shnum: u16(0),
        e_shstrndx: u16(0),
    };
    let load = ProgramHeader64 {
        p_type: u32(PT_LOAD),
        p_flags: u32(PF_R | PF_X),
        p_offset: u64(0),
        p_vaddr: u64(0x400000),
        p_paddr: u64(0x400000),
        p_filesz: u64(0x100),
        p_memsz: u64(0x100),
        p_align: u64(0x1000),
    };
    let mut image = [object::pod::bytes_of(&header), object::pod::bytes_of(&load)].concat();
    image.resize(0x100, 0);
    image
}

#[cfg(test)]
mod tests;
