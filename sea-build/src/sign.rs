//! Code signatures on artifacts: how they are signed ([`SignMode`], always available) and,
//! with the `macos` feature, Mach-O signing with apple-codesign ([`sign`], [`verify`],
//! [`describe`], [`Identity`]).
//!
//! macOS on Apple Silicon kills unsigned code, and V8 hashes the flags the hardened
//! runtime changes into its code cache, so how an artifact is signed matters twice: it must
//! be signed at all, and the binary that generates the code cache must be signed *exactly*
//! like the final artifact (see [`crate::pipeline`]). This module signs bytes and describes
//! signatures; it reads no files (a P12 arrives as bytes) and runs nothing.
//!
//! Two ways to sign ([`SignMode`]):
//! - ad-hoc (the default): digests of every page, no certificate, no hardened runtime
//!   (ad-hoc signatures with the runtime flag are killed on macOS 26);
//! - an identity from a P12: the hardened runtime and the entitlements node needs for its
//!   JIT, the team id taken from the certificate, and the signing time from
//!   `SOURCE_DATE_EPOCH` when set, so two runs give the same bytes.

#[cfg(feature = "macos")]
use anyhow::Context;
use serde::{Deserialize, Serialize};

#[cfg(feature = "macos")]
mod macho;
#[cfg(feature = "macos")]
pub use macho::{Identity, NODE_ENTITLEMENTS, SignatureState, Signing, describe, sign, signature_for, signature_len, verify};

/// The default variable for the P12 password.
pub const P12_PASSWORD_ENV: &str = "SEA_BUILD_SIGN_P12_PASSWORD";
/// The variable that names the P12 file, over `sign-p12`.
pub const P12_PATH_ENV: &str = "SEA_BUILD_SIGN_P12";

/// How Mach-O artifacts are signed: `sign = "adhoc" | "identity" | "none"` in the metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignMode {
    /// Ad-hoc: page digests, no certificate, no hardened runtime.
    #[default]
    #[serde(rename = "adhoc")]
    AdHoc,
    /// With the P12 identity configured (`sign-p12`, `SEA_BUILD_SIGN_P12`), the hardened
    /// runtime and the entitlements node needs for its JIT.
    Identity,
    /// Unsigned: only for artifacts that an external tool signs afterwards (arm64 macOS
    /// refuses to run them as they are).
    None,
}

impl std::fmt::Display for SignMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignMode::AdHoc => "adhoc",
            SignMode::Identity => "identity",
            SignMode::None => "none",
        })
    }
}

// The edge: where signing reads its settings.

#[cfg(feature = "macos")]
/// Reads a P12 identity: the file named by `SEA_BUILD_SIGN_P12`, else `declared`; the
/// password from the variable `password_env`.
pub(crate) fn load_identity(env: &crate::env::Env, declared: Option<camino::Utf8PathBuf>, password_env: &str) -> anyhow::Result<Identity> {
    let path = env
        .var(P12_PATH_ENV)
        .map(camino::Utf8PathBuf::from)
        .or(declared)
        .with_context(|| format!("identity signing needs a P12 file: set `sign-p12` in [package.metadata.sea] or {}", P12_PATH_ENV))?;
    let der = std::fs::read(&path).with_context(|| format!("could not read the P12 identity {path}"))?;
    Identity::from_p12(&der, &env.var(password_env).unwrap_or_default(), path.as_str())
}

/// `SOURCE_DATE_EPOCH`, for a reproducible signing time.
#[cfg(feature = "macos")]
pub(crate) fn signing_time(env: &crate::env::Env) -> anyhow::Result<Option<i64>> {
    env.var("SOURCE_DATE_EPOCH").map(|text| text.trim().parse::<i64>().with_context(|| format!("SOURCE_DATE_EPOCH is `{text}`, not a number of seconds since 1970"))).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_mode_reads_the_metadata_spelling() {
        #[derive(Deserialize)]
        struct Holder {
            sign: SignMode,
        }
        for (text, mode) in [("adhoc", SignMode::AdHoc), ("identity", SignMode::Identity), ("none", SignMode::None)] {
            let holder: Holder = toml::from_str(&format!("sign = \"{text}\"")).unwrap();
            assert_eq!(holder.sign, mode);
            assert_eq!(mode.to_string(), text);
        }
        assert!(toml::from_str::<Holder>("sign = \"ad-hoc\"").is_err());
    }
}
