//! SEA preparation blobs: `parse` never panics for any layout, and what it accepts writes
//! back to the same bytes; V8 code cache headers never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::blob::{BlobLayout, parse, parse_code_cache_header, write};

fuzz_target!(|data: &[u8]| {
    for layout in [BlobLayout::V20_6, BlobLayout::V20_12, BlobLayout::V22_20, BlobLayout::V25_7] {
        if let Ok(blob) = parse(data, layout) {
            let written = write(&blob, layout).expect("a parsed blob writes");
            assert!(written == data, "{layout}: write(parse(bytes)) gives the bytes back");
            if let Some(cache) = blob.code_cache {
                for major in [20, 22] {
                    let _ = parse_code_cache_header(cache, major);
                }
            }
        }
    }
    for major in [20, 21, 22, 24] {
        if let Ok(header) = parse_code_cache_header(data, major) {
            assert!(data.len() >= sea_build::blob::CodeCacheHeader::len_for_node_major(major));
            let _ = header;
        }
    }
});
