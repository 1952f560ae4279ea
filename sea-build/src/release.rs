//! The release archive users download: the SEA and node's LICENSE in one directory,
//! `<name>-<platform>/`, as node's own archives are laid out, compressed as each platform's
//! users expect: `.tar.xz` for Linux and macOS (the executable bit survives), `.zip` for
//! Windows.
//!
//! The archive is reproducible: entries in a fixed order (the directory, the executable,
//! LICENSE), every time stamp 1980-01-01 00:00:00 UTC (the earliest a zip can hold), owner
//! and group 0 without names, mode 0755 for the directory and the executable and 0644 for
//! LICENSE; xz preset 9 single-threaded, deflate level 9. The same inputs give the same
//! bytes wherever they are built.
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

#[cfg(feature = "windows")]
fn write_zip<W: Write + Seek>(stem: &str, members: Vec<Member<'_>>, out: W) -> Result<W> {
    use zip::write::SimpleFileOptions;
    let options = |executable: bool, len: u64| {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(mode(executable))
            .large_file(len >= u64::from(u32::MAX))
    };
    let mut zip = zip::ZipWriter::new(out);
    zip.add_directory(format!("{stem}/"), options(true, 0))?;
    for member in members {
        zip.start_file(format!("{stem}/{}", member.name), options(member.executable, member.len))?;
        let copied = std::io::copy(&mut member.contents.take(member.len), &mut zip).with_context(|| format!("could not add {}", member.name))?;
        anyhow::ensure!(copied == member.len, "{} ended after {copied} of its {} bytes", member.name, member.len);
    }
    Ok(zip.finish()?)
}

#[cfg(not(feature = "windows"))]
fn write_zip<W: Write + Seek>(_stem: &str, _members: Vec<Member<'_>>, _out: W) -> Result<W> {
    anyhow::bail!("internal error: .zip archives need the `windows` feature, which write_archive checks first")
}
