//! The injection of a PE image as a [`Splice`]: what is kept of the base, what is new.
//!
//! [`plan`] reads the base through a [`PeImage`], so the same code plans over a whole image
//! in memory ([`super::inject`]) and over the few parts of a file that injection reads (its
//! headers, its resource section and resource data, the end of a certificate table): the
//! caller then copies the kept ranges file to file.

use anyhow::{Context, Result, bail, ensure};
use object::pe::{IMAGE_DIRECTORY_ENTRY_RESOURCE, IMAGE_DIRECTORY_ENTRY_SECURITY, IMAGE_SCN_CNT_INITIALIZED_DATA, IMAGE_SCN_MEM_READ, RT_RCDATA};

use super::{InjectionSummary, NODE_SEA_BLOB, OLD_RESOURCE_SECTION_NAME, RESOURCE_SECTION_NAME};
use crate::error::fail;
use crate::pe::identity::ResourceChanges;
use crate::pe::resource::{self, ResourceData, ResourceKey, ResourceSection, ResourceTable};
use crate::pe::unsign::{certificate_table_in, removal};
use crate::pe::{DataDirectory, PeHeaders, PeImage, SECTION_HEADER_LEN, Section, put_u16, put_u32};
use crate::splice::{Piece, Splice};

/// How [`plan`] treats the base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Remove an Authenticode signature on the way (its certificate table is left out, the
    /// directory entry cleared), instead of refusing a signed base.
    pub unsign: bool,
}

/// An injection planned: the output as a [`Splice`] of the base, with the CheckSum field
/// still zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The output: rewritten headers, the base's bytes with the fuse set, padding, the new
    /// resource section (old resources' data as base ranges, the blob as [`Piece::Blob`]).
    pub splice: Splice,
    /// File offset of the CheckSum field, zero in [`splice`](Self::splice): the caller sums
    /// the output (see [`crate::pe::Checksum`]) and stores the sum there.
    pub check_sum_offset: usize,
    /// Where things went.
    pub summary: InjectionSummary,
}

/// Plans the injection of `blob` into `image` as resource `RT_RCDATA`/`NODE_SEA_BLOB`/0,
/// with node's version resource and icon replaced as `changes` says and the fuse set.
///
/// `find_fuse` is given the length of the base that is kept (before a certificate table
/// left out) and returns the offset of the unset fuse's `'0'` there (see
/// [`crate::inject::fuse::unset_fuse_offset`]); it is called after the resource checks, so
/// the refusals come in the same order for every caller. Refuses everything
/// [`super::inject`] refuses. Reads of bytes `image` does not hold fail and are noted in
/// [`PeImage::missing`].
///
/// ```
/// use sea_build::inject::pe::{Options, plan};
/// use sea_build::pe::{PeImage, identity::ResourceChanges};
/// let image = PeImage::whole(b"\x7fELF, not a PE image");
/// let error = plan(&image, b"blob", &ResourceChanges::default(), Options::default(), |_| unreachable!()).unwrap_err();
/// assert!(error.to_string().contains("not a Windows executable"));
/// ```
pub fn plan(image: &PeImage<'_>, blob: &[u8], changes: &ResourceChanges<'_>, options: Options, find_fuse: impl FnOnce(u64) -> Result<usize>) -> Result<Plan> {
    let mut headers = PeHeaders::parse_image(image)?;
    // The base as injection sees it: without its certificate table when unsigning.
    let mut len = image.len();
    let mut cleared_directory = None;
    if options.unsign
        && let Some(removal) = removal(&headers, image)?
    {
        len = removal.keep;
        cleared_directory = Some(removal.directory_offset);
        headers.data_directories[IMAGE_DIRECTORY_ENTRY_SECURITY] = DataDirectory::default();
    }
    refuse_signed(&headers, image)?;
    ensure!(!blob.is_empty(), "the blob is empty: generate it with `node --experimental-sea-config`");
    let existing = resource::read_in(&headers, image)?;
    let location = existing.as_ref().map(|(_, location)| *location);
    let mut tree = existing.map(|(tree, _)| tree).unwrap_or_default();
    let blob_key = ResourceKey::name(NODE_SEA_BLOB);
    if let Some(resource::ResourceNode::Table(names)) = tree.get(&ResourceKey::Id(RT_RCDATA)).map(|entry| &entry.node)
        && names.get(&blob_key).is_some()
    {
        fail!(
            AlreadyInjected,
            "the executable already carries a SEA blob (it has an RT_RCDATA resource named \
             {NODE_SEA_BLOB}): inject into a fresh node.exe"
        );
    }
    let fuse_offset = find_fuse(len)?;
    tree.insert(ResourceKey::Id(RT_RCDATA), blob_key, 0, ResourceData { bytes: blob, code_page: 0, last: true })?;
    changes.apply(&mut tree)?;
    tree.sort();
    check_name_order(&tree)?;

    let placement = Placement::choose(&headers, image, len, location.map(|l| l.section))?;
    ensure!(
        fuse_offset >= placement.header_len && (fuse_offset as u64) < placement.kept,
        "the fuse at offset {fuse_offset:#x} lies in the PE headers or the resource section: \
         not a node executable"
    );
    let section = ResourceSection::build(&tree, placement.rva)?;
    let file_alignment = u64::from(headers.file_alignment);
    let raw_size = (section.len as u64).next_multiple_of(file_alignment);
    let raw_size_u32 = u32::try_from(raw_size).ok().filter(|size| u64::from(*size) + placement.offset <= u64::from(u32::MAX)).with_context(|| {
        format!(
            "the executable would be larger than the 4 GiB a PE file can be ({} bytes of \
                 resources at offset {:#x}): make the application or its assets smaller",
            section.len, placement.offset
        )
    })?;
    let section_len = section.len as u32;
    let new_header = Section {
        name: placement.name,
        virtual_size: section_len,
        virtual_address: placement.rva,
        size_of_raw_data: raw_size_u32,
        pointer_to_raw_data: placement.offset as u32,
        characteristics: placement.characteristics,
        header_offset: placement.header_offset,
    };
    let size_of_image = (u64::from(placement.rva) + u64::from(section_len)).next_multiple_of(u64::from(headers.section_alignment)).max(u64::from(headers.size_of_image));
    let size_of_image = u32::try_from(size_of_image).context("the image would span more than 4 GiB: make the application smaller")?;
    let initialized = i64::from(headers.size_of_initialized_data) + i64::from(raw_size_u32) - i64::from(placement.replaced_raw_size);
    let initialized = u32::try_from(initialized.max(0)).unwrap_or(u32::MAX);

    let mut header_bytes = image.get_at(0, placement.header_len).context("internal error: the headers lie past the end of the image")?.to_vec();
    header_bytes[new_header.header_offset..new_header.header_offset + SECTION_HEADER_LEN].copy_from_slice(&new_header.to_bytes());
    if let Some(old) = placement.rename {
        header_bytes[old..old + 8].copy_from_slice(OLD_RESOURCE_SECTION_NAME);
    }
    if let Some(directory) = cleared_directory {
        put_u32(&mut header_bytes, directory, 0)?;
        put_u32(&mut header_bytes, directory + 4, 0)?;
    }
    let section_count = headers.sections.len() + usize::from(placement.added);
    let section_count = u16::try_from(section_count).context("the executable has 65535 sections; there is no room for another")?;
    put_u16(&mut header_bytes, headers.number_of_sections_offset(), section_count)?;
    put_u32(&mut header_bytes, headers.size_of_image_offset(), size_of_image)?;
    put_u32(&mut header_bytes, headers.size_of_initialized_data_offset(), initialized)?;
    let directory = headers.data_directory_offset(IMAGE_DIRECTORY_ENTRY_RESOURCE).context(
        "the executable has fewer than 3 data directories, so it cannot have resources; \
             not a node executable",
    )?;
    put_u32(&mut header_bytes, directory, placement.rva)?;
    put_u32(&mut header_bytes, directory + 4, section_len)?;
    put_u32(&mut header_bytes, headers.check_sum_offset(), 0)?;

    let mut splice = Splice::default();
    let header_len = header_bytes.len() as u64;
    splice.push(Piece::Bytes(header_bytes));
    splice.push(Piece::Base(header_len..fuse_offset as u64));
    splice.push(Piece::Bytes(b"1".to_vec()));
    splice.push(Piece::Base(fuse_offset as u64 + 1..placement.kept));
    splice.push(Piece::Zeros(placement.offset - placement.kept));
    splice.push(Piece::Bytes(section.head.clone()));
    let mut at = section.head.len();
    for (offset, bytes) in &section.data {
        splice.push(Piece::Zeros((offset - at) as u64));
        splice.push(if std::ptr::eq(*bytes, blob) {
            Piece::Blob
        } else if let Some(from) = image.offset_of(bytes) {
            Piece::Base(from..from + bytes.len() as u64)
        } else {
            Piece::Bytes(bytes.to_vec())
        });
        at = offset + bytes.len();
    }
    splice.push(Piece::Zeros(raw_size - section.len as u64));

    let blob_offset_in_section = section.data.last().map_or(0, |(offset, _)| *offset);
    let summary = InjectionSummary {
        section_added: placement.added,
        section_rva: placement.rva,
        section_offset: placement.offset,
        blob_rva: placement.rva + blob_offset_in_section as u32,
        blob_offset: placement.offset + blob_offset_in_section as u64,
        output_len: placement.offset + raw_size,
    };
    Ok(Plan { splice, check_sum_offset: headers.check_sum_offset(), summary })
}

/// Refuses RT_RCDATA names whose order differs between the two comparisons a loader's
/// binary search may use: the upper-cased code units ([`ResourceKey::loader_order`], the
/// order written) and the code units as stored (Wine compares the upper-cased name it is
/// given with the stored names ordinally, see [`resource::find`]). Resource compilers write
/// upper-case names, for which both agree; a lower-case letter can make the search step past
/// `NODE_SEA_BLOB` and miss the blob just injected.
fn check_name_order(tree: &ResourceTable<'_>) -> Result<()> {
    let Some(resource::ResourceNode::Table(names)) = tree.get(&ResourceKey::Id(RT_RCDATA)).map(|entry| &entry.node) else {
        return Ok(());
    };
    let named: Vec<&ResourceKey> = names.entries.iter().map(|entry| &entry.key).filter(|key| matches!(key, ResourceKey::Name(_))).collect();
    for pair in named.windows(2) {
        if let [ResourceKey::Name(first), ResourceKey::Name(second)] = pair
            && first >= second
        {
            bail!(
                "the executable has RT_RCDATA resources named {} and {}, which sort one way \
                 ignoring case and the other way by code unit (resource compilers write \
                 upper-case names): the loader's binary search could miss {NODE_SEA_BLOB} among \
                 them, so this executable cannot be injected",
                pair[0],
                pair[1]
            );
        }
    }
    Ok(())
}

/// Signed images (and certificate tables anywhere but at the end) are refused.
fn refuse_signed(headers: &PeHeaders, image: &PeImage<'_>) -> Result<()> {
    let Some(directory) = headers.data_directory(IMAGE_DIRECTORY_ENTRY_SECURITY) else {
        return Ok(());
    };
    if directory.is_empty() {
        return Ok(());
    }
    // Errors for a table that is not at the end, or runs past it.
    certificate_table_in(headers, image)?;
    fail!(
        Signed,
        "the executable is signed (a certificate table of {} bytes at file offset {:#x}): \
         injecting would break the signature; remove it first with sea_build::pe::unsign, and \
         sign the result again if it must be signed",
        directory.size,
        directory.virtual_address
    )
}

/// Where the new resource section goes.
struct Placement {
    /// Whether a section header is added (else one is rewritten in place).
    added: bool,
    name: [u8; 8],
    characteristics: u32,
    rva: u32,
    offset: u64,
    /// File offset of the section header written.
    header_offset: usize,
    /// Length of the header bytes rewritten (through the section header written).
    header_len: usize,
    /// How much of the image comes before the section (all of it when appending).
    kept: u64,
    /// Raw size of a section rewritten in place (its old contribution to
    /// SizeOfInitializedData).
    replaced_raw_size: u32,
    /// Offset of a section header whose name becomes [`OLD_RESOURCE_SECTION_NAME`].
    rename: Option<usize>,
}

impl Placement {
    /// Where the section goes in `image`, of which `len` bytes are kept.
    fn choose(headers: &PeHeaders, image: &PeImage<'_>, len: u64, resource_section: Option<usize>) -> Result<Placement> {
        if let Some(index) = resource_section
            && let Some(placement) = Self::in_place(headers, len, index)
        {
            return Ok(placement);
        }
        let header_offset = headers.section_table_end();
        let header_len = header_offset + SECTION_HEADER_LEN;
        let room = headers.header_room_end();
        if header_len > room {
            bail!(
                "no room for another section header: the section table ends at {header_offset:#x} \
                 and the first section's data (or SizeOfHeaders) begins at {room:#x}, less than \
                 the {SECTION_HEADER_LEN} bytes needed; this executable cannot be injected"
            );
        }
        let Some(after_table) = image.get_at(header_offset, SECTION_HEADER_LEN) else {
            bail!(
                "the file is {} bytes, but its headers reach {room:#x} (SizeOfHeaders \
                 {:#x}): it ends inside its headers, so it is truncated or damaged",
                len,
                headers.size_of_headers
            );
        };
        if after_table.iter().any(|&byte| byte != 0) {
            bail!(
                "the {SECTION_HEADER_LEN} bytes after the section table (at {header_offset:#x}) \
                 are in use (not zero), so there is no room for another section header; this \
                 executable cannot be injected"
            );
        }
        let rva = u32::try_from(headers.sections_memory_end().max(u64::from(headers.size_of_image).next_multiple_of(u64::from(headers.section_alignment))))
            .context("the image already spans 4 GiB: there is no address space left for resources")?;
        let rename = resource_section.and_then(|index| headers.sections.get(index)).filter(|section| &section.name == RESOURCE_SECTION_NAME).map(|section| section.header_offset);
        Ok(Placement {
            added: true,
            name: *RESOURCE_SECTION_NAME,
            characteristics: IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ,
            rva,
            offset: len.next_multiple_of(u64::from(headers.file_alignment)),
            header_offset,
            header_len,
            kept: len,
            replaced_raw_size: 0,
            rename,
        })
    }

    /// Rewriting section `index` in place: only when it is a `.rsrc` section that holds
    /// nothing but the resource tree (which starts it), lies above every other section in
    /// memory and in the file, and ends the file.
    fn in_place(headers: &PeHeaders, len: u64, index: usize) -> Option<Placement> {
        let section = headers.sections.get(index)?;
        let resource_rva = headers.data_directory(IMAGE_DIRECTORY_ENTRY_RESOURCE)?.virtual_address;
        let last_in_memory = headers.sections.iter().all(|other| other.virtual_address <= section.virtual_address);
        let last_in_file = section.size_of_raw_data != 0 && headers.sections.iter().all(|other| other.size_of_raw_data == 0 || other.pointer_to_raw_data <= section.pointer_to_raw_data);
        let ends_file = section.raw_end() >= len;
        let header_len = headers.section_table_end();
        let suitable =
            &section.name == RESOURCE_SECTION_NAME && resource_rva == section.virtual_address && last_in_memory && last_in_file && ends_file && section.pointer_to_raw_data as usize >= header_len;
        suitable.then(|| Placement {
            added: false,
            name: section.name,
            characteristics: section.characteristics,
            rva: section.virtual_address,
            offset: u64::from(section.pointer_to_raw_data),
            header_offset: section.header_offset,
            header_len,
            kept: u64::from(section.pointer_to_raw_data),
            replaced_raw_size: section.size_of_raw_data,
            rename: None,
        })
    }
}
