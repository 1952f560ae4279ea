//! The per-target pipeline, in one place and in order:
//! acquire node → generate the blob (with a code cache when the target runs here) → inject →
//! check the cache at run time → publish the artifact and its manifest atomically.
//!
//! What differs per format lives in one method each: `build_elf` (Linux), `build_macho`
//! (macOS: the signing order that keeps the cache valid), `build_pe` (Windows, the cache
//! made under Wine on Linux).

use std::io::Write;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::config::Sea;
use crate::env::Env;
use crate::generate;
use crate::inject::{self, elf};
use crate::macho;
use crate::node::{LockFile, NodeBinary, NodeFetcher, Os, Platform, VersionSpec};
use crate::progress::{Event, Reporter};
use crate::run::{Invocation, Runner};
use crate::runtime::{Execution, TargetRunner};
use crate::sign::{self, SignMode};

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

/// Whether sea-build can inject into `platform`'s node: every platform but the Linux ones
/// whose ELF is 32-bit (linux-armv7l) or big-endian (linux-s390x).
///
/// ```
/// assert!(sea_build::pipeline::can_build("linux-ppc64le".parse()?));
/// assert!(!sea_build::pipeline::can_build("linux-s390x".parse()?));
/// # anyhow::Ok(())
/// ```
pub fn can_build(platform: Platform) -> bool {
    !(platform.os == Os::Linux && matches!(platform.arch, crate::node::Arch::Armv7l | crate::node::Arch::S390x))
}

/// The manifest path of an artifact: `hello` → `hello.sea.json`, `hello.exe` → `hello.sea.json`.
pub fn manifest_path(artifact: &Utf8Path) -> Utf8PathBuf {
    let stem = artifact.file_name().map(|name| name.strip_suffix(".exe").unwrap_or(name)).unwrap_or("sea");
    artifact.with_file_name(format!("{stem}.sea.json"))
}

/// One target's build of one SEA: what it is made of, staged.
struct Job<'a> {
    sea: &'a Sea,
    staged: &'a generate::Staged,
    /// Whether a code cache is wanted (and not ruled out by `vfs`).
    code_cache: bool,
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
    /// Where signing settings (`SEA_BUILD_SIGN_P12`, its password, `SOURCE_DATE_EPOCH`) are read.
    pub env: &'a Env,
}

impl Pipeline<'_> {
    /// Builds `sea` for `platform` into `out_dir/<name>` (plus `.exe` on Windows).
    pub fn build(&self, sea: &Sea, platform: Platform, out_dir: &Utf8Path) -> Result<Artifact> {
        // 1. Acquire.
        let node = self.fetcher.fetch(&sea.node, platform, self.lock)?;
        sea.check_node_supports(node.version).with_context(|| format!("cannot build {}", sea.name))?;
        // Held until the artifact is published: one build writes into `out_dir` at a time, so
        // what a killed build left there can be swept without touching a live one's files.
        let _out_dir_lock = crate::fsutil::lock_output_dir(out_dir)?;
        let staging_dir = tempfile::Builder::new().prefix(".staging-").tempdir_in(out_dir).with_context(|| format!("could not create a staging directory in {out_dir}"))?;
        let staging = Utf8Path::from_path(staging_dir.path()).context("the output directory is not UTF-8")?;
        let bundler = if sea.bundle { Some(crate::bundle::esbuild::fetch(self.fetcher, self.lock)?) } else { None };
        if let Some(esbuild) = &bundler {
            self.step(format!("bundling {} with esbuild {} for node {}", sea.main, esbuild.version, node.version));
        }
        let staged = generate::stage(sea, node.version, bundler.as_ref().map(|esbuild| esbuild.path.as_path()), staging, self.runner).with_context(|| format!("cannot build {}", sea.name))?;
        let code_cache_omitted = (sea.code_cache && staged.use_vfs)
            .then(|| "with `vfs`, the blob's main is a loader and the program is compiled from the mount at run time (node 26 also refuses useVfs with useCodeCache)".to_owned());
        if let Some(why) = &code_cache_omitted {
            self.reporter.report(Event::Warning(&format!("building {} without a code cache: {why}", sea.name)));
        }
        let job = Job { sea, staged: &staged, code_cache: sea.code_cache && code_cache_omitted.is_none() };
        // Windows (and Wine) run executables by their `.exe` name.
        let exe_suffix = if platform.os == Os::Windows { ".exe" } else { "" };
        let mut output = tempfile::Builder::new().prefix(".partial-").suffix(exe_suffix).tempfile_in(out_dir).with_context(|| format!("could not create a temporary file in {out_dir}"))?;

        // 2. to 4.: generate the blob, inject it, sign: in the order each format needs.
        let target = self.target_runner(sea, platform, &node)?;
        // Runs the target's executables, when anything here can.
        let target_runner = target.runner();
        // The artifact's SHA-256 is computed while it is written.
        let (blob, artifact_sha256) = match platform.os {
            Os::Linux => self.build_elf(&job, &node, target_runner, staging, output.as_file_mut())?,
            Os::Darwin => self.build_macho(&job, &node, target_runner, staging, output.as_file_mut())?,
            Os::Windows => self.build_pe(&job, &node, target_runner, staging, output.as_file_mut())?,
        };
        // Closed before it runs: Linux refuses to execute a file open for writing.
        let output = output.into_temp_path();
        let temp_path = Utf8Path::from_path(&output).context("the output directory is not UTF-8")?.to_owned();
        crate::fsutil::make_executable(&temp_path)?;

        // 5. Run it before it is published: it must exit 0 with `verify-args`, and accept its
        // cache. An artifact that does not run is never published.
        let (cache_accepted, run_time_check) = match target_runner {
            None => (CacheAccepted::NotRunnableHere, target.execution.clone()),
            Some(runner) => {
                self.step(format!("running {} {} ({}) before publishing it", sea.name, shown_args(&sea.verify_args), target.execution));
                let run = run_artifact(runner, &temp_path, &sea.verify_args, &[])?;
                check_run(&sea.name, &sea.verify_args, &run)?;
                let accepted = if !blob.code_cache {
                    CacheAccepted::NoCache
                } else if run.stderr_text().contains(CACHE_REJECTED) {
                    self.reporter.report(Event::Warning(&format!("{} rejects its own code cache at run time: {}", sea.name, run.stderr_text().trim())));
                    CacheAccepted::No
                } else {
                    CacheAccepted::Yes
                };
                (accepted, target.execution.clone())
            }
        };

        // 6. Publish.
        let path = out_dir.join(format!("{}{exe_suffix}", sea.name));
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
            code_cache_omitted,
            bundle_sha256: staged.bundle_sha256.clone(),
            run_time_check,
            node_options_guard: blob.node_options_guard,
            verify_args: sea.verify_args.clone(),
        };
        self.step(format!("publishing {path}"));
        publish(output, &path, &manifest)?;
        Ok(Artifact { path, manifest, node, bundler, inputs: staged.inputs })
    }

    fn step(&self, message: String) {
        self.reporter.report(Event::Step(&message));
    }

    /// Generates the blob: with `generator`, the target's own binary prepared to run here,
    /// when there is one (and with a code cache if the SEA wants one); otherwise without a
    /// cache, by the host's node of exactly the same version.
    fn generate(&self, job: &Job, node: &NodeBinary, generator: Option<(&Utf8Path, &dyn Runner)>, staging: &Utf8Path) -> Result<generate::GeneratedBlob> {
        let sea = job.sea;
        let code_cache = job.code_cache && generator.is_some();
        let host_node;
        let (generator, runner) = match generator {
            Some(generator) => generator,
            None => {
                host_node = self.fetcher.fetch(&VersionSpec::Exact(node.version), Platform::host()?, None)?;
                (host_node.path.as_path(), self.runner)
            }
        };
        self.step(format!("generating the blob of {} with node {}{}", sea.name, node.version, if code_cache { " (with code cache)" } else { "" }));
        generate::generate(sea, job.staged, node.version, generator, code_cache, staging, runner)
    }

    /// How `platform`'s programs run here (see [`TargetRunner::for_target`]); when they do
    /// not and the SEA wants a code cache, a warning says why it is built without one.
    fn target_runner(&self, sea: &Sea, platform: Platform, node: &NodeBinary) -> Result<TargetRunner<'_>> {
        if !self.runner.can_run(platform) {
            self.step(format!("checking how node {} for {platform} runs here", node.version));
        }
        let target = TargetRunner::for_target(platform, &node.path, self.runner, self.env)?;
        if let (Execution::NotRun { reason }, true) = (&target.execution, sea.code_cache) {
            self.reporter.report(Event::Warning(&format!("building {} for {platform} without a code cache: {reason}", sea.name)));
        }
        Ok(target)
    }

    /// Linux: generate with the node binary itself, then inject file to file.
    fn build_elf(&self, job: &Job, node: &NodeBinary, runner: Option<&dyn Runner>, staging: &Utf8Path, output: &mut std::fs::File) -> Result<(generate::GeneratedBlob, String)> {
        let sea = job.sea;
        let blob = self.generate(job, node, runner.map(|runner| (node.path.as_path(), runner)), staging)?;
        self.step(format!("injecting {} into node {} for {}", sea.name, node.version, node.platform));
        let sha256 = inject_into(&node.path, &blob.bytes, output, node.fuse_offset).with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
        Ok((blob, sha256))
    }

    /// macOS, in the one order that gives an accepted code cache:
    ///
    /// 1. prepare: remove node's signature;
    /// 2. sign the prepared copy exactly as the artifact will be signed, because the hardened
    ///    runtime and entitlements change V8's flag hash;
    /// 3. generate the blob with that signed copy when it can run here (a macOS host of the
    ///    target's architecture); otherwise without a cache (signing was only for running);
    /// 4. remove that signature again;
    /// 5. inject the blob (and set the fuse);
    /// 6. relativise debug-map paths under the package and recompute LC_UUID;
    /// 7. sign the result, the same way as in step 2.
    fn build_macho(&self, job: &Job, node: &NodeBinary, runner: Option<&dyn Runner>, staging: &Utf8Path, output: &mut std::fs::File) -> Result<(generate::GeneratedBlob, String)> {
        let sea = job.sea;
        let identity = self.identity(sea)?;
        let signing = sign::Signing { identifier: &sea.name, identity: identity.as_ref(), signing_time: self.signing_time()? };
        let sign_like_artifact = |image: &[u8]| -> Result<Vec<u8>> {
            match sea.sign.mode {
                SignMode::None => Ok(image.to_vec()),
                SignMode::AdHoc | SignMode::Identity => sign::sign(image, &signing),
            }
        };
        let base = std::fs::read(&node.path).with_context(|| format!("could not read {}", node.path))?;
        self.step(format!("preparing node {} for {}: removing its signature", node.version, node.platform));
        let mut prepared = macho::unsign::unsign(&base).with_context(|| format!("could not remove the signature of {}", node.path))?;
        drop(base);
        let blob = if let Some(runner) = runner.filter(|_| job.code_cache) {
            self.step(format!("signing the prepared node {} ({}) as {} will be signed", node.version, sea.sign.mode, sea.name));
            let generator_image = sign_like_artifact(&prepared)?;
            let generator = staging.join(".generator").join("node");
            std::fs::create_dir_all(generator.parent().unwrap_or(staging)).with_context(|| format!("could not create the directory of {generator}"))?;
            std::fs::write(&generator, &generator_image).with_context(|| format!("could not write {generator}"))?;
            crate::fsutil::make_executable(&generator)?;
            let blob = self.generate(job, node, Some((&generator, runner)), staging)?;
            prepared = macho::unsign::unsign(&generator_image).context("could not remove the signature of the generator copy again")?;
            blob
        } else {
            self.generate(job, node, None, staging)?
        };
        self.step(format!("injecting {} into node {} for {}", sea.name, node.version, node.platform));
        let mut injected = inject::macho::inject_to_vec(&prepared, &blob.bytes).with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
        drop(prepared);
        // Paths under the package become relative and the UUID is derived from the content:
        // the artifact no longer is node, so it must not claim node's UUID either.
        let prefix = format!("{}/", sea.package_dir.as_str().trim_end_matches('/'));
        macho::relativise::relativise_in_place(&mut injected, &prefix, &macho::relativise::RelativiseOptions::default()).with_context(|| format!("could not relativise {}", sea.name))?;
        self.step(format!("signing {} ({})", sea.name, sea.sign.mode));
        let signed = sign_like_artifact(&injected).with_context(|| format!("could not sign {}", sea.name))?;
        output.write_all(&signed).context("could not write the artifact")?;
        Ok((blob, crate::digest::sha256_hex(&signed)))
    }

    /// Windows: remove node's Authenticode signature, generate the blob with that unsigned
    /// node.exe (under Wine on Linux), inject it as a resource with the SEA's own version
    /// resource and icon, and sign the result with Authenticode when asked to. Neither the
    /// resources nor the signature change what V8 checks the cache against, so they come
    /// after the blob, and the run before publishing runs the final, signed file.
    fn build_pe(&self, job: &Job, node: &NodeBinary, runner: Option<&dyn Runner>, staging: &Utf8Path, output: &mut std::fs::File) -> Result<(generate::GeneratedBlob, String)> {
        let sea = job.sea;
        // Read and checked first: a bad icon or P12 fails before anything is generated.
        let identity = crate::windows::WindowsIdentity::load(sea, self.env).with_context(|| format!("cannot build {} for Windows", sea.name))?;
        let base = std::fs::read(&node.path).with_context(|| format!("could not read {}", node.path))?;
        self.step(format!("preparing node {} for {}: removing its signature", node.version, node.platform));
        let prepared = crate::pe::unsign(&base).with_context(|| format!("could not remove the signature of {}", node.path))?;
        drop(base);
        let blob = match runner.filter(|_| job.code_cache) {
            Some(runner) => {
                let generator = staging.join(".generator").join("node.exe");
                std::fs::create_dir_all(generator.parent().unwrap_or(staging)).with_context(|| format!("could not create the directory of {generator}"))?;
                std::fs::write(&generator, &prepared).with_context(|| format!("could not write {generator}"))?;
                self.generate(job, node, Some((&generator, runner)), staging)?
            }
            None => self.generate(job, node, None, staging)?,
        };
        self.step(format!("injecting {} into node {} for {}", sea.name, node.version, node.platform));
        let changes = identity.resource_changes(sea)?;
        let mut writer = crate::node::HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, output), false);
        if identity.signs() {
            // Signing hashes the whole image and rewrites its headers: built in memory.
            let mut image = Vec::with_capacity(prepared.len() + blob.bytes.len() + (1 << 20));
            inject::pe::inject_with(&prepared, &blob.bytes, &changes, &mut image).with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
            drop(prepared);
            self.step(format!("signing {} with Authenticode", sea.name));
            let program_name = sea.windows.version_info.as_ref().and_then(|info| info.strings.get("ProductName")).unwrap_or(&sea.name);
            identity.sign(&mut image, program_name).with_context(|| format!("could not sign {}", sea.name))?;
            writer.write_all(&image).context("could not write the artifact")?;
        } else {
            inject::pe::inject_with(&prepared, &blob.bytes, &changes, &mut writer).with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
        }
        writer.flush().context("could not write the artifact")?;
        let (_, sha256, _) = writer.finish();
        Ok((blob, sha256))
    }

    /// The P12 identity for `sign = "identity"`, read now; `None` for the other modes.
    fn identity(&self, sea: &Sea) -> Result<Option<sign::Identity>> {
        if sea.sign.mode != SignMode::Identity {
            return Ok(None);
        }
        let declared = sea.sign.p12.as_ref().map(|path| sea.package_dir.join(path));
        load_identity(self.env, declared, &sea.sign.password_env).map(Some).with_context(|| format!("cannot sign {}", sea.name))
    }

    fn signing_time(&self) -> Result<Option<i64>> {
        signing_time(self.env)
    }
}

/// Reads a P12 identity: the file named by `SEA_BUILD_SIGN_P12`, else `declared`; the
/// password from the variable `password_env`.
fn load_identity(env: &Env, declared: Option<Utf8PathBuf>, password_env: &str) -> Result<sign::Identity> {
    let path = env
        .var(crate::config::P12_PATH_ENV)
        .map(Utf8PathBuf::from)
        .or(declared)
        .with_context(|| format!("identity signing needs a P12 file: set `sign-p12` in [package.metadata.sea] or {}", crate::config::P12_PATH_ENV))?;
    let der = std::fs::read(&path).with_context(|| format!("could not read the P12 identity {path}"))?;
    sign::Identity::from_p12(&der, &env.var(password_env).unwrap_or_default(), path.as_str())
}

/// `SOURCE_DATE_EPOCH`, for a reproducible signing time.
fn signing_time(env: &Env) -> Result<Option<i64>> {
    env.var("SOURCE_DATE_EPOCH").map(|text| text.trim().parse::<i64>().with_context(|| format!("SOURCE_DATE_EPOCH is `{text}`, not a number of seconds since 1970"))).transpose()
}

/// Moves the finished artifact `output` to `path` and writes its manifest beside it, so that
/// at every moment, a kill included, an artifact at `path` has a manifest describing it:
/// the old artifact is removed first, then the new manifest is renamed into place, then the
/// artifact. An interrupted publish leaves at most a manifest without its artifact, which
/// readers ignore ([`published_artifact`]) and the next build replaces.
fn publish(output: tempfile::TempPath, path: &Utf8Path, manifest: &Manifest) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(manifest)?;
    json.push(b'\n');
    let dir = path.parent().context("an artifact path has a directory")?;
    let mut manifest_file = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir).with_context(|| format!("could not create a temporary file in {dir}"))?;
    manifest_file.write_all(&json).with_context(|| format!("could not write the manifest of {path}"))?;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("could not remove the previous artifact {path}")),
    }
    let manifest_at = manifest_path(path);
    manifest_file.persist(&manifest_at).with_context(|| format!("could not move the manifest into place at {manifest_at}"))?;
    output.persist(path).with_context(|| format!("could not move the finished artifact to {path}"))?;
    Ok(())
}

/// The artifact a manifest at `manifest` describes, when it is there: `hello.sea.json` →
/// `hello` or `hello.exe`. `None` when a build was interrupted between publishing the
/// manifest and the artifact.
pub fn published_artifact(manifest: &Utf8Path) -> Option<Utf8PathBuf> {
    let stem = manifest.as_str().strip_suffix(".sea.json")?;
    [format!("{stem}.exe"), stem.to_owned()].into_iter().map(Utf8PathBuf::from).find(|path| path.is_file())
}

/// Writes `base` with `blob` injected to `out`, holding neither in memory: the kernel copies
/// the base into `out` (`copy_file_range`), the headers are read through a map of that
/// private copy, and only the changed and appended bytes are written into it. The base may
/// be a user's file, so it is never mapped: a file truncated under a map faults the process.
///
/// `fuse_offset` is where the cache found the unset fuse when it verified `base`; without
/// it the copy is searched. Returns the SHA-256 of what was written, computed while writing.
fn inject_into(base: &Utf8Path, blob: &[u8], out: &mut std::fs::File, fuse_offset: Option<u64>) -> Result<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(base).with_context(|| format!("could not open {base}"))?;
    if inject::Format::detect(&crate::fsutil::read_head(&mut file, base)?) != Some(inject::Format::Elf) {
        bail!("{base} is not an ELF executable");
    }
    file.seek(SeekFrom::Start(0)).with_context(|| format!("could not read {base}"))?;
    out.set_len(0).and_then(|()| out.seek(SeekFrom::Start(0))).context("could not reset the output file")?;
    std::io::copy(&mut file, out).with_context(|| format!("could not copy {base}"))?;
    drop(file);
    let fuse_offset = match fuse_offset.map(usize::try_from) {
        // `elf::plan` checks that the unset fuse is there.
        Some(Ok(offset)) => offset,
        _ => {
            let mut copy: &std::fs::File = out;
            copy.seek(SeekFrom::Start(0)).context("could not read back the copy")?;
            match inject::fuse::find_fuse_in(std::io::BufReader::with_capacity(1 << 20, copy))? {
                inject::fuse::FuseState::Unset { offset } => offset,
                inject::fuse::FuseState::Set { offset } => bail!("{base} already carries a SEA blob (its fuse at {offset:#x} is set): start from a fresh node binary"),
            }
        }
    };
    let image = crate::fsutil::map_readonly(out)?;
    let (splice, _) = elf::plan(&image, blob.len(), fuse_offset).with_context(|| format!("{base} cannot take a SEA blob"))?;
    drop(image);
    crate::fsutil::apply_splice_to_copy(out, &splice, blob).context("could not write the injected image")
}

/// Injects the blob file `blob` into the node binary `base` and writes the executable to
/// `out` atomically: what `inject` does on the command line, without generation or checks.
/// Mach-O and PE bases lose their signature first; Mach-O results are then signed as `sign`
/// says (identity settings from `env`, see [`relativise_file`]).
///
/// ```no_run
/// use camino::Utf8Path;
/// use sea_build::sign::SignMode;
/// let env = sea_build::Env::from_process();
/// sea_build::pipeline::inject_file(Utf8Path::new("node"), Utf8Path::new("sea-prep.blob"), Utf8Path::new("app"), SignMode::AdHoc, &env)?;
/// # anyhow::Ok(())
/// ```
pub fn inject_file(base: &Utf8Path, blob: &Utf8Path, out: &Utf8Path, sign: SignMode, env: &Env) -> Result<()> {
    inject_file_with(base, blob, out, sign, &crate::windows::InjectResources::default(), env)
}

/// [`inject_file`], with a PE result given the version resource and icon `resources` name
/// (ignored for other formats).
///
/// ```no_run
/// use camino::Utf8Path;
/// use sea_build::sign::SignMode;
/// let resources = sea_build::windows::InjectResources { icon: Some("app.ico".into()), version_info: [("ProductName".to_owned(), "App".to_owned())].into() };
/// let env = sea_build::Env::from_process();
/// sea_build::pipeline::inject_file_with(Utf8Path::new("node.exe"), Utf8Path::new("sea-prep.blob"), Utf8Path::new("app.exe"), SignMode::Identity, &resources, &env)?;
/// # anyhow::Ok(())
/// ```
pub fn inject_file_with(base: &Utf8Path, blob: &Utf8Path, out: &Utf8Path, sign: SignMode, resources: &crate::windows::InjectResources, env: &Env) -> Result<()> {
    let blob_bytes = std::fs::read(blob).with_context(|| format!("could not read the blob {blob}"))?;
    let failed = || format!("could not inject {blob} into {base}");
    let mut file = std::fs::File::open(base).with_context(|| format!("could not open {base}"))?;
    let format = inject::Format::detect(&crate::fsutil::read_head(&mut file, base)?);
    drop(file);
    // Mach-O and PE are rewritten in the middle (and Mach-O signed): in memory, read, never
    // mapped, because `base` is the user's file.
    let read_base = || std::fs::read(base).with_context(|| format!("could not read {base}"));
    match format {
        // Appended to: the bulk is copied by the kernel.
        Some(inject::Format::Elf) => publish_executable(out, |file| inject_into(base, &blob_bytes, file, None).map(drop).with_context(failed)),
        Some(inject::Format::MachO) => {
            let image = read_base()?;
            let unsigned = macho::unsign::unsign(&image).with_context(failed)?;
            drop(image);
            let injected = inject::macho::inject_to_vec(&unsigned, &blob_bytes).with_context(failed)?;
            drop(unsigned);
            let bytes = sign_image(injected, sign, out.file_name().unwrap_or("app"), env)?;
            publish_executable(out, |file| Ok(file.write_all(&bytes)?))
        }
        Some(inject::Format::Pe) => {
            let image = read_base()?;
            let unsigned = crate::pe::unsign(&image).with_context(failed)?;
            drop(image);
            // The version resource, icon and Authenticode signature (issue 14).
            let name = out.file_stem().unwrap_or("app");
            let icon = resources.read_icon()?;
            let changes = resources.changes(name, icon.as_ref())?;
            publish_executable(out, |file| {
                if sign == SignMode::Identity {
                    let mut signed = Vec::with_capacity(unsigned.len() + blob_bytes.len() + (1 << 20));
                    inject::pe::inject_with(&unsigned, &blob_bytes, &changes, &mut signed).with_context(failed)?;
                    crate::windows::sign_with_env(&mut signed, name, env).with_context(|| format!("could not sign {out}"))?;
                    return Ok(file.write_all(&signed)?);
                }
                let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
                inject::pe::inject_with(&unsigned, &blob_bytes, &changes, &mut writer).with_context(failed)?;
                Ok(writer.flush()?)
            })
        }
        None => bail!("{base} is not an executable sea-build can inject into (ELF, Mach-O or PE)"),
    }
}

/// Signs a Mach-O image as `mode` says, with `identifier`; identities from `env`.
fn sign_image(image: Vec<u8>, mode: SignMode, identifier: &str, env: &Env) -> Result<Vec<u8>> {
    let identity = match mode {
        SignMode::None => return Ok(image),
        SignMode::Identity => Some(load_identity(env, None, crate::config::P12_PASSWORD_ENV)?),
        SignMode::AdHoc => None,
    };
    sign::sign(&image, &sign::Signing { identifier, identity: identity.as_ref(), signing_time: signing_time(env)? })
}

/// Writes an executable at `out` through a temporary file beside it, renamed into place
/// when `write` succeeded; on failure nothing is left behind. Like the compiler's outputs,
/// no fsync: a crash leaves the old file or the new one, and syncing 100+ MB doubles the cost.
fn publish_executable(out: &Utf8Path, write: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let dir = out.parent().filter(|dir| !dir.as_str().is_empty()).unwrap_or(Utf8Path::new("."));
    let mut output = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir).with_context(|| format!("could not create a temporary file in {dir}"))?;
    write(output.as_file_mut())?;
    let output = output.into_temp_path();
    crate::fsutil::make_executable(Utf8Path::from_path(&output).context("the output directory is not UTF-8")?)?;
    output.persist(out).with_context(|| format!("could not move the finished file to {out}"))?;
    Ok(())
}

/// Relativises the Mach-O file `input` against `prefix` (see [`macho::relativise`]) and
/// writes it to `out` atomically (`out` may be `input`): a signature is removed first and
/// the result signed with `sign` (default: ad-hoc when `input` was signed, unsigned when it
/// was not; an identity comes from `SEA_BUILD_SIGN_P12` and its password variable in `env`,
/// the signing time from `SOURCE_DATE_EPOCH`). Returns a one-line summary.
///
/// ```no_run
/// use camino::Utf8Path;
/// let env = sea_build::Env::from_process();
/// let path = Utf8Path::new("target/aarch64-apple-darwin/release/app");
/// sea_build::pipeline::relativise_file(path, "/home/me/checkout/", path, None, &env)?;
/// # anyhow::Ok(())
/// ```
pub fn relativise_file(input: &Utf8Path, prefix: &str, out: &Utf8Path, sign: Option<SignMode>, env: &Env) -> Result<String> {
    let options = macho::relativise::RelativiseOptions::default();
    let mut file = std::fs::File::open(input).with_context(|| format!("could not open {input}"))?;
    let mut result = None;
    // `input` is the user's file, so it is never mapped (a file truncated under a map faults
    // the process): the kernel copies it, and the copy is mapped. Unsigned files staying so
    // have only the pages that change (symbols, strings, header) rewritten through the map;
    // unsigning and signing rewrite the whole image, in memory.
    publish_executable(out, |copy| {
        std::io::copy(&mut file, copy).with_context(|| format!("could not copy {input}"))?;
        // SAFETY: the map is of our own unpublished temporary file, which nothing else
        // writes or truncates while it is mapped.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&*copy) }.with_context(|| format!("could not map the copy of {input}"))?;
        let was_signed = macho::unsign::is_signed(&map).with_context(|| format!("{input} is not a Mach-O file sea-build can relativise"))?;
        let mode = sign.unwrap_or(if was_signed { SignMode::AdHoc } else { SignMode::None });
        let summary = if was_signed || mode != SignMode::None {
            let mut image = macho::unsign::unsign(&map).with_context(|| format!("could not remove the signature of {input}"))?;
            drop(map);
            let summary = macho::relativise::relativise_in_place(&mut image, prefix, &options).with_context(|| format!("could not relativise {input}"))?;
            let bytes = sign_image(image, mode, out.file_name().unwrap_or("a.out"), env)?;
            crate::fsutil::overwrite(copy, &bytes).with_context(|| format!("could not write {out}"))?;
            summary
        } else {
            let done = macho::relativise::relativise_slice(&mut map, prefix, &options).with_context(|| format!("could not relativise {input}"))?;
            drop(map);
            copy.set_len(done.len).context("could not cut the relativised copy")?;
            done
        };
        result = Some((summary, mode));
        Ok(())
    })?;
    let (summary, mode) = result.context("internal error: relativising produced no summary")?;
    let rewritten: u64 = summary.images.iter().map(|image| image.paths_rewritten).sum();
    let zeroed: u64 = summary.images.iter().map(|image| image.timestamps_zeroed).sum();
    Ok(format!("{out}: {rewritten} paths relativised, {zeroed} timestamps zeroed, {} image(s), signed {mode}", summary.images.len()))
}

/// How long the run-time checks let an artifact run.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs an artifact the way the run-time checks do: a clean environment plus `env`, `args`,
/// and a one-minute limit ([`RUN_TIMEOUT`]).
pub fn run_artifact(runner: &dyn Runner, artifact: &Utf8Path, args: &[String], env: &[(String, String)]) -> Result<crate::run::RunOutput> {
    let mut invocation = Invocation::new(artifact, args.iter().cloned());
    invocation.clean_env = true;
    invocation.env = env.to_vec();
    invocation.timeout = RUN_TIMEOUT;
    runner.run(&invocation)
}

/// `verify-args` for messages: `with --version` or `without arguments`.
fn shown_args(args: &[String]) -> String {
    if args.is_empty() { "without arguments".to_owned() } else { format!("with {}", args.join(" ")) }
}

/// Fails unless the pre-publish run of `name` exited 0; the error carries its stderr and says
/// what to do.
fn check_run(name: &str, verify_args: &[String], run: &crate::run::RunOutput) -> Result<()> {
    let Some(failure) = run.failure(RUN_TIMEOUT) else { return Ok(()) };
    let stderr = run.stderr_text();
    let hint = if stderr.contains("ERR_UNKNOWN_BUILTIN_MODULE") {
        "\nA SEA's main can require only node's built-in modules: keep `bundle = true` (the default) so its own files and dependencies are bundled into it, or list them in `vfs` (node 26+)."
    } else {
        ""
    };
    bail!(
        "{name} failed to run ({failure}) when run {} before publishing; nothing was published. Its standard error:\n{}{hint}\nThe build runs every artifact it can run here with `verify-args`: fix the program, or set `verify-args` in [package.metadata.sea] to arguments that exercise it and exit 0 quickly (such as [\"--version\"]).",
        shown_args(verify_args),
        if stderr.trim().is_empty() { "(empty)".to_owned() } else { stderr.trim_end().to_owned() }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            name: "app".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            platform: "linux-x64".into(),
            node_version: crate::node::Version::new(24, 21, 0),
            node_source: "npm".into(),
            node_sha256: "aa".repeat(32),
            artifact_sha256: "bb".repeat(32),
            code_cache_embedded: true,
            cache_accepted: CacheAccepted::Yes,
            code_cache_omitted: None,
            bundle_sha256: None,
            run_time_check: Execution::Native,
            node_options_guard: true,
            verify_args: Vec::new(),
        }
    }

    fn finished_artifact(dir: &Utf8Path, bytes: &[u8]) -> tempfile::TempPath {
        let mut file = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir).unwrap();
        file.write_all(bytes).unwrap();
        file.into_temp_path()
    }

    #[test]
    fn an_artifact_is_never_published_without_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let path = dir.join("app");
        std::fs::write(&path, b"the previous build").unwrap();
        // The manifest cannot be written (a directory stands at its path): the new artifact
        // must not be published, and the previous one, whose manifest is now gone, neither.
        std::fs::create_dir(manifest_path(&path)).unwrap();
        assert!(publish(finished_artifact(dir, b"new"), &path, &manifest()).is_err());
        assert!(!path.exists(), "an artifact without its manifest was left at {path}");

        std::fs::remove_dir(manifest_path(&path)).unwrap();
        publish(finished_artifact(dir, b"new"), &path, &manifest()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(published_artifact(&manifest_path(&path)), Some(path.clone()));
        let written: Manifest = serde_json::from_slice(&std::fs::read(manifest_path(&path)).unwrap()).unwrap();
        assert_eq!(written, manifest());
    }

    #[test]
    fn a_manifest_without_its_artifact_is_not_a_published_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        std::fs::write(dir.join("app.sea.json"), b"{}").unwrap();
        assert_eq!(published_artifact(&dir.join("app.sea.json")), None);
        std::fs::write(dir.join("app.exe"), b"MZ").unwrap();
        assert_eq!(published_artifact(&dir.join("app.sea.json")), Some(dir.join("app.exe")));
    }
}
