//! Mach-O injection, thin and universal: `inject` never panics; what it accepts comes out
//! with the blob in every slice and refuses a second injection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::inject::macho;

fuzz_target!(|data: &[u8]| {
    let Some((blob, image)) = sea_build_fuzz::blob_and_image(data) else {
        return;
    };
    let mut out = Vec::new();
    if let Ok(summary) = macho::inject(image, blob, &mut out) {
        assert_eq!(summary.output_len, out.len() as u64);
        let blobs = macho::find_blobs(&out).expect("the injected image parses");
        assert_eq!(blobs.len(), summary.slices.len());
        for found in blobs {
            assert_eq!(found.blob, Some(blob));
        }
        assert!(macho::inject(&out, blob, &mut Vec::new()).is_err(), "a second injection is refused");
    }
});
