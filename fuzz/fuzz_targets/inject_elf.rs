//! ELF injection: `inject` and `plan` never panic; what they accept comes out with the blob
//! where node finds it, the splice writes the same bytes, and the output refuses a second
//! injection. The same with `strip`, which also never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::inject::{elf, fuse};

fuzz_target!(|data: &[u8]| {
    let Some((blob, image)) = sea_build_fuzz::blob_and_image(data) else {
        return;
    };
    // Program headers with high addresses make the output up to 64 MiB of padding: writing
    // that on every run would slow the fuzzer a thousandfold, so plan alone covers those.
    let unset = fuse::unset_fuse_offset(image).ok();
    let large = unset.and_then(|offset| elf::plan(image, blob.len(), offset).ok()).is_some_and(|(_, summary)| summary.output_len > 1 << 20);
    let mut out = Vec::new();
    if large {
        // plan below.
    } else if let Ok(summary) = elf::inject(image, blob, &mut out) {
        assert_eq!(summary.output_len, out.len() as u64);
        assert_eq!(elf::find_blob(&out).expect("the injected image parses"), Some(blob));
        assert!(elf::inject(&out, blob, &mut Vec::new()).is_err(), "a second injection is refused");
        let offset = fuse::unset_fuse_offset(image).expect("inject found the fuse");
        let (splice, plan_summary) = elf::plan(image, blob.len(), offset).expect("plan agrees with inject");
        assert_eq!(plan_summary, summary);
        assert_eq!(splice.len(blob.len()), out.len() as u64);
        let mut written = Vec::new();
        splice.write(image, blob, &mut written).expect("the splice writes");
        assert!(written == out, "plan and inject write the same bytes");
    }
    // Stripping: never a panic; what it accepts still carries the blob where node finds it.
    if !large {
        let mut stripped = Vec::new();
        if let Ok(summary) = elf::inject_with(image, blob, &mut stripped, elf::Options { strip: true }) {
            assert_eq!(summary.output_len, stripped.len() as u64);
            assert_eq!(elf::find_blob(&stripped).expect("the stripped image parses"), Some(blob));
        }
    }
    // plan with offsets and lengths inject never passes.
    let offset = unset.unwrap_or(image.len() / 2);
    for (blob_len, fuse_offset) in [(blob.len(), offset), (usize::MAX - blob.len(), offset), (blob.len(), usize::MAX - offset)] {
        if let Ok((splice, summary)) = elf::plan(image, blob_len, fuse_offset) {
            assert_eq!(splice.len(blob_len), summary.output_len);
        }
    }
});
