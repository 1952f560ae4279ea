//! The signing identity reader on files openssl makes: every form a user has (OpenSSL 3's
//! default P12, `-legacy`, AES-128 with a SHA-384 MAC, a PEM pair, an encrypted PKCS #8 key)
//! reads to the certificate of the key with the CA as its chain; every bad file is an identity
//! error naming the file and what to do, never a panic.

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::ErrorKind;
use sea_build::sign::identity::{Password, SigningIdentity};
use sea_build_tests::identity::{Files, Form, PASSWORD, TestCa, assert_says, openssl};

const CODE_SIGNING: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n";
const VALID_FROM: &str = "20250101000000Z";
const VALID_UNTIL: &str = "20491231000000Z";

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// Reads `files` as sea-build does, with `password`.
fn read(files: &Files, password: &str) -> sea_build::Result<SigningIdentity> {
    let password = Password { value: password, variable: "TEST_PASSWORD" };
    match files {
        Files::P12(p12) => SigningIdentity::from_p12(&std::fs::read(p12).unwrap(), password, p12.as_str()),
        Files::Pem { key, chain } => SigningIdentity::from_pem(&std::fs::read(key).unwrap(), key.as_str(), &std::fs::read(chain).unwrap(), chain.as_str(), password),
    }
}

/// A PEM certificate's DER, as openssl converts it.
fn der_of(pem: &Utf8Path) -> Vec<u8> {
    let der = pem.with_extension("der");
    openssl(pem.parent().unwrap(), &["x509", "-in", pem.as_str(), "-outform", "DER", "-out", der.as_str()]);
    std::fs::read(der).unwrap()
}

#[test]
fn every_form_reads_to_the_keys_certificate_with_the_ca_as_its_chain() {
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let ca_der = der_of(&ca.dir().join("ca.pem"));
    for form in Form::ALL {
        let name = format!("signer-{form:?}").to_lowercase();
        let files = ca.identity_in(&name, VALID_FROM, VALID_UNTIL, CODE_SIGNING, form);
        let started = std::time::Instant::now();
        let identity = read(&files, PASSWORD).unwrap_or_else(|error| panic!("{form:?}: {error}"));
        eprintln!("{form:?}: read in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(identity.subject(), name, "{form:?}: the key's certificate signs, not the CA's");
        assert_eq!(identity.certificate().constructed_data(), der_of(&ca.dir().join(format!("{name}.pem"))), "{form:?}");
        let chain: Vec<&[u8]> = identity.chain().iter().map(|certificate| certificate.constructed_data()).collect();
        assert_eq!(chain, [&ca_der[..]], "{form:?}: the CA is the chain");
    }
}

#[test]
fn bad_identity_files_are_clear_errors() {
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    for bad in ca.bad_identities() {
        assert_says(&bad, &read(&bad.files, bad.password).expect_err(bad.what), "TEST_PASSWORD");
    }
    // Every prefix of a P12 is an error, never a panic.
    let bytes = std::fs::read(ca.dir().join("good.p12")).unwrap();
    for len in (0..bytes.len()).step_by(97) {
        assert_eq!(SigningIdentity::from_p12(&bytes[..len], Password { value: PASSWORD, variable: "P" }, "cut.p12").unwrap_err().kind(), ErrorKind::Identity);
    }
}

#[test]
fn traditional_pem_keys_and_ec_keys_read_too() {
    let (_keep, dir) = temp();
    let subject = ["-subj", "/CN=traditional", "-addext", "extendedKeyUsage=codeSigning", "-days", "30", "-nodes"];
    openssl(&dir, &[&["req", "-x509", "-newkey", "rsa:2048", "-keyout", "rsa.pem", "-out", "rsa-cert.pem"][..], &subject].concat());
    openssl(&dir, &[&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", "ec.pem", "-out", "ec-cert.pem"][..], &subject].concat());
    // PKCS #1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`), as older tools write them.
    openssl(&dir, &["rsa", "-in", "rsa.pem", "-traditional", "-out", "rsa-pkcs1.pem"]);
    openssl(&dir, &["ec", "-in", "ec.pem", "-out", "ec-sec1.pem"]);
    for (key, cert) in [("rsa-pkcs1.pem", "rsa-cert.pem"), ("ec-sec1.pem", "ec-cert.pem"), ("ec.pem", "ec-cert.pem")] {
        let files = Files::Pem { key: dir.join(key), chain: dir.join(cert) };
        let identity = read(&files, "").unwrap_or_else(|error| panic!("{key}: {error}"));
        assert_eq!((identity.subject().as_str(), identity.chain().len()), ("traditional", 0), "{key}");
    }
    // An EC identity as a P12 signs too.
    openssl(&dir, &["pkcs12", "-export", "-inkey", "ec.pem", "-in", "ec-cert.pem", "-out", "ec.p12", "-passout", &format!("pass:{PASSWORD}")]);
    assert_eq!(read(&Files::P12(dir.join("ec.p12")), PASSWORD).unwrap().subject(), "traditional");
}
