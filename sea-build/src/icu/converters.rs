//! ICU's charset converters (the package's `.cnv` items) and which of them node can open, so
//! that `icu` trimming leaves the others out.
//!
//! node opens converters with `ucnv_open(name)` in three places: `TextDecoder`, with the
//! encoding its WHATWG label maps to (lib/internal/encoding.js; `gbk` is opened as `gb18030`,
//! and node 24 and 26 decode the single-byte encodings in JavaScript); `buffer.transcode`
//! (src/node_i18n.cc), with `us-ascii`, `iso8859-1`, `utf16le` and `utf-8`, all algorithmic; and
//! ICU's default converter, UTF-8 on Linux and macOS and `windows-<ANSI code page>` on Windows.
//! [`NODE_OPENS`] lists those names. ICU resolves a name through its alias table
//! (`cnvalias.icu`, read by [`AliasTable`]) and loads the converter it names, which may load
//! others in turn ([`reachable`]). No other converter can be reached through node's APIs; its
//! deprecated internal binding, `process.binding('icu')`, opens any name and reports a converter
//! left out as unknown, as it does for a name ICU never had.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};

use super::package::{data_header, u32_at};

/// Every name node passes to `ucnv_open` (node 22.23.3, 24.21.0 and 26.10.0 name the same).
pub const NODE_OPENS: &[&str] = &[
    // TextDecoder: every encoding node's label map names (228 labels). `replacement` and
    // `x-user-defined` name no ICU converter; node then reports the encoding as unsupported.
    "utf-8",
    "ibm866",
    "iso-8859-2",
    "iso-8859-3",
    "iso-8859-4",
    "iso-8859-5",
    "iso-8859-6",
    "iso-8859-7",
    "iso-8859-8",
    "iso-8859-8-i",
    "iso-8859-10",
    "iso-8859-13",
    "iso-8859-14",
    "iso-8859-15",
    "iso-8859-16",
    "koi8-r",
    "koi8-u",
    "macintosh",
    "windows-874",
    "windows-1250",
    "windows-1251",
    "windows-1252",
    "windows-1253",
    "windows-1254",
    "windows-1255",
    "windows-1256",
    "windows-1257",
    "windows-1258",
    "x-mac-cyrillic",
    "gbk",
    "gb18030",
    "big5",
    "euc-jp",
    "iso-2022-jp",
    "shift_jis",
    "euc-kr",
    "replacement",
    "utf-16be",
    "utf-16le",
    "x-user-defined",
    // buffer.transcode.
    "us-ascii",
    "iso8859-1",
    "utf16le",
    // ICU's default converter on Windows, where ICU is not built UTF-8-only: `windows-` and the
    // ANSI code page (874 and 1250 to 1258 are above).
    "windows-932",
    "windows-936",
    "windows-949",
    "windows-950",
];

/// `UCNV_MAX_CONVERTER_NAME_LENGTH`: ICU refuses a name this long or longer.
const MAX_NAME_LENGTH: usize = 60;
/// `ULOC_FULLNAME_CAPACITY`: ICU refuses a `locale=` option this long or longer.
const MAX_LOCALE_LENGTH: usize = 157;

/// Bits of an entry of the untagged converter array.
const AMBIGUOUS: u16 = 0x8000;
const CONTAINS_OPTION: u16 = 0x4000;
const CONVERTER_INDEX: u16 = 0x0fff;

/// The option table's normalisation types: names compared as they are, or the table carries
/// them normalised (lowercase, letters and digits only).
const UNNORMALIZED: u16 = 0;
const STD_NORMALIZED: u16 = 1;

/// `sizeof(UConverterStaticData)`, which ICU requires a `.cnv` to record.
const STATIC_DATA_SIZE: usize = 100;
/// `UCNV_MBCS`: the only converter type a `.cnv` can hold.
const MBCS: u8 = 2;
/// `MBCS_OUTPUT_EXT_ONLY`: a table of extensions over a base table it names.
const OUTPUT_EXT_ONLY: u32 = 14;

/// ICU's algorithmic converters by normalised name (ucnv_bld.cpp): they have no `.cnv` item.
const ALGORITHMIC: &[&str] = &[
    "bocu1",
    "cesu8",
    "hz",
    "imapmailboxname",
    "iscii",
    "iso2022",
    "iso88591",
    "lmbcs1",
    "lmbcs11",
    "lmbcs16",
    "lmbcs17",
    "lmbcs18",
    "lmbcs19",
    "lmbcs2",
    "lmbcs3",
    "lmbcs4",
    "lmbcs5",
    "lmbcs6",
    "lmbcs8",
    "scsu",
    "usascii",
    "utf16",
    "utf16be",
    "utf16le",
    "utf16oppositeendian",
    "utf16platformendian",
    "utf32",
    "utf32be",
    "utf32le",
    "utf32oppositeendian",
    "utf32platformendian",
    "utf7",
    "utf8",
    "x11compoundtext",
];

/// A name resolved as `ucnv_open` resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// The converter's name as the table spells it, options included (`ISO_2022,locale=ja,version=0`).
    pub converter: &'a str,
    /// Whether standards map the name to different converters; this is the one `ucnv_open`
    /// takes (ICU warns `U_AMBIGUOUS_ALIAS_WARNING`).
    pub ambiguous: bool,
    /// Whether ICU reads options from the converter's name.
    pub contains_option: bool,
}

/// ICU's converter alias table (`cnvalias.icu`, data format `CvAl` version 3): the converter
/// names, the standards (tags) and every alias, with what ICU derived from them.
///
/// After the data header: the number of sections, each section's length in 16-bit units, then
/// the sections: the converter list, the tag list and the sorted alias list (string indexes);
/// the untagged converter array (per alias: its converter, and whether it is ambiguous or the
/// converter's name carries options); per tag and converter, the offset of an alias list in the
/// tagged alias lists (a count, then string indexes); the option table; the string table; and,
/// when the option table says so, the same strings normalised. A string index counts 16-bit
/// units into the string table.
#[derive(Debug, Clone)]
pub struct AliasTable<'a> {
    converters: Vec<&'a str>,
    tags: Vec<&'a str>,
    aliases: Vec<&'a str>,
    /// The aliases normalised, when the table stores them so (then lookups compare them bytewise).
    normalized: Option<Vec<&'a str>>,
    untagged: Vec<u16>,
    tagged: Vec<u16>,
    lists: Vec<u16>,
    strings: &'a [u8],
    /// Whether `untagged` marks the converters whose names carry options (otherwise ICU assumes
    /// any may).
    option_info: bool,
}

impl<'a> AliasTable<'a> {
    /// Parses a `cnvalias.icu` data file (header included).
    ///
    /// ```
    /// assert!(sea_build::icu::converters::AliasTable::parse(b"\x20\x00\xda\x27 not a table").is_err());
    /// ```
    pub fn parse(bytes: &'a [u8]) -> Result<AliasTable<'a>> {
        let Some((header_size, format)) = data_header(bytes) else { bail!("not an ICU data file (no little-endian data header)") };
        ensure!(&format == b"CvAl" && bytes[16] == 3, "not a converter alias table (data format {:?} version {}; ICU reads \"CvAl\" version 3)", String::from_utf8_lossy(&format), bytes[16]);
        let data = &bytes[header_size..];
        let count = u32_at(data, 0)? as usize;
        ensure!(count >= 8 && count < data.len() / 4, "the alias table claims {count} sections (ICU reads 8 or more)");
        let mut sections = Vec::with_capacity(count);
        let mut at = 2 * (1 + count);
        for index in 1..=count {
            let units = u32_at(data, 4 * index)? as usize;
            let Some(end) = at.checked_add(units).filter(|&end| end <= data.len() / 2) else { bail!("section {index} of the alias table ({units} units at {at}) runs past its end") };
            sections.push(&data[2 * at..2 * end]);
            at = end;
        }
        let strings = sections[7];
        let options = units(sections[6]);
        // ICU falls back to unnormalised lookups for a normalisation it does not know.
        let (normalization, option_info) = match options.as_slice() {
            [kind, info, ..] if *kind <= STD_NORMALIZED => (*kind, *info != 0),
            _ => (UNNORMALIZED, false),
        };
        let names = |section: &[u8], table: &'a [u8]| units(section).into_iter().map(|index| string_at(table, index)).collect::<Result<Vec<_>>>();
        let converters = names(sections[0], strings).context("the alias table's converter list")?;
        let tags = names(sections[1], strings).context("the alias table's tag list")?;
        let aliases = names(sections[2], strings).context("the alias table's alias list")?;
        let normalized = match normalization {
            STD_NORMALIZED => {
                let Some(table) = sections.get(8) else { bail!("the alias table says its names are normalised, and has no normalised strings") };
                Some(names(sections[2], table).context("the alias table's normalised aliases")?)
            }
            _ => None,
        };
        let untagged = units(sections[3]);
        ensure!(untagged.len() == aliases.len(), "the alias table maps {} aliases for {} listed", untagged.len(), aliases.len());
        let tagged = units(sections[4]);
        ensure!(tagged.len() == tags.len() * converters.len(), "the alias table's tagged array has {} entries for {} tags and {} converters", tagged.len(), tags.len(), converters.len());
        Ok(AliasTable { converters, tags, aliases, normalized, untagged, tagged, lists: units(sections[5]), strings, option_info })
    }

    /// The converters' names, in the table's order.
    pub fn converters(&self) -> &[&'a str] {
        &self.converters
    }

    /// The tags (standards) in priority order: the named ones, then ICU's two reserved ones, the
    /// empty tag and `ALL` (every alias of a converter).
    pub fn tags(&self) -> &[&'a str] {
        &self.tags
    }

    /// Every alias (converter names included), sorted as lookups compare them.
    pub fn aliases(&self) -> &[&'a str] {
        &self.aliases
    }

    /// The converter `ucnv_open(name)` opens, by ICU's untagged lookup: names compare ignoring
    /// case, all but letters and digits, and leading zeros of a number; a name not found is
    /// looked up once more without an `x-` prefix. `None` when the table does not know it (ICU
    /// then tries it as a converter's own name).
    pub fn resolve(&self, name: &str) -> Option<Resolved<'a>> {
        // ICU refuses to normalise so long a name, and gives up.
        if self.normalized.is_some() && name.len() >= MAX_NAME_LENGTH {
            return None;
        }
        std::iter::once(name).chain(name.strip_prefix("x-")).find_map(|name| self.find(name))
    }

    /// `findConverter`: ICU's binary search, step for step.
    fn find(&self, name: &str) -> Option<Resolved<'a>> {
        if name.is_empty() {
            return None;
        }
        let key = normalize(name);
        let (mut start, mut limit, mut last) = (0, self.untagged.len(), usize::MAX);
        loop {
            let mid = (start + limit) / 2;
            if mid == last {
                return None;
            }
            last = mid;
            let order = match &self.normalized {
                Some(normalized) => key.as_slice().cmp(normalized.get(mid)?.as_bytes()),
                None => key.cmp(&normalize(self.aliases.get(mid)?)),
            };
            match order {
                Ordering::Less => limit = mid,
                Ordering::Greater => start = mid,
                Ordering::Equal => {
                    let entry = self.untagged[mid];
                    let converter = self.converters.get(usize::from(entry & CONVERTER_INDEX))?;
                    return Some(Resolved { converter, ambiguous: entry & AMBIGUOUS != 0, contains_option: !self.option_info || entry & CONTAINS_OPTION != 0 });
                }
            }
        }
    }

    /// The aliases a tag lists, each with its converter, converter by converter (a converter's
    /// preferred name under the tag first): `None` when the table has no such tag (compared
    /// ignoring case). `ALL` lists every alias.
    pub fn aliases_under(&self, tag: &str) -> Result<Option<Vec<(&'a str, &'a str)>>> {
        let Some(tag_index) = self.tags.iter().position(|name| name.eq_ignore_ascii_case(tag)) else { return Ok(None) };
        let mut listed = Vec::new();
        for (index, &converter) in self.converters.iter().enumerate() {
            let offset = usize::from(self.tagged[tag_index * self.converters.len() + index]);
            if offset == 0 {
                continue;
            }
            let count = self.lists.get(offset).map(|&count| usize::from(count));
            let Some(entries) = count.and_then(|count| self.lists.get(offset + 1..offset + 1 + count)) else { bail!("the alias list of {converter} under {tag} lies past the alias table's lists") };
            for &entry in entries.iter().filter(|&&entry| entry != 0) {
                listed.push((string_at(self.strings, entry)?, converter));
            }
        }
        Ok(Some(listed))
    }
}

/// Little-endian 16-bit units.
fn units(bytes: &[u8]) -> Vec<u16> {
    bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect()
}

/// The NUL-terminated string `index` 16-bit units into `table`.
fn string_at(table: &[u8], index: u16) -> Result<&str> {
    let at = 2 * usize::from(index);
    c_string(table.get(at..).unwrap_or_default()).with_context(|| format!("the string at unit {index} of the alias table"))
}

/// The NUL-terminated string at the start of `bytes`.
fn c_string(bytes: &[u8]) -> Result<&str> {
    let Some(end) = memchr::memchr(0, bytes) else { bail!("a name is not terminated") };
    std::str::from_utf8(&bytes[..end]).context("a name is not ASCII")
}

/// A name as ICU compares it (`ucnv_io_stripASCIIForCompare`): letters lowercased, digits kept
/// except a zero that starts a number and is followed by another digit, everything else left out.
fn normalize(name: &str) -> Vec<u8> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut after_digit = false;
    for (at, &byte) in bytes.iter().enumerate() {
        match byte {
            b'0' => {
                if !after_digit && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
                    continue;
                }
                out.push(byte);
            }
            b'1'..=b'9' => {
                after_digit = true;
                out.push(byte);
            }
            _ if byte.is_ascii_alphabetic() => {
                after_digit = false;
                out.push(byte.to_ascii_lowercase());
            }
            _ => after_digit = false,
        }
    }
    out
}

/// A converter name as ICU takes it apart (`parseConverterOptions`): the name before the first
/// comma, then `locale=`, `version=` and `swaplfnl` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pieces {
    name: String,
    locale: String,
    version: u32,
}

impl Pieces {
    /// `input` taken apart over `base`: options `input` does not give keep `base`'s values.
    /// `None` where ICU refuses the name (the name or the locale too long).
    fn parse(input: &str, mut base: Pieces) -> Option<Pieces> {
        let bytes = input.as_bytes();
        let name_end = memchr::memchr(b',', bytes).unwrap_or(bytes.len());
        if name_end >= MAX_NAME_LENGTH {
            return None;
        }
        base.name = input[..name_end].to_owned();
        let mut at = name_end;
        while at < bytes.len() {
            if bytes[at] == b',' {
                at += 1;
            }
            let rest = &bytes[at..];
            if let Some(value) = rest.strip_prefix(b"locale=") {
                let value = &value[..memchr::memchr(b',', value).unwrap_or(value.len())];
                if value.len() >= MAX_LOCALE_LENGTH {
                    return None;
                }
                base.locale = String::from_utf8_lossy(value).into_owned();
                at += 7 + value.len();
            } else if let Some(value) = rest.strip_prefix(b"version=") {
                at += 8;
                match value.first() {
                    None => {
                        base.version = 0;
                        return Some(base);
                    }
                    Some(digit) if digit.is_ascii_digit() => {
                        base.version = u32::from(digit - b'0');
                        at += 1;
                    }
                    Some(_) => {}
                }
            } else if rest.starts_with(b"swaplfnl") {
                at += 8;
            } else {
                // ICU skips an option it does not know, up to the next comma.
                match memchr::memchr(b',', rest) {
                    Some(comma) => at += comma + 1,
                    None => return Some(base),
                }
            }
        }
        Some(base)
    }
}

/// The `.cnv` items that opening each of `names` with `ucnv_open` loads, by name: the converter
/// each name resolves to, then, as ICU's loaders do, the base table of an extension-only table
/// (`MBCS_OUTPUT_EXT_ONLY`), the tables the ISO-2022 converters open for their locale and
/// version (`ucnv2022.cpp`), and GBK for HZ. `item` gives a converter's `.cnv` item by name;
/// a name that leads to no item loads nothing (ICU fails to open it).
///
/// Errors when a name leads to a converter whose loads are not followed here (LMBCS, X11
/// compound text) or to a `.cnv` item that cannot be read: then which items are needed is not
/// known.
///
/// ```
/// use sea_build::icu::converters::{AliasTable, reachable};
/// # use sea_build::icu::converters::fixture::{alias_table, converter};
/// # let bytes = alias_table(&[], &[("windows-936-2000", &[("gbk", &[])]), ("UTF-8", &[("utf-8", &[])])], true);
/// # let (gbk, base) = (converter("windows-936-2000", Some("ibm-1386_P100-2001")), converter("ibm-1386_P100-2001", None));
/// // `bytes`: an alias table where `gbk` names windows-936-2000, an extension-only table over
/// // ibm-1386_P100-2001, and `utf-8` names the algorithmic UTF-8.
/// let table = AliasTable::parse(&bytes)?;
/// let item = |name: &str| match name {
///     "windows-936-2000" => Some(&gbk[..]),
///     "ibm-1386_P100-2001" => Some(&base[..]),
///     _ => None,
/// };
/// let kept = reachable(&table, &item, &["GBK", "utf-8"])?;
/// assert_eq!(kept.into_iter().collect::<Vec<_>>(), ["ibm-1386_P100-2001", "windows-936-2000"]);
/// # anyhow::Ok(())
/// ```
pub fn reachable<'d>(table: &AliasTable<'_>, item: &dyn Fn(&str) -> Option<&'d [u8]>, names: &[&str]) -> Result<BTreeSet<String>> {
    let mut loader = Loader { table, item, opened: BTreeSet::new(), kept: BTreeSet::new() };
    for name in names {
        loader.open(name)?;
    }
    Ok(loader.kept)
}

/// The converters `ucnv_open` loads, as they are loaded.
struct Loader<'t, 'a, 'd> {
    table: &'t AliasTable<'a>,
    item: &'t dyn Fn(&str) -> Option<&'d [u8]>,
    opened: BTreeSet<String>,
    kept: BTreeSet<String>,
}

impl Loader<'_, '_, '_> {
    /// `ucnv_loadSharedData(name)`: what `ucnv_open(name)` loads.
    fn open(&mut self, name: &str) -> Result<()> {
        if !self.opened.insert(name.to_owned()) {
            return Ok(());
        }
        let Some(mut pieces) = Pieces::parse(name, Pieces::default()) else { return Ok(()) };
        if let Some(resolved) = self.table.resolve(&pieces.name) {
            if resolved.contains_option {
                let Some(reparsed) = Pieces::parse(resolved.converter, pieces) else { return Ok(()) };
                pieces = reparsed;
            } else {
                pieces.name = resolved.converter.to_owned();
            }
        }
        let normalized = normalize(&pieces.name);
        match ALGORITHMIC.iter().find(|kind| kind.as_bytes() == normalized.as_slice()) {
            Some(&kind) => self.open_algorithmic(kind, &pieces, name),
            None => self.load(&pieces.name, true),
        }
    }

    /// What an algorithmic converter opens when it is opened itself.
    fn open_algorithmic(&mut self, kind: &str, pieces: &Pieces, asked: &str) -> Result<()> {
        let opens: &[&str] = match kind {
            "iso2022" => {
                // `_ISO2022Open` looks at the first three characters of the locale.
                let locale = pieces.locale.as_bytes();
                let at = |index: usize| locale.get(index).copied().unwrap_or(0);
                let language = |first: u8, seconds: &[u8]| at(0) == first && seconds.contains(&at(1)) && matches!(at(2), b'_' | 0);
                if language(b'j', b"ap") {
                    // JIS X 0208 always; JIS X 0212 from version 1; GB 2312, KS C 5601 and
                    // ISO 8859-7 from version 2; no version above 4.
                    match pieces.version {
                        0 => &["Shift-JIS"],
                        1 => &["Shift-JIS", "jisx-212"],
                        2..=4 => &["ISO8859_7", "Shift-JIS", "jisx-212", "ibm-5478", "ksc_5601"],
                        _ => &[],
                    }
                } else if language(b'k', b"or") {
                    match pieces.version {
                        0 => &["ibm-949"],
                        1 => &["icu-internal-25546"],
                        _ => &[],
                    }
                } else if language(b'z', b"h") || language(b'c', b"n") {
                    match pieces.version {
                        0 => &["ibm-5478", "cns-11643-1992"],
                        1 | 2 => &["ibm-5478", "iso-ir-165", "cns-11643-1992"],
                        _ => &[],
                    }
                } else {
                    &[]
                }
            }
            "hz" => &["GBK"],
            "x11compoundtext" => bail!("{asked:?} opens ICU's compound text converter, which loads tables this does not follow"),
            lmbcs if lmbcs.starts_with("lmbcs") => bail!("{asked:?} opens ICU's LMBCS converter, which loads tables this does not follow"),
            _ => &[],
        };
        for name in opens {
            self.open(name)?;
        }
        Ok(())
    }

    /// `ucnv_load(name)`: the `.cnv` item itself, and the base table of an extension-only one
    /// when it is loaded first-hand (ICU refuses an extension-only table as another's base).
    fn load(&mut self, name: &str, first_hand: bool) -> Result<()> {
        let Some(item) = (self.item)(name) else { return Ok(()) };
        self.kept.insert(name.to_owned());
        if first_hand && let Some(base) = extension_base(item).with_context(|| format!("could not read ICU's converter {name}"))? {
            self.load(base, false)?;
        }
        Ok(())
    }
}

/// The base table an extension-only converter loads (`MBCS_OUTPUT_EXT_ONLY`: its `.cnv` names
/// the base after its MBCS header); `None` for a converter with a table of its own, and for an
/// extension-only one that names itself (ICU refuses to load it).
///
/// ```
/// assert!(sea_build::icu::converters::extension_base(b"\x20\x00\xda\x27 not a converter").is_err());
/// ```
pub fn extension_base(item: &[u8]) -> Result<Option<&str>> {
    let Some((header_size, format)) = data_header(item) else { bail!("not an ICU data file (no little-endian data header)") };
    ensure!(&format == b"cnvt" && item[16] == 6, "not a converter table (data format {:?} version {}; ICU reads \"cnvt\" version 6)", String::from_utf8_lossy(&format), item[16]);
    let static_data = &item[header_size..];
    let size = u32_at(static_data, 0)? as usize;
    ensure!(size == STATIC_DATA_SIZE && static_data.len() > STATIC_DATA_SIZE, "the converter's static data is {size} bytes, not {STATIC_DATA_SIZE}");
    let kind = static_data[69];
    ensure!(kind == MBCS, "converter type {kind} is not a table-based (MBCS) one");
    let name = c_string(&static_data[4..4 + MAX_NAME_LENGTH]).context("the converter's name")?;
    let mbcs = &static_data[STATIC_DATA_SIZE..];
    // The MBCS header's length in 32-bit units: fixed in version 4, recorded from 5.3 on.
    let header_units = match (mbcs.first(), mbcs.get(1)) {
        (Some(4), _) => 8,
        (Some(5), Some(&minor)) if minor >= 3 => {
            let options = u32_at(mbcs, 32)?;
            ensure!(options & 0xff80 == 0, "the converter needs MBCS options {options:#x} ICU does not know");
            (options & 0x3f) as usize
        }
        _ => bail!("MBCS header version {:?} is not one ICU reads (4, or 5.3 and later)", &mbcs[..mbcs.len().min(2)]),
    };
    let flags = u32_at(mbcs, 24)?;
    if flags & 0xff != OUTPUT_EXT_ONLY {
        return Ok(None);
    }
    ensure!(flags >> 8 != 0, "an extension-only converter without its extension");
    let base = c_string(mbcs.get(header_units * 4..).unwrap_or_default()).context("the converter's base table name")?;
    Ok((base != name).then_some(base))
}

/// The `.cnv` items node can open in a package, by name: those [`reachable`] from
/// [`NODE_OPENS`] through the package's alias table `alias_table` (`cnvalias.icu`).
pub fn node_converters<'d>(alias_table: &[u8], item: &dyn Fn(&str) -> Option<&'d [u8]>) -> Result<BTreeSet<String>> {
    let table = AliasTable::parse(alias_table).context("could not read ICU's converter alias table (cnvalias.icu)")?;
    reachable(&table, item, NODE_OPENS)
}

/// Alias tables and converter items written as ICU's tools write them, for tests and examples.
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod fixture {
    use std::collections::BTreeMap;

    use super::normalize;

    /// An ICU data header of `format`, format version `major`.
    fn header(format: &[u8; 4], major: u8) -> Vec<u8> {
        let mut header = vec![0x20, 0, 0xda, 0x27, 20, 0, 0, 0, 0, 0, 2, 0];
        header.extend_from_slice(format);
        header.extend_from_slice(&[major, 0, 0, 0, 3, 0, 0, 0]);
        header.resize(0x20, 0);
        header
    }

    /// A converter's name, and its aliases with the indexes of the tags that list each.
    pub type Named<'a> = (&'a str, &'a [(&'a str, &'a [usize])]);

    /// An alias table (as gencnval writes one) for `tags` and `converters`: each converter with
    /// its aliases and, per alias, the indexes in `tags` that list it (ICU's empty and `ALL` tags
    /// are added). An alias resolves to the first converter that lists it; a converter's name is
    /// its own first alias. `normalized`: store the names normalised, as ICU's tools do.
    pub fn alias_table(tags: &[&str], converters: &[Named<'_>], normalized: bool) -> Vec<u8> {
        let mut strings: Vec<u8> = vec![0, 0];
        let mut normalized_strings: Vec<u8> = vec![0, 0];
        let mut string_index: BTreeMap<String, u16> = BTreeMap::new();
        let mut intern = |text: &str| -> u16 {
            if let Some(&index) = string_index.get(text) {
                return index;
            }
            let index = (strings.len() / 2) as u16;
            strings.extend_from_slice(text.as_bytes());
            strings.push(0);
            let mut folded = normalize(text);
            folded.resize(text.len() + 1, 0);
            normalized_strings.extend_from_slice(&folded);
            for table in [&mut strings, &mut normalized_strings] {
                if table.len() % 2 == 1 {
                    table.push(0);
                }
            }
            string_index.insert(text.to_owned(), index);
            index
        };
        let all_tags: Vec<&str> = tags.iter().copied().chain(["", "ALL"]).collect();
        let converter_list: Vec<u16> = converters.iter().map(|&(name, _)| intern(name)).collect();
        let tag_list: Vec<u16> = all_tags.iter().map(|&tag| intern(tag)).collect();
        // Every alias by normalised form: its string, its converter, whether it is ambiguous.
        let mut untagged: BTreeMap<Vec<u8>, (u16, u16, bool)> = BTreeMap::new();
        let mut lists: Vec<u16> = vec![0];
        let mut tagged = vec![0u16; all_tags.len() * converters.len()];
        for (index, (name, aliases)) in converters.iter().enumerate() {
            let converter = index as u16 | if name.contains(',') { 0x4000 } else { 0 };
            let mut per_tag: Vec<Vec<u16>> = vec![Vec::new(); all_tags.len()];
            let mut seen = Vec::new();
            for (alias, alias_tags) in std::iter::once((*name, &[][..])).chain(aliases.iter().map(|(alias, tags)| (*alias, *tags))) {
                let string = intern(alias);
                untagged.entry(normalize(alias)).and_modify(|entry| entry.2 |= (entry.1 & 0xfff) != index as u16).or_insert((string, converter, false));
                for &tag in alias_tags {
                    per_tag[tag].push(string);
                }
                // A converter lists each name once among all its aliases (`utf-8` is `UTF-8`).
                if !seen.contains(&normalize(alias)) {
                    seen.push(normalize(alias));
                    per_tag[all_tags.len() - 1].push(string);
                }
            }
            for (tag, listed) in per_tag.iter().enumerate().filter(|(_, listed)| !listed.is_empty()) {
                tagged[tag * converters.len() + index] = lists.len() as u16;
                lists.push(listed.len() as u16);
                lists.extend_from_slice(listed);
            }
        }
        let alias_list: Vec<u16> = untagged.values().map(|entry| entry.0).collect();
        let untagged_array: Vec<u16> = untagged.values().map(|entry| entry.1 | if entry.2 { 0x8000 } else { 0 }).collect();
        let options: Vec<u16> = vec![u16::from(normalized), 1];
        let strings_units: Vec<u16> = strings.chunks(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
        let normalized_units: Vec<u16> = normalized_strings.chunks(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
        let mut sections = vec![converter_list, tag_list, alias_list, untagged_array, tagged, lists, options, strings_units];
        if normalized {
            sections.push(normalized_units);
        }
        let mut bytes = header(b"CvAl", 3);
        bytes.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        for section in &sections {
            bytes.extend_from_slice(&(section.len() as u32).to_le_bytes());
        }
        for unit in sections.iter().flatten() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        bytes
    }

    /// A `.cnv` item named `name`: a single-byte table, or with `base`, an extension-only table
    /// over that base (as makeconv writes one).
    pub fn converter(name: &str, base: Option<&str>) -> Vec<u8> {
        let mut bytes = header(b"cnvt", 6);
        let mut static_data = vec![0u8; super::STATIC_DATA_SIZE];
        static_data[..4].copy_from_slice(&(super::STATIC_DATA_SIZE as u32).to_le_bytes());
        static_data[4..4 + name.len()].copy_from_slice(name.as_bytes());
        static_data[69] = super::MBCS;
        bytes.extend_from_slice(&static_data);
        let mut mbcs = vec![4u8, 2, 0, 0];
        let mut base_name = base.map(|base| base.as_bytes().to_vec()).unwrap_or_default();
        if base.is_some() {
            base_name.push(0);
            base_name.resize(base_name.len().div_ceil(4) * 4, 0);
        }
        let extension_at = 32 + base_name.len() as u32;
        let flags = if base.is_some() { (extension_at << 8) | super::OUTPUT_EXT_ONLY } else { 0 };
        for field in [0, 0, 0, 0, 0, flags, 0] {
            mbcs.extend_from_slice(&u32::to_le_bytes(field));
        }
        mbcs.extend_from_slice(&base_name);
        // A stand-in for the extension (or the base table's state table).
        mbcs.extend_from_slice(&[0u8; 64]);
        bytes.extend_from_slice(&mbcs);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::fixture::{alias_table, converter};
    use super::*;

    const IANA: usize = 0;
    const MIME: usize = 1;
    const WINDOWS: usize = 2;

    /// A table shaped like ICU's: an ambiguous alias, an option-carrying name, algorithmic and
    /// table converters.
    fn table_bytes(normalized: bool) -> Vec<u8> {
        alias_table(
            &["IANA", "MIME", "WINDOWS"],
            &[
                ("UTF-8", &[("utf-8", &[IANA, MIME]), ("unicode-1-1-utf-8", &[])]),
                ("ibm-943_P15A-2003", &[("Shift_JIS", &[IANA, MIME]), ("windows-31j", &[WINDOWS]), ("sjis", &[])]),
                ("ibm-942_P12A-1999", &[("shift_jis78", &[]), ("Shift_JIS", &[WINDOWS])]),
                ("ISO_2022,locale=ja,version=0", &[("ISO-2022-JP", &[IANA, MIME]), ("csISO2022JP", &[])]),
                ("ISO_2022,locale=ja,version=2", &[("ISO-2022-JP-2", &[IANA, MIME])]),
                ("ISO_2022,locale=ko,version=0", &[("ISO-2022-KR", &[IANA])]),
                ("ISO_2022,locale=zh,version=1", &[("ISO-2022-CN-EXT", &[IANA])]),
                ("windows-936-2000", &[("GBK", &[IANA]), ("windows-936", &[WINDOWS])]),
                ("ibm-1386_P100-2001", &[("ibm-1386", &[])]),
                ("HZ", &[("HZ-GB-2312", &[IANA])]),
                ("LMBCS-1", &[("lmbcs", &[])]),
                ("ibm-37_P100-1995", &[("ibm-037", &[IANA]), ("cp037", &[])]),
                ("ibm-813_P100-1995", &[("ISO8859_7", &[])]),
                ("ibm-949_P110-1999", &[("ibm-949", &[])]),
                ("ibm-5478_P100-1995", &[("ibm-5478", &[])]),
                ("windows-949-2000", &[("ksc_5601", &[])]),
            ],
            normalized,
        )
    }

    fn items() -> BTreeMap<&'static str, Vec<u8>> {
        BTreeMap::from([
            ("ibm-943_P15A-2003", converter("ibm-943_P15A-2003", None)),
            ("ibm-942_P12A-1999", converter("ibm-942_P12A-1999", Some("ibm-943_P15A-2003"))),
            ("windows-936-2000", converter("windows-936-2000", Some("ibm-1386_P100-2001"))),
            ("ibm-1386_P100-2001", converter("ibm-1386_P100-2001", None)),
            ("ibm-37_P100-1995", converter("ibm-37_P100-1995", None)),
            ("ibm-813_P100-1995", converter("ibm-813_P100-1995", None)),
            ("ibm-949_P110-1999", converter("ibm-949_P110-1999", Some("ibm-949_P11A-1999"))),
            ("ibm-949_P11A-1999", converter("ibm-949_P11A-1999", None)),
            ("ibm-5478_P100-1995", converter("ibm-5478_P100-1995", None)),
            ("windows-949-2000", converter("windows-949-2000", Some("windows-949-2000"))),
            ("jisx-212", converter("jisx-212", None)),
            ("cns-11643-1992", converter("cns-11643-1992", None)),
            ("iso-ir-165", converter("iso-ir-165", None)),
        ])
    }

    fn kept(names: &[&str]) -> Result<Vec<String>> {
        let bytes = table_bytes(true);
        let table = AliasTable::parse(&bytes)?;
        let items = items();
        let item = |name: &str| items.get(name).map(Vec::as_slice);
        Ok(reachable(&table, &item, names)?.into_iter().collect())
    }

    #[test]
    fn names_compare_as_icu_compares_them() {
        // ICU's own examples of equivalent names.
        for name in ["utf_8", "u*T@f08", "Utf 8"] {
            assert_eq!(normalize(name), normalize("UTF-8"), "{name}");
        }
        let shown = |name: &str| String::from_utf8(normalize(name)).unwrap();
        assert_eq!(shown("ISO_8859-1:1987"), "iso885911987");
        assert_eq!(shown("0100"), "100");
        assert_eq!(shown("00"), "0");
        assert_eq!(shown("x05"), "x5");
        assert_eq!(shown("1-0"), "10");
        assert_eq!(shown("a0b"), "a0b");
        assert_eq!(shown("ibm-0037"), "ibm37");
        assert_eq!(shown("é-8"), "8");
    }

    #[test]
    fn a_table_resolves_names_as_ucnv_open_does() {
        for normalized in [true, false] {
            let bytes = table_bytes(normalized);
            let table = AliasTable::parse(&bytes).unwrap();
            assert_eq!(table.converters().len(), 16);
            assert_eq!(table.tags(), ["IANA", "MIME", "WINDOWS", "", "ALL"]);
            let resolve = |name: &str| table.resolve(name).map(|resolved| (resolved.converter, resolved.ambiguous, resolved.contains_option));
            assert_eq!(resolve("shift-jis"), Some(("ibm-943_P15A-2003", true, false)));
            assert_eq!(resolve("SJIS"), Some(("ibm-943_P15A-2003", false, false)));
            assert_eq!(resolve("ibm-943_P15A-2003"), Some(("ibm-943_P15A-2003", false, false)));
            assert_eq!(resolve("utf8"), Some(("UTF-8", false, false)));
            assert_eq!(resolve("Unicode 1.1 UTF 8"), Some(("UTF-8", false, false)));
            assert_eq!(resolve("iso-2022-jp"), Some(("ISO_2022,locale=ja,version=0", false, true)));
            // A miss is looked up again without `x-`, once.
            assert_eq!(resolve("x-sjis"), Some(("ibm-943_P15A-2003", false, false)));
            assert_eq!(resolve("x-x-sjis"), None);
            assert_eq!(resolve("X-sjis"), None);
            assert_eq!(resolve(""), None);
            assert_eq!(resolve("x-"), None);
            assert_eq!(resolve("shift"), None);
            assert_eq!(resolve("zzz"), None);
            assert_eq!(resolve("a"), None);
        }
        // ICU gives up on normalising a name of 60 characters or more.
        let bytes = table_bytes(true);
        let long = format!("utf-8{}", "-".repeat(60));
        assert_eq!(AliasTable::parse(&bytes).unwrap().resolve(&long), None);
        assert!(AliasTable::parse(&table_bytes(false)).unwrap().resolve(&long).is_some());
    }

    #[test]
    fn tags_list_their_aliases() {
        let bytes = table_bytes(true);
        let table = AliasTable::parse(&bytes).unwrap();
        let mime = table.aliases_under("mime").unwrap().unwrap();
        assert_eq!(mime, [("utf-8", "UTF-8"), ("Shift_JIS", "ibm-943_P15A-2003"), ("ISO-2022-JP", "ISO_2022,locale=ja,version=0"), ("ISO-2022-JP-2", "ISO_2022,locale=ja,version=2")]);
        let windows = table.aliases_under("WINDOWS").unwrap().unwrap();
        assert_eq!(windows, [("windows-31j", "ibm-943_P15A-2003"), ("Shift_JIS", "ibm-942_P12A-1999"), ("windows-936", "windows-936-2000")]);
        assert_eq!(table.aliases_under("HTML").unwrap(), None);
        let all = table.aliases_under("ALL").unwrap().unwrap();
        assert_eq!(all.len(), table.aliases().len() + 1, "Shift_JIS is listed twice, under two converters");
        assert_eq!(all[0], ("UTF-8", "UTF-8"));
    }

    #[test]
    fn names_are_taken_apart_as_icu_does() {
        let parse = |name: &str| Pieces::parse(name, Pieces::default()).map(|pieces| (pieces.name, pieces.locale, pieces.version));
        assert_eq!(parse("ISO_2022,locale=ja,version=2"), Some(("ISO_2022".into(), "ja".into(), 2)));
        assert_eq!(parse("ibm-1047,swaplfnl,locale=ko"), Some(("ibm-1047".into(), "ko".into(), 0)));
        assert_eq!(parse("a,bogus=1,version=7,x"), Some(("a".into(), String::new(), 7)));
        assert_eq!(parse("a,version=x,locale=zh"), Some(("a".into(), "zh".into(), 0)));
        assert_eq!(parse("a,"), Some(("a".into(), String::new(), 0)));
        assert_eq!(parse(&"n".repeat(59)).map(|pieces| pieces.0.len()), Some(59));
        assert_eq!(parse(&"n".repeat(60)), None);
        assert_eq!(parse(&format!("a,locale={}", "l".repeat(157))), None);
        // A name's own options win over those it was opened with; the rest stay.
        let base = Pieces { name: "x".into(), locale: "ko".into(), version: 1 };
        assert_eq!(Pieces::parse("ISO_2022,version=0", base), Some(Pieces { name: "ISO_2022".into(), locale: "ko".into(), version: 0 }));
        let base = Pieces { name: "x".into(), locale: "ja".into(), version: 3 };
        assert_eq!(Pieces::parse("ISO_2022,version=", base).map(|pieces| pieces.version), Some(0));
    }

    #[test]
    fn opening_a_name_loads_what_icu_loads() {
        // An algorithmic converter loads nothing; a name ICU does not know loads nothing.
        assert!(kept(&["utf-8", "unicode-1-1-utf-8", "replacement", "x-user-defined"]).unwrap().is_empty());
        assert_eq!(kept(&["sjis"]).unwrap(), ["ibm-943_P15A-2003"]);
        // An extension-only table loads its base.
        assert_eq!(kept(&["gbk"]).unwrap(), ["ibm-1386_P100-2001", "windows-936-2000"]);
        assert_eq!(kept(&["shift_jis78"]).unwrap(), ["ibm-942_P12A-1999", "ibm-943_P15A-2003"]);
        // A table naming itself as its base loads nothing more (ICU refuses it).
        assert_eq!(kept(&["ksc_5601"]).unwrap(), ["windows-949-2000"]);
        // ISO-2022-JP version 0 needs JIS X 0208 only, through Shift-JIS.
        assert_eq!(kept(&["iso-2022-jp"]).unwrap(), ["ibm-943_P15A-2003"]);
        assert_eq!(kept(&["iso-2022-jp-2"]).unwrap(), ["ibm-5478_P100-1995", "ibm-813_P100-1995", "ibm-943_P15A-2003", "jisx-212", "windows-949-2000"]);
        assert_eq!(kept(&["ISO-2022-KR"]).unwrap(), ["ibm-949_P110-1999", "ibm-949_P11A-1999"]);
        assert_eq!(kept(&["ISO-2022-CN-EXT"]).unwrap(), ["cns-11643-1992", "ibm-5478_P100-1995", "iso-ir-165"]);
        // Options given with the name count too, for names without options of their own.
        assert_eq!(kept(&["ISO_2022,locale=jp,version=1"]).unwrap(), ["ibm-943_P15A-2003", "jisx-212"]);
        assert_eq!(kept(&["ISO_2022,locale=ja_JP,version=5", "ISO_2022,locale=de", "ISO_2022,locale=japanese"]).unwrap(), Vec::<String>::new());
        assert_eq!(kept(&["hz-gb-2312"]).unwrap(), ["ibm-1386_P100-2001", "windows-936-2000"]);
        // A name that is a converter's file name opens it, in the table or not.
        assert_eq!(kept(&["jisx-212", "cp037"]).unwrap(), ["ibm-37_P100-1995", "jisx-212"]);
        let error = kept(&["utf-8", "lmbcs"]).unwrap_err();
        assert!(error.to_string().contains("LMBCS"), "{error}");
        assert!(kept(&["x11-compound-text"]).unwrap_err().to_string().contains("compound text"));
    }

    #[test]
    fn extension_bases_are_read_from_the_converter() {
        assert_eq!(extension_base(&converter("windows-936-2000", Some("ibm-1386_P100-2001"))).unwrap(), Some("ibm-1386_P100-2001"));
        assert_eq!(extension_base(&converter("ibm-1386_P100-2001", None)).unwrap(), None);
        let mut algorithmic = converter("x", None);
        algorithmic[32 + 69] = 0;
        assert!(extension_base(&algorithmic).unwrap_err().to_string().contains("type 0"));
        let mut version3 = converter("x", None);
        version3[32 + STATIC_DATA_SIZE] = 3;
        assert!(extension_base(&version3).is_err());
    }

    #[test]
    fn node_names_open_the_tables_node_decodes_with() {
        let bytes = alias_table(&[], &[("ibm-943_P15A-2003", &[("shift_jis", &[])]), ("gb18030-2022", &[("gb18030", &[])]), ("ibm-37_P100-1995", &[("ibm-037", &[])])], true);
        let items =
            BTreeMap::from([("ibm-943_P15A-2003", converter("ibm-943_P15A-2003", None)), ("gb18030-2022", converter("gb18030-2022", None)), ("ibm-37_P100-1995", converter("ibm-37_P100-1995", None))]);
        let item = |name: &str| items.get(name).map(Vec::as_slice);
        let kept: Vec<String> = node_converters(&bytes, &item).unwrap().into_iter().collect();
        assert_eq!(kept, ["gb18030-2022", "ibm-943_P15A-2003"]);
        assert!(node_converters(b"nothing", &item).unwrap_err().to_string().contains("cnvalias.icu"));
    }

    #[test]
    fn damaged_tables_and_converters_are_refused_without_panicking() {
        let bytes = table_bytes(true);
        let mut random = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        let mut refused = 0;
        for _ in 0..3000 {
            let mut damaged = bytes.clone();
            for _ in 0..2 {
                damaged = random.corrupt_one(&damaged, 32..damaged.len());
            }
            match AliasTable::parse(&damaged) {
                Ok(table) => {
                    for name in ["shift_jis", "utf-8", "iso-2022-jp", "x-gbk", "nothing"] {
                        let _ = table.resolve(name);
                    }
                    for tag in ["IANA", "ALL"] {
                        let _ = table.aliases_under(tag);
                    }
                    let items = items();
                    let item = |name: &str| items.get(name).map(Vec::as_slice);
                    let _ = reachable(&table, &item, NODE_OPENS);
                }
                Err(_) => refused += 1,
            }
        }
        assert!(refused > 0, "no damage was noticed");
        let item = converter("windows-936-2000", Some("ibm-1386_P100-2001"));
        for _ in 0..3000 {
            let damaged = random.corrupt_one(&item, 0..item.len());
            let _ = extension_base(&damaged);
            let _ = extension_base(&damaged[..random.next_u64() as usize % damaged.len()]);
        }
    }
}
