//! Signing identities for the signing tests, made with openssl as a developer makes them: a
//! self-signed code-signing certificate, or a test CA and the certificates it issues, each
//! exported as a P12 file with the password `secret` (OpenSSL's defaults unless a [`Form`]
//! says otherwise), or as a PEM key and chain.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};

/// The password of every P12 file made here.
pub const PASSWORD: &str = "secret";

/// Runs `openssl args` in `dir`, panicking with openssl's own message when it fails.
pub fn openssl(dir: &Utf8Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed by `cargo xtask setup`");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The forms an identity is handed out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// OpenSSL 3's default P12: PBES2 (PBKDF2 HMAC-SHA-256, AES-256-CBC), a SHA-256 MAC.
    P12,
    /// `openssl pkcs12 -export -legacy`: RC2-40 certificates, a 3DES key, a SHA-1 MAC.
    P12Legacy,
    /// PBES2 with AES-128-CBC and a SHA-384 MAC.
    P12Aes128Sha384,
    /// A PEM pair: an unencrypted PKCS #8 key, and a chain file with the CA first.
    Pem,
    /// A PEM pair whose key is encrypted PKCS #8 (`openssl pkcs8 -topk8`'s default).
    PemEncrypted,
}

impl Form {
    /// Every form.
    pub const ALL: [Form; 5] = [Form::P12, Form::P12Legacy, Form::P12Aes128Sha384, Form::Pem, Form::PemEncrypted];
}

/// The files of an identity in one form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Files {
    /// A P12 file.
    P12(Utf8PathBuf),
    /// A PEM key and its chain file.
    Pem {
        /// The key.
        key: Utf8PathBuf,
        /// The certificates.
        chain: Utf8PathBuf,
    },
}

impl Files {
    /// `env` with the variables of `variables` naming these files and holding [`PASSWORD`]
    /// (the other form's variables removed).
    pub fn env(&self, variables: &sea_build::sign::IdentityVariables, env: sea_build::Env) -> sea_build::Env {
        let env = env.without_var(variables.p12).without_var(variables.key).without_var(variables.cert);
        let env = env.with_var(variables.p12_password, PASSWORD).with_var(variables.key_password, PASSWORD);
        match self {
            Files::P12(p12) => env.with_var(variables.p12, p12.as_str()),
            Files::Pem { key, chain } => env.with_var(variables.key, key.as_str()).with_var(variables.cert, chain.as_str()),
        }
    }

    /// A declaration of these files, their passwords in `password_env`.
    pub fn config(&self, password_env: &str) -> sea_build::sign::IdentityConfig {
        let (p12, key, cert) = match self {
            Files::P12(p12) => (Some(p12.clone()), None, None),
            Files::Pem { key, chain } => (None, Some(key.clone()), Some(chain.clone())),
        };
        sea_build::sign::IdentityConfig { p12, p12_password_env: password_env.into(), key, cert, key_password_env: password_env.into() }
    }
}

/// Exports the key and certificate files `key` and `cert` of `dir` (with the certificates in
/// `chain`, when given) in `form`, as files named after `name` there.
pub fn export(dir: &Utf8Path, key: &str, cert: &str, chain: Option<&str>, name: &str, form: Form) -> Files {
    let password = format!("pass:{PASSWORD}");
    let p12 = format!("{name}.p12");
    let mut args = vec!["pkcs12", "-export", "-inkey", key, "-in", cert, "-out", &p12, "-passout", &password];
    if let Some(chain) = chain {
        args.extend(["-certfile", chain]);
    }
    match form {
        Form::P12 => {}
        Form::P12Legacy => args.push("-legacy"),
        Form::P12Aes128Sha384 => args.extend(["-keypbe", "aes-128-cbc", "-certpbe", "aes-128-cbc", "-macalg", "sha384"]),
        Form::Pem | Form::PemEncrypted => {
            let mut pem = chain.map(|chain| std::fs::read(dir.join(chain)).unwrap()).unwrap_or_default();
            pem.extend(std::fs::read(dir.join(cert)).unwrap());
            let chain = dir.join(format!("{name}-chain.pem"));
            std::fs::write(&chain, pem).unwrap();
            if form == Form::Pem {
                return Files::Pem { key: dir.join(key), chain };
            }
            let encrypted = format!("{name}-key-encrypted.pem");
            openssl(dir, &["pkcs8", "-topk8", "-in", key, "-out", &encrypted, "-passout", &password]);
            return Files::Pem { key: dir.join(encrypted), chain };
        }
    }
    openssl(dir, &args);
    Files::P12(dir.join(p12))
}

/// Exports `key` and `cert` (and `chain`) as the P12 file `p12` in `dir`, OpenSSL's defaults.
pub fn export_p12(dir: &Utf8Path, key: &str, cert: &str, chain: Option<&str>, p12: &str) -> Utf8PathBuf {
    match export(dir, key, cert, chain, p12.trim_end_matches(".p12"), Form::P12) {
        Files::P12(path) => path,
        Files::Pem { .. } => unreachable!("a P12 form"),
    }
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
        match self.identity_in(name, start, end, extensions, Form::P12) {
            Files::P12(path) => path,
            Files::Pem { .. } => unreachable!("a P12 form"),
        }
    }

    /// [`TestCa::identity`] in `form`.
    pub fn identity_in(&self, name: &str, start: &str, end: &str, extensions: &str, form: Form) -> Files {
        let dir = self.dir.as_path();
        let (key, csr, pem, ext) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        std::fs::write(dir.join(&ext), extensions).unwrap();
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &format!("/CN={name}")]);
        openssl(dir, &["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", &csr, "-out", &pem, "-startdate", start, "-enddate", end, "-extfile", &ext, "-notext"]);
        export(dir, &key, &pem, Some("ca.pem"), name, form)
    }
}
