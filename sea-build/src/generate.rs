//! Generating the SEA preparation blob with the target's own node binary.
//!
//! Node stores `main` verbatim in the blob and in the code cache's script name, so generation
//! runs in a staging directory holding copies of `main` and the assets at their package-relative
//! paths: the blob never sees the checkout's location. `--predictable` makes V8's output
//! byte-identical from run to run without entering the flag hash, and the V8 flags of
//! `exec-argv` are given to the generator too, so the cache matches what the artifact runs with.
//!
//! With `use-snapshot`, node runs `main` while generating and stores the V8 heap it leaves (a
//! startup snapshot) instead of the source; the artifact deserializes it and calls the
//! function `main` gave `v8.startupSnapshot.setDeserializeMainFunction`. Like the code cache,
//! a snapshot is accepted only by the node build that made it, so the target's own node makes
//! it (natively, under Wine or qemu); node calls a code cache redundant then, so none is
//! asked for. Snapshots are not byte-reproducible, even with `--predictable`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::blob::{self, BlobLayout, ExecArgvExtension, MainFormat};
use crate::bundle;
use crate::config::{Bundling, Sea, supports_exec_argv};
use crate::node::{Platform, Version};
use crate::run::{Invocation, Runner};

/// The blob file name inside the staging directory.
const OUTPUT: &str = "sea-prep.blob";

/// A generated blob.
#[derive(Clone, Debug)]
pub struct GeneratedBlob {
    /// The blob's bytes.
    pub bytes: Vec<u8>,
    /// Whether it carries a code cache.
    pub code_cache: bool,
    /// Whether its main is a V8 startup snapshot (`use-snapshot`).
    pub snapshot: bool,
    /// Whether its code cache was trained (`code-cache = "trained"`).
    pub trained: bool,
    /// Whether NODE_OPTIONS is kept from extending `exec-argv` (`execArgvExtension: "none"`).
    pub node_options_guard: bool,
    /// Whether the mounted package's CommonJS modules carry code caches.
    pub module_caches: bool,
}

/// What the staging directory holds for node: the blob's main and the assets, at
/// package-relative paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staged {
    /// The blob's main, relative to the staging directory.
    pub main: Utf8PathBuf,
    /// How node loads it.
    pub format: MainFormat,
    /// Assets: key to path relative to the staging directory (the `vfs` files included).
    pub assets: BTreeMap<String, Utf8PathBuf>,
    /// Whether the assets are mounted (`useVfs`).
    pub use_vfs: bool,
    /// The mounted package, when the program ships as its files (see [`crate::mount`]).
    pub mount: Option<crate::mount::Mount>,
    /// SHA-256 of the bundle, when `main` was bundled.
    pub bundle_sha256: Option<String>,
    /// What the build should tell the user: the bundler's warnings, why a package was
    /// mounted, dependencies that are not installed.
    pub warnings: Vec<String>,
    /// Every package file the blob is made from, package-relative: the bundle's inputs (or
    /// main), the assets and the `vfs` or mounted files.
    pub inputs: Vec<Utf8PathBuf>,
}

/// Puts what the blob is made of into `staging`, at package-relative paths: `main`, bundled
/// with `esbuild` (given exactly when `sea.bundle` bundles) or as it is, or the mounted
/// package and its loader; the assets; and with `vfs` and `bundle` set, the files node mounts
/// plus the loader that runs `main` from there.
pub fn stage(sea: &Sea, version: Version, platform: Platform, esbuild: Option<&Utf8Path>, staging: &Utf8Path, runner: &dyn Runner) -> Result<Staged> {
    let copy = |relative: &Utf8Path| -> Result<()> {
        let (from, to) = (sea.package_dir.join(relative), staging.join(relative));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("could not create {parent}"))?;
        }
        std::fs::copy(&from, &to).with_context(|| format!("could not copy {from} to {to}"))?;
        Ok(())
    };
    let auto = sea.bundling() == Bundling::Auto;
    let mounted = crate::vfs::expand(&sea.package_dir, &sea.vfs)?;
    for path in sea.assets.values() {
        copy(path)?;
    }
    let is_module = bundle::program_is_module(sea)?;
    let mut inputs: Vec<Utf8PathBuf> = mounted.iter().chain(sea.assets.values()).cloned().collect();
    let mut warnings = Vec::new();
    let bundled = match esbuild {
        // `vfs` entries with `bundle` unset are mounted with the package, beside no bundle.
        Some(_) if auto && !mounted.is_empty() => None,
        Some(esbuild) => match bundle::bundle(sea, version, is_module, esbuild, staging, &mounted, runner)? {
            bundle::Outcome::Served(bundle) => Some(bundle),
            bundle::Outcome::NotServed(reason) => {
                warnings.push(format!("{}: one bundled file may not serve this program ({reason}), so its package is mounted read-only and its modules load from there", sea.main));
                None
            }
        },
        None => None,
    };
    if auto && bundled.is_none() {
        return stage_mount(sea, version, platform, staging, &mounted, inputs, warnings);
    }
    if !auto {
        for file in &mounted {
            copy(file)?;
        }
    }
    let (main, format, bundle_sha256) = match bundled {
        Some(bundle) => {
            inputs.extend(bundle.inputs);
            warnings.extend(bundle.warnings);
            (bundle.path, bundle.format, Some(bundle.sha256))
        }
        None => {
            warnings.extend(bundle::check_unbundled(sea, &mounted)?);
            copy(&sea.main)?;
            inputs.push(sea.main.clone());
            (sea.main.clone(), if is_module { MainFormat::Module } else { MainFormat::CommonJs }, None)
        }
    };
    inputs.sort();
    inputs.dedup();
    if format == MainFormat::Module && sea.use_snapshot {
        bail!(
            "{} is an ES module shipped as it is, but `use-snapshot` needs a CommonJS main (node builds snapshots from CommonJS): set `bundle = true` (or leave it unset), which makes it CommonJS for a snapshot",
            sea.main
        );
    }
    if format == MainFormat::Module && (version.major, version.minor) < (25, 7) {
        bail!(
            "{} is an ES module, which node loads as a SEA main from 25.7 on, but this SEA builds from node {version}: upgrade `node-version`, or keep `bundle = true` so it becomes CommonJS",
            sea.main
        );
    }
    let mut assets: BTreeMap<String, Utf8PathBuf> = sea.assets.clone();
    if mounted.is_empty() {
        return Ok(Staged { main, format, assets, use_vfs: false, mount: None, bundle_sha256, warnings, inputs });
    }
    for file in mounted.iter().chain([&main]) {
        if let Some(previous) = assets.insert(file.to_string(), file.clone())
            && previous != *file
        {
            bail!("the asset key `{file}` names both {previous} and a `vfs` file: rename the asset");
        }
    }
    if assets.contains_key(crate::vfs::LOADER) {
        bail!("`{}` is reserved for sea-build's vfs loader: rename that file or asset", crate::vfs::LOADER);
    }
    std::fs::write(staging.join(crate::vfs::LOADER), crate::vfs::loader_source(&main)).with_context(|| format!("could not write {staging}/{}", crate::vfs::LOADER))?;
    Ok(Staged { main: crate::vfs::LOADER.into(), format: MainFormat::CommonJs, assets, use_vfs: true, mount: None, bundle_sha256, warnings, inputs })
}

/// Stages the program's package mounted: its production closure (plus the `vfs` files) as
/// the mount's assets, and the loader as the blob's main.
fn stage_mount(sea: &Sea, version: Version, platform: Platform, staging: &Utf8Path, extra: &[Utf8PathBuf], mut inputs: Vec<Utf8PathBuf>, mut warnings: Vec<String>) -> Result<Staged> {
    if (version.major, version.minor) < (22, 15) {
        bail!(
            "{}: shipping the package mounted needs node 22.15 or newer (module.registerHooks), but this SEA builds from node {version}: upgrade `node-version`, or set `bundle = true` to ship one bundled file",
            sea.main
        );
    }
    let mut closure = crate::mount::closure(&sea.package_dir, &sea.main, extra)?;
    warnings.extend(leave_out_foreign_addons(&mut closure, &sea.package_dir, platform)?);
    if !closure.not_installed.is_empty() {
        warnings.push(format!("declared but not installed, so not shipped (run `npm install`?): {}", closure.not_installed.join(", ")));
    }
    let mount = crate::mount::Mount::write(&closure, &sea.package_dir, staging, sea.compress)?;
    let mut assets: BTreeMap<String, Utf8PathBuf> = sea.assets.clone();
    for (key, path) in &mount.assets {
        if assets.insert(key.clone(), path.clone()).is_some() {
            bail!("the asset key `{key}` is reserved for sea-build's mounted package: rename that asset");
        }
    }
    inputs.extend(closure.files);
    inputs.sort();
    inputs.dedup();
    Ok(Staged { main: crate::mount::LOADER.into(), format: MainFormat::CommonJs, assets, use_vfs: false, mount: Some(mount), bundle_sha256: None, warnings, inputs })
}

/// Leaves out of `closure` the native addons built for another platform than `platform` (npm
/// installs the building machine's, and packages with prebuilt addons often ship several),
/// with a warning naming each: a program that loads one fails there, as it would under node
/// on the target. Not a refusal: a program may never load it (a watcher behind an option).
fn leave_out_foreign_addons(closure: &mut crate::mount::Closure, package_dir: &Utf8Path, platform: Platform) -> Result<Vec<String>> {
    let mut foreign = Vec::new();
    for addon in closure.files.iter().filter(|file| file.extension() == Some("node")) {
        let path = package_dir.join(addon);
        let file = std::fs::File::open(&path).with_context(|| format!("could not open {path}"))?;
        let map = crate::fsutil::map_readonly(&file)?;
        match crate::mount::addon_platform(&map) {
            Some(built_for) if built_for == platform => {}
            built_for => foreign.push((addon.clone(), built_for)),
        }
    }
    closure.files.retain(|file| !foreign.iter().any(|(addon, _)| addon == file));
    Ok(foreign
        .into_iter()
        .map(|(addon, built_for)| {
            let what = built_for.map_or_else(|| "not a native addon node can load".to_owned(), |built_for| format!("built for {built_for}"));
            format!("{addon} is {what}, not {platform}: it is left out, and the program fails if it loads it. For {platform}, install the package's build for it (`npm install --os=... --cpu=...`) or leave the program's optional feature unused")
        })
        .collect())
}

/// The `sea-config.json` node reads, with paths relative to the staging directory.
pub fn sea_config(sea: &Sea, staged: &Staged, version: Version, code_cache: bool) -> serde_json::Value {
    let mut config = serde_json::json!({
        "main": staged.main.as_str().replace('\\', "/"),
        "output": OUTPUT,
        "disableExperimentalSEAWarning": true,
        "useSnapshot": sea.use_snapshot,
        // Node calls a code cache redundant beside a snapshot.
        "useCodeCache": code_cache && !sea.use_snapshot,
    });
    if !staged.assets.is_empty() {
        config["assets"] = staged.assets.iter().map(|(key, path)| (key.clone(), serde_json::Value::from(path.as_str().replace('\\', "/")))).collect();
    }
    if staged.use_vfs {
        config["useVfs"] = true.into();
    }
    if !sea.exec_argv.is_empty() {
        config["execArgv"] = sea.exec_argv.clone().into();
    }
    if supports_exec_argv(version) {
        config["execArgvExtension"] = match sea.exec_argv_extension {
            ExecArgvExtension::None => "none",
            ExecArgvExtension::Env => "env",
            ExecArgvExtension::Cli => "cli",
        }
        .into();
    }
    if staged.format == MainFormat::Module {
        config["mainFormat"] = "module".into();
    }
    config
}

/// The entries of `exec_argv` that are V8 flags by `node --v8-options` (whose text is given):
/// those change V8's flag hash, so the generator must run with them too.
pub fn v8_flags(exec_argv: &[String], v8_options: &str) -> Vec<String> {
    let known: std::collections::HashSet<String> =
        v8_options.lines().filter_map(|line| line.trim_start().strip_prefix("--")).filter_map(|rest| rest.split_whitespace().next()).map(|name| name.replace('_', "-")).collect();
    exec_argv
        .iter()
        .filter(|arg| {
            let Some(name) = arg.strip_prefix("--") else { return false };
            let name = name.split('=').next().unwrap_or(name).replace('_', "-");
            known.contains(&name) || name.strip_prefix("no-").is_some_and(|n| known.contains(n))
        })
        .cloned()
        .collect()
}

/// Runs `generator` (a node binary of `version` that runs here) in `staging` to produce the
/// blob. `staging` must already hold the staged files.
pub fn generate(sea: &Sea, staged: &Staged, version: Version, generator: &Utf8Path, code_cache: bool, staging: &Utf8Path, runner: &dyn Runner) -> Result<GeneratedBlob> {
    let layout = BlobLayout::for_node_version(version.major, version.minor, version.patch).with_context(|| format!("node {version} is too old for a SEA built by sea-build (20.6 or newer)"))?;
    let mut args = vec!["--predictable".to_owned()];
    let mut flags = Vec::new();
    if code_cache && !sea.exec_argv.is_empty() {
        let listing = runner.run(&Invocation::new(generator, ["--v8-options"]))?;
        flags = v8_flags(&sea.exec_argv, &String::from_utf8_lossy(&listing.stdout));
        args.extend(flags.iter().cloned());
    }
    let mut config = sea_config(sea, staged, version, code_cache);
    let module_caches = match (&staged.mount, code_cache) {
        (Some(mount), true) if mount.commonjs > 0 => {
            let (key, path) = make_module_caches(mount, &args, generator, staging, sea.train_args.as_deref(), &sea.package_dir, runner)?;
            config["assets"][key] = path.as_str().into();
            true
        }
        _ => false,
    };
    std::fs::write(staging.join("sea-config.json"), serde_json::to_vec_pretty(&config)?).with_context(|| format!("could not write {staging}/sea-config.json"))?;
    args.extend(["--experimental-sea-config".to_owned(), "sea-config.json".to_owned()]);
    let mut invocation = Invocation::new(generator, args);
    invocation.cwd = Some(staging.to_owned());
    let output = runner.run(&invocation)?;
    if !output.success() {
        let stderr = output.stderr_text();
        if sea.use_snapshot && stderr.contains("setDeserializeMainFunction") {
            crate::error::fail!(
                Config,
                "{}: `use-snapshot = true` runs main at build time to make a startup snapshot, and main did not call `v8.startupSnapshot.setDeserializeMainFunction(fn)`; call it with the function the program starts with (`fn` runs at every start, with the heap main left), or set `use-snapshot = false`. Node said:\n{}",
                sea.package_dir.join(&sea.main),
                stderr.trim()
            );
        }
        crate::error::fail!(ToolFailed, "generating the SEA blob failed: `{}` in {staging} exited with {:?}:\n{}", invocation.display(), output.code, stderr.trim());
    }
    let blob_path = staging.join(OUTPUT);
    let bytes = std::fs::read(&blob_path).with_context(|| format!("node reported success but wrote no blob at {blob_path}"))?;
    let parsed = blob::parse(&bytes, layout).with_context(|| format!("the blob node {version} wrote ({blob_path}) is not in the layout sea-build expects for that version"))?;
    let snapshot = parsed.flags.contains(crate::blob::SeaFlags::USE_SNAPSHOT);
    if sea.use_snapshot && !snapshot {
        bail!("node {version} wrote a blob without the startup snapshot that was asked for ({blob_path})");
    }
    if code_cache && !sea.use_snapshot && parsed.code_cache.is_none() {
        bail!("node {version} wrote a blob without the code cache that was asked for ({blob_path})");
    }
    if staged.use_vfs && !parsed.flags.contains(crate::blob::SeaFlags::USE_VFS) {
        bail!("node {version} ignored `useVfs` (its blob {blob_path} does not mount the `vfs` files): build from a node that supports it (26 or newer)");
    }
    let has_cache = parsed.code_cache.is_some();
    let guard = parsed.exec_argv_extension == Some(ExecArgvExtension::None);
    if let (Some(train_args), true, None) = (&sea.train_args, has_cache, &staged.mount) {
        if staged.format == MainFormat::Module {
            bail!("{}: `code-cache = \"trained\"` needs a CommonJS main (node compiles ES module mains another way): keep `bundle = true` or use the plain cache", sea.main);
        }
        let trained = crate::train::train(&bytes, layout, generator, runner, staging, &staged.main, &flags, train_args, &sea.package_dir)
            .with_context(|| format!("cannot train the code cache of {}", sea.main))?;
        return Ok(GeneratedBlob { code_cache: true, snapshot, trained: true, node_options_guard: guard, module_caches, bytes: trained });
    }
    let trained = module_caches && sea.train_args.is_some();
    Ok(GeneratedBlob { code_cache: has_cache, snapshot, trained, node_options_guard: guard, module_caches, bytes })
}

/// Runs the mount's cache maker with `generator` (node's own arguments `node_args`: the
/// artifact's V8 flags and `--predictable`), in `staging`, or with `train_args` in
/// `package_dir` after running the program through the loader; returns the asset it wrote.
fn make_module_caches(
    mount: &crate::mount::Mount,
    node_args: &[String],
    generator: &Utf8Path,
    staging: &Utf8Path,
    train_args: Option<&[String]>,
    package_dir: &Utf8Path,
    runner: &dyn Runner,
) -> Result<(String, Utf8PathBuf)> {
    let (script_args, asset) = mount.cache_maker_args(staging, train_args)?;
    let mut invocation = Invocation::new(generator, node_args.iter().cloned().chain(script_args));
    invocation.cwd = Some(if train_args.is_some() { package_dir } else { staging }.to_owned());
    invocation.timeout = crate::train::TRAIN_TIMEOUT;
    invocation.fixed_addresses = train_args.is_some();
    // Addons the training run loads are written below the staging directory, not the user's cache.
    invocation.env.push((crate::mount::NATIVE_CACHE_ENV.to_owned(), staging.join(".sea-build/native").into_string()));
    let output = runner.run(&invocation)?;
    if let (Some(train_args), Some(failure)) = (train_args, output.failure(crate::train::TRAIN_TIMEOUT)) {
        crate::error::fail!(
            ToolFailed,
            "training the mounted modules' code caches failed: the program, run through the loader with `train-args` ({}) in {package_dir}, failed ({failure}); its standard error:\n{}\n`train-args` must make the program do representative work and exit 0",
            train_args.join(" "),
            output.stderr_text().trim()
        );
    }
    if !output.success() {
        crate::error::fail!(ToolFailed, "making the mounted modules' code caches failed: `{}` in {staging} exited with {:?}:\n{}", invocation.display(), output.code, output.stderr_text().trim());
    }
    Ok(asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addons_for_another_platform_are_left_out_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        (elf[4], elf[5], elf[6], elf[16], elf[18], elf[20], elf[52], elf[54], elf[58]) = (2, 1, 1, 3, 62, 1, 64, 56, 64);
        std::fs::create_dir_all(root.join("addon/build")).unwrap();
        std::fs::write(root.join("addon/build/a.node"), &elf).unwrap();
        std::fs::write(root.join("addon/index.js"), "").unwrap();
        let closure = || crate::mount::Closure { files: vec!["addon/build/a.node".into(), "addon/index.js".into()], ..Default::default() };
        let mut kept = closure();
        assert!(leave_out_foreign_addons(&mut kept, root, "linux-x64".parse().unwrap()).unwrap().is_empty());
        assert_eq!(kept.files.len(), 2);
        let mut foreign = closure();
        let warnings = leave_out_foreign_addons(&mut foreign, root, "linux-arm64".parse().unwrap()).unwrap();
        assert_eq!(foreign.files, [Utf8PathBuf::from("addon/index.js")]);
        assert!(warnings[0].contains("addon/build/a.node is built for linux-x64, not linux-arm64"), "{warnings:?}");
    }

    #[test]
    fn picks_v8_flags_out_of_exec_argv() {
        let listing = "Options:\n  --stack-trace-limit (...)\n        type: int\n  --max_old_space_size (...)\n  --opt (...)\n";
        let argv: Vec<String> = ["--no-warnings", "--stack-trace-limit=5", "--max-old-space-size=100", "--no-opt", "script-arg"].map(String::from).to_vec();
        assert_eq!(v8_flags(&argv, listing), ["--stack-trace-limit=5", "--max-old-space-size=100", "--no-opt"]);
    }
}
