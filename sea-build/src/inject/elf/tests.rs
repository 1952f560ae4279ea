use super::*;
use crate::inject::fuse::FUSE_SENTINEL;
use crate::testing::XorShift;
use object::elf::{EV_CURRENT, Ident};
use object::elf::{SHT_NOBITS, SHT_PROGBITS};
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
    let mut random = XorShift(0x2545_f491_4f6c_dd1du64);
    let mut next = || random.next_u64();
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
