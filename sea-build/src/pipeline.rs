//! The per-target pipeline, in one place and in order:
//! acquire node → generate the blob (with a code cache when the target runs here) → inject →
//! check the cache at run time → publish the artifact and its manifest atomically.


use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::config::Sea;
use crate::generate;
use crate::inject::{self, elf};
use crate::node::{LockFile, NodeBinary, NodeFetcher, Os, Platform, VersionSpec};
use crate::progress::{Event, Reporter};
use crate::run::{Invocation, Runner};

/// What node printed when V8 refused the embedded code cache.
pub const CACHE_REJECTED: &str = "Code cache data rejected.";

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
}

/// The manifest path of an artifact: `hello` → `hello.sea.json`, `hello.exe` → `hello.sea.json`.
pub fn manifest_path(artifact: &Utf8Path) -> Utf8PathBuf {
    let stem = artifact.file_name().map(|name| name.strip_suffix(".exe").unwrap_or(name)).unwrap_or("sea");
    artifact.with_file_name(format!("{stem}.sea.json"))
}

/// Builds SEAs; holds what every target's build shares.
pub struct Pipeline<'a> {
    /// Where node comes from.
    pub fetcher: &'a NodeFetcher,
    /// Runs node and the artifacts.
    pub runner: &'a dyn Runner,
    /// Receives progress.
    pub reporter: &'a dyn Reporter,
    /// The lock to verify against, with its path.
    pub lock: Option<(&'a LockFile, &'a Utf8Path)>,
}

impl Pipeline<'_> {
    /// Builds `sea` for `platform` into `out_dir/<name>` (plus `.exe` on Windows).
    pub fn build(&self, sea: &Sea, platform: Platform, out_dir: &Utf8Path) -> Result<Artifact> {
        if platform.os != Os::Linux {
            bail!("building for {platform} is not supported yet: sea-build injects into Linux (ELF) binaries so far");
        }
        let step = |message: String| self.reporter.report(Event::Step(&message));
        // 1. Acquire.
        let node = self.fetcher.fetch(&sea.node, platform, self.lock)?;
        sea.check_node_supports(node.version).with_context(|| format!("cannot build {}", sea.name))?;
        std::fs::create_dir_all(out_dir).with_context(|| format!("could not create {out_dir}"))?;

        // 2. Generate the blob, with the target's own node when it runs here.
        let runnable = platform.is_host();
        let generator = if runnable { node.clone() } else { self.fetcher.fetch(&VersionSpec::Exact(node.version), Platform::host()?, None)? };
        let code_cache = sea.code_cache && runnable;
        step(format!("generating the blob of {} with node {}{}", sea.name, node.version, if code_cache { " (with code cache)" } else { "" }));
        let staging = tempfile::Builder::new().prefix(".staging-").tempdir_in(out_dir).with_context(|| format!("could not create a staging directory in {out_dir}"))?;
        let staging_path = Utf8Path::from_path(staging.path()).context("the output directory is not UTF-8")?;
        generate::stage(sea, staging_path)?;
        let blob = generate::generate(sea, node.version, &generator.path, code_cache, staging_path, self.runner)?;

        // 3. Inject into a temporary file beside the final path.
        step(format!("injecting {} into node {} for {platform}", sea.name, node.version));
        let mut output = tempfile::Builder::new().prefix(".partial-").tempfile_in(out_dir).with_context(|| format!("could not create a temporary file in {out_dir}"))?;
        inject_into(&node.path, &blob.bytes, output.as_file_mut()).with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
        // Closed before it runs: Linux refuses to execute a file open for writing.
        let output = output.into_temp_path();
        let temp_path = Utf8Path::from_path(&output).context("the output directory is not UTF-8")?.to_owned();
        crate::fsutil::make_executable(&temp_path)?;

        // 4. Check at run time that the cache is accepted, before the artifact is published.
        let cache_accepted = if !blob.code_cache {
            if runnable { CacheAccepted::NoCache } else { CacheAccepted::NotRunnableHere }
        } else {
            step(format!("checking that {} accepts its code cache", sea.name));
            let run = run_artifact(self.runner, &temp_path, &sea.verify_args, &[])?;
            if run.stderr_text().contains(CACHE_REJECTED) {
                self.reporter.report(Event::Warning(&format!("{} rejects its own code cache at run time: {}", sea.name, run.stderr_text().trim())));
                CacheAccepted::No
            } else {
                CacheAccepted::Yes
            }
        };

        // 5. Publish.
        let path = out_dir.join(format!("{}{}", sea.name, if platform.os == Os::Windows { ".exe" } else { "" }));
        let artifact_sha256 = crate::digest::sha256_file(&temp_path)?;
        output.persist(&path).with_context(|| format!("could not move the finished artifact to {path}"))?;
        let manifest = Manifest {
            name: sea.name.clone(),
            target: platform.rust_triple().to_owned(),
            platform: platform.node_name().to_owned(),
            node_version: node.version,
            node_source: node.source.clone(),
            node_sha256: node.binary_sha256.clone(),
            artifact_sha256,
            code_cache_embedded: blob.code_cache,
            cache_accepted,
            node_options_guard: blob.node_options_guard,
            verify_args: sea.verify_args.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&manifest)?;
        json.push(b'\n');
        crate::fsutil::write_atomic(&manifest_path(&path), &json)?;
        Ok(Artifact { path, manifest, node })
    }
}

/// Writes `base` with `blob` injected to `out`, holding neither in memory: the fuse is found
/// by reading the file a megabyte at a time, the headers through a memory map, and the
/// unchanged bulk is copied by the kernel.
fn inject_into(base: &Utf8Path, blob: &[u8], out: &mut std::fs::File) -> Result<()> {
    let file = std::fs::File::open(base).with_context(|| format!("could not open {base}"))?;
    let fuse_offset = match inject::fuse::find_fuse_in(std::io::BufReader::new(&file))? {
        inject::fuse::FuseState::Unset { offset } => offset,
        inject::fuse::FuseState::Set { offset } => bail!("{base} already carries a SEA blob (its fuse at {offset:#x} is set): start from a fresh node binary"),
    };
    let image = crate::fsutil::map_readonly(&file, base)?;
    let (splice, _) = elf::plan(&image, blob.len(), fuse_offset)?;
    crate::fsutil::write_splice(&file, &splice, blob, out).context("could not write the injected image")?;
    Ok(())
}

/// Injects the blob file `blob` into the node binary `base` and writes the executable to
/// `out` atomically: what `inject` does on the command line, without generation or checks.
///
/// ```no_run
/// use camino::Utf8Path;
/// sea_build::pipeline::inject_file(Utf8Path::new("node"), Utf8Path::new("sea-prep.blob"), Utf8Path::new("app"))?;
/// # anyhow::Ok(())
/// ```
pub fn inject_file(base: &Utf8Path, blob: &Utf8Path, out: &Utf8Path) -> Result<()> {
    let blob_bytes = std::fs::read(blob).with_context(|| format!("could not read the blob {blob}"))?;
    let dir = out.parent().filter(|dir| !dir.as_str().is_empty()).unwrap_or(Utf8Path::new("."));
    let mut output = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir).with_context(|| format!("could not create a temporary file in {dir}"))?;
    inject_into(base, &blob_bytes, output.as_file_mut()).with_context(|| format!("could not inject {blob} into {base}"))?;
    // Like the compiler's outputs, artifacts are renamed into place without an fsync: a
    // crash leaves the old file or the new one, and syncing 100+ MB doubles the cost.
    let output = output.into_temp_path();
    crate::fsutil::make_executable(Utf8Path::from_path(&output).context("the output directory is not UTF-8")?)?;
    output.persist(out).with_context(|| format!("could not move the injected executable to {out}"))?;
    Ok(())
}

/// Runs an artifact the way the cache checks do: a clean environment plus `env`, `args`, and a
/// one-minute limit.
pub fn run_artifact(runner: &dyn Runner, artifact: &Utf8Path, args: &[String], env: &[(String, String)]) -> Result<crate::run::RunOutput> {
    let mut invocation = Invocation::new(artifact, args.iter().cloned());
    invocation.clean_env = true;
    invocation.env = env.to_vec();
    invocation.timeout = std::time::Duration::from_secs(60);
    let output = runner.run(&invocation)?;
    if output.timed_out {
        bail!("{} ran for more than a minute: give it `verify-args` that make it exit quickly (such as --version)", invocation.display());
    }
    Ok(output)
}
