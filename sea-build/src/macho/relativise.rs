//! Making a linked Mach-O image independent of the directory it was built in.
//!
//! Linkers record, in the symbol table, debug-map stabs that point a debugger at the DWARF
//! in the object files: `N_OSO` entries hold each object's absolute path (or
//! `/abs/lib.a(member.o)`) and its modification time, `N_SO`/`N_SOL` entries the source
//! paths. Two checkouts at different paths therefore link different bytes, and so does
//! touching a file. [`relativise`] rewrites them after the fact, for binaries linked without
//! ld64's `-oso_prefix` and `ZERO_AR_DATE`:
//!
//! - an `N_OSO` path that starts with `prefix` has it replaced by
//!   [`RelativiseOptions::object_replacement`] (default: nothing, a plain textual strip,
//!   exactly what ld64's `-oso_prefix` does; `/home/me/app/obj/main.o` with prefix
//!   `/home/me/app/` becomes `obj/main.o`), and every `N_OSO` timestamp becomes 0 (0 means
//!   "do not check" to `dsymutil` and lldb);
//! - with [`RelativiseOptions::source_paths`] (default), `N_SO` and `N_SOL` paths under the
//!   prefix get [`RelativiseOptions::source_replacement`] instead (default `./`, what
//!   compiling with `-fdebug-compilation-dir=.` records). ld64's two-part `N_SO` (a
//!   directory `/home/me/app/` then a file name) becomes `./` then the name; an empty `N_SO`
//!   closes a unit, so a rewrite that would produce an empty string is refused;
//! - the string table is rebuilt in symbol-table order (strings no symbol uses vanish;
//!   several symbols sharing one string keep sharing it), `strsize`, `__LINKEDIT`'s
//!   `filesize` and its `vmsize` (the size rounded up to 16 KiB) are updated and the file is
//!   cut after the table;
//! - `LC_UUID` is recomputed from the result ([`super::uuid`]).
//!
//! Only the symbol table's `n_strx` fields, `N_OSO` `n_value`s, the string table, three
//! header fields and the UUID change; `LC_DYSYMTAB` refers to symbols by index and needs
//! nothing. The input must be unsigned (remove a signature with [`super::unsign`] first and
//! sign afterwards: every edit invalidates it).
//!
//! Relative paths resolve against the debugger's working directory: run `dsymutil` and
//! `lldb` from the build root, or map them (`dsymutil --oso-prepend-path`, lldb's
//! `target.source-map`).
//!
//! The work happens in place; besides the file, it needs one copy of the string table
//! (the new one is built apart and copied over the old) and a bitmap of one bit per string
//! table byte.

use std::collections::HashMap;

use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as Le;
use object::macho::{LC_CODE_SIGNATURE, LC_SYMTAB, MachHeader64, N_OSO, N_SO, N_SOL, SegmentCommand64, SymtabCommand};
use object::pod::from_bytes_mut;
use object::read::macho::MachHeader as _;

use super::{Kind, NLIST_LEN, ThinImage, align_up, kind, uuid};

/// `__LINKEDIT`'s `vmsize` becomes its file size rounded up to this (the largest page size),
/// whatever the linker wrote (lld writes the exact, path-dependent size).
pub const LINKEDIT_VM_ALIGN: u64 = 0x4000;

/// How [`relativise`] rewrites paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativiseOptions {
    /// Also rewrite `N_SO` and `N_SOL` source paths (default `true`).
    pub source_paths: bool,
    /// Replaces the prefix in `N_OSO` object paths (default empty: a plain strip, like
    /// ld64's `-oso_prefix`). Must not be longer than the prefix.
    pub object_replacement: String,
    /// Replaces the prefix in `N_SO`/`N_SOL` source paths (default `./`, like
    /// `-fdebug-compilation-dir=.`). Must not be longer than the prefix.
    pub source_replacement: String,
    /// Recompute `LC_UUID` afterwards (default `true`).
    pub recompute_uuid: bool,
}

impl Default for RelativiseOptions {
    fn default() -> Self {
        RelativiseOptions { source_paths: true, object_replacement: String::new(), source_replacement: "./".to_owned(), recompute_uuid: true }
    }
}

/// What [`relativise`] did to one thin image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// CPU type of the image.
    pub cputype: u32,
    /// Entries in the symbol table.
    pub symbols: u64,
    /// Strings that had the prefix replaced.
    pub paths_rewritten: u64,
    /// `N_OSO` entries whose timestamp was not 0 before.
    pub timestamps_zeroed: u64,
    /// `strsize` before and after.
    pub string_table: (u64, u64),
    /// The new UUID, when one was computed.
    pub uuid: Option<[u8; 16]>,
    /// Length of the image afterwards.
    pub len: u64,
}

/// What [`relativise_in_place`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativiseSummary {
    /// One entry per thin image, in file order.
    pub images: Vec<ImageSummary>,
    /// Length of the result.
    pub len: u64,
}

/// `data` (thin or universal, unsigned) with its debug-map paths relativised; see the
/// [module docs](self). A copy of [`relativise_in_place`].
///
/// ```
/// use sea_build::macho::relativise::{RelativiseOptions, relativise};
/// # let image = sea_build::macho::fixture::tiny_image();
/// let out = relativise(&image, "/home/me/checkout/", &RelativiseOptions::default())?;
/// assert!(out.len() <= image.len());
/// # anyhow::Ok(())
/// ```
pub fn relativise(data: &[u8], prefix: &str, options: &RelativiseOptions) -> Result<Vec<u8>> {
    let mut copy = data.to_vec();
    relativise_in_place(&mut copy, prefix, options)?;
    Ok(copy)
}

/// Relativises `data` (thin or universal, unsigned) in place and shortens it; see the
/// [module docs](self).
///
/// Universal files keep their slices' alignments; their `fat_arch` table comes out in file
/// order. Fails, saying what is wrong, on a signed image, a string table that is not the
/// last data in `__LINKEDIT` or runs past the file, a symbol whose string index lies
/// outside the table, an unterminated string, a replacement longer than the prefix, an
/// empty prefix, or a rewrite that would leave a path empty. On error `data` may be
/// partly rewritten.
///
/// ```
/// use sea_build::macho::relativise::{RelativiseOptions, relativise_in_place};
/// # let mut image = sea_build::macho::fixture::tiny_image();
/// let options = RelativiseOptions { object_replacement: "../../..".into(), ..Default::default() };
/// let error = relativise_in_place(&mut image, "build/", &options).unwrap_err();
/// assert!(error.to_string().contains("longer than the prefix"));
/// # anyhow::Ok(())
/// ```
pub fn relativise_in_place(data: &mut Vec<u8>, prefix: &str, options: &RelativiseOptions) -> Result<RelativiseSummary> {
    let summary = relativise_slice(data, prefix, options)?;
    data.truncate(summary.len as usize);
    Ok(summary)
}

/// [`relativise_in_place`] over a buffer that cannot shrink, such as a writable memory map
/// of the file: the result is the first `summary.len` bytes; cut the rest (for a file,
/// `set_len`). Lets a caller work over a kernel-made copy, touching only the pages that
/// change.
///
/// ```
/// use sea_build::macho::relativise::{RelativiseOptions, relativise_slice};
/// # let mut image = sea_build::macho::fixture::tiny_image();
/// let summary = relativise_slice(&mut image, "build/", &RelativiseOptions::default())?;
/// assert!(summary.len <= image.len() as u64);
/// # anyhow::Ok(())
/// ```
pub fn relativise_slice(data: &mut [u8], prefix: &str, options: &RelativiseOptions) -> Result<RelativiseSummary> {
    ensure!(
        !prefix.is_empty(),
        "the prefix to strip is empty: give the absolute build directory, e.g. \
         /home/me/checkout/"
    );
    for (what, replacement) in [("object", &options.object_replacement), ("source", &options.source_replacement)] {
        ensure!(
            replacement.len() <= prefix.len(),
            "the {what} path replacement {replacement:?} is longer than the prefix {prefix:?} \
             it replaces: the string table would grow, which in-place relativising does not \
             support; use a shorter replacement"
        );
    }
    match kind(data)? {
        Kind::Thin => {
            let summary = relativise_thin(data, prefix.as_bytes(), options)?;
            Ok(RelativiseSummary { len: summary.len, images: vec![summary] })
        }
        Kind::Fat => relativise_fat(data, prefix.as_bytes(), options),
    }
}

/// The bytes of an unsigned thin image that relativising leaves as they are, known from the
/// start of the file alone (`head`: the header and every load command): from the end of the
/// load commands to the symbol or the string table, whichever comes first, or to the end of
/// the file without `LC_SYMTAB`. `None` for anything else (too short a `head`, a universal
/// or signed file): relativising then reports what is wrong.
///
/// A caller copying a large file hashes this span for the UUID ([`uuid::uuid_of_known`])
/// while the copy is made, instead of after the edit.
///
/// ```
/// use sea_build::macho::relativise::unchanged_span;
/// # let image = sea_build::macho::fixture::tiny_image();
/// let span = unchanged_span(&image[..4096.min(image.len())]).expect("a thin, unsigned image");
/// assert!(span.start >= sea_build::macho::HEADER_LEN as u64 && span.start <= span.end);
/// ```
pub fn unchanged_span(head: &[u8]) -> Option<std::ops::Range<u64>> {
    if !matches!(kind(head), Ok(Kind::Thin)) {
        return None;
    }
    let header = MachHeader64::<Le>::parse(head, 0).ok()?;
    let mut commands = header.load_commands(Le, head, 0).ok()?;
    let start = (super::HEADER_LEN + header.sizeofcmds(Le) as usize) as u64;
    let mut end = u64::MAX;
    while let Some(command) = commands.next().ok()? {
        match command.cmd() {
            LC_CODE_SIGNATURE => return None,
            LC_SYMTAB => {
                let symtab = command.symtab().ok()??;
                end = u64::from(symtab.symoff.get(Le).min(symtab.stroff.get(Le)));
            }
            _ => {}
        }
    }
    Some(start..end.max(start))
}

/// Relativises every slice where it lies, then packs the slices down (they only shrink) and
/// writes a new universal header.
fn relativise_fat(data: &mut [u8], prefix: &[u8], options: &RelativiseOptions) -> Result<RelativiseSummary> {
    let mut summaries = Vec::new();
    let len = super::shrink_slices(data, |image| {
        let summary = relativise_thin(image, prefix, options)?;
        let len = summary.len;
        summaries.push(summary);
        Ok(len)
    })?;
    Ok(RelativiseSummary { images: summaries, len })
}

/// Where the symbol and string tables of a thin image lie.
struct Tables {
    symtab_command: usize,
    linkedit_command: usize,
    linkedit_fileoff: u64,
    symoff: usize,
    nsyms: usize,
    stroff: usize,
    strsize: usize,
    cputype: u32,
}

/// Validates `image` for relativising and locates its tables; `None` without `LC_SYMTAB`.
fn locate_tables(image: &[u8]) -> Result<Option<Tables>> {
    let thin = ThinImage::parse(image)?;
    if thin.code_signature().is_some() {
        bail!(
            "the Mach-O image is code-signed: unsign it first (sea_build::macho::unsign), \
             relativise, then sign the result"
        );
    }
    let linkedit = thin.linkedit()?;
    let Some(command) = thin.command(LC_SYMTAB) else {
        return Ok(None);
    };
    let ranges = thin.file_ranges();
    let find = |what: &str| ranges.iter().find(|r| r.cmd == LC_SYMTAB && r.what == what).copied().context("internal error: LC_SYMTAB ranges missing");
    let (symbols, strings) = (find("LC_SYMTAB symbol table")?, find("LC_SYMTAB string table")?);
    ensure!(
        strings.offset >= linkedit.fileoff() && strings.end() <= linkedit.file_end(),
        "the string table ({:#x}..{:#x}) lies outside __LINKEDIT ({:#x}..{:#x}): unsupported \
         layout",
        strings.offset,
        strings.end(),
        linkedit.fileoff(),
        linkedit.file_end()
    );
    if let Some(after) = ranges.iter().find(|r| r.len > 0 && *r != &strings && r.end() > strings.offset) {
        bail!(
            "the string table ({:#x}..{:#x}) is not the last data in __LINKEDIT: the {} \
             ({:#x}..{:#x}) follows or overlaps it; unsupported layout",
            strings.offset,
            strings.end(),
            after.what,
            after.offset,
            after.end()
        );
    }
    if let Some(at) = image[strings.end() as usize..].iter().position(|&b| b != 0) {
        bail!(
            "{} bytes of unknown data follow the string table (the first non-zero byte at \
             {:#x}): the image is not the unsigned layout of a linker; unsign it first",
            image.len() as u64 - strings.end(),
            strings.end() as usize + at
        );
    }
    Ok(Some(Tables {
        symtab_command: command.offset,
        linkedit_command: linkedit.command.offset,
        linkedit_fileoff: linkedit.fileoff(),
        symoff: symbols.offset as usize,
        nsyms: (symbols.len / NLIST_LEN) as usize,
        stroff: strings.offset as usize,
        strsize: strings.len as usize,
        cputype: thin.cputype(),
    }))
}

/// Relativises one thin image in place; the result is `summary.len` bytes long (the rest
/// of `image` is to be cut).
fn relativise_thin(image: &mut [u8], prefix: &[u8], options: &RelativiseOptions) -> Result<ImageSummary> {
    let Some(tables) = locate_tables(image)? else {
        let uuid = if options.recompute_uuid { uuid::recompute(image)? } else { None };
        let cputype = ThinImage::parse(image)?.cputype();
        return Ok(ImageSummary { cputype, symbols: 0, paths_rewritten: 0, timestamps_zeroed: 0, string_table: (0, 0), uuid, len: image.len() as u64 });
    };
    let symbols_end = tables.symoff + tables.nsyms * NLIST_LEN as usize;
    ensure!(
        symbols_end <= tables.stroff,
        "the symbol table ({:#x}..{symbols_end:#x}) overlaps or follows the string table at \
         {:#x}: unsupported layout",
        tables.symoff,
        tables.stroff
    );
    let (head, tail) = image.split_at_mut(tables.stroff);
    let symbols = &mut head[tables.symoff..symbols_end];
    let strings = &tail[..tables.strsize];

    let shared = SharedStrings::find(symbols, tables.strsize)?;
    let rebuilt = rebuild_strings(symbols, strings, shared, prefix, options)?;
    let new_table = rebuilt.table;
    ensure!(
        new_table.len() <= tables.strsize,
        "the rebuilt string table ({} bytes) is longer than the old one ({} bytes): symbols \
         share the tails of other strings, which relativising does not support",
        new_table.len(),
        tables.strsize
    );
    // Pad to 8 bytes like the linkers, when that fits where the old table was.
    let padded = align_up(new_table.len() as u64, 8).unwrap_or(u64::MAX) as usize;
    let new_strsize = if padded <= tables.strsize { padded } else { new_table.len() };
    tail[..new_table.len()].copy_from_slice(&new_table);
    tail[new_table.len()..new_strsize].fill(0);
    drop(new_table);
    let new_len = tables.stroff + new_strsize;

    let (symtab, _) = from_bytes_mut::<SymtabCommand<Le>>(&mut image[tables.symtab_command..]).ok().context("internal error: LC_SYMTAB vanished")?;
    symtab.strsize.set(Le, new_strsize as u32);
    let filesize = new_len as u64 - tables.linkedit_fileoff;
    let (linkedit, _) = from_bytes_mut::<SegmentCommand64<Le>>(&mut image[tables.linkedit_command..]).ok().context("internal error: __LINKEDIT vanished")?;
    linkedit.filesize.set(Le, filesize);
    linkedit.vmsize.set(Le, align_up(filesize, LINKEDIT_VM_ALIGN).unwrap_or(filesize));
    // The header is untouched; check it still reads as before.
    from_bytes_mut::<MachHeader64<Le>>(image).ok().context("internal error: header vanished")?;

    let uuid = if options.recompute_uuid { uuid::recompute(&mut image[..new_len])? } else { None };
    Ok(ImageSummary {
        cputype: tables.cputype,
        symbols: tables.nsyms as u64,
        paths_rewritten: rebuilt.rewritten,
        timestamps_zeroed: rebuilt.zeroed,
        string_table: (tables.strsize as u64, new_strsize as u64),
        uuid,
        len: new_len as u64,
    })
}

/// Offset of `n_strx` and `n_type` in an `nlist_64`, and of `n_value`.
const STRX: usize = 0;
const TYPE: usize = 4;
const VALUE: usize = 8;

fn strx_of(entry: &[u8]) -> u32 {
    u32::from_le_bytes([entry[STRX], entry[STRX + 1], entry[STRX + 2], entry[STRX + 3]])
}

/// The string offsets more than one symbol uses, and the new offset of each once it is placed.
struct SharedStrings {
    /// One bit per string-table byte: set where a shared string starts. Most symbols own their
    /// string, and this answers for them without a hash lookup.
    bits: Vec<u64>,
    /// The new offset of each shared string; `u32::MAX` until it is placed.
    placed: HashMap<u32, u32>,
}

impl SharedStrings {
    /// One pass over the symbols with a bitmap of the string starts seen so far.
    fn find(symbols: &[u8], strsize: usize) -> Result<SharedStrings> {
        let mut seen = vec![0u64; strsize.div_ceil(64)];
        let mut shared = SharedStrings { bits: vec![0u64; seen.len()], placed: HashMap::new() };
        for (index, entry) in symbols.chunks_exact(NLIST_LEN as usize).enumerate() {
            let strx = strx_of(entry);
            if strx < 2 {
                continue;
            }
            let at = strx as usize;
            ensure!(
                at < strsize,
                "symbol {index} names string {strx}, past the end of the {strsize}-byte string \
                 table: the symbol table is damaged"
            );
            let (word, bit) = (at / 64, 1u64 << (at % 64));
            if seen[word] & bit != 0 {
                shared.bits[word] |= bit;
                shared.placed.insert(strx, u32::MAX);
            }
            seen[word] |= bit;
        }
        Ok(shared)
    }

    /// The slot of `strx` when another symbol uses it too (`strx` is within the table).
    fn slot(&mut self, strx: u32) -> Option<&mut u32> {
        let at = strx as usize;
        if self.bits[at / 64] & (1u64 << (at % 64)) == 0 {
            return None;
        }
        self.placed.get_mut(&strx)
    }
}

/// The new string table and what was done to build it.
struct Rebuilt {
    table: Vec<u8>,
    rewritten: u64,
    zeroed: u64,
}

/// Builds the new string table in symbol order, rewriting path stabs, and points every
/// symbol at its new string; zeroes `N_OSO` timestamps.
fn rebuild_strings(symbols: &mut [u8], strings: &[u8], mut shared: SharedStrings, prefix: &[u8], options: &RelativiseOptions) -> Result<Rebuilt> {
    let mut table = Vec::with_capacity(strings.len());
    table.extend_from_slice(strings.get(..2).unwrap_or(b" \0"));
    let (mut rewritten, mut zeroed) = (0u64, 0u64);
    for (index, entry) in symbols.chunks_exact_mut(NLIST_LEN as usize).enumerate() {
        let kind = entry[TYPE];
        if kind == N_OSO && entry[VALUE..VALUE + 8] != [0; 8] {
            entry[VALUE..VALUE + 8].fill(0);
            zeroed += 1;
        }
        let strx = strx_of(entry);
        if strx < 2 {
            continue;
        }
        // SharedStrings::find checked strx against the table size.
        let slot = shared.slot(strx);
        if let Some(&new) = slot.as_deref()
            && new != u32::MAX
        {
            entry[STRX..STRX + 4].copy_from_slice(&new.to_le_bytes());
            continue;
        }
        let rest = &strings[strx as usize..];
        let Some(len) = memchr::memchr(0, rest) else {
            bail!(
                "the string of symbol {index} (offset {strx}) runs to the end of the string \
                 table without a terminating NUL: the string table is damaged"
            );
        };
        let string = &rest[..len];
        let replacement = match kind {
            N_OSO => Some(options.object_replacement.as_bytes()),
            N_SO | N_SOL if options.source_paths => Some(options.source_replacement.as_bytes()),
            _ => None,
        };
        let new = table.len() as u32;
        match replacement {
            Some(replacement) if string.starts_with(prefix) => {
                let rest = &string[prefix.len()..];
                if replacement.is_empty() && rest.is_empty() {
                    bail!(
                        "symbol {index} ({}) is the prefix {:?} itself: stripping it would \
                         leave an empty path{}; give a replacement or a longer prefix",
                        stab_name(kind),
                        String::from_utf8_lossy(prefix),
                        if kind == N_SO { ", which ends a compilation unit" } else { "" }
                    );
                }
                table.extend_from_slice(replacement);
                table.extend_from_slice(rest);
                rewritten += 1;
            }
            _ => table.extend_from_slice(string),
        }
        table.push(0);
        if let Some(slot) = slot {
            *slot = new;
        }
        entry[STRX..STRX + 4].copy_from_slice(&new.to_le_bytes());
    }
    Ok(Rebuilt { table, rewritten, zeroed })
}

fn stab_name(kind: u8) -> &'static str {
    match kind {
        N_OSO => "N_OSO",
        N_SO => "N_SO",
        N_SOL => "N_SOL",
        _ => "a symbol",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macho::fat_slices;
    use crate::macho::fixture::{Options, image, tiny_image, universal};
    use crate::macho::unsign::unsign;
    use crate::testing::XorShift;
    use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64, N_FUN, N_SECT};

    /// An image whose symbols are `entries` (n_type, string, n_value); strings written in
    /// reverse order, with `" \0"` first, as linkers do not guarantee symbol order.
    fn with_symbols(cputype: u32, entries: &[(u8, &str, u64)]) -> Vec<u8> {
        let base = image(Options { cputype, ..Options::default() });
        let thin = ThinImage::parse(&base).unwrap();
        let symtab = thin.command(LC_SYMTAB).unwrap();
        let symoff = thin.file_ranges()[1].offset as usize;
        let mut strings = b" \0".to_vec();
        let mut offsets = HashMap::new();
        for (_, name, _) in entries.iter().rev() {
            offsets.entry(*name).or_insert_with(|| {
                let at = strings.len() as u32;
                strings.extend_from_slice(name.as_bytes());
                strings.push(0);
                at
            });
        }
        strings.resize(strings.len().next_multiple_of(8), 0);
        let mut out = base[..symoff].to_vec();
        for (kind, name, value) in entries {
            let strx = if name.is_empty() { 1 } else { offsets[name] };
            out.extend_from_slice(&strx.to_le_bytes());
            out.push(*kind);
            out.push(if *kind == N_SECT { 1 } else { 0 });
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        let stroff = out.len();
        out.extend_from_slice(&strings);
        let at = symtab.offset;
        out[at + 8..at + 12].copy_from_slice(&(symoff as u32).to_le_bytes());
        out[at + 12..at + 16].copy_from_slice(&(entries.len() as u32).to_le_bytes());
        out[at + 16..at + 20].copy_from_slice(&(stroff as u32).to_le_bytes());
        out[at + 20..at + 24].copy_from_slice(&(strings.len() as u32).to_le_bytes());
        let linkedit = thin.linkedit().unwrap();
        let filesize = (out.len() as u64 - linkedit.fileoff()).to_le_bytes();
        let seg = linkedit.command.offset;
        out[seg + 48..seg + 56].copy_from_slice(&filesize);
        out[seg + 32..seg + 40].copy_from_slice(&filesize);
        out
    }

    /// The symbols of `data`: (n_type, string, n_value).
    fn symbols_of(data: &[u8]) -> Vec<(u8, String, u64)> {
        let tables = locate_tables(data).unwrap().unwrap();
        let strings = &data[tables.stroff..tables.stroff + tables.strsize];
        data[tables.symoff..tables.symoff + tables.nsyms * 16]
            .chunks_exact(16)
            .map(|entry| {
                let strx = strx_of(entry) as usize;
                let len = memchr::memchr(0, &strings[strx..]).unwrap();
                let name = String::from_utf8(strings[strx..strx + len].to_vec()).unwrap();
                let value = u64::from_le_bytes(entry[8..16].try_into().unwrap());
                (entry[4], name, value)
            })
            .collect()
    }

    const ROOT: &str = "/home/someone/checkout/";

    fn stabs(root: &str) -> Vec<(u8, String, u64)> {
        vec![
            (N_SO, root.to_owned(), 0),
            (N_SO, "main.c".into(), 0),
            (N_OSO, format!("{root}obj/main.o"), 0x6500_0000),
            (N_FUN, "_main".into(), 0x1_0000_4000),
            (N_FUN, String::new(), 0x20),
            (N_SO, String::new(), 0),
            (N_SO, format!("{root}src/util.c"), 0),
            (N_SOL, format!("{root}include/util.h"), 0),
            (N_OSO, format!("{root}lib/libutil.a(util.o)"), 0x6500_0001),
            (N_OSO, "/usr/lib/outside.o".into(), 7),
            (N_SECT, "_main".into(), 0x1_0000_4000),
            (N_SECT, "_util".into(), 0x1_0000_4010),
        ]
    }

    fn build(root: &str) -> Vec<u8> {
        let entries = stabs(root);
        let borrowed: Vec<(u8, &str, u64)> = entries.iter().map(|(k, s, v)| (*k, s.as_str(), *v)).collect();
        with_symbols(CPU_TYPE_ARM64, &borrowed)
    }

    #[test]
    fn the_unchanged_span_is_what_relativising_leaves_alone() {
        let original = build(ROOT);
        let span = unchanged_span(&original).expect("a thin, unsigned image");
        let tables = locate_tables(&original).unwrap().unwrap();
        assert_eq!(span, ThinImage::parse(&original).unwrap().commands_end() as u64..tables.symoff as u64);
        let mut data = original.clone();
        relativise_slice(&mut data, ROOT, &RelativiseOptions::default()).unwrap();
        let (start, end) = (span.start as usize, span.end as usize);
        assert!(data[start..end] == original[start..end], "the span is left as it was");
        assert!(data[tables.symoff..] != original[tables.symoff..], "and the tables after it are not");

        // Only the header and the load commands are needed; less, or a file relativising
        // would unsign or refuse, gives no span.
        assert_eq!(unchanged_span(&original[..span.start as usize]), Some(span.clone()));
        assert_eq!(unchanged_span(&original[..span.start as usize - 1]), None);
        assert_eq!(unchanged_span(&image(Options { signature: Some(64), ..Options::default() })), None);
        assert_eq!(unchanged_span(&universal(&[&original])), None);
        assert_eq!(unchanged_span(b"junk"), None);
    }

    #[test]
    fn rewrites_paths_zeroes_timestamps_and_keeps_the_rest() {
        let original = build(ROOT);
        let mut data = original.clone();
        let summary = relativise_in_place(&mut data, ROOT, &RelativiseOptions::default()).unwrap();
        let image = &summary.images[0];
        assert_eq!(image.symbols, 12);
        assert_eq!(image.paths_rewritten, 5);
        assert_eq!(image.timestamps_zeroed, 3);
        assert!(image.string_table.1 < image.string_table.0);
        assert_eq!(image.string_table.1 % 8, 0);
        assert_eq!(data.len() as u64, summary.len);
        let got = symbols_of(&data);
        let expected: Vec<(u8, &str, u64)> = vec![
            (N_SO, "./", 0),
            (N_SO, "main.c", 0),
            (N_OSO, "obj/main.o", 0),
            (N_FUN, "_main", 0x1_0000_4000),
            (N_FUN, "", 0x20),
            (N_SO, "", 0),
            (N_SO, "./src/util.c", 0),
            (N_SOL, "./include/util.h", 0),
            (N_OSO, "lib/libutil.a(util.o)", 0),
            (N_OSO, "/usr/lib/outside.o", 0),
            (N_SECT, "_main", 0x1_0000_4000),
            (N_SECT, "_util", 0x1_0000_4010),
        ];
        let got: Vec<(u8, &str, u64)> = got.iter().map(|(k, s, v)| (*k, s.as_str(), *v)).collect();
        assert_eq!(got, expected);
        // The string table is in symbol order and shared strings stay shared.
        let tables = locate_tables(&data).unwrap().unwrap();
        let strx: Vec<u32> = data[tables.symoff..tables.symoff + 12 * 16].chunks_exact(16).map(strx_of).collect();
        assert_eq!(strx[3], strx[10], "_main shared by N_FUN and the symbol");
        assert_eq!(strx[0], 2);
        let mut first_uses = Vec::new();
        for &s in strx.iter().filter(|&&s| s >= 2) {
            if !first_uses.contains(&s) {
                first_uses.push(s);
            }
        }
        assert!(first_uses.windows(2).all(|w| w[0] < w[1]), "{strx:?}");
        assert_eq!(first_uses.len(), 9);
        // Header fields follow.
        let thin = ThinImage::parse(&data).unwrap();
        let linkedit = thin.linkedit().unwrap();
        assert_eq!(linkedit.file_end(), data.len() as u64);
        assert_eq!(linkedit.vmsize() % LINKEDIT_VM_ALIGN, 0);
        assert!(linkedit.vmsize() >= linkedit.filesize());
        assert_eq!(thin.command(object::macho::LC_UUID).unwrap().bytes[8..24], image.uuid.unwrap());
        // Everything before the symbol table is untouched but for __LINKEDIT, the UUID and
        // LC_SYMTAB.
        let commands_end = thin.commands_end();
        assert!(data[commands_end..tables.symoff] == original[commands_end..tables.symoff]);
    }

    #[test]
    fn two_checkouts_give_identical_bytes() {
        let deep = "/home/someone/a/much/deeper/checkout/dir/";
        let mut a = build(ROOT);
        let mut b = build(deep);
        assert_ne!(a, b);
        relativise_in_place(&mut a, ROOT, &RelativiseOptions::default()).unwrap();
        relativise_in_place(&mut b, deep, &RelativiseOptions::default()).unwrap();
        assert!(a == b);
        // Relativising again changes nothing.
        let again = relativise(&a, ROOT, &RelativiseOptions::default()).unwrap();
        assert!(again == a);
    }

    #[test]
    fn source_paths_can_be_left_alone() {
        let mut data = build(ROOT);
        let options = RelativiseOptions { source_paths: false, ..RelativiseOptions::default() };
        relativise_in_place(&mut data, ROOT, &options).unwrap();
        let names: Vec<String> = symbols_of(&data).into_iter().map(|(_, s, _)| s).collect();
        assert_eq!(names[0], ROOT);
        assert_eq!(names[2], "obj/main.o");
        assert_eq!(names[6], format!("{ROOT}src/util.c"));
    }

    #[test]
    fn refuses_bad_requests_and_damaged_tables() {
        let data = build(ROOT);
        let fails = |data: &[u8], prefix: &str, options: &RelativiseOptions, wanted: &str| {
            let error = format!("{:#}", relativise(data, prefix, options).unwrap_err());
            assert!(error.contains(wanted), "expected {wanted:?} in {error:?}");
        };
        let default = RelativiseOptions::default();
        fails(&data, "", &default, "empty");
        fails(&data, "/h", &RelativiseOptions { object_replacement: "abc".into(), ..default.clone() }, "longer than the prefix");
        // The N_SO directory entry equals the prefix: stripping to nothing is refused.
        fails(&data, ROOT, &RelativiseOptions { source_replacement: String::new(), ..default.clone() }, "ends a compilation unit");

        let tables = locate_tables(&data).unwrap().unwrap();
        let mut out_of_range = data.clone();
        out_of_range[tables.symoff..tables.symoff + 4].copy_from_slice(&(tables.strsize as u32).to_le_bytes());
        fails(&out_of_range, ROOT, &default, "past the end of the");
        let mut unterminated = data.clone();
        let end = tables.stroff + tables.strsize;
        unterminated[tables.stroff + 2..end].fill(b'x');
        fails(&unterminated, ROOT, &default, "without a terminating NUL");
        let mut trailing = data.clone();
        trailing.extend_from_slice(b"junk");
        fails(&trailing, ROOT, &default, "unknown data follow the string table");
        let signed = image(Options { signature: Some(64), ..Options::default() });
        fails(&signed, ROOT, &default, "unsign it first");
        assert!(relativise(&unsign(&signed).unwrap(), ROOT, &default).is_ok());
    }

    #[test]
    fn truncated_and_corrupted_images_never_panic() {
        let data = build(ROOT);
        for len in 0..data.len() {
            let _ = relativise(&data[..len], ROOT, &RelativiseOptions::default());
        }
        let tables = locate_tables(&data).unwrap().unwrap();
        let mut random = XorShift(0x0123_4567_89ab_cdefu64);
        let mut next = || random.next_u64();
        for _ in 0..3000 {
            let mut corrupted = data.clone();
            for _ in 0..1 + next() % 3 {
                let at = tables.symoff + (next() as usize) % (data.len() - tables.symoff);
                corrupted[at] = next() as u8;
            }
            let _ = relativise(&corrupted, ROOT, &RelativiseOptions::default());
        }
    }

    #[test]
    fn relativises_every_slice_of_a_universal_file() {
        let entries = stabs(ROOT);
        let borrowed: Vec<(u8, &str, u64)> = entries.iter().map(|(k, s, v)| (*k, s.as_str(), *v)).collect();
        let (x86, arm) = (with_symbols(CPU_TYPE_X86_64, &borrowed), with_symbols(CPU_TYPE_ARM64, &borrowed));
        let mut fat = universal(&[&x86, &arm]);
        let options = RelativiseOptions::default();
        let summary = relativise_in_place(&mut fat, ROOT, &options).unwrap();
        assert_eq!(summary.images.len(), 2);
        assert_eq!(fat.len() as u64, summary.len);
        let slices = fat_slices(&fat).unwrap();
        assert!(slices[0].data == relativise(&x86, ROOT, &options).unwrap());
        assert!(slices[1].data == relativise(&arm, ROOT, &options).unwrap());
        assert_eq!(slices[1].offset % 0x4000, 0);
        // Padding between the slices is zero.
        let gap = &fat[slices[0].offset as usize + slices[0].data.len()..slices[1].offset as usize];
        assert!(gap.iter().all(|&b| b == 0));
    }

    #[test]
    fn images_without_symbols_only_get_a_new_uuid() {
        let mut data = tiny_image();
        let thin = ThinImage::parse(&data).unwrap();
        let symtab = thin.command(LC_SYMTAB).unwrap().offset;
        // Turn LC_SYMTAB into an unknown command.
        data[symtab..symtab + 4].copy_from_slice(&0x7777u32.to_le_bytes());
        let before = data.clone();
        let summary = relativise_in_place(&mut data, ROOT, &RelativiseOptions::default()).unwrap();
        assert_eq!(summary.images[0].symbols, 0);
        assert!(summary.images[0].uuid.is_some());
        assert_eq!(data.len(), before.len());
    }
}
