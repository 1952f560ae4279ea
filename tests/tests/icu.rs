//! `icu = ["en"]`: node's ICU data trimmed to English, with real node 24. The same `Intl` script
//! (tests/scripts/intl.js: dates with time zones, numbers, currencies, units, collation,
//! segmentation, plural rules, relative times, display names) runs through full-ICU node and
//! through the trimmed SEA: the kept locales give the same results, a dropped one falls back to
//! the default locale as node's small-icu builds do, `supportedLocalesOf` lists what is kept,
//! ICU's own `icupkg` reads the rewritten package, the artifact is sparse and reproducible; and
//! the same holds for win-x64 under Wine and linux-arm64 under qemu. The charset converters node
//! cannot open are left out: `TextDecoder` decodes with every label node accepts, and
//! `buffer.transcode` converts, as with full ICU (tests/scripts/decoders.js, node 22 and 24), and
//! the alias table that decides which converters node opens reads as ICU's own `uconv` reads it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::{Artifact, CacheAccepted};
use sea_build::icu::IcuData;
use sea_build::icu::converters::{AliasTable, extension_base, node_converters};
use sea_build::node::{NodeFetcher, Platform, SourceKind, VersionSpec};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::{Invocation, Processes, Runner};
use sea_build::runtime::TargetRunner;
use sea_build_tests::nodes::pinned::{NODE_22, NODE_24};
use sea_build_tests::nodes::{real_node, test_env};
use serde_json::Value;

/// The locales the script formats for that `icu = ["en"]` keeps.
const KEPT: &[&str] = &["en", "en-US", "en-GB", "en-IN", "en-150"];
/// Those it drops.
const DROPPED: &[&str] = &["de", "fr-CA", "ja"];
/// Results that do not depend on a locale's data.
const LOCALE_FREE: &[&str] = &["normalized", "decoder", "regexp", "icu"];

/// The converters node 24.21.0 can open, by the names ICU 78 gives them: the WHATWG legacy
/// encodings, the Windows ANSI code pages, and the base tables of the extension-only ones.
const NODE_24_CONVERTERS: &[&str] = &[
    "euc-jp-2007",
    "gb18030-2022",
    "ibm-1089_P100-1995",
    "ibm-1168_P100-2002",
    "ibm-1363_P11B-1998",
    "ibm-1373_P100-2002",
    "ibm-1386_P100-2001",
    "ibm-5012_P100-1999",
    "ibm-5346_P100-1998",
    "ibm-5347_P100-1998",
    "ibm-5348_P100-1997",
    "ibm-5349_P100-1998",
    "ibm-5350_P100-1998",
    "ibm-5354_P100-1998",
    "ibm-866_P100-1995",
    "ibm-878_P100-1996",
    "ibm-9005_X110-2007",
    "ibm-912_P100-1995",
    "ibm-913_P100-2000",
    "ibm-914_P100-1995",
    "ibm-915_P100-1995",
    "ibm-921_P100-1995",
    "ibm-923_P100-1998",
    "ibm-943_P15A-2003",
    "ibm-9447_P100-2002",
    "ibm-9448_X100-2005",
    "ibm-9449_P100-2002",
    "ibm-970_P110_P110-2006_U2",
    "iso-8859_10-1998",
    "iso-8859_14-1998",
    "macos-0_2-10.2",
    "macos-7_3-10.2",
    "windows-874-2000",
    "windows-936-2000",
    "windows-949-2000",
    "windows-950-2000",
];

fn script() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/intl.js")
}

fn decoders_script() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/decoders.js")
}

/// A package at `dir` whose SEA runs the Intl script, for `targets`, with `icu`.
fn intl_sea(dir: &Utf8Path, targets: Vec<Platform>, icu: IcuData) -> sea_build::Sea {
    let main = std::fs::read_to_string(script()).unwrap();
    let mut sea = sea_build_tests::greeter::package(dir, &main, VersionSpec::Exact(NODE_24), targets, true);
    sea.icu = icu;
    sea
}

fn build(sea: &sea_build::Sea, platform: Platform, out: &Utf8Path) -> Artifact {
    let fetcher = NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm]);
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &test_env() };
    pipeline.build(sea, platform, out).unwrap_or_else(|error| panic!("building for {platform}: {error}"))
}

/// The script's results: `program` (node with the script, or the SEA) run by `runner`.
fn results(runner: &dyn Runner, program: &Utf8Path, args: Vec<String>) -> Value {
    let mut invocation = Invocation::new(program.to_owned(), args);
    invocation.clean_env = true;
    let run = runner.run(&invocation).unwrap();
    assert!(run.success(), "{program}: {}", run.stderr_text());
    serde_json::from_slice(&run.stdout).unwrap_or_else(|error| panic!("{program} printed no JSON ({error}): {}", String::from_utf8_lossy(&run.stdout)))
}

/// Every result of the kept locales and of no locale is full ICU's.
fn assert_kept_equal(full: &Value, trimmed: &Value, what: &str) {
    for key in KEPT.iter().chain(LOCALE_FREE) {
        assert!(full[key].is_object() || full[key].is_string() || full[key].is_array(), "{what}: the script gave nothing for {key}");
        if full[key] != trimmed[key] {
            let fields = full[key].as_object().map(|fields| fields.keys().filter(|field| full[key][field.as_str()] != trimmed[key][field.as_str()]).cloned().collect::<Vec<_>>());
            panic!("{what}: {key} differs from full ICU's in {fields:?}:\nfull: {}\ntrimmed: {}", full[key], trimmed[key]);
        }
    }
}

/// `supportedLocalesOf` lists the kept locales of those asked for, nothing dropped (plural
/// rules are one non-locale file, kept whole, so PluralRules still lists every locale).
fn assert_supported(trimmed: &Value, what: &str) {
    for (name, list) in trimmed["supported"].as_object().unwrap() {
        let list: Vec<&str> = list.as_array().unwrap().iter().map(|locale| locale.as_str().unwrap()).collect();
        if name == "PluralRules" {
            assert!(list.contains(&"de") && list.contains(&"ja"), "{what}: {name}: {list:?}");
        } else {
            assert_eq!(list, ["en", "en-GB", "en-US-u-va-posix"], "{what}: Intl.{name}.supportedLocalesOf");
        }
    }
}

/// The ICU data package inside `binary`, written as `<dir>/<its name>.dat` (the name `icupkg`
/// wants: its items' prefix), with that path.
fn extract_package(binary: &Utf8Path, dir: &Utf8Path) -> (Utf8PathBuf, Vec<u8>) {
    let bytes = std::fs::read(binary).unwrap();
    let range = sea_build::icu::package::locate(&bytes).unwrap();
    let package = sea_build::icu::package::parse(&bytes[range.clone()]).unwrap();
    let prefix = package.items[0].name.split('/').next().unwrap().to_owned();
    let data = bytes[range.start..range.start + package.len].to_vec();
    let path = dir.join(format!("{prefix}.dat"));
    std::fs::write(&path, &data).unwrap();
    (path, bytes[range].to_vec())
}

/// `icupkg -l`: the items ICU's own tool reads from a package.
fn icupkg_items(package: &Utf8Path) -> Vec<String> {
    let output = Command::new("icupkg").arg("-l").arg(package).output().expect("icupkg (Debian's icu-devtools; `cargo xtask setup` installs it)");
    assert!(output.status.success(), "icupkg -l {package}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// `item` of `package` as ICU's `derb` prints it (extracted with `icupkg -x`).
fn derb_of(package: &Utf8Path, item: &str) -> String {
    let out = package.parent().unwrap().join("extracted");
    std::fs::create_dir_all(&out).unwrap();
    let extracted = Command::new("icupkg").arg(package).args(["-x", item, "-d"]).arg(&out).output().unwrap();
    assert!(extracted.status.success(), "icupkg -x {item}: {}", String::from_utf8_lossy(&extracted.stderr));
    let dumped = Command::new("derb").args(["-c", &format!("./{item}")]).current_dir(&out).output().expect("derb (Debian's icu-devtools)");
    assert!(dumped.status.success(), "derb {item}: {}", String::from_utf8_lossy(&dumped.stderr));
    String::from_utf8(dumped.stdout).unwrap()
}

#[test]
fn english_only_icu_gives_full_icu_results_for_english_on_linux_x64() {
    let host = Platform::host().unwrap();
    let (_keep, dir) = sea_build_tests::temp_dir();
    let node = real_node(NODE_24, "linux-x64").unwrap();
    let full = results(&Processes, &node.path, vec![script().to_string()]);
    let mut built = Vec::new();
    // Two checkouts: the same bytes from each.
    for checkout in ["a", "b"] {
        let sea = intl_sea(&dir.join(checkout), vec![host], IcuData::Locales(vec!["en".into()]));
        built.push(build(&sea, host, &dir.join(checkout).join("out")));
    }
    let artifact = &built[0];
    assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes);
    let trimmed_info = artifact.manifest.icu_trimmed.as_ref().unwrap();
    assert_eq!(trimmed_info.locales, ["en"]);
    assert!(trimmed_info.freed_bytes > 15_000_000, "{trimmed_info:?}");
    assert!(std::fs::read(&built[0].path).unwrap() == std::fs::read(&built[1].path).unwrap(), "two checkouts gave different artifacts");

    let trimmed = results(&Processes, &artifact.path, vec![]);
    assert_kept_equal(&full, &trimmed, "linux-x64");
    assert_supported(&trimmed, "linux-x64");
    // A dropped locale falls back to the default one (en-US here, as in node's small-icu
    // builds): its results are full ICU's for en-US, except the Japanese calendar asked for
    // with the dropped tag, and what comes from non-locale data (plural rules, likely subtags).
    for dropped in DROPPED {
        let fallback = &trimmed[dropped];
        assert_eq!(fallback["date resolved"]["locale"], "en-US", "{dropped}");
        assert_eq!(fallback["number resolved"]["locale"], "en-US", "{dropped}");
        for (field, value) in fallback.as_object().unwrap() {
            match field.as_str() {
                "calendar" => assert_eq!(value, "February 29, 2024"),
                "plural" | "locale" => assert_eq!(value, &full[dropped][field.as_str()], "{dropped}: {field}"),
                _ => assert_eq!(value, &full["en-US"][field.as_str()], "{dropped}: {field} is not en-US's"),
            }
        }
    }

    // ICU's own tool reads the rewritten package: the kept items, none of the dropped.
    let (package_path, package) = extract_package(&artifact.path, &dir);
    let (original_path, _) = extract_package(&node.path, &dir.join("a"));
    let items = icupkg_items(&package_path);
    let original = icupkg_items(&original_path);
    for item in
        ["root.res", "en.res", "en_GB.res", "en_US_POSIX.res", "res_index.res", "pool.res", "coll/root.res", "coll/en.res", "zone/en_IN.res", "brkitr/word.brk", "cnvalias.icu", "zoneinfo64.res"]
    {
        assert!(items.iter().any(|listed| listed == item), "icupkg does not list {item}");
    }
    for item in ["de.res", "fr_CA.res", "ja.res", "coll/de.res", "curr/ja.res"] {
        assert!(!items.iter().any(|listed| listed == item), "icupkg lists {item}, which was dropped");
    }
    // And ICU's derb reads the rewritten index of installed locales.
    let index = derb_of(&package_path, "res_index.res");
    assert!(index.contains("InstalledLocales") && index.contains("en_GB {") && !index.contains("de {") && !index.contains("ja {"), "{index}");
    assert!(original.len() > items.len() + 3000, "{} items of {}", items.len(), original.len());
    assert!(original.iter().filter(|item| !item.ends_with(".res") && !item.ends_with(".cnv")).all(|item| items.contains(item)), "an item neither a locale's nor a converter was dropped");
    // Of the converters, those node can open stay.
    let converters: Vec<&str> = items.iter().filter_map(|item| item.strip_suffix(".cnv")).collect();
    assert_eq!(converters, NODE_24_CONVERTERS);
    assert_eq!(trimmed_info.removed_converters, original.iter().filter(|item| item.ends_with(".cnv")).count() - converters.len());
    // The package keeps its place and size; what it no longer holds is zeros, and holes on disk.
    let node_bytes = std::fs::read(&node.path).unwrap();
    let artifact_bytes = std::fs::read(&artifact.path).unwrap();
    let (before, now) = (sea_build::icu::package::locate(&node_bytes).unwrap(), sea_build::icu::package::locate(&artifact_bytes).unwrap());
    assert_eq!(now.start, before.start, "the package moved");
    assert_eq!(before.len() - now.len(), trimmed_info.freed_bytes as usize);
    assert!(artifact_bytes[now.end..before.end].iter().all(|&byte| byte == 0));
    assert_eq!(artifact_bytes[now.clone()], package[..]);
    let metadata = std::fs::metadata(&artifact.path).unwrap();
    let on_disk = metadata.blocks() * 512;
    assert!(on_disk + 15_000_000 < metadata.len(), "the artifact takes {on_disk} bytes on disk for {} bytes", metadata.len());
}

#[test]
fn english_only_icu_gives_full_icu_results_under_wine_and_qemu() {
    let (_keep, dir) = sea_build_tests::temp_dir();
    let full = results(&Processes, &real_node(NODE_24, "linux-x64").unwrap().path, vec![script().to_string()]);
    for name in ["win-x64", "linux-arm64"] {
        let platform: Platform = name.parse().unwrap();
        let sea = intl_sea(&dir.join(name), vec![platform], IcuData::Locales(vec!["en".into()]));
        let artifact = build(&sea, platform, &dir.join(name).join("out"));
        assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::Yes, "{name}: {:?}", artifact.manifest.run_time_check);
        let node = real_node(NODE_24, name).unwrap();
        let target = TargetRunner::for_target(platform, &node.path, &Processes, &test_env()).unwrap();
        let trimmed = results(&target, &artifact.path, vec![]);
        assert_kept_equal(&full, &trimmed, name);
        assert_supported(&trimmed, name);
        let (package_path, _) = extract_package(&artifact.path, &dir.join(name));
        let items = icupkg_items(&package_path);
        assert!(items.iter().any(|item| item.ends_with("/en.res")) && !items.iter().any(|item| item.ends_with("/de.res")), "{name}: {} items", items.len());
    }
}

#[test]
fn an_unknown_locale_is_refused_with_what_to_write() {
    let (_keep, dir) = sea_build_tests::temp_dir();
    let host = Platform::host().unwrap();
    let sea = intl_sea(&dir, vec![host], IcuData::Locales(vec!["xx".into()]));
    let fetcher = NodeFetcher::from_env(&test_env()).unwrap().sources(vec![SourceKind::Npm]);
    let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &Silent, lock: None, env: &test_env() };
    let error = pipeline.build(&sea, host, &dir.join("out")).unwrap_err();
    assert_eq!(error.kind(), sea_build::ErrorKind::Config, "{error}");
    assert!(error.to_string().contains("\"xx\"") && error.to_string().contains("no such locale"), "{error}");
    assert!(std::fs::read_dir(dir.join("out")).unwrap().all(|entry| !entry.unwrap().file_name().to_string_lossy().starts_with("greeter")));
}

/// `TextDecoder` with every label node's own label map holds, over bytes valid and invalid in
/// every encoding, `buffer.transcode` between its encodings, and node's converter binding: the
/// trimmed SEA against full-ICU node, with node 22 (which decodes every legacy encoding with ICU)
/// and node 24 (which decodes the single-byte ones in JavaScript).
#[test]
fn english_only_icu_decodes_every_encoding_as_full_icu_does() {
    let host = Platform::host().unwrap();
    let (_keep, dir) = sea_build_tests::temp_dir();
    let main = std::fs::read_to_string(decoders_script()).unwrap();
    for version in [NODE_22, NODE_24] {
        let what = format!("node {version}");
        let node = real_node(version, "linux-x64").unwrap();
        let full = results(&Processes, &node.path, vec![decoders_script().to_string()]);
        let package = dir.join(version.to_string());
        let mut sea = sea_build_tests::greeter::package(&package, &main, VersionSpec::Exact(version), vec![host], true);
        sea.icu = IcuData::Locales(vec!["en".into()]);
        let artifact = build(&sea, host, &package.join("out"));
        assert!(artifact.manifest.icu_trimmed.as_ref().unwrap().removed_converters > 100, "{what}: {:?}", artifact.manifest.icu_trimmed);
        let trimmed = results(&Processes, &artifact.path, vec![]);
        let labels = full["decoders"].as_object().unwrap();
        assert!(labels.len() >= 228 && Some(labels.len() as u64) == full["labels"].as_u64(), "{what}: the script found {} labels", full["labels"]);
        // The script decodes for real: a multi-byte encoding through ICU, a broken sequence.
        assert_eq!(full["decoders"]["sjis"]["samples"][0], "あ亜ア", "{what}");
        assert_eq!(full["decoders"]["shift_jis"]["samples fatal"][15], "TypeError: ERR_ENCODING_INVALID_ENCODED_DATA", "{what}");
        for (label, result) in labels {
            for (field, value) in result.as_object().unwrap() {
                assert_eq!(&trimmed["decoders"][label][field], value, "{what}: TextDecoder({label:?}), {field}, differs from full ICU's");
            }
        }
        assert_eq!(trimmed["transcoded"], full["transcoded"], "{what}: buffer.transcode differs from full ICU's");
        // node's internal binding (process.binding('icu'), deprecated) opens any name: what
        // TextDecoder asks for still opens; a converter nothing in node names is gone.
        for (name, opens) in full["binding"].as_object().unwrap() {
            let gone = ["ibm-037", "ISO_2022,locale=ko,version=0"].contains(&name.as_str());
            assert_eq!((opens, &trimmed["binding"][name]), (&Value::Bool(true), &Value::Bool(!gone)), "{what}: hasConverter({name:?})");
        }
    }
}

/// `uconv --version`'s ICU major version: the name of the data package the system's ICU reads
/// loose files for (`icudt<major>l`).
fn system_icu_major() -> String {
    let output = Command::new("uconv").arg("--version").output().expect("uconv (Debian's icu-devtools; `cargo xtask setup` installs it)");
    let text = String::from_utf8(output.stdout).unwrap();
    let version = text.split("ICU ").nth(1).unwrap_or_else(|| panic!("uconv --version: {text}"));
    version.split('.').next().unwrap().trim().to_owned()
}

/// `uconv ARGS` with `data` as ICU's data directory: its standard output.
fn uconv(data: &Utf8Path, args: &[&str]) -> String {
    let output = Command::new("uconv").env("ICU_DATA", data).args(args).output().unwrap();
    assert!(output.status.success(), "uconv {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The alias table of node 24 (ICU 78) read here, against the system's ICU (`uconv`) reading the
/// same table as its own: every alias resolves to the converter ICU resolves it to, and every
/// standard lists what ICU lists. And what node's names open in it.
#[test]
fn node_24s_converter_alias_table_reads_as_icu_reads_it() {
    let node = real_node(NODE_24, "linux-x64").unwrap();
    let bytes = std::fs::read(&node.path).unwrap();
    let range = sea_build::icu::package::locate(&bytes).unwrap();
    let package = sea_build::icu::package::parse(&bytes[range]).unwrap();
    let item = |name: &str| package.items.iter().find(|item| item.name.split_once('/').is_some_and(|(_, file)| file == name)).map(|item| item.data);
    let alias_bytes = item("cnvalias.icu").unwrap();
    let table = AliasTable::parse(alias_bytes).unwrap();
    assert_eq!((table.converters().len(), table.aliases().len()), (365, 1549));
    // No standard for the WHATWG Encoding Standard's labels: ICU's data has no HTML tag.
    assert_eq!(table.tags(), ["UTR22", "IBM", "WINDOWS", "JAVA", "IANA", "MIME", "", "ALL"]);
    let resolve = |name: &str| table.resolve(name).map(|resolved| (resolved.converter, resolved.ambiguous));
    assert_eq!(resolve("shift_jis"), Some(("ibm-943_P15A-2003", true)));
    assert_eq!(resolve("windows-1252"), Some(("ibm-5348_P100-1997", true)));
    assert_eq!(resolve("gb18030"), Some(("gb18030-2022", false)));
    assert_eq!(resolve("gbk"), Some(("windows-936-2000", false)));
    assert_eq!(resolve("iso-2022-jp"), Some(("ISO_2022,locale=ja,version=0", false)));
    assert_eq!((resolve("replacement"), resolve("x-user-defined")), (None, None));
    assert_eq!(extension_base(item("windows-936-2000.cnv").unwrap()).unwrap(), Some("ibm-1386_P100-2001"));
    assert_eq!(extension_base(item("gb18030-2022.cnv").unwrap()).unwrap(), None);
    let kept = node_converters(alias_bytes, &|name| item(&format!("{name}.cnv"))).unwrap();
    assert_eq!(kept.iter().map(String::as_str).collect::<Vec<_>>(), NODE_24_CONVERTERS);

    // ICU's data directory with node's alias table as a loose file of the system's own package,
    // which ICU reads before the table linked into it.
    let (_keep, dir) = sea_build_tests::temp_dir();
    let loose = dir.join(format!("icudt{}l", system_icu_major()));
    std::fs::create_dir_all(&loose).unwrap();
    std::fs::write(loose.join("cnvalias.icu"), alias_bytes).unwrap();
    assert_eq!(uconv(&dir, &["--list-code", "gb18030"]).trim(), "gb18030-2022", "uconv does not read node's alias table");
    for alias in table.aliases() {
        let icu = uconv(&dir, &["--list-code", alias]);
        assert_eq!(icu.split_whitespace().next(), table.resolve(alias).map(|resolved| resolved.converter), "ICU resolves {alias:?} otherwise");
    }
    // `uconv -l --canon`: every converter ICU can open here, each alias with its standards.
    let mut icu_tagged = BTreeSet::new();
    let mut icu_all = BTreeSet::new();
    let mut converter = String::new();
    for line in uconv(&dir, &["-l", "--canon"]).lines().filter(|line| !line.starts_with('{') && !line.trim().is_empty()) {
        let (name, tags) = line.trim().split_once(" {").map_or((line.trim(), ""), |(name, tags)| (name.trim(), tags.trim_end_matches('}')));
        if !line.starts_with('\t') {
            converter = name.to_owned();
        }
        icu_all.insert((converter.clone(), name.to_owned()));
        for tag in tags.split_whitespace().map(|tag| tag.trim_end_matches('*')).filter(|tag| !tag.is_empty()) {
            icu_tagged.insert((converter.clone(), tag.to_owned(), name.to_owned()));
        }
    }
    let listed: BTreeSet<String> = icu_all.iter().map(|(converter, _)| converter.clone()).collect();
    assert!(listed.len() > 100, "uconv lists {} converters", listed.len());
    let mut tagged = BTreeSet::new();
    for &tag in table.tags().iter().filter(|tag| !tag.is_empty() && **tag != "ALL") {
        for (alias, converter) in table.aliases_under(tag).unwrap().unwrap() {
            tagged.insert((converter.to_owned(), tag.to_owned(), alias.to_owned()));
        }
    }
    tagged.retain(|(converter, _, _)| listed.contains(converter));
    assert_eq!(tagged, icu_tagged, "the standards list aliases otherwise");
    let all: BTreeSet<(String, String)> =
        table.aliases_under("ALL").unwrap().unwrap().into_iter().filter(|(_, converter)| listed.contains(*converter)).map(|(alias, converter)| (converter.to_owned(), alias.to_owned())).collect();
    assert_eq!(all, icu_all, "the converters' aliases differ");
}
