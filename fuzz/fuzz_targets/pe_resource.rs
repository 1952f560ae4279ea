//! The PE resource tree: reading never panics, lookups never panic, and every tree that reads
//! can take the blob and be laid out again, with its data inside the section.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::pe::PeHeaders;
use sea_build::pe::resource::{self, ResourceData, ResourceKey, ResourceSection};

fuzz_target!(|data: &[u8]| {
    let Ok(headers) = PeHeaders::parse(data) else {
        return;
    };
    let blob_name = ResourceKey::name("NODE_SEA_BLOB");
    let _ = resource::find(data, &ResourceKey::Id(10), &blob_name);
    let _ = resource::find(data, &ResourceKey::Id(24), &ResourceKey::Id(1));
    let Ok(Some((mut tree, location))) = resource::read(&headers, data) else {
        return;
    };
    if let Ok(section) = ResourceSection::build(&tree, location.rva) {
        check(&section);
    }
    let blob = ResourceData { bytes: b"the blob", code_page: 0, last: true };
    if tree.insert(ResourceKey::Id(10), blob_name, 0, blob).is_err() {
        return;
    }
    tree.sort();
    if let Ok(section) = ResourceSection::build(&tree, location.rva) {
        check(&section);
        assert!(section.data.last().is_some_and(|(_, bytes)| *bytes == b"the blob"), "the blob comes last");
    }
});

fn check(section: &ResourceSection<'_>) {
    let bytes = section.to_vec();
    assert_eq!(bytes.len(), section.len);
    let mut end = section.head.len();
    for (offset, data) in &section.data {
        assert!(*offset >= end, "resource data overlaps what comes before it");
        end = offset + data.len();
    }
}
