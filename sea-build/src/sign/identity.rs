//! A signing identity, read one way for both signers (Mach-O and Authenticode): a private key,
//! the certificate whose public key is that key's (never merely the first in the file), and the
//! rest of the certificates as its chain, embedded in signatures.
//!
//! Two forms: a P12 (PKCS #12) file, legacy (3DES or RC2, SHA-1 MAC) or OpenSSL 3's default
//! (PBES2 with AES, SHA-256 MAC); or a PEM pair, a key (PKCS #8, encrypted or not, or PKCS #1 /
//! SEC1) and a certificate chain file. Every failure is an [`ErrorKind::Identity`] error naming
//! the file and what to do.

use x509_certificate::{CapturedX509Certificate, InMemorySigningKeyPair, Sign};

use super::pkcs12::{self, P12Error};
use crate::der::{self, Reader, oid, sequence, tlv};
use crate::error::{ErrorKind, Result, tagged};

/// How to make a P12 sea-build reads, for messages: OpenSSL's defaults.
///
/// ```
/// assert!(sea_build::sign::identity::P12_EXPORT.starts_with("openssl pkcs12 -export"));
/// ```
pub const P12_EXPORT: &str = "openssl pkcs12 -export -inkey key.pem -in cert.pem -certfile chain.pem -out id.p12";

/// A private key with its certificate and chain.
///
/// ```no_run
/// use sea_build::sign::identity::{Password, SigningIdentity};
/// let password = Password { value: "secret", variable: "MY_KEY_PASSWORD" };
/// let identity = SigningIdentity::from_pem(&std::fs::read("key.pem")?, "key.pem", &std::fs::read("chain.pem")?, "chain.pem", password)?;
/// println!("{} with {} chain certificates", identity.subject(), identity.chain().len());
/// # anyhow::Ok(())
/// ```
pub struct SigningIdentity {
    certificate: CapturedX509Certificate,
    chain: Vec<CapturedX509Certificate>,
    /// The key, as ring signs with it (Authenticode's signer).
    #[cfg_attr(not(feature = "windows"), allow(dead_code))]
    key: InMemorySigningKeyPair,
    /// The key as PKCS #8 `PrivateKeyInfo` DER, for signers that take it in that form (apple-codesign's).
    #[cfg_attr(not(feature = "macos"), allow(dead_code))]
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity").field("subject", &self.subject()).field("chain", &self.chain.len()).finish_non_exhaustive()
    }
}

/// Where a password comes from: its value (`""` when unset) and the variable to name in errors.
///
/// ```
/// let password = sea_build::sign::identity::Password { value: "", variable: "SEA_BUILD_SIGN_P12_PASSWORD" };
/// assert!(password.value.is_empty());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Password<'a> {
    /// The password.
    pub value: &'a str,
    /// The environment variable it was read from.
    pub variable: &'a str,
}

fn error(message: String) -> crate::Error {
    tagged(ErrorKind::Identity, message).into()
}

impl SigningIdentity {
    /// Reads a P12 file's bytes, decrypted with `password`; `origin` names the file in errors.
    ///
    /// ```
    /// use sea_build::sign::identity::{Password, SigningIdentity};
    /// let error = SigningIdentity::from_p12(b"not a p12", Password { value: "", variable: "PW" }, "id.p12").unwrap_err();
    /// assert_eq!(error.kind(), sea_build::ErrorKind::Identity);
    /// assert!(error.to_string().contains("id.p12 is not a P12"));
    /// ```
    pub fn from_p12(bytes: &[u8], password: Password<'_>, origin: &str) -> Result<SigningIdentity> {
        let contents = pkcs12::read(bytes, password.value).map_err(|problem| match problem {
            P12Error::WrongPassword => error(format!("the password for the P12 identity {origin} is wrong: set {} to the password it was exported with", password.variable)),
            P12Error::Unsupported(what) => error(format!("{origin} is a P12 protected with {what}: export it again with OpenSSL's defaults, e.g. `{P12_EXPORT}`")),
            P12Error::Malformed(what) => {
                error(format!("{origin} is not a P12 (PKCS #12) file sea-build can read, or it is damaged ({what}): export the certificate with its private key and chain, e.g. `{P12_EXPORT}`"))
            }
        })?;
        let key = match <[Vec<u8>; 1]>::try_from(contents.keys) {
            Ok([key]) => key,
            Err(keys) if keys.is_empty() => return Err(error(format!("{origin} holds no private key, only certificates: export the certificate together with its private key, e.g. `{P12_EXPORT}`"))),
            Err(keys) => return Err(error(format!("{origin} holds {} private keys, where a signing identity has one: export the one key with its certificate and chain", keys.len()))),
        };
        SigningIdentity::assemble(key, &contents.certificates, origin, origin)
    }

    /// Reads a PEM pair: the private key in `key_pem` (`PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`
    /// decrypted with `password`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`) and the certificates of
    /// `chain_pem` (the key's own among them, in any order). `key_origin` and `chain_origin`
    /// name the files in errors.
    ///
    /// ```
    /// use sea_build::sign::identity::{Password, SigningIdentity};
    /// let error = SigningIdentity::from_pem(b"", "key.pem", b"", "chain.pem", Password { value: "", variable: "PW" }).unwrap_err();
    /// assert!(error.to_string().contains("key.pem holds no private key"));
    /// ```
    pub fn from_pem(key_pem: &[u8], key_origin: &str, chain_pem: &[u8], chain_origin: &str, password: Password<'_>) -> Result<SigningIdentity> {
        let parse =
            |bytes: &[u8], origin: &str| pem::parse_many(bytes).map_err(|problem| error(format!("{origin} is not a PEM file ({problem}): give the key and the certificates as PEM (-----BEGIN ...)")));
        let mut keys = Vec::new();
        for block in parse(key_pem, key_origin)? {
            let contents = block.contents();
            let key = match block.tag() {
                "PRIVATE KEY" => contents.to_vec(),
                "ENCRYPTED PRIVATE KEY" if password.value.is_empty() => {
                    return Err(error(format!("the private key {key_origin} is encrypted: set {} to its password", password.variable)));
                }
                "ENCRYPTED PRIVATE KEY" => pkcs12::decrypt_private_key(contents, password.value).map_err(|problem| match problem {
                    P12Error::WrongPassword => error(format!("the password for the private key {key_origin} is wrong: set {} to the password it was encrypted with", password.variable)),
                    other => {
                        error(format!("the encrypted private key {key_origin} cannot be read ({other}): encrypt it again with OpenSSL's defaults (`openssl pkcs8 -topk8 -in key.pem -out key8.pem`)"))
                    }
                })?,
                "RSA PRIVATE KEY" | "EC PRIVATE KEY" if block.headers().get("Proc-Type").is_some() => {
                    return Err(error(format!(
                        "the private key {key_origin} is encrypted the old OpenSSL way (Proc-Type), which sea-build does not read: convert it to encrypted PKCS #8 with `openssl pkcs8 -topk8 -in key.pem -out key8.pem`"
                    )));
                }
                "RSA PRIVATE KEY" => sequence(&[&der::unsigned_integer(0), &sequence(&[&oid(RSA_ENCRYPTION), &tlv(der::NULL, &[])]), &tlv(der::OCTET_STRING, contents)]),
                "EC PRIVATE KEY" => {
                    sec1_to_pkcs8(contents).ok_or_else(|| error(format!("the EC private key in {key_origin} is damaged or names no curve: convert it with `openssl pkcs8 -topk8 -nocrypt`")))?
                }
                // Certificates beside the key, EC PARAMETERS and the like: not the key.
                _ => continue,
            };
            keys.push(key);
        }
        let mut certificates: Vec<Vec<u8>> = Vec::new();
        for (bytes, origin) in [(chain_pem, chain_origin), (key_pem, key_origin)] {
            certificates.extend(parse(bytes, origin)?.into_iter().filter(|block| block.tag() == "CERTIFICATE").map(|block| block.into_contents()));
        }
        let key = match <[Vec<u8>; 1]>::try_from(keys) {
            Ok([key]) => key,
            Err(keys) if keys.is_empty() => return Err(error(format!("{key_origin} holds no private key (a PEM block PRIVATE KEY or ENCRYPTED PRIVATE KEY): name the key file as `sign-key`"))),
            Err(keys) => return Err(error(format!("{key_origin} holds {} private keys, where a signing identity has one", keys.len()))),
        };
        SigningIdentity::assemble(key, &certificates, key_origin, chain_origin)
    }

    /// The identity of `key` (PKCS #8 DER) among `certificates`: the one with its public key
    /// signs, the others are its chain.
    fn assemble(pkcs8: Vec<u8>, certificates: &[Vec<u8>], key_origin: &str, chain_origin: &str) -> Result<SigningIdentity> {
        let key = InMemorySigningKeyPair::from_pkcs8_der(&pkcs8)
            .map_err(|problem| error(format!("the private key in {key_origin} is not one sea-build can sign with ({problem}): use an RSA key of 2048 to 4096 bits, or an ECDSA P-256 or P-384 key")))?;
        let mut parsed: Vec<CapturedX509Certificate> = Vec::new();
        for bytes in certificates {
            let certificate = CapturedX509Certificate::from_der(bytes.clone()).map_err(|problem| error(format!("a certificate in {chain_origin} is damaged ({problem})")))?;
            if !parsed.iter().any(|known| known.constructed_data() == certificate.constructed_data()) {
                parsed.push(certificate);
            }
        }
        if parsed.is_empty() {
            return Err(error(format!("{chain_origin} holds no certificate: give the key's certificate (and the chain up to its CA) with it")));
        }
        let public_key = key.public_key_data();
        let Some(index) = parsed.iter().position(|certificate| certificate.public_key_data() == public_key) else {
            let subjects: Vec<String> = parsed.iter().map(|c| c.subject_common_name().unwrap_or_else(|| "(no common name)".into())).collect();
            return Err(error(format!("the private key in {key_origin} does not match any certificate in {chain_origin} ({}): give the key together with its own certificate", subjects.join(", "))));
        };
        let certificate = parsed.remove(index);
        Ok(SigningIdentity { certificate, chain: parsed, key, pkcs8 })
    }

    /// The signing certificate: the one whose public key is the key's.
    pub fn certificate(&self) -> &CapturedX509Certificate {
        &self.certificate
    }

    /// The other certificates, in file order: the chain embedded beside the signer's.
    pub fn chain(&self) -> &[CapturedX509Certificate] {
        &self.chain
    }

    /// The signing certificate's subject common name, for messages.
    pub fn subject(&self) -> String {
        self.certificate.subject_common_name().unwrap_or_else(|| "(no common name)".to_owned())
    }

    /// The key, as a signer.
    #[cfg(feature = "windows")]
    pub(crate) fn key(&self) -> &InMemorySigningKeyPair {
        &self.key
    }

    /// The key as PKCS #8 DER.
    #[cfg(feature = "macos")]
    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];

/// A SEC1 `ECPrivateKey` as PKCS #8, its curve moved to the algorithm identifier (the inner
/// key keeps its scalar and public key, which the signers need).
fn sec1_to_pkcs8(sec1: &[u8]) -> Option<Vec<u8>> {
    let key = Reader::new(sec1).expect(der::SEQUENCE, "ECPrivateKey").ok()?;
    let mut fields = Reader::new(key.contents);
    let version = fields.expect(der::INTEGER, "version").ok()?;
    let scalar = fields.expect(der::OCTET_STRING, "privateKey").ok()?;
    let curve = fields.optional(der::context(0)).ok()??;
    let curve = Reader::new(curve.contents).expect(der::OID, "namedCurve").ok()?;
    let public = fields.optional(der::context(1)).ok()?;
    let inner = sequence(&[version.raw, scalar.raw, public.map_or(&[][..], |public| public.raw)]);
    Some(sequence(&[&der::unsigned_integer(0), &sequence(&[&oid(EC_PUBLIC_KEY), curve.raw]), &tlv(der::OCTET_STRING, &inner)]))
}
