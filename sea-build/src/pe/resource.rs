//! The resource tree of a PE image: reading it, looking a resource up the way the Windows
//! loader does, adding to it, and laying it out again as a resource section.
//!
//! The tree has three levels of tables, each a 16-byte header (characteristics, time stamp,
//! version, number of named entries, number of ID entries) followed by 8-byte entries
//! (name or ID, offset of a subtable or a data entry):
//!
//! ```text
//! root: one entry per type      (RT_ICON = 3, RT_RCDATA = 10, RT_VERSION = 16, RT_MANIFEST = 24, ...)
//!   type: one entry per name    ("NODE_SEA_BLOB", 1, ...)
//!     name: one entry per language (0 = neutral, 1033 = en-US, ...)
//!       data entry (16 bytes): RVA of the data, its size, code page, reserved
//! ```
//!
//! Named entries come first, then ID entries; the loader binary-searches both groups, so
//! names must be sorted (ordinally by UTF-16 code unit; names are stored in upper case
//! because `FindResource` upper-cases the name it is given) and IDs ascending. A name is a
//! u16 length and that many UTF-16 code units. Offsets inside the tree are relative to the
//! start of the root table, with the high bit marking names and subtables; data entries
//! hold RVAs instead.
//!
//! [`ResourceSection::build`] lays a tree out like the resource compilers do: every table
//! (breadth first), then the data entries, then the names, then the data, each piece of data
//! at a multiple of 8 bytes.

use std::cmp::Ordering;

use anyhow::{Context, Result, bail, ensure};
use object::LittleEndian as LE;
use object::pe::{IMAGE_DIRECTORY_ENTRY_RESOURCE, IMAGE_RESOURCE_DATA_IS_DIRECTORY};
use object::read::pe::{ResourceDirectory, ResourceDirectoryEntryData, ResourceDirectoryTable, ResourceNameOrId};

use super::{PeHeaders, PeImage};

/// Levels of the tree, for messages.
const LEVELS: [&str; 3] = ["type", "name", "language"];

/// Alignment of each piece of resource data in the section.
const DATA_ALIGNMENT: usize = 8;

/// Length of a table header and of a data entry.
const TABLE_HEADER_LEN: usize = 16;
/// Length of a table entry.
const ENTRY_LEN: usize = 8;
/// Length of a data entry.
const DATA_ENTRY_LEN: usize = 16;

/// What identifies a table entry: a UTF-16 name or a 16-bit ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceKey {
    /// A name, as UTF-16 code units (without length or terminator).
    Name(Vec<u16>),
    /// A numeric ID.
    Id(u16),
}

impl ResourceKey {
    /// A name key from text, converted to upper case as `FindResource` does with the
    /// names it is given.
    ///
    /// ```
    /// use sea_build::pe::resource::ResourceKey;
    /// assert_eq!(ResourceKey::name("node_sea_blob"), ResourceKey::name("NODE_SEA_BLOB"));
    /// ```
    pub fn name(text: &str) -> ResourceKey {
        ResourceKey::Name(text.encode_utf16().map(upper_unit).collect())
    }

    /// The order the loader's binary search expects: names before IDs, names by upper-cased
    /// code units (then by the code units themselves, to be total), IDs ascending.
    ///
    /// ```
    /// use sea_build::pe::resource::ResourceKey;
    /// use std::cmp::Ordering;
    /// let (a, b) = (ResourceKey::name("ABC"), ResourceKey::name("ABCD"));
    /// assert_eq!(a.loader_order(&b), Ordering::Less);
    /// assert_eq!(b.loader_order(&ResourceKey::Id(1)), Ordering::Less);
    /// assert_eq!(ResourceKey::Id(24).loader_order(&ResourceKey::Id(3)), Ordering::Greater);
    /// ```
    pub fn loader_order(&self, other: &ResourceKey) -> Ordering {
        match (self, other) {
            (ResourceKey::Name(a), ResourceKey::Name(b)) => {
                let upper = |units: &[u16]| units.iter().copied().map(upper_unit).collect::<Vec<_>>();
                upper(a).cmp(&upper(b)).then_with(|| a.cmp(b))
            }
            (ResourceKey::Name(_), ResourceKey::Id(_)) => Ordering::Less,
            (ResourceKey::Id(_), ResourceKey::Name(_)) => Ordering::Greater,
            (ResourceKey::Id(a), ResourceKey::Id(b)) => a.cmp(b),
        }
    }

    /// Whether `self` names the same entry as `other` for the loader (names compared
    /// without regard to case).
    pub fn matches(&self, other: &ResourceKey) -> bool {
        match (self, other) {
            (ResourceKey::Name(a), ResourceKey::Name(b)) => a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| upper_unit(x) == upper_unit(y)),
            (ResourceKey::Id(a), ResourceKey::Id(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResourceKey::Name(units) => write!(f, "\"{}\"", String::from_utf16_lossy(units)),
            ResourceKey::Id(id) => write!(f, "#{id}"),
        }
    }
}

/// The upper case of one UTF-16 code unit, when it has a single-unit upper case.
fn upper_unit(unit: u16) -> u16 {
    let Some(c) = char::from_u32(u32::from(unit)) else {
        return unit;
    };
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(single), None) => u16::try_from(u32::from(single)).unwrap_or(unit),
        _ => unit,
    }
}

/// The header fields of a table that are kept as they were (zero for new tables).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableHeader {
    /// Characteristics (always 0 in practice).
    pub characteristics: u32,
    /// TimeDateStamp as the resource compiler wrote it.
    pub time_date_stamp: u32,
    /// MajorVersion.
    pub major_version: u16,
    /// MinorVersion.
    pub minor_version: u16,
}

/// A resource table (root, type or name level).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceTable<'a> {
    /// The header fields kept from the image.
    pub header: TableHeader,
    /// The entries, in the order they are stored.
    pub entries: Vec<ResourceEntry<'a>>,
}

/// One entry of a [`ResourceTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEntry<'a> {
    /// Its name or ID.
    pub key: ResourceKey,
    /// A subtable (root and type level) or the resource itself (language level).
    pub node: ResourceNode<'a>,
}

/// What an entry points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceNode<'a> {
    /// The next level's table.
    Table(ResourceTable<'a>),
    /// A resource.
    Data(ResourceData<'a>),
}

/// A resource: its bytes (borrowed from the image or the caller) and data entry fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceData<'a> {
    /// The resource's bytes.
    pub bytes: &'a [u8],
    /// The data entry's CodePage.
    pub code_page: u32,
    /// Place these bytes after all others in the section (for a large blob that is then
    /// written straight from the caller's slice, after the small resources).
    pub last: bool,
}

impl<'a> ResourceTable<'a> {
    /// The entry whose key [`matches`](ResourceKey::matches) `key`.
    pub fn get(&self, key: &ResourceKey) -> Option<&ResourceEntry<'a>> {
        self.entries.iter().find(|entry| entry.key.matches(key))
    }

    /// The subtable under `key`, created (with a zero header) when missing.
    ///
    /// Fails when `key` holds a resource instead of a table.
    pub fn subtable_mut(&mut self, key: ResourceKey) -> Result<&mut ResourceTable<'a>> {
        let index = match self.entries.iter().position(|entry| entry.key.matches(&key)) {
            Some(index) => index,
            None => {
                self.entries.push(ResourceEntry { key, node: ResourceNode::Table(ResourceTable::default()) });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        match &mut entry.node {
            ResourceNode::Table(table) => Ok(table),
            ResourceNode::Data(_) => bail!("resource entry {} holds data where a table belongs: the resource tree is damaged", entry.key),
        }
    }

    /// Adds the resource `type_key` / `name` / `language`, refusing one that exists.
    ///
    /// ```
    /// use sea_build::pe::resource::{ResourceData, ResourceKey, ResourceTable};
    /// let mut root = ResourceTable::default();
    /// let data = ResourceData { bytes: b"blob", code_page: 0, last: true };
    /// root.insert(ResourceKey::Id(10), ResourceKey::name("NODE_SEA_BLOB"), 0, data.clone())?;
    /// assert!(root.insert(ResourceKey::Id(10), ResourceKey::name("node_sea_blob"), 0, data).is_err());
    /// # anyhow::Ok(())
    /// ```
    pub fn insert(&mut self, type_key: ResourceKey, name: ResourceKey, language: u16, data: ResourceData<'a>) -> Result<()> {
        let languages = self.subtable_mut(type_key.clone())?.subtable_mut(name.clone())?;
        let language = ResourceKey::Id(language);
        ensure!(
            languages.get(&language).is_none(),
            "the executable already has a resource of type {type_key}, name {name}, language \
             {language}"
        );
        languages.entries.push(ResourceEntry { key: language, node: ResourceNode::Data(data) });
        Ok(())
    }

    /// Sorts every table of the tree in [loader order](ResourceKey::loader_order).
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| a.key.loader_order(&b.key));
        for entry in &mut self.entries {
            if let ResourceNode::Table(table) = &mut entry.node {
                table.sort();
            }
        }
    }
}

/// Where an image's resource tree lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLocation {
    /// RVA of the root table (the resource data directory's address).
    pub rva: u32,
    /// File offset of the root table.
    pub offset: usize,
    /// Index of the section holding it in the section table.
    pub section: usize,
}

/// The bytes the resource tree's offsets are relative to: from the root table to the end of
/// the file data its section maps. `None` when the image has no resource directory.
fn resource_bytes<'a>(headers: &PeHeaders, image: &PeImage<'a>) -> Result<Option<(ResourceLocation, &'a [u8])>> {
    let Some(directory) = headers.data_directory(IMAGE_DIRECTORY_ENTRY_RESOURCE) else {
        return Ok(None);
    };
    if directory.virtual_address == 0 || directory.size == 0 {
        return Ok(None);
    }
    let rva = directory.virtual_address;
    let (section, header) = headers
        .sections
        .iter()
        .enumerate()
        .find(|(_, section)| section.virtual_address <= rva && u64::from(rva) < section.virtual_end())
        .with_context(|| format!("the resource directory at RVA {rva:#x} lies in no section: the PE headers are damaged"))?;
    let offset = headers.rva_to_offset(rva, 0).with_context(|| {
        format!(
            "the resource directory at RVA {rva:#x} lies outside the file data of section {}: the \
             file is damaged or truncated",
            header.name()
        )
    })?;
    let end = u64::from(header.pointer_to_raw_data) + u64::from(header.mapped_size());
    let bytes = image.get(offset as u64..end).with_context(|| format!("the resource section {} runs past the end of the file: the file is truncated", header.name()))?;
    Ok(Some((ResourceLocation { rva, offset, section }, bytes)))
}

fn damaged(what: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("the resource tree is damaged ({what}); use an unmodified executable")
}

fn key_of(entry: &object::pe::ImageResourceDirectoryEntry, directory: ResourceDirectory<'_>) -> Result<ResourceKey> {
    Ok(match entry.name_or_id() {
        ResourceNameOrId::Id(id) => ResourceKey::Id(id),
        ResourceNameOrId::Name(name) => {
            let units = name.data(directory).map_err(|error| damaged(format_args!("entry name: {error}")))?;
            ResourceKey::Name(units.iter().map(|unit| unit.get(LE)).collect())
        }
    })
}

fn table_header(table: &ResourceDirectoryTable<'_>) -> TableHeader {
    TableHeader {
        characteristics: table.header.characteristics.get(LE),
        time_date_stamp: table.header.time_date_stamp.get(LE),
        major_version: table.header.major_version.get(LE),
        minor_version: table.header.minor_version.get(LE),
    }
}

/// Reads the resource tree of `image` (with its data borrowed from `image`), or `None` when
/// the image has no resource directory.
///
/// Fails on trees that are damaged or that the loader would not read: offsets outside the
/// section, data that lies outside the image's file data, and trees that are not exactly
/// three levels deep.
///
/// ```no_run
/// use sea_build::pe::{PeHeaders, resource};
/// let image = std::fs::read("node.exe")?;
/// let headers = PeHeaders::parse(&image)?;
/// let (tree, _) = resource::read(&headers, &image)?.expect("node.exe has resources");
/// let manifest = tree.get(&resource::ResourceKey::Id(object::pe::RT_MANIFEST));
/// assert!(manifest.is_some());
/// # anyhow::Ok(())
/// ```
pub fn read<'a>(headers: &PeHeaders, image: &'a [u8]) -> Result<Option<(ResourceTable<'a>, ResourceLocation)>> {
    read_in(headers, &PeImage::whole(image))
}

/// [`read`] from a file of which only some parts are at hand (see [`PeImage`]): the
/// resource section and the resources' data must be among them.
pub fn read_in<'a>(headers: &PeHeaders, image: &PeImage<'a>) -> Result<Option<(ResourceTable<'a>, ResourceLocation)>> {
    let Some((location, bytes)) = resource_bytes(headers, image)? else {
        return Ok(None);
    };
    let directory = ResourceDirectory::new(bytes);
    let root = directory.root().map_err(|error| damaged(format_args!("root table: {error}")))?;
    let tree = read_table(headers, image, directory, &root, 0)?;
    Ok(Some((tree, location)))
}

fn read_table<'a>(headers: &PeHeaders, image: &PeImage<'a>, directory: ResourceDirectory<'a>, table: &ResourceDirectoryTable<'a>, level: usize) -> Result<ResourceTable<'a>> {
    let mut entries = Vec::with_capacity(table.entries.len());
    for entry in table.entries {
        let key = key_of(entry, directory)?;
        let data = entry.data(directory).map_err(|error| damaged(format_args!("{} entry {key}: {error}", LEVELS[level])))?;
        let node = match (data, level) {
            (ResourceDirectoryEntryData::Table(subtable), 0 | 1) => ResourceNode::Table(read_table(headers, image, directory, &subtable, level + 1)?),
            (ResourceDirectoryEntryData::Data(data), 2) => {
                let (rva, size) = (data.offset_to_data.get(LE), data.size.get(LE));
                let offset = headers.rva_to_offset(rva, size).ok_or_else(|| {
                    damaged(format_args!(
                        "the data of resource {key} at RVA {rva:#x}, {size} bytes, lies outside the \
                         file data of the sections"
                    ))
                })?;
                let bytes = image.get_at(offset, size as usize).ok_or_else(|| damaged(format_args!("the data of resource {key} lies past the end of the file")))?;
                ResourceNode::Data(ResourceData { bytes, code_page: data.code_page.get(LE), last: false })
            }
            (_, level) => {
                return Err(damaged(format_args!(
                    "{} entry {key} holds {} where the loader expects {}",
                    LEVELS[level],
                    if entry.is_table() { "a table" } else { "data" },
                    if level == 2 { "data" } else { "a table" }
                )));
            }
        };
        entries.push(ResourceEntry { key, node });
    }
    Ok(ResourceTable { header: table_header(table), entries })
}

/// Looks up resource `type_key` / `name` the way `FindResource(module, name, type)` does:
/// binary search by type, then by name, then language 0 (neutral) or, when there is none,
/// the first language. Returns the resource's bytes, or `None`.
///
/// The binary search means a tree whose tables are not in loader order may hide resources
/// that are there; this lookup fails to find them exactly as Windows would.
///
/// ```no_run
/// use sea_build::pe::resource::{ResourceKey, find};
/// let image = std::fs::read("app.exe")?;
/// let blob = find(&image, &ResourceKey::Id(10), &ResourceKey::name("NODE_SEA_BLOB"))?;
/// # anyhow::Ok(())
/// ```
pub fn find<'a>(image: &'a [u8], type_key: &ResourceKey, name: &ResourceKey) -> Result<Option<&'a [u8]>> {
    let headers = PeHeaders::parse(image)?;
    let Some((_, bytes)) = resource_bytes(&headers, &PeImage::whole(image))? else {
        return Ok(None);
    };
    let directory = ResourceDirectory::new(bytes);
    let root = directory.root().map_err(|error| damaged(format_args!("root table: {error}")))?;
    let name = match name {
        ResourceKey::Name(units) => ResourceKey::Name(units.iter().copied().map(upper_unit).collect()),
        id => id.clone(),
    };
    let Some(types) = search(&root, directory, type_key)? else {
        return Ok(None);
    };
    let Some(names) = subtable(types, directory)? else {
        return Ok(None);
    };
    let Some(name_entry) = search(&names, directory, &name)? else {
        return Ok(None);
    };
    let Some(languages) = subtable(name_entry, directory)? else {
        return Ok(None);
    };
    let language = match search(&languages, directory, &ResourceKey::Id(0))? {
        Some(entry) => entry,
        None => match languages.entries.first() {
            Some(entry) => entry,
            None => return Ok(None),
        },
    };
    let data = match language.data(directory).map_err(|error| damaged(format_args!("language entry: {error}")))? {
        ResourceDirectoryEntryData::Data(data) => data,
        ResourceDirectoryEntryData::Table(_) => {
            return Err(damaged("a language entry holds a table"));
        }
    };
    let (rva, size) = (data.offset_to_data.get(LE), data.size.get(LE));
    let offset = headers.rva_to_offset(rva, size).ok_or_else(|| damaged(format_args!("resource data at RVA {rva:#x}, {size} bytes, is not in the file")))?;
    Ok(image.get(offset..offset + size as usize))
}

fn subtable<'a>(entry: &object::pe::ImageResourceDirectoryEntry, directory: ResourceDirectory<'a>) -> Result<Option<ResourceDirectoryTable<'a>>> {
    match entry.data(directory).map_err(|error| damaged(format_args!("subtable: {error}")))? {
        ResourceDirectoryEntryData::Table(table) => Ok(Some(table)),
        ResourceDirectoryEntryData::Data(_) => Ok(None),
    }
}

/// Binary search of one table for `key`, over the named entries for a name and over the ID
/// entries for an ID, comparing names ordinally as the loader does.
fn search<'t>(table: &ResourceDirectoryTable<'t>, directory: ResourceDirectory<'_>, key: &ResourceKey) -> Result<Option<&'t object::pe::ImageResourceDirectoryEntry>> {
    let named = usize::from(table.header.number_of_named_entries.get(LE)).min(table.entries.len());
    let group = match key {
        ResourceKey::Name(_) => &table.entries[..named],
        ResourceKey::Id(_) => &table.entries[named..],
    };
    let (mut low, mut high) = (0usize, group.len());
    while low < high {
        let middle = low + (high - low) / 2;
        let found = key_of(&group[middle], directory)?;
        let order = match (key, &found) {
            (ResourceKey::Name(wanted), ResourceKey::Name(stored)) => wanted.as_slice().cmp(stored.as_slice()),
            (ResourceKey::Id(wanted), ResourceKey::Id(stored)) => wanted.cmp(stored),
            // A name among the IDs or the reverse: the counts are wrong; the loader's
            // comparison would go astray too.
            _ => return Ok(None),
        };
        match order {
            Ordering::Equal => return Ok(Some(&group[middle])),
            Ordering::Less => high = middle,
            Ordering::Greater => low = middle + 1,
        }
    }
    Ok(None)
}

/// A resource tree laid out as the contents of a resource section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSection<'a> {
    /// Tables, data entries and names, padded to a multiple of 8 bytes.
    pub head: Vec<u8>,
    /// Each resource's bytes with its offset in the section, ascending; the ones marked
    /// [`last`](ResourceData::last) at the end.
    pub data: Vec<(usize, &'a [u8])>,
    /// Length of the contents (the end of the last data).
    pub len: usize,
}

impl<'a> ResourceSection<'a> {
    /// Lays out `root` (which should be [sorted](ResourceTable::sort)) for a section at
    /// `section_rva`: data entries hold `section_rva` plus each resource's offset.
    ///
    /// Fails when the tree is not three levels deep, when a table has more than 65535
    /// entries of a kind, or when the section would not fit below 4 GiB.
    ///
    /// ```
    /// use sea_build::pe::resource::{ResourceData, ResourceKey, ResourceSection, ResourceTable};
    /// let mut root = ResourceTable::default();
    /// let blob = ResourceData { bytes: b"blob", code_page: 0, last: true };
    /// root.insert(ResourceKey::Id(10), ResourceKey::name("NODE_SEA_BLOB"), 0, blob)?;
    /// let section = ResourceSection::build(&root, 0x5000)?;
    /// // Three tables of one entry, one data entry, the name (2 + 26 bytes), padding to 8.
    /// assert_eq!(section.head.len(), 3 * 24 + 16 + 28 + 4);
    /// assert_eq!(section.data, vec![(120, &b"blob"[..])]);
    /// assert_eq!(section.len, 124);
    /// # anyhow::Ok(())
    /// ```
    pub fn build(root: &ResourceTable<'a>, section_rva: u32) -> Result<ResourceSection<'a>> {
        // Breadth first: every table, then (in the same order) the data and the names.
        let mut tables: Vec<(&ResourceTable<'a>, usize)> = vec![(root, 0)];
        let mut next = 0;
        while let Some(&(table, level)) = tables.get(next) {
            for entry in &table.entries {
                match (&entry.node, level) {
                    (ResourceNode::Table(subtable), 0 | 1) => tables.push((subtable, level + 1)),
                    (ResourceNode::Data(_), 2) => {}
                    (_, level) => bail!("internal error: resource {} entry {} is at the wrong depth", LEVELS[level.min(2)], entry.key),
                }
            }
            next += 1;
        }
        let entries = tables.iter().flat_map(|(table, _)| &table.entries);
        let leaves: Vec<&ResourceData<'a>> = entries
            .clone()
            .filter_map(|entry| match &entry.node {
                ResourceNode::Data(data) => Some(data),
                ResourceNode::Table(_) => None,
            })
            .collect();
        let names: Vec<&[u16]> = entries
            .filter_map(|entry| match &entry.key {
                ResourceKey::Name(units) => Some(units.as_slice()),
                ResourceKey::Id(_) => None,
            })
            .collect();

        let mut table_offsets = Vec::with_capacity(tables.len());
        let mut at = 0usize;
        for (table, _) in &tables {
            table_offsets.push(at);
            at += TABLE_HEADER_LEN + ENTRY_LEN * table.entries.len();
        }
        let data_entries_start = at;
        at += DATA_ENTRY_LEN * leaves.len();
        let mut name_offsets = Vec::with_capacity(names.len());
        for name in &names {
            ensure!(name.len() <= usize::from(u16::MAX), "a resource name is longer than 65535 code units");
            name_offsets.push(at);
            at += 2 + 2 * name.len();
        }
        let head_len = at.next_multiple_of(DATA_ALIGNMENT);
        let mut data_offsets = vec![0usize; leaves.len()];
        let mut data = Vec::with_capacity(leaves.len());
        at = head_len;
        for last in [false, true] {
            for (index, leaf) in leaves.iter().enumerate().filter(|(_, leaf)| leaf.last == last) {
                at = at.next_multiple_of(DATA_ALIGNMENT);
                data_offsets[index] = at;
                data.push((at, leaf.bytes));
                at = at.checked_add(leaf.bytes.len()).context("the resources exceed the address space")?;
            }
        }
        let len = at;
        let too_large = || {
            anyhow::anyhow!(
                "the resource section would be {len} bytes at RVA {section_rva:#x}, beyond the 4 GiB \
                 a PE image can address: make the application or its assets smaller"
            )
        };
        ensure!(head_len < IMAGE_RESOURCE_DATA_IS_DIRECTORY as usize, too_large());
        u32::try_from(len).ok().and_then(|len| section_rva.checked_add(len)).ok_or_else(too_large)?;

        let mut head = Vec::with_capacity(head_len);
        let (mut child, mut leaf, mut name) = (1usize, 0usize, 0usize);
        for (table, _) in &tables {
            let named = table.entries.iter().filter(|entry| matches!(entry.key, ResourceKey::Name(_))).count();
            let ids = table.entries.len() - named;
            let count = |n: usize| u16::try_from(n).map_err(|_| anyhow::anyhow!("a resource table has more than 65535 entries"));
            head.extend(table.header.characteristics.to_le_bytes());
            head.extend(table.header.time_date_stamp.to_le_bytes());
            head.extend(table.header.major_version.to_le_bytes());
            head.extend(table.header.minor_version.to_le_bytes());
            head.extend(count(named)?.to_le_bytes());
            head.extend(count(ids)?.to_le_bytes());
            for entry in &table.entries {
                let key = match &entry.key {
                    ResourceKey::Name(_) => {
                        name += 1;
                        IMAGE_RESOURCE_DATA_IS_DIRECTORY | name_offsets[name - 1] as u32
                    }
                    ResourceKey::Id(id) => u32::from(*id),
                };
                let target = match &entry.node {
                    ResourceNode::Table(_) => {
                        child += 1;
                        IMAGE_RESOURCE_DATA_IS_DIRECTORY | table_offsets[child - 1] as u32
                    }
                    ResourceNode::Data(_) => {
                        leaf += 1;
                        (data_entries_start + DATA_ENTRY_LEN * (leaf - 1)) as u32
                    }
                };
                head.extend(key.to_le_bytes());
                head.extend(target.to_le_bytes());
            }
        }
        for (leaf, offset) in leaves.iter().zip(&data_offsets) {
            head.extend((section_rva + *offset as u32).to_le_bytes());
            head.extend((leaf.bytes.len() as u32).to_le_bytes());
            head.extend(leaf.code_page.to_le_bytes());
            head.extend(0u32.to_le_bytes());
        }
        for units in &names {
            head.extend((units.len() as u16).to_le_bytes());
            head.extend(units.iter().flat_map(|unit| unit.to_le_bytes()));
        }
        head.resize(head_len, 0);
        Ok(ResourceSection { head, data, len })
    }

    /// The contents as one vector (copies the data: for small trees and tests; writers
    /// should stream [`head`](Self::head) and [`data`](Self::data) instead).
    ///
    /// ```
    /// use sea_build::pe::resource::{ResourceData, ResourceKey, ResourceSection, ResourceTable};
    /// let mut root = ResourceTable::default();
    /// let data = ResourceData { bytes: b"abc", code_page: 0, last: false };
    /// root.insert(ResourceKey::Id(24), ResourceKey::Id(1), 1033, data)?;
    /// let section = ResourceSection::build(&root, 0x1000)?;
    /// let bytes = section.to_vec();
    /// assert_eq!(bytes.len(), section.len);
    /// assert!(bytes.ends_with(b"abc"));
    /// # anyhow::Ok(())
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = self.head.clone();
        for (offset, data) in &self.data {
            bytes.resize(*offset, 0);
            bytes.extend_from_slice(data);
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use object::pe::{RT_GROUP_ICON, RT_ICON, RT_MANIFEST, RT_RCDATA, RT_VERSION};

    use super::super::testing::{MANIFEST, SyntheticPe};
    use super::*;
    use crate::testing::XorShift;

    fn image() -> Vec<u8> {
        SyntheticPe::default().build()
    }

    fn keys(table: &ResourceTable<'_>) -> Vec<String> {
        table.entries.iter().map(|entry| entry.key.to_string()).collect()
    }

    fn subtable<'t, 'a>(table: &'t ResourceTable<'a>, key: ResourceKey) -> &'t ResourceTable<'a> {
        match &table.get(&key).unwrap().node {
            ResourceNode::Table(table) => table,
            ResourceNode::Data(_) => panic!("{key} is data"),
        }
    }

    #[test]
    fn reads_the_tree_in_loader_order() {
        let image = image();
        let headers = PeHeaders::parse(&image).unwrap();
        let (tree, location) = read(&headers, &image).unwrap().unwrap();
        assert_eq!(location.section, 2);
        assert_eq!(location.rva, headers.sections[2].virtual_address);
        assert_eq!(location.offset, headers.sections[2].pointer_to_raw_data as usize);
        assert_eq!(keys(&tree), ["#3", "#10", "#14", "#16", "#24"]);
        let rcdata = subtable(&tree, ResourceKey::Id(RT_RCDATA));
        assert_eq!(keys(rcdata), ["\"NODE_SEA_BLOA\"", "\"NODE_SEA_BLOBS\"", "#7"]);
        let manifest = subtable(subtable(&tree, ResourceKey::Id(RT_MANIFEST)), ResourceKey::Id(1));
        assert_eq!(keys(manifest), ["#1033"]);
        match &manifest.entries[0].node {
            ResourceNode::Data(data) => assert_eq!(data.bytes, MANIFEST),
            ResourceNode::Table(_) => panic!("the manifest is data"),
        }
        assert!([RT_GROUP_ICON, RT_ICON, RT_VERSION].iter().all(|&kind| tree.get(&ResourceKey::Id(kind)).is_some()));
    }

    #[test]
    fn find_follows_the_loader() {
        let image = image();
        let find_named = |name: &str| find(&image, &ResourceKey::Id(RT_RCDATA), &ResourceKey::name(name)).unwrap();
        assert_eq!(find_named("NODE_SEA_BLOA"), Some(&b"before"[..]));
        assert_eq!(find_named("node_sea_blobs"), Some(&b"after"[..]), "names are looked up in upper case");
        assert_eq!(find_named("NODE_SEA_BLOB"), None);
        assert_eq!(find(&image, &ResourceKey::Id(RT_RCDATA), &ResourceKey::Id(7)).unwrap(), Some(&b"numbered"[..]));
        // Language 1033 only: the first language is taken.
        assert_eq!(find(&image, &ResourceKey::Id(RT_MANIFEST), &ResourceKey::Id(1)).unwrap(), Some(MANIFEST));
        assert_eq!(find(&image, &ResourceKey::Id(99), &ResourceKey::Id(1)).unwrap(), None);
        let bare = SyntheticPe { resources: false, ..SyntheticPe::default() }.build();
        assert_eq!(find(&bare, &ResourceKey::Id(RT_RCDATA), &ResourceKey::Id(7)).unwrap(), None);
    }

    #[test]
    fn the_binary_search_misses_what_is_out_of_order() {
        let data = |bytes: &'static [u8]| ResourceData { bytes, code_page: 0, last: false };
        let mut root = ResourceTable::default();
        for name in ["A", "B", "C", "D", "E"] {
            root.insert(ResourceKey::Id(RT_RCDATA), ResourceKey::name(name), 0, data(b"x")).unwrap();
        }
        let mut reversed = root.clone();
        let ResourceNode::Table(names) = &mut reversed.entries[0].node else { panic!() };
        names.entries.reverse();
        let lookup = |tree: &ResourceTable<'_>, name: &str| {
            let bytes = ResourceSection::build(tree, 0).unwrap().to_vec();
            let directory = ResourceDirectory::new(&bytes);
            let root = directory.root().unwrap();
            let types = search(&root, directory, &ResourceKey::Id(RT_RCDATA)).unwrap().unwrap();
            let ResourceDirectoryEntryData::Table(names) = types.data(directory).unwrap() else { panic!() };
            search(&names, directory, &ResourceKey::name(name)).unwrap().is_some()
        };
        assert!(["A", "B", "C", "D", "E"].iter().all(|name| lookup(&root, name)));
        assert!(!["A", "B", "D", "E"].iter().all(|name| lookup(&reversed, name)), "a reversed table hides entries");
        reversed.sort();
        assert_eq!(reversed, root);
    }

    #[test]
    fn loader_order_puts_names_first_in_upper_case_order() {
        let mut keys = [
            ResourceKey::Id(24),
            ResourceKey::Name("b".encode_utf16().collect()),
            ResourceKey::Id(3),
            ResourceKey::name("NODE_SEA_BLOB"),
            ResourceKey::name("A"),
            ResourceKey::name("_"),
            ResourceKey::name("NODE"),
        ];
        keys.sort_by(|a, b| a.loader_order(b));
        let shown: Vec<String> = keys.iter().map(ToString::to_string).collect();
        // '_' (0x5f) sorts after the upper-case letters; a lower-case name by its upper case.
        assert_eq!(shown, ["\"A\"", "\"b\"", "\"NODE\"", "\"NODE_SEA_BLOB\"", "\"_\"", "#3", "#24"]);
        assert!(ResourceKey::name("x").matches(&ResourceKey::Name("X".encode_utf16().collect())));
        assert!(!ResourceKey::Id(1).matches(&ResourceKey::name("1")));
    }

    #[test]
    fn build_lays_out_tables_entries_names_then_aligned_data() {
        let mut root = ResourceTable::default();
        let leaf = |bytes: &'static [u8], last| ResourceData { bytes, code_page: 1200, last };
        root.insert(ResourceKey::Id(RT_RCDATA), ResourceKey::name("BIG"), 0, leaf(b"the big one", true)).unwrap();
        root.insert(ResourceKey::Id(RT_MANIFEST), ResourceKey::Id(1), 1033, leaf(b"abc", false)).unwrap();
        root.sort();
        let section = ResourceSection::build(&root, 0x7000).unwrap();
        // 1 root (2 entries) + 2 type tables + 2 name tables, 2 data entries, "BIG" (8 bytes).
        let tables = 16 + 2 * 8 + 2 * (16 + 8) + 2 * (16 + 8);
        assert_eq!(section.head.len(), (tables + 2 * 16 + 8usize).next_multiple_of(8));
        let first_data = section.head.len();
        assert_eq!(section.data, vec![(first_data, &b"abc"[..]), (first_data + 8, &b"the big one"[..])]);
        assert_eq!(section.len, first_data + 8 + 11);
        // The data entries hold RVAs; the manifest (found first, under #24) is data entry 1,
        // the blob (under #10) entry 0: breadth first, #10 before #24.
        let entry = |index: usize| {
            let at = tables + 16 * index;
            let word = |i: usize| u32::from_le_bytes(section.head[at + i..at + i + 4].try_into().unwrap());
            (word(0), word(4), word(8))
        };
        assert_eq!(entry(0), (0x7000 + first_data as u32 + 8, 11, 1200));
        assert_eq!(entry(1), (0x7000 + first_data as u32, 3, 1200));
    }

    #[test]
    fn damaged_trees_are_errors_not_panics() {
        let image = image();
        let headers = PeHeaders::parse(&image).unwrap();
        let start = headers.sections[2].pointer_to_raw_data as usize;
        let mut random = XorShift(0x2545_f491_4f6c_dd1du64);
        let mut errors = 0;
        for _ in 0..4000 {
            let corrupted = random.corrupt_one(&image, start..start + 0x180);
            errors += usize::from(read(&headers, &corrupted).is_err());
            let _ = find(&corrupted, &ResourceKey::Id(RT_RCDATA), &ResourceKey::name("NODE_SEA_BLOA"));
        }
        assert!(errors > 100, "only {errors} corruptions were noticed");
        // A data entry pointing outside the file data: find the first data entry by its RVA.
        let mut outside = image.clone();
        let (tree, _) = read(&headers, &image).unwrap().unwrap();
        let section = ResourceSection::build(&tree, headers.sections[2].virtual_address).unwrap();
        let rva = headers.sections[2].virtual_address + section.data[0].0 as u32;
        let data_entries = image[start..].windows(4).position(|w| w == rva.to_le_bytes()).unwrap() + start;
        outside[data_entries..data_entries + 4].copy_from_slice(&0x00F0_0000u32.to_le_bytes());
        let error = read(&headers, &outside).unwrap_err().to_string();
        assert!(error.contains("outside the file data"), "{error}");
    }
}
