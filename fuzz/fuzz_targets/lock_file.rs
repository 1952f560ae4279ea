//! `sea.lock`: parsing never panics, and what parses reads back the same after encoding.
#![no_main]

use camino::Utf8Path;
use libfuzzer_sys::fuzz_target;
use sea_build::node::LockFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Utf8Path::new("sea.lock");
    if let Ok(lock) = LockFile::parse(text, path) {
        let encoded = toml::to_string(&lock).expect("a parsed lock encodes");
        assert_eq!(LockFile::parse(&encoded, path).expect("an encoded lock parses"), lock);
    }
});
