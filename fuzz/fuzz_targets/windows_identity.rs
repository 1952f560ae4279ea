//! A Windows artifact's identity from bytes it did not write: `.ico` files, version
//! resources, and time-stamp authorities' replies. Reading never panics; an icon that reads
//! gives a group directory of its images; a version resource that reads writes back to one
//! that reads with the same versions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::pe::authenticode::timestamp_token;
use sea_build::pe::icon::IconFile;
use sea_build::pe::version_info::VersionInfo;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    match kind % 3 {
        0 => {
            if let Ok(icon) = IconFile::parse(bytes, "fuzz.ico") {
                let group = icon.group(1).expect("a parsed icon has at most 65535 images");
                assert_eq!(group.len(), 6 + 14 * icon.images.len());
                assert!(icon.images.iter().all(|image| !image.bytes.is_empty()));
            }
        }
        1 => {
            if let Ok(info) = VersionInfo::parse(bytes)
                && let Ok(written) = info.to_bytes()
            {
                let again = VersionInfo::parse(&written).expect("what the encoder writes reads back");
                assert_eq!((again.file_version.parts, again.product_version.parts), (info.file_version.parts, info.product_version.parts));
            }
        }
        _ => {
            let _ = timestamp_token(bytes);
        }
    }
});
