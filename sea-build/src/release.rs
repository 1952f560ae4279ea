//! The release archive users download: the SEA and node's LICENSE in one directory,
//! `<name>-<platform>/`, as node's own archives are laid out, compressed as each platform's
//! users expect: `.tar.xz` for Linux and macOS (the executable bit survives), `.zip` for
//! Windows.
//!
//! The archive is reproducible: entries in a fixed order (the directory, the executable,
//! LICENSE), every time stamp 1980-01-01 00:00:00 UTC (the earliest a zip can hold), owner
//! and group 0 without names, mode 0755 for the directory and the executable and 0644 for
//! LICENSE; xz preset 9 single-threaded, deflate level 9 by miniz_oxide (called directly, so no
//! feature elsewhere in the dependency graph changes it). The same inputs give the same bytes
//! wherever they are built.
//!
//! `.tar.xz` needs sea-build's `xz` feature and `.zip` its `windows` feature; without them
//! [`write_archive`] fails with [`crate::ErrorKind::FeatureMissing`], naming the feature.

use std::io::{Read, Seek, Write};

use anyhow::{Context, Result};

use crate::node::{Os, Platform};

/// Every entry's modification time: 1980-01-01 00:00:00 UTC, in seconds since 1970.
pub const ARCHIVE_MTIME: u64 = 315_532_800;

/// The xz preset: the smallest output `xz -9` gives, single-threaded so the bytes do not
/// depend on the machine.
#[cfg(feature = "xz")]
const XZ_PRESET: u32 = 9;

/// How a release archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A tar archive compressed with xz (Linux and macOS).
    TarXz,
    /// A zip archive, deflated (Windows).
    Zip,
}

impl Format {
    /// The format users of `platform` expect.
    ///
    /// ```
    /// use sea_build::release::Format;
    /// assert_eq!(Format::for_platform("win-x64".parse()?), Format::Zip);
    /// assert_eq!(Format::for_platform("darwin-arm64".parse()?), Format::TarXz);
    /// # anyhow::Ok(())
    /// ```
    pub fn for_platform(platform: Platform) -> Format {
        if platform.os == Os::Windows { Format::Zip } else { Format::TarXz }
    }

    /// The file name extension, with its dot.
    ///
    /// ```
    /// assert_eq!(sea_build::release::Format::TarXz.extension(), ".tar.xz");
    /// ```
    pub fn extension(self) -> &'static str {
        match self {
            Format::TarXz => ".tar.xz",
            Format::Zip => ".zip",
        }
    }

    fn feature(self) -> crate::features::Feature {
        match self {
            Format::TarXz => crate::features::Feature::Xz,
            Format::Zip => crate::features::Feature::Windows,
        }
    }
}

/// The archive's name and its top directory's: `<name>-<platform>`, e.g. `hello-linux-x64`.
///
/// ```
/// assert_eq!(sea_build::release::archive_stem("hello", "darwin-arm64".parse()?), "hello-darwin-arm64");
/// # anyhow::Ok(())
/// ```
pub fn archive_stem(name: &str, platform: Platform) -> String {
    format!("{name}-{}", platform.node_name())
}

/// One file of a release archive, read from `contents` (exactly `len` bytes).
pub struct Member<'a> {
    /// Its name inside the top directory.
    pub name: String,
    /// Mode 0755 when true, 0644 otherwise.
    pub executable: bool,
    /// Its length in bytes.
    pub len: u64,
    /// Its bytes.
    pub contents: &'a mut dyn Read,
}

/// Writes the archive of `members`, in their order, inside the directory `stem`, to `out`;
/// see the [module docs](self). Returns `out`.
///
/// ```
/// use sea_build::release::{Format, Member, write_archive};
/// let (mut program, mut license) = (&b"#!/bin/sh\necho hi\n"[..], &b"MIT"[..]);
/// let members = vec![
///     Member { name: "hello".into(), executable: true, len: program.len() as u64, contents: &mut program },
///     Member { name: "LICENSE".into(), executable: false, len: license.len() as u64, contents: &mut license },
/// ];
/// let archive = write_archive(Format::TarXz, "hello-linux-x64", members, std::io::Cursor::new(Vec::new()))?.into_inner();
/// assert_eq!(&archive[..6], b"\xfd7zXZ\0");
/// # anyhow::Ok(())
/// ```
pub fn write_archive<W: Write + Seek>(format: Format, stem: &str, members: Vec<Member<'_>>, out: W) -> crate::Result<W> {
    format.feature().require(&format!("writing the release archive {stem}{}", format.extension()))?;
    let written = match format {
        Format::TarXz => write_tar_xz(stem, members, out),
        Format::Zip => write_zip(stem, members, out),
    };
    Ok(written.with_context(|| format!("could not write the release archive {stem}{}", format.extension()))?)
}

#[cfg(any(feature = "xz", feature = "windows"))]
fn mode(executable: bool) -> u32 {
    if executable { 0o755 } else { 0o644 }
}

/// A ustar header with every field that could vary fixed.
#[cfg(feature = "xz")]
fn tar_header(path: &str, kind: tar::EntryType, mode: u32, len: u64) -> Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path).with_context(|| format!("{path} cannot be named in a tar archive"))?;
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(len);
    header.set_mtime(ARCHIVE_MTIME);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("").context("internal error: an empty user name")?;
    header.set_groupname("").context("internal error: an empty group name")?;
    header.set_cksum();
    Ok(header)
}

#[cfg(feature = "xz")]
fn write_tar_xz<W: Write>(stem: &str, members: Vec<Member<'_>>, out: W) -> Result<W> {
    let encoder = xz2::write::XzEncoder::new(out, XZ_PRESET);
    let mut builder = tar::Builder::new(encoder);
    builder.append(&tar_header(&format!("{stem}/"), tar::EntryType::Directory, 0o755, 0)?, std::io::empty())?;
    for member in members {
        let header = tar_header(&format!("{stem}/{}", member.name), tar::EntryType::Regular, mode(member.executable), member.len)?;
        builder.append(&header, member.contents.take(member.len)).with_context(|| format!("could not add {}", member.name))?;
    }
    let encoder = builder.into_inner()?;
    Ok(encoder.finish()?)
}

#[cfg(not(feature = "xz"))]
fn write_tar_xz<W: Write>(_stem: &str, _members: Vec<Member<'_>>, _out: W) -> Result<W> {
    anyhow::bail!("internal error: .tar.xz archives need the `xz` feature, which write_archive checks first")
}

/// The DOS date and time of every zip entry: 1980-01-01 00:00:00, the earliest a zip holds.
#[cfg(feature = "windows")]
const DOS_DATE_TIME: (u16, u16) = ((1 << 5) | 1, 0);

/// "Version needed to extract": 2.0, deflate and directories.
#[cfg(feature = "windows")]
const ZIP_VERSION: u16 = 20;

/// One entry of a zip, as its local and central headers describe it.
#[cfg(feature = "windows")]
struct ZipEntry {
    name: String,
    /// The Unix mode and file type in the high half (what unzip restores), DOS attributes low.
    external_attributes: u32,
    /// 0 stored, 8 deflated.
    method: u16,
    crc: u32,
    compressed_len: u32,
    len: u32,
    /// Where its local header starts.
    offset: u32,
}

#[cfg(feature = "windows")]
impl ZipEntry {
    /// The fields both headers share, from "version needed" to the extra field's length.
    fn shared_fields(&self) -> Result<Vec<u8>> {
        let name_len = u16::try_from(self.name.len()).ok().with_context(|| format!("the name {} is too long for a zip", self.name))?;
        // Bit 11: the name is UTF-8.
        let flags: u16 = if self.name.is_ascii() { 0 } else { 1 << 11 };
        let (date, time) = DOS_DATE_TIME;
        let mut fields = Vec::with_capacity(26);
        for half in [ZIP_VERSION, flags, self.method, time, date] {
            fields.extend_from_slice(&half.to_le_bytes());
        }
        for word in [self.crc, self.compressed_len, self.len] {
            fields.extend_from_slice(&word.to_le_bytes());
        }
        fields.extend_from_slice(&name_len.to_le_bytes());
        fields.extend_from_slice(&0u16.to_le_bytes());
        Ok(fields)
    }

    fn local_header(&self) -> Result<Vec<u8>> {
        let mut header = 0x0403_4b50u32.to_le_bytes().to_vec();
        header.extend(self.shared_fields()?);
        header.extend_from_slice(self.name.as_bytes());
        Ok(header)
    }

    fn central_header(&self) -> Result<Vec<u8>> {
        let mut header = 0x0201_4b50u32.to_le_bytes().to_vec();
        // Made by: Unix (3), so readers take the mode from the external attributes.
        header.extend_from_slice(&((3 << 8) | ZIP_VERSION).to_le_bytes());
        header.extend(self.shared_fields()?);
        // Comment length, disk number, internal attributes.
        header.extend_from_slice(&[0; 6]);
        header.extend_from_slice(&self.external_attributes.to_le_bytes());
        header.extend_from_slice(&self.offset.to_le_bytes());
        header.extend_from_slice(self.name.as_bytes());
        Ok(header)
    }
}

/// Writes `entry`'s local header and `data`; returns how many bytes that took.
#[cfg(feature = "windows")]
fn write_zip_entry(out: &mut impl Write, entry: &ZipEntry, data: &[u8]) -> Result<u64> {
    let header = entry.local_header()?;
    out.write_all(&header)?;
    out.write_all(data)?;
    Ok((header.len() + data.len()) as u64)
}

/// A zip written field by field, deflated with miniz_oxide directly: through the zip crate the
/// bytes would come from flate2, whose backend is whatever the whole dependency graph turns on.
/// Each member is read whole (node.exe is about 80 MB) and stored when deflate does not shrink
/// it. An archive of 4 GiB or more (zip64) is refused.
#[cfg(feature = "windows")]
fn write_zip<W: Write + Seek>(stem: &str, members: Vec<Member<'_>>, mut out: W) -> Result<W> {
    const DIRECTORY: u32 = 0o040_000;
    const REGULAR: u32 = 0o100_000;
    const DOS_DIRECTORY: u32 = 0x10;
    let too_large = || anyhow::anyhow!("the archive would reach 4 GiB, which needs zip64: unsupported");
    let mut entries = Vec::with_capacity(members.len() + 1);
    let mut offset = 0u64;
    let directory = ZipEntry { name: format!("{stem}/"), external_attributes: ((DIRECTORY | 0o755) << 16) | DOS_DIRECTORY, method: 0, crc: 0, compressed_len: 0, len: 0, offset: 0 };
    offset += write_zip_entry(&mut out, &directory, &[])?;
    entries.push(directory);
    for member in members {
        let start = u32::try_from(offset).map_err(|_| too_large())?;
        let len = u32::try_from(member.len).map_err(|_| too_large())?;
        let mut data = Vec::with_capacity(member.len as usize);
        member.contents.take(member.len).read_to_end(&mut data).with_context(|| format!("could not read {}", member.name))?;
        anyhow::ensure!(data.len() as u64 == member.len, "{} ended after {} of its {} bytes", member.name, data.len(), member.len);
        let crc = crc32fast::hash(&data);
        let deflated = miniz_oxide::deflate::compress_to_vec(&data, 9);
        let (method, stored) = if deflated.len() < data.len() { (8, deflated) } else { (0, data) };
        let name = format!("{stem}/{}", member.name);
        let entry =
            ZipEntry { name, external_attributes: (REGULAR | mode(member.executable)) << 16, method, crc, compressed_len: u32::try_from(stored.len()).map_err(|_| too_large())?, len, offset: start };
        offset += write_zip_entry(&mut out, &entry, &stored).with_context(|| format!("could not add {}", member.name))?;
        entries.push(entry);
    }
    let central_offset = offset;
    let mut central = Vec::new();
    for entry in &entries {
        central.extend(entry.central_header()?);
    }
    out.write_all(&central)?;
    let count = u16::try_from(entries.len()).context("internal error: too many zip entries")?;
    let mut end = 0x0605_4b50u32.to_le_bytes().to_vec();
    // This disk, the disk the central directory starts on, then its entries here and in all.
    for half in [0, 0, count, count] {
        end.extend_from_slice(&half.to_le_bytes());
    }
    end.extend_from_slice(&u32::try_from(central.len()).map_err(|_| too_large())?.to_le_bytes());
    end.extend_from_slice(&u32::try_from(central_offset).map_err(|_| too_large())?.to_le_bytes());
    // No comment.
    end.extend_from_slice(&0u16.to_le_bytes());
    out.write_all(&end)?;
    Ok(out)
}

#[cfg(not(feature = "windows"))]
fn write_zip<W: Write + Seek>(_stem: &str, _members: Vec<Member<'_>>, _out: W) -> Result<W> {
    anyhow::bail!("internal error: .zip archives need the `windows` feature, which write_archive checks first")
}

#[cfg(all(test, feature = "windows"))]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    #[test]
    fn a_zip_reads_back_with_its_modes_times_and_bytes_and_incompressible_members_are_stored() {
        let program: Vec<u8> = b"MZ".iter().copied().chain(std::iter::repeat_n(b"node ".iter().copied(), 5000).flatten()).collect();
        // A xorshift sequence: deflate cannot shrink it.
        let mut state = 0x9e37_79b9_u32;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let (mut first, mut second) = (&program[..], &noise[..]);
        let members = vec![
            Member { name: "hello.exe".into(), executable: true, len: program.len() as u64, contents: &mut first },
            Member { name: "LICENSE".into(), executable: false, len: noise.len() as u64, contents: &mut second },
        ];
        let bytes = write_zip("hello-win-x64", members, Cursor::new(Vec::new())).unwrap().into_inner();
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        let expected = [
            ("hello-win-x64/", 0o040_755, &[][..], zip::CompressionMethod::Stored),
            ("hello-win-x64/hello.exe", 0o100_755, &program[..], zip::CompressionMethod::Deflated),
            ("hello-win-x64/LICENSE", 0o100_644, &noise[..], zip::CompressionMethod::Stored),
        ];
        assert_eq!(archive.len(), expected.len());
        for (index, (name, mode, contents, method)) in expected.into_iter().enumerate() {
            let mut entry = archive.by_index(index).unwrap();
            assert_eq!((entry.name(), entry.unix_mode(), entry.compression()), (name, Some(mode), method));
            let time = entry.last_modified().unwrap();
            assert_eq!((time.year(), time.month(), time.day(), time.hour(), time.minute(), time.second()), (1980, 1, 1, 0, 0, 0));
            let mut read = Vec::new();
            // The reader checks each CRC as the entry ends.
            entry.read_to_end(&mut read).unwrap();
            assert!(read == contents, "{name}");
        }
        // Every byte is decided by the inputs: the same members give the same archive.
        let (mut first, mut second) = (&program[..], &noise[..]);
        let again = vec![
            Member { name: "hello.exe".into(), executable: true, len: program.len() as u64, contents: &mut first },
            Member { name: "LICENSE".into(), executable: false, len: noise.len() as u64, contents: &mut second },
        ];
        assert!(write_zip("hello-win-x64", again, Cursor::new(Vec::new())).unwrap().into_inner() == bytes);
    }

    #[test]
    fn a_member_shorter_than_declared_is_an_error() {
        let mut short = &b"abc"[..];
        let members = vec![Member { name: "x".into(), executable: false, len: 10, contents: &mut short }];
        let error = write_zip("s", members, Cursor::new(Vec::new())).unwrap_err();
        assert!(format!("{error:#}").contains("ended after 3 of its 10 bytes"), "{error:#}");
    }
}
