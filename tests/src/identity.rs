//! Signing identities for the signing tests, made with openssl as a developer makes them: a
//! self-signed code-signing certificate, or a test CA and the certificates it issues, each
//! exported as a P12 file with the password `secret`.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};

/// The password of every P12 file made here.
pub const PASSWORD: &str = "secret";

/// Runs `openssl args` in `dir`, panicking with openssl's own message when it fails.
pub fn openssl(dir: &Utf8Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed by `cargo xtask setup`");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Exports the key and certificate files `key` and `cert` (with the certificates in `chain`,
/// when given) from `dir` as the P12 file `p12` there, encrypted with PBE-SHA1-3DES: what
/// sea-build reads (OpenSSL 3's default AES is refused with the command to run instead).
pub fn export_p12(dir: &Utf8Path, key: &str, cert: &str, chain: Option<&str>, p12: &str) -> Utf8PathBuf {
    let password = format!("pass:{PASSWORD}");
    let mut args = vec!["pkcs12", "-export", "-inkey", key, "-in", cert];
    if let Some(chain) = chain {
        args.extend(["-certfile", chain]);
    }
    args.extend(["-out", p12, "-passout", &password, "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"]);
    openssl(dir, &args);
    dir.join(p12)
}

/// A self-signed code-signing identity in `dir` (`identity.p12`), as a developer exports one
/// for local signing.
pub fn self_signed(dir: &Utf8Path) -> Utf8PathBuf {
    let subject = "/CN=sea-build test signer/OU=TEAMID1234";
    openssl(dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "3650", "-subj", subject, "-addext", "extendedKeyUsage=codeSigning"]);
    export_p12(dir, "key.pem", "cert.pem", None, "identity.p12")
}

/// A test CA in its own directory, which issues code-signing (or other) certificates.
pub struct TestCa {
    dir: Utf8PathBuf,
}

impl TestCa {
    /// A new CA (`ca.pem`, `ca.key` and openssl's `ca` database) in `dir`.
    pub fn new(dir: &Utf8Path) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3650",
                "-subj",
                "/CN=sea-build test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(dir.join("ca.cnf"), "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n")
            .unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        TestCa { dir: dir.to_owned() }
    }

    /// The CA's directory (its certificate is `ca.pem` there).
    pub fn dir(&self) -> &Utf8Path {
        &self.dir
    }

    /// Runs `openssl args` in the CA's directory.
    pub fn openssl(&self, args: &[&str]) {
        openssl(&self.dir, args);
    }

    /// A P12 with a certificate for `name` issued by the CA, valid from `start` to `end`
    /// (`YYYYMMDDHHMMSSZ`), with `extensions`, and the CA in its chain.
    pub fn identity(&self, name: &str, start: &str, end: &str, extensions: &str) -> Utf8PathBuf {
        let dir = self.dir.as_path();
        let (key, csr, pem, ext) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        std::fs::write(dir.join(&ext), extensions).unwrap();
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &format!("/CN={name}")]);
        openssl(dir, &["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", &csr, "-out", &pem, "-startdate", start, "-enddate", end, "-extfile", &ext, "-notext"]);
        export_p12(dir, &key, &pem, Some("ca.pem"), &format!("{name}.p12"))
    }
}
