use object::elf::{EM_PPC, ET_EXEC, EV_CURRENT, FileHeader32, Ident, NoteHeader32, PF_R, PT_NOTE, ProgramHeader32, SHF_ALLOC, SHT_NOTE, SectionHeader32};
use object::pod::{bytes_of, bytes_of_slice};
use object::{U16, U32};

use super::*;
use crate::testing::XorShift;

const NOTE_OFFSET: u32 = 52 + 2 * 32;

/// An ELF32 executable in byte order `endian`: a PT_LOAD over the whole file, a PT_NOTE
/// holding `notes` (already laid out), and sections: null, `.note.test` over the notes and
/// `.shstrtab`, whose table ends the file.
fn elf32(endian: Endianness, notes: &[u8], note_align: u32) -> Vec<u8> {
    let (u16, u32) = (|v| U16::new(endian, v), |v| U32::new(endian, v));
    let names = b"\0.note.test\0.shstrtab\0";
    let names_offset = NOTE_OFFSET + notes.len() as u32;
    let sections_offset = (names_offset + names.len() as u32).next_multiple_of(4);
    let end = sections_offset + 3 * 40;
    let segment = |kind, offset, size, align| ProgramHeader32 {
        p_type: u32(kind),
        p_offset: u32(offset),
        p_vaddr: u32(0x10000 + offset),
        p_paddr: u32(0x10000 + offset),
        p_filesz: u32(size),
        p_memsz: u32(size),
        p_flags: u32(PF_R),
        p_align: u32(align),
    };
    let segments = [segment(PT_LOAD, 0, end, 0x1000), segment(PT_NOTE, NOTE_OFFSET, notes.len() as u32, note_align)];
    let section = |name, kind, flags, offset, size| SectionHeader32 {
        sh_name: u32(name),
        sh_type: u32(kind),
        sh_flags: u32(flags),
        sh_addr: u32(if flags == 0 { 0 } else { 0x10000 + offset }),
        sh_offset: u32(offset),
        sh_size: u32(size),
        sh_link: u32(0),
        sh_info: u32(0),
        sh_addralign: u32(1),
        sh_entsize: u32(0),
    };
    let sections = [section(0, 0, 0, 0, 0), section(1, SHT_NOTE, SHF_ALLOC, NOTE_OFFSET, notes.len() as u32), section(12, SHT_STRTAB, 0, names_offset, names.len() as u32)];
    let data = if endian == Endianness::Big { ELFDATA2MSB } else { ELFDATA2LSB };
    let header = FileHeader32 {
        e_ident: Ident { magic: ELFMAG, class: object::elf::ELFCLASS32, data, version: EV_CURRENT, os_abi: 0, abi_version: 0, padding: [0; 7] },
        e_type: u16(ET_EXEC),
        e_machine: u16(EM_PPC),
        e_version: u32(1),
        e_entry: u32(0x10000),
        e_phoff: u32(52),
        e_shoff: u32(sections_offset),
        e_flags: u32(0),
        e_ehsize: u16(52),
        e_phentsize: u16(32),
        e_phnum: u16(2),
        e_shentsize: u16(40),
        e_shnum: u16(3),
        e_shstrndx: u16(2),
    };
    let mut image = [bytes_of(&header), bytes_of_slice(&segments), notes, names].concat();
    image.resize(sections_offset as usize, 0);
    image.extend_from_slice(bytes_of_slice(&sections));
    image
}

/// One note: header, name (with its NUL) and descriptor, each padded to `padding`.
fn note(endian: Endianness, name: &[u8], desc: &[u8], padding: usize) -> Vec<u8> {
    let header = NoteHeader32 { n_namesz: U32::new(endian, name.len() as u32), n_descsz: U32::new(endian, desc.len() as u32), n_type: U32::new(endian, 1) };
    let mut bytes = bytes_of(&header).to_vec();
    bytes.extend_from_slice(name);
    bytes.resize(bytes.len().next_multiple_of(padding), 0);
    bytes.extend_from_slice(desc);
    bytes.resize(bytes.len().next_multiple_of(padding), 0);
    bytes
}

#[test]
fn reads_elf64_in_either_byte_order() {
    for endian in [Endianness::Little, Endianness::Big] {
        let image = tiny_elf64(endian);
        let elf = Elf64::parse(&image).unwrap();
        assert_eq!(elf.endian(), endian);
        assert_eq!(elf.header().e_machine(endian), object::elf::EM_X86_64);
        let [load] = elf.segments() else { panic!("one segment") };
        assert_eq!((load.p_type(endian), load.p_vaddr(endian), load.p_filesz(endian)), (PT_LOAD, 0x400000, 0x100));
        assert!(elf.sections().is_empty() && elf.section_names_index().is_none());
        assert!(elf.is_mapped(load));
        assert_eq!(elf.segment_data(load), Some(&image[..]));
    }
}

#[test]
fn reads_elf32_sections_names_and_notes_in_either_byte_order() {
    for endian in [Endianness::Big, Endianness::Little] {
        let notes = [note(endian, b"GNU\0", &[1, 2, 3, 4, 5], 4), note(endian, b"NAME\0", b"abc", 4)].concat();
        let image = elf32(endian, &notes, 4);
        let elf = Elf32::parse(&image).unwrap();
        assert_eq!(elf.sections().len(), 3);
        assert_eq!(elf.section_names_index(), Some(2));
        let names: Vec<_> = elf.sections().iter().map(|section| elf.section_name(section)).collect();
        assert_eq!(names, [Some(&b""[..]), Some(b".note.test"), Some(b".shstrtab")]);
        let note_section = elf.section_named(".note.test").unwrap();
        assert_eq!(elf.section_data(1).unwrap(), &notes[..]);
        assert_eq!(note_section.sh_flags(endian), SHF_ALLOC);

        let segment = &elf.segments()[1];
        assert!(elf.is_mapped(segment));
        let found: Vec<Note> = elf.notes(segment).unwrap().collect();
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].position, found[0].name, found[0].desc), (0, Some(&b"GNU\0"[..]), Some(&[1, 2, 3, 4, 5][..])));
        assert_eq!((found[1].position, found[1].name, found[1].desc_len, found[1].desc), (24, Some(&b"NAME\0"[..]), 3, Some(&b"abc"[..])));
    }
}

#[test]
fn notes_are_padded_by_the_segment_alignment() {
    let endian = Endianness::Little;
    // With p_align 8 the descriptor after a 5-byte name starts at 24, not 20.
    let notes = note(endian, b"NAME\0", b"12345678", 8);
    let image = elf32(endian, &notes, 8);
    let elf = Elf32::parse(&image).unwrap();
    let found: Vec<Note> = elf.notes(&elf.segments()[1]).unwrap().collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].desc, Some(&b"12345678"[..]));

    // Read with 4-byte padding, the same bytes give another descriptor start.
    let image = elf32(endian, &notes, 4);
    let elf = Elf32::parse(&image).unwrap();
    let first = elf.notes(&elf.segments()[1]).unwrap().next().unwrap();
    assert_eq!(first.desc, Some(&notes[20..28]));
}

#[test]
fn a_note_running_past_its_segment_is_reported_not_skipped() {
    let endian = Endianness::Big;
    let mut notes = note(endian, b"NAME\0", b"abcd", 4);
    // Announce more descriptor than the segment holds.
    notes[4..8].copy_from_slice(&1000u32.to_be_bytes());
    let image = elf32(endian, &notes, 4);
    let elf = Elf32::parse(&image).unwrap();
    let found: Vec<Note> = elf.notes(&elf.segments()[1]).unwrap().collect();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].name, found[0].desc_len, found[0].desc), (Some(&b"NAME\0"[..]), 1000, None));
}

#[test]
fn refuses_what_it_cannot_read() {
    let image = tiny_elf64(Endianness::Little);
    let error = |bytes: &[u8]| Elf64::parse(bytes).unwrap_err().to_string();
    assert!(error(&image[..63]).contains("shorter than an ELF64 header (64 bytes)"));
    assert!(Elf32::parse(&image[..51]).unwrap_err().to_string().contains("shorter than an ELF32 header (52 bytes)"));
    assert!(error(b"MZ and then some bytes, enough to fill an ELF64 header, which is 64 long").contains("not an ELF file"));
    let elf32_image = elf32(Endianness::Big, &note(Endianness::Big, b"A\0", b"", 4), 4);
    assert!(error(&elf32_image).contains("class is 1, not ELF64"));
    assert!(Elf32::parse(&image).unwrap_err().to_string().contains("class is 2, not ELF32"));

    let patched = |at: usize, bytes: &[u8]| {
        let mut copy = image.clone();
        copy[at..at + bytes.len()].copy_from_slice(bytes);
        copy
    };
    assert!(error(&patched(5, &[0])).contains("unknown ELF data encoding 0"));
    assert!(error(&patched(56, &PN_XNUM.to_le_bytes())).contains("extended program header numbering"));
    assert!(error(&patched(54, &32u16.to_le_bytes())).contains("e_phentsize is 32, expected 56 for ELF64"));
    assert!(error(&patched(32, &0xf0u64.to_le_bytes())).contains("program header table (1 entries at offset 0xf0) lies past the end"));
    // Section headers announced at e_shoff.
    let with_sections = patched(40, &0x40u64.to_le_bytes());
    assert!(error(&with_sections).contains("extended section numbering (e_shnum = 0"));
    let with_sections = [&with_sections[..58], &64u16.to_le_bytes(), &5u16.to_le_bytes(), &[0, 0]].concat();
    let with_sections = [&with_sections[..], &image[64..]].concat();
    assert!(error(&with_sections).contains("section header table (5 entries at offset 0x40) lies past the end"));
    let mut wrong_size = with_sections.clone();
    wrong_size[58] = 40;
    assert!(error(&wrong_size).contains("e_shentsize is 40, expected 64"));
    let mut xindex = with_sections.clone();
    xindex[62..64].copy_from_slice(&SHN_XINDEX.to_le_bytes());
    assert!(error(&xindex).contains("e_shstrndx = SHN_XINDEX"));
}

#[test]
fn damaged_images_never_panic() {
    let endian = Endianness::Big;
    let notes = [note(endian, b"GNU\0", &[9; 7], 4), note(endian, b"NAME\0", b"abc", 4)].concat();
    let image = elf32(endian, &notes, 4);
    let exercise = |bytes: &[u8]| {
        if let Ok(elf) = Elf32::parse(bytes) {
            for segment in elf.segments() {
                let _ = elf.is_mapped(segment);
                if let Some(notes) = elf.notes(segment) {
                    assert!(notes.take(1000).count() < 1000, "notes end");
                }
            }
            for (index, section) in elf.sections().iter().enumerate() {
                let _ = (elf.section_name(section), elf.section_data(index));
            }
            let _ = elf.section_named(".shstrtab");
        }
    };
    for len in 0..image.len() {
        exercise(&image[..len]);
    }
    let mut random = XorShift(0x2545_f491_4f6c_dd1du64);
    for _ in 0..3000 {
        let mut copy = image.clone();
        for _ in 0..3 {
            let state = random.next_u64();
            let at = (state >> 8) as usize % copy.len();
            copy[at] = (state >> 40) as u8;
        }
        exercise(&copy);
    }
}
