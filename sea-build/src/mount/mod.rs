//! Mounting: a package shipped as its files, read-only, for programs one bundle cannot serve.
//!
//! The blob's main is a small loader ([`loader_source`]); the program's files travel in the
//! blob as two assets, a data file and its index ([`Mount::write`]). At run time the loader
//! serves them below the executable's own path used as a directory (a path that cannot exist
//! on disk), to `fs`, to `require` and `require.resolve`, to `import` (through
//! `module.registerHooks`), to workers and to native addons (written once, with their package,
//! to a per-user cache keyed by SHA-256). Every module keeps its own `__dirname`,
//! `__filename` and `import.meta.url`, so a program behaves as `node <main>` does.
//!
//! What ships is the program's production closure ([`closure`]): the files of the package
//! holding `main`, and of every package its `dependencies`, `optionalDependencies` and
//! installed `peerDependencies` reach, never `devDependencies`. CommonJS modules are compiled
//! from V8 code caches the target's own node makes at build time ([`cache_maker_source`]), as
//! the loader compiles them.

mod closure;

pub use closure::{AddonPackage, Closure, closure};

use std::io::Write;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::node::{Arch, Os, Platform};

/// The blob's main when a package is mounted, at the staging directory's root.
pub const LOADER: &str = "sea-build-loader.js";
/// The asset holding the mounted files, one after another.
pub const DATA_ASSET: &str = "sea-build:mount.bin";
/// The asset listing them: `{"main": key, "files": [[key, offset, length]...], "addons":
/// [[package dir, sha256, [dirs written out with it]]...]}`.
pub const INDEX_ASSET: &str = "sea-build:mount.json";
/// The asset holding the modules' code caches, when the target's node made them.
pub const CACHE_ASSET: &str = "sea-build:cache.bin";

/// Where [`Mount::write`] puts its files, relative to the staging directory.
const DATA_FILE: &str = ".sea-build/mount.bin";
const INDEX_FILE: &str = ".sea-build/mount.json";
const COMPILE_FILE: &str = ".sea-build/compile.json";
const CACHE_MAKER_FILE: &str = ".sea-build/cache.js";
const CACHE_FILE: &str = ".sea-build/cache.bin";

/// The CommonJS wrapper both scripts share: a cache is accepted only for its own source.
const WRAP: &str = include_str!("wrap.js");

/// The loader's source (the blob's main).
///
/// ```
/// assert!(sea_build::mount::loader_source().contains("registerHooks"));
/// ```
pub fn loader_source() -> String {
    format!("{WRAP}{}", include_str!("loader.js"))
}

/// The build-time script that makes the modules' code caches: `node cache.js LIST DATA OUT`.
///
/// ```
/// assert!(sea_build::mount::cache_maker_source().contains("createCachedData"));
/// ```
pub fn cache_maker_source() -> String {
    format!("{WRAP}{}", include_str!("cache.js"))
}

/// A mount written into a staging directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// How many files it holds.
    pub files: usize,
    /// Their bytes in all.
    pub bytes: u64,
    /// How many of them are CommonJS modules, compiled from a code cache when there is one.
    pub commonjs: usize,
    /// The staged files node reads as assets: asset key to path relative to the staging
    /// directory.
    pub assets: Vec<(String, Utf8PathBuf)>,
}

impl Mount {
    /// Writes `closure`'s files (read from `package_dir`) into `staging` as the data and index
    /// assets, the list of CommonJS modules for [`Mount::make_caches`], and the loader.
    pub fn write(closure: &Closure, package_dir: &Utf8Path, staging: &Utf8Path) -> Result<Mount> {
        std::fs::create_dir_all(staging.join(".sea-build")).with_context(|| format!("could not create {staging}/.sea-build"))?;
        let data_path = staging.join(DATA_FILE);
        let mut data = std::io::BufWriter::new(std::fs::File::create(&data_path).with_context(|| format!("could not create {data_path}"))?);
        let mut entries = Vec::with_capacity(closure.files.len());
        let mut compile = Vec::new();
        let mut offset = 0u64;
        let mut addons = Vec::new();
        for file in &closure.files {
            let path = package_dir.join(file);
            let bytes = std::fs::read(&path).with_context(|| format!("could not read {path}"))?;
            data.write_all(&bytes).with_context(|| format!("could not write {data_path}"))?;
            let key = file.as_str().replace('\\', "/");
            if closure.commonjs.contains(file) {
                compile.push(serde_json::json!([key, offset, bytes.len()]));
            }
            entries.push(serde_json::json!([key, offset, bytes.len()]));
            offset += bytes.len() as u64;
        }
        data.flush().with_context(|| format!("could not write {data_path}"))?;
        for addon in &closure.addon_packages {
            let dirs: Vec<String> = addon.dirs.iter().map(|dir| dir.as_str().replace('\\', "/")).collect();
            addons.push(serde_json::json!([addon.dir.as_str().replace('\\', "/"), addon.sha256, dirs]));
        }
        let index = serde_json::json!({ "main": closure.main.as_str().replace('\\', "/"), "files": entries, "addons": addons });
        write(&staging.join(INDEX_FILE), &serde_json::to_vec(&index)?)?;
        write(&staging.join(COMPILE_FILE), &serde_json::to_vec(&compile)?)?;
        write(&staging.join(LOADER), loader_source().as_bytes())?;
        Ok(Mount { files: closure.files.len(), bytes: offset, commonjs: compile.len(), assets: vec![(DATA_ASSET.to_owned(), DATA_FILE.into()), (INDEX_ASSET.to_owned(), INDEX_FILE.into())] })
    }

    /// The command line, relative to the staging directory, that makes the code caches with
    /// the target's node (after its V8 flags); [`CACHE_FILE`] is the asset it writes.
    pub fn cache_maker_args(staging: &Utf8Path) -> Result<(Vec<String>, (String, Utf8PathBuf))> {
        write(&staging.join(CACHE_MAKER_FILE), cache_maker_source().as_bytes())?;
        let args = [CACHE_MAKER_FILE, COMPILE_FILE, DATA_FILE, CACHE_FILE].map(str::to_owned).to_vec();
        Ok((args, (CACHE_ASSET.to_owned(), CACHE_FILE.into())))
    }
}

/// The platform a native addon (`.node`: ELF, Mach-O or PE) was built for, read from its
/// header; `None` when it is none of those or names an architecture node does not ship.
///
/// ```
/// // The ELF header of an x86-64 Linux shared object, as far as the machine field.
/// let mut elf = vec![0u8; 64];
/// elf[..4].copy_from_slice(b"\x7fELF");
/// (elf[4], elf[5], elf[6]) = (2, 1, 1);
/// elf[16] = 3; // ET_DYN
/// elf[18] = 62; // EM_X86_64
/// elf[20] = 1;
/// (elf[52], elf[54], elf[58]) = (64, 56, 64);
/// assert_eq!(sea_build::mount::addon_platform(&elf), Some("linux-x64".parse()?));
/// assert_eq!(sea_build::mount::addon_platform(b"not an addon"), None);
/// # anyhow::Ok(())
/// ```
pub fn addon_platform(bytes: &[u8]) -> Option<Platform> {
    use object::Object;
    let file = object::File::parse(bytes).ok()?;
    let os = match file.format() {
        object::BinaryFormat::Elf => Os::Linux,
        object::BinaryFormat::MachO => Os::Darwin,
        object::BinaryFormat::Pe => Os::Windows,
        _ => return None,
    };
    let arch = match file.architecture() {
        object::Architecture::X86_64 => Arch::X64,
        object::Architecture::Aarch64 => Arch::Arm64,
        object::Architecture::Arm => Arch::Armv7l,
        object::Architecture::PowerPc64 => Arch::Ppc64le,
        object::Architecture::S390x => Arch::S390x,
        object::Architecture::I386 => Arch::X86,
        _ => return None,
    };
    Some(Platform { os, arch })
}

fn write(path: &Utf8Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("could not write {path}"))
}
