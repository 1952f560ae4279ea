//! Signing identities from users' files: P12s in every form and PEM key and chain pairs.
//! Reading never panics; a failure is an identity error naming the file; an identity that
//! reads signs with the key of its certificate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_build::ErrorKind;
use sea_build::sign::identity::{Password, SigningIdentity};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    // The seeds are made with this password; a mutated one reaches the wrong-password paths.
    let password = Password { value: "fuzz", variable: "FUZZ_PASSWORD" };
    let (result, origin) = if kind % 2 == 0 {
        (SigningIdentity::from_p12(bytes, password, "fuzz.p12"), "fuzz.p12")
    } else {
        // The key file, a zero byte, the chain file.
        let split = bytes.iter().position(|&byte| byte == 0).unwrap_or(bytes.len());
        let (key, chain) = (&bytes[..split], bytes.get(split + 1..).unwrap_or_default());
        (SigningIdentity::from_pem(key, "key.pem", chain, "chain.pem", password), ".pem")
    };
    match result {
        Ok(identity) => assert!(!identity.chain().iter().any(|other| other.constructed_data() == identity.certificate().constructed_data())),
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Identity, "{error}");
            assert!(error.to_string().contains(origin), "{error}");
        }
    }
});
