//! PKCS #12 (RFC 7292) and encrypted PKCS #8 (RFC 5958) read over the crate's DER reader: the
//! keys and certificates of a P12 file, checked with its MAC and decrypted.
//!
//! ```text
//! PFX { version 3, authSafe ContentInfo { data, [0] OCTET STRING { AuthenticatedSafe } },
//!       macData { DigestInfo { digest algorithm, mac }, salt, iterations } }
//! AuthenticatedSafe: SEQUENCE OF ContentInfo, each data (SafeContents) or encryptedData
//!   { version, { data, encryption algorithm, [0] IMPLICIT encrypted SafeContents } }
//! SafeContents: SEQUENCE OF SafeBag { bag id, [0] value, attributes }
//!   keyBag: PrivateKeyInfo; pkcs8ShroudedKeyBag: EncryptedPrivateKeyInfo; certBag: { x509, [0] OCTET STRING }
//! ```
//!
//! Encryption is PKCS #12's own PBE (SHA-1 key derivation, 3DES or RC2: the legacy forms) or
//! PBES2 (PBKDF2, AES-CBC: OpenSSL 3's default). The MAC key comes from PKCS #12's key
//! derivation with the MAC's digest. Every failure is a [`P12Error`], never a panic: these
//! bytes come from users' files.

use aes::cipher::{BlockDecryptMut, InnerIvInit, KeyIvInit, block_padding::Pkcs7};
use ring::{digest, hmac, pbkdf2};

use crate::der::{self, Element, Reader, context, oid};

/// Why a P12 or an encrypted key could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum P12Error {
    /// Not the expected DER structure; says what was being read.
    Malformed(String),
    /// The MAC does not match, or the decrypted data is not padded as it must be.
    WrongPassword,
    /// An algorithm (named) this reader does not implement.
    Unsupported(String),
}

impl std::fmt::Display for P12Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            P12Error::Malformed(what) => write!(f, "damaged or not PKCS #12 ({what})"),
            P12Error::WrongPassword => f.write_str("the password is wrong"),
            P12Error::Unsupported(what) => write!(f, "{what} is not supported"),
        }
    }
}

type Result<T> = std::result::Result<T, P12Error>;

/// The keys (PKCS #8 `PrivateKeyInfo` DER) and certificates (X.509 DER) of a P12, in file order.
#[derive(Debug, Default)]
pub(crate) struct Contents {
    pub keys: Vec<Vec<u8>>,
    pub certificates: Vec<Vec<u8>>,
}

// OIDs, by arcs.
const DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 1];
const ENCRYPTED_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 6];
const KEY_BAG: &[u64] = &[1, 2, 840, 113549, 1, 12, 10, 1, 1];
const SHROUDED_KEY_BAG: &[u64] = &[1, 2, 840, 113549, 1, 12, 10, 1, 2];
const CERT_BAG: &[u64] = &[1, 2, 840, 113549, 1, 12, 10, 1, 3];
const SAFE_CONTENTS_BAG: &[u64] = &[1, 2, 840, 113549, 1, 12, 10, 1, 6];
const X509_CERTIFICATE: &[u64] = &[1, 2, 840, 113549, 1, 9, 22, 1];
const PBE_SHA1_3DES: &[u64] = &[1, 2, 840, 113549, 1, 12, 1, 3];
const PBE_SHA1_2DES: &[u64] = &[1, 2, 840, 113549, 1, 12, 1, 4];
const PBE_SHA1_RC2_128: &[u64] = &[1, 2, 840, 113549, 1, 12, 1, 5];
const PBE_SHA1_RC2_40: &[u64] = &[1, 2, 840, 113549, 1, 12, 1, 6];
const PBES2: &[u64] = &[1, 2, 840, 113549, 1, 5, 13];
const PBKDF2: &[u64] = &[1, 2, 840, 113549, 1, 5, 12];
const PBMAC1: &[u64] = &[1, 2, 840, 113549, 1, 5, 14];
const HMAC_SHA1: &[u64] = &[1, 2, 840, 113549, 2, 7];
const HMAC_SHA256: &[u64] = &[1, 2, 840, 113549, 2, 9];
const HMAC_SHA384: &[u64] = &[1, 2, 840, 113549, 2, 10];
const HMAC_SHA512: &[u64] = &[1, 2, 840, 113549, 2, 11];
const AES128_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 2];
const AES192_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 22];
const AES256_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 42];
const DES_EDE3_CBC: &[u64] = &[1, 2, 840, 113549, 3, 7];
const SHA1: &[u64] = &[1, 3, 14, 3, 2, 26];
const SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
const SHA384: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 2];
const SHA512: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 3];

/// More iterations than any exporter writes (OpenSSL 2048, Windows 2000 to 600,000): refused
/// rather than spending minutes on a damaged count.
const MAX_ITERATIONS: u32 = 10_000_000;

/// Nested SafeContents bags deeper than this are refused (each level is a recursion).
const MAX_DEPTH: usize = 4;

fn malformed(what: &str) -> impl Fn(anyhow::Error) -> P12Error + '_ {
    move |error| P12Error::Malformed(format!("{what}: {error}"))
}

fn expect<'a>(reader: &mut Reader<'a>, tag: u8, what: &str) -> Result<Element<'a>> {
    reader.expect(tag, what).map_err(|error| P12Error::Malformed(format!("{error}")))
}

/// The only element of `bytes`, which must have `tag`.
fn single<'a>(bytes: &'a [u8], tag: u8, what: &str) -> Result<Element<'a>> {
    let mut reader = Reader::new(bytes);
    let element = expect(&mut reader, tag, what)?;
    if !reader.is_empty() {
        return Err(P12Error::Malformed(format!("{what} is followed by stray bytes")));
    }
    Ok(element)
}

/// An OID element compared with `arcs`.
fn is(element: &Element<'_>, arcs: &[u64]) -> bool {
    element.raw == oid(arcs)
}

/// A non-negative INTEGER that fits a `u32`.
fn small_integer(element: &Element<'_>, what: &str) -> Result<u32> {
    let bytes = element.contents;
    let trimmed = bytes.strip_prefix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() || bytes[0] & 0x80 != 0 || trimmed.len() > 4 {
        return Err(P12Error::Malformed(format!("{what} is not a small positive integer")));
    }
    Ok(trimmed.iter().fold(0u32, |value, &byte| value << 8 | u32::from(byte)))
}

/// An iteration count, within [`MAX_ITERATIONS`].
fn iterations(element: &Element<'_>) -> Result<u32> {
    match small_integer(element, "the iteration count")? {
        0 => Err(P12Error::Malformed("an iteration count of 0".into())),
        count if count > MAX_ITERATIONS => Err(P12Error::Unsupported(format!("an iteration count of {count} (at most {MAX_ITERATIONS})"))),
        count => Ok(count),
    }
}

/// The password as PKCS #12's own key derivation takes it: BMPString, two zero bytes after.
/// An empty password is tried both that way and as no bytes at all, as OpenSSL does.
fn bmp_passwords(password: &str) -> Vec<Vec<u8>> {
    let mut bmp = der::bmp(password);
    bmp.extend_from_slice(&[0, 0]);
    if password.is_empty() { vec![bmp, Vec::new()] } else { vec![bmp] }
}

/// PKCS #12's key derivation (RFC 7292, appendix B.2): `len` bytes of purpose `id` (1 key,
/// 2 IV, 3 MAC key) from the BMP password and the salt, with `hash`.
fn derive(hash: &'static digest::Algorithm, id: u8, password: &[u8], salt: &[u8], rounds: u32, len: usize) -> Vec<u8> {
    let (u, v) = (hash.output_len(), hash.block_len());
    let stretch = |bytes: &[u8]| -> Vec<u8> { if bytes.is_empty() { Vec::new() } else { bytes.iter().copied().cycle().take(bytes.len().div_ceil(v) * v).collect() } };
    let mut input = stretch(salt);
    input.extend(stretch(password));
    let mut out = Vec::with_capacity(len.div_ceil(u) * u);
    while out.len() < len {
        let mut context = digest::Context::new(hash);
        context.update(&vec![id; v]);
        context.update(&input);
        let mut a = context.finish();
        for _ in 1..rounds {
            a = digest::digest(hash, a.as_ref());
        }
        let b: Vec<u8> = a.as_ref().iter().copied().cycle().take(v).collect();
        // Each v-byte block of the input becomes (block + b + 1) mod 2^(8v).
        for block in input.chunks_mut(v) {
            let mut carry = 1u16;
            for (byte, add) in block.iter_mut().zip(&b).rev() {
                let sum = u16::from(*byte) + u16::from(*add) + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
        }
        out.extend_from_slice(a.as_ref());
    }
    out.truncate(len);
    out
}

/// Reads a P12 and decrypts it with `password`.
pub(crate) fn read(bytes: &[u8], password: &str) -> Result<Contents> {
    let pfx = single(bytes, der::SEQUENCE, "the PFX")?;
    let mut fields = Reader::new(pfx.contents);
    let version = expect(&mut fields, der::INTEGER, "the PFX version")?;
    if small_integer(&version, "the PFX version")? != 3 {
        return Err(P12Error::Unsupported("a PFX version other than 3".into()));
    }
    let auth_safe = expect(&mut fields, der::SEQUENCE, "the authenticated safe")?;
    let content = data_content(auth_safe.contents)?;
    let mac_data = if fields.is_empty() { None } else { Some(expect(&mut fields, der::SEQUENCE, "the MAC data")?) };
    let password_bytes = match mac_data {
        Some(mac_data) => Some(check_mac(mac_data.contents, &content, password)?),
        None => None,
    };
    let mut contents = Contents::default();
    let safes = single(&content, der::SEQUENCE, "the authenticated safe")?;
    let mut safes = Reader::new(safes.contents);
    while !safes.is_empty() {
        let info = expect(&mut safes, der::SEQUENCE, "a content info")?;
        let mut parts = Reader::new(info.contents);
        let kind = expect(&mut parts, der::OID, "a content type")?;
        let explicit = expect(&mut parts, context(0), "a content")?;
        let safe_contents = if is(&kind, DATA) {
            octet_string(explicit.contents, "the data")?
        } else if is(&kind, ENCRYPTED_DATA) {
            encrypted_data(explicit.contents, password, password_bytes.as_deref())?
        } else {
            return Err(P12Error::Unsupported("a content type other than data and encrypted data (public-key enveloped P12 files)".into()));
        };
        read_bags(&safe_contents, password, password_bytes.as_deref(), &mut contents, 0)?;
    }
    Ok(contents)
}

/// The octets of a `data` ContentInfo's `[0]` contents.
fn data_content(content_info: &[u8]) -> Result<Vec<u8>> {
    let mut parts = Reader::new(content_info);
    let kind = expect(&mut parts, der::OID, "the authenticated safe's type")?;
    if !is(&kind, DATA) {
        return Err(P12Error::Unsupported("an authenticated safe signed with public keys instead of a password MAC".into()));
    }
    let explicit = expect(&mut parts, context(0), "the authenticated safe's content")?;
    octet_string(explicit.contents, "the authenticated safe")
}

/// The value of the OCTET STRING in `bytes`, primitive or BER-constructed from pieces (as some
/// exporters write large contents).
fn octet_string(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    let element = Reader::new(bytes).peek().map_err(malformed(what))?;
    match element.tag {
        der::OCTET_STRING => Ok(single(bytes, der::OCTET_STRING, what)?.contents.to_vec()),
        0x24 => pieces(single(bytes, 0x24, what)?.contents, what),
        other => Err(P12Error::Malformed(format!("{what}: expected an OCTET STRING, found tag {other:#04x}"))),
    }
}

/// The concatenated primitive OCTET STRINGs inside a constructed one.
fn pieces(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    let (mut reader, mut out) = (Reader::new(bytes), Vec::new());
    while !reader.is_empty() {
        out.extend_from_slice(expect(&mut reader, der::OCTET_STRING, what)?.contents);
    }
    Ok(out)
}

/// Checks the MAC over `content`; returns the BMP password bytes that matched.
fn check_mac(mac_data: &[u8], content: &[u8], password: &str) -> Result<Vec<u8>> {
    let mut fields = Reader::new(mac_data);
    let digest_info = expect(&mut fields, der::SEQUENCE, "the MAC")?;
    let salt = expect(&mut fields, der::OCTET_STRING, "the MAC salt")?;
    let rounds = match fields.optional(der::INTEGER).map_err(malformed("the MAC iterations"))? {
        Some(count) => iterations(&count)?,
        None => 1,
    };
    let mut info = Reader::new(digest_info.contents);
    let algorithm = expect(&mut info, der::SEQUENCE, "the MAC algorithm")?;
    let expected = expect(&mut info, der::OCTET_STRING, "the MAC value")?;
    let id = expect(&mut Reader::new(algorithm.contents), der::OID, "the MAC algorithm")?;
    let (hash, key_algorithm) = if is(&id, SHA1) {
        (&digest::SHA1_FOR_LEGACY_USE_ONLY, hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY)
    } else if is(&id, SHA256) {
        (&digest::SHA256, hmac::HMAC_SHA256)
    } else if is(&id, SHA384) {
        (&digest::SHA384, hmac::HMAC_SHA384)
    } else if is(&id, SHA512) {
        (&digest::SHA512, hmac::HMAC_SHA512)
    } else if is(&id, PBMAC1) {
        return Err(P12Error::Unsupported("the PBMAC1 integrity check (RFC 9579)".into()));
    } else {
        return Err(P12Error::Unsupported(format!("a MAC with the digest {}", dotted(&id))));
    };
    for bytes in bmp_passwords(password) {
        let key = derive(hash, 3, &bytes, salt.contents, rounds, hash.output_len());
        if hmac::verify(&hmac::Key::new(key_algorithm, &key), content, expected.contents).is_ok() {
            return Ok(bytes);
        }
    }
    Err(P12Error::WrongPassword)
}

/// Decrypts an EncryptedData's SafeContents.
fn encrypted_data(explicit: &[u8], password: &str, bmp: Option<&[u8]>) -> Result<Vec<u8>> {
    let data = single(explicit, der::SEQUENCE, "the encrypted data")?;
    let mut fields = Reader::new(data.contents);
    expect(&mut fields, der::INTEGER, "the encrypted data's version")?;
    let info = expect(&mut fields, der::SEQUENCE, "the encrypted content info")?;
    let mut parts = Reader::new(info.contents);
    expect(&mut parts, der::OID, "the encrypted content's type")?;
    let algorithm = expect(&mut parts, der::SEQUENCE, "the encryption algorithm")?;
    let encrypted = match parts.next().map_err(malformed("the encrypted content"))? {
        element if element.tag == 0x80 => element.contents.to_vec(),
        element if element.tag == 0xA0 => pieces(element.contents, "the encrypted content")?,
        element => return Err(P12Error::Malformed(format!("the encrypted content has tag {:#04x}", element.tag))),
    };
    decrypt(algorithm.contents, &encrypted, password, bmp)
}

/// Reads the bags of a SafeContents into `contents`.
fn read_bags(safe_contents: &[u8], password: &str, bmp: Option<&[u8]>, contents: &mut Contents, depth: usize) -> Result<()> {
    let bags = single(safe_contents, der::SEQUENCE, "the safe contents")?;
    let mut bags = Reader::new(bags.contents);
    while !bags.is_empty() {
        let bag = expect(&mut bags, der::SEQUENCE, "a safe bag")?;
        let mut parts = Reader::new(bag.contents);
        let id = expect(&mut parts, der::OID, "a bag's type")?;
        let value = expect(&mut parts, context(0), "a bag's value")?.contents;
        if is(&id, KEY_BAG) {
            contents.keys.push(single(value, der::SEQUENCE, "a private key")?.raw.to_vec());
        } else if is(&id, SHROUDED_KEY_BAG) {
            contents.keys.push(decrypt_private_key_with(value, password, bmp)?);
        } else if is(&id, CERT_BAG) {
            let cert_bag = single(value, der::SEQUENCE, "a certificate bag")?;
            let mut fields = Reader::new(cert_bag.contents);
            let kind = expect(&mut fields, der::OID, "a certificate's type")?;
            let certificate = expect(&mut fields, context(0), "a certificate")?;
            // SDSI certificates and the like are no signer's: skipped.
            if is(&kind, X509_CERTIFICATE) {
                contents.certificates.push(octet_string(certificate.contents, "a certificate")?);
            }
        } else if is(&id, SAFE_CONTENTS_BAG) {
            if depth >= MAX_DEPTH {
                return Err(P12Error::Malformed("safe contents nested too deep".into()));
            }
            read_bags(value, password, bmp, contents, depth + 1)?;
        }
        // CRL and secret bags carry nothing a signer uses.
    }
    Ok(())
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` (an encrypted PKCS #8 key, as `openssl genpkey
/// -aes256` writes it) to its `PrivateKeyInfo` DER.
pub(crate) fn decrypt_private_key(bytes: &[u8], password: &str) -> Result<Vec<u8>> {
    decrypt_private_key_with(bytes, password, None)
}

fn decrypt_private_key_with(bytes: &[u8], password: &str, bmp: Option<&[u8]>) -> Result<Vec<u8>> {
    let info = single(bytes, der::SEQUENCE, "an encrypted private key")?;
    let mut fields = Reader::new(info.contents);
    let algorithm = expect(&mut fields, der::SEQUENCE, "the key's encryption algorithm")?;
    let encrypted = expect(&mut fields, der::OCTET_STRING, "the encrypted key")?;
    let key = decrypt(algorithm.contents, encrypted.contents, password, bmp)?;
    // A wrong password that happens to leave valid padding leaves no key behind it.
    let mut reader = Reader::new(&key);
    match reader.next() {
        Ok(element) if element.tag == der::SEQUENCE && reader.is_empty() => Ok(key),
        _ => Err(P12Error::WrongPassword),
    }
}

/// Decrypts `data` as the AlgorithmIdentifier `algorithm` (its contents) says. PKCS #12's PBE
/// takes the BMP password (`bmp`, the one the MAC matched, else tried every way); PBES2 the
/// password's UTF-8 bytes.
fn decrypt(algorithm: &[u8], data: &[u8], password: &str, bmp: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut parts = Reader::new(algorithm);
    let id = expect(&mut parts, der::OID, "an encryption algorithm")?;
    let params = expect(&mut parts, der::SEQUENCE, "the encryption parameters")?;
    if is(&id, PBES2) {
        return pbes2(params.contents, data, password);
    }
    let cipher = [(PBE_SHA1_3DES, Cipher::TripleDes, 24), (PBE_SHA1_2DES, Cipher::TripleDes, 16), (PBE_SHA1_RC2_128, Cipher::Rc2(128), 16), (PBE_SHA1_RC2_40, Cipher::Rc2(40), 5)]
        .into_iter()
        .find(|(arcs, _, _)| is(&id, arcs));
    let Some((_, cipher, key_len)) = cipher else { return Err(P12Error::Unsupported(format!("the encryption algorithm {}", dotted(&id)))) };
    let mut fields = Reader::new(params.contents);
    let salt = expect(&mut fields, der::OCTET_STRING, "the PBE salt")?;
    let rounds = iterations(&expect(&mut fields, der::INTEGER, "the PBE iterations")?)?;
    let candidates = match bmp {
        Some(bytes) => vec![bytes.to_vec()],
        None => bmp_passwords(password),
    };
    let hash = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let mut last = P12Error::WrongPassword;
    for bytes in candidates {
        let mut key = derive(hash, 1, &bytes, salt.contents, rounds, key_len);
        if key_len == 16 && cipher == Cipher::TripleDes {
            // Two-key triple DES: K1 K2 K1.
            key.extend_from_within(..8);
        }
        let iv = derive(hash, 2, &bytes, salt.contents, rounds, 8);
        match cipher.decrypt(&key, &iv, data) {
            Ok(plain) => return Ok(plain),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// PBES2 (RFC 8018): PBKDF2 derives the key, a block cipher in CBC mode decrypts.
fn pbes2(params: &[u8], data: &[u8], password: &str) -> Result<Vec<u8>> {
    let mut fields = Reader::new(params);
    let kdf = expect(&mut fields, der::SEQUENCE, "the key derivation function")?;
    let scheme = expect(&mut fields, der::SEQUENCE, "the encryption scheme")?;
    let mut kdf = Reader::new(kdf.contents);
    let kdf_id = expect(&mut kdf, der::OID, "the key derivation function")?;
    if !is(&kdf_id, PBKDF2) {
        return Err(P12Error::Unsupported(format!("the key derivation function {} (PBKDF2 is)", dotted(&kdf_id))));
    }
    let kdf_params = expect(&mut kdf, der::SEQUENCE, "the PBKDF2 parameters")?;
    let mut kdf_fields = Reader::new(kdf_params.contents);
    let salt = expect(&mut kdf_fields, der::OCTET_STRING, "the PBKDF2 salt (only a specified salt is allowed)")?;
    let rounds = iterations(&expect(&mut kdf_fields, der::INTEGER, "the PBKDF2 iterations")?)?;
    let key_len = kdf_fields.optional(der::INTEGER).map_err(malformed("the PBKDF2 key length"))?.map(|len| small_integer(&len, "the PBKDF2 key length")).transpose()?;
    let prf = match kdf_fields.optional(der::SEQUENCE).map_err(malformed("the PBKDF2 PRF"))? {
        None => pbkdf2::PBKDF2_HMAC_SHA1,
        Some(prf) => {
            let id = expect(&mut Reader::new(prf.contents), der::OID, "the PBKDF2 PRF")?;
            match [HMAC_SHA1, HMAC_SHA256, HMAC_SHA384, HMAC_SHA512].iter().position(|arcs| is(&id, arcs)) {
                Some(0) => pbkdf2::PBKDF2_HMAC_SHA1,
                Some(1) => pbkdf2::PBKDF2_HMAC_SHA256,
                Some(2) => pbkdf2::PBKDF2_HMAC_SHA384,
                Some(3) => pbkdf2::PBKDF2_HMAC_SHA512,
                _ => return Err(P12Error::Unsupported(format!("the PBKDF2 PRF {}", dotted(&id)))),
            }
        }
    };
    let mut scheme = Reader::new(scheme.contents);
    let cipher_id = expect(&mut scheme, der::OID, "the encryption scheme")?;
    let (cipher, len) = if is(&cipher_id, AES128_CBC) {
        (Cipher::Aes, 16)
    } else if is(&cipher_id, AES192_CBC) {
        (Cipher::Aes, 24)
    } else if is(&cipher_id, AES256_CBC) {
        (Cipher::Aes, 32)
    } else if is(&cipher_id, DES_EDE3_CBC) {
        (Cipher::TripleDes, 24)
    } else {
        return Err(P12Error::Unsupported(format!("the cipher {}", dotted(&cipher_id))));
    };
    if key_len.is_some_and(|key_len| key_len as usize != len) {
        return Err(P12Error::Malformed("the PBKDF2 key length does not fit the cipher".into()));
    }
    let iv = expect(&mut scheme, der::OCTET_STRING, "the cipher's IV")?;
    let mut key = vec![0; len];
    let rounds = std::num::NonZeroU32::new(rounds).ok_or_else(|| P12Error::Malformed("an iteration count of 0".into()))?;
    pbkdf2::derive(prf, rounds, salt.contents, password.as_bytes(), &mut key);
    cipher.decrypt(&key, iv.contents, data)
}

/// The block ciphers of the schemes above, in CBC mode with PKCS #7 padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cipher {
    TripleDes,
    /// RC2 with this many effective key bits.
    Rc2(usize),
    /// AES, its size from the key's length.
    Aes,
}

impl Cipher {
    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        fn run<C: KeyIvInit + BlockDecryptMut>(cipher: C, data: &[u8]) -> Result<Vec<u8>> {
            let mut buffer = data.to_vec();
            let len = cipher.decrypt_padded_mut::<Pkcs7>(&mut buffer).map_err(|_| P12Error::WrongPassword)?.len();
            buffer.truncate(len);
            Ok(buffer)
        }
        let bad = |_| P12Error::Malformed("the IV's length does not fit the cipher".into());
        match (self, key.len()) {
            (Cipher::TripleDes, _) => run(cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv).map_err(bad)?, data),
            (Cipher::Rc2(bits), _) => {
                let rc2 = rc2::Rc2::new_with_eff_key_len(key, bits);
                let iv = <[u8; 8]>::try_from(iv).map_err(|_| P12Error::Malformed("the IV's length does not fit the cipher".into()))?;
                run(cbc::Decryptor::<rc2::Rc2>::inner_iv_init(rc2, &iv.into()), data)
            }
            (Cipher::Aes, 16) => run(cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv).map_err(bad)?, data),
            (Cipher::Aes, 24) => run(cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv).map_err(bad)?, data),
            (Cipher::Aes, _) => run(cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv).map_err(bad)?, data),
        }
    }
}

/// An OID's dotted form, for messages (its raw bytes when it is not a valid OID).
fn dotted(element: &Element<'_>) -> String {
    let mut arcs = Vec::new();
    let mut value = 0u64;
    for &byte in element.contents {
        value = value.saturating_mul(128) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let Some(&first) = arcs.first() else { return "(empty OID)".into() };
    let (a, b) = if first < 80 { (first / 40, first % 40) } else { (2, first - 80) };
    std::iter::once(a).chain(std::iter::once(b)).chain(arcs[1..].iter().copied()).map(|arc| arc.to_string()).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_derivation_matches_rfc_7292_vectors() {
        // A vector OpenSSL's and BouncyCastle's test suites share: password "smeg", SHA-1.
        let password: Vec<u8> = bmp_passwords("smeg").remove(0);
        let salt = [0x0A, 0x58, 0xCF, 0x64, 0x53, 0x0D, 0x82, 0x3F];
        let key = derive(&digest::SHA1_FOR_LEGACY_USE_ONLY, 1, &password, &salt, 1, 24);
        assert_eq!(key, [0x8A, 0xAA, 0xE6, 0x29, 0x7B, 0x6C, 0xB0, 0x46, 0x42, 0xAB, 0x5B, 0x07, 0x78, 0x51, 0x28, 0x4E, 0xB7, 0x12, 0x8F, 0x1A, 0x2A, 0x7F, 0xBC, 0xA3]);
        let iv = derive(&digest::SHA1_FOR_LEGACY_USE_ONLY, 2, &password, &salt, 1, 8);
        assert_eq!(iv, [0x79, 0x99, 0x3D, 0xFE, 0x04, 0x8D, 0x3B, 0x76]);
    }

    #[test]
    fn damaged_input_is_an_error_at_every_length() {
        let p12 = der::sequence(&[&der::unsigned_integer(3), &der::sequence(&[&oid(DATA), &der::constructed(context(0), &[&der::tlv(der::OCTET_STRING, &der::sequence(&[]))])])]);
        assert_eq!(read(&p12, "").unwrap().keys.len(), 0);
        for len in 0..p12.len() {
            assert!(read(&p12[..len], "").is_err(), "{len}");
        }
        assert_eq!(dotted(&Reader::new(&oid(AES256_CBC)).next().unwrap()), "2.16.840.1.101.3.4.1.42");
    }
}
