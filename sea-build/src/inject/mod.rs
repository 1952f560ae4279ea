//! Putting a preparation blob into a node executable.
//!
//! Injection has two halves that every executable format shares:
//!
//! 1. the blob is stored where node's start-up code looks for a resource named
//!    [`NODE_SEA_BLOB`] (how and where depends on the format), and
//! 2. the [`fuse`] is flipped from `:0` to `:1`, which tells node to look at all.
//!
//! Each format module works on bytes only: it takes the base image and the blob and
//! produces the injected image (streamed to a [`std::io::Write`] where the format allows
//! appending, so a 120 MB node is never copied in memory). Reading and writing files is
//! left to the caller.
//!
//! Formats: [`elf`] (Linux), [`macho`] (macOS, thin and universal; unsign first with
//! [`crate::macho::unsign`]).

pub mod elf;
pub mod fuse;
pub mod macho;

/// The resource name node looks up at run time: the ELF note name, the Mach-O section
/// name suffix (`__NODE_SEA_BLOB`) and the Windows resource name.
///
/// ```
/// assert_eq!(sea_build::inject::NODE_SEA_BLOB, "NODE_SEA_BLOB");
/// ```
pub const NODE_SEA_BLOB: &str = "NODE_SEA_BLOB";

/// Writes `count` zero bytes (padding between the parts of a streamed image).
pub(crate) fn write_zeros(
    out: &mut (impl std::io::Write + ?Sized),
    mut count: u64,
) -> std::io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while count > 0 {
        let chunk = count.min(ZEROS.len() as u64) as usize;
        out.write_all(&ZEROS[..chunk])?;
        count -= chunk as u64;
    }
    Ok(())
}
