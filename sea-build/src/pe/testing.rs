//! Small synthetic PE images for unit tests: just enough headers, sections and resources
//! for the readers and editors in this crate, built by hand.

use object::pe::{
    IMAGE_DIRECTORY_ENTRY_RESOURCE, IMAGE_DIRECTORY_ENTRY_SECURITY, IMAGE_SCN_CNT_CODE, IMAGE_SCN_CNT_INITIALIZED_DATA, IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_READ, RT_GROUP_ICON, RT_ICON, RT_MANIFEST,
    RT_RCDATA, RT_VERSION,
};

use super::resource::{ResourceData, ResourceKey, ResourceSection, ResourceTable};
use super::{PeKind, update_checksum};
use crate::inject::fuse::FUSE_SENTINEL;

/// The manifest in the synthetic resources.
pub(crate) const MANIFEST: &[u8] = b"<assembly manifestVersion=\"1.0\"/>";

/// What goes into a synthetic image.
#[derive(Debug, Clone)]
pub(crate) struct SyntheticPe {
    pub kind: PeKind,
    /// The fuse state byte (`None`: no fuse at all).
    pub fuse: Option<u8>,
    /// Whether there is a `.rsrc` section with [`resources_with`]'s tree.
    pub resources: bool,
    /// Whether `.rsrc` is the last section (else `.reloc` follows it).
    pub resources_last: bool,
    /// SizeOfHeaders (a multiple of the file alignment).
    pub size_of_headers: u32,
    /// Sections of filler before `.rsrc`, to use up the header room.
    pub extra_sections: usize,
}

impl Default for SyntheticPe {
    fn default() -> Self {
        SyntheticPe { kind: PeKind::Pe32Plus, fuse: Some(b'0'), resources: true, resources_last: false, size_of_headers: 0x400, extra_sections: 0 }
    }
}

const FILE_ALIGNMENT: u32 = 0x200;
const SECTION_ALIGNMENT: u32 = 0x1000;
pub(crate) const NT_OFFSET: usize = 0x80;

/// The resources of node.exe in miniature, plus named RCDATA entries around the blob's name.
pub(crate) fn resources_with(section_rva: u32) -> Vec<u8> {
    let mut root = ResourceTable::default();
    let data = |bytes: &'static [u8]| ResourceData { bytes, code_page: 0, last: false };
    let entries: [(u16, ResourceKey, u16, &'static [u8]); 7] = [
        (RT_ICON, ResourceKey::Id(1), 1033, b"icon pixels"),
        (RT_GROUP_ICON, ResourceKey::name("MAINICON"), 1033, b"group"),
        (RT_VERSION, ResourceKey::Id(1), 1033, b"version info"),
        (RT_MANIFEST, ResourceKey::Id(1), 1033, MANIFEST),
        (RT_RCDATA, ResourceKey::name("NODE_SEA_BLOA"), 0, b"before"),
        (RT_RCDATA, ResourceKey::name("NODE_SEA_BLOBS"), 0, b"after"),
        (RT_RCDATA, ResourceKey::Id(7), 0, b"numbered"),
    ];
    for (kind, name, language, bytes) in entries {
        root.insert(ResourceKey::Id(kind), name, language, data(bytes)).unwrap();
    }
    root.sort();
    ResourceSection::build(&root, section_rva).unwrap().to_vec()
}

fn le16(bytes: &mut Vec<u8>, value: u16) {
    bytes.extend(value.to_le_bytes());
}

fn le32(bytes: &mut Vec<u8>, value: u32) {
    bytes.extend(value.to_le_bytes());
}

/// Either PE32+ (`wide`) or PE32 width.
fn le_addr(bytes: &mut Vec<u8>, value: u64, wide: bool) {
    if wide {
        bytes.extend(value.to_le_bytes());
    } else {
        le32(bytes, value as u32);
    }
}

impl SyntheticPe {
    /// The image, with a correct CheckSum.
    pub(crate) fn build(&self) -> Vec<u8> {
        // (name, characteristics, contents or resource marker)
        let mut sections: Vec<([u8; 8], u32, Option<Vec<u8>>)> = Vec::new();
        let mut text = vec![0xc3u8; 0x40];
        if let Some(state) = self.fuse {
            text.extend(FUSE_SENTINEL.as_bytes());
            text.push(b':');
            text.push(state);
        }
        let code = IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ;
        let data = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ;
        sections.push((*b".text\0\0\0", code, Some(text)));
        for index in 0..self.extra_sections {
            sections.push(([b'.', b'x', b'0' + (index / 10) as u8, b'0' + (index % 10) as u8, 0, 0, 0, 0], data, Some(vec![index as u8; 16])));
        }
        let reloc = (*b".reloc\0\0", data, Some(vec![0u8; 12]));
        if self.resources {
            if !self.resources_last {
                sections.push((*b".rdata\0\0", data, Some(b"read-only data".to_vec())));
            }
            sections.push((*b".rsrc\0\0\0", data, None));
            if !self.resources_last {
                sections.push(reloc);
            }
        } else {
            sections.push(reloc);
        }

        let wide = self.kind == PeKind::Pe32Plus;
        let optional_len: u16 = if wide { 112 + 128 } else { 96 + 128 };
        let mut layout = Vec::new();
        let (mut rva, mut offset) = (SECTION_ALIGNMENT, self.size_of_headers);
        let mut resource_directory = (0, 0);
        let mut contents = Vec::new();
        for (name, characteristics, body) in &sections {
            let body = match body {
                Some(body) => body.clone(),
                None => {
                    let tree = resources_with(rva);
                    resource_directory = (rva, tree.len() as u32);
                    tree
                }
            };
            let raw = (body.len() as u32).next_multiple_of(FILE_ALIGNMENT);
            layout.push((*name, body.len() as u32, rva, raw, offset, *characteristics));
            contents.push((offset, body));
            rva += (raw).next_multiple_of(SECTION_ALIGNMENT);
            offset += raw;
        }
        let size_of_image = rva;

        let mut image = vec![0u8; NT_OFFSET];
        image[..2].copy_from_slice(b"MZ");
        image[0x3c..0x40].copy_from_slice(&(NT_OFFSET as u32).to_le_bytes());
        image.extend(b"PE\0\0");
        le16(&mut image, if wide { 0x8664 } else { 0x14c });
        le16(&mut image, layout.len() as u16);
        le32(&mut image, 0);
        le32(&mut image, 0);
        le32(&mut image, 0);
        le16(&mut image, optional_len);
        le16(&mut image, 0x22);
        le16(&mut image, if wide { 0x20b } else { 0x10b });
        image.extend([14, 0]);
        le32(&mut image, 0x200);
        le32(&mut image, 0x400);
        le32(&mut image, 0);
        le32(&mut image, 0x1000);
        le32(&mut image, 0x1000);
        if !wide {
            le32(&mut image, 0x2000);
        }
        le_addr(&mut image, 0x1_4000_0000, wide);
        le32(&mut image, SECTION_ALIGNMENT);
        le32(&mut image, FILE_ALIGNMENT);
        for version in [6, 0, 0, 0, 6, 0] {
            le16(&mut image, version);
        }
        le32(&mut image, 0);
        le32(&mut image, size_of_image);
        le32(&mut image, self.size_of_headers);
        le32(&mut image, 0);
        le16(&mut image, 3);
        le16(&mut image, 0x8160);
        for size in [0x10_0000, 0x1000, 0x10_0000, 0x1000] {
            le_addr(&mut image, size, wide);
        }
        le32(&mut image, 0);
        le32(&mut image, 16);
        for index in 0..16 {
            let (address, size) = if index == IMAGE_DIRECTORY_ENTRY_RESOURCE { resource_directory } else { (0, 0) };
            le32(&mut image, address);
            le32(&mut image, size);
        }
        for (name, virtual_size, rva, raw, offset, characteristics) in &layout {
            image.extend(name);
            for value in [*virtual_size, *rva, *raw, *offset, 0, 0] {
                le32(&mut image, value);
            }
            le32(&mut image, 0);
            le32(&mut image, *characteristics);
        }
        assert!(image.len() <= self.size_of_headers as usize, "headers overflow SizeOfHeaders");
        for (offset, body) in contents {
            image.resize(offset as usize, 0);
            image.extend(body);
        }
        image.resize(offset as usize, 0);
        update_checksum(&mut image).unwrap();
        image
    }
}

/// `image` with a fake Authenticode certificate table appended (8-byte aligned), the security
/// directory pointing at it and the CheckSum updated.
pub(crate) fn signed(image: &[u8]) -> Vec<u8> {
    let mut signed = image.to_vec();
    signed.resize(signed.len().next_multiple_of(8), 0);
    let start = signed.len();
    let certificate = b"0\x82 not really a PKCS#7 SignedData";
    le32(&mut signed, (8 + certificate.len()) as u32);
    le16(&mut signed, 0x0200);
    le16(&mut signed, 0x0002);
    signed.extend(certificate);
    signed.resize(signed.len().next_multiple_of(8), 0);
    let size = (signed.len() - start) as u32;
    let directory = security_directory_offset(&signed);
    signed[directory..directory + 4].copy_from_slice(&(start as u32).to_le_bytes());
    signed[directory + 4..directory + 8].copy_from_slice(&size.to_le_bytes());
    update_checksum(&mut signed).unwrap();
    signed
}

/// File offset of the security directory entry of a synthetic image.
pub(crate) fn security_directory_offset(image: &[u8]) -> usize {
    super::PeHeaders::parse(image).unwrap().data_directory_offset(IMAGE_DIRECTORY_ENTRY_SECURITY).unwrap()
}
