//! Mach-O signing with apple-codesign (the `macos` feature).

use anyhow::{Context, Result, bail};
use apple_codesign::cryptography::InMemoryPrivateKey;
use apple_codesign::{CodeSignatureFlags, MachFile, MachOBinary, MachOSigner, SettingsScope, SigningSettings, VerificationProblemType};

use super::identity::SigningIdentity;

/// The entitlements node needs under the hardened runtime (those of node's own macOS builds).
pub const NODE_ENTITLEMENTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>com.apple.security.cs.allow-jit</key>
    <true/>
    <key>com.apple.security.cs.allow-unsigned-executable-memory</key>
    <true/>
    <key>com.apple.security.cs.disable-executable-page-protection</key>
    <true/>
    <key>com.apple.security.cs.allow-dyld-environment-variables</key>
    <true/>
    <key>com.apple.security.cs.disable-library-validation</key>
    <true/>
</dict>
</plist>
"#;

/// A signing identity in the form apple-codesign signs with: the certificate, its chain and
/// the key of a [`SigningIdentity`].
pub struct Identity {
    identity: SigningIdentity,
    key: InMemoryPrivateKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("subject", &self.subject()).field("chain", &self.identity.chain().len()).finish_non_exhaustive()
    }
}

impl Identity {
    /// The identity apple-codesign signs with; `origin` names its file in errors.
    ///
    /// ```no_run
    /// use sea_build::sign::{Identity, identity::{Password, SigningIdentity}};
    /// let read = SigningIdentity::from_p12(&std::fs::read("id.p12")?, Password { value: "secret", variable: "PW" }, "id.p12")?;
    /// let identity = Identity::new(read, "id.p12")?;
    /// # anyhow::Ok(())
    /// ```
    pub fn new(identity: SigningIdentity, origin: &str) -> crate::Result<Identity> {
        let key = InMemoryPrivateKey::from_pkcs8_der(identity.pkcs8()).map_err(|error| {
            crate::error::tagged(crate::ErrorKind::Identity, format!("the private key of {origin} is not one apple-codesign can sign with ({error}): use an RSA or ECDSA P-256 key"))
        })?;
        Ok(Identity { identity, key })
    }

    /// The certificate's subject, for messages.
    pub fn subject(&self) -> String {
        self.identity.subject()
    }
}

/// Everything a signature depends on.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// The identifier recorded in the signature (the artifact's name).
    pub identifier: &'a str,
    /// `None` signs ad-hoc.
    pub identity: Option<&'a Identity>,
    /// Seconds since the Unix epoch recorded as the CMS signing time (identity only); from
    /// `SOURCE_DATE_EPOCH` for reproducible output. `None` records the current time.
    pub signing_time: Option<i64>,
}

/// Signs a thin or fat Mach-O image and returns the signed bytes.
///
/// The image must not carry a signature already (remove it with
/// [`crate::macho::unsign`]): a signature is computed over the load commands, so signing
/// over an old one would keep its identifier and flags.
pub fn sign(image: &[u8], signing: &Signing<'_>) -> Result<Vec<u8>> {
    let settings = settings(signing)?;
    let signer = MachOSigner::new(image).map_err(|error| anyhow::anyhow!("apple-codesign cannot sign this Mach-O image: {error}"))?;
    let mut out = Vec::with_capacity(image.len() + image.len() / 64 + (64 << 10));
    signer.write_signed_binary(&settings, &mut out).map_err(|error| anyhow::anyhow!("signing failed: {error}"))?;
    Ok(out)
}

/// apple-codesign's settings for `signing`.
fn settings<'a>(signing: &Signing<'a>) -> Result<SigningSettings<'a>> {
    let mut settings = SigningSettings::default();
    settings.set_binary_identifier(SettingsScope::Main, signing.identifier);
    if let Some(identity) = signing.identity {
        settings.set_signing_key(&identity.key, identity.identity.certificate().clone());
        // The identity's own chain goes into the CMS blob; without one, Apple's when the
        // certificate is one of theirs (a P12 exported from a keychain often has none).
        for certificate in identity.identity.chain() {
            settings.chain_certificate(certificate.clone());
        }
        if identity.identity.chain().is_empty() {
            settings.chain_apple_certificates();
        }
        settings.set_team_id_from_signing_certificate();
        settings.set_code_signature_flags(SettingsScope::Main, CodeSignatureFlags::RUNTIME);
        settings.set_entitlements_xml(SettingsScope::Main, NODE_ENTITLEMENTS).context("internal error: node's entitlements are not a valid plist")?;
        if let Some(seconds) = signing.signing_time {
            let time = chrono::DateTime::from_timestamp(seconds, 0).with_context(|| format!("signing time {seconds} (SOURCE_DATE_EPOCH) is out of range"))?;
            settings.set_signing_time(time);
        }
    }
    Ok(settings)
}

/// How many bytes the signature of the unsigned thin `image` needs: what apple-codesign
/// reserves for it. Reserve them with [`crate::macho::signature::reserve`], then fill them
/// with [`signature_for`].
pub fn signature_len(image: &[u8], signing: &Signing<'_>) -> Result<u64> {
    let (signer, macho, settings) = thin_signer(image, signing)?;
    let len = signer.estimate_embedded_signature_size(&macho, &settings).map_err(|error| anyhow::anyhow!("apple-codesign cannot size the signature: {error}"))?;
    Ok(len as u64)
}

/// The signature of the thin `image`, whose room [`crate::macho::signature::reserve`] made
/// (zeros there now), padded with zeros to that room's length: written at the room's
/// offset, it gives the bytes [`sign`] gives for the image without the room.
///
/// Only the signature is built; the image is read where it lies (a map of the output file),
/// so signing holds no copy of it.
///
/// ```
/// use sea_build::{macho::signature::reserve, sign::{Signing, sign, signature_for, signature_len}};
/// # let image = sea_build::macho::fixture::tiny_image();
/// let signing = Signing { identifier: "app", identity: None, signing_time: None };
/// let room = reserve(&image, signature_len(&image, &signing)?)?;
/// let mut prepared = image.clone();
/// room.apply(&mut prepared);
/// let signature = signature_for(&prepared, &signing)?;
/// prepared[room.offset as usize..].copy_from_slice(&signature);
/// assert_eq!(prepared, sign(&image, &signing)?);
/// # anyhow::Ok(())
/// ```
pub fn signature_for(image: &[u8], signing: &Signing<'_>) -> Result<Vec<u8>> {
    let (signer, macho, settings) = thin_signer(image, signing)?;
    let room = macho.code_signature_load_command().context("the image has no room for a signature: reserve it first (sea_build::macho::signature::reserve)")?;
    let mut signature = signer.create_superblob(&settings, &macho).map_err(|error| anyhow::anyhow!("signing failed: {error}"))?;
    let room_len = room.datasize as usize;
    if signature.len() > room_len {
        bail!("the signature takes {} bytes, more than the {room_len} reserved for it", signature.len());
    }
    signature.resize(room_len, 0);
    Ok(signature)
}

/// apple-codesign's signer, parsed image and settings for a thin image, as its own signer
/// prepares them for slice 0.
fn thin_signer<'a>(image: &'a [u8], signing: &Signing<'a>) -> Result<(MachOSigner<'a>, MachOBinary<'a>, SigningSettings<'a>)> {
    let macho = MachOBinary::parse(image).map_err(|error| anyhow::anyhow!("apple-codesign cannot read this Mach-O image: {error}"))?;
    let signer = MachOSigner::new(image).map_err(|error| anyhow::anyhow!("apple-codesign cannot sign this Mach-O image: {error}"))?;
    let settings = settings(signing)?.as_universal_macho_settings(0, macho.macho.header.cputype());
    Ok((signer, macho, settings))
}

/// What a slice's signature says, in the terms that change V8's flag hash and the kernel's
/// verdict: compare two of these to know whether two binaries are signed alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// No LC_CODE_SIGNATURE.
    Unsigned,
    /// A code signature.
    Signed {
        /// The identifier in the code directory.
        identifier: String,
        /// Code signature flags (`0x10000` is the hardened runtime).
        flags: u32,
        /// Team id, when the identity has one.
        team_id: Option<String>,
        /// The entitlements plist, if any.
        entitlements: Option<String>,
        /// Whether a CMS signature (a certificate) is present; false for ad-hoc.
        certificate: bool,
    },
}

/// The signature state of every slice of a thin or fat Mach-O image.
pub fn describe(image: &[u8]) -> Result<Vec<SignatureState>> {
    let file = MachFile::parse(image).map_err(|error| anyhow::anyhow!("not a Mach-O image apple-codesign can read: {error}"))?;
    let mut states = Vec::new();
    for macho in file.iter_macho() {
        let failed = |what: &str, error: apple_codesign::AppleCodesignError| anyhow::anyhow!("could not read the {what} of a signed slice: {error}");
        let Some(signature) = macho.code_signature().map_err(|e| failed("signature", e))? else {
            states.push(SignatureState::Unsigned);
            continue;
        };
        let directory = signature.code_directory().map_err(|e| failed("code directory", e))?.context("the signature has no code directory")?;
        let entitlements = signature.entitlements().map_err(|e| failed("entitlements", e))?.map(|blob| blob.as_str().to_owned());
        let certificate = signature.signature_data().map_err(|e| failed("CMS data", e))?.is_some_and(|data| !data.is_empty());
        states.push(SignatureState::Signed {
            identifier: directory.ident.to_string(),
            flags: directory.flags.bits(),
            team_id: directory.team_name.as_ref().map(|name| name.to_string()),
            entitlements,
            certificate,
        });
    }
    Ok(states)
}

/// Checks every slice's signature with apple-codesign's verifier: page digests, slot
/// digests, and the CMS signature when there is one.
///
/// Ad-hoc signatures always draw one benign finding (no CMS signature to verify, or an
/// empty CMS blob); that one is accepted, every other finding is an error listing them all.
pub fn verify(image: &[u8]) -> Result<()> {
    let problems = apple_codesign::verify_macho_data(image);
    let serious: Vec<String> = problems
        .iter()
        .filter(|problem| !matches!(problem.problem, VerificationProblemType::NoCryptographicSignature | VerificationProblemType::CmsError(_)) || !is_ad_hoc(image))
        .map(|problem| problem.to_string())
        .collect();
    if !serious.is_empty() {
        bail!("the code signature does not verify:\n  {}", serious.join("\n  "));
    }
    Ok(())
}

fn is_ad_hoc(image: &[u8]) -> bool {
    describe(image).is_ok_and(|states| states.iter().all(|state| matches!(state, SignatureState::Signed { certificate: false, .. })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entitlements_parse_as_a_plist() {
        let mut settings = SigningSettings::default();
        settings.set_entitlements_xml(SettingsScope::Main, NODE_ENTITLEMENTS).unwrap();
    }

    #[test]
    fn non_macho_input_is_an_error() {
        let signing = Signing { identifier: "app", identity: None, signing_time: None };
        assert!(sign(b"\x7fELF not mach-o", &signing).is_err());
        assert!(describe(b"MZ").is_err());
    }
}
