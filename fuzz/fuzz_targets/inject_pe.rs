//! PE injection: `inject` never panics; what it accepts parses again, with the blob where
//! node finds it, and refuses a second injection. Planned from the parts a file's reader
//! fetches (the first KiB, then what each round found missing), the plan, or the refusal,
//! is the one planned from the whole image.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::inject::pe;
use sea_build::pe::PeImage;
use sea_build::pe::identity::ResourceChanges;

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

    let changes = ResourceChanges::default();
    let options = pe::Options { unsign: true };
    let fuse = |len: u64| sea_build::inject::fuse::unset_fuse_offset(&image[..len as usize]);
    let whole = pe::plan(&PeImage::whole(image), blob, &changes, options, fuse);
    let mut parts = vec![(0u64, &image[..image.len().min(1024)])];
    for _ in 0..64 {
        let view = PeImage::from_parts(image.len() as u64, parts.clone());
        let planned = pe::plan(&view, blob, &changes, options, fuse);
        let missing = view.missing();
        if planned.is_ok() || missing.is_empty() {
            match (&whole, &planned) {
                (Ok(whole), Ok(planned)) => assert_eq!(whole, planned, "planning from parts differs"),
                (Err(whole), Err(planned)) => assert_eq!(whole.to_string(), planned.to_string(), "refusals differ"),
                _ => panic!("planning from parts gives {:?}, from the whole image {:?}", planned.as_ref().err(), whole.as_ref().err()),
            }
            return;
        }
        parts.extend(missing.into_iter().map(|range| (range.start, &image[range.start as usize..range.end as usize])));
    }
});
