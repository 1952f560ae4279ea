//! What a build produces: the artifact, the manifest written beside it, and how a reader
//! finds one from the other.

use camino::{Utf8Path, Utf8PathBuf};

use crate::node::NodeBinary;
use crate::runtime::Execution;

/// Whether the artifact accepted its code cache when run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheAccepted {
    /// It ran without the rejection warning.
    Yes,
    /// It printed the rejection warning.
    No,
    /// The artifact cannot run on this machine, so nobody could check.
    NotRunnableHere,
    /// The artifact carries no code cache.
    NoCache,
}

impl std::fmt::Display for CacheAccepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CacheAccepted::Yes => "yes",
            CacheAccepted::No => "no",
            CacheAccepted::NotRunnableHere => "not runnable here",
            CacheAccepted::NoCache => "no cache",
        })
    }
}

/// The JSON manifest written beside each artifact (`<name>.sea.json`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    /// The SEA's name.
    pub name: String,
    /// The Rust target triple.
    pub target: String,
    /// The Node platform name.
    pub platform: String,
    /// The node version built from.
    pub node_version: crate::node::Version,
    /// Where that node came from.
    pub node_source: String,
    /// SHA-256 of the node binary built from.
    pub node_sha256: String,
    /// SHA-256 of the artifact.
    pub artifact_sha256: String,
    /// Whether a V8 code cache is embedded.
    pub code_cache_embedded: bool,
    /// Whether the artifact accepted it when run here.
    pub cache_accepted: CacheAccepted,
    /// Why no code cache is embedded although the SEA asks for one, when that is so for a
    /// reason other than the target not running here (`vfs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_cache_omitted: Option<String>,
    /// SHA-256 of the bundle, when `main` was bundled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_sha256: Option<String>,
    /// How the run-time check ran before the artifact was published (with `verify-args`,
    /// exiting 0): natively, under Wine or qemu (which, and its version), or not at all (and
    /// why).
    #[serde(default)]
    pub run_time_check: Execution,
    /// Whether NODE_OPTIONS is kept from extending exec-argv (node 22.20+/24.7+).
    pub node_options_guard: bool,
    /// Arguments for the run-time cache check.
    pub verify_args: Vec<String>,
}

/// A built SEA.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The executable.
    pub path: Utf8PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The node it was built from.
    pub node: NodeBinary,
    /// The esbuild that bundled `main`, when it was bundled.
    pub bundler: Option<crate::bundle::esbuild::Esbuild>,
    /// Every package file the artifact is made from, package-relative.
    pub inputs: Vec<Utf8PathBuf>,
}

/// The manifest path of an artifact: `hello` → `hello.sea.json`, `hello.exe` → `hello.sea.json`.
pub fn manifest_path(artifact: &Utf8Path) -> Utf8PathBuf {
    let stem = artifact.file_name().map(|name| name.strip_suffix(".exe").unwrap_or(name)).unwrap_or("sea");
    artifact.with_file_name(format!("{stem}.sea.json"))
}

/// The artifact a manifest at `manifest` describes, when it is there: `hello.sea.json` →
/// `hello` or `hello.exe`. `None` when a build was interrupted between publishing the
/// manifest and the artifact.
pub fn published_artifact(manifest: &Utf8Path) -> Option<Utf8PathBuf> {
    let stem = manifest.as_str().strip_suffix(".sea.json")?;
    [format!("{stem}.exe"), stem.to_owned()].into_iter().map(Utf8PathBuf::from).find(|path| path.is_file())
}
