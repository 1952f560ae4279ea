//! The version resource (`RT_VERSION`, `VS_VERSIONINFO`) that Explorer's "Details" tab,
//! `GetFileVersionInfoW` and antivirus reputation read.
//!
//! The resource is a tree of nodes, each
//!
//! ```text
//! WORD wLength        the node with its children, without padding after the last child
//! WORD wValueLength   WCHARs (with the terminator) for text, bytes for binary values
//! WORD wType          1 text, 0 binary
//! WCHAR szKey[]       NUL-terminated UTF-16, then padding to 32 bits
//! value               then padding to 32 bits
//! children            each starting on a 32-bit boundary
//! ```
//!
//! with `VS_VERSION_INFO` (value: the 52-byte `VS_FIXEDFILEINFO`) at the root, a
//! `StringFileInfo` holding one `StringTable` for US English / Unicode (`040904B0`), and a
//! `VarFileInfo` whose `Translation` names that same pair. [`VersionInfo::to_bytes`] writes
//! the strings in a fixed order and a zero file date, so the same input gives the same bytes.

use std::collections::BTreeMap;

use anyhow::{Result, bail, ensure};

/// The string keys Windows documents for a `StringTable`, in the order they are written.
pub const STRING_KEYS: [&str; 12] = [
    "CompanyName",
    "FileDescription",
    "FileVersion",
    "InternalName",
    "LegalCopyright",
    "LegalTrademarks",
    "OriginalFilename",
    "ProductName",
    "ProductVersion",
    "Comments",
    "PrivateBuild",
    "SpecialBuild",
];

/// The language of the string table and of the resource: US English.
pub const LANGUAGE_EN_US: u16 = 0x0409;
/// The code page of the string table: Unicode (UTF-16).
pub const CODE_PAGE_UNICODE: u16 = 0x04B0;

/// `VS_FIXEDFILEINFO.dwSignature`.
const FIXED_SIGNATURE: u32 = 0xFEEF_04BD;
/// `VS_FF_PRERELEASE`: set when the version has a pre-release suffix.
const VS_FF_PRERELEASE: u32 = 0x2;
/// `VOS_NT_WINDOWS32`.
const VOS_NT_WINDOWS32: u32 = 0x0004_0004;
/// `VFT_APP`.
const VFT_APP: u32 = 1;

/// A version as Windows stores it in the fixed block: four 16-bit parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixedVersion {
    /// major, minor, patch (build), revision.
    pub parts: [u16; 4],
    /// Whether the text had a pre-release suffix (`-beta.1`), which only the strings keep.
    pub prerelease: bool,
}

impl FixedVersion {
    /// Parses `1`, `1.2`, `1.2.3` or `1.2.3.4`, optionally followed by a semver pre-release
    /// (`-beta.4`) and build (`+abc`) suffix, which have no place in the four numbers.
    ///
    /// ```
    /// use sea_build::pe::version_info::FixedVersion;
    /// let version = FixedVersion::parse("1.2.3-beta.4+abc")?;
    /// assert_eq!(version.parts, [1, 2, 3, 0]);
    /// assert!(version.prerelease);
    /// assert!(FixedVersion::parse("1.70000.0").is_err());
    /// # anyhow::Ok(())
    /// ```
    pub fn parse(text: &str) -> Result<FixedVersion> {
        let (core, build) = text.split_once('+').map_or((text, None), |(core, build)| (core, Some(build)));
        let (numbers, prerelease) = core.split_once('-').map_or((core, None), |(numbers, pre)| (numbers, Some(pre)));
        let usage = "write it as up to four numbers from 0 to 65535, such as 1.2.3 or 1.2.3.4, optionally with a pre-release suffix such as 1.2.3-beta.1";
        ensure!(!numbers.is_empty() && prerelease != Some("") && build != Some(""), "the version `{text}` cannot be a Windows file version: {usage}");
        let mut parts = [0u16; 4];
        let pieces: Vec<&str> = numbers.split('.').collect();
        ensure!(pieces.len() <= 4, "the version `{text}` has {} numbers, a Windows file version at most 4: {usage}", pieces.len());
        for (slot, piece) in parts.iter_mut().zip(&pieces) {
            if piece.is_empty() || !piece.bytes().all(|b| b.is_ascii_digit()) {
                bail!("the version `{text}` has `{piece}` where a number belongs: {usage}");
            }
            *slot = match piece.parse::<u16>() {
                Ok(value) => value,
                Err(_) => bail!("the version `{text}` has the part {piece}, over the 65535 a Windows file version part can hold: {usage}"),
            };
        }
        Ok(FixedVersion { parts, prerelease: prerelease.is_some() })
    }

    /// The most significant DWORD (`major << 16 | minor`).
    pub fn ms(&self) -> u32 {
        u32::from(self.parts[0]) << 16 | u32::from(self.parts[1])
    }

    /// The least significant DWORD (`patch << 16 | revision`).
    pub fn ls(&self) -> u32 {
        u32::from(self.parts[2]) << 16 | u32::from(self.parts[3])
    }
}

/// The contents of a version resource: the strings and the two numeric versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionInfo {
    /// String keys (any of [`STRING_KEYS`]) to values; written in [`STRING_KEYS`] order.
    pub strings: BTreeMap<String, String>,
    /// The fixed block's file version.
    pub file_version: FixedVersion,
    /// The fixed block's product version.
    pub product_version: FixedVersion,
}

/// Identity fields of a package, as Cargo knows them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageFields {
    /// `package.name`.
    pub name: String,
    /// `package.version`.
    pub version: String,
    /// `package.description`.
    pub description: Option<String>,
    /// `package.authors` (`Name <email>` each).
    pub authors: Vec<String>,
}

impl VersionInfo {
    /// The version resource a package gets by default, then `overrides` applied: a key with
    /// a value sets it, a key with an empty value removes it. `FileVersion` and
    /// `ProductVersion` set the fixed block too. `file_name` is the artifact's (`app.exe`).
    ///
    /// Defaults: ProductName and InternalName the package name, FileVersion and
    /// ProductVersion its version, FileDescription its description (else its name),
    /// CompanyName its authors without their e-mail addresses, OriginalFilename `file_name`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use sea_build::pe::version_info::{PackageFields, VersionInfo};
    /// let package = PackageFields { name: "hello".into(), version: "1.2.3".into(), description: None, authors: vec!["Ann <ann@example.org>".into()] };
    /// let overrides = BTreeMap::from([("LegalCopyright".to_owned(), "(c) Ann".to_owned()), ("InternalName".to_owned(), String::new())]);
    /// let info = VersionInfo::for_package(&package, "hello.exe", &overrides)?;
    /// assert_eq!(info.strings["CompanyName"], "Ann");
    /// assert_eq!(info.strings["LegalCopyright"], "(c) Ann");
    /// assert!(!info.strings.contains_key("InternalName"));
    /// assert_eq!(info.file_version.parts, [1, 2, 3, 0]);
    /// # anyhow::Ok(())
    /// ```
    pub fn for_package(package: &PackageFields, file_name: &str, overrides: &BTreeMap<String, String>) -> Result<VersionInfo> {
        let mut strings = BTreeMap::new();
        let mut set = |key: &str, value: &str| {
            if !value.is_empty() {
                strings.insert(key.to_owned(), value.to_owned());
            }
        };
        set("ProductName", &package.name);
        set("InternalName", &package.name);
        set("FileVersion", &package.version);
        set("ProductVersion", &package.version);
        set("FileDescription", package.description.as_deref().map(str::trim).filter(|d| !d.is_empty()).unwrap_or(&package.name));
        let companies: Vec<&str> = package.authors.iter().map(|author| author.split('<').next().unwrap_or_default().trim()).filter(|name| !name.is_empty()).collect();
        set("CompanyName", &companies.join(", "));
        set("OriginalFilename", file_name);
        for (key, value) in overrides {
            if !STRING_KEYS.contains(&key.as_str()) {
                bail!("`{key}` is not a version-info key Windows knows; use one of {}", STRING_KEYS.join(", "));
            }
            if value.is_empty() {
                strings.remove(key);
            } else {
                strings.insert(key.clone(), value.clone());
            }
        }
        let numeric = |key: &str| -> Result<FixedVersion> {
            match strings.get(key) {
                Some(text) => FixedVersion::parse(text).map_err(|error| anyhow::anyhow!("{key}: {error}")),
                None => Ok(FixedVersion::default()),
            }
        };
        let (file_version, product_version) = (numeric("FileVersion")?, numeric("ProductVersion")?);
        Ok(VersionInfo { strings, file_version, product_version })
    }

    /// The 52-byte `VS_FIXEDFILEINFO`.
    pub fn fixed_file_info(&self) -> [u8; 52] {
        let flags = if self.file_version.prerelease || self.product_version.prerelease { VS_FF_PRERELEASE } else { 0 };
        let words = [
            FIXED_SIGNATURE,
            0x0001_0000,
            self.file_version.ms(),
            self.file_version.ls(),
            self.product_version.ms(),
            self.product_version.ls(),
            0x3F,
            flags,
            VOS_NT_WINDOWS32,
            VFT_APP,
            0,
            // FileDateMS/LS: zero, so that the resource does not depend on the build time.
            0,
            0,
        ];
        let mut bytes = [0u8; 52];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// The resource bytes (`VS_VERSIONINFO`).
    ///
    /// Fails when a node would exceed the 65535 bytes its length field can count.
    ///
    /// ```
    /// use sea_build::pe::version_info::{FixedVersion, VersionInfo};
    /// let info = VersionInfo { strings: [("ProductName".to_owned(), "Hello".to_owned())].into(), file_version: FixedVersion::parse("1.2")?, product_version: FixedVersion::parse("1.2")? };
    /// let bytes = info.to_bytes()?;
    /// assert_eq!(u16::from_le_bytes([bytes[0], bytes[1]]) as usize, bytes.len());
    /// assert_eq!(VersionInfo::parse(&bytes)?, info);
    /// # anyhow::Ok(())
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut strings = Vec::new();
        for key in STRING_KEYS {
            if let Some(value) = self.strings.get(key) {
                strings.push(node(key, Value::Text(value), &[])?);
            }
        }
        let table = node("040904B0", Value::None, &strings)?;
        let string_file_info = node("StringFileInfo", Value::None, &[table])?;
        let translation = (u32::from(CODE_PAGE_UNICODE) << 16 | u32::from(LANGUAGE_EN_US)).to_le_bytes();
        let var = node("Translation", Value::Binary(&translation), &[])?;
        let var_file_info = node("VarFileInfo", Value::None, &[var])?;
        node("VS_VERSION_INFO", Value::Binary(&self.fixed_file_info()), &[string_file_info, var_file_info])
    }

    /// Reads a version resource back: the strings of its first string table and the fixed
    /// block's versions (pre-release taken from its flags). For tests and checks.
    pub fn parse(bytes: &[u8]) -> Result<VersionInfo> {
        let root = Node::read(bytes, 0)?;
        ensure!(root.key == "VS_VERSION_INFO" && root.value.len() == 52, "not a version resource: the root is `{}` with a value of {} bytes", root.key, root.value.len());
        let word = |at: usize| u32::from_le_bytes([root.value[at], root.value[at + 1], root.value[at + 2], root.value[at + 3]]);
        ensure!(word(0) == FIXED_SIGNATURE, "the fixed file info has the signature {:#x}, not 0xfeef04bd", word(0));
        let prerelease = word(28) & VS_FF_PRERELEASE != 0;
        let fixed = |ms: u32, ls: u32| FixedVersion { parts: [(ms >> 16) as u16, ms as u16, (ls >> 16) as u16, ls as u16], prerelease };
        let mut strings = BTreeMap::new();
        for child in root.children(bytes)? {
            if child.key == "StringFileInfo"
                && let Some(table) = child.children(bytes)?.into_iter().next()
            {
                for string in table.children(bytes)? {
                    let units: Vec<u16> = string.value.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).take_while(|&unit| unit != 0).collect();
                    strings.insert(string.key.clone(), String::from_utf16_lossy(&units));
                }
            }
        }
        Ok(VersionInfo { strings, file_version: fixed(word(8), word(12)), product_version: fixed(word(16), word(20)) })
    }
}

/// A node's value.
enum Value<'a> {
    None,
    Text(&'a str),
    Binary(&'a [u8]),
}

/// One node with its already encoded children.
fn node(key: &str, value: Value<'_>, children: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; 6];
    out.extend(key.encode_utf16().chain([0]).flat_map(u16::to_le_bytes));
    pad4(&mut out);
    let (value_length, kind) = match value {
        Value::None => (0, 1u16),
        Value::Text(text) => {
            let units: Vec<u16> = text.encode_utf16().chain([0]).collect();
            out.extend(units.iter().flat_map(|unit| unit.to_le_bytes()));
            (units.len(), 1)
        }
        Value::Binary(bytes) => {
            out.extend_from_slice(bytes);
            (bytes.len(), 0)
        }
    };
    for child in children {
        pad4(&mut out);
        out.extend_from_slice(child);
    }
    let too_long = || anyhow::anyhow!("the version-info entry `{key}` is {} bytes, more than the 65535 its length field holds: shorten its strings", out.len());
    let length = u16::try_from(out.len()).map_err(|_| too_long())?;
    let value_length = u16::try_from(value_length).map_err(|_| too_long())?;
    out[0..2].copy_from_slice(&length.to_le_bytes());
    out[2..4].copy_from_slice(&value_length.to_le_bytes());
    out[4..6].copy_from_slice(&kind.to_le_bytes());
    Ok(out)
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// A node read back: its key, value bytes and where its children lie.
struct Node {
    key: String,
    value: Vec<u8>,
    children: std::ops::Range<usize>,
}

impl Node {
    fn read(bytes: &[u8], at: usize) -> Result<Node> {
        let damaged = |what: &str| anyhow::anyhow!("the version resource is damaged at offset {at}: {what}");
        let header = bytes.get(at..at + 6).ok_or_else(|| damaged("the header runs past the end"))?;
        let length = usize::from(u16::from_le_bytes([header[0], header[1]]));
        let value_length = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let text = u16::from_le_bytes([header[4], header[5]]) == 1;
        let end = at + length;
        ensure!(length >= 6 && end <= bytes.len(), damaged("its length runs past the end"));
        let mut units = Vec::new();
        let mut cursor = at + 6;
        loop {
            let pair = bytes.get(cursor..cursor + 2).filter(|_| cursor + 2 <= end).ok_or_else(|| damaged("the key is not terminated"))?;
            cursor += 2;
            let unit = u16::from_le_bytes([pair[0], pair[1]]);
            if unit == 0 {
                break;
            }
            units.push(unit);
        }
        let value_start = cursor.next_multiple_of(4);
        let value_len = if text { value_length * 2 } else { value_length };
        let value_end = (value_start + value_len).min(end);
        let value = bytes.get(value_start..value_end).unwrap_or_default().to_vec();
        Ok(Node { key: String::from_utf16_lossy(&units), value, children: value_end.next_multiple_of(4).min(end)..end })
    }

    fn children(&self, bytes: &[u8]) -> Result<Vec<Node>> {
        let mut children = Vec::new();
        let mut at = self.children.start;
        while at + 6 <= self.children.end {
            let child = Node::read(&bytes[..self.children.end], at)?;
            let length = usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
            children.push(child);
            at = (at + length).next_multiple_of(4);
        }
        Ok(children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    fn package() -> PackageFields {
        PackageFields { name: "hello".into(), version: "0.3.1-rc.2".into(), description: Some("Says hello".into()), authors: vec!["Ann Example <ann@example.org>".into(), "Bob".into()] }
    }

    #[test]
    fn defaults_come_from_the_package() {
        let info = VersionInfo::for_package(&package(), "hello.exe", &BTreeMap::new()).unwrap();
        let expected: BTreeMap<String, String> = [
            ("CompanyName", "Ann Example, Bob"),
            ("FileDescription", "Says hello"),
            ("FileVersion", "0.3.1-rc.2"),
            ("InternalName", "hello"),
            ("OriginalFilename", "hello.exe"),
            ("ProductName", "hello"),
            ("ProductVersion", "0.3.1-rc.2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(info.strings, expected);
        assert_eq!(info.file_version, FixedVersion { parts: [0, 3, 1, 0], prerelease: true });
        let no_description = PackageFields { description: None, authors: vec![], ..package() };
        let info = VersionInfo::for_package(&no_description, "hello.exe", &BTreeMap::new()).unwrap();
        assert_eq!(info.strings["FileDescription"], "hello");
        assert!(!info.strings.contains_key("CompanyName"));
    }

    #[test]
    fn overrides_set_remove_and_are_checked() {
        let overrides = BTreeMap::from([("FileVersion".to_owned(), "2.0.0.7".to_owned()), ("CompanyName".to_owned(), String::new())]);
        let info = VersionInfo::for_package(&package(), "hello.exe", &overrides).unwrap();
        assert_eq!(info.file_version.parts, [2, 0, 0, 7]);
        assert!(!info.file_version.prerelease);
        assert_eq!(info.product_version.parts, [0, 3, 1, 0]);
        assert!(!info.strings.contains_key("CompanyName"));
        let typo = BTreeMap::from([("Copyright".to_owned(), "me".to_owned())]);
        let error = VersionInfo::for_package(&package(), "hello.exe", &typo).unwrap_err().to_string();
        assert!(error.contains("`Copyright`") && error.contains("LegalCopyright"), "{error}");
        let huge = BTreeMap::from([("ProductVersion".to_owned(), "1.65536".to_owned())]);
        let error = VersionInfo::for_package(&package(), "hello.exe", &huge).unwrap_err().to_string();
        assert!(error.contains("ProductVersion") && error.contains("65536") && error.contains("65535"), "{error}");
    }

    #[test]
    fn versions_parse_or_say_why_not() {
        assert_eq!(FixedVersion::parse("7").unwrap().parts, [7, 0, 0, 0]);
        assert_eq!(FixedVersion::parse("1.2.3.65535").unwrap().parts, [1, 2, 3, 65535]);
        assert!(!FixedVersion::parse("1.2.3+build.5").unwrap().prerelease);
        for bad in ["", "1.2.3.4.5", "1..2", "v1.2", "1.2.x", "1.2.3-", "1.2.3+", "-1", "1.99999"] {
            assert!(FixedVersion::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_layout_follows_vs_versioninfo() {
        let info = VersionInfo::for_package(&package(), "hello.exe", &BTreeMap::new()).unwrap();
        let bytes = info.to_bytes().unwrap();
        // Root header: total length, 52-byte binary value, then "VS_VERSION_INFO\0" (32
        // bytes) at 6, padded to 40, where the fixed block starts with its signature.
        assert_eq!(u16::from_le_bytes([bytes[0], bytes[1]]) as usize, bytes.len());
        assert_eq!(&bytes[2..6], &[52, 0, 0, 0]);
        assert_eq!(&bytes[40..44], &FIXED_SIGNATURE.to_le_bytes());
        assert_eq!(&bytes[48..52], &0x0000_0003u32.to_le_bytes(), "FileVersionMS 0.3");
        assert_eq!(&bytes[52..56], &0x0001_0000u32.to_le_bytes(), "FileVersionLS 1.0");
        assert_eq!(&bytes[68..72], &VS_FF_PRERELEASE.to_le_bytes());
        assert_eq!(&bytes[72..76], &VOS_NT_WINDOWS32.to_le_bytes());
        // The translation pair ends the resource.
        assert_eq!(&bytes[bytes.len() - 4..], &[0x09, 0x04, 0xB0, 0x04]);
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(VersionInfo::parse(&bytes).unwrap(), info);
        assert_eq!(info.to_bytes().unwrap(), bytes, "deterministic");
        // A string node: "ProductName" = "hello": wValueLength counts WCHARs with the NUL.
        let key: Vec<u8> = "ProductName\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap() - 6;
        assert_eq!(u16::from_le_bytes([bytes[at + 2], bytes[at + 3]]), 6);
        assert_eq!(u16::from_le_bytes([bytes[at + 4], bytes[at + 5]]), 1);
    }

    #[test]
    fn oversized_and_damaged_input_is_an_error() {
        let long = BTreeMap::from([("Comments".to_owned(), "x".repeat(40_000))]);
        let info = VersionInfo::for_package(&package(), "hello.exe", &long).unwrap();
        assert!(info.to_bytes().unwrap_err().to_string().contains("65535"));
        let bytes = VersionInfo::for_package(&package(), "hello.exe", &BTreeMap::new()).unwrap().to_bytes().unwrap();
        for len in 0..bytes.len() {
            let _ = VersionInfo::parse(&bytes[..len]);
        }
        let mut random = XorShift(0x1234_5678_9abc_def1u64);
        for _ in 0..2000 {
            let _ = VersionInfo::parse(&random.corrupt_one(&bytes, 0..bytes.len()));
        }
    }
}
