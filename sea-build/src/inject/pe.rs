//! Injection into Windows (PE32 and PE32+) node executables.
//!
//! Node finds its blob at run time with `FindResourceA(NULL, "NODE_SEA_BLOB", RT_RCDATA)`:
//! a resource of type 10 (`RT_RCDATA`), named `NODE_SEA_BLOB` (UTF-16, upper case),
//! language 0. [`inject`] reads the image's resource tree (icons, version information and,
//! vitally, the manifest), adds that resource, and lays the whole tree out again, the
//! existing resources' data copied along, in a resource section:
//!
//! ```text
//! | headers (NumberOfSections, SizeOfImage, SizeOfInitializedData, CheckSum, resource
//! |   directory and one more section header rewritten) | sections as they were (fuse set) |
//! | zero padding to FileAlignment | new .rsrc: tables, data entries, names, old resources'
//! |   data, the blob | zero padding to FileAlignment |
//! ```
//!
//! The new section goes after every existing section, in memory and in the file, so nothing
//! that exists moves and no RVA changes. The old resource section stays where it was, unused
//! (renamed `.oldrsrc` when it was `.rsrc`, so tools that look for resources by section name
//! see only the new tree). When the resource section already is the last section and ends
//! the file, it is rewritten in place instead and no section is added.
//!
//! Tables are sorted the way the loader's binary search needs: named entries first, by
//! upper-cased UTF-16 code units, then ID entries ascending (see [`crate::pe::resource`]).
//!
//! Signed executables are refused: the signature would no longer match, and a certificate
//! table left behind the new section makes the file look corrupted rather than unsigned.
//! Remove it first with [`crate::pe::unsign()`] (the result must be signed again after
//! injection, if at all).

use std::io::Write;

use crate::error::fail;
use anyhow::{Context, Result, bail, ensure};
use object::pe::{IMAGE_DIRECTORY_ENTRY_RESOURCE, IMAGE_DIRECTORY_ENTRY_SECURITY, IMAGE_SCN_CNT_INITIALIZED_DATA, IMAGE_SCN_MEM_READ, RT_RCDATA};

use super::{NODE_SEA_BLOB, fuse};
use crate::pe::identity::ResourceChanges;
use crate::pe::resource::{self, ResourceData, ResourceKey, ResourceSection, ResourceTable};
use crate::pe::{Checksum, PeHeaders, SECTION_HEADER_LEN, Section, certificate_table, put_u16, put_u32};
use crate::splice::write_zeros;

/// Name of the resource section [`inject`] writes.
pub const RESOURCE_SECTION_NAME: &[u8; 8] = b".rsrc\0\0\0";

/// What an old `.rsrc` section is renamed to when a new one is appended.
pub const OLD_RESOURCE_SECTION_NAME: &[u8; 8] = b".oldrsrc";

/// Where [`inject`] put things, for logs and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectionSummary {
    /// Whether a section was added (`false`: the last section was rewritten in place).
    pub section_added: bool,
    /// RVA of the resource section (the new resource directory).
    pub section_rva: u32,
    /// File offset of the resource section.
    pub section_offset: u64,
    /// RVA of the blob.
    pub blob_rva: u32,
    /// File offset of the blob.
    pub blob_offset: u64,
    /// Total length of the output.
    pub output_len: u64,
}

/// Writes `image` with `blob` injected as resource `RT_RCDATA`/`NODE_SEA_BLOB`/0 (and the
/// fuse set) to `out`.
///
/// The image and the blob are streamed as slices, never copied: only the headers, the fuse
/// byte and the resource tables are written from owned copies (see the
/// [module docs](self)). Refuses, with an error saying why: non-PE input, truncated files,
/// signed files (unsign first), a certificate table that does not end the file, a missing
/// or duplicated fuse, an already injected executable (fuse set or a `NODE_SEA_BLOB`
/// resource), a damaged resource tree, and images without room for another section header.
///
/// All checks run before the first byte is written, so an error leaves `out` untouched
/// unless writing itself fails.
///
/// ```no_run
/// let node = std::fs::read("node.exe")?;
/// let unsigned = sea_build::pe::unsign(&node)?;
/// let blob = std::fs::read("sea-prep.blob")?;
/// let mut out = std::io::BufWriter::new(std::fs::File::create("app.exe")?);
/// sea_build::inject::pe::inject(&unsigned, &blob, &mut out)?;
/// # anyhow::Ok(())
/// ```
pub fn inject(image: &[u8], blob: &[u8], out: &mut impl Write) -> Result<InjectionSummary> {
    inject_with(image, blob, &ResourceChanges::default(), out)
}

/// [`inject`], with node's version resource and icon replaced as `changes` says (see
/// [`crate::pe::identity`]), in the same pass.
///
/// ```no_run
/// use sea_build::pe::{identity::ResourceChanges, version_info::VersionInfo};
/// let image = sea_build::pe::unsign(&std::fs::read("node.exe")?)?;
/// let blob = std::fs::read("sea-prep.blob")?;
/// let changes = ResourceChanges::new(Some(&VersionInfo::default()), None)?;
/// let mut out = Vec::new();
/// sea_build::inject::pe::inject_with(&image, &blob, &changes, &mut out)?;
/// # anyhow::Ok(())
/// ```
pub fn inject_with(image: &[u8], blob: &[u8], changes: &ResourceChanges<'_>, out: &mut impl Write) -> Result<InjectionSummary> {
    let plan = Plan::new(image, blob, changes)?;
    for chunk in plan.chunks() {
        match chunk {
            Chunk::Bytes(bytes) => out.write_all(bytes),
            Chunk::Zeros(count) => write_zeros(out, count),
        }
        .context("writing the injected executable failed")?;
    }
    out.flush().context("writing the injected executable failed")?;
    Ok(plan.summary)
}

/// [`inject`] into a new vector; convenient for small images and tests.
///
/// ```no_run
/// let image = sea_build::pe::unsign(&std::fs::read("node.exe")?)?;
/// let blob = std::fs::read("sea-prep.blob")?;
/// std::fs::write("app.exe", sea_build::inject::pe::inject_to_vec(&image, &blob)?)?;
/// # anyhow::Ok(())
/// ```
pub fn inject_to_vec(image: &[u8], blob: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    inject(image, blob, &mut out)?;
    Ok(out)
}

/// The blob node would find in `image` at run time, or `None`.
///
/// Follows `FindResourceA(NULL, "NODE_SEA_BLOB", RT_RCDATA)`: binary search for type 10,
/// then for the name, then language 0 or the first language (see
/// [`crate::pe::resource::find`]). Fails on input that is not a PE image or whose resource
/// tree is damaged.
///
/// ```
/// assert!(sea_build::inject::pe::find_blob(b"\x7fELF, not a PE image").is_err());
/// ```
pub fn find_blob(image: &[u8]) -> Result<Option<&[u8]>> {
    resource::find(image, &ResourceKey::Id(RT_RCDATA), &ResourceKey::name(NODE_SEA_BLOB))
}

/// A piece of the output.
enum Chunk<'a> {
    Bytes(&'a [u8]),
    Zeros(u64),
}

/// Everything [`inject`] writes, computed before the first byte is.
struct Plan<'a> {
    image: &'a [u8],
    /// The rewritten headers: `image[..headers.len()]` with new fields, CheckSum included.
    headers: Vec<u8>,
    fuse_offset: usize,
    /// How much of the image is kept (all of it, or up to a resource section rewritten in
    /// place).
    kept: usize,
    padding: u64,
    section: ResourceSection<'a>,
    section_padding: u64,
    summary: InjectionSummary,
}

impl<'a> Plan<'a> {
    fn new(image: &'a [u8], blob: &'a [u8], changes: &'a ResourceChanges<'_>) -> Result<Plan<'a>> {
        let headers = PeHeaders::parse(image)?;
        refuse_signed(&headers, image)?;
        ensure!(!blob.is_empty(), "the blob is empty: generate it with `node --experimental-sea-config`");
        let existing = resource::read(&headers, image)?;
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
        let fuse_offset = fuse::unset_fuse_offset(image)?;
        tree.insert(ResourceKey::Id(RT_RCDATA), blob_key, 0, ResourceData { bytes: blob, code_page: 0, last: true })?;
        changes.apply(&mut tree)?;
        tree.sort();
        check_name_order(&tree)?;

        let placement = Placement::choose(&headers, image, location.map(|l| l.section))?;
        ensure!(
            fuse_offset >= placement.header_len && fuse_offset < placement.kept,
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

        let mut header_bytes = image.get(..placement.header_len).context("internal error: the headers lie past the end of the image")?.to_vec();
        header_bytes[new_header.header_offset..new_header.header_offset + SECTION_HEADER_LEN].copy_from_slice(&new_header.to_bytes());
        if let Some(old) = placement.rename {
            header_bytes[old..old + 8].copy_from_slice(OLD_RESOURCE_SECTION_NAME);
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

        let blob_offset_in_section = section.data.last().map_or(0, |(offset, _)| *offset);
        let padding = placement.offset - placement.kept as u64;
        let output_len = placement.offset + raw_size;
        let mut plan = Plan {
            image,
            headers: header_bytes,
            fuse_offset,
            kept: placement.kept,
            padding,
            section_padding: raw_size - section.len as u64,
            section,
            summary: InjectionSummary {
                section_added: placement.added,
                section_rva: placement.rva,
                section_offset: placement.offset,
                blob_rva: placement.rva + blob_offset_in_section as u32,
                blob_offset: placement.offset + blob_offset_in_section as u64,
                output_len,
            },
        };
        let mut checksum = Checksum::new();
        for chunk in plan.chunks() {
            match chunk {
                Chunk::Bytes(bytes) => checksum.update(bytes),
                Chunk::Zeros(count) => checksum.update_zeros(count),
            }
        }
        put_u32(&mut plan.headers, headers.check_sum_offset(), checksum.finish())?;
        Ok(plan)
    }

    /// The output in order.
    fn chunks(&self) -> Vec<Chunk<'_>> {
        let header_len = self.headers.len();
        let mut chunks = vec![
            Chunk::Bytes(&self.headers),
            Chunk::Bytes(&self.image[header_len..self.fuse_offset]),
            Chunk::Bytes(b"1"),
            Chunk::Bytes(&self.image[self.fuse_offset + 1..self.kept]),
            Chunk::Zeros(self.padding),
            Chunk::Bytes(&self.section.head),
        ];
        let mut at = self.section.head.len();
        for (offset, bytes) in &self.section.data {
            chunks.push(Chunk::Zeros((offset - at) as u64));
            chunks.push(Chunk::Bytes(bytes));
            at = offset + bytes.len();
        }
        chunks.push(Chunk::Zeros(self.section_padding));
        chunks
    }
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
fn refuse_signed(headers: &PeHeaders, image: &[u8]) -> Result<()> {
    let Some(directory) = headers.data_directory(IMAGE_DIRECTORY_ENTRY_SECURITY) else {
        return Ok(());
    };
    if directory.is_empty() {
        return Ok(());
    }
    // Errors for a table that is not at the end, or runs past it.
    certificate_table(headers, image)?;
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
    kept: usize,
    /// Raw size of a section rewritten in place (its old contribution to
    /// SizeOfInitializedData).
    replaced_raw_size: u32,
    /// Offset of a section header whose name becomes [`OLD_RESOURCE_SECTION_NAME`].
    rename: Option<usize>,
}

impl Placement {
    fn choose(headers: &PeHeaders, image: &[u8], resource_section: Option<usize>) -> Result<Placement> {
        if let Some(index) = resource_section
            && let Some(placement) = Self::in_place(headers, image, index)
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
        let Some(after_table) = image.get(header_offset..header_len) else {
            bail!(
                "the file is {} bytes, but its headers reach {room:#x} (SizeOfHeaders \
                 {:#x}): it ends inside its headers, so it is truncated or damaged",
                image.len(),
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
            offset: (image.len() as u64).next_multiple_of(u64::from(headers.file_alignment)),
            header_offset,
            header_len,
            kept: image.len(),
            replaced_raw_size: 0,
            rename,
        })
    }

    /// Rewriting section `index` in place: only when it is a `.rsrc` section that holds
    /// nothing but the resource tree (which starts it), lies above every other section in
    /// memory and in the file, and ends the file.
    fn in_place(headers: &PeHeaders, image: &[u8], index: usize) -> Option<Placement> {
        let section = headers.sections.get(index)?;
        let resource_rva = headers.data_directory(IMAGE_DIRECTORY_ENTRY_RESOURCE)?.virtual_address;
        let last_in_memory = headers.sections.iter().all(|other| other.virtual_address <= section.virtual_address);
        let last_in_file = section.size_of_raw_data != 0 && headers.sections.iter().all(|other| other.size_of_raw_data == 0 || other.pointer_to_raw_data <= section.pointer_to_raw_data);
        let ends_file = section.raw_end() >= image.len() as u64;
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
            kept: section.pointer_to_raw_data as usize,
            replaced_raw_size: section.size_of_raw_data,
            rename: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use object::pe::{RT_MANIFEST, RT_VERSION};
    use object::read::pe::PeFile64;

    use super::*;
    use crate::pe::PeKind;
    use crate::pe::testing::{MANIFEST, SyntheticPe, signed};

    fn blob(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// Every resource as (type, name, language, bytes), in tree order.
    fn resources(image: &[u8]) -> Vec<(String, String, String, Vec<u8>)> {
        let headers = PeHeaders::parse(image).unwrap();
        let Some((tree, _)) = resource::read(&headers, image).unwrap() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for kind in &tree.entries {
            let resource::ResourceNode::Table(names) = &kind.node else { panic!() };
            for name in &names.entries {
                let resource::ResourceNode::Table(languages) = &name.node else { panic!() };
                for language in &languages.entries {
                    let resource::ResourceNode::Data(data) = &language.node else { panic!() };
                    found.push((kind.key.to_string(), name.key.to_string(), language.key.to_string(), data.bytes.to_vec()));
                }
            }
        }
        found
    }

    #[test]
    fn refuses_a_file_that_ends_inside_its_headers() {
        // Found by fuzzing (inject_pe): no section has file data, SizeOfHeaders (0x400) lies
        // past the end of the file, and the bytes where a new section header would go were
        // sliced past the end.
        let image = SyntheticPe { resources: false, ..SyntheticPe::default() }.build();
        let headers = PeHeaders::parse(&image).unwrap();
        let mut cut = image[..headers.section_table_end()].to_vec();
        for section in &headers.sections {
            cut[section.header_offset + 16..section.header_offset + 20].fill(0);
        }
        // The fuse in the DOS stub, the only free bytes left.
        let fuse = format!("{}:0", fuse::FUSE_SENTINEL);
        cut[0x40..0x40 + fuse.len()].copy_from_slice(fuse.as_bytes());
        PeHeaders::parse(&cut).expect("a file without section data parses");
        let error = format!("{:#}", inject(&cut, b"blob", &mut Vec::new()).unwrap_err());
        assert!(error.contains("ends inside its headers"), "{error}");
    }

    #[test]
    fn refuses_resource_names_that_sort_differently_by_case() {
        // Found by fuzzing (inject_pe): an RT_RCDATA name with a lower-case letter sorts
        // before NODE_SEA_BLOB ignoring case but after it by code unit, so the loader's
        // binary search (over the code units) missed the blob that injection had just added.
        let image = SyntheticPe::default().build();
        let utf16 = |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let (from, to) = (utf16("NODE_SEA_BLOBS"), utf16("NODE_SEA_BLoAx"));
        let at = image.windows(from.len()).position(|window| window == from).unwrap();
        let mut odd = image.clone();
        odd[at..at + to.len()].copy_from_slice(&to);
        let error = format!("{:#}", inject(&odd, b"blob", &mut Vec::new()).unwrap_err());
        assert!(error.contains("\"NODE_SEA_BLoAx\"") && error.contains("by code unit"), "{error}");
        // Upper-case names of any order are fine.
        let upper = utf16("NODE_SEA_BLOAX");
        odd[at..at + upper.len()].copy_from_slice(&upper);
        let (out, _) = injected(&odd, b"blob");
        assert_eq!(find_blob(&out).unwrap(), Some(&b"blob"[..]));
    }

    /// Checks everything an injected image must satisfy.
    fn check_injected(image: &[u8], out: &[u8], blob: &[u8], summary: InjectionSummary) {
        assert_eq!(summary.output_len, out.len() as u64);
        assert_eq!(find_blob(out).unwrap(), Some(blob));
        let at = summary.blob_offset as usize;
        assert_eq!(&out[at..at + blob.len()], blob);
        assert!(fuse::find_fuse(out).unwrap().is_set());

        let before = PeHeaders::parse(image).unwrap();
        let after = PeHeaders::parse(out).unwrap();
        assert_eq!(after.check_sum, crate::pe::checksum(out).unwrap(), "CheckSum is up to date");
        assert_eq!(out.len() % after.file_alignment as usize, 0);
        let directory = after.data_directory(IMAGE_DIRECTORY_ENTRY_RESOURCE).unwrap();
        assert_eq!(directory.virtual_address, summary.section_rva);
        let section = after.section_at_rva(summary.section_rva).unwrap();
        assert_eq!(section.name, *RESOURCE_SECTION_NAME);
        assert_eq!(section.virtual_address, summary.section_rva);
        assert_eq!(u64::from(section.pointer_to_raw_data), summary.section_offset);
        assert_eq!(section.virtual_size, directory.size);
        assert_eq!(section.raw_end(), out.len() as u64, "the resource section ends the file");
        assert_eq!(u64::from(after.size_of_image), after.sections_memory_end());
        if summary.section_added {
            assert_eq!(after.sections.len(), before.sections.len() + 1);
            assert_eq!(after.sections.last(), Some(section));
            assert_eq!(u64::from(after.size_of_initialized_data), u64::from(before.size_of_initialized_data) + u64::from(section.size_of_raw_data));
            // Everything that was there is still there, except the rewritten header fields
            // and the fuse.
            let fuse_at = fuse::find_fuse(image).unwrap().offset();
            for (index, (old, new)) in image.iter().zip(out).enumerate() {
                if index >= after.section_table_end() && index != fuse_at {
                    assert_eq!(old, new, "byte {index:#x} changed");
                }
            }
            for (old, new) in before.sections.iter().zip(&after.sections) {
                let renamed = Section { name: new.name, ..*old };
                assert_eq!(&renamed, new, "sections other than the new one keep their place");
            }
        } else {
            assert_eq!(after.sections.len(), before.sections.len());
        }
        // Sections do not overlap, in memory or in the file, and stay below SizeOfImage.
        for (index, a) in after.sections.iter().enumerate() {
            for b in &after.sections[index + 1..] {
                assert!(a.virtual_end() <= u64::from(b.virtual_address) || b.virtual_end() <= u64::from(a.virtual_address));
                assert!(a.raw_end() <= u64::from(b.pointer_to_raw_data) || b.raw_end() <= u64::from(a.pointer_to_raw_data));
            }
        }
        // Every old resource survives with its bytes; the blob is the only addition.
        let mut expected = resources(image);
        expected.push(("#10".into(), "\"NODE_SEA_BLOB\"".into(), "#0".into(), blob.to_vec()));
        let mut actual = resources(out);
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected);
        // An independent parser agrees for PE32+.
        if before.kind == PeKind::Pe32Plus {
            let file = PeFile64::parse(out).expect("object parses the output");
            let directory = file.data_directories().resource_directory(out, &file.section_table()).unwrap().unwrap();
            let root = directory.root().unwrap();
            let ids: Vec<_> = root.entries.iter().map(|entry| entry.name_or_id().id()).collect();
            assert!(ids.contains(&Some(RT_RCDATA)));
        }
    }

    fn injected(image: &[u8], blob: &[u8]) -> (Vec<u8>, InjectionSummary) {
        let mut out = Vec::new();
        let summary = inject(image, blob, &mut out).unwrap();
        (out, summary)
    }

    #[test]
    fn appends_a_resource_section_keeping_every_resource() {
        for kind in [PeKind::Pe32Plus, PeKind::Pe32] {
            let image = SyntheticPe { kind, ..SyntheticPe::default() }.build();
            for len in [1, 2, 3, 7, 8, 9, 4096, 70_000] {
                let blob = blob(len);
                let (out, summary) = injected(&image, &blob);
                assert!(summary.section_added);
                check_injected(&image, &out, &blob, summary);
                let after = PeHeaders::parse(&out).unwrap();
                let old = after.sections.iter().find(|s| &s.name == OLD_RESOURCE_SECTION_NAME).unwrap();
                assert_eq!(old.virtual_address, PeHeaders::parse(&image).unwrap().sections[2].virtual_address);
                assert_eq!(after.sections.iter().filter(|s| s.name() == ".rsrc").count(), 1);
                assert_eq!(resource::find(&out, &ResourceKey::Id(RT_MANIFEST), &ResourceKey::Id(1)).unwrap(), Some(MANIFEST));
            }
        }
    }

    #[test]
    fn rewrites_a_last_resource_section_in_place() {
        let image = SyntheticPe { resources_last: true, ..SyntheticPe::default() }.build();
        let blob = blob(5000);
        let (out, summary) = injected(&image, &blob);
        assert!(!summary.section_added);
        let before = PeHeaders::parse(&image).unwrap();
        let rsrc = before.sections.last().unwrap();
        assert_eq!(summary.section_rva, rsrc.virtual_address);
        assert_eq!(summary.section_offset, u64::from(rsrc.pointer_to_raw_data));
        check_injected(&image, &out, &blob, summary);
        assert!(find_blob(&out).unwrap().is_some());
    }

    #[test]
    fn an_image_without_resources_gets_a_resource_directory() {
        let image = SyntheticPe { resources: false, ..SyntheticPe::default() }.build();
        assert!(PeHeaders::parse(&image).unwrap().data_directory(IMAGE_DIRECTORY_ENTRY_RESOURCE).unwrap().is_empty());
        let blob = blob(100);
        let (out, summary) = injected(&image, &blob);
        assert!(summary.section_added);
        check_injected(&image, &out, &blob, summary);
        assert_eq!(resources(&out).len(), 1);
    }

    #[test]
    fn the_blob_is_found_among_neighbouring_names() {
        // The synthetic tree has NODE_SEA_BLOA and NODE_SEA_BLOBS under RT_RCDATA: the blob's
        // name must land between them for the binary search.
        let image = SyntheticPe::default().build();
        let (out, _) = injected(&image, b"blob");
        let headers = PeHeaders::parse(&out).unwrap();
        let (tree, _) = resource::read(&headers, &out).unwrap().unwrap();
        let resource::ResourceNode::Table(names) = &tree.get(&ResourceKey::Id(RT_RCDATA)).unwrap().node else { panic!() };
        let shown: Vec<String> = names.entries.iter().map(|entry| entry.key.to_string()).collect();
        assert_eq!(shown, ["\"NODE_SEA_BLOA\"", "\"NODE_SEA_BLOB\"", "\"NODE_SEA_BLOBS\"", "#7"]);
        let types: Vec<String> = tree.entries.iter().map(|entry| entry.key.to_string()).collect();
        assert_eq!(types, ["#3", "#10", "#14", "#16", "#24"]);
        assert!(resource::find(&out, &ResourceKey::Id(RT_VERSION), &ResourceKey::Id(1)).unwrap().is_some());
    }

    #[test]
    fn injection_is_deterministic() {
        let image = SyntheticPe::default().build();
        assert_eq!(injected(&image, b"same").0, injected(&image, b"same").0);
    }

    #[test]
    fn refuses_already_injected_images() {
        let image = SyntheticPe::default().build();
        let (out, _) = injected(&image, b"blob");
        let error = inject(&out, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("already carries a SEA blob"), "{error}");

        // The fuse set by hand, without a blob.
        let set = SyntheticPe { fuse: Some(b'1'), ..SyntheticPe::default() }.build();
        let error = inject(&set, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("already"), "{error}");

        // The blob resource with the fuse reset is still refused.
        let mut reset = out.clone();
        reset[fuse::find_fuse(&out).unwrap().offset()] = b'0';
        let error = inject(&reset, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("RT_RCDATA resource named NODE_SEA_BLOB"), "{error}");
    }

    #[test]
    fn refuses_signed_images_and_misplaced_signatures() {
        let image = SyntheticPe::default().build();
        let signed = signed(&image);
        let error = inject(&signed, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("is signed") && error.contains("unsign"), "{error}");
        // Unsigning first makes it work.
        let unsigned = crate::pe::unsign(&signed).unwrap();
        let (out, summary) = injected(&unsigned, b"blob");
        check_injected(&unsigned, &out, b"blob", summary);

        let mut appended = signed.clone();
        appended.extend(b"data appended after the signature");
        let error = inject(&appended, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("does not end the file"), "{error}");
    }

    #[test]
    fn refuses_what_it_cannot_handle() {
        let refuse = |bytes: &[u8], blob: &[u8], expected: &str| {
            let mut out = Vec::new();
            let error = inject(bytes, blob, &mut out).unwrap_err().to_string();
            assert!(error.contains(expected), "expected {expected:?} in {error:?}");
            assert!(out.is_empty(), "nothing is written when refusing");
        };
        let image = SyntheticPe::default().build();
        refuse(b"\x7fELF\x02\x01\x01", b"blob", "not a Windows executable");
        refuse(&SyntheticPe { fuse: None, ..SyntheticPe::default() }.build(), b"blob", "not a node binary");
        refuse(&image, b"", "empty");
        refuse(&image[..image.len() - 100], b"blob", "truncated");
        let mut twice = image.clone();
        twice.extend(fuse::FUSE_SENTINEL.as_bytes());
        twice.extend(b":0");
        refuse(&twice, b"blob", "2 times");
    }

    #[test]
    fn needs_room_for_one_more_section_header() {
        // 0x400 bytes of headers hold the table of 15 sections and no more: 0x188 + 16 * 40
        // > 0x400.
        let fits = SyntheticPe { extra_sections: 10, ..SyntheticPe::default() }.build();
        let (out, summary) = injected(&fits, b"blob");
        check_injected(&fits, &out, b"blob", summary);
        let full = SyntheticPe { extra_sections: 11, ..SyntheticPe::default() }.build();
        let error = inject(&full, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("no room for another section header"), "{error}");

        // Non-zero bytes where the header would go.
        let mut used = fits.clone();
        let end = PeHeaders::parse(&used).unwrap().section_table_end();
        used[end + 3] = 0x42;
        let error = inject(&used, b"blob", &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("in use"), "{error}");
    }

    #[test]
    fn truncated_images_are_errors_not_panics() {
        let image = SyntheticPe::default().build();
        for len in (0..image.len()).step_by(7) {
            assert!(inject(&image[..len], b"blob", &mut Vec::new()).is_err(), "length {len}");
            let _ = find_blob(&image[..len]);
        }
        let (out, _) = injected(&image, b"the blob");
        for len in (0..out.len()).step_by(5) {
            let _ = find_blob(&out[..len]);
            assert!(inject(&out[..len], b"x", &mut Vec::new()).is_err(), "length {len}");
        }
    }

    #[test]
    fn corrupted_images_never_panic() {
        let image = SyntheticPe::default().build();
        let (out, summary) = injected(&image, b"blob!");
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut corrupted = out.clone();
            for _ in 0..1 + next() % 4 {
                let region = if next() % 2 == 0 { 0..0x300 } else { summary.section_offset as usize..out.len() };
                let at = region.start + (next() as usize) % region.len();
                corrupted[at] = next() as u8;
            }
            let _ = find_blob(&corrupted);
            let _ = inject(&corrupted, b"x", &mut Vec::new());
            let mut original = image.clone();
            let at = (next() as usize) % 0x1000.min(original.len());
            original[at] = next() as u8;
            let _ = inject(&original, b"x", &mut Vec::new());
        }
    }
}
