//! Proving that an artifact carries a code cache it accepts: static checks on the bytes (the
//! blob found the way node finds it, the cache flag, the cache header against what the same
//! node binary produces) and a run-time check (no `Code cache data rejected.` on stderr).

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::artifact::{CacheAccepted, Manifest, manifest_path};
use crate::blob::{self, BlobLayout, SeaFlags};
use crate::env::Env;
use crate::inject::{self, fuse};
use crate::node::{NodeFetcher, Os, Platform, VersionSpec};
use crate::run::{Invocation, Runner};
use crate::runtime::TargetRunner;
use crate::runtime::{CACHE_REJECTED, RUN_TIMEOUT, run_artifact};

/// One check and how it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// `Ok(detail)` when it passed, `Err(reason)` when it failed.
    pub outcome: Result<String, String>,
}

/// Everything verify found out about one artifact.
#[derive(Clone, Debug)]
pub struct Report {
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome.is_ok())
    }

    fn record(&mut self, name: &'static str, outcome: Result<String>) -> bool {
        let ok = outcome.is_ok();
        self.checks.push(Check { name, outcome: outcome.map_err(|e| format!("{e:#}")) });
        ok
    }
}

/// Prints the header of a V8 code cache made by the running node with its own flags: the
/// version and flag hashes the artifact's caches must carry (they do not depend on the source,
/// so a constant one serves: a main may hold what only a function body allows, such as a
/// top-level `return`).
const HEADER_SCRIPT: &str = "const vm=require('vm');process.stdout.write(new vm.Script('0').createCachedData().toString('hex'))";

/// Checks `artifact` (built by sea-build, with its manifest beside it). `env` is added to the
/// otherwise empty environment of the run-time check.
///
/// `process_env` is where settings such as `SEA_BUILD_WINE` and `SEA_BUILD_QEMU` are read:
/// Windows artifacts are checked under Wine on Linux, Linux artifacts of another architecture
/// under qemu (see [`TargetRunner::for_target`]).
pub fn verify(artifact: &Utf8Path, env: &[(String, String)], fetcher: &NodeFetcher, runner: &dyn Runner, process_env: &Env) -> crate::Result<Report> {
    verify_inner(artifact, env, fetcher, runner, process_env).map_err(crate::Error::from)
}

// The body of `verify`: anyhow's error inside the crate, marked with kinds where they are known.
fn verify_inner(artifact: &Utf8Path, env: &[(String, String)], fetcher: &NodeFetcher, runner: &dyn Runner, process_env: &Env) -> Result<Report> {
    let manifest_file = manifest_path(artifact);
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_file).with_context(|| format!("{artifact} has no manifest at {manifest_file}: build it with `cargo xtask sea`"))?)
        .with_context(|| format!("{manifest_file} is not a sea-build manifest"))?;
    let platform: Platform = manifest.platform.parse()?;
    let version = manifest.node_version;
    let image = std::fs::read(artifact).with_context(|| format!("could not read {artifact}"))?;
    let mut report = Report { checks: Vec::new() };

    let images = match inject::images(&image) {
        Ok(images) => images,
        Err(error) => {
            report.record("readable executable", Err(error));
            return Ok(report);
        }
    };
    report.record(
        "fuse set",
        images
            .iter()
            .enumerate()
            .try_for_each(|(index, image)| match fuse::find_fuse(image) {
                Ok(state) if state.is_set() => Ok(()),
                Ok(_) => Err(anyhow::anyhow!("the fuse of image {index} is not set: node will ignore the blob")),
                Err(error) => Err(error.context(format!("image {index}"))),
            })
            .map(|()| "the SEA fuse is flipped".to_owned()),
    );
    let mut blobs = Vec::new();
    for (index, image) in images.iter().enumerate() {
        let found = inject::find_blob(image).and_then(|blob| blob.with_context(|| format!("image {index} has no NODE_SEA_BLOB where node looks for it")));
        match found {
            Ok(blob) => blobs.push(blob),
            Err(error) => {
                report.record("blob found as node finds it", Err(error));
                return Ok(report);
            }
        }
    }
    let Some(&blob_bytes) = blobs.first() else {
        report.record("blob found as node finds it", Err(anyhow::anyhow!("no image in {artifact}")));
        return Ok(report);
    };
    if blobs.iter().any(|blob| *blob != blob_bytes) {
        report.record("blob found as node finds it", Err(anyhow::anyhow!("the slices of the universal file carry different blobs")));
        return Ok(report);
    }
    report.record("blob found as node finds it", Ok(format!("{} bytes{}", blob_bytes.len(), if blobs.len() > 1 { format!(", in each of {} slices", blobs.len()) } else { String::new() })));
    if platform.os == Os::Darwin {
        #[cfg(feature = "macos")]
        let checked = crate::sign::verify(&image).map(|()| "every page digest matches (apple-codesign's verifier)".to_owned());
        #[cfg(not(feature = "macos"))]
        let checked = crate::features::Feature::Macos.require("checking a Mach-O signature").map(|()| String::new());
        report.record("code signature", checked);
    }
    let layout = BlobLayout::for_node_version(version.major, version.minor, version.patch).with_context(|| format!("node {version} has no known blob layout"))?;
    let parsed = match blob::parse(blob_bytes, layout) {
        Ok(parsed) => parsed,
        Err(error) => {
            report.record("blob readable", Err(error));
            return Ok(report);
        }
    };
    if parsed.flags.contains(SeaFlags::USE_SNAPSHOT) {
        return verify_snapshot(artifact, &manifest, parsed.main_source, env, fetcher, runner, process_env, report);
    }
    let cache = parsed.code_cache.filter(|_| parsed.flags.contains(SeaFlags::USE_CODE_CACHE));
    let Some(cache) = cache else {
        let why = match manifest.cache_accepted {
            CacheAccepted::NotRunnableHere => format!(
                ": {platform} binaries could not run where it was built, so no cache could be made; build it where they run (on Linux x64: win-x64 with Wine 10 or newer, other Linux architectures with qemu-user)"
            ),
            _ => String::new(),
        };
        report.record("code cache embedded", Err(anyhow::anyhow!("the blob has no code cache (flags {:#x}){why}", parsed.flags.0)));
        return Ok(report);
    };
    report.record("code cache embedded", Ok(format!("{} bytes", cache.len())));
    let header = blob::parse_code_cache_header(cache, version.major)?;
    let source = std::str::from_utf8(parsed.main_source).context("the main source in the blob is not UTF-8")?;
    let expected_source = match parsed.main_format {
        Some(blob::MainFormat::Module) => blob::expected_source_hash(source, false) | blob::MODULE_SOURCE_HASH_BIT,
        _ => blob::expected_source_hash(source, blob::source_hash_is_wrapped(version.major)),
    };
    report.record(
        "cache source hash",
        if header.source_hash == expected_source {
            Ok(format!("{:#010x}", header.source_hash))
        } else {
            Err(anyhow::anyhow!("{:#010x}, but the main source gives {expected_source:#010x}", header.source_hash))
        },
    );

    let node = fetcher.fetch(&VersionSpec::Exact(version), platform, None)?;
    let target = TargetRunner::for_target(platform, &node.path, runner, process_env)?;
    let Some(runner) = target.runner() else {
        report.record("run-time check", Ok(format!("skipped: {platform} binaries do not run here ({})", target.execution)));
        return Ok(report);
    };
    if node.binary_sha256 != manifest.node_sha256 {
        bail!("the cached node {version} ({}) is not the one {artifact} was built from ({})", node.binary_sha256, manifest.node_sha256);
    }
    let listing = runner.run(&Invocation::new(&node.path, ["--v8-options"]))?;
    let exec_argv: Vec<String> = parsed.exec_argv.iter().map(|a| (*a).to_owned()).collect();
    let mut args = vec!["--predictable".to_owned()];
    args.extend(crate::generate::v8_flags(&exec_argv, &String::from_utf8_lossy(&listing.stdout)));
    args.extend(["-e".to_owned(), HEADER_SCRIPT.to_owned()]);
    let probe = Invocation::new(&node.path, args);
    let output = runner.run(&probe)?;
    let reference = decode_hex(String::from_utf8_lossy(&output.stdout).trim()).with_context(|| format!("{} printed no cache header: {}", probe.display(), output.stderr_text()))?;
    let reference = blob::parse_code_cache_header(&reference, version.major)?;
    report.record(
        "cache version hash",
        if header.version_hash == reference.version_hash {
            Ok(format!("{:#010x}", header.version_hash))
        } else {
            Err(anyhow::anyhow!("{:#010x}, but node {version} makes {:#010x}", header.version_hash, reference.version_hash))
        },
    );
    report.record(
        "cache flag hash",
        if header.flag_hash == reference.flag_hash {
            Ok(format!("{:#010x}", header.flag_hash))
        } else {
            Err(anyhow::anyhow!("{:#010x}, but node {version} with the artifact's flags makes {:#010x}", header.flag_hash, reference.flag_hash))
        },
    );
    if let Some(checked) = crate::mount::check_module_caches(&parsed.assets, version.major, &reference).transpose() {
        report.record("mounted modules' caches", checked.map(|caches| format!("{} modules, {} bytes, made by this V8 with the artifact's flags", caches.modules, caches.bytes)));
    }
    let run = run_artifact(runner, artifact, &manifest.verify_args, env)?;
    let stderr = run.stderr_text();
    let failure = run.failure(RUN_TIMEOUT);
    report.record(
        "run-time check",
        match failure {
            // A program that fails says nothing about its cache: reported apart from a rejection.
            Some(failure) => Err(anyhow::anyhow!(
                "the artifact failed to run ({failure}, run {}){}: {}",
                target.execution,
                if stderr.contains(CACHE_REJECTED) { ", and rejected its code cache" } else { "" },
                stderr.trim()
            )),
            None if stderr.contains(CACHE_REJECTED) => Err(anyhow::anyhow!("the artifact printed `{CACHE_REJECTED}`: {}", stderr.trim())),
            None => Ok(format!("accepted, run {}", target.execution)),
        },
    );
    Ok(report)
}

/// The checks for an artifact whose blob holds a startup snapshot (`use-snapshot`): the
/// snapshot was made by the artifact's own node (version, architecture and platform, read
/// from its head), and the artifact starts from it. Node refuses at start a snapshot it
/// cannot deserialize, so a run that exits 0 started from the snapshot.
#[allow(clippy::too_many_arguments)]
fn verify_snapshot(
    artifact: &Utf8Path,
    manifest: &Manifest,
    snapshot: &[u8],
    env: &[(String, String)],
    fetcher: &NodeFetcher,
    runner: &dyn Runner,
    process_env: &Env,
    mut report: Report,
) -> Result<Report> {
    let platform: Platform = manifest.platform.parse()?;
    let (arch, os) = crate::snapshot::process_names(platform);
    let made_by = crate::snapshot::parse_metadata(snapshot).and_then(|head| {
        let expected = (manifest.node_version.to_string(), arch, os);
        if (head.node_version.trim_start_matches('v').to_owned(), head.arch, head.platform) != expected {
            bail!("it was made by node {} for {}-{}, but the artifact is node {} for {os}-{arch}: node refuses it at start", head.node_version, head.platform, head.arch, manifest.node_version);
        }
        Ok(format!("{} bytes, made by node {} for {}-{}", snapshot.len(), head.node_version, head.platform, head.arch))
    });
    if !report.record("startup snapshot embedded", made_by) {
        return Ok(report);
    }
    let node = fetcher.fetch(&VersionSpec::Exact(manifest.node_version), platform, None)?;
    let target = TargetRunner::for_target(platform, &node.path, runner, process_env)?;
    let Some(runner) = target.runner() else {
        report.record("run-time check", Ok(format!("skipped: {platform} binaries do not run here ({})", target.execution)));
        return Ok(report);
    };
    let run = run_artifact(runner, artifact, &manifest.verify_args, env)?;
    report.record(
        "run-time check",
        match run.failure(RUN_TIMEOUT) {
            Some(failure) => Err(anyhow::anyhow!("the artifact did not start from its snapshot ({failure}, run {}): {}", target.execution, run.stderr_text().trim())),
            None => Ok(format!("started from its snapshot, run {}", target.execution)),
        },
    );
    Ok(report)
}

/// Decodes what the probe printed. The text comes from lossily decoded process output, so it
/// may hold multi-byte characters: it is read as bytes, never sliced at byte indices.
fn decode_hex(text: &str) -> Result<Vec<u8>> {
    let digit = |byte: u8| char::from(byte).to_digit(16).map(|value| value as u8);
    if !text.len().is_multiple_of(2) || text.is_empty() {
        bail!("`{text}` is not hex");
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => Ok(high << 4 | low),
            _ => bail!("`{text}` is not hex"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::decode_hex;

    #[test]
    fn decodes_hex() {
        assert_eq!(decode_hex("00ff7A").unwrap(), [0x00, 0xff, 0x7a]);
        for bad in ["", "abc", "0g", "+1", " 1"] {
            assert!(decode_hex(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_output_with_multi_byte_characters_without_panicking() {
        // Lossily decoded output: U+FFFD is three bytes, so byte pairs straddle it.
        for text in ["a\u{fffd}", "\u{fffd}a", "00\u{fffd}0", "é0", "0é"] {
            let error = decode_hex(text).unwrap_err().to_string();
            assert!(error.contains("is not hex"), "{text:?}: {error}");
        }
    }
}
