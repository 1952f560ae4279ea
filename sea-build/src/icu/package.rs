//! ICU's common data package (`icudtNNl.dat`, linked into node as `icudtNN_dat`): a data header
//! (`MappedData` with magic `0xda27`, then a `UDataInfo` whose format is `CmnD`), then a table of
//! contents (`u32` count, then per item the offsets of its name and of its data, both from the
//! start of the table), the names, and the items, each a data file with its own header.

use std::ops::Range;

use anyhow::{Result, bail, ensure};

use crate::error::fail;

/// The byte alignment of items in a package (what ICU's tools write).
const ITEM_ALIGNMENT: usize = 16;

/// The leading bytes of a data header: `headerSize` (any), then the magic `0xda 0x27`.
const MAGIC: [u8; 2] = [0xda, 0x27];

/// One item of a package: its name (`icudt78l/coll/de.res`) and its bytes (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// The item's name, with the package's own prefix.
    pub name: &'a str,
    /// The item's bytes, from its data header to the next item (alignment padding included,
    /// except after the last item).
    pub data: &'a [u8],
}

/// A parsed package: its header and items, in table order (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package<'a> {
    /// The package's data header, as it is.
    pub header: &'a [u8],
    /// The items.
    pub items: Vec<Item<'a>>,
    /// The package's length in bytes: from its header to the end of its last item.
    pub len: usize,
}

/// Reads a little-endian `u16` at `at`.
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Result<u16> {
    let end = at.checked_add(2).filter(|&end| end <= bytes.len());
    let Some(end) = end else { bail!("a 2-byte field at {at} lies past the end ({} bytes)", bytes.len()) };
    Ok(u16::from_le_bytes([bytes[at], bytes[end - 1]]))
}

/// Reads a little-endian `u32` at `at`.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Result<u32> {
    let Some(field) = at.checked_add(4).and_then(|end| bytes.get(at..end)) else { bail!("a 4-byte field at {at} lies past the end ({} bytes)", bytes.len()) };
    Ok(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
}

/// The header size and data format of a data file starting at `bytes[0]`, when it has a
/// little-endian, ASCII, UTF-16 data header.
pub(crate) fn data_header(bytes: &[u8]) -> Option<(usize, [u8; 4])> {
    if bytes.len() < 24 || bytes[2..4] != MAGIC {
        return None;
    }
    let header_size = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
    let info_size = usize::from(u16::from_le_bytes([bytes[4], bytes[5]]));
    // isBigEndian 0, charsetFamily 0 (ASCII), sizeofUChar 2.
    let little_endian_ascii = bytes[8] == 0 && bytes[9] == 0 && bytes[10] == 2;
    (info_size >= 20 && header_size >= 4 + info_size && header_size <= bytes.len() && little_endian_ascii).then(|| (header_size, [bytes[12], bytes[13], bytes[14], bytes[15]]))
}

/// The length of a data file from its header alone, for the formats whose length is recorded:
/// resource bundles (`ResB`, their `bundleTop` index). Other formats give `None`.
pub(crate) fn recorded_len(item: &[u8]) -> Option<usize> {
    let (header_size, format) = data_header(item)?;
    if &format != b"ResB" {
        return None;
    }
    let index_length = u32_at(item, header_size + 4).ok()? & 0xff;
    if index_length < 4 {
        return None;
    }
    let bundle_top = u32_at(item, header_size + 4 + 3 * 4).ok()? as usize;
    header_size.checked_add(bundle_top.checked_mul(4)?).filter(|&len| len <= item.len())
}

/// Parses the package at the start of `bytes` (which may run on past its end). Its length,
/// which the format does not record, is where its last item ends.
///
/// ```
/// assert!(sea_build::icu::package::parse(b"\x20\x00\xda\x27 not a package").is_err());
/// ```
pub fn parse(bytes: &[u8]) -> Result<Package<'_>> {
    let Some((header_size, format)) = data_header(bytes) else { fail!(DamagedInput, "no ICU data header (magic 0xda27, little-endian) at the start of the package") };
    ensure!(&format == b"CmnD" && bytes[16] == 1, "the ICU data package has format {:?} version {}, not a common data package (\"CmnD\" version 1)", String::from_utf8_lossy(&format), bytes[16]);
    let toc = &bytes[header_size..];
    let count = u32_at(toc, 0)? as usize;
    ensure!(count > 0 && count < toc.len() / 8, "the ICU data package's table of contents claims {count} items");
    let mut entries = Vec::with_capacity(count);
    for index in 0..count {
        let name_offset = u32_at(toc, 4 + index * 8)? as usize;
        let data_offset = u32_at(toc, 8 + index * 8)? as usize;
        let name_bytes = toc.get(name_offset..).unwrap_or_default();
        let Some(end) = memchr::memchr(0, name_bytes) else { bail!("item {index}'s name at {name_offset} is not terminated") };
        let Ok(name) = std::str::from_utf8(&name_bytes[..end]) else { bail!("item {index}'s name is not ASCII") };
        entries.push((name, data_offset));
    }
    let mut items = Vec::with_capacity(count);
    let mut package_end = 0;
    for (index, &(name, start)) in entries.iter().enumerate() {
        if let Some(&(previous, _)) = index.checked_sub(1).and_then(|previous| entries.get(previous)) {
            ensure!(previous < name, "the ICU data package's items are not sorted by name ({previous:?} before {name:?})");
        }
        let end = match entries.get(index + 1) {
            Some(&(_, next)) => next,
            None => {
                let Some(len) = toc.get(start..).and_then(recorded_len) else {
                    bail!("the ICU data package's last item {name:?} is not a resource bundle whose length is recorded, so the package's end is unknown")
                };
                start + len
            }
        };
        ensure!(start <= end && end <= toc.len(), "item {name:?} of the ICU data package lies outside it ({start}..{end})");
        items.push(Item { name, data: &toc[start..end] });
        package_end = end;
    }
    Ok(Package { header: &bytes[..header_size], items, len: header_size + package_end })
}

/// Writes a package of `items` (sorted by name) after `header`: the table of contents, the
/// names, then the items aligned to 16 bytes, then zeros up to `len` bytes (when `len` is
/// larger than what is written).
pub fn write(header: &[u8], items: &[Item<'_>], len: usize) -> Result<Vec<u8>> {
    let names_start = 4 + 8 * items.len();
    let names_len: usize = items.iter().map(|item| item.name.len() + 1).sum();
    let mut toc = Vec::with_capacity(names_start + names_len);
    toc.extend_from_slice(&u32::try_from(items.len())?.to_le_bytes());
    let mut names = Vec::with_capacity(names_len);
    let mut data_at = align(header.len() + names_start + names_len) - header.len();
    let mut placed = Vec::with_capacity(items.len());
    for item in items {
        toc.extend_from_slice(&u32::try_from(names_start + names.len())?.to_le_bytes());
        toc.extend_from_slice(&u32::try_from(data_at)?.to_le_bytes());
        names.extend_from_slice(item.name.as_bytes());
        names.push(0);
        placed.push(data_at);
        data_at = align(header.len() + data_at + item.data.len()) - header.len();
    }
    let mut out = Vec::with_capacity(len.max(header.len() + data_at));
    out.extend_from_slice(header);
    out.extend_from_slice(&toc);
    out.extend_from_slice(&names);
    for (item, at) in items.iter().zip(placed) {
        out.resize(header.len() + at, 0);
        out.extend_from_slice(item.data);
    }
    if out.len() < len {
        out.resize(len, 0);
    }
    Ok(out)
}

fn align(at: usize) -> usize {
    at.div_ceil(ITEM_ALIGNMENT) * ITEM_ALIGNMENT
}

/// Where the one ICU common data package in `binary` lies: found by its header (magic
/// `0xda27`, format `CmnD`) and a table of contents that parses. Errors when there is none
/// (node built with `small-icu` or the system's ICU) or more than one.
pub fn locate(binary: &[u8]) -> Result<Range<usize>> {
    let mut found = Vec::new();
    for at in memchr::memmem::find_iter(binary, b"CmnD") {
        // dataFormat lies 12 bytes into the header.
        let Some(start) = at.checked_sub(12) else { continue };
        if data_header(&binary[start..]).is_none_or(|(_, format)| &format != b"CmnD") {
            continue;
        }
        if let Ok(package) = parse(&binary[start..]) {
            found.push(start..start + package.len);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => fail!(
            Config,
            "the node binary holds no full ICU data package (a \"CmnD\" common data header): `icu` locales can trim only node's official builds with full ICU, not small-icu or system-icu builds; set `icu = \"full\"`"
        ),
        count => fail!(DamagedInput, "the node binary holds {count} ICU common data packages; sea-build trims exactly one"),
    }
}

/// Minimal data files for the unit tests of the ICU modules.
#[cfg(test)]
pub(crate) mod test_data {
    /// A data header of `format`, format version `major`.
    pub(crate) fn header(format: &[u8; 4], major: u8) -> Vec<u8> {
        let mut header = vec![0x20, 0, 0xda, 0x27, 20, 0, 0, 0, 0, 0, 2, 0];
        header.extend_from_slice(format);
        header.extend_from_slice(&[major, 0, 0, 0, 3, 0, 0, 0]);
        header.resize(0x20, 0);
        header
    }

    /// A resource bundle data file whose bundle is `words` 32-bit words long.
    pub(crate) fn bundle_with_len(words: u32) -> Vec<u8> {
        let mut bytes = header(b"ResB", 2);
        let words = words.max(8);
        let mut data = vec![0u32; words as usize];
        data[0] = 2 << 28;
        data[1] = 7;
        data[2] = 8;
        data[3] = words;
        data[4] = words;
        data[7] = 8;
        for word in data {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_data::bundle_with_len;

    fn header() -> Vec<u8> {
        super::test_data::header(b"CmnD", 1)
    }

    #[test]
    fn a_written_package_reads_back_and_is_found_inside_other_bytes() {
        let (a, b) = (bundle_with_len(6), bundle_with_len(9));
        let items = [Item { name: "icudt78l/a.res", data: &a }, Item { name: "icudt78l/b.res", data: &b }];
        let bytes = write(&header(), &items, 0).unwrap();
        let package = parse(&bytes).unwrap();
        assert_eq!(package.items.len(), 2);
        assert_eq!(package.items[0].name, "icudt78l/a.res");
        assert_eq!(&package.items[0].data[..a.len()], &a[..]);
        assert_eq!(package.items[1].data, &b[..]);
        assert_eq!(package.len, bytes.len());
        let mut binary = vec![7u8; 100];
        binary.extend_from_slice(&bytes);
        binary.extend_from_slice(&[9u8; 50]);
        assert_eq!(locate(&binary).unwrap(), 100..100 + bytes.len());
        let padded = write(&header(), &items[..1], bytes.len()).unwrap();
        assert_eq!(padded.len(), bytes.len());
        assert!(padded[parse(&padded).unwrap().len..].iter().all(|&byte| byte == 0));
    }

    #[test]
    fn damaged_packages_are_refused_without_panicking() {
        let (a, b) = (bundle_with_len(6), bundle_with_len(9));
        let bytes = write(&header(), &[Item { name: "icudt78l/a.res", data: &a }, Item { name: "icudt78l/b.res", data: &b }], 0).unwrap();
        let mut random = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        let mut refused = 0;
        for _ in 0..2000 {
            let mut damaged = bytes.clone();
            for _ in 0..3 {
                damaged = random.corrupt_one(&damaged, 0..damaged.len());
            }
            refused += usize::from(parse(&damaged).is_err());
            let _ = locate(&damaged);
        }
        assert!(refused > 0, "no damage was noticed");
        let unsorted = write(&header(), &[Item { name: "icudt78l/b.res", data: &a }, Item { name: "icudt78l/a.res", data: &b }], 0).unwrap();
        assert!(parse(&unsorted).unwrap_err().to_string().contains("sorted"));
        assert!(locate(&[0u8; 64]).is_err());
    }
}
