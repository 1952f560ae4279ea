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
//! - an identity (a P12, or a PEM key and certificate chain, read by [`identity`] for both
//!   signers): the hardened runtime and the entitlements node needs for its
//!   JIT, the team id taken from the certificate, and the signing time from
//!   `SOURCE_DATE_EPOCH` when set, so two runs give the same bytes.

#[cfg(feature = "macos")]
use anyhow::Context;
use serde::{Deserialize, Serialize};

#[cfg(feature = "identity")]
pub mod identity;
#[cfg(feature = "macos")]
mod macho;
#[cfg(feature = "identity")]
mod pkcs12;
#[cfg(feature = "macos")]
pub use macho::{Identity, NODE_ENTITLEMENTS, SignatureState, Signing, describe, sign, signature_for, signature_len, verify};

/// The default variable for the P12 password.
pub const P12_PASSWORD_ENV: &str = "SEA_BUILD_SIGN_P12_PASSWORD";
/// The variable that names the P12 file, over `sign-p12`.
pub const P12_PATH_ENV: &str = "SEA_BUILD_SIGN_P12";

/// The variables that name one signer's identity files and hold their passwords, and the
/// metadata table that declares them.
///
/// ```
/// let macos = sea_build::sign::IdentityVariables::MACOS;
/// assert_eq!((macos.p12, macos.cert), ("SEA_BUILD_SIGN_P12", "SEA_BUILD_SIGN_CERT"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IdentityVariables {
    /// The table with `sign-p12`, `sign-key` and `sign-cert`.
    pub table: &'static str,
    /// The P12 file, over `sign-p12`.
    pub p12: &'static str,
    /// The P12's password, by default.
    pub p12_password: &'static str,
    /// The PEM key, over `sign-key`.
    pub key: &'static str,
    /// The PEM certificate chain, over `sign-cert`.
    pub cert: &'static str,
    /// An encrypted PEM key's password, by default.
    pub key_password: &'static str,
}

impl IdentityVariables {
    /// Mach-O signing's.
    ///
    /// ```
    /// assert_eq!(sea_build::sign::IdentityVariables::MACOS.key, "SEA_BUILD_SIGN_KEY");
    /// ```
    pub const MACOS: IdentityVariables = IdentityVariables {
        table: "[package.metadata.sea]",
        p12: P12_PATH_ENV,
        p12_password: P12_PASSWORD_ENV,
        key: "SEA_BUILD_SIGN_KEY",
        cert: "SEA_BUILD_SIGN_CERT",
        key_password: "SEA_BUILD_SIGN_KEY_PASSWORD",
    };
    /// Authenticode's.
    ///
    /// ```
    /// assert_eq!(sea_build::sign::IdentityVariables::WINDOWS.p12, "SEA_BUILD_WINDOWS_P12");
    /// ```
    pub const WINDOWS: IdentityVariables = IdentityVariables {
        table: "[package.metadata.sea.windows]",
        p12: "SEA_BUILD_WINDOWS_P12",
        p12_password: "SEA_BUILD_WINDOWS_P12_PASSWORD",
        key: "SEA_BUILD_WINDOWS_SIGN_KEY",
        cert: "SEA_BUILD_WINDOWS_SIGN_CERT",
        key_password: "SEA_BUILD_WINDOWS_SIGN_KEY_PASSWORD",
    };
}

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

/// A signing identity as declared: a P12 file, or a PEM key with its certificate chain; paths
/// absolute or relative to the package. The variables of [`IdentityVariables`]
/// override the paths when set.
///
/// ```
/// let declared = sea_build::sign::IdentityConfig::default();
/// assert!(declared.p12.is_none() && declared.key.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityConfig {
    /// The P12 file.
    pub p12: Option<camino::Utf8PathBuf>,
    /// The environment variable holding the P12's password.
    pub p12_password_env: String,
    /// The PEM private key.
    pub key: Option<camino::Utf8PathBuf>,
    /// The PEM certificate chain of `key`.
    pub cert: Option<camino::Utf8PathBuf>,
    /// The environment variable holding an encrypted key's password.
    pub key_password_env: String,
}

impl IdentityConfig {
    /// The metadata's `sign-p12`, `sign-key`, `sign-cert` and the two password variables, the
    /// defaults of `variables` where they are not given.
    pub(crate) fn declared([p12, key, cert]: [Option<camino::Utf8PathBuf>; 3], [p12_password_env, key_password_env]: [Option<String>; 2], variables: &IdentityVariables) -> IdentityConfig {
        IdentityConfig {
            p12,
            p12_password_env: p12_password_env.unwrap_or_else(|| variables.p12_password.to_owned()),
            key,
            cert,
            key_password_env: key_password_env.unwrap_or_else(|| variables.key_password.to_owned()),
        }
    }
}

// The edge: where signing reads its settings.

/// Reads the identity `variables` name, else the one `declared` (paths relative to
/// `package_dir`): a P12, or a PEM key with its certificate chain. Set variables replace the
/// declaration whole. Returns the identity and the file that holds its certificate.
#[cfg(feature = "identity")]
pub(crate) fn read_identity(
    env: &crate::env::Env,
    variables: &IdentityVariables,
    declared: &IdentityConfig,
    package_dir: Option<&camino::Utf8Path>,
) -> anyhow::Result<(identity::SigningIdentity, String)> {
    use crate::error::{ErrorKind, Tag, fail};
    use identity::{Password, SigningIdentity};
    let from_env = |name: &str| env.var(name).map(camino::Utf8PathBuf::from);
    let join = |path: &Option<camino::Utf8PathBuf>| path.as_ref().map(|path| package_dir.map_or_else(|| path.clone(), |dir| dir.join(path)));
    let files = match (from_env(variables.p12), from_env(variables.key), from_env(variables.cert)) {
        (None, None, None) => (join(&declared.p12), join(&declared.key), join(&declared.cert)),
        set => set,
    };
    let read = |path: &camino::Utf8Path| std::fs::read(path).tag(ErrorKind::Identity, || format!("could not read the signing identity file {path}"));
    let password = |variable: &'_ str| env.var(variable).unwrap_or_default();
    let IdentityVariables { table, p12, key, cert, .. } = variables;
    Ok(match files {
        (Some(path), None, None) => {
            let value = password(&declared.p12_password_env);
            (SigningIdentity::from_p12(&read(&path)?, Password { value: &value, variable: &declared.p12_password_env }, path.as_str())?, path.into_string())
        }
        (None, Some(key_path), Some(cert_path)) => {
            let value = password(&declared.key_password_env);
            let password = Password { value: &value, variable: &declared.key_password_env };
            (SigningIdentity::from_pem(&read(&key_path)?, key_path.as_str(), &read(&cert_path)?, cert_path.as_str(), password)?, cert_path.into_string())
        }
        (None, None, None) => fail!(
            Identity,
            "identity signing needs an identity: a P12 file (`sign-p12` in {table}, or {p12}), or a PEM key and its certificate chain (`sign-key` and `sign-cert`, or {key} and {cert})"
        ),
        (Some(path), _, _) => fail!(Identity, "both a P12 ({path}) and a PEM key or certificate are given: give one identity, the P12 or the PEM pair"),
        (None, Some(path), None) => fail!(Identity, "the PEM key {path} needs its certificate chain: set `sign-cert` in {table} or {cert}"),
        (None, None, Some(path)) => fail!(Identity, "the PEM certificate chain {path} needs its private key: set `sign-key` in {table} or {key}"),
    })
}

/// `SOURCE_DATE_EPOCH`, for a reproducible signing time.
#[cfg(feature = "macos")]
pub(crate) fn signing_time(env: &crate::env::Env) -> anyhow::Result<Option<i64>> {
    env.var("SOURCE_DATE_EPOCH").map(|text| text.trim().parse::<i64>().with_context(|| format!("SOURCE_DATE_EPOCH is `{text}`, not a number of seconds since 1970"))).transpose()
}

/// The Mach-O signing identity the variables name, else the one `declared` (see
/// [`read_identity`]).
#[cfg(feature = "macos")]
pub(crate) fn load_identity(env: &crate::env::Env, declared: &IdentityConfig, package_dir: Option<&camino::Utf8Path>) -> anyhow::Result<Identity> {
    let (identity, origin) = read_identity(env, &IdentityVariables::MACOS, declared, package_dir)?;
    Ok(Identity::new(identity, &origin)?)
}

/// The identity the variables alone name, for the file commands (`cargo xtask inject --sign
/// identity`): the declaration holds only the default password variables.
#[cfg(feature = "identity")]
pub(crate) fn undeclared(variables: &IdentityVariables) -> IdentityConfig {
    IdentityConfig { p12_password_env: variables.p12_password.to_owned(), key_password_env: variables.key_password.to_owned(), ..Default::default() }
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
