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
//! injection, if at all), or [`plan`] with [`Options::unsign`], which leaves the table out
//! in the same pass.
//!
//! The injection is one [`plan`], a [`Splice`] of the base: [`inject`] writes it from an
//! image in memory; `sea_build::commands` copies its base ranges file to file and reads only
//! the headers and the resources.

use std::io::Write;

use anyhow::{Context, Result};
use object::pe::RT_RCDATA;

use super::{NODE_SEA_BLOB, fuse};
use crate::pe::identity::ResourceChanges;
use crate::pe::resource::{self, ResourceKey};
use crate::pe::{Checksum, PeImage};
use crate::splice::{Piece, Splice};

mod plan;
#[cfg(test)]
mod tests;

pub use plan::{Options, Plan, plan};

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
    let Plan { mut splice, check_sum_offset, summary } = plan(&PeImage::whole(image), blob, changes, Options::default(), |len| fuse::unset_fuse_offset(&image[..len as usize]))?;
    let check_sum = splice_checksum(&splice, image, blob)?;
    splice.patch(check_sum_offset as u64, &check_sum.to_le_bytes())?;
    splice.write(image, blob, out).context("writing the injected executable failed")?;
    Ok(summary)
}

/// The PE CheckSum of what `splice` writes from `image` and `blob` (whose CheckSum field
/// must be zero).
fn splice_checksum(splice: &Splice, image: &[u8], blob: &[u8]) -> Result<u32> {
    splice.check_bounds(image.len() as u64)?;
    let mut sum = Checksum::new();
    for piece in splice.pieces() {
        match piece {
            Piece::Base(range) => sum.update(&image[range.start as usize..range.end as usize]),
            Piece::Bytes(bytes) => sum.update(bytes),
            Piece::Zeros(count) => sum.update_zeros(*count),
            Piece::Blob => sum.update(blob),
        }
    }
    Ok(sum.finish())
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
