//! Small hand-built Mach-O images for doc examples and tests (the `test-support` feature;
//! not a public API).

use object::macho::*;
use object::pod::bytes_of;
use object::{BigEndian, LittleEndian as Le, U32, U64};

use crate::inject::fuse::FUSE_SENTINEL;

/// Chained fixups in [`image`]'s `__LINKEDIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixups {
    /// No `LC_DYLD_CHAINED_FIXUPS`.
    None,
    /// Fixups whose starts table is directly followed by the first segment's starts.
    Tight,
    /// Fixups with 8 spare bytes after the starts table.
    Spare,
}

/// Options for [`image`].
#[derive(Debug, Clone)]
pub struct Options {
    /// `CPU_TYPE_ARM64` or `CPU_TYPE_X86_64`.
    pub cputype: u32,
    /// Bytes of free space after the load commands.
    pub header_room: u32,
    /// Append an `LC_CODE_SIGNATURE` with this many bytes of signature data.
    pub signature: Option<u32>,
    /// Contents put at the start of `__text` (e.g. the fuse); at most 64 bytes.
    pub text: Vec<u8>,
    /// Chained fixups at the start of `__LINKEDIT`.
    pub fixups: Fixups,
}

impl Default for Options {
    fn default() -> Self {
        Options { cputype: CPU_TYPE_ARM64, header_room: 512, signature: None, text: Vec::new(), fixups: Fixups::None }
    }
}

/// A minimal arm64 executable: `__PAGEZERO`, `__TEXT` (one section), `__LINKEDIT` with
/// a function-starts blob, two symbols and a string table.
pub fn tiny_image() -> Vec<u8> {
    image(Options::default())
}

/// [`tiny_image`] for `cputype` with the unset fuse in `__text`: injectable.
pub fn node_like(cputype: u32) -> Vec<u8> {
    image(Options { cputype, text: format!("{FUSE_SENTINEL}:0").into_bytes(), ..Options::default() })
}

/// A universal file of thin `images`, each with lipo's alignment for its CPU type
/// (2^14 for arm64, 2^12 otherwise).
pub fn universal(images: &[&[u8]]) -> Vec<u8> {
    let entries = images
        .iter()
        .map(|image| {
            let cputype = u32::from_le_bytes([image[4], image[5], image[6], image[7]]);
            let arm = cputype == CPU_TYPE_ARM64;
            super::FatEntry { cputype, cpusubtype: if arm { 0 } else { 3 }, align: if arm { 14 } else { 12 }, size: image.len() as u64 }
        })
        .collect();
    let layout = super::FatLayout::new(entries).expect("a valid layout");
    let mut fat = Vec::new();
    layout.write_to(&mut fat, |index, out| Ok(out.write_all(images[index])?)).expect("writing to a vector");
    fat
}

fn name16(name: &str) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

fn segment(name: &str, vm: (u64, u64), file: (u64, u64), nsects: u32, prot: u32) -> SegmentCommand64<Le> {
    SegmentCommand64 {
        cmd: U32::new(Le, LC_SEGMENT_64),
        cmdsize: U32::new(Le, 72 + 80 * nsects),
        segname: name16(name),
        vmaddr: U64::new(Le, vm.0),
        vmsize: U64::new(Le, vm.1),
        fileoff: U64::new(Le, file.0),
        filesize: U64::new(Le, file.1),
        maxprot: U32::new(Le, prot),
        initprot: U32::new(Le, prot),
        nsects: U32::new(Le, nsects),
        flags: U32::new(Le, 0),
    }
}

fn linkedit_data(cmd: u32, offset: u64, size: u64) -> LinkeditDataCommand<Le> {
    LinkeditDataCommand { cmd: U32::new(Le, cmd), cmdsize: U32::new(Le, 16), dataoff: U32::new(Le, offset as u32), datasize: U32::new(Le, size as u32) }
}

/// A chained-fixups blob for three segments with starts for segment 1.
fn fixups_blob(spare: bool) -> Vec<u8> {
    let mut blob = Vec::new();
    let starts = 32u32;
    let first = if spare { 24u32 } else { 16 };
    let imports = starts + first + 24;
    let symbols = imports + 4;
    for word in [0, starts, imports, symbols, 1, 1, 0] {
        blob.extend_from_slice(&u32::to_le_bytes(word));
    }
    blob.resize(starts as usize, 0);
    for word in [3, 0, first, 0] {
        blob.extend_from_slice(&u32::to_le_bytes(word));
    }
    blob.resize((starts + first) as usize, 0);
    // dyld_chained_starts_in_segment: size, page size, format, segment offset, max
    // pointer, page count, one page start (none).
    blob.extend_from_slice(&22u32.to_le_bytes());
    blob.extend_from_slice(&0x4000u16.to_le_bytes());
    blob.extend_from_slice(&6u16.to_le_bytes());
    blob.extend_from_slice(&0u64.to_le_bytes());
    blob.extend_from_slice(&0u32.to_le_bytes());
    blob.extend_from_slice(&1u16.to_le_bytes());
    blob.extend_from_slice(&0xffffu16.to_le_bytes());
    blob.resize(imports as usize, 0);
    blob.extend_from_slice(&(1u32 | (1 << 9)).to_le_bytes());
    blob.extend_from_slice(b"\0_puts\0");
    blob.resize(blob.len().next_multiple_of(8), 0);
    blob
}

/// A minimal executable shaped by `options` (see [`Options`]).
pub fn image(options: Options) -> Vec<u8> {
    let page: u64 = if options.cputype == CPU_TYPE_ARM64 { 0x4000 } else { 0x1000 };
    let base = 0x1_0000_0000u64;
    let fixups = match options.fixups {
        Fixups::None => None,
        Fixups::Tight => Some(fixups_blob(false)),
        Fixups::Spare => Some(fixups_blob(true)),
    };
    let text_len = page;
    // Commands are laid out first to know where __text starts.
    let commands_len = 72 + (72 + 80) + 72 + 24 + 16 + 24 + options.signature.map_or(0, |_| 16) + fixups.as_ref().map_or(0, |_| 16);
    let text_offset = u64::from(32 + commands_len + options.header_room);
    let linkedit_off = text_len;
    // __LINKEDIT: [chained fixups], function starts (8), symbols (2 x 16), strings (16),
    // [signature].
    let fixups_len = fixups.as_ref().map_or(0, |f| f.len() as u64);
    let starts_off = linkedit_off + fixups_len;
    let symoff = starts_off + 8;
    let stroff = symoff + 32;
    let strings: &[u8] = b" \0_main\0_other\0\0";
    let data_end = stroff + strings.len() as u64;
    let signature_off = data_end.next_multiple_of(16);
    let end = options.signature.map_or(data_end, |size| signature_off + u64::from(size));

    let mut commands: Vec<u8> = Vec::new();
    let mut ncmds = 0u32;
    let mut add = |bytes: &[u8]| {
        commands.extend_from_slice(bytes);
        ncmds += 1;
    };
    add(bytes_of(&segment("__PAGEZERO", (0, base), (0, 0), 0, 0)));
    let text_size = (text_len - text_offset).min(64);
    let mut text = bytes_of(&segment("__TEXT", (base, text_len), (0, text_len), 1, 5)).to_vec();
    text.extend_from_slice(bytes_of(&Section64 {
        sectname: name16("__text"),
        segname: name16("__TEXT"),
        addr: U64::new(Le, base + text_offset),
        size: U64::new(Le, text_size),
        offset: U32::new(Le, text_offset as u32),
        align: U32::new(Le, 2),
        reloff: U32::new(Le, 0),
        nreloc: U32::new(Le, 0),
        flags: U32::new(Le, S_ATTR_PURE_INSTRUCTIONS | S_ATTR_SOME_INSTRUCTIONS),
        reserved1: U32::new(Le, 0),
        reserved2: U32::new(Le, 0),
        reserved3: U32::new(Le, 0),
    }));
    add(&text);
    let linkedit_len = end - linkedit_off;
    add(bytes_of(&segment("__LINKEDIT", (base + text_len, linkedit_len), (linkedit_off, linkedit_len), 0, 1)));
    if fixups.is_some() {
        add(bytes_of(&linkedit_data(LC_DYLD_CHAINED_FIXUPS, linkedit_off, fixups_len)));
    }
    add(bytes_of(&SymtabCommand {
        cmd: U32::new(Le, LC_SYMTAB),
        cmdsize: U32::new(Le, 24),
        symoff: U32::new(Le, symoff as u32),
        nsyms: U32::new(Le, 2),
        stroff: U32::new(Le, stroff as u32),
        strsize: U32::new(Le, strings.len() as u32),
    }));
    add(bytes_of(&linkedit_data(LC_FUNCTION_STARTS, starts_off, 8)));
    add(bytes_of(&UuidCommand { cmd: U32::new(Le, LC_UUID), cmdsize: U32::new(Le, 24), uuid: [0x11; 16] }));
    if let Some(size) = options.signature {
        add(bytes_of(&linkedit_data(LC_CODE_SIGNATURE, signature_off, u64::from(size))));
    }

    let header = MachHeader64 {
        magic: U32::new(BigEndian, MH_CIGAM_64),
        cputype: U32::new(Le, options.cputype),
        cpusubtype: U32::new(Le, if options.cputype == CPU_TYPE_ARM64 { 0 } else { 3 }),
        filetype: U32::new(Le, MH_EXECUTE),
        ncmds: U32::new(Le, ncmds),
        sizeofcmds: U32::new(Le, commands.len() as u32),
        flags: U32::new(Le, MH_PIE | MH_DYLDLINK | MH_TWOLEVEL),
        reserved: U32::new(Le, 0),
    };
    let mut image = vec![0u8; end as usize];
    image[..32].copy_from_slice(bytes_of(&header));
    image[32..32 + commands.len()].copy_from_slice(&commands);
    let text_at = text_offset as usize;
    image[text_at..text_at + options.text.len()].copy_from_slice(&options.text);
    if let Some(fixups) = &fixups {
        image[linkedit_off as usize..][..fixups.len()].copy_from_slice(fixups);
    }
    image[starts_off as usize..][..8].copy_from_slice(&[0x80, 0x0b, 0, 0, 0, 0, 0, 0]);
    let nlists = [(2u32, base + text_offset), (8, base + text_offset + 4)];
    for (index, (strx, value)) in nlists.into_iter().enumerate() {
        let at = symoff as usize + index * 16;
        image[at..at + 4].copy_from_slice(&strx.to_le_bytes());
        image[at + 4] = N_SECT | N_EXT;
        image[at + 5] = 1;
        image[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
    }
    image[stroff as usize..][..strings.len()].copy_from_slice(strings);
    if options.signature.is_some() {
        // The magic of a code-signature superblob, then zeros.
        image[signature_off as usize..][..4].copy_from_slice(&0xfade0cc0u32.to_be_bytes());
    }
    image
}
