//! ICU resource bundles (`.res`, data format `ResB`): just enough to read a bundle's top-level
//! strings (`%%Parent`, `%%ALIAS`), read a bundle of tables and strings (`res_index`), and
//! write one again.
//!
//! After the data header: the root resource (`u32`), the indexes (`indexes[0]` low byte: their
//! count), the key strings, the 16-bit units (tables of 16-bit resources, strings), then the
//! 32-bit resources. A resource is a type (top 4 bits) and an offset (28 bits). Keys may live
//! in the tree's pool bundle (`pool.res`), and so may strings.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};

use super::package::{data_header, u16_at, u32_at};

const STRING: u32 = 0;
const TABLE: u32 = 2;
const TABLE32: u32 = 4;
const TABLE16: u32 = 5;
const STRING_V2: u32 = 6;

const INDEX_KEYS_TOP: usize = 1;
const INDEX_BUNDLE_TOP: usize = 3;
const INDEX_ATTRIBUTES: usize = 5;
const INDEX_16BIT_TOP: usize = 6;

const ATTRIBUTE_NO_FALLBACK: u32 = 1;
const ATTRIBUTE_USES_POOL_BUNDLE: u32 = 4;

/// Strings up to this length are written NUL-terminated without a length (as genrb does).
const MAX_IMPLICIT_STRING_LENGTH: usize = 40;

/// A value of a bundle that holds only tables and strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string.
    String(String),
    /// A table: keys (sorted) to values.
    Table(BTreeMap<String, Value>),
}

/// A parsed resource bundle.
pub(crate) struct Bundle<'a> {
    /// The data header, as it is.
    pub header: &'a [u8],
    /// The bundle: from the root resource to `bundleTop`.
    data: &'a [u8],
    index_length: usize,
    local_key_limit: usize,
    /// Byte offset of the 16-bit units in `data`, when there are any.
    units16: Option<usize>,
    pool_string_limit: u32,
    pool_string16_limit: u32,
    /// The attributes index.
    pub attributes: u32,
}

impl<'a> Bundle<'a> {
    /// Parses a `.res` data file (header included).
    pub fn parse(bytes: &'a [u8]) -> Result<Bundle<'a>> {
        let Some((header_size, format)) = data_header(bytes) else { bail!("not an ICU data file (no little-endian data header)") };
        ensure!(&format == b"ResB", "not a resource bundle (data format {:?})", String::from_utf8_lossy(&format));
        let major = bytes[16];
        ensure!((2..=3).contains(&major), "resource bundle format version {major} is not supported (2 and 3 are)");
        let data = &bytes[header_size..];
        let index = |at: usize| u32_at(data, 4 + at * 4);
        let first = index(0)?;
        let index_length = (first & 0xff) as usize;
        ensure!(index_length > INDEX_16BIT_TOP, "the bundle has {index_length} indexes, fewer than format version 2 has");
        let bundle_top = index(INDEX_BUNDLE_TOP)? as usize * 4;
        ensure!(bundle_top <= data.len() && bundle_top >= (1 + index_length) * 4, "the bundle's length ({bundle_top}) does not fit its data ({} bytes)", data.len());
        let data = &data[..bundle_top];
        let keys_top = index(INDEX_KEYS_TOP)? as usize;
        let attributes = index(INDEX_ATTRIBUTES)?;
        let local_key_limit = if keys_top > 1 + index_length { keys_top * 4 } else { 0 };
        let units16 = (index(INDEX_16BIT_TOP)? as usize > keys_top).then_some(keys_top * 4);
        let mut pool_string_limit = if major >= 3 { first >> 8 } else { 0 };
        pool_string_limit |= (attributes & 0xf000) << 12;
        Ok(Bundle { header: &bytes[..header_size], data, index_length, local_key_limit, units16, pool_string_limit, pool_string16_limit: attributes >> 16, attributes })
    }

    /// Whether the bundle's keys and strings may live in its tree's pool bundle.
    pub fn uses_pool(&self) -> bool {
        self.attributes & ATTRIBUTE_USES_POOL_BUNDLE != 0
    }

    fn root(&self) -> Result<u32> {
        u32_at(self.data, 0)
    }

    fn key16(&self, offset: u16, pool: Option<&Bundle<'a>>) -> Result<&'a str> {
        let offset = usize::from(offset);
        if offset < self.local_key_limit { c_string(self.data, offset) } else { self.pool_key(offset - self.local_key_limit, pool) }
    }

    fn key32(&self, offset: u32, pool: Option<&Bundle<'a>>) -> Result<&'a str> {
        if offset & 0x8000_0000 == 0 { c_string(self.data, offset as usize) } else { self.pool_key((offset & 0x7fff_ffff) as usize, pool) }
    }

    fn pool_key(&self, offset: usize, pool: Option<&Bundle<'a>>) -> Result<&'a str> {
        let Some(pool) = pool else { bail!("a key lies in the pool bundle, and there is none") };
        // The pool's keys start right after its indexes.
        c_string(pool.data, (1 + pool.index_length) * 4 + offset)
    }

    /// The string at 16-bit unit `offset` (a `STRING_V2` resource's offset).
    fn string_v2(&self, offset: u32, pool: Option<&Bundle<'a>>) -> Result<String> {
        let (units, at) = if offset < self.pool_string_limit {
            let Some(pool) = pool else { bail!("a string lies in the pool bundle, and there is none") };
            (pool, offset as usize)
        } else {
            (self, (offset - self.pool_string_limit) as usize)
        };
        let Some(base) = units.units16 else { bail!("a string points into 16-bit units the bundle does not have") };
        let unit = |index: usize| u16_at(units.data, base + index * 2);
        let first = unit(at)?;
        let (start, len) = if first & 0xfc00 != 0xdc00 {
            let mut len = 0;
            while unit(at + len)? != 0 {
                len += 1;
            }
            (at, len)
        } else if first < 0xdfef {
            (at + 1, usize::from(first & 0x3ff))
        } else if first < 0xdfff {
            (at + 2, (usize::from(first - 0xdfef) << 16) | usize::from(unit(at + 1)?))
        } else {
            (at + 3, (usize::from(unit(at + 1)?) << 16) | usize::from(unit(at + 2)?))
        };
        let text = (start..start + len).map(unit).collect::<Result<Vec<u16>>>()?;
        String::from_utf16(&text).context("a string is not valid UTF-16")
    }

    fn string(&self, resource: u32, pool: Option<&Bundle<'a>>) -> Result<String> {
        let offset = resource & 0x0fff_ffff;
        match resource >> 28 {
            STRING_V2 => self.string_v2(offset, pool),
            STRING if offset == 0 => Ok(String::new()),
            STRING => {
                let at = offset as usize * 4;
                let len = u32_at(self.data, at)? as usize;
                let text = (0..len).map(|index| u16_at(self.data, at + 4 + index * 2)).collect::<Result<Vec<u16>>>()?;
                String::from_utf16(&text).context("a string is not valid UTF-16")
            }
            other => bail!("resource type {other} where a string was expected"),
        }
    }

    /// The entries of a table resource: keys and resources.
    fn table(&self, resource: u32, pool: Option<&Bundle<'a>>) -> Result<Vec<(&'a str, u32)>> {
        let offset = (resource & 0x0fff_ffff) as usize;
        let mut entries = Vec::new();
        match resource >> 28 {
            TABLE | TABLE32 if offset == 0 => {}
            TABLE => {
                let at = offset * 4;
                let count = usize::from(u16_at(self.data, at)?);
                let items = at + 2 + 2 * count + if count.is_multiple_of(2) { 2 } else { 0 };
                for index in 0..count {
                    entries.push((self.key16(u16_at(self.data, at + 2 + index * 2)?, pool)?, u32_at(self.data, items + index * 4)?));
                }
            }
            TABLE32 => {
                let at = offset * 4;
                let count = u32_at(self.data, at)? as usize;
                ensure!(count <= self.data.len() / 8, "a table claims {count} entries");
                for index in 0..count {
                    entries.push((self.key32(u32_at(self.data, at + 4 + index * 4)?, pool)?, u32_at(self.data, at + 4 + (count + index) * 4)?));
                }
            }
            TABLE16 => {
                let Some(base) = self.units16 else { bail!("a 16-bit table without 16-bit units") };
                let at = base + offset * 2;
                let count = usize::from(u16_at(self.data, at)?);
                for index in 0..count {
                    let key = self.key16(u16_at(self.data, at + 2 + index * 2)?, pool)?;
                    let item = u32::from(u16_at(self.data, at + 2 + (count + index) * 2)?);
                    let item = if item < self.pool_string16_limit { item } else { item - self.pool_string16_limit + self.pool_string_limit };
                    entries.push((key, STRING_V2 << 28 | item));
                }
            }
            other => bail!("resource type {other} where a table was expected"),
        }
        Ok(entries)
    }

    /// The string under `key` in the root table, if there is one (and it is a string).
    pub fn root_string(&self, key: &str, pool: Option<&Bundle<'a>>) -> Result<Option<String>> {
        for (entry, resource) in self.table(self.root()?, pool)? {
            if entry == key {
                return matches!(resource >> 28, STRING | STRING_V2).then(|| self.string(resource, pool)).transpose();
            }
        }
        Ok(None)
    }

    /// The whole bundle as tables and strings (other types are refused).
    pub fn tree(&self, pool: Option<&Bundle<'a>>) -> Result<Value> {
        // Tables may share (or, damaged, contain) each other: what is read is bounded.
        let mut budget = self.data.len();
        self.value(self.root()?, pool, 0, &mut budget)
    }

    fn value(&self, resource: u32, pool: Option<&Bundle<'a>>, depth: usize, budget: &mut usize) -> Result<Value> {
        ensure!(depth < 16, "tables nest deeper than 16");
        *budget = budget.checked_sub(1).context("the bundle's tables hold more values than its bytes can")?;
        match resource >> 28 {
            STRING | STRING_V2 => self.string(resource, pool).map(Value::String),
            TABLE | TABLE16 | TABLE32 => {
                let mut table = BTreeMap::new();
                for (key, item) in self.table(resource, pool)? {
                    table.insert(key.to_owned(), self.value(item, pool, depth + 1, budget)?);
                }
                Ok(Value::Table(table))
            }
            other => bail!("resource type {other}: only tables and strings are read here"),
        }
    }
}

fn c_string(bytes: &[u8], at: usize) -> Result<&str> {
    let tail = bytes.get(at..).unwrap_or_default();
    let Some(end) = memchr::memchr(0, tail) else { bail!("a key at {at} is not terminated") };
    std::str::from_utf8(&tail[..end]).context("a key is not ASCII")
}

/// Writes a bundle of tables and strings after `header` (a `ResB` header of format version 2
/// or 3), with the no-fallback attribute when `no_fallback`; no pool bundle.
pub fn write(header: &[u8], no_fallback: bool, root: &BTreeMap<String, Value>) -> Result<Vec<u8>> {
    const INDEX_LENGTH: usize = 7;
    // Keys and strings, each stored once.
    let mut keys = Vec::new();
    let mut key_offsets = BTreeMap::new();
    let mut units: Vec<u16> = vec![0];
    let mut string_offsets = BTreeMap::from([(String::new(), 0u32)]);
    collect(
        root,
        &mut |key| {
            if !key_offsets.contains_key(key) {
                key_offsets.insert(key.to_owned(), (1 + INDEX_LENGTH) * 4 + keys.len());
                keys.extend_from_slice(key.as_bytes());
                keys.push(0);
            }
        },
        &mut |text| {
            if !string_offsets.contains_key(text) {
                string_offsets.insert(text.to_owned(), units.len() as u32);
                let utf16: Vec<u16> = text.encode_utf16().collect();
                let implicit = utf16.len() <= MAX_IMPLICIT_STRING_LENGTH && utf16.first().is_some_and(|&first| first & 0xfc00 != 0xdc00) && !utf16.contains(&0);
                if !implicit {
                    let len = utf16.len();
                    if len <= 0x3ee {
                        units.push(0xdc00 | len as u16);
                    } else if len <= 0xf_ffff {
                        units.extend([0xdfef + (len >> 16) as u16, len as u16]);
                    } else {
                        units.extend([0xdfff, (len >> 16) as u16, len as u16]);
                    }
                }
                units.extend_from_slice(&utf16);
                units.push(0);
            }
        },
    );
    while !((1 + INDEX_LENGTH) * 4 + keys.len()).is_multiple_of(4) {
        keys.push(0xaa);
    }
    let keys_top = (1 + INDEX_LENGTH) * 4 + keys.len();
    ensure!(keys_top <= 0x1_0000, "the bundle's keys take {keys_top} bytes, more than 16-bit key offsets reach");
    if !units.len().is_multiple_of(2) {
        units.push(0xaaaa);
    }
    let units_top = keys_top + units.len() * 2;
    let mut resources = Vec::new();
    let mut max_table_length = 0;
    let root_resource = emit(root, units_top, &key_offsets, &string_offsets, &mut resources, &mut max_table_length)?;
    let bundle_top = units_top + resources.len();
    let mut out = Vec::with_capacity(header.len() + bundle_top);
    out.extend_from_slice(header);
    out.extend_from_slice(&root_resource.to_le_bytes());
    let attributes = if no_fallback { ATTRIBUTE_NO_FALLBACK } else { 0 };
    for index in [INDEX_LENGTH, keys_top / 4, bundle_top / 4, bundle_top / 4, max_table_length, attributes as usize, units_top / 4] {
        out.extend_from_slice(&u32::try_from(index)?.to_le_bytes());
    }
    out.extend_from_slice(&keys);
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out.extend_from_slice(&resources);
    Ok(out)
}

fn collect(table: &BTreeMap<String, Value>, key: &mut impl FnMut(&str), string: &mut impl FnMut(&str)) {
    for (name, value) in table {
        key(name);
        match value {
            Value::String(text) => string(text),
            Value::Table(inner) => collect(inner, key, string),
        }
    }
}

/// Writes `table` (its tables first, as genrb does) and returns its resource.
fn emit(table: &BTreeMap<String, Value>, base: usize, keys: &BTreeMap<String, usize>, strings: &BTreeMap<String, u32>, out: &mut Vec<u8>, max_table_length: &mut usize) -> Result<u32> {
    let mut items = Vec::with_capacity(table.len());
    for value in table.values() {
        items.push(match value {
            Value::String(text) => STRING_V2 << 28 | strings[text],
            Value::Table(inner) => emit(inner, base, keys, strings, out, max_table_length)?,
        });
    }
    let count = u16::try_from(table.len()).context("a table has more than 65535 entries")?;
    *max_table_length = (*max_table_length).max(table.len());
    let offset = (base + out.len()) / 4;
    ensure!(offset < 1 << 28, "the bundle is too large");
    out.extend_from_slice(&count.to_le_bytes());
    for name in table.keys() {
        out.extend_from_slice(&(keys[name] as u16).to_le_bytes());
    }
    if count.is_multiple_of(2) {
        out.extend_from_slice(&0xaaaau16.to_le_bytes());
    }
    for item in items {
        out.extend_from_slice(&item.to_le_bytes());
    }
    Ok(TABLE << 28 | offset as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        super::super::package::test_data::header(b"ResB", 2)
    }

    fn sample() -> BTreeMap<String, Value> {
        let installed = BTreeMap::from([("en".to_owned(), Value::String(String::new())), ("en_US".to_owned(), Value::String(String::new()))]);
        let long = "x".repeat(50);
        BTreeMap::from([
            ("CLDRVersion".to_owned(), Value::String("48".to_owned())),
            ("InstalledLocales".to_owned(), Value::Table(installed)),
            ("Long".to_owned(), Value::String(long)),
            ("Surrogate".to_owned(), Value::String("\u{1f600}".to_owned())),
            ("Empty".to_owned(), Value::Table(BTreeMap::new())),
        ])
    }

    #[test]
    fn a_written_bundle_reads_back() {
        let bytes = write(&header(), true, &sample()).unwrap();
        let bundle = Bundle::parse(&bytes).unwrap();
        assert_eq!(bundle.tree(None).unwrap(), Value::Table(sample()));
        assert_eq!(bundle.root_string("CLDRVersion", None).unwrap().as_deref(), Some("48"));
        assert_eq!(bundle.root_string("%%Parent", None).unwrap(), None);
        assert_eq!(bundle.attributes & ATTRIBUTE_NO_FALLBACK, 1);
        assert_eq!(super::super::package::recorded_len(&bytes), Some(bytes.len()));
    }

    #[test]
    fn damaged_bundles_are_refused_without_panicking() {
        let bytes = write(&header(), false, &sample()).unwrap();
        let mut random = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        let mut refused = 0;
        for _ in 0..3000 {
            let damaged = random.corrupt_one(&bytes, 0x20..bytes.len());
            let read = Bundle::parse(&damaged).and_then(|bundle| bundle.tree(None).and(bundle.root_string("InstalledLocales", None)));
            refused += usize::from(read.is_err());
        }
        assert!(refused > 0, "no damage was noticed");
    }
}
