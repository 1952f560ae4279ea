//! The head of a node startup snapshot, as `use-snapshot` blobs carry it in place of the main
//! source: which node build made it.
//!
//! Node refuses at start-up a snapshot made by another version, architecture or platform, so
//! verify-cache reads these fields and compares them with the artifact's manifest before it
//! runs the artifact. Layout (little-endian; "str" = u64 byte length + bytes), the same in the
//! node 22, 24 and 26 releases measured: `u32` magic `0x0143da19`, `u8` snapshot type, str
//! node version (without `v`), str arch (`process.arch`), str platform (`process.platform`),
//! then V8 and node data this module does not read.

use anyhow::{Result, bail};

use crate::node::{Arch, Os, Platform};

/// The magic number a node snapshot starts with.
pub const MAGIC: u32 = 0x0143_da19;

/// Which node build made a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMetadata<'a> {
    /// The node version, such as `24.21.0`.
    pub node_version: &'a str,
    /// `process.arch` of that node: `x64`, `arm64`, `ppc64`, ...
    pub arch: &'a str,
    /// `process.platform` of that node: `linux`, `win32`, `darwin`.
    pub platform: &'a str,
}

/// Reads the head of the snapshot `bytes` (the blob's main with its snapshot flag set).
///
/// ```
/// let mut bytes = 0x0143da19u32.to_le_bytes().to_vec();
/// bytes.push(1);
/// for text in ["24.21.0", "x64", "linux"] {
///     bytes.extend((text.len() as u64).to_le_bytes());
///     bytes.extend(text.as_bytes());
/// }
/// let metadata = sea_build::snapshot::parse_metadata(&bytes)?;
/// assert_eq!((metadata.node_version, metadata.arch, metadata.platform), ("24.21.0", "x64", "linux"));
/// assert!(sea_build::snapshot::parse_metadata(b"const x = 1;").is_err());
/// # anyhow::Ok(())
/// ```
pub fn parse_metadata(bytes: &[u8]) -> Result<SnapshotMetadata<'_>> {
    let Some((magic, rest)) = bytes.split_first_chunk::<4>() else { bail!("the snapshot is {} bytes, too short for a node snapshot header", bytes.len()) };
    let magic = u32::from_le_bytes(*magic);
    if magic != MAGIC {
        bail!("the blob's main does not start with node's snapshot magic {MAGIC:#010x} (it starts with {magic:#010x}): it is not a startup snapshot");
    }
    // The snapshot type byte.
    let Some((_, mut rest)) = rest.split_first() else { bail!("the snapshot header ends after its magic") };
    let mut string = |what: &str| -> Result<&[u8]> {
        let Some((len, after)) = rest.split_first_chunk::<8>() else { bail!("the snapshot header ends before its {what}") };
        let len = u64::from_le_bytes(*len);
        // Version, arch and platform names are short; anything long is damage.
        if len > 64 || len as usize > after.len() {
            bail!("the snapshot header's {what} is {len} bytes long: the snapshot is damaged");
        }
        let (text, after) = after.split_at(len as usize);
        rest = after;
        Ok(text)
    };
    fn text<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
        std::str::from_utf8(bytes).map_err(|_| anyhow::anyhow!("the snapshot header's {what} is not text: the snapshot is damaged"))
    }
    let (version, arch, platform) = (string("node version")?, string("architecture")?, string("platform")?);
    Ok(SnapshotMetadata { node_version: text(version, "node version")?, arch: text(arch, "architecture")?, platform: text(platform, "platform")? })
}

/// How node for `platform` spells its `process.arch` and `process.platform`, as a snapshot
/// it made records them.
///
/// ```
/// let platform: sea_build::node::Platform = "linux-ppc64le".parse()?;
/// assert_eq!(sea_build::snapshot::process_names(platform), ("ppc64", "linux"));
/// assert_eq!(sea_build::snapshot::process_names("win-x64".parse()?), ("x64", "win32"));
/// # anyhow::Ok(())
/// ```
pub fn process_names(platform: Platform) -> (&'static str, &'static str) {
    let arch = match platform.arch {
        Arch::X64 => "x64",
        Arch::Arm64 => "arm64",
        Arch::Armv7l => "arm",
        Arch::Ppc64le => "ppc64",
        Arch::S390x => "s390x",
        Arch::X86 => "ia32",
    };
    let os = match platform.os {
        Os::Linux => "linux",
        Os::Darwin => "darwin",
        Os::Windows => "win32",
    };
    (arch, os)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: &str) -> Vec<u8> {
        let mut bytes = MAGIC.to_le_bytes().to_vec();
        bytes.push(1);
        for text in [version, "arm64", "darwin"] {
            bytes.extend((text.len() as u64).to_le_bytes());
            bytes.extend(text.as_bytes());
        }
        bytes.extend([0xf8, 0x15, 0x33, 0x00]);
        bytes
    }

    #[test]
    fn reads_the_head_and_refuses_every_truncation() {
        let bytes = header("26.10.0");
        assert_eq!(parse_metadata(&bytes).unwrap(), SnapshotMetadata { node_version: "26.10.0", arch: "arm64", platform: "darwin" });
        // 4 trailing bytes are not part of the head.
        for len in 0..bytes.len() - 4 {
            assert!(parse_metadata(&bytes[..len]).is_err(), "{len}");
        }
        let mut huge = header("1");
        huge[5..13].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse_metadata(&huge).unwrap_err().to_string().contains("damaged"));
    }
}
