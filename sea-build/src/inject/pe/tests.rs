use object::pe::{IMAGE_DIRECTORY_ENTRY_RESOURCE, RT_MANIFEST, RT_VERSION};
use object::read::pe::PeFile64;

use super::*;
use crate::pe::testing::{MANIFEST, SyntheticPe, signed};
use crate::pe::{PeHeaders, PeKind, Section};
use crate::testing::XorShift;

fn blob(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// Every resource as (type, name, language, bytes), in tree order.
fn resources(image: &[u8]) -> Vec<(String, String, String, Vec<u8>)> {
    let headers = PeHeaders::parse(image).unwrap();
    let Some((tree, _)) = resource::read(&headers, image).unwrap() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for kind in &tree.entries {
        let resource::ResourceNode::Table(names) = &kind.node else { panic!() };
        for name in &names.entries {
            let resource::ResourceNode::Table(languages) = &name.node else { panic!() };
            for language in &languages.entries {
                let resource::ResourceNode::Data(data) = &language.node else { panic!() };
                found.push((kind.key.to_string(), name.key.to_string(), language.key.to_string(), data.bytes.to_vec()));
            }
        }
    }
    found
}

#[test]
fn refuses_a_file_that_ends_inside_its_headers() {
    // Found by fuzzing (inject_pe): no section has file data, SizeOfHeaders (0x400) lies
    // past the end of the file, and the bytes where a new section header would go were
    // sliced past the end.
    let image = SyntheticPe { resources: false, ..SyntheticPe::default() }.build();
    let headers = PeHeaders::parse(&image).unwrap();
    let mut cut = image[..headers.section_table_end()].to_vec();
    for section in &headers.sections {
        cut[section.header_offset + 16..section.header_offset + 20].fill(0);
    }
    // The fuse in the DOS stub, the only free bytes left.
    let fuse = format!("{}:0", fuse::FUSE_SENTINEL);
    cut[0x40..0x40 + fuse.len()].copy_from_slice(fuse.as_bytes());
    PeHeaders::parse(&cut).expect("a file without section data parses");
    let error = format!("{:#}", inject(&cut, b"blob", &mut Vec::new()).unwrap_err());
    assert!(error.contains("ends inside its headers"), "{error}");
}

#[test]
fn refuses_resource_names_that_sort_differently_by_case() {
    // Found by fuzzing (inject_pe): an RT_RCDATA name with a lower-case letter sorts
    // before NODE_SEA_BLOB ignoring case but after it by code unit, so the loader's
    // binary search (over the code units) missed the blob that injection had just added.
    let image = SyntheticPe::default().build();
    let utf16 = |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let (from, to) = (utf16("NODE_SEA_BLOBS"), utf16("NODE_SEA_BLoAx"));
    let at = image.windows(from.len()).position(|window| window == from).unwrap();
    let mut odd = image.clone();
    odd[at..at + to.len()].copy_from_slice(&to);
    let error = format!("{:#}", inject(&odd, b"blob", &mut Vec::new()).unwrap_err());
    assert!(error.contains("\"NODE_SEA_BLoAx\"") && error.contains("by code unit"), "{error}");
    // Upper-case names of any order are fine.
    let upper = utf16("NODE_SEA_BLOAX");
    odd[at..at + upper.len()].copy_from_slice(&upper);
    let (out, _) = injected(&odd, b"blob");
    assert_eq!(find_blob(&out).unwrap(), Some(&b"blob"[..]));
}

/// Checks everything an injected image must satisfy.
fn check_injected(image: &[u8], out: &[u8], blob: &[u8], summary: InjectionSummary) {
    assert_eq!(summary.output_len, out.len() as u64);
    assert_eq!(find_blob(out).unwrap(), Some(blob));
    let at = summary.blob_offset as usize;
    assert_eq!(&out[at..at + blob.len()], blob);
    assert!(fuse::find_fuse(out).unwrap().is_set());

    let before = PeHeaders::parse(image).unwrap();
    let after = PeHeaders::parse(out).unwrap();
    assert_eq!(after.check_sum, crate::pe::checksum(out).unwrap(), "CheckSum is up to date");
    assert_eq!(out.len() % after.file_alignment as usize, 0);
    let directory = after.data_directory(IMAGE_DIRECTORY_ENTRY_RESOURCE).unwrap();
    assert_eq!(directory.virtual_address, summary.section_rva);
    let section = after.section_at_rva(summary.section_rva).unwrap();
    assert_eq!(section.name, *RESOURCE_SECTION_NAME);
    assert_eq!(section.virtual_address, summary.section_rva);
    assert_eq!(u64::from(section.pointer_to_raw_data), summary.section_offset);
    assert_eq!(section.virtual_size, directory.size);
    assert_eq!(section.raw_end(), out.len() as u64, "the resource section ends the file");
    assert_eq!(u64::from(after.size_of_image), after.sections_memory_end());
    if summary.section_added {
        assert_eq!(after.sections.len(), before.sections.len() + 1);
        assert_eq!(after.sections.last(), Some(section));
        assert_eq!(u64::from(after.size_of_initialized_data), u64::from(before.size_of_initialized_data) + u64::from(section.size_of_raw_data));
        // Everything that was there is still there, except the rewritten header fields
        // and the fuse.
        let fuse_at = fuse::find_fuse(image).unwrap().offset();
        for (index, (old, new)) in image.iter().zip(out).enumerate() {
            if index >= after.section_table_end() && index != fuse_at {
                assert_eq!(old, new, "byte {index:#x} changed");
            }
        }
        for (old, new) in before.sections.iter().zip(&after.sections) {
            let renamed = Section { name: new.name, ..*old };
            assert_eq!(&renamed, new, "sections other than the new one keep their place");
        }
    } else {
        assert_eq!(after.sections.len(), before.sections.len());
    }
    // Sections do not overlap, in memory or in the file, and stay below SizeOfImage.
    for (index, a) in after.sections.iter().enumerate() {
        for b in &after.sections[index + 1..] {
            assert!(a.virtual_end() <= u64::from(b.virtual_address) || b.virtual_end() <= u64::from(a.virtual_address));
            assert!(a.raw_end() <= u64::from(b.pointer_to_raw_data) || b.raw_end() <= u64::from(a.pointer_to_raw_data));
        }
    }
    // Every old resource survives with its bytes; the blob is the only addition.
    let mut expected = resources(image);
    expected.push(("#10".into(), "\"NODE_SEA_BLOB\"".into(), "#0".into(), blob.to_vec()));
    let mut actual = resources(out);
    expected.sort();
    actual.sort();
    assert_eq!(actual, expected);
    // An independent parser agrees for PE32+.
    if before.kind == PeKind::Pe32Plus {
        let file = PeFile64::parse(out).expect("object parses the output");
        let directory = file.data_directories().resource_directory(out, &file.section_table()).unwrap().unwrap();
        let root = directory.root().unwrap();
        let ids: Vec<_> = root.entries.iter().map(|entry| entry.name_or_id().id()).collect();
        assert!(ids.contains(&Some(RT_RCDATA)));
    }
}

fn injected(image: &[u8], blob: &[u8]) -> (Vec<u8>, InjectionSummary) {
    let mut out = Vec::new();
    let summary = inject(image, blob, &mut out).unwrap();
    (out, summary)
}

#[test]
fn appends_a_resource_section_keeping_every_resource() {
    for kind in [PeKind::Pe32Plus, PeKind::Pe32] {
        let image = SyntheticPe { kind, ..SyntheticPe::default() }.build();
        for len in [1, 2, 3, 7, 8, 9, 4096, 70_000] {
            let blob = blob(len);
            let (out, summary) = injected(&image, &blob);
            assert!(summary.section_added);
            check_injected(&image, &out, &blob, summary);
            let after = PeHeaders::parse(&out).unwrap();
            let old = after.sections.iter().find(|s| &s.name == OLD_RESOURCE_SECTION_NAME).unwrap();
            assert_eq!(old.virtual_address, PeHeaders::parse(&image).unwrap().sections[2].virtual_address);
            assert_eq!(after.sections.iter().filter(|s| s.name() == ".rsrc").count(), 1);
            assert_eq!(resource::find(&out, &ResourceKey::Id(RT_MANIFEST), &ResourceKey::Id(1)).unwrap(), Some(MANIFEST));
        }
    }
}

#[test]
fn rewrites_a_last_resource_section_in_place() {
    let image = SyntheticPe { resources_last: true, ..SyntheticPe::default() }.build();
    let blob = blob(5000);
    let (out, summary) = injected(&image, &blob);
    assert!(!summary.section_added);
    let before = PeHeaders::parse(&image).unwrap();
    let rsrc = before.sections.last().unwrap();
    assert_eq!(summary.section_rva, rsrc.virtual_address);
    assert_eq!(summary.section_offset, u64::from(rsrc.pointer_to_raw_data));
    check_injected(&image, &out, &blob, summary);
    assert!(find_blob(&out).unwrap().is_some());
}

#[test]
fn an_image_without_resources_gets_a_resource_directory() {
    let image = SyntheticPe { resources: false, ..SyntheticPe::default() }.build();
    assert!(PeHeaders::parse(&image).unwrap().data_directory(IMAGE_DIRECTORY_ENTRY_RESOURCE).unwrap().is_empty());
    let blob = blob(100);
    let (out, summary) = injected(&image, &blob);
    assert!(summary.section_added);
    check_injected(&image, &out, &blob, summary);
    assert_eq!(resources(&out).len(), 1);
}

#[test]
fn the_blob_is_found_among_neighbouring_names() {
    // The synthetic tree has NODE_SEA_BLOA and NODE_SEA_BLOBS under RT_RCDATA: the blob's
    // name must land between them for the binary search.
    let image = SyntheticPe::default().build();
    let (out, _) = injected(&image, b"blob");
    let headers = PeHeaders::parse(&out).unwrap();
    let (tree, _) = resource::read(&headers, &out).unwrap().unwrap();
    let resource::ResourceNode::Table(names) = &tree.get(&ResourceKey::Id(RT_RCDATA)).unwrap().node else { panic!() };
    let shown: Vec<String> = names.entries.iter().map(|entry| entry.key.to_string()).collect();
    assert_eq!(shown, ["\"NODE_SEA_BLOA\"", "\"NODE_SEA_BLOB\"", "\"NODE_SEA_BLOBS\"", "#7"]);
    let types: Vec<String> = tree.entries.iter().map(|entry| entry.key.to_string()).collect();
    assert_eq!(types, ["#3", "#10", "#14", "#16", "#24"]);
    assert!(resource::find(&out, &ResourceKey::Id(RT_VERSION), &ResourceKey::Id(1)).unwrap().is_some());
}

#[test]
fn injection_is_deterministic() {
    let image = SyntheticPe::default().build();
    assert_eq!(injected(&image, b"same").0, injected(&image, b"same").0);
}

#[test]
fn refuses_already_injected_images() {
    let image = SyntheticPe::default().build();
    let (out, _) = injected(&image, b"blob");
    let error = inject(&out, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("already carries a SEA blob"), "{error}");

    // The fuse set by hand, without a blob.
    let set = SyntheticPe { fuse: Some(b'1'), ..SyntheticPe::default() }.build();
    let error = inject(&set, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("already"), "{error}");

    // The blob resource with the fuse reset is still refused.
    let mut reset = out.clone();
    reset[fuse::find_fuse(&out).unwrap().offset()] = b'0';
    let error = inject(&reset, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("RT_RCDATA resource named NODE_SEA_BLOB"), "{error}");
}

#[test]
fn refuses_signed_images_and_misplaced_signatures() {
    let image = SyntheticPe::default().build();
    let signed = signed(&image);
    let error = inject(&signed, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("is signed") && error.contains("unsign"), "{error}");
    // Unsigning first makes it work.
    let unsigned = crate::pe::unsign(&signed).unwrap();
    let (out, summary) = injected(&unsigned, b"blob");
    check_injected(&unsigned, &out, b"blob", summary);

    let mut appended = signed.clone();
    appended.extend(b"data appended after the signature");
    let error = inject(&appended, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("does not end the file"), "{error}");
}

#[test]
fn refuses_what_it_cannot_handle() {
    let refuse = |bytes: &[u8], blob: &[u8], expected: &str| {
        let mut out = Vec::new();
        let error = inject(bytes, blob, &mut out).unwrap_err().to_string();
        assert!(error.contains(expected), "expected {expected:?} in {error:?}");
        assert!(out.is_empty(), "nothing is written when refusing");
    };
    let image = SyntheticPe::default().build();
    refuse(b"\x7fELF\x02\x01\x01", b"blob", "not a Windows executable");
    refuse(&SyntheticPe { fuse: None, ..SyntheticPe::default() }.build(), b"blob", "not a node binary");
    refuse(&image, b"", "empty");
    refuse(&image[..image.len() - 100], b"blob", "truncated");
    let mut twice = image.clone();
    twice.extend(fuse::FUSE_SENTINEL.as_bytes());
    twice.extend(b":0");
    refuse(&twice, b"blob", "2 times");
}

#[test]
fn needs_room_for_one_more_section_header() {
    // 0x400 bytes of headers hold the table of 15 sections and no more: 0x188 + 16 * 40
    // > 0x400.
    let fits = SyntheticPe { extra_sections: 10, ..SyntheticPe::default() }.build();
    let (out, summary) = injected(&fits, b"blob");
    check_injected(&fits, &out, b"blob", summary);
    let full = SyntheticPe { extra_sections: 11, ..SyntheticPe::default() }.build();
    let error = inject(&full, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("no room for another section header"), "{error}");

    // Non-zero bytes where the header would go.
    let mut used = fits.clone();
    let end = PeHeaders::parse(&used).unwrap().section_table_end();
    used[end + 3] = 0x42;
    let error = inject(&used, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("in use"), "{error}");
}

#[test]
fn truncated_images_are_errors_not_panics() {
    let image = SyntheticPe::default().build();
    for len in (0..image.len()).step_by(7) {
        assert!(inject(&image[..len], b"blob", &mut Vec::new()).is_err(), "length {len}");
        let _ = find_blob(&image[..len]);
    }
    let (out, _) = injected(&image, b"the blob");
    for len in (0..out.len()).step_by(5) {
        let _ = find_blob(&out[..len]);
        assert!(inject(&out[..len], b"x", &mut Vec::new()).is_err(), "length {len}");
    }
}

#[test]
fn corrupted_images_never_panic() {
    let image = SyntheticPe::default().build();
    let (out, summary) = injected(&image, b"blob!");
    let mut random = XorShift(0x2545_f491_4f6c_dd1du64);
    let mut next = || random.next_u64();
    for _ in 0..3000 {
        let mut corrupted = out.clone();
        for _ in 0..1 + next() % 4 {
            let region = if next() % 2 == 0 { 0..0x300 } else { summary.section_offset as usize..out.len() };
            let at = region.start + (next() as usize) % region.len();
            corrupted[at] = next() as u8;
        }
        let _ = find_blob(&corrupted);
        let _ = inject(&corrupted, b"x", &mut Vec::new());
        let mut original = image.clone();
        let at = (next() as usize) % 0x1000.min(original.len());
        original[at] = next() as u8;
        let _ = inject(&original, b"x", &mut Vec::new());
    }
}

/// Plans over `image` the way a file is read: its first `head` bytes, then whatever the
/// plan found missing, round after round. Returns the plan and the bytes read.
fn plan_from_parts(image: &[u8], head: usize, blob: &[u8], options: Options) -> (Result<Plan>, u64) {
    let mut parts = vec![(0u64, &image[..head.min(image.len())])];
    loop {
        let view = PeImage::from_parts(image.len() as u64, parts.clone());
        let planned = plan(&view, blob, &ResourceChanges::default(), options, |len| fuse::unset_fuse_offset(&image[..len as usize]));
        let missing = view.missing();
        if planned.is_ok() || missing.is_empty() {
            return (planned, parts.iter().map(|(_, bytes)| bytes.len() as u64).sum());
        }
        parts.extend(missing.into_iter().map(|range| (range.start, &image[range.start as usize..range.end as usize])));
    }
}

#[test]
fn planning_from_the_parts_read_equals_planning_from_the_whole_image() {
    let mut large = SyntheticPe::default().build();
    // A large unsigned image: most of it is never read.
    let headers = PeHeaders::parse(&large).unwrap();
    let last = headers.sections.last().unwrap();
    let grown = last.size_of_raw_data + (1 << 20);
    large[last.header_offset + 16..last.header_offset + 20].copy_from_slice(&grown.to_le_bytes());
    large.resize(large.len() + (1 << 20), 0x42);
    for image in [SyntheticPe::default().build(), signed(&SyntheticPe::default().build()), SyntheticPe { resources_last: true, ..SyntheticPe::default() }.build(), large.clone()] {
        let options = Options { unsign: true };
        let whole = plan(&PeImage::whole(&image), b"blob", &ResourceChanges::default(), options, |len| fuse::unset_fuse_offset(&image[..len as usize])).unwrap();
        for head in [16, 0x100, 0x400, image.len()] {
            let (planned, read) = plan_from_parts(&image, head, b"blob", options);
            assert_eq!(planned.unwrap(), whole, "head {head}");
            if head <= 0x400 && image.len() == large.len() {
                assert!(read < 1 << 19, "only the headers and resources are read ({read} bytes)");
            }
        }
    }
    // Refusals are the same from parts.
    let injected = inject_to_vec(&SyntheticPe::default().build(), b"blob").unwrap();
    let (planned, _) = plan_from_parts(&injected, 0x400, b"blob", Options::default());
    assert!(planned.unwrap_err().to_string().contains("already carries a SEA blob"));
    let (planned, _) = plan_from_parts(&signed(&SyntheticPe::default().build()), 0x400, b"blob", Options::default());
    assert!(planned.unwrap_err().to_string().contains("is signed"));
}

#[test]
fn unsigning_in_the_plan_equals_unsigning_first() {
    for synthetic in [SyntheticPe::default(), SyntheticPe { resources_last: true, ..SyntheticPe::default() }, SyntheticPe { resources: false, ..SyntheticPe::default() }] {
        let image = synthetic.build();
        let signed = signed(&image);
        let unsigned = crate::pe::unsign(&signed).unwrap();
        let (expected, _) = injected(&unsigned, b"blob");
        let Plan { mut splice, check_sum_offset, .. } =
            plan(&PeImage::whole(&signed), b"blob", &ResourceChanges::default(), Options { unsign: true }, |len| fuse::unset_fuse_offset(&signed[..len as usize])).unwrap();
        let check_sum = splice_checksum(&splice, &signed, b"blob").unwrap();
        splice.patch(check_sum_offset as u64, &check_sum.to_le_bytes()).unwrap();
        let mut out = Vec::new();
        splice.write(&signed, b"blob", &mut out).unwrap();
        assert_eq!(out, expected);
    }
}
