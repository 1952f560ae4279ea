//! Trimming node's ICU data to the locales a program needs (`icu = ["en"]`).
//!
//! node's official builds link ICU's full data as one common data package (see [`package`]).
//! [`trim_package`] rewrites that package to hold every item that is not a locale's or a
//! converter's (properties, normalisation, time zones, break-iterator rules and dictionaries,
//! the pool bundles, the converter alias table); in every locale tree, the kept locales: those
//! listed, their sublocales, their parents up to `root`, and the aliases that resolve to them;
//! and the charset converters node can open (see [`converters`]). Each tree's `res_index` then
//! lists only what is kept, so `Intl.*.supportedLocalesOf` answers for what the artifact
//! carries. The package keeps its place and size in the binary: the freed tail is zeros.

pub mod bundle;
pub mod converters;
pub mod package;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::error::fail;
use bundle::{Bundle, Value};
use package::Item;

/// Which ICU data an artifact carries: the `icu` field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IcuData {
    /// node's data as it is (the default).
    #[default]
    Full,
    /// Only what these locales need (ICU names: `en`, `pt_BR`, `zh_Hant`).
    Locales(Vec<String>),
}

impl IcuData {
    /// Reads the `icu` field: `"full"`, or a non-empty list of locales (BCP 47 `pt-BR` or ICU
    /// `pt_BR`), normalised to ICU's names.
    ///
    /// ```
    /// use sea_build::icu::IcuData;
    /// assert_eq!(IcuData::from_field(None)?, IcuData::Full);
    /// let locales = vec!["en".to_owned(), "zh-hant-tw".to_owned(), "en".to_owned()];
    /// assert_eq!(IcuData::from_field(Some(locales.as_slice()))?, IcuData::Locales(vec!["en".to_owned(), "zh_Hant_TW".to_owned()]));
    /// let none: &[String] = &[];
    /// assert!(IcuData::from_field(Some(none)).is_err());
    /// # anyhow::Ok(())
    /// ```
    pub fn from_field(locales: Option<&[String]>) -> Result<IcuData> {
        let Some(locales) = locales else { return Ok(IcuData::Full) };
        if locales.is_empty() {
            bail!("`icu` lists no locales: list the locales the program formats for (e.g. icu = [\"en\"]), or set icu = \"full\"");
        }
        let mut names = Vec::with_capacity(locales.len());
        for locale in locales {
            let name = icu_name(locale)
                .with_context(|| format!("`icu` lists {locale:?}, which is not a locale: write a language with optional script and region, such as \"en\", \"pt-BR\" or \"zh-Hant\""))?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(IcuData::Locales(names))
    }
}

/// `pt-br` → `pt_BR`, `zh-hant-tw` → `zh_Hant_TW`; `None` for what is not a locale.
fn icu_name(locale: &str) -> Option<String> {
    let mut parts = locale.split(['-', '_']);
    let language = parts.next()?;
    if locale == "root" {
        return Some(locale.to_owned());
    }
    if !(2..=3).contains(&language.len()) || !language.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return None;
    }
    let mut name = language.to_ascii_lowercase();
    for part in parts {
        name.push('_');
        match part.len() {
            4 if part.bytes().all(|byte| byte.is_ascii_alphabetic()) => {
                name.push_str(&part[..1].to_ascii_uppercase());
                name.push_str(&part[1..].to_ascii_lowercase());
            }
            2 | 3 if part.bytes().all(|byte| byte.is_ascii_alphanumeric()) => name.push_str(&part.to_ascii_uppercase()),
            5..=8 if part.bytes().all(|byte| byte.is_ascii_alphanumeric()) => name.push_str(&part.to_ascii_uppercase()),
            _ => return None,
        }
    }
    Some(name)
}

/// Whether an item's file name (without `.res`) names a locale: `root`, or a 2-3 letter
/// language with `_`-separated parts (possibly empty, as in collation's `de__PHONEBOOK`).
fn is_locale_name(stem: &str) -> bool {
    if stem == "root" {
        return true;
    }
    if stem == "res_index" {
        return false;
    }
    let mut parts = stem.split('_');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len()) && language.bytes().all(|byte| byte.is_ascii_lowercase()) && parts.all(|part| part.bytes().all(|byte| byte.is_ascii_alphanumeric()))
}

/// The locale one truncation up: `en_US` → `en`, `en` → `root`.
fn truncated(locale: &str) -> Option<&str> {
    match locale.rsplit_once('_') {
        Some((parent, _)) => Some(parent),
        None if locale == "root" => None,
        None => Some("root"),
    }
}

/// What trimming did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    /// The rewritten package: as long as the original, zeros after `used`.
    pub bytes: Vec<u8>,
    /// How many bytes of it hold data.
    pub used: usize,
    /// The locales kept (of the main tree), sorted.
    pub locales: Vec<String>,
    /// How many items were left out (locales' and converters').
    pub removed_items: usize,
    /// The converters (`.cnv` items, by name) left out: those nothing node opens reaches.
    pub removed_converters: Vec<String>,
    /// Why every converter was kept, when which of them node reaches could not be told.
    pub all_converters_kept: Option<String>,
}

/// One item's place: tree (`""` for the main one, `coll`, `brkitr`…) and file name.
fn split_name<'a>(name: &'a str, prefix: &str) -> (&'a str, &'a str) {
    let path = name.strip_prefix(prefix).unwrap_or(name);
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Rewrites the common data package `package` to hold only what `locales` (ICU names) need.
///
/// ```
/// let error = sea_build::icu::trim_package(b"not a package", &["en".to_owned()]).unwrap_err();
/// assert!(error.to_string().contains("ICU"));
/// ```
pub fn trim_package(package: &[u8], locales: &[String]) -> Result<Trimmed> {
    let parsed = package::parse(package)?;
    let prefix = match parsed.items[0].name.split_once('/') {
        Some((prefix, _)) => format!("{prefix}/"),
        None => String::new(),
    };
    let by_name: BTreeMap<&str, &Item> = parsed.items.iter().map(|item| (item.name, item)).collect();
    let pool_of = |tree: &str| -> Result<Option<Bundle<'_>>> {
        let name = if tree.is_empty() { format!("{prefix}pool.res") } else { format!("{prefix}{tree}/pool.res") };
        by_name.get(name.as_str()).map(|item| Bundle::parse(item.data).with_context(|| format!("could not read ICU's {name}"))).transpose()
    };
    // Every locale, with the parents and alias targets it names in any tree.
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pools = BTreeMap::new();
    for item in &parsed.items {
        let (tree, file) = split_name(item.name, &prefix);
        let Some(stem) = file.strip_suffix(".res").filter(|stem| is_locale_name(stem)) else { continue };
        if !pools.contains_key(tree) {
            pools.insert(tree, pool_of(tree)?);
        }
        let bundle = Bundle::parse(item.data).with_context(|| format!("could not read ICU's {}", item.name))?;
        let pool = if bundle.uses_pool() { pools[tree].as_ref() } else { None };
        let read = |key: &str| bundle.root_string(key, pool).with_context(|| format!("could not read {key} of ICU's {}", item.name));
        let entry = parents.entry(stem.to_owned()).or_default();
        // ICU falls back to an explicit parent instead of the truncated name (hi_Latn → en_IN).
        if let Some(parent) = read("%%Parent")? {
            entry.insert(parent);
        } else {
            entry.extend(truncated(stem).map(str::to_owned));
        }
        entry.extend(read("%%ALIAS")?);
    }
    for locale in locales {
        if !parents.contains_key(locale) {
            fail!(Config, "`icu` lists {locale:?}, and node's ICU data has no such locale (it has {} locales, such as en, en_GB, fr, pt_BR, zh_Hant)", parents.len());
        }
    }
    let kept = kept_locales(&parents, locales);
    // The converters node can open. Without knowing which, all of them stay: that costs size,
    // never a decoder.
    let converter = |name: &str| by_name.get(format!("{prefix}{name}.cnv").as_str()).map(|item| item.data);
    let reached = match by_name.get(format!("{prefix}cnvalias.icu").as_str()) {
        Some(table) => converters::node_converters(table.data, &converter).map_err(|error| format!("{error:#}")),
        None => Err("the package has no converter alias table (cnvalias.icu)".to_owned()),
    };
    let mut removed_converters = Vec::new();
    // The items kept, with each tree's res_index rewritten.
    let mut rewritten = Vec::new();
    let mut keep = Vec::with_capacity(parsed.items.len());
    for item in &parsed.items {
        let (tree, file) = split_name(item.name, &prefix);
        if let (Ok(reached), true, Some(name)) = (&reached, tree.is_empty(), file.strip_suffix(".cnv"))
            && !reached.contains(name)
        {
            removed_converters.push(name.to_owned());
            continue;
        }
        match file.strip_suffix(".res") {
            Some("res_index") => {
                let bundle = Bundle::parse(item.data).with_context(|| format!("could not read ICU's {}", item.name))?;
                let pool = if bundle.uses_pool() { pool_of(tree)? } else { None };
                let Value::Table(mut root) = bundle.tree(pool.as_ref()).with_context(|| format!("could not read ICU's {}", item.name))? else { bail!("ICU's {} is not a table", item.name) };
                for list in ["InstalledLocales", "AliasLocales"] {
                    if let Some(Value::Table(entries)) = root.get_mut(list) {
                        entries.retain(|locale, _| kept.contains(locale));
                    }
                }
                rewritten.push((keep.len(), bundle::write(bundle.header, bundle.attributes & 1 != 0, &root)?));
                keep.push(*item);
            }
            Some(stem) if is_locale_name(stem) && !kept.contains(stem) => {}
            _ => keep.push(*item),
        }
    }
    let mut items = keep.clone();
    for (index, bytes) in &rewritten {
        items[*index].data = bytes;
    }
    let bytes = package::write(parsed.header, &items, parsed.len)?;
    if bytes.len() != parsed.len {
        bail!("internal error: the trimmed ICU package ({} bytes) is larger than node's ({} bytes)", bytes.len(), parsed.len);
    }
    let used = package::parse(&bytes)?.len;
    let main_locales = parsed.items.iter().filter_map(|item| split_name(item.name, &prefix).1.strip_suffix(".res").filter(|stem| kept.contains(*stem) && split_name(item.name, &prefix).0.is_empty()));
    Ok(Trimmed { locales: main_locales.map(str::to_owned).collect(), bytes, used, removed_items: parsed.items.len() - items.len(), removed_converters, all_converters_kept: reached.err() })
}

/// The locales kept for `requested`: each one whose chain of parents and aliases reaches a
/// requested locale (so sublocales come along), then every parent and alias target of those,
/// up to `root`.
fn kept_locales(parents: &BTreeMap<String, BTreeSet<String>>, requested: &[String]) -> BTreeSet<String> {
    let ancestors = |locale: &str| {
        let mut seen = BTreeSet::new();
        let mut queue = vec![locale.to_owned()];
        while let Some(next) = queue.pop() {
            if seen.insert(next.clone())
                && let Some(up) = parents.get(&next)
            {
                queue.extend(up.iter().cloned());
            }
        }
        seen
    };
    let mut kept = BTreeSet::from(["root".to_owned()]);
    for locale in parents.keys() {
        let chain = ancestors(locale);
        if requested.iter().any(|wanted| chain.contains(wanted)) {
            kept.extend(chain);
        }
    }
    kept
}

/// Where node's ICU package lies in `binary`, and the package trimmed to `locales`.
pub fn trim_binary(binary: &[u8], locales: &[String]) -> Result<(Range<usize>, Trimmed)> {
    let range = package::locate(binary)?;
    let trimmed = trim_package(&binary[range.clone()], locales)?;
    Ok((range, trimmed))
}

/// Writes a copy of the node binary `source` at `out` with its ICU data trimmed to `locales`,
/// the freed bytes left as holes where the file system allows.
pub(crate) fn write_trimmed_node(source: &Utf8Path, locales: &[String], out: &Utf8Path) -> Result<Trimmed> {
    let input = std::fs::File::open(source).with_context(|| format!("could not open {source}"))?;
    let map = crate::fsutil::map_readonly(&input)?;
    let (range, trimmed) = trim_binary(&map, locales).with_context(|| format!("could not trim the ICU data of {source}"))?;
    drop(map);
    std::fs::copy(source, out).with_context(|| format!("could not copy {source} to {out}"))?;
    let file = std::fs::OpenOptions::new().write(true).open(out).with_context(|| format!("could not open {out}"))?;
    crate::fsutil::write_at(&file, range.start as u64, &trimmed.bytes[..trimmed.used]).with_context(|| format!("could not write {out}"))?;
    crate::fsutil::zero_range(&file, (range.start + trimmed.used) as u64..range.end as u64).with_context(|| format!("could not write {out}"))?;
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use package::test_data::header;

    fn strings(entries: &[(&str, &str)]) -> BTreeMap<String, Value> {
        entries.iter().map(|(key, value)| ((*key).to_owned(), Value::String((*value).to_owned()))).collect()
    }

    fn res(entries: &[(&str, &str)]) -> Vec<u8> {
        bundle::write(&header(b"ResB", 2), false, &strings(entries)).unwrap()
    }

    fn index(locales: &[&str]) -> Vec<u8> {
        let installed: BTreeMap<String, Value> = locales.iter().map(|locale| ((*locale).to_owned(), Value::String(String::new()))).collect();
        let root = BTreeMap::from([("CLDRVersion".to_owned(), Value::String("48".to_owned())), ("InstalledLocales".to_owned(), Value::Table(installed))]);
        bundle::write(&header(b"ResB", 2), true, &root).unwrap()
    }

    #[test]
    fn a_package_keeps_the_locales_asked_for_their_family_and_every_other_item() {
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("icudt78l/brkitr/word.brk", header(b"Brk ", 6)),
            ("icudt78l/coll/de.res", res(&[("x", "coll de")])),
            ("icudt78l/coll/en.res", res(&[("x", "coll en")])),
            ("icudt78l/coll/res_index.res", index(&["de", "en"])),
            ("icudt78l/coll/root.res", res(&[("x", "coll root")])),
            ("icudt78l/de.res", res(&[("x", "Hallo")])),
            ("icudt78l/en.res", res(&[("x", "Hello")])),
            ("icudt78l/en_001.res", res(&[("x", "Hello, world")])),
            ("icudt78l/en_150.res", res(&[("%%Parent", "en_001")])),
            ("icudt78l/en_IN.res", res(&[("x", "Hello, India")])),
            ("icudt78l/hi_Latn.res", res(&[("%%Parent", "en_IN")])),
            ("icudt78l/in.res", res(&[("%%ALIAS", "id")])),
            ("icudt78l/res_index.res", index(&["de", "en", "en_001", "en_150", "hi_Latn"])),
            ("icudt78l/root.res", res(&[("x", "root")])),
            ("icudt78l/supplementalData.res", res(&[("x", "data")])),
        ];
        let items: Vec<Item> = files.iter().map(|(name, data)| Item { name, data }).collect();
        let package = package::write(&header(b"CmnD", 1), &items, 0).unwrap();
        let trimmed = trim_package(&package, &["en".to_owned()]).unwrap();
        assert_eq!(trimmed.bytes.len(), package.len());
        assert!(trimmed.bytes[trimmed.used..].iter().all(|&byte| byte == 0));
        let kept = package::parse(&trimmed.bytes).unwrap();
        let names: Vec<&str> = kept.items.iter().map(|item| item.name.strip_prefix("icudt78l/").unwrap()).collect();
        // hi_Latn's explicit parent is en_IN: it is a sublocale of en, and hi is not its parent.
        assert_eq!(
            names,
            [
                "brkitr/word.brk",
                "coll/en.res",
                "coll/res_index.res",
                "coll/root.res",
                "en.res",
                "en_001.res",
                "en_150.res",
                "en_IN.res",
                "hi_Latn.res",
                "res_index.res",
                "root.res",
                "supplementalData.res"
            ]
        );
        assert_eq!(trimmed.removed_items, 3);
        assert!(
            trimmed.removed_converters.is_empty() && trimmed.all_converters_kept.as_deref().is_some_and(|why| why.contains("cnvalias.icu")),
            "{:?} {:?}",
            trimmed.removed_converters,
            trimmed.all_converters_kept
        );
        let index_of = |name: &str| {
            let item = kept.items.iter().find(|item| item.name == name).unwrap();
            let Value::Table(root) = Bundle::parse(item.data).unwrap().tree(None).unwrap() else { panic!("not a table") };
            let Some(Value::Table(installed)) = root.get("InstalledLocales") else { panic!("no InstalledLocales") };
            (installed.keys().cloned().collect::<Vec<_>>().join(" "), Bundle::parse(item.data).unwrap().attributes & 1)
        };
        assert_eq!(index_of("icudt78l/res_index.res"), ("en en_001 en_150 hi_Latn".to_owned(), 1));
        assert_eq!(index_of("icudt78l/coll/res_index.res"), ("en".to_owned(), 1));
        let unknown = trim_package(&package, &["xx".to_owned()]).unwrap_err();
        assert!(unknown.to_string().contains("no such locale"), "{unknown}");
        let aliased = trim_package(&package, &["de".to_owned()]).unwrap();
        assert!(package::parse(&aliased.bytes).unwrap().items.iter().all(|item| !item.name.ends_with("/en.res")));
    }

    #[test]
    fn a_package_keeps_the_converters_node_opens() {
        use converters::fixture::{alias_table, converter};
        let table = alias_table(&[], &[("ibm-943_P15A-2003", &[("shift_jis", &[])]), ("windows-936-2000", &[("gbk", &[])]), ("ibm-37_P100-1995", &[("ibm-037", &[])])], true);
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("icudt78l/cnvalias.icu", table),
            ("icudt78l/en.res", res(&[("x", "Hello")])),
            ("icudt78l/ibm-1386_P100-2001.cnv", converter("ibm-1386_P100-2001", None)),
            ("icudt78l/ibm-37_P100-1995.cnv", converter("ibm-37_P100-1995", None)),
            ("icudt78l/ibm-943_P15A-2003.cnv", converter("ibm-943_P15A-2003", None)),
            ("icudt78l/res_index.res", index(&["en"])),
            ("icudt78l/root.res", res(&[("x", "root")])),
            ("icudt78l/windows-936-2000.cnv", converter("windows-936-2000", Some("ibm-1386_P100-2001"))),
            ("icudt78l/zoneinfo64.res", res(&[("x", "zones")])),
        ];
        let items: Vec<Item> = files.iter().map(|(name, data)| Item { name, data }).collect();
        let package = package::write(&header(b"CmnD", 1), &items, 0).unwrap();
        let trimmed = trim_package(&package, &["en".to_owned()]).unwrap();
        assert_eq!(trimmed.removed_converters, ["ibm-37_P100-1995"]);
        assert_eq!((trimmed.removed_items, trimmed.all_converters_kept), (1, None));
        let kept = package::parse(&trimmed.bytes).unwrap();
        let names: Vec<&str> = kept.items.iter().map(|item| item.name.strip_prefix("icudt78l/").unwrap()).collect();
        assert_eq!(names, ["cnvalias.icu", "en.res", "ibm-1386_P100-2001.cnv", "ibm-943_P15A-2003.cnv", "res_index.res", "root.res", "windows-936-2000.cnv", "zoneinfo64.res"]);
        // A converter that cannot be read keeps them all, saying why.
        let mut files = files;
        files[4].1 = b"damaged".to_vec();
        let items: Vec<Item> = files.iter().map(|(name, data)| Item { name, data }).collect();
        let package = package::write(&header(b"CmnD", 1), &items, 0).unwrap();
        let trimmed = trim_package(&package, &["en".to_owned()]).unwrap();
        assert!(trimmed.removed_converters.is_empty(), "{:?}", trimmed.removed_converters);
        assert!(trimmed.all_converters_kept.as_deref().is_some_and(|why| why.contains("ibm-943_P15A-2003")), "{:?}", trimmed.all_converters_kept);
    }

    #[test]
    fn locale_names_and_parents() {
        assert_eq!(icu_name("en-us").as_deref(), Some("en_US"));
        assert_eq!(icu_name("es-419").as_deref(), Some("es_419"));
        assert_eq!(icu_name("english"), None);
        assert!(is_locale_name("de__PHONEBOOK") && is_locale_name("en_US_POSIX") && is_locale_name("root"));
        assert!(!is_locale_name("res_index") && !is_locale_name("supplementalData") && !is_locale_name("pool") && !is_locale_name("units"));
        assert_eq!(truncated("de__PHONEBOOK"), Some("de_"));
        assert_eq!(truncated("de_"), Some("de"));
        assert_eq!(truncated("de"), Some("root"));
        let parents: BTreeMap<String, BTreeSet<String>> = [
            ("root", &[][..]),
            ("en", &["root"][..]),
            ("en_001", &["en"][..]),
            ("en_150", &["en", "en_001"][..]),
            ("no", &["root"][..]),
            ("nb", &["root", "no"][..]),
            ("id", &["root"][..]),
            ("in", &["root", "id"][..]),
            ("de", &["root"][..]),
        ]
        .into_iter()
        .map(|(locale, up)| (locale.to_owned(), up.iter().map(|parent| (*parent).to_owned()).collect()))
        .collect();
        let names = |kept: BTreeSet<String>| kept.into_iter().collect::<Vec<_>>().join(" ");
        assert_eq!(names(kept_locales(&parents, &["en".to_owned()])), "en en_001 en_150 root");
        assert_eq!(names(kept_locales(&parents, &["en_150".to_owned()])), "en en_001 en_150 root");
        assert_eq!(names(kept_locales(&parents, &["no".to_owned()])), "nb no root");
        assert_eq!(names(kept_locales(&parents, &["id".to_owned()])), "id in root");
    }
}
