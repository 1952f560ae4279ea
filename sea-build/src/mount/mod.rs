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

/// The variable that moves the per-user directory native addons are written to.
pub const NATIVE_CACHE_ENV: &str = "SEA_BUILD_NATIVE_CACHE";

/// Where [`Mount::write`] puts its files, relative to the staging directory.
const DATA_FILE: &str = ".sea-build/mount.bin";
const PACKED_FILE: &str = ".sea-build/mount.packed";
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
    /// The bytes the data asset holds: `bytes`, or less when compressed.
    pub stored: u64,
    /// How many of them are CommonJS modules, compiled from a code cache when there is one.
    pub commonjs: usize,
    /// The staged files node reads as assets: asset key to path relative to the staging
    /// directory.
    pub assets: Vec<(String, Utf8PathBuf)>,
}

impl Mount {
    /// Writes `closure`'s files (read from `package_dir`) into `staging` as the data and index
    /// assets, the list of CommonJS modules for [`Mount::cache_maker_args`], and the loader.
    /// With `compress`, a file deflate shrinks by an eighth or more is stored deflated (see
    /// [`pack`]); the cache maker still reads every file as it is.
    pub fn write(closure: &Closure, package_dir: &Utf8Path, staging: &Utf8Path, compress: bool) -> Result<Mount> {
        std::fs::create_dir_all(staging.join(".sea-build")).with_context(|| format!("could not create {staging}/.sea-build"))?;
        let data_path = staging.join(DATA_FILE);
        let mut data = std::io::BufWriter::new(std::fs::File::create(&data_path).with_context(|| format!("could not write {data_path}"))?);
        let packed_path = staging.join(PACKED_FILE);
        let mut packed = match compress {
            true => Some(std::io::BufWriter::new(std::fs::File::create(&packed_path).with_context(|| format!("could not write {packed_path}"))?)),
            false => None,
        };
        let mut entries = Vec::with_capacity(closure.files.len());
        let mut compile = Vec::new();
        let (mut offset, mut stored) = (0u64, 0u64);
        for file in &closure.files {
            let path = package_dir.join(file);
            let bytes = std::fs::read(&path).with_context(|| format!("could not read {path}"))?;
            data.write_all(&bytes).with_context(|| format!("could not write {data_path}"))?;
            let key = file.as_str().replace('\\', "/");
            if closure.commonjs.contains(file) {
                compile.push(serde_json::json!([key, offset, bytes.len()]));
            }
            match &mut packed {
                None => entries.push(serde_json::json!([key, offset, bytes.len()])),
                Some(packed) => {
                    let deflated = pack(&bytes);
                    let body = deflated.as_deref().unwrap_or(&bytes);
                    packed.write_all(body).with_context(|| format!("could not write {packed_path}"))?;
                    entries.push(match deflated {
                        Some(_) => serde_json::json!([key, stored, body.len(), bytes.len()]),
                        None => serde_json::json!([key, stored, bytes.len()]),
                    });
                    stored += body.len() as u64;
                }
            }
            offset += bytes.len() as u64;
        }
        data.flush().with_context(|| format!("could not write {data_path}"))?;
        if let Some(mut packed) = packed {
            packed.flush().with_context(|| format!("could not write {packed_path}"))?;
        } else {
            stored = offset;
        }
        let addons: Vec<_> = closure
            .addon_packages
            .iter()
            .map(|addon| {
                let dirs: Vec<String> = addon.dirs.iter().map(|dir| dir.as_str().replace('\\', "/")).collect();
                serde_json::json!([addon.dir.as_str().replace('\\', "/"), addon.sha256, dirs])
            })
            .collect();
        let index = serde_json::json!({ "main": closure.main.as_str().replace('\\', "/"), "files": entries, "addons": addons });
        write(&staging.join(INDEX_FILE), &serde_json::to_vec(&index)?)?;
        write(&staging.join(COMPILE_FILE), &serde_json::to_vec(&compile)?)?;
        write(&staging.join(LOADER), loader_source().as_bytes())?;
        let data_file = if compress { PACKED_FILE } else { DATA_FILE };
        Ok(Mount { files: closure.files.len(), bytes: offset, stored, commonjs: compile.len(), assets: vec![(DATA_ASSET.to_owned(), data_file.into()), (INDEX_ASSET.to_owned(), INDEX_FILE.into())] })
    }

    /// The command line that makes the code caches with the target's node (after its V8
    /// flags), and the asset it writes ([`CACHE_ASSET`]). Plain, it runs in the staging
    /// directory; with `train_args` (`code-cache = "trained"`), in the package directory, where
    /// the program runs through the loader with those arguments first, so its paths are
    /// absolute.
    pub fn cache_maker_args(&self, staging: &Utf8Path, train_args: Option<&[String]>) -> Result<(Vec<String>, (String, Utf8PathBuf))> {
        write(&staging.join(CACHE_MAKER_FILE), cache_maker_source().as_bytes())?;
        let asset = (CACHE_ASSET.to_owned(), CACHE_FILE.into());
        let Some(train_args) = train_args else {
            return Ok(([CACHE_MAKER_FILE, COMPILE_FILE, DATA_FILE, CACHE_FILE].map(str::to_owned).to_vec(), asset));
        };
        let files: serde_json::Map<String, serde_json::Value> = self.assets.iter().map(|(key, path)| (key.clone(), staging.join(path).as_str().into())).collect();
        let mut args: Vec<String> = [CACHE_MAKER_FILE, COMPILE_FILE, DATA_FILE, CACHE_FILE, LOADER].iter().map(|file| staging.join(file).into_string()).collect();
        args.push(serde_json::Value::Object(files).to_string());
        args.extend(train_args.iter().cloned());
        Ok((args, asset))
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

/// What [`check_module_caches`] found: every module cache's V8 header against the module it
/// belongs to and the reference header node makes with the artifact's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleCaches {
    /// How many modules carry a cache.
    pub modules: usize,
    /// Their bytes in all.
    pub bytes: usize,
}

/// Checks the code caches of a mounted package, given the blob's assets: each cache's header
/// must name the V8 version and flags of `reference` (the header the artifact's node makes
/// with its flags) and the length of its module's wrapped source, as V8 checks them before it
/// accepts a cache. `None` when the blob carries no module caches.
pub fn check_module_caches(assets: &[(&str, &[u8])], node_major: u32, reference: &crate::blob::CodeCacheHeader) -> Result<Option<ModuleCaches>> {
    let asset = |key: &str| assets.iter().find(|(name, _)| *name == key).map(|(_, bytes)| *bytes);
    let (Some(caches), Some(index), Some(data)) = (asset(CACHE_ASSET), asset(INDEX_ASSET), asset(DATA_ASSET)) else { return Ok(None) };
    /// `[key, offset, stored length]`, and when the file is stored deflated, the size it
    /// inflates to.
    #[derive(serde::Deserialize)]
    struct Entry(String, usize, usize, #[serde(default)] Option<usize>);
    #[derive(serde::Deserialize)]
    struct Index {
        files: Vec<Entry>,
    }
    let index: Index = serde_json::from_slice(index).context("the mount's index is not the JSON sea-build writes")?;
    let head = caches.get(..4).context("the module caches are truncated")?;
    let length = u32::from_le_bytes(head.try_into()?) as usize;
    let listing = caches.get(4..4 + length).context("the module caches' index is truncated")?;
    let entries: std::collections::BTreeMap<String, (usize, usize)> = serde_json::from_slice(listing).context("the module caches' index is not the JSON sea-build writes")?;
    let body = &caches[4 + length..];
    let mut total = 0;
    for (key, (offset, size)) in &entries {
        let cache = body.get(*offset..offset + size).with_context(|| format!("the cache of {key} lies outside the asset"))?;
        let header = crate::blob::parse_code_cache_header(cache, node_major).with_context(|| format!("the cache of {key}"))?;
        let Entry(_, start, len, inflated_size) = index.files.iter().find(|entry| entry.0 == *key).with_context(|| format!("{key} has a cache but is not mounted"))?;
        let (start, len) = (*start, *len);
        let stored = data.get(start..start + len).with_context(|| format!("{key} lies outside the mount's data"))?;
        let inflated;
        let source = match inflated_size {
            Some(inflated_size) => {
                inflated = unpack(stored, *inflated_size).with_context(|| format!("{key} in the mount's data"))?;
                &inflated[..]
            }
            None => stored,
        };
        let source = std::str::from_utf8(source).with_context(|| format!("{key} is not UTF-8"))?;
        let expected = crate::blob::expected_source_hash(&wrapped(source), false);
        if header.version_hash != reference.version_hash || header.flag_hash != reference.flag_hash {
            anyhow::bail!(
                "the cache of {key} was made by another V8 or with other flags (version hash {:#010x}, flag hash {:#010x}; node makes {:#010x}, {:#010x})",
                header.version_hash,
                header.flag_hash,
                reference.version_hash,
                reference.flag_hash
            );
        }
        if header.source_hash != expected {
            anyhow::bail!("the cache of {key} is for another source (source hash {:#010x}, the module gives {expected:#010x})", header.source_hash);
        }
        total += size;
    }
    Ok(Some(ModuleCaches { modules: entries.len(), bytes: total }))
}

/// A CommonJS module's source as the loader compiles it (`wrap.js`, checked against it by
/// the tests): without a byte-order mark, a `#!` line turned into a comment, in node's wrapper.
fn wrapped(source: &str) -> String {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let source = source.strip_prefix("#!").map_or_else(|| source.to_owned(), |rest| format!("//{rest}"));
    format!("(function (exports, require, module, __filename, __dirname) {{ {source}\n}});")
}

/// `bytes` deflated (raw deflate, as node's `zlib.inflateRawSync` reads it), or `None` when
/// that saves less than an eighth: already compressed files (addons' archives, images, WASM
/// mostly) stay as they are and cost nothing to read.
///
/// miniz_oxide directly, not through flate2: flate2's backend is whatever the dependency graph
/// picks, and the artifact's bytes must not depend on the graph.
///
/// ```
/// let text = "the same line again\n".repeat(100);
/// let packed = sea_build::mount::pack(text.as_bytes()).expect("text deflates well");
/// assert!(packed.len() < text.len() / 8);
/// assert_eq!(sea_build::mount::unpack(&packed, text.len())?, text.as_bytes());
/// assert_eq!(sea_build::mount::pack(&[7, 1, 9]), None);
/// # anyhow::Ok(())
/// ```
pub fn pack(bytes: &[u8]) -> Option<Vec<u8>> {
    let deflated = miniz_oxide::deflate::compress_to_vec(bytes, 9);
    (deflated.len() <= bytes.len() - bytes.len() / 8 && deflated.len() < bytes.len()).then_some(deflated)
}

/// Inflates what [`pack`] deflated, checking that it gives `size` bytes.
pub fn unpack(packed: &[u8], size: usize) -> Result<Vec<u8>> {
    let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(packed, size).map_err(|error| anyhow::anyhow!("a mounted file does not inflate: {error}"))?;
    anyhow::ensure!(bytes.len() == size, "a mounted file inflates to {} bytes, not the {size} its index says", bytes.len());
    Ok(bytes)
}

fn write(path: &Utf8Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("could not write {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_is_the_one_the_scripts_use() {
        assert!(WRAP.contains("`(function (exports, require, module, __filename, __dirname) { ${source}\\n});`"));
        assert_eq!(wrapped("\u{feff}#!/usr/bin/env node\nx"), "(function (exports, require, module, __filename, __dirname) { ///usr/bin/env node\nx\n});");
    }
}
