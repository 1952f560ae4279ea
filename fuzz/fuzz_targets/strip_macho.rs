//! Mach-O local-symbol stripping: never panics, never grows the image, the in-memory and
//! in-place forms agree, and stripping what it stripped changes nothing.
//!
//! Input: the image (thin or universal, unsigned).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::macho::strip::{strip, strip_slice};

fuzz_target!(|image: &[u8]| {
    let result = strip(image);
    let mut slice = image.to_vec();
    let summary = strip_slice(&mut slice);
    assert_eq!(result.is_ok(), summary.is_ok(), "strip and strip_slice agree");
    if let (Ok(out), Ok(summary)) = (result, summary) {
        assert!(out.len() <= image.len(), "stripping never grows the image");
        assert_eq!(summary.len, out.len() as u64);
        assert!(slice[..out.len()] == out[..], "strip and strip_slice give the same bytes");
        assert!(strip(&out).expect("a stripped image strips again") == out, "stripping again changes nothing");
    }
});
