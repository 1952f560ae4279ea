//! PE injection: `inject` never panics; what it accepts parses again, with the blob where
//! node finds it, and refuses a second injection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::inject::pe;

fuzz_target!(|data: &[u8]| {
    let Some((blob, image)) = sea_build_fuzz::blob_and_image(data) else {
        return;
    };
    let mut out = Vec::new();
    if let Ok(summary) = pe::inject(image, blob, &mut out) {
        assert_eq!(summary.output_len, out.len() as u64);
        sea_build::pe::PeHeaders::parse(&out).expect("the injected image parses");
        assert_eq!(pe::find_blob(&out).expect("the injected resources read"), Some(blob));
        assert!(pe::inject(&out, blob, &mut Vec::new()).is_err(), "a second injection is refused");
    }
});
