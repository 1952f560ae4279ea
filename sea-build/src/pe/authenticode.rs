//! Authenticode signatures on PE images, written by sea-build itself: the image hash, the
//! `SpcIndirectDataContent` that carries it, a PKCS #7 `SignedData` signed with an
//! identity's key and carrying its chain, and the attribute certificate table that holds it.
//!
//! ```text
//! image hash (SHA-256): every byte of the file except the CheckSum field, the certificate
//!   table's data directory entry (index 4) and the table itself
//! WIN_CERTIFICATE { u32 length, u16 revision 0x0200, u16 type 2 (PKCS_SIGNED_DATA),
//!   ContentInfo { signedData, SignedData {
//!     version 1, digestAlgorithms { sha256 },
//!     contentInfo { SPC_INDIRECT_DATA, [0] SpcIndirectDataContent {
//!       SpcAttributeTypeAndOptionalValue { SPC_PE_IMAGE_DATA, SpcPeImageData { flags, file } },
//!       DigestInfo { sha256, image hash } } },
//!     certificates [0] { the signer's certificate and the rest of the identity's chain },
//!     signerInfos { SignerInfo { version 1, issuer and serial, sha256,
//!       [0] signed attributes { contentType, messageDigest (of the content's value, without its
//!         SEQUENCE header), SpcSpOpusInfo (program name), statement type (individual),
//!         signingTime only with SOURCE_DATE_EPOCH },
//!       signature algorithm, signature, [1] unsigned attributes { RFC 3161 time stamp } } } } }
//!   padded to 8 bytes }
//! ```
//!
//! The table is appended at the end of the file (the file first padded to 8 bytes, the
//! padding hashed), the directory entry points at it by file offset, and the CheckSum is
//! recomputed over the result. RSA signatures (PKCS #1 v1.5) are deterministic, so without a
//! signing time and a time stamp the same image and identity give the same bytes; ECDSA
//! signatures are randomised by design and differ on every run.
//!
//! Everything here works on bytes: the identity arrives read, and a time stamp comes from a
//! function the caller supplies (the network is the caller's business).

use anyhow::{Context, Result, bail, ensure};
use object::pe::IMAGE_DIRECTORY_ENTRY_SECURITY;
use ring::digest::{Context as Digest, SHA256};
use x509_certificate::{Sign, SignatureAlgorithm, Signer};

use crate::sign::identity::SigningIdentity;

use super::{PeHeaders, checksum_skipping, put_u32};
use crate::der::{self, Reader, constructed, context, context_primitive, oid, sequence, set_of, tlv};

/// `WIN_CERT_REVISION_2_0`.
const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `WIN_CERT_TYPE_PKCS_SIGNED_DATA`.
const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;

const OID_SIGNED_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 2];
const OID_SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
const OID_SPC_INDIRECT_DATA: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 2, 1, 4];
const OID_SPC_PE_IMAGE_DATA: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 2, 1, 15];
const OID_SPC_SP_OPUS_INFO: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 2, 1, 12];
const OID_SPC_STATEMENT_TYPE: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 2, 1, 11];
const OID_SPC_INDIVIDUAL_SP_KEY_PURPOSE: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 2, 1, 21];
/// Where signtool and osslsigncode put an RFC 3161 time-stamp token (`SPC_RFC3161_OBJID`).
const OID_SPC_RFC3161: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 3, 3, 1];
const OID_CONTENT_TYPE: &[u64] = &[1, 2, 840, 113549, 1, 9, 3];
const OID_MESSAGE_DIGEST: &[u64] = &[1, 2, 840, 113549, 1, 9, 4];
const OID_SIGNING_TIME: &[u64] = &[1, 2, 840, 113549, 1, 9, 5];
const OID_RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// The code-signing extended key usage (`id-kp-codeSigning`).
const OID_CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];

/// A Windows code-signing identity: a [`SigningIdentity`] whose certificate may sign code.
pub struct AuthenticodeIdentity {
    identity: SigningIdentity,
}

impl std::fmt::Debug for AuthenticodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticodeIdentity").field("subject", &self.subject()).field("chain", &self.identity.chain().len()).finish_non_exhaustive()
    }
}

impl AuthenticodeIdentity {
    /// Checks that `identity`'s certificate can sign Windows code at `now` (seconds since the
    /// Unix epoch): it must carry the code-signing extended key usage and be within its
    /// validity period. `origin` names the identity's file in errors.
    ///
    /// ```no_run
    /// use sea_build::pe::authenticode::AuthenticodeIdentity;
    /// use sea_build::sign::identity::{Password, SigningIdentity};
    /// let read = SigningIdentity::from_p12(&std::fs::read("id.p12")?, Password { value: "secret", variable: "PW" }, "id.p12")?;
    /// let identity = AuthenticodeIdentity::new(read, "id.p12", 1_800_000_000)?;
    /// # anyhow::Ok(())
    /// ```
    pub fn new(identity: SigningIdentity, origin: &str, now: i64) -> crate::Result<AuthenticodeIdentity> {
        let identity = AuthenticodeIdentity { identity };
        crate::error::typed_as(crate::ErrorKind::Identity, || identity.check_usable(origin, now))?;
        Ok(identity)
    }

    /// The certificate's subject common name, for messages.
    pub fn subject(&self) -> String {
        self.identity.subject()
    }

    /// Fails unless the certificate carries the code-signing extended key usage and `now`
    /// lies in its validity period.
    fn check_usable(&self, origin: &str, now: i64) -> Result<()> {
        let subject = self.subject();
        let certificate = self.identity.certificate();
        let usages = extended_key_usages(certificate.constructed_data()).with_context(|| format!("the certificate `{subject}` in {origin} is damaged"))?;
        if !usages.iter().any(|usage| usage == &oid(OID_CODE_SIGNING)) {
            bail!(
                "the certificate `{subject}` in {origin} does not allow code signing: Windows accepts Authenticode signatures only from certificates with the code-signing extended key usage (1.3.6.1.5.5.7.3.3); use a code-signing certificate (for a test identity: openssl ... -addext extendedKeyUsage=codeSigning)"
            );
        }
        let (not_before, not_after) = (certificate.validity_not_before(), certificate.validity_not_after());
        if now > not_after.timestamp() {
            bail!("the certificate `{subject}` in {origin} expired on {not_after}: signatures made with it are refused; renew it and export the new one");
        }
        if now < not_before.timestamp() {
            bail!("the certificate `{subject}` in {origin} is not valid before {not_before}: check the clock, or wait until then");
        }
        Ok(())
    }
}

/// The extended key usages of a DER certificate, each as its encoded OID (empty when it has
/// no such extension).
fn extended_key_usages(certificate: &[u8]) -> Result<Vec<Vec<u8>>> {
    let cert = Reader::new(certificate).expect(der::SEQUENCE, "certificate")?;
    let tbs = Reader::new(cert.contents).expect(der::SEQUENCE, "tbsCertificate")?;
    let mut fields = Reader::new(tbs.contents);
    fields.optional(context(0))?;
    for what in ["serialNumber", "signature", "issuer", "validity", "subject", "subjectPublicKeyInfo"] {
        fields.next().with_context(|| format!("reading {what}"))?;
    }
    fields.optional(context_primitive(1))?;
    fields.optional(context_primitive(2))?;
    let Some(extensions) = fields.optional(context(3))? else { return Ok(Vec::new()) };
    let list = Reader::new(extensions.contents).expect(der::SEQUENCE, "extensions")?;
    let mut extensions = Reader::new(list.contents);
    while !extensions.is_empty() {
        let extension = extensions.expect(der::SEQUENCE, "extension")?;
        let mut parts = Reader::new(extension.contents);
        let id = parts.expect(der::OID, "extension id")?;
        parts.optional(der::BOOLEAN)?;
        let value = parts.expect(der::OCTET_STRING, "extension value")?;
        if id.raw == oid(OID_EXTENDED_KEY_USAGE) {
            let usages = Reader::new(value.contents).expect(der::SEQUENCE, "extended key usage")?;
            let mut reader = Reader::new(usages.contents);
            let mut found = Vec::new();
            while !reader.is_empty() {
                found.push(reader.expect(der::OID, "key purpose")?.raw.to_vec());
            }
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// The issuer and serial number of a DER certificate, as a SignerInfo names its signer.
fn issuer_and_serial(certificate: &[u8]) -> Result<Vec<u8>> {
    let cert = Reader::new(certificate).expect(der::SEQUENCE, "certificate")?;
    let tbs = Reader::new(cert.contents).expect(der::SEQUENCE, "tbsCertificate")?;
    let mut fields = Reader::new(tbs.contents);
    fields.optional(context(0))?;
    let serial = fields.expect(der::INTEGER, "serialNumber")?;
    fields.next().context("reading the signature algorithm")?;
    let issuer = fields.expect(der::SEQUENCE, "issuer")?;
    Ok(sequence(&[issuer.raw, serial.raw]))
}

/// Obtains an RFC 3161 time-stamp token (a DER ContentInfo) for the SHA-256 digest of a
/// signature.
pub type Timestamper<'a> = &'a dyn Fn(&[u8; 32]) -> Result<Vec<u8>>;

/// Everything a signature depends on besides the image and the identity.
#[derive(Default)]
pub struct SignOptions<'a> {
    /// The program name shown in Windows' consent and SmartScreen prompts (SpcSpOpusInfo).
    pub program_name: Option<&'a str>,
    /// Seconds since the Unix epoch recorded as the signing time (from `SOURCE_DATE_EPOCH`);
    /// `None` records none, so that the output does not depend on the clock.
    pub signing_time: Option<i64>,
    /// Obtains an RFC 3161 time-stamp token (a DER ContentInfo) for the SHA-256 digest of
    /// the signature it is given; `None` signs without a time stamp.
    pub timestamp: Option<Timestamper<'a>>,
}

/// The Authenticode SHA-256 hash of an unsigned image: every byte except the CheckSum field
/// and the certificate table's directory entry, with the file padded with zeros to a
/// multiple of 8 bytes (where the table would go).
///
/// ```
/// assert!(sea_build::pe::authenticode::image_hash(b"MZ, but too short").is_err());
/// ```
pub fn image_hash(image: &[u8]) -> Result<[u8; 32]> {
    let headers = PeHeaders::parse(image)?;
    let layout = HashLayout::of(&headers, image.len() as u64)?;
    Ok(layout.hash(image))
}

/// What the Authenticode hash of an unsigned image skips, and where its table goes: what a
/// caller hashing a file itself needs (see [`HashLayout::skipped`] and [`signature`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLayout {
    /// File offset of the CheckSum field (4 bytes, not hashed).
    pub check_sum: usize,
    /// File offset of the certificate table's directory entry (8 bytes, not hashed).
    pub directory: usize,
    /// Zeros hashed and appended after the image, before the table (to 8-byte alignment).
    pub padding: usize,
    /// Length of the unsigned image.
    pub len: u64,
}

impl HashLayout {
    /// The layout of an unsigned image of `len` bytes whose headers are `headers`.
    ///
    /// Fails when the image is signed already or has no security directory entry.
    pub fn of(headers: &PeHeaders, len: u64) -> Result<HashLayout> {
        let directory = headers.data_directory_offset(IMAGE_DIRECTORY_ENTRY_SECURITY).context("the executable has fewer than 5 data directories, so it has no place for a signature")?;
        let entry = headers.data_directory(IMAGE_DIRECTORY_ENTRY_SECURITY).unwrap_or_default();
        ensure!(
            entry.is_empty(),
            "the executable is already signed (a certificate table of {} bytes at {:#x}): remove that signature first (sea_build::pe::unsign)",
            entry.size,
            entry.virtual_address
        );
        Ok(HashLayout { check_sum: headers.check_sum_offset(), directory, padding: (len.next_multiple_of(8) - len) as usize, len })
    }

    /// The two ranges of the image the hash skips, in file order.
    pub fn skipped(&self) -> [std::ops::Range<u64>; 2] {
        let check_sum = self.check_sum as u64..self.check_sum as u64 + 4;
        let directory = self.directory as u64..self.directory as u64 + 8;
        if check_sum.start < directory.start { [check_sum, directory] } else { [directory, check_sum] }
    }

    fn hash(&self, image: &[u8]) -> [u8; 32] {
        let mut digest = Digest::new(&SHA256);
        let mut at = 0usize;
        for skipped in self.skipped() {
            digest.update(&image[at..skipped.start as usize]);
            at = skipped.end as usize;
        }
        digest.update(&image[at..]);
        digest.update(&[0u8; 8][..self.padding]);
        digest.finish().as_ref().try_into().unwrap_or([0; 32])
    }
}

/// What signing adds to an image: zeros, then the certificate table, at the end; and two
/// header fields rewritten. [`apply`](Self::apply) makes the signed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Zero bytes appended before the table (to 8-byte alignment).
    pub padding: usize,
    /// The attribute certificate table (one `WIN_CERTIFICATE`, padded to 8 bytes).
    pub table: Vec<u8>,
    /// File offset of the certificate table's data directory entry, and its new value
    /// (table offset, table length).
    pub directory: (usize, u32, u32),
    /// File offset of the CheckSum field, recomputed over the signed image (which covers
    /// the table too).
    pub check_sum: usize,
}

impl Signature {
    /// Appends the table and rewrites the directory entry and the CheckSum: `image` becomes
    /// the signed image.
    pub fn apply(&self, image: &mut Vec<u8>) -> Result<()> {
        image.resize(image.len() + self.padding, 0);
        image.extend_from_slice(&self.table);
        put_u32(image, self.directory.0, self.directory.1)?;
        put_u32(image, self.directory.0 + 4, self.directory.2)?;
        let check_sum = checksum_skipping(image, self.check_sum);
        put_u32(image, self.check_sum, check_sum)
    }
}

/// Signs an unsigned PE image: returns what to add (see [`Signature`]).
///
/// Fails when the image is not a PE image or is signed already, when the key cannot sign
/// (an Ed25519 key: Authenticode has no place for it), or when the time stamp cannot be had.
///
/// ```no_run
/// use sea_build::pe::authenticode::{AuthenticodeIdentity, SignOptions, sign};
/// use sea_build::sign::identity::{Password, SigningIdentity};
/// let read = SigningIdentity::from_p12(&std::fs::read("id.p12")?, Password { value: "secret", variable: "PW" }, "id.p12")?;
/// let identity = AuthenticodeIdentity::new(read, "id.p12", 1_800_000_000)?;
/// let mut image = std::fs::read("app.exe")?;
/// sign(&image, &identity, &SignOptions { program_name: Some("App"), ..SignOptions::default() })?.apply(&mut image)?;
/// std::fs::write("app.exe", image)?;
/// # anyhow::Ok(())
/// ```
pub fn sign(image: &[u8], identity: &AuthenticodeIdentity, options: &SignOptions<'_>) -> Result<Signature> {
    let headers = PeHeaders::parse(image)?;
    let layout = HashLayout::of(&headers, image.len() as u64)?;
    signature(&layout, &layout.hash(image), identity, options)
}

/// The signature of an unsigned image laid out as `layout` says whose Authenticode hash is
/// `hash`: for callers that hash the image themselves (a file, a chunk at a time, skipping
/// [`HashLayout::skipped`] and adding [`HashLayout::padding`] zeros). The result is what
/// [`sign`] gives for the same image.
pub fn signature(layout: &HashLayout, hash: &[u8; 32], identity: &AuthenticodeIdentity, options: &SignOptions<'_>) -> Result<Signature> {
    let signed_data = signed_data(hash, identity, options)?;
    let content_info = sequence(&[&oid(OID_SIGNED_DATA), &constructed(context(0), &[&signed_data])]);
    let length = 8 + content_info.len();
    let padded = length.next_multiple_of(8);
    let mut table = Vec::with_capacity(padded);
    table.extend((length as u32).to_le_bytes());
    table.extend(WIN_CERT_REVISION_2_0.to_le_bytes());
    table.extend(WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    table.extend_from_slice(&content_info);
    table.resize(padded, 0);
    let offset = layout.len + layout.padding as u64;
    let too_large = || anyhow::anyhow!("the signed executable would be larger than the 4 GiB a PE file can be");
    let directory = (layout.directory, u32::try_from(offset).map_err(|_| too_large())?, u32::try_from(padded).map_err(|_| too_large())?);
    Ok(Signature { padding: layout.padding, table, directory, check_sum: layout.check_sum })
}

/// [`sign`] and [`Signature::apply`] in one: the signed image.
pub fn sign_to_vec(image: &[u8], identity: &AuthenticodeIdentity, options: &SignOptions<'_>) -> Result<Vec<u8>> {
    let signature = sign(image, identity, options)?;
    let mut signed = Vec::with_capacity(image.len() + signature.padding + signature.table.len());
    signed.extend_from_slice(image);
    signature.apply(&mut signed)?;
    Ok(signed)
}

/// `AlgorithmIdentifier { sha256, NULL }`.
fn sha256_algorithm() -> Vec<u8> {
    sequence(&[&oid(OID_SHA256), &tlv(der::NULL, &[])])
}

/// The `SpcIndirectDataContent` for an image hash.
fn indirect_data_content(hash: &[u8; 32]) -> Vec<u8> {
    // SpcPeImageData { flags: empty BIT STRING, file: [0] SpcLink.file [2] SpcString.unicode
    // [0] "<<<Obsolete>>>" }: what every signer writes.
    let obsolete = tlv(context_primitive(0), &der::bmp("<<<Obsolete>>>"));
    let file = constructed(context(0), &[&constructed(context(2), &[&obsolete])]);
    let image_data = sequence(&[&tlv(der::BIT_STRING, &[0]), &file]);
    let data = sequence(&[&oid(OID_SPC_PE_IMAGE_DATA), &image_data]);
    let digest = sequence(&[&sha256_algorithm(), &tlv(der::OCTET_STRING, hash)]);
    sequence(&[&data, &digest])
}

/// One attribute: `SEQUENCE { type, SET { value } }`.
fn attribute(id: &[u64], value: &[u8]) -> Vec<u8> {
    sequence(&[&oid(id), &set_of(der::SET, &[value.to_vec()])])
}

/// The DER `SignedData` (without its ContentInfo wrapper).
fn signed_data(hash: &[u8; 32], identity: &AuthenticodeIdentity, options: &SignOptions<'_>) -> Result<Vec<u8>> {
    let content = indirect_data_content(hash);
    // The message digest covers the content's value, without its SEQUENCE tag and length.
    let value = der::Reader::new(&content).expect(der::SEQUENCE, "SpcIndirectDataContent")?.contents;
    let message_digest = ring::digest::digest(&SHA256, value);
    let opus_info = match options.program_name {
        Some(name) => sequence(&[&constructed(context(0), &[&tlv(context_primitive(0), &der::bmp(name))])]),
        None => sequence(&[]),
    };
    let mut attributes = vec![
        attribute(OID_CONTENT_TYPE, &oid(OID_SPC_INDIRECT_DATA)),
        attribute(OID_MESSAGE_DIGEST, &tlv(der::OCTET_STRING, message_digest.as_ref())),
        attribute(OID_SPC_SP_OPUS_INFO, &opus_info),
        attribute(OID_SPC_STATEMENT_TYPE, &sequence(&[&oid(OID_SPC_INDIVIDUAL_SP_KEY_PURPOSE)])),
    ];
    if let Some(seconds) = options.signing_time {
        attributes.push(attribute(OID_SIGNING_TIME, &utc_time(seconds)?));
    }
    // Signed over as a SET; stored under [0] IMPLICIT.
    let signed_attributes = set_of(der::SET, &attributes);
    let algorithm = identity.identity.key().signature_algorithm().map_err(|error| anyhow::anyhow!("the identity's key cannot sign: {error}"))?;
    let signature: Vec<u8> = identity.identity.key().try_sign(&signed_attributes).map_err(|error| anyhow::anyhow!("signing with the identity's key failed: {error}"))?.into();
    let signature_algorithm = match algorithm {
        SignatureAlgorithm::RsaSha256 => sequence(&[&oid(OID_RSA_ENCRYPTION), &tlv(der::NULL, &[])]),
        SignatureAlgorithm::EcdsaSha256 => sequence(&[&oid(OID_ECDSA_SHA256)]),
        other => bail!("the identity's key signs with {other:?}, which Authenticode does not support: use an RSA or ECDSA P-256 key"),
    };
    let mut signer_info = vec![
        der::unsigned_integer(1),
        issuer_and_serial(identity.identity.certificate().constructed_data()).context("the signing certificate is damaged")?,
        sha256_algorithm(),
        tlv(context(0), &signed_attributes[header_len(&signed_attributes)..]),
        signature_algorithm,
        tlv(der::OCTET_STRING, &signature),
    ];
    if let Some(timestamp) = options.timestamp {
        let digest: [u8; 32] = ring::digest::digest(&SHA256, &signature).as_ref().try_into().unwrap_or([0; 32]);
        let token = timestamp(&digest)?;
        der::Reader::new(&token).expect(der::SEQUENCE, "the time-stamp token").context("the time-stamp authority's token is not a DER ContentInfo")?;
        signer_info.push(set_of(context(1), &[attribute(OID_SPC_RFC3161, &token)]));
    }
    let signer_info = sequence(&signer_info.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let certificates: Vec<Vec<u8>> = std::iter::once(identity.identity.certificate()).chain(identity.identity.chain()).map(|cert| cert.constructed_data().to_vec()).collect();
    Ok(sequence(&[
        &der::unsigned_integer(1),
        &set_of(der::SET, &[sha256_algorithm()]),
        &sequence(&[&oid(OID_SPC_INDIRECT_DATA), &constructed(context(0), &[&content])]),
        &set_of(context(0), &certificates),
        &set_of(der::SET, &[signer_info]),
    ]))
}

/// Length of the tag and length of a DER element.
fn header_len(element: &[u8]) -> usize {
    element.len() - der::Reader::new(element).peek().map_or(0, |e| e.contents.len())
}

/// A UTCTime (years 1950 to 2049), as CMS requires for those years.
fn utc_time(seconds: i64) -> Result<Vec<u8>> {
    let time = chrono::DateTime::from_timestamp(seconds, 0).with_context(|| format!("the signing time {seconds} (SOURCE_DATE_EPOCH) is out of range"))?;
    let text = time.format("%y%m%d%H%M%SZ").to_string();
    use chrono::Datelike;
    ensure!((1950..2050).contains(&time.year()), "the signing time {time} (SOURCE_DATE_EPOCH) lies outside 1950-2049, which a UTCTime can hold");
    Ok(tlv(der::UTC_TIME, text.as_bytes()))
}

/// An RFC 3161 `TimeStampReq` for a SHA-256 `digest`, asking for the authority's
/// certificate in the reply.
///
/// ```
/// let request = sea_build::pe::authenticode::timestamp_request(&[0; 32]);
/// assert_eq!(request[0], 0x30);
/// ```
pub fn timestamp_request(digest: &[u8; 32]) -> Vec<u8> {
    let imprint = sequence(&[&sha256_algorithm(), &tlv(der::OCTET_STRING, digest)]);
    sequence(&[&der::unsigned_integer(1), &imprint, &tlv(der::BOOLEAN, &[0xff])])
}

/// The time-stamp token (a DER ContentInfo) of an RFC 3161 `TimeStampResp`; fails, with
/// the authority's status, when it granted none.
///
/// ```
/// // status 2 (rejection), no token:
/// let response = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
/// assert!(sea_build::pe::authenticode::timestamp_token(&response).is_err());
/// ```
pub fn timestamp_token(response: &[u8]) -> Result<Vec<u8>> {
    let outer = Reader::new(response).expect(der::SEQUENCE, "TimeStampResp").context("the time-stamp authority's reply is not an RFC 3161 response")?;
    let mut fields = Reader::new(outer.contents);
    let status = fields.expect(der::SEQUENCE, "PKIStatusInfo")?;
    let code = Reader::new(status.contents).expect(der::INTEGER, "status")?;
    ensure!(code.contents == [0] || code.contents == [1], "the time-stamp authority refused the request (PKIStatus {:?})", code.contents);
    let token = fields.expect(der::SEQUENCE, "timeStampToken").context("the time-stamp authority granted the request but sent no token")?;
    Ok(token.raw.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pe::testing::SyntheticPe;

    #[test]
    fn the_hash_skips_checksum_and_directory_entry() {
        let image = SyntheticPe::default().build();
        let headers = PeHeaders::parse(&image).unwrap();
        let hash = image_hash(&image).unwrap();
        let mut changed = image.clone();
        let check_sum = headers.check_sum_offset();
        changed[check_sum..check_sum + 4].copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(image_hash(&changed).unwrap(), hash, "CheckSum is not hashed");
        let mut other = image.clone();
        other[0x500] ^= 1;
        assert_ne!(image_hash(&other).unwrap(), hash, "section data is hashed");
        // Independently: the bytes with the two fields cut out, padded to 8.
        let directory = headers.data_directory_offset(4).unwrap();
        let mut kept = Vec::new();
        kept.extend_from_slice(&image[..check_sum]);
        kept.extend_from_slice(&image[check_sum + 4..directory]);
        kept.extend_from_slice(&image[directory + 8..]);
        kept.resize(kept.len() + (image.len().next_multiple_of(8) - image.len()), 0);
        assert_eq!(ring::digest::digest(&SHA256, &kept).as_ref(), hash);
    }

    #[test]
    fn signed_images_are_refused() {
        let signed = crate::pe::testing::signed(&SyntheticPe::default().build());
        let error = image_hash(&signed).unwrap_err().to_string();
        assert!(error.contains("already signed"), "{error}");
    }

    #[test]
    fn the_indirect_data_content_is_what_signers_write() {
        let content = indirect_data_content(&[0xab; 32]);
        // SpcPeImageData's file link: [0] { [2] { [0] IMPLICIT BMPString "<<<Obsolete>>>" } }.
        let link: Vec<u8> = [0xa0, 0x20, 0xa2, 0x1e, 0x80, 0x1c].into_iter().chain(der::bmp("<<<Obsolete>>>")).collect();
        assert!(content.windows(link.len()).any(|w| w == link));
        assert!(content.ends_with(&[0xab; 32]));
        assert_eq!(content.len(), header_len(&content) + Reader::new(&content).peek().unwrap().contents.len());
    }

    #[test]
    fn time_stamp_replies_are_read_or_refused() {
        let token = sequence(&[&oid(OID_SIGNED_DATA)]);
        let granted = sequence(&[&sequence(&[&der::unsigned_integer(0)]), &token]);
        assert_eq!(timestamp_token(&granted).unwrap(), token);
        let refused = sequence(&[&sequence(&[&der::unsigned_integer(2)])]);
        assert!(timestamp_token(&refused).unwrap_err().to_string().contains("refused"));
        assert!(timestamp_token(b"<html>").is_err());
        assert_eq!(utc_time(0).unwrap(), tlv(der::UTC_TIME, b"700101000000Z"));
        assert!(utc_time(4_102_444_800).is_err(), "2100 needs a GeneralizedTime");
    }
}
