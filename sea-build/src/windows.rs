//! The edge of a Windows artifact's identity: reading the `.ico` file and signing identity a SEA names,
//! the environment that overrides them, and asking a time-stamp authority. The formats
//! themselves live in [`crate::pe::version_info`], [`crate::pe::icon`] and
//! [`crate::pe::authenticode`], which do no I/O.
//!
//! Everything that can fail on the user's input (a bad icon, a wrong password, a certificate
//! that cannot sign code) is read by [`WindowsIdentity::load`] before the blob is made, so a
//! bad setting fails the build early and nothing is published.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::config::{Sea, WindowsSigning};
use crate::env::Env;
use crate::pe::authenticode::{self, AuthenticodeIdentity, SignOptions};
use crate::pe::icon::IconFile;
use crate::pe::identity::ResourceChanges;
use crate::sign::{IdentityConfig, IdentityVariables};

/// Replies of a time-stamp authority are small; anything larger is not one.
const TIMESTAMP_REPLY_LIMIT: u64 = 1 << 20;

/// What a SEA's Windows artifacts get besides the blob, read and checked.
#[derive(Debug)]
pub struct WindowsIdentity {
    /// The `.ico` file's bytes, when the SEA has an icon (its images are borrowed from here).
    icon: Option<(Utf8PathBuf, Vec<u8>)>,
    /// The signing identity and how to sign, when the SEA is signed.
    signer: Option<(AuthenticodeIdentity, WindowsSigning)>,
    /// `SOURCE_DATE_EPOCH`.
    signing_time: Option<i64>,
}

impl WindowsIdentity {
    /// Reads the icon and the P12 that `sea` names (P12 path and password from `env` as
    /// [`crate::config::WindowsMetadata`] describes) and checks them.
    ///
    /// ```no_run
    /// # fn sea() -> sea_build::Sea { unimplemented!() }
    /// let identity = sea_build::windows::WindowsIdentity::load(&sea(), &sea_build::Env::from_process())?;
    /// # anyhow::Ok(())
    /// ```
    pub fn load(sea: &Sea, env: &Env) -> Result<WindowsIdentity> {
        let windows = &sea.windows;
        let icon = match &windows.icon {
            Some(path) => {
                let full = sea.package_dir.join(path);
                let bytes = std::fs::read(&full).with_context(|| format!("could not read the icon {full} (`windows.icon`)"))?;
                IconFile::parse(&bytes, full.as_str())?;
                Some((full, bytes))
            }
            None => None,
        };
        let signing_time = signing_time(env)?;
        let signer = match &windows.sign {
            Some(signing) => Some((load_identity(env, &signing.identity, Some(&sea.package_dir))?, signing.clone())),
            None => None,
        };
        Ok(WindowsIdentity { icon, signer, signing_time })
    }

    /// The resource changes for `sea`: its version resource and icon.
    pub fn resource_changes<'a>(&'a self, sea: &Sea) -> Result<ResourceChanges<'a>> {
        let icon = match &self.icon {
            Some((path, bytes)) => Some(IconFile::parse(bytes, path.as_str())?),
            None => None,
        };
        ResourceChanges::new(sea.windows.version_info.as_ref(), icon.as_ref())
    }

    /// Whether the artifact is signed.
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// Signs the PE image in `file` (one of our own temporary files) where it lies, when the
    /// SEA is signed; `program_name` goes into the signature. Asks the time-stamp authority,
    /// when one is configured.
    pub(crate) fn sign_file(&self, file: &mut std::fs::File, program_name: &str) -> Result<()> {
        let Some((identity, signing)) = &self.signer else { return Ok(()) };
        let http;
        let ask;
        let timestamp: Option<authenticode::Timestamper<'_>> = match &signing.timestamp_url {
            Some(url) => {
                anyhow::ensure!(url.starts_with("http://") || url.starts_with("https://"), "`windows.timestamp-url` is `{url}`, not an http(s) URL");
                http = crate::node::Http::new();
                ask = move |digest: &[u8; 32]| -> Result<Vec<u8>> {
                    let reply = http
                        .post(url, "application/timestamp-query", &authenticode::timestamp_request(digest), TIMESTAMP_REPLY_LIMIT)
                        .with_context(|| format!("could not get a time stamp from {url} (`windows.timestamp-url`)"))?;
                    authenticode::timestamp_token(&reply).with_context(|| format!("{url} (`windows.timestamp-url`) gave no usable time stamp"))
                };
                Some(&ask)
            }
            None => None,
        };
        let options = SignOptions { program_name: Some(program_name), signing_time: self.signing_time, timestamp };
        crate::pe_file::sign(file, identity, &options)
    }
}

/// `SOURCE_DATE_EPOCH`, the signing time of reproducible builds.
fn signing_time(env: &Env) -> Result<Option<i64>> {
    env.var("SOURCE_DATE_EPOCH").map(|text| text.trim().parse::<i64>().with_context(|| format!("SOURCE_DATE_EPOCH is `{text}`, not a number of seconds since 1970"))).transpose()
}

/// Reads the identity the variables name, else the one `declared`, and checks that it can sign
/// Windows code now.
fn load_identity(env: &Env, declared: &IdentityConfig, package_dir: Option<&Utf8Path>) -> Result<AuthenticodeIdentity> {
    let (read, origin) = crate::sign::read_identity(env, &IdentityVariables::WINDOWS, declared, package_dir).context("cannot sign with Authenticode")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64);
    Ok(AuthenticodeIdentity::new(read, &origin, now)?)
}

/// Signs the PE image in `file` (one of our own temporary files) where it lies, with the
/// identity the variables name (`SEA_BUILD_WINDOWS_P12`, or `SEA_BUILD_WINDOWS_SIGN_KEY` and
/// `SEA_BUILD_WINDOWS_SIGN_CERT`): what `cargo xtask inject --sign identity` does for Windows
/// executables.
pub(crate) fn sign_file_with_env(file: &mut std::fs::File, program_name: &str, env: &Env) -> Result<()> {
    let identity = load_identity(env, &crate::sign::undeclared(&IdentityVariables::WINDOWS), None)?;
    let options = SignOptions { program_name: Some(program_name), signing_time: signing_time(env)?, timestamp: None };
    crate::pe_file::sign(file, &identity, &options)
}

/// The version resource and icon `cargo xtask inject` gives a PE result (`--icon`,
/// `--version-info KEY=VALUE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InjectResources {
    /// An `.ico` file replacing node's icon.
    pub icon: Option<Utf8PathBuf>,
    /// Version-resource strings; when any is given, a version resource replaces node's, with
    /// the output's name as ProductName, InternalName and OriginalFilename unless given, and
    /// FileVersion and ProductVersion 0.0.0 unless given.
    pub version_info: std::collections::BTreeMap<String, String>,
}

impl InjectResources {
    /// The icon file's bytes, checked, when there is one.
    pub fn read_icon(&self) -> Result<Option<(Utf8PathBuf, Vec<u8>)>> {
        let Some(path) = &self.icon else { return Ok(None) };
        let bytes = std::fs::read(path).with_context(|| format!("could not read the icon {path}"))?;
        IconFile::parse(&bytes, path.as_str())?;
        Ok(Some((path.clone(), bytes)))
    }

    /// The resource changes for an output called `name` (without `.exe`), with the icon
    /// [`read_icon`](Self::read_icon) returned.
    pub fn changes<'a>(&self, name: &str, icon: Option<&'a (Utf8PathBuf, Vec<u8>)>) -> Result<ResourceChanges<'a>> {
        let icon = icon.map(|(path, bytes)| IconFile::parse(bytes, path.as_str())).transpose()?;
        let version_info = if self.version_info.is_empty() {
            None
        } else {
            let fields = crate::pe::version_info::PackageFields { name: name.to_owned(), version: "0.0.0".to_owned(), description: None, authors: Vec::new() };
            Some(crate::pe::version_info::VersionInfo::for_package(&fields, &format!("{name}.exe"), &self.version_info).context("bad --version-info")?)
        };
        ResourceChanges::new(version_info.as_ref(), icon.as_ref())
    }
}
