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
        self.env_with(variables, env, PASSWORD)
    }

    /// [`Files::env`] with `password` instead of [`PASSWORD`].
    pub fn env_with(&self, variables: &sea_build::sign::IdentityVariables, env: sea_build::Env, password: &str) -> sea_build::Env {
        let env = env.without_var(variables.p12).without_var(variables.key).without_var(variables.cert);
        let env = env.with_var(variables.p12_password, password).with_var(variables.key_password, password);
        match self {
            Files::P12(p12) => env.with_var(variables.p12, p12.as_str()),
            Files::Pem { key, chain } => env.with_var(variables.key, key.as_str()).with_var(variables.cert, chain.as_str()),
        }
    }

    /// The variable of `variables` that holds these files' password.
    pub fn password_variable(&self, variables: &sea_build::sign::IdentityVariables) -> &'static str {
        if matches!(self, Files::P12(_)) { variables.p12_password } else { variables.key_password }
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

/// An identity a user may hand over that cannot sign: what is wrong, its files, the password
/// given, and what the error must say besides the password variable when `names_password`.
#[derive(Debug, Clone)]
pub struct BadIdentity {
    /// What is wrong.
    pub what: &'static str,
    /// The files.
    pub files: Files,
    /// The password given.
    pub password: &'static str,
    /// Words the error must hold.
    pub expected: Vec<&'static str>,
    /// Whether the error must name the password variable.
    pub names_password: bool,
}

impl TestCa {
    /// Every kind of bad identity: a wrong or missing password, a truncated file, a PEM file
    /// given as a P12, a P12 without a key or without a certificate, an unsupported cipher
    /// (Camellia), a key with another's certificate, a chain file without certificates, a
    /// certificate given as the key, and an encrypted key without or with a wrong password.
    pub fn bad_identities(&self) -> Vec<BadIdentity> {
        let dir = self.dir.as_path();
        let code_signing = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n";
        let (from, until) = ("20250101000000Z", "20491231000000Z");
        let good = self.identity_in("good", from, until, code_signing, Form::P12);
        self.identity_in("other", from, until, code_signing, Form::Pem);
        let locked = self.identity_in("locked", from, until, code_signing, Form::PemEncrypted);
        let bytes = std::fs::read(dir.join("good.p12")).unwrap();
        std::fs::write(dir.join("truncated.p12"), &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(dir.join("not-pem.txt"), "a certificate, supposedly").unwrap();
        let pass = format!("pass:{PASSWORD}");
        openssl(dir, &["pkcs12", "-export", "-in", "good.pem", "-nokeys", "-out", "no-key.p12", "-passout", &pass]);
        openssl(dir, &["pkcs12", "-export", "-inkey", "good.key", "-nocerts", "-out", "no-cert.p12", "-passout", &pass]);
        openssl(dir, &["pkcs12", "-export", "-inkey", "good.key", "-in", "good.pem", "-keypbe", "camellia-256-cbc", "-certpbe", "camellia-256-cbc", "-out", "camellia.p12", "-passout", &pass]);
        let p12 = |name: &str| Files::P12(dir.join(name));
        let pem = |key: &str, chain: &str| Files::Pem { key: dir.join(key), chain: dir.join(chain) };
        let bad = |what, files, password, expected: &[&'static str], names_password| BadIdentity { what, files, password, expected: expected.to_vec(), names_password };
        vec![
            bad("wrong password", good.clone(), "not it", &["good.p12", "is wrong"], true),
            bad("no password", good, "", &["good.p12", "is wrong"], true),
            bad("truncated", p12("truncated.p12"), PASSWORD, &["truncated.p12", "damaged", "openssl pkcs12 -export"], false),
            bad("not a P12", p12("ca.pem"), PASSWORD, &["ca.pem", "is not a P12"], false),
            bad("no key", p12("no-key.p12"), PASSWORD, &["no-key.p12", "holds no private key"], false),
            bad("no certificate", p12("no-cert.p12"), PASSWORD, &["no-cert.p12", "holds no certificate"], false),
            bad("unsupported cipher", p12("camellia.p12"), PASSWORD, &["camellia.p12", "the cipher 1.2.392.200011.61.1.1.1.4", "export it again"], false),
            bad("key of another certificate", pem("good.key", "other-chain.pem"), PASSWORD, &["good.key", "does not match any certificate", "other-chain.pem", "other"], false),
            bad("chain without certificates", pem("good.key", "not-pem.txt"), PASSWORD, &["not-pem.txt", "holds no certificate"], false),
            bad("certificate as the key", pem("good.pem", "other-chain.pem"), PASSWORD, &["good.pem", "holds no private key"], false),
            bad("encrypted key without its password", locked.clone(), "", &["locked-key-encrypted.pem", "is encrypted"], true),
            bad("encrypted key, wrong password", locked, "not it", &["locked-key-encrypted.pem", "is wrong"], true),
        ]
    }
}

/// Fails unless `error` is an identity error saying what `bad` must say, naming `variable`
/// when it must.
pub fn assert_says(bad: &BadIdentity, error: &sea_build::Error, variable: &str) {
    assert_eq!(error.kind(), sea_build::ErrorKind::Identity, "{}: {error}", bad.what);
    let text = error.to_string();
    for needle in bad.expected.iter().copied().chain(bad.names_password.then_some(variable)) {
        assert!(text.contains(needle), "{}: `{needle}` not in: {text}", bad.what);
    }
}

/// `cargo xtask inject --sign identity` of `node` with each of `ca`'s bad identities, named by
/// `variables`: each is a clear identity error, and nothing is written.
pub fn assert_inject_refuses_bad_identities(ca: &TestCa, node: &Utf8Path, variables: &sea_build::sign::IdentityVariables, dir: &Utf8Path) {
    let blob = dir.join("refused.blob");
    std::fs::write(&blob, b"a blob").unwrap();
    for (index, bad) in ca.bad_identities().into_iter().enumerate() {
        let env = bad.files.env_with(variables, sea_build::Env::from_process(), bad.password);
        let out = dir.join(format!("refused-{index}"));
        let error = sea_build::commands::inject_file(node, &blob, &out, sea_build::sign::SignMode::Identity, &env).expect_err(bad.what);
        assert_says(&bad, &error, bad.files.password_variable(variables));
        assert!(!out.exists(), "{}: an output was written", bad.what);
    }
}
