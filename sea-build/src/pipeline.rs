//! The per-target pipeline, in one place and in order:
//! acquire node → generate the blob (with a code cache when the target runs here) → inject →
//! check the cache at run time → publish the artifact and its manifest atomically.
//!
//! What differs per format lives in one method each: `build_elf` (Linux), `build_macho`
//! (macOS: the signing order that keeps the cache valid), `build_pe` (Windows, the cache
//! made under Wine on Linux).

use anyhow::{Context, Result};
use camino::Utf8Path;

use crate::artifact::{Artifact, CacheAccepted, IcuTrimmed, Manifest};
use crate::config::Sea;
use crate::env::Env;
use crate::generate;
use crate::icu::IcuData;
use crate::inject;
use crate::node::{LockFile, NodeBinary, NodeFetcher, Os, Platform, VersionSpec};
use crate::progress::{Event, Reporter};
use crate::run::Runner;
use crate::runtime::{CACHE_REJECTED, Execution, RUN_TIMEOUT, TargetRunner, run_artifact};

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

/// Runs of at least this many zero blocks (4 KiB each) become holes in a sparse artifact.
const SPARSE_MIN_BLOCKS: u64 = 16;

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
    pub fn build(&self, sea: &Sea, platform: Platform, out_dir: &Utf8Path) -> crate::Result<Artifact> {
        self.build_inner(sea, platform, out_dir).map_err(crate::Error::from)
    }

    // The body of `build`: anyhow's error inside the crate, marked with kinds where they are known.
    fn build_inner(&self, sea: &Sea, platform: Platform, out_dir: &Utf8Path) -> Result<Artifact> {
        platform.require_feature().with_context(|| format!("cannot build {}", sea.name))?;
        // 1. Acquire.
        let node = self.fetcher.fetch(&sea.node, platform, self.lock)?;
        sea.check_node_supports(node.version).with_context(|| format!("cannot build {}", sea.name))?;
        // Held until the artifact is published: one build writes into `out_dir` at a time, so
        // what a killed build left there can be swept without touching a live one's files.
        let _out_dir_lock = crate::fsutil::lock_output_dir(out_dir)?;
        let staging_dir = tempfile::Builder::new().prefix(".staging-").tempdir_in(out_dir).with_context(|| format!("could not create a staging directory in {out_dir}"))?;
        let staging = Utf8Path::from_path(staging_dir.path()).context("the output directory is not UTF-8")?;
        let bundler = if sea.bundle.bundles() { Some(crate::bundle::esbuild::fetch(self.fetcher, self.lock)?) } else { None };
        if let Some(esbuild) = &bundler {
            self.step(format!("bundling {} with esbuild {} for node {}", sea.main, esbuild.version, node.version));
        }
        let staged =
            generate::stage(sea, node.version, platform, bundler.as_ref().map(|esbuild| esbuild.path.as_path()), staging, self.runner).with_context(|| format!("cannot build {}", sea.name))?;
        for warning in &staged.warnings {
            self.reporter.report(Event::Warning(&format!("{}: {warning}", sea.name)));
        }
        if let Some(mount) = &staged.mount {
            let compressed = if sea.compress { format!(", {:.1} MB deflated", mount.stored as f64 / 1e6) } else { String::new() };
            self.step(format!("mounting {} files ({:.1} MB{compressed}) of {}'s package", mount.files, mount.bytes as f64 / 1e6, sea.name));
            if sea.train_args.is_some() && mount.commonjs == 0 {
                self.reporter.report(Event::Warning(&format!(
                    "{}: `code-cache = \"trained\"` trains the caches of CommonJS modules, and this mounted package has none (node compiles its ES modules at start)",
                    sea.name
                )));
            }
        }
        let code_cache_omitted = (sea.code_cache && staged.use_vfs)
            .then(|| "with `vfs`, the blob's main is a loader and the program is compiled from the mount at run time (node 26 also refuses useVfs with useCodeCache)".to_owned());
        if let Some(why) = &code_cache_omitted {
            self.reporter.report(Event::Warning(&format!("building {} without a code cache: {why}", sea.name)));
        }
        let job = Job { sea, staged: &staged, code_cache: sea.code_cache && code_cache_omitted.is_none() };
        // Windows (and Wine) run executables by their `.exe` name.
        let exe_suffix = if platform.os == Os::Windows { ".exe" } else { "" };
        let mut output = crate::publish::partial_file(out_dir, exe_suffix)?;

        // The node the artifact is made of: with `icu` locales, a copy whose ICU data holds only
        // theirs, made before the blob so the code cache comes from the binary that ships.
        let trimmed = match &sea.icu {
            IcuData::Full => None,
            IcuData::Locales(locales) => Some(self.trim_icu(sea, &node, locales, staging)?),
        };
        let (base, icu_trimmed) = match &trimmed {
            Some((base, trimmed)) => (base, Some(trimmed.clone())),
            None => (&node, None),
        };

        // 2. to 4.: generate the blob, inject it, sign: in the order each format needs.
        let target = self.target_runner(sea, platform, base)?;
        // Runs the target's executables, when anything here can.
        let target_runner = target.runner();
        // The artifact's SHA-256 is computed while it is written.
        let (blob, artifact_sha256, stripped_bytes) = match platform.os {
            Os::Linux => {
                let (blob, sha256, stripped) = self.build_elf(&job, base, target_runner, staging, output.as_file_mut())?;
                (blob, sha256, sea.strip.then_some(stripped))
            }
            #[cfg(feature = "macos")]
            Os::Darwin => self.build_macho(&job, base, target_runner, staging, output.as_file_mut())?,
            // `require_feature` refused it above.
            #[cfg(not(feature = "macos"))]
            Os::Darwin => unreachable!("macOS targets need the `macos` feature"),
            #[cfg(feature = "windows")]
            Os::Windows => {
                let (blob, sha256) = self.build_pe(&job, base, target_runner, staging, output.as_file_mut())?;
                (blob, sha256, None)
            }
            #[cfg(not(feature = "windows"))]
            Os::Windows => unreachable!("Windows targets need the `windows` feature"),
        };
        if icu_trimmed.is_some() {
            // The freed ICU bytes (and any other long run of zeros) take no room on disk.
            crate::fsutil::punch_zero_runs(output.as_file(), SPARSE_MIN_BLOCKS).context("could not make the artifact sparse")?;
        }
        let output = crate::publish::close_executable(output)?;
        let temp_path = Utf8Path::from_path(&output).context("the output directory is not UTF-8")?.to_owned();

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

        // 6. Publish, with the release archive when asked for.
        let path = out_dir.join(format!("{}{exe_suffix}", sea.name));
        let archive = if sea.archive { Some(self.write_archive(sea, platform, &node, &temp_path, exe_suffix, out_dir)?) } else { None };
        let manifest = Manifest {
            name: sea.name.clone(),
            target: platform.rust_triple().to_owned(),
            platform: platform.node_name().to_owned(),
            node_version: node.version,
            node_source: node.source.clone(),
            node_sha256: node.binary_sha256.clone(),
            node_license: crate::artifact::NODE_SPDX.to_owned(),
            node_license_file: None,
            artifact_sha256,
            code_cache_embedded: blob.code_cache,
            cache_accepted,
            code_cache_omitted,
            bundle_sha256: staged.bundle_sha256.clone(),
            run_time_check,
            node_options_guard: blob.node_options_guard,
            verify_args: sea.verify_args.clone(),
            startup_snapshot: blob.snapshot,
            stripped_bytes,
            icu_trimmed,
            archive: archive.as_ref().map(|(_, record)| record.clone()),
            code_cache_trained: blob.trained,
            mounted: staged.mount.as_ref().map(|mount| crate::artifact::Mounted {
                files: mount.files,
                bytes: mount.bytes,
                compressed: sea.compress.then_some(mount.stored),
                module_caches: blob.module_caches,
            }),
        };
        self.step(format!("publishing {path}"));
        crate::artifact::publish(output, &path, &manifest, node.license.as_deref())?;
        if let Some((file, record)) = archive {
            let at = out_dir.join(&record.file);
            crate::publish::persist(file, &at, false).with_context(|| format!("could not publish the release archive {at}"))?;
        }
        if node.license.is_none() {
            self.reporter.report(Event::Warning(&format!(
                "{}: node {} for {} came without its LICENSE ({}); a release must still include node's licence (MIT): ship node's LICENSE of that version beside it",
                sea.name,
                node.version,
                node.platform,
                node.missing_license_reason()
            )));
        }
        let sidecar = match &sea.sidecar_dir {
            Some(dir) => {
                let dir = sea.package_dir.join(dir);
                let placed = crate::artifact::place_sidecar(&path, &manifest, node.license.as_deref(), &dir)?;
                self.step(format!("placed sidecar {placed}"));
                Some(placed)
            }
            None => None,
        };
        Ok(Artifact { path, manifest, node, bundler, inputs: staged.inputs, sidecar })
    }

    /// A copy of `node` in `staging` whose ICU data holds only what `locales` need.
    fn trim_icu(&self, sea: &Sea, node: &NodeBinary, locales: &[String], staging: &Utf8Path) -> Result<(NodeBinary, IcuTrimmed)> {
        self.step(format!("trimming the ICU data of node {} for {} to {}", node.version, node.platform, locales.join(", ")));
        let dir = staging.join(".icu");
        std::fs::create_dir_all(&dir).with_context(|| format!("could not create {dir}"))?;
        let path = dir.join(node.path.file_name().unwrap_or("node"));
        let trimmed = crate::icu::write_trimmed_node(&node.path, locales, &path).with_context(|| format!("cannot build {} with `icu` = {locales:?}", sea.name))?;
        let freed_bytes = (trimmed.bytes.len() - trimmed.used) as u64;
        self.step(format!(
            "kept {} of node's locales and the charset converters node can open ({} others dropped); {:.1} MB of ICU data left out",
            trimmed.locales.len(),
            trimmed.removed_converters.len(),
            freed_bytes as f64 / 1e6
        ));
        if let Some(why) = &trimmed.all_converters_kept {
            self.reporter.report(Event::Warning(&format!("{}: kept all of ICU's charset converters, because which of them node opens could not be told: {why}", sea.name)));
        }
        let base = NodeBinary { path, ..node.clone() };
        Ok((base, IcuTrimmed { locales: locales.to_vec(), removed_items: trimmed.removed_items, removed_converters: trimmed.removed_converters.len(), freed_bytes }))
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
            // `target_runner` refused this already; kept so no other path slips through.
            None if sea.use_snapshot => crate::error::fail!(HostCannotRun, "cannot build {} for {}: `use-snapshot` needs that target's node to run here", sea.name, node.platform),
            None => {
                host_node = self.fetcher.fetch(&VersionSpec::Exact(node.version), Platform::host()?, None)?;
                (host_node.path.as_path(), self.runner)
            }
        };
        let what = if sea.use_snapshot {
            " (running main to make a startup snapshot)"
        } else if code_cache {
            " (with code cache)"
        } else {
            ""
        };
        self.step(format!("generating the blob of {} with node {}{what}", sea.name, node.version));
        generate::generate(sea, job.staged, node.version, generator, code_cache, staging, runner)
    }

    /// How `platform`'s programs run here (see [`TargetRunner::for_target`]); when they do
    /// not and the SEA wants a code cache, a warning says why it is built without one.
    fn target_runner(&self, sea: &Sea, platform: Platform, node: &NodeBinary) -> Result<TargetRunner<'_>> {
        if !self.runner.can_run(platform) {
            self.step(format!("checking how node {} for {platform} runs here", node.version));
        }
        let target = TargetRunner::for_target(platform, &node.path, self.runner, self.env)?;
        if let (Execution::NotRun { reason }, true) = (&target.execution, sea.use_snapshot) {
            crate::error::fail!(
                HostCannotRun,
                "cannot build {} for {platform} with `use-snapshot`: the snapshot must be made by node {} for {platform} itself, and it cannot run here ({reason}). Build on a machine where it runs (on Linux x64: win-x64 under Wine 10 or newer, other Linux architectures under qemu-user; macOS targets only on macOS of that architecture), or set `use-snapshot = false`",
                sea.name,
                node.version
            );
        }
        if let (Execution::NotRun { reason }, true) = (&target.execution, sea.code_cache) {
            self.reporter.report(Event::Warning(&format!("building {} for {platform} without a code cache: {reason}", sea.name)));
        }
        Ok(target)
    }

    /// Linux: generate with the node binary itself, then inject file to file (leaving the
    /// symbol tables out with `strip`). Returns the blob, the artifact's SHA-256 and how many
    /// bytes stripping left out.
    fn build_elf(&self, job: &Job, node: &NodeBinary, runner: Option<&dyn Runner>, staging: &Utf8Path, output: &mut std::fs::File) -> Result<(generate::GeneratedBlob, String, u64)> {
        let sea = job.sea;
        let blob = self.generate(job, node, runner.map(|runner| (node.path.as_path(), runner)), staging)?;
        self.step(format!("injecting {} into node {} for {}{}", sea.name, node.version, node.platform, if sea.strip { ", leaving its symbol tables out" } else { "" }));
        let options = inject::elf::Options { strip: sea.strip };
        let mut sha256 = crate::digest::Sha256::new();
        let stripped = crate::commands::inject_elf_file(&node.path, &blob.bytes, output, node.fuse_offset, options, Some(&mut sha256), crate::fsutil::preallocate)
            .with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
        Ok((blob, sha256.finish_hex(), stripped))
    }

    /// macOS, in the one order that gives an accepted code cache:
    ///
    /// 1. prepare: a copy of node without its signature;
    /// 2. sign that copy exactly as the artifact will be signed, because the hardened
    ///    runtime and entitlements change V8's flag hash;
    /// 3. generate the blob with that signed copy when it can run here (a macOS host of the
    ///    target's architecture); otherwise without a cache (signing was only for running);
    /// 4. inject the blob (and set the fuse) into another unsigned copy;
    /// 5. with `strip`, leave node's local symbols out ([`macho::strip`]);
    /// 6. relativise debug-map paths under the package and recompute LC_UUID;
    /// 7. sign the result, the same way as in step 2.
    ///
    /// Returns the blob, the artifact's SHA-256 and, with `strip`, how many bytes it left out.
    #[cfg(feature = "macos")]
    fn build_macho(&self, job: &Job, node: &NodeBinary, runner: Option<&dyn Runner>, staging: &Utf8Path, output: &mut std::fs::File) -> Result<(generate::GeneratedBlob, String, Option<u64>)> {
        use crate::commands::{copy_unsigned_macho, inject_macho_in_place, sign_macho_file};
        use crate::macho;
        use crate::sign::{self, SignMode};
        let sea = job.sea;
        let identity = self.identity(sea)?;
        let signing = sign::Signing { identifier: &sea.name, identity: identity.as_ref(), signing_time: sign::signing_time(self.env)? };
        // Each image is made where it lies (a kernel copy of node, edited in place), so no
        // copy of node is held in memory.
        let sign_like_artifact = |file: &std::fs::File| -> Result<()> { if sea.sign.mode == SignMode::None { Ok(()) } else { sign_macho_file(file, &signing) } };
        let blob = if let Some(runner) = runner.filter(|_| job.code_cache || sea.use_snapshot) {
            self.step(format!("preparing node {} for {}: removing its signature and signing it ({}) as {} will be signed", node.version, node.platform, sea.sign.mode, sea.name));
            let generator = staging.join(".generator").join("node");
            std::fs::create_dir_all(generator.parent().unwrap_or(staging)).with_context(|| format!("could not create the directory of {generator}"))?;
            let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&generator).with_context(|| format!("could not create {generator}"))?;
            copy_unsigned_macho(&node.path, &mut file)?;
            sign_like_artifact(&file).with_context(|| format!("could not sign the generator copy {generator}"))?;
            drop(file);
            crate::fsutil::make_executable(&generator)?;
            self.generate(job, node, Some((&generator, runner)), staging)?
        } else {
            self.generate(job, node, None, staging)?
        };
        self.step(format!("injecting {} into node {} for {}{}", sea.name, node.version, node.platform, if sea.strip { ", leaving its local symbols out" } else { "" }));
        let len = copy_unsigned_macho(&node.path, output)?;
        inject_macho_in_place(output, len, &blob.bytes).with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
        let stripped = if sea.strip {
            let mut map = crate::fsutil::map_writable(output)?;
            let before = map.len() as u64;
            let summary = macho::strip::strip_slice(&mut map).with_context(|| format!("could not leave the local symbols of node {} out of {}", node.version, sea.name))?;
            drop(map);
            output.set_len(summary.len).context("could not cut the stripped artifact")?;
            Some(before - summary.len)
        } else {
            None
        };
        // Paths under the package become relative and the UUID is derived from the content:
        // the artifact no longer is node, so it must not claim node's UUID either.
        let prefix = format!("{}/", sea.package_dir.as_str().trim_end_matches('/'));
        let mut map = crate::fsutil::map_writable(output)?;
        let relativised = macho::relativise::relativise_slice(&mut map, &prefix, &macho::relativise::RelativiseOptions::default()).with_context(|| format!("could not relativise {}", sea.name))?;
        drop(map);
        output.set_len(relativised.len).context("could not cut the relativised artifact")?;
        self.step(format!("signing {} ({})", sea.name, sea.sign.mode));
        sign_like_artifact(output).with_context(|| format!("could not sign {}", sea.name))?;
        let map = crate::fsutil::map_readonly(output)?;
        Ok((blob, crate::digest::sha256_hex(&map), stripped))
    }

    /// Windows: remove node's Authenticode signature, generate the blob with that unsigned
    /// node.exe (under Wine on Linux), inject it as a resource with the SEA's own version
    /// resource and icon, and sign the result with Authenticode when asked to. Neither the
    /// resources nor the signature change what V8 checks the cache against, so they come
    /// after the blob, and the run before publishing runs the final, signed file. node.exe is
    /// never held in memory: the kernel copies it, only its headers and resources are read.
    #[cfg(feature = "windows")]
    fn build_pe(&self, job: &Job, node: &NodeBinary, runner: Option<&dyn Runner>, staging: &Utf8Path, output: &mut std::fs::File) -> Result<(generate::GeneratedBlob, String)> {
        let sea = job.sea;
        // Read and checked first: a bad icon or P12 fails before anything is generated.
        let identity = crate::windows::WindowsIdentity::load(sea, self.env).with_context(|| format!("cannot build {} for Windows", sea.name))?;
        let blob = match runner.filter(|_| job.code_cache || sea.use_snapshot) {
            Some(runner) => {
                self.step(format!("preparing node {} for {}: removing its signature", node.version, node.platform));
                let generator = staging.join(".generator").join("node.exe");
                std::fs::create_dir_all(generator.parent().unwrap_or(staging)).with_context(|| format!("could not create the directory of {generator}"))?;
                let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&generator).with_context(|| format!("could not create {generator}"))?;
                crate::pe_file::unsign(&node.path, &mut file)?;
                drop(file);
                self.generate(job, node, Some((&generator, runner)), staging)?
            }
            None => self.generate(job, node, None, staging)?,
        };
        self.step(format!("injecting {} into node {} for {}", sea.name, node.version, node.platform));
        let changes = identity.resource_changes(sea)?;
        crate::pe_file::inject(&node.path, &blob.bytes, &changes, output, node.fuse_offset).with_context(|| format!("could not inject the blob of {} into {}", sea.name, node.path))?;
        if identity.signs() {
            self.step(format!("signing {} with Authenticode", sea.name));
            let program_name = sea.windows.version_info.as_ref().and_then(|info| info.strings.get("ProductName")).unwrap_or(&sea.name);
            identity.sign_file(output, program_name).with_context(|| format!("could not sign {}", sea.name))?;
        }
        Ok((blob, crate::pe_file::sha256(output)?))
    }

    /// Writes the release archive of the finished `artifact` (see [`crate::release`]) into a
    /// temporary file in `out_dir`, with node's LICENSE beside the executable when the node
    /// came with one; returns it with its manifest record, to be moved into place once the
    /// artifact is published.
    fn write_archive(
        &self,
        sea: &Sea,
        platform: Platform,
        node: &NodeBinary,
        artifact: &Utf8Path,
        exe_suffix: &str,
        out_dir: &Utf8Path,
    ) -> Result<(tempfile::NamedTempFile, crate::artifact::ArchiveRecord)> {
        use crate::release::{Format, Member, archive_stem, write_archive};
        let format = Format::for_platform(platform);
        let stem = archive_stem(&sea.name, platform);
        let file_name = format!("{stem}{}", format.extension());
        self.step(format!("writing the release archive {file_name}"));
        let open = |path: &Utf8Path| -> Result<Option<(std::fs::File, u64)>> {
            match std::fs::File::open(path) {
                Ok(file) => {
                    let len = file.metadata().with_context(|| format!("could not read the size of {path}"))?.len();
                    Ok(Some((file, len)))
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(error).with_context(|| format!("could not open {path}")),
            }
        };
        let (mut program, program_len) = open(artifact)?.with_context(|| format!("the finished artifact {artifact} vanished"))?;
        // The licence the cache verified with node (see `NodeBinary::license`).
        let mut license = match &node.license {
            Some(path) => Some(open(path)?.with_context(|| format!("node's verified LICENSE {path} vanished"))?),
            None => None,
        };
        let mut members = vec![Member { name: format!("{}{exe_suffix}", sea.name), executable: true, len: program_len, contents: &mut program }];
        match &mut license {
            Some((file, len)) => members.push(Member { name: "LICENSE".to_owned(), executable: false, len: *len, contents: file }),
            None => self.reporter.report(Event::Warning(&format!(
                "{file_name} carries no LICENSE: node {} for {platform} came without one ({}); add node's LICENSE of that version to the release yourself",
                node.version,
                node.missing_license_reason()
            ))),
        }
        let mut file = crate::publish::partial_file(out_dir, format.extension())?;
        write_archive(format, &stem, members, file.as_file_mut())?;
        let map = crate::fsutil::map_readonly(file.as_file())?;
        let record = crate::artifact::ArchiveRecord { file: file_name, sha256: crate::digest::sha256_hex(&map), bytes: map.len() as u64 };
        drop(map);
        Ok((file, record))
    }

    /// The identity for `sign = "identity"`, read now; `None` for the other modes.
    #[cfg(feature = "macos")]
    fn identity(&self, sea: &Sea) -> Result<Option<crate::sign::Identity>> {
        if sea.sign.mode != crate::sign::SignMode::Identity {
            return Ok(None);
        }
        crate::sign::load_identity(self.env, &sea.sign.identity, Some(&sea.package_dir)).map(Some).with_context(|| format!("cannot sign {}", sea.name))
    }
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
        "\nA SEA's main can require only node's built-in modules: leave `bundle` unset (the default) so the program is bundled or its package mounted, or list the files it loads in `vfs`."
    } else {
        ""
    };
    crate::error::fail!(
        ArtifactFailedToRun,
        "{name} failed to run ({failure}) when run {} before publishing; nothing was published. Its standard error:\n{}{hint}\nThe build runs every artifact it can run here with `verify-args`: fix the program, or set `verify-args` in [package.metadata.sea] to arguments that exercise it and exit 0 quickly (such as [\"--version\"]).",
        shown_args(verify_args),
        if stderr.trim().is_empty() { "(empty)".to_owned() } else { stderr.trim_end().to_owned() }
    )
}
