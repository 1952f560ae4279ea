//! The command-line front end a workspace's xtask calls, so a downstream project's own xtask is
//! a few lines:
//!
//! ```no_run
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Xtask {
//!     #[command(subcommand)]
//!     command: sea_build::cli::Command,
//! }
//! fn main() -> std::process::ExitCode {
//!     sea_build::cli::exit(sea_build::cli::run(Xtask::parse().command))
//! }
//! ```

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::Env;
use crate::artifact::Artifact;
use crate::config::{Sea, SeaMetadata};
use crate::node::{LockFile, NodeFetcher, Platform, VersionSpec};
use crate::pipeline::Pipeline;
use crate::progress::{Event, Reporter};
use crate::run::Processes;

/// The commands sea-build offers.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Build every SEA the workspace declares into `target/sea/<target>/`.
    Sea(SeaArgs),
    /// Download, verify and cache node binaries, and pin them in sea.lock.
    Fetch(FetchArgs),
    /// Prove that artifacts carry a code cache they accept (default: every one under target/sea).
    VerifyCache(VerifyArgs),
    /// Inject a preparation blob into a node binary (what postject does), without building.
    Inject(InjectArgs),
    /// Make any Mach-O file independent of its checkout path: OSO/SO paths under PREFIX
    /// rewritten, OSO timestamps zeroed, LC_UUID recomputed, re-signed.
    Relativise(RelativiseArgs),
    /// Gather what several machines built (each one's `target/sea`) into one release
    /// directory: artifacts checked against their manifests, verified where they run, named
    /// `<name>-<platform>[.exe]`, with SHA256SUMS.
    Gather(GatherArgs),
}

/// Arguments of `gather`.
#[derive(Debug, clap::Args)]
pub struct GatherArgs {
    /// Directories holding built SEAs (searched to any depth for `<name>.sea.json` beside its
    /// artifact): each build job's `target/sea`, as uploaded.
    #[arg(required = true, value_name = "DIR")]
    pub inputs: Vec<Utf8PathBuf>,
    /// The release directory to lay out (replaced whole when it holds an earlier release).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Utf8PathBuf,
    /// Add KEY=VALUE to the otherwise empty environment of each artifact's run-time check.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
}

/// Arguments of `relativise`.
#[derive(Debug, clap::Args)]
pub struct RelativiseArgs {
    /// The Mach-O file (thin or universal, signed or not).
    pub file: Utf8PathBuf,
    /// The absolute build directory to strip from the paths (a trailing `/` is added).
    #[arg(long, value_name = "DIR")]
    pub prefix: Utf8PathBuf,
    /// Where to write the result (default: replace FILE atomically).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<Utf8PathBuf>,
    /// How to sign the result: adhoc, identity (SEA_BUILD_SIGN_P12, or SEA_BUILD_SIGN_KEY and SEA_BUILD_SIGN_CERT, and the password) or none.
    /// Default: adhoc when FILE was signed, none when it was not.
    #[arg(long, value_name = "MODE", value_parser = parse_sign_mode)]
    pub sign: Option<crate::sign::SignMode>,
}

fn parse_sign_mode(text: &str) -> Result<crate::sign::SignMode, String> {
    match text {
        "adhoc" => Ok(crate::sign::SignMode::AdHoc),
        "identity" => Ok(crate::sign::SignMode::Identity),
        "none" => Ok(crate::sign::SignMode::None),
        other => Err(format!("`{other}` is not adhoc, identity or none")),
    }
}

/// Arguments of `inject`.
#[derive(Debug, clap::Args)]
pub struct InjectArgs {
    /// The node binary to inject into (left unchanged).
    #[arg(long, value_name = "NODE")]
    pub base: Utf8PathBuf,
    /// The preparation blob written by `node --experimental-sea-config`.
    #[arg(long, value_name = "BLOB")]
    pub blob: Utf8PathBuf,
    /// Where to write the injected executable (replaced atomically).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Utf8PathBuf,
    /// How to sign the result: Mach-O adhoc, identity (SEA_BUILD_SIGN_P12, or SEA_BUILD_SIGN_KEY and _CERT) or
    /// none; PE identity (Authenticode, SEA_BUILD_WINDOWS_P12, or SEA_BUILD_WINDOWS_SIGN_KEY and _CERT), else unsigned.
    #[arg(long, value_name = "MODE", value_parser = parse_sign_mode, default_value = "adhoc")]
    pub sign: crate::sign::SignMode,
    /// PE: an .ico file replacing node's icon.
    #[arg(long, value_name = "ICO")]
    pub icon: Option<Utf8PathBuf>,
    /// PE: a version-resource string (ProductName=App, FileVersion=1.2.3, ...); any of them
    /// replaces node's version resource.
    #[arg(long = "version-info", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    pub version_info: Vec<(String, String)>,
}

/// Arguments of `verify-cache`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Artifacts to check (default: every artifact under target/sea/).
    pub artifacts: Vec<Utf8PathBuf>,
    /// Add KEY=VALUE to the otherwise empty environment of the run-time check.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// The Cargo.toml of the workspace whose target/sea to search.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<Utf8PathBuf>,
}

fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

/// Arguments of `sea`.
#[derive(Debug, clap::Args)]
pub struct SeaArgs {
    /// Build only the SEAs of these packages.
    #[arg(long = "package", short = 'p', value_name = "PACKAGE")]
    pub packages: Vec<String>,
    /// The Cargo.toml of the workspace to build (default: the current workspace).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<Utf8PathBuf>,
    /// Build for these targets instead of the declared ones: Node platforms, Rust target
    /// triples, `host`, or `all` (every platform that publishes the node version).
    #[arg(long = "target", value_name = "TARGET")]
    pub targets: Vec<TargetArg>,
    /// Build from this node instead of the declared `node-version`.
    #[arg(long = "node", value_name = "VERSION")]
    pub node: Option<VersionSpec>,
    /// Put the artifacts in `DIR/<target>/` instead of `target/sea/<target>/`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<Utf8PathBuf>,
    /// Re-hash every cached node binary used, instead of trusting one whose file is unchanged
    /// since it was verified.
    #[arg(long)]
    pub verify: bool,
    /// Also place each artifact in DIR as `<name>-<rust target triple>[.exe]` with its
    /// manifest (a Tauri sidecar), instead of the declared `sidecar-dir`.
    #[arg(long, value_name = "DIR")]
    pub sidecar_dir: Option<Utf8PathBuf>,
    /// Also write each artifact's release archive next to it, whatever `archive` says:
    /// `<name>-<platform>.tar.xz` (`.zip` for Windows) with the executable and node's LICENSE.
    #[arg(long)]
    pub archive: bool,
}

/// A `--target` of `sea`: one platform, or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetArg {
    /// Every platform that publishes the SEA's node version.
    All,
    /// One platform.
    Platform(Platform),
}

impl std::str::FromStr for TargetArg {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<TargetArg> {
        if text == "all" { Ok(TargetArg::All) } else { text.parse().map(TargetArg::Platform) }
    }
}

/// Arguments of `fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// The node version: exact (24.11.1), major (24), `lts`, `latest`, `local`, or a path to a
    /// node binary or archive.
    #[arg(long = "node", value_name = "VERSION")]
    pub node: VersionSpec,
    /// A target: a Node platform (linux-x64, darwin-arm64, win-x64, ...), a Rust target triple,
    /// or `host`. Repeat for several.
    #[arg(long = "target", value_name = "TARGET", default_value = "host")]
    pub targets: Vec<Platform>,
    /// Resolve the version anew instead of using what sea.lock pins.
    #[arg(long)]
    pub update: bool,
    /// Use only the cache and local paths.
    #[arg(long)]
    pub offline: bool,
    /// The Cargo.toml of the workspace whose sea.lock to use (default: the current workspace).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<Utf8PathBuf>,
    /// The lock file to read and write (default: sea.lock at the workspace root).
    #[arg(long, value_name = "PATH", conflicts_with = "manifest_path")]
    pub lock_file: Option<Utf8PathBuf>,
}

/// Runs `command`.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Sea(args) => sea(args),
        Command::Fetch(args) => fetch(args),
        Command::VerifyCache(args) => verify_cache(args),
        Command::Gather(args) => gather(args),
        Command::Inject(args) => {
            let resources = crate::windows::InjectResources { icon: args.icon, version_info: args.version_info.into_iter().collect() };
            crate::commands::inject_file_with(&args.base, &args.blob, &args.out, args.sign, &resources, &Env::from_process()).map_err(anyhow::Error::from)
        }
        Command::Relativise(args) => {
            let prefix = format!("{}/", args.prefix.as_str().trim_end_matches('/'));
            let out = args.out.as_ref().unwrap_or(&args.file);
            let summary = crate::commands::relativise_file(&args.file, &prefix, out, args.sign, &Env::from_process())?;
            eprintln!("{summary}");
            Ok(())
        }
    }
}

/// Prints `result`'s error (with its causes) the way Cargo does and turns it into an exit code.
pub fn exit(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The root directory of the workspace `manifest_path` (or the current directory) belongs to,
/// as Cargo sees it.
pub fn workspace_root(manifest_path: Option<&Utf8Path>) -> Result<Utf8PathBuf> {
    let cargo = Env::from_process().var("CARGO").unwrap_or_else(|| "cargo".to_owned());
    let mut command = std::process::Command::new(&cargo);
    command.args(["locate-project", "--workspace", "--message-format", "plain"]);
    if let Some(path) = manifest_path {
        command.arg("--manifest-path").arg(path);
    }
    let output = command.output().with_context(|| format!("could not run `{cargo} locate-project`"))?;
    if !output.status.success() {
        anyhow::bail!("`cargo locate-project` failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let manifest = Utf8PathBuf::from(String::from_utf8(output.stdout).context("the workspace path is not UTF-8")?.trim());
    Ok(manifest.parent().context("the workspace manifest has no parent directory")?.to_owned())
}

/// A workspace's SEAs, as its packages declare them.
pub struct Workspace {
    /// The workspace root (where sea.lock lives).
    pub root: Utf8PathBuf,
    /// The target directory.
    pub target_dir: Utf8PathBuf,
    /// Every declared SEA.
    pub seas: Vec<Sea>,
}

/// Reads the `[package.metadata.sea]` tables of the workspace at `manifest_path` (or the
/// current one), keeping only `packages` when that is not empty.
pub fn workspace_seas(manifest_path: Option<&Utf8Path>, packages: &[String]) -> Result<Workspace> {
    let mut command = cargo_metadata::MetadataCommand::new();
    command.no_deps();
    if let Some(path) = manifest_path {
        command.manifest_path(path);
    }
    let metadata = command.exec().context("`cargo metadata` failed")?;
    for wanted in packages {
        if !metadata.workspace_packages().iter().any(|p| p.name.as_str() == wanted) {
            anyhow::bail!("the workspace at {} has no package `{wanted}`", metadata.workspace_root);
        }
    }
    let mut seas = Vec::new();
    for package in metadata.workspace_packages() {
        if !packages.is_empty() && !packages.iter().any(|p| p.as_str() == package.name.as_str()) {
            continue;
        }
        let Some(table) = package.metadata.get("sea") else { continue };
        let origin = format!("[package.metadata.sea] of {}", package.manifest_path);
        let declared: SeaMetadata = serde_json::from_value(table.clone()).with_context(|| format!("{origin} is not valid"))?;
        let dir = package.manifest_path.parent().context("a manifest path has a parent")?;
        let fields =
            crate::pe::version_info::PackageFields { name: package.name.to_string(), version: package.version.to_string(), description: package.description.clone(), authors: package.authors.clone() };
        seas.push(declared.resolve_package(&fields, dir, &origin)?);
    }
    Ok(Workspace { root: metadata.workspace_root.clone(), target_dir: metadata.target_directory.clone(), seas })
}

fn sea(args: SeaArgs) -> Result<()> {
    let workspace = workspace_seas(args.manifest_path.as_deref(), &args.packages)?;
    if workspace.seas.is_empty() {
        anyhow::bail!("no package in {} declares a SEA: add a [package.metadata.sea] table with at least `main`", workspace.root);
    }
    let lock_path = workspace.root.join("sea.lock");
    let mut lock = LockFile::read(&lock_path)?;
    let reporter = Terminal::default();
    let env = Env::from_process();
    let fetcher = NodeFetcher::from_env(&env)?.project_dir(&workspace.root).verify_cache(args.verify).reporter(Arc::new(Terminal::default()));
    let out_root = args.out.clone().unwrap_or_else(|| workspace.target_dir.join("sea"));
    let mut built: Vec<Artifact> = Vec::new();
    for declared in &workspace.seas {
        let mut sea = declared.clone();
        if let Some(node) = &args.node {
            sea.node = node.clone();
        }
        if let Some(dir) = &args.sidecar_dir {
            // Relative to where the command runs, as every path on a command line is.
            sea.sidecar_dir = Some(std::path::absolute(dir).ok().and_then(|dir| Utf8PathBuf::from_path_buf(dir).ok()).unwrap_or_else(|| dir.clone()));
        }
        sea.archive |= args.archive;
        let targets = if args.targets.contains(&TargetArg::All) {
            let (buildable, not): (Vec<Platform>, Vec<Platform>) =
                fetcher.platforms_shipping(&sea.node).with_context(|| format!("finding the platforms to build SEA `{}` for", sea.name))?.into_iter().partition(|p| crate::pipeline::can_build(*p));
            if !not.is_empty() {
                let names: Vec<String> = not.iter().map(Platform::to_string).collect();
                reporter.report(Event::Warning(&format!("`--target all` leaves out {}: sea-build injects only into 64-bit little-endian ELF", names.join(", "))));
            }
            buildable
        } else if args.targets.is_empty() {
            sea.targets.clone()
        } else {
            args.targets.iter().filter_map(|t| if let TargetArg::Platform(p) = t { Some(*p) } else { None }).collect()
        };
        // One node version for every target of this SEA.
        let mut pinned = sea.clone();
        pinned.node = one_version(&fetcher, &sea.node, &targets, &lock, &reporter, &format!("SEA `{}`", sea.name))?;
        for platform in targets {
            let pipeline = Pipeline { fetcher: &fetcher, runner: &Processes, reporter: &reporter, lock: Some((&lock, &lock_path)), env: &env };
            let out_dir = out_root.join(platform.rust_triple());
            let artifact = pipeline.build(&pinned, platform, &out_dir).with_context(|| format!("building SEA `{}` for {platform}", sea.name))?;
            // This SEA's request, pinned to the node this SEA's artifact was built from.
            lock.record(&sea.node, &artifact.node);
            if let Some(esbuild) = &artifact.bundler {
                lock.record_tool(esbuild.locked());
            }
            built.push(artifact);
        }
    }
    if LockFile::read(&lock_path)? != lock {
        lock.write(&lock_path)?;
        eprintln!("{:>12} {lock_path}", "wrote");
    }
    print_summary(&built, &workspace.root);
    Ok(())
}

/// The spec to fetch every one of `targets` with: `spec` resolved once to the newest release
/// all of them have (see [`NodeFetcher::resolve_common`]), with a warning when that is older
/// than the newest for some target; `spec` itself for `local` and paths.
fn one_version(fetcher: &NodeFetcher, spec: &VersionSpec, targets: &[Platform], lock: &LockFile, reporter: &dyn Reporter, what: &str) -> Result<VersionSpec> {
    let Some(common) = fetcher.resolve_common(spec, targets, Some(lock)).with_context(|| format!("resolving node {spec} for {what}"))? else {
        return Ok(spec.clone());
    };
    if !common.newest.is_empty() {
        let newer: Vec<String> = common.newest.iter().map(|(p, v)| format!("{p} has {v}")).collect();
        reporter.report(Event::Warning(&format!("{what}: node {spec} is {} for every target, the newest release all of them have ({})", common.version, newer.join(", "))));
    }
    Ok(VersionSpec::Exact(common.version))
}

fn verify_cache(args: VerifyArgs) -> Result<()> {
    let artifacts = if args.artifacts.is_empty() {
        let metadata = {
            let mut command = cargo_metadata::MetadataCommand::new();
            command.no_deps();
            if let Some(path) = &args.manifest_path {
                command.manifest_path(path);
            }
            command.exec().context("`cargo metadata` failed")?
        };
        let found = artifacts_under(&metadata.target_directory.join("sea"))?;
        if found.is_empty() {
            anyhow::bail!("no artifacts under {}/sea: build them with `cargo xtask sea`", metadata.target_directory);
        }
        found
    } else {
        args.artifacts.clone()
    };
    let env = Env::from_process();
    // Verifying means reading: every cached node binary is hashed again.
    let fetcher = NodeFetcher::from_env(&env)?.verify_cache(true).reporter(Arc::new(Terminal::default()));
    let mut failed = Vec::new();
    for artifact in &artifacts {
        let report = crate::verify::verify(artifact, &args.env, &fetcher, &Processes, &env).with_context(|| format!("could not verify {artifact}"))?;
        print_report(artifact, &report);
        if !report.passed() {
            failed.push(artifact.to_string());
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("{} failed verification: see the FAIL lines above for what failed (a missing or rejected code cache, or an artifact that does not run)", failed.join(", "));
    }
    Ok(())
}

/// Every artifact (a file with a `.sea.json` manifest beside it) in the target directories
/// below `root`.
fn gather(args: GatherArgs) -> Result<()> {
    let found = crate::gather::find(&args.inputs)?;
    let env = Env::from_process();
    let fetcher = NodeFetcher::from_env(&env)?.verify_cache(true).reporter(Arc::new(Terminal::default()));
    // Each copy in the new release is verified (copies uploaded between jobs lose their
    // executable bit; the release's are executable again).
    let written = crate::gather::write_release(&found, &args.out, |artifact| {
        let report = crate::verify::verify(artifact, &args.env, &fetcher, &Processes, &env).with_context(|| format!("could not verify {artifact}"))?;
        print_report(artifact, &report);
        anyhow::ensure!(report.passed(), "{artifact} failed verification (see the FAIL lines above); {} is left as it was", args.out);
        Ok(())
    })?;
    eprintln!("{:>12} {} files into {}: {}", "gathered", written.len(), args.out, written.join(", "));
    Ok(())
}

fn print_report(artifact: &Utf8Path, report: &crate::verify::Report) {
    println!("{artifact}");
    for check in &report.checks {
        match &check.outcome {
            Ok(detail) => println!("  ok    {:<28} {detail}", check.name),
            Err(reason) => println!("  FAIL  {:<28} {reason}", check.name),
        }
    }
}

fn artifacts_under(root: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let mut found = Vec::new();
    let Ok(targets) = root.read_dir_utf8() else { return Ok(found) };
    for target in targets {
        let target = target?;
        if !target.file_type()?.is_dir() {
            continue;
        }
        for entry in target.path().read_dir_utf8()? {
            let path = entry?.path().to_owned();
            if let Some(artifact) = crate::artifact::published_artifact(&path) {
                found.push(artifact);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn print_summary(built: &[Artifact], root: &Utf8Path) {
    let megabytes = |bytes: u64| format!("{:.1} MB", bytes as f64 / 1e6);
    let rows: Vec<[String; 11]> = built
        .iter()
        .map(|a| {
            let shown = a.path.strip_prefix(root).map_or_else(|_| a.path.to_string(), |p| p.to_string());
            let check = match &a.manifest.run_time_check {
                crate::runtime::Execution::NotRun { .. } => "not run".to_owned(),
                how => how.to_string(),
            };
            let shipped = match (&a.manifest.mounted, &a.manifest.bundle_sha256) {
                (Some(mounted), _) => format!("mounted: {} files, {:.1} MB", mounted.files, mounted.bytes as f64 / 1e6),
                (None, Some(_)) => "bundled".to_owned(),
                (None, None) => "as it is".to_owned(),
            };
            let sizes = crate::artifact::FileSizes::of(&a.path).ok();
            let stripped = match a.manifest.stripped_bytes {
                Some(bytes) => format!("yes, {} out", megabytes(bytes)),
                None => "no".to_owned(),
            };
            [
                shown,
                a.manifest.node_version.to_string(),
                shipped,
                sizes.map_or_else(|| "?".to_owned(), |sizes| megabytes(sizes.len)),
                sizes.map_or_else(|| "?".to_owned(), |sizes| megabytes(sizes.on_disk)),
                a.manifest.archive.as_ref().map_or_else(|| "-".to_owned(), |archive| megabytes(archive.bytes)),
                stripped,
                if a.manifest.code_cache_embedded { "yes" } else { "no" }.to_owned(),
                a.manifest.cache_accepted.to_string(),
                check,
                a.manifest.artifact_sha256[..16].to_owned(),
            ]
        })
        .collect();
    let header = ["artifact", "node", "shipped", "size", "on disk", "archive", "stripped", "code cache", "cache accepted", "run-time check", "sha256"].map(String::from);
    let widths: Vec<usize> = (0..header.len()).map(|i| rows.iter().chain([&header]).map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    for artifact in built {
        if let Some(archive) = &artifact.manifest.archive {
            println!("{} ({}): release archive {} (sha256 {})", artifact.manifest.name, artifact.manifest.platform, artifact.path.with_file_name(&archive.file), archive.sha256);
        }
        if let crate::runtime::Execution::NotRun { reason } = &artifact.manifest.run_time_check {
            println!("{} ({}): not run here: {reason}", artifact.manifest.name, artifact.manifest.platform);
        }
    }
}

fn fetch(args: FetchArgs) -> Result<()> {
    let lock_path = match args.lock_file {
        Some(path) => path,
        None => workspace_root(args.manifest_path.as_deref())?.join("sea.lock"),
    };
    let root = lock_path.parent().map_or_else(|| Utf8PathBuf::from("."), Utf8Path::to_owned);
    let mut lock = LockFile::read(&lock_path)?;
    let env = Env::from_process();
    let fetcher = NodeFetcher::from_env(&env)?.project_dir(&root).update(args.update).reporter(Arc::new(Terminal::default()));
    let fetcher = if args.offline { fetcher.offline(true) } else { fetcher };
    let mut rows = Vec::new();
    let spec = one_version(&fetcher, &args.node, &args.targets, &lock, &Terminal::default(), "fetch")?;
    for platform in &args.targets {
        let node = fetcher.fetch(&spec, *platform, Some((&lock, &lock_path)))?;
        lock.record(&args.node, &node);
        rows.push(node);
    }
    // The bundler too, so that a later offline build finds everything it needs.
    let esbuild = crate::bundle::esbuild::fetch(&fetcher, Some((&lock, &lock_path)))?;
    lock.record_tool(esbuild.locked());
    let before = LockFile::read(&lock_path)?;
    if before != lock || !lock_path.exists() {
        lock.write(&lock_path)?;
        eprintln!("wrote {lock_path}");
    }
    for node in rows {
        println!("{} {}", node.platform, node.version);
        println!("  source          {}{}", node.source, if node.downloaded { " (downloaded now)" } else { " (cached)" });
        if let Some(sha) = &node.archive_sha256 {
            println!("  archive sha256  {sha}");
        }
        println!("  binary sha256   {}", node.binary_sha256);
        println!("  path            {}", node.path);
    }
    println!("esbuild {} (bundles `main`)", esbuild.version);
    println!("  binary sha256   {}", esbuild.binary_sha256);
    println!("  path            {}", esbuild.path);
    Ok(())
}

/// Draws progress on the terminal: steps as lines, downloads as a progress bar.
#[derive(Default)]
pub struct Terminal {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Reporter for Terminal {
    fn report(&self, event: Event<'_>) {
        let mut bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Step(step) => eprintln!("{:>12} {step}", "sea-build"),
            Event::Warning(message) => eprintln!("warning: {message}"),
            Event::DownloadStarted { what, total } => {
                let new = match total {
                    Some(total) => indicatif::ProgressBar::new(total),
                    None => indicatif::ProgressBar::new_spinner(),
                };
                new.set_style(
                    indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                new.set_message(what.chars().take(40).collect::<String>());
                *bar = Some(new);
            }
            Event::DownloadProgress { done } => {
                if let Some(bar) = bar.as_ref() {
                    bar.set_position(done);
                }
            }
            Event::DownloadFinished => {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
