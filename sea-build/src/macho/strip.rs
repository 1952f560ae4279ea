//! Leaving a linked Mach-O image's local symbols out, as `strip -x` does.
//!
//! node's macOS binaries keep about 575,000 local symbols (every static function, and the
//! debug-map stabs): 9 MB of `nlist_64` entries and most of a 14 MB string table that nothing
//! reads at run time. dyld binds through the export trie and the fixups (dyld info or chained
//! fixups), never through local symbols; the external (defined) and undefined symbols stay,
//! so native addons still find node's exports and tools still name the stubs.
//!
//! Per thin image (every slice of a universal file):
//!
//! - the local range of `LC_DYSYMTAB` (`ilocalsym`, `nlocalsym`) is dropped, except locals
//!   the indirect symbol table points at (none in node's binaries; kept so no indirect entry
//!   loses its symbol);
//! - the symbol table is rewritten in the same order without them, `LC_DYSYMTAB`'s
//!   `nlocalsym`, `iextdefsym` and `iundefsym` follow, and the indirect symbol table's
//!   indices shift down by the locals dropped before them;
//! - the string table is rebuilt in symbol order from the strings the kept symbols use
//!   (shared strings stay shared);
//! - the three tables are laid out again where the first of them started, in their old
//!   order, each 8-byte aligned; `__LINKEDIT`'s `filesize` and `vmsize` (rounded up to
//!   16 KiB like [`super::relativise`]) shrink and the image is cut after the last table.
//!
//! The image must be unsigned (remove a signature with [`super::unsign`] first, sign after)
//! and laid out as linkers do: the symbol table, the indirect symbol table and the string
//! table last in `__LINKEDIT`. Images whose relocations or module tables refer to symbols by
//! index (object files, old dylibs) are refused. `LC_UUID` is left as it is, as `strip`
//! leaves it; the build recomputes it afterwards ([`super::uuid`]).

use std::collections::HashMap;
use std::ops::Range;

use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as Le;
use object::macho::{DysymtabCommand, INDIRECT_SYMBOL_ABS, INDIRECT_SYMBOL_LOCAL, LC_DYSYMTAB, LC_SYMTAB, SegmentCommand64, SymtabCommand};
use object::pod::{from_bytes, from_bytes_mut};
use object::read::macho::Section as _;

use super::relativise::LINKEDIT_VM_ALIGN;
use super::{Kind, NLIST_LEN, ThinImage, align_up, kind};

/// What [`strip_slice`] did to one thin image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStrip {
    /// CPU type of the image.
    pub cputype: u32,
    /// Entries in the symbol table before and after.
    pub symbols: (u64, u64),
    /// `strsize` before and after.
    pub string_table: (u64, u64),
    /// Length of the image before and after.
    pub len: (u64, u64),
}

/// What [`strip_slice`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripSummary {
    /// One entry per thin image, in file order.
    pub images: Vec<ImageStrip>,
    /// Length of the result.
    pub len: u64,
}

/// `data` (thin or universal, unsigned) without its local symbols; see the
/// [module docs](self).
///
/// ```
/// # let image = sea_build::macho::fixture::tiny_image();
/// // The tiny image has no LC_DYSYMTAB, so no local symbols to leave out.
/// let stripped = sea_build::macho::strip::strip(&image)?;
/// assert_eq!(stripped, image);
/// # anyhow::Ok(())
/// ```
pub fn strip(data: &[u8]) -> Result<Vec<u8>> {
    let mut copy = data.to_vec();
    let summary = strip_slice(&mut copy)?;
    copy.truncate(summary.len as usize);
    Ok(copy)
}

/// [`strip`] over a buffer that cannot shrink, such as a writable memory map of the file:
/// the result is the first `summary.len` bytes; cut the rest (for a file, `set_len`).
///
/// Fails, saying what is wrong, on a signed image, a layout where other data follows the
/// symbol tables, symbol ranges of `LC_DYSYMTAB` that do not cover the symbol table in the
/// linkers' order, symbols referred to by index from relocations or module tables, an
/// indirect entry or a string index outside its table, or an unterminated string. On error
/// `data` may be partly rewritten.
///
/// ```
/// # let mut image = sea_build::macho::fixture::image(sea_build::macho::fixture::Options { signature: Some(64), ..Default::default() });
/// let error = sea_build::macho::strip::strip_slice(&mut image).unwrap_err();
/// assert!(error.to_string().contains("unsign it first"));
/// ```
pub fn strip_slice(data: &mut [u8]) -> Result<StripSummary> {
    match kind(data)? {
        Kind::Thin => {
            let image = strip_thin(data)?;
            Ok(StripSummary { len: image.len.1, images: vec![image] })
        }
        Kind::Fat => {
            let mut images = Vec::new();
            let len = super::shrink_slices(data, |slice| {
                let image = strip_thin(slice)?;
                let len = image.len.1;
                images.push(image);
                Ok(len)
            })?;
            Ok(StripSummary { images, len })
        }
    }
}

/// Where the symbol tables of a thin image lie, and the `LC_DYSYMTAB` ranges.
struct Tables {
    symtab_command: usize,
    dysymtab_command: usize,
    linkedit_command: usize,
    linkedit_fileoff: u64,
    symbols: Range<usize>,
    indirect: Range<usize>,
    strings: Range<usize>,
    /// Local symbols: `0..nlocalsym`, then the external and undefined ones.
    nlocalsym: usize,
    /// Where the first table with bytes starts (the end of `__LINKEDIT` when none has any).
    start: usize,
    cputype: u32,
}

/// Validates `image` for stripping and locates its tables; `None` when there is nothing to
/// strip (no `LC_SYMTAB`, or no `LC_DYSYMTAB` declaring local symbols).
fn locate_tables(image: &[u8]) -> Result<Option<Tables>> {
    let thin = ThinImage::parse(image)?;
    ensure!(thin.code_signature().is_none(), "the Mach-O image is code-signed: unsign it first (sea_build::macho::unsign), strip, then sign the result");
    let linkedit = thin.linkedit()?;
    let Some(symtab_command) = thin.command(LC_SYMTAB) else {
        return Ok(None);
    };
    // Without LC_DYSYMTAB no range of symbols is declared local: there is nothing to leave out.
    let Some(dysymtab_command) = thin.command(LC_DYSYMTAB) else {
        return Ok(None);
    };
    let dysymtab: &DysymtabCommand<Le> = from_bytes(dysymtab_command.bytes).map(|(command, _)| command).ok().context("the LC_DYSYMTAB load command is too short: the binary is damaged")?;
    let field = |value: &object::U32<Le>| value.get(Le) as usize;
    for (what, count) in [
        ("a table of contents", field(&dysymtab.ntoc)),
        ("a module table", field(&dysymtab.nmodtab)),
        ("external reference symbols", field(&dysymtab.nextrefsyms)),
        ("external relocations", field(&dysymtab.nextrel)),
    ] {
        ensure!(count == 0, "the Mach-O image has {what} ({count} entries), which refer to symbols by index: strip supports linked executables only");
    }
    if let Some(section) = thin.segments().iter().flat_map(|segment| segment.sections).find(|section| section.nreloc.get(Le) != 0) {
        bail!("section {} has relocations, which refer to symbols by index: strip supports linked executables only", String::from_utf8_lossy(section.name()));
    }
    let ranges = thin.file_ranges();
    let find = |cmd: u32, what: &str| ranges.iter().find(|range| range.cmd == cmd && range.what == what).copied().context("internal error: symbol table ranges missing");
    let symbols = find(LC_SYMTAB, "LC_SYMTAB symbol table")?;
    let strings = find(LC_SYMTAB, "LC_SYMTAB string table")?;
    let indirect = find(LC_DYSYMTAB, "LC_DYSYMTAB indirect symbols")?;
    let nsyms = (symbols.len / NLIST_LEN) as usize;
    let (ilocal, nlocal, iextdef, nextdef, iundef, nundef) =
        (field(&dysymtab.ilocalsym), field(&dysymtab.nlocalsym), field(&dysymtab.iextdefsym), field(&dysymtab.nextdefsym), field(&dysymtab.iundefsym), field(&dysymtab.nundefsym));
    ensure!(
        ilocal == 0 && iextdef == nlocal && iundef == iextdef + nextdef && iundef + nundef == nsyms,
        "LC_DYSYMTAB's ranges (locals {ilocal}+{nlocal}, external {iextdef}+{nextdef}, undefined {iundef}+{nundef}) do not cover the {nsyms} symbols in that order, as linkers write them: the binary is damaged"
    );
    let moved: Vec<_> = [symbols, indirect, strings].into_iter().filter(|range| range.len > 0).collect();
    let start = moved.iter().map(|range| range.offset).min().unwrap_or(linkedit.file_end());
    let past_end = moved.iter().find(|range| range.end() > image.len() as u64).map(|range| (range.what, range.end())).or((start > image.len() as u64).then_some(("__LINKEDIT segment", start)));
    if let Some((what, end)) = past_end {
        bail!("the {what} runs to {end:#x}, past the end of the image ({:#x} bytes): the binary is truncated", image.len());
    }
    for range in &moved {
        ensure!(
            range.offset >= linkedit.fileoff() && range.end() <= linkedit.file_end(),
            "the {} ({:#x}..{:#x}) lies outside __LINKEDIT ({:#x}..{:#x}): unsupported layout",
            range.what,
            range.offset,
            range.end(),
            linkedit.fileoff(),
            linkedit.file_end()
        );
    }
    if let Some(after) = ranges.iter().find(|range| range.len > 0 && !moved.contains(range) && range.end() > start) {
        bail!(
            "the {} ({:#x}..{:#x}) lies after the start of the symbol tables at {start:#x}: strip needs them last in __LINKEDIT, as linkers lay them out; unsupported layout",
            after.what,
            after.offset,
            after.end()
        );
    }
    let as_range = |range: super::FileRange| range.offset as usize..range.end() as usize;
    Ok(Some(Tables {
        symtab_command: symtab_command.offset,
        dysymtab_command: dysymtab_command.offset,
        linkedit_command: linkedit.command.offset,
        linkedit_fileoff: linkedit.fileoff(),
        symbols: as_range(symbols),
        indirect: as_range(indirect),
        strings: as_range(strings),
        nlocalsym: nlocal,
        start: start as usize,
        cputype: thin.cputype(),
    }))
}

/// Strips one thin image in place; the result is `summary.len.1` bytes long (the rest of
/// `image` is to be cut).
fn strip_thin(image: &mut [u8]) -> Result<ImageStrip> {
    let old_len = image.len() as u64;
    let Some(tables) = locate_tables(image)? else {
        let cputype = ThinImage::parse(image)?.cputype();
        return Ok(ImageStrip { cputype, symbols: (0, 0), string_table: (0, 0), len: (old_len, old_len) });
    };
    // An empty table's offset is not checked (and may lie anywhere): never slice at it.
    let table = |range: &Range<usize>| if range.is_empty() { &[][..] } else { &image[range.clone()] };
    let symbols = table(&tables.symbols);
    let strings = table(&tables.strings);
    let nsyms = symbols.len() / NLIST_LEN as usize;
    let unchanged = ImageStrip { cputype: tables.cputype, symbols: (nsyms as u64, nsyms as u64), string_table: (strings.len() as u64, strings.len() as u64), len: (old_len, old_len) };
    let indirect: Vec<u32> = table(&tables.indirect).chunks_exact(4).map(|entry| u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]])).collect();

    // Locals the indirect table names stay; every other local goes.
    let mut keep_local = vec![false; tables.nlocalsym];
    for (index, &entry) in indirect.iter().enumerate() {
        if entry & (INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS) != 0 {
            continue;
        }
        let symbol = entry as usize;
        ensure!(symbol < nsyms, "indirect symbol {index} names symbol {symbol}, past the {nsyms} in the symbol table: the binary is damaged");
        if let Some(keep) = keep_local.get_mut(symbol) {
            *keep = true;
        }
    }
    let kept_locals = keep_local.iter().filter(|&&keep| keep).count();
    if kept_locals == tables.nlocalsym {
        return Ok(unchanged);
    }
    // The new index of each kept local; the others shift down by the locals dropped.
    let mut local_index = vec![u32::MAX; tables.nlocalsym];
    for (next, (slot, _)) in local_index.iter_mut().zip(&keep_local).filter(|(_, keep)| **keep).enumerate() {
        *slot = next as u32;
    }
    let dropped = (tables.nlocalsym - kept_locals) as u32;
    let new_indirect: Vec<u8> = indirect
        .iter()
        .flat_map(|&entry| {
            let moved = match entry {
                _ if entry & (INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS) != 0 => entry,
                _ if (entry as usize) < tables.nlocalsym => local_index[entry as usize],
                _ => entry - dropped,
            };
            moved.to_le_bytes()
        })
        .collect();

    let kept = (0..nsyms).filter(|&index| index >= tables.nlocalsym || keep_local[index]);
    let (new_symbols, new_strings) = rebuild(symbols, strings, kept)?;
    let new_nsyms = new_symbols.len() / NLIST_LEN as usize;

    // Lay the tables out again in their old order, from where the first one started.
    let mut order = [(tables.symbols.start, &new_symbols[..], 0usize), (tables.indirect.start, &new_indirect[..], 1), (tables.strings.start, &new_strings[..], 2)];
    order.sort_by_key(|(offset, _, which)| (*offset, *which));
    let mut cursor = tables.start;
    let mut placed = [0usize; 3];
    for (_, bytes, which) in order {
        if bytes.is_empty() {
            continue;
        }
        let at = align_up(cursor as u64, 8).context("internal error: offset overflow")? as usize;
        // Alignment can outgrow tables that were packed tighter than linkers pack them.
        ensure!(at + bytes.len() <= image.len(), "the rebuilt symbol tables do not fit where the old ones were (they were packed without alignment): unsupported layout");
        image[cursor..at].fill(0);
        image[at..at + bytes.len()].copy_from_slice(bytes);
        placed[which] = at;
        cursor = at + bytes.len();
    }
    let new_len = cursor;

    let offset32 = |value: usize| u32::try_from(value).ok().context("internal error: a symbol table moved beyond 4 GiB");
    let (symtab, _) = from_bytes_mut::<SymtabCommand<Le>>(&mut image[tables.symtab_command..]).ok().context("internal error: LC_SYMTAB vanished")?;
    // An empty table gets offset 0, as linkers write it, not an offset past the cut end.
    symtab.symoff.set(Le, if new_nsyms > 0 { offset32(placed[0])? } else { 0 });
    symtab.nsyms.set(Le, new_nsyms as u32);
    symtab.stroff.set(Le, offset32(placed[2])?);
    symtab.strsize.set(Le, new_strings.len() as u32);
    let (dysymtab, _) = from_bytes_mut::<DysymtabCommand<Le>>(&mut image[tables.dysymtab_command..]).ok().context("internal error: LC_DYSYMTAB vanished")?;
    let (nextdef, nundef) = (dysymtab.nextdefsym.get(Le), dysymtab.nundefsym.get(Le));
    dysymtab.nlocalsym.set(Le, kept_locals as u32);
    dysymtab.iextdefsym.set(Le, kept_locals as u32);
    dysymtab.iundefsym.set(Le, kept_locals as u32 + nextdef);
    ensure!(kept_locals + (nextdef + nundef) as usize == new_nsyms, "internal error: the stripped symbol table has {new_nsyms} entries, not {kept_locals} + {nextdef} + {nundef}");
    dysymtab.indirectsymoff.set(Le, if new_indirect.is_empty() { 0 } else { offset32(placed[1])? });
    let filesize = new_len as u64 - tables.linkedit_fileoff;
    let (linkedit, _) = from_bytes_mut::<SegmentCommand64<Le>>(&mut image[tables.linkedit_command..]).ok().context("internal error: __LINKEDIT vanished")?;
    linkedit.filesize.set(Le, filesize);
    linkedit.vmsize.set(Le, align_up(filesize, LINKEDIT_VM_ALIGN).unwrap_or(filesize));
    Ok(ImageStrip { cputype: tables.cputype, symbols: (nsyms as u64, new_nsyms as u64), string_table: (unchanged.string_table.0, new_strings.len() as u64), len: (old_len, new_len as u64) })
}

/// The `kept` entries of `symbols` and a string table holding only their strings, built in
/// symbol order and padded to 8 bytes; each kept entry points at its string there.
fn rebuild(symbols: &[u8], strings: &[u8], kept: impl Iterator<Item = usize>) -> Result<(Vec<u8>, Vec<u8>)> {
    let entry_len = NLIST_LEN as usize;
    let mut new_symbols = Vec::new();
    // Offsets 0 and 1 are the linkers' " \0": the empty name.
    let mut new_strings = strings.get(..2).unwrap_or(b" \0").to_vec();
    let mut placed: HashMap<u32, u32> = HashMap::new();
    for index in kept {
        let mut entry: [u8; 16] = symbols[index * entry_len..(index + 1) * entry_len].try_into().context("internal error: a partial symbol")?;
        let strx = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        if strx >= 2 {
            let new = match placed.get(&strx) {
                Some(&new) => new,
                None => {
                    let rest = strings
                        .get(strx as usize..)
                        .filter(|rest| !rest.is_empty())
                        .with_context(|| format!("symbol {index} names string {strx}, past the end of the {}-byte string table: the symbol table is damaged", strings.len()))?;
                    let len = memchr::memchr(0, rest)
                        .with_context(|| format!("the string of symbol {index} (offset {strx}) runs to the end of the string table without a terminating NUL: the string table is damaged"))?;
                    let new = new_strings.len() as u32;
                    new_strings.extend_from_slice(&rest[..=len]);
                    placed.insert(strx, new);
                    new
                }
            };
            entry[..4].copy_from_slice(&new.to_le_bytes());
        }
        new_symbols.extend_from_slice(&entry);
    }
    new_strings.resize(new_strings.len().next_multiple_of(8), 0);
    Ok((new_symbols, new_strings))
}

#[cfg(test)]
mod tests {
    use object::macho::{CPU_TYPE_X86_64, N_EXT, N_OSO, N_SECT, N_UNDF};

    use super::*;
    use crate::macho::fixture::{Options, image, universal};

    /// (n_type, name) of each symbol, in order.
    type Symbols<'a> = &'a [(u8, &'a str)];

    /// A fixture image with an `LC_DYSYMTAB`: `symbols` (locals first, then `nextdef` external
    /// ones, then undefined ones), the indirect table `indirect`, and the string table.
    fn with_tables(cputype: u32, symbols: Symbols<'_>, nextdef: u32, indirect: &[u32]) -> Vec<u8> {
        let base = image(Options { cputype, ..Options::default() });
        let thin = ThinImage::parse(&base).unwrap();
        let symoff = thin.file_ranges().iter().find(|range| range.what == "LC_SYMTAB symbol table").unwrap().offset as usize;
        let (symtab_at, linkedit) = (thin.command(LC_SYMTAB).unwrap().offset, thin.linkedit().unwrap());
        let commands_end = thin.commands_end();
        let mut strings = b" \0".to_vec();
        let mut out = base[..symoff].to_vec();
        for (kind, name) in symbols {
            out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            out.extend_from_slice(&[*kind, u8::from(kind & N_SECT != 0), 0, 0]);
            out.extend_from_slice(&0x1_0000_1000u64.to_le_bytes());
        }
        let indirectoff = out.len();
        for entry in indirect {
            out.extend_from_slice(&entry.to_le_bytes());
        }
        let stroff = out.len().next_multiple_of(8);
        out.resize(stroff, 0);
        strings.resize(strings.len().next_multiple_of(8), 0);
        out.extend_from_slice(&strings);
        let put = |out: &mut Vec<u8>, at: usize, value: u32| out[at..at + 4].copy_from_slice(&value.to_le_bytes());
        put(&mut out, symtab_at + 8, symoff as u32);
        put(&mut out, symtab_at + 12, symbols.len() as u32);
        put(&mut out, symtab_at + 16, stroff as u32);
        put(&mut out, symtab_at + 20, strings.len() as u32);
        let nlocal = symbols.len() as u32 - nextdef - symbols.iter().filter(|(kind, _)| *kind == N_UNDF | N_EXT).count() as u32;
        let mut dysymtab = [0u32; 20];
        dysymtab[..2].copy_from_slice(&[LC_DYSYMTAB, 80]);
        dysymtab[3..8].copy_from_slice(&[nlocal, nlocal, nextdef, nlocal + nextdef, symbols.len() as u32 - nlocal - nextdef]);
        dysymtab[14..16].copy_from_slice(&[if indirect.is_empty() { 0 } else { indirectoff as u32 }, indirect.len() as u32]);
        for (index, word) in dysymtab.iter().enumerate() {
            put(&mut out, commands_end + index * 4, *word);
        }
        let (ncmds, sizeofcmds) = (u32::from_le_bytes(out[16..20].try_into().unwrap()), u32::from_le_bytes(out[20..24].try_into().unwrap()));
        put(&mut out, 16, ncmds + 1);
        put(&mut out, 20, sizeofcmds + 80);
        let filesize = (out.len() as u64 - linkedit.fileoff()).to_le_bytes();
        let segment = linkedit.command.offset;
        out[segment + 48..segment + 56].copy_from_slice(&filesize);
        out
    }

    /// What the tables of `data` hold: (n_type, name) per symbol, the LC_DYSYMTAB ranges
    /// (nlocalsym, iextdefsym, nextdefsym, iundefsym, nundefsym) and the indirect entries.
    fn tables_of(data: &[u8]) -> (Vec<(u8, String)>, [u32; 5], Vec<u32>) {
        let thin = ThinImage::parse(data).unwrap();
        let range = |what: &str| thin.file_ranges().iter().find(|range| range.what == what).copied().unwrap();
        let (symbols, strings, indirect) = (range("LC_SYMTAB symbol table"), range("LC_SYMTAB string table"), range("LC_DYSYMTAB indirect symbols"));
        let strings = &data[strings.offset as usize..strings.end() as usize];
        let names = data[symbols.offset as usize..symbols.end() as usize]
            .chunks_exact(16)
            .map(|entry| {
                let strx = u32::from_le_bytes(entry[..4].try_into().unwrap()) as usize;
                let name = &strings[strx..];
                (entry[4], String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap()]).into_owned())
            })
            .collect();
        let dysymtab = thin.command(LC_DYSYMTAB).unwrap().bytes;
        let word = |index: usize| u32::from_le_bytes(dysymtab[index * 4..index * 4 + 4].try_into().unwrap());
        let entries = data[indirect.offset as usize..indirect.end() as usize].chunks_exact(4).map(|entry| u32::from_le_bytes(entry.try_into().unwrap())).collect();
        (names, [word(3), word(4), word(5), word(6), word(7)], entries)
    }

    const SYMBOLS: Symbols<'static> = &[(N_SECT, "_static_helper"), (N_OSO, "/home/me/app/obj/main.o"), (N_SECT, "_referenced"), (N_SECT | N_EXT, "_main"), (N_UNDF | N_EXT, "_puts")];

    #[test]
    fn leaves_out_the_locals_and_renumbers_the_indirect_table() {
        for cputype in [object::macho::CPU_TYPE_ARM64, CPU_TYPE_X86_64] {
            let data = with_tables(cputype, SYMBOLS, 1, &[4, INDIRECT_SYMBOL_LOCAL, 2, INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS]);
            let stripped = strip(&data).unwrap();
            assert!(stripped.len() < data.len());
            let (symbols, ranges, indirect) = tables_of(&stripped);
            let names: Vec<&str> = symbols.iter().map(|(_, name)| name.as_str()).collect();
            assert_eq!(names, ["_referenced", "_main", "_puts"], "the local the indirect table names stays");
            assert_eq!(ranges, [1, 1, 1, 2, 1]);
            assert_eq!(indirect, [2, INDIRECT_SYMBOL_LOCAL, 0, INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS]);
            let thin = ThinImage::parse(&stripped).unwrap();
            let linkedit = thin.linkedit().unwrap();
            assert_eq!(linkedit.file_end(), stripped.len() as u64);
            assert_eq!(linkedit.vmsize() % LINKEDIT_VM_ALIGN, 0);
            assert_eq!(strip(&stripped).unwrap(), stripped, "stripping again changes nothing");
        }
    }

    #[test]
    fn every_slice_of_a_universal_file_is_stripped() {
        let arm = with_tables(object::macho::CPU_TYPE_ARM64, SYMBOLS, 1, &[4]);
        let x86 = with_tables(CPU_TYPE_X86_64, SYMBOLS, 1, &[4]);
        let fat = universal(&[&x86, &arm]);
        let stripped = strip(&fat).unwrap();
        let slices = crate::macho::fat_slices(&stripped).unwrap();
        assert_eq!(slices[0].data, &strip(&x86).unwrap()[..]);
        assert_eq!(slices[1].data, &strip(&arm).unwrap()[..]);
        assert_eq!(slices[1].offset % 0x4000, 0);
    }

    #[test]
    fn refuses_what_it_cannot_strip() {
        let error = |data: &[u8]| format!("{:#}", strip(data).unwrap_err());
        let data = with_tables(object::macho::CPU_TYPE_ARM64, SYMBOLS, 1, &[4]);
        let dysymtab = ThinImage::parse(&data).unwrap().command(LC_DYSYMTAB).unwrap().offset;
        let mut ranges = data.clone();
        ranges[dysymtab + 16..dysymtab + 20].copy_from_slice(&2u32.to_le_bytes());
        assert!(error(&ranges).contains("do not cover"), "{}", error(&ranges));
        let mut indirect = data.clone();
        let at = ThinImage::parse(&data).unwrap().file_ranges().iter().find(|range| range.what == "LC_DYSYMTAB indirect symbols").unwrap().offset as usize;
        indirect[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
        assert!(error(&indirect).contains("names symbol 99"), "{}", error(&indirect));
        let mut relocations = data.clone();
        relocations[dysymtab + 68..dysymtab + 72].copy_from_slice(&1u32.to_le_bytes());
        assert!(error(&relocations).contains("external relocations"), "{}", error(&relocations));
        let signed = image(Options { signature: Some(64), ..Options::default() });
        assert!(error(&signed).contains("unsign it first"));
    }

    #[test]
    fn damaged_input_is_an_error_never_a_panic() {
        let data = with_tables(object::macho::CPU_TYPE_ARM64, SYMBOLS, 1, &[4, 2]);
        for len in 0..data.len() {
            let _ = strip(&data[..len]);
        }
        let mut random = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..3000 {
            let mut corrupted = data.clone();
            for _ in 0..1 + random.next_u64() % 3 {
                let at = random.next_u64() as usize % corrupted.len();
                corrupted[at] = random.next_u64() as u8;
            }
            let _ = strip(&corrupted);
        }
    }
}
