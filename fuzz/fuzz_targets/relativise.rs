//! Mach-O debug-map relativising: never panics, never grows the image, and the in-memory and
//! in-place forms agree.
//!
//! Input: one byte of options, a length-prefixed prefix, then the image (thin or universal).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::macho::relativise::{RelativiseOptions, relativise, relativise_slice};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((prefix, image)) = sea_build_fuzz::short_string(rest) else {
        return;
    };
    let replacements = ["", "./", ".", "../"];
    let options = RelativiseOptions {
        source_paths: flags & 1 != 0,
        recompute_uuid: flags & 2 != 0,
        object_replacement: replacements[usize::from(flags >> 2) & 3].to_owned(),
        source_replacement: replacements[usize::from(flags >> 4) & 3].to_owned(),
    };
    let result = relativise(image, &prefix, &options);
    let mut slice = image.to_vec();
    let summary = relativise_slice(&mut slice, &prefix, &options);
    assert_eq!(result.is_ok(), summary.is_ok(), "relativise and relativise_slice agree");
    if let (Ok(out), Ok(summary)) = (result, summary) {
        assert!(out.len() <= image.len(), "relativising never grows the image");
        assert_eq!(summary.len, out.len() as u64);
        assert!(slice[..out.len()] == out[..], "relativise and relativise_slice give the same bytes");
    }
});
