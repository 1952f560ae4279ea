//! PE unsign: never panics; its output has no certificate table and unsigning it again
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::pe::{PeHeaders, certificate_table, unsign, unsign_in_place};

fuzz_target!(|data: &[u8]| {
    let result = unsign(data);
    let mut in_place = data.to_vec();
    let changed = unsign_in_place(&mut in_place);
    assert_eq!(result.is_ok(), changed.is_ok(), "unsign and unsign_in_place agree");
    if let Ok(out) = result {
        assert!(out == in_place, "unsign and unsign_in_place give the same bytes");
        let headers = PeHeaders::parse(&out).expect("the unsigned image parses");
        assert_eq!(certificate_table(&headers, &out).expect("its security directory reads"), None);
        assert!(unsign(&out).expect("unsigning again works") == out, "unsigning twice changes nothing more");
    }
});
