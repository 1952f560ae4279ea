//! The node cache's `entry.toml`: parsing never panics, and what parses reads back the same
//! after encoding.
#![no_main]

use camino::Utf8Path;
use libfuzzer_sys::fuzz_target;
use sea_build::node::CacheRecord;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Utf8Path::new("entry.toml");
    if let Ok(record) = CacheRecord::parse(text, path) {
        let encoded = toml::to_string(&record).expect("a parsed record encodes");
        assert_eq!(CacheRecord::parse(&encoded, path).expect("an encoded record parses"), record);
    }
});
