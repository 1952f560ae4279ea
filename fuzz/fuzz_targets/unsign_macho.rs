//! Mach-O unsign: never panics; its output is unsigned and unsigning it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::macho::unsign::{is_signed, unsign};

fuzz_target!(|data: &[u8]| {
    let signed = is_signed(data);
    if let Ok(out) = unsign(data) {
        assert!(signed.is_ok(), "unsign accepted what is_signed refused");
        assert!(!is_signed(&out).expect("the unsigned image parses"), "unsign left a signature");
        assert!(unsign(&out).expect("unsigning again works") == out, "unsigning twice changes nothing more");
        if signed.is_ok_and(|signed| !signed) {
            assert!(out == data, "an unsigned image comes back unchanged");
        }
    }
});
