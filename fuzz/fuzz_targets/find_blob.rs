//! Finding the blob the way node does, in any format: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::inject::{self, Format, fuse};

fuzz_target!(|data: &[u8]| {
    let _ = inject::find_blob(data);
    let _ = fuse::find_fuse(data);
    if let Ok(images) = inject::images(data) {
        for image in images {
            if let Ok(Some(blob)) = inject::find_blob(image) {
                let range = blob.as_ptr_range();
                let inside = image.as_ptr_range();
                assert!(range.start >= inside.start && range.end <= inside.end, "the blob lies inside the image");
            }
        }
    }
    if Format::detect(data) == Some(Format::MachO) {
        let _ = inject::macho::find_blobs(data);
    }
});
