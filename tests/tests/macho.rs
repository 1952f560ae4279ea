//! Mach-O unsigning and injection on real executables linked by Debian's lld (see
//! `sea_build_tests::macho_fixtures`), checked with our own reader and with llvm-objdump,
//! llvm-nm and llvm-lipo.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};
use sea_build::inject::fuse::{self, FuseState};
use sea_build::inject::macho::{self as inject, SEGMENT_COMMAND_LEN, SIGNATURE_COMMAND_LEN};
use sea_build::macho::relativise::{self, RelativiseOptions};
use sea_build::macho::{ThinImage, fat_slices, unsign};
use sea_build_tests::macho_fixtures::{self as fixtures, Arch, Options, Tools, run};

const ARCHES: [Arch; 2] = [Arch::Arm64, Arch::X86_64];

fn tools() -> Tools {
    Tools::find().unwrap()
}

/// A blob of `len` bytes that is not all zeros and not periodic over short spans.
fn blob(len: usize) -> Vec<u8> {
    let mut state = 0x1234_5678u32;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs llvm-objdump and insists that it prints nothing on stderr (no warnings either).
fn objdump(args: &[&str], file: &Path) -> String {
    let output = Command::new(tools().objdump).args(args).arg(file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.trim().is_empty(), "llvm-objdump {args:?} {} failed: {stderr}", file.display());
    // The first line names the file; drop it so outputs of different files compare.
    String::from_utf8_lossy(&output.stdout).lines().filter(|line| !line.contains(&*file.to_string_lossy())).collect::<Vec<_>>().join("\n")
}

/// The bytes of a section as llvm-objdump dumps them (`--full-contents`).
fn dumped_section(file: &Path, section: &str, arch: Option<&str>) -> Vec<u8> {
    let mut args = vec!["--macho".to_owned(), format!("--section={section}"), "--full-contents".to_owned()];
    if let Some(arch) = arch {
        args.push(format!("--arch={arch}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = objdump(&args, file);
    let mut bytes = Vec::new();
    for line in text.lines() {
        let mut tokens = line.split_whitespace();
        let Some(address) = tokens.next() else {
            continue;
        };
        if address.len() != 16 || !address.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        for token in tokens {
            // Data sections dump as bytes, text sections as 32-bit words.
            match token.len() {
                2 => bytes.push(u8::from_str_radix(token, 16).unwrap()),
                8 => bytes.extend_from_slice(&u32::from_str_radix(token, 16).unwrap().to_le_bytes()),
                _ => panic!("unexpected token {token:?} in {line:?}"),
            }
        }
    }
    bytes
}

/// What the linker-side tools say about an image, everything that must survive injection
/// unchanged: symbols, dyld info, indirect symbols, function starts, data in code, code.
fn tool_views(file: &Path) -> Vec<(String, String)> {
    let mut views = Vec::new();
    for args in [
        &["--macho", "--bind"][..],
        &["--macho", "--rebase"],
        &["--macho", "--lazy-bind"],
        &["--macho", "--weak-bind"],
        &["--macho", "--exports-trie"],
        &["--macho", "--indirect-symbols"],
        &["--macho", "--function-starts"],
        &["--macho", "--data-in-code"],
        &["--macho", "--dylibs-used"],
        &["--macho", "-d"],
    ] {
        views.push((args.join(" "), objdump(args, file)));
    }
    let nm = run(Command::new(tools().nm).args(["-a", "-p"]).arg(file)).unwrap();
    views.push(("llvm-nm -a -p".to_owned(), nm));
    views
}

fn assert_same_views(before: &Path, after: &Path) {
    for ((what, old), (_, new)) in tool_views(before).into_iter().zip(tool_views(after)) {
        assert!(!old.trim().is_empty() || what.contains("bind") || what.contains("rebase") || what.contains("data-in-code"), "{what} printed nothing");
        assert_eq!(old, new, "{what} differs after injection");
    }
}

/// Checks an injected thin image on disk against its original.
fn check_injected_file(original: &Path, injected: &Path, blob: &[u8]) {
    let bytes = read(injected);
    assert_eq!(inject::find_blob(&bytes).unwrap(), Some(blob));
    let fuse_at = fuse::find_fuse(&read(original)).unwrap().offset();
    assert_eq!(fuse::find_fuse(&bytes).unwrap(), FuseState::Set { offset: fuse_at });

    let headers = objdump(&["--macho", "--private-headers"], injected);
    assert!(headers.contains("segname NODE_SEA"), "{headers}");
    assert!(headers.contains("sectname __NODE_SEA_BLOB"), "{headers}");
    assert!(!headers.contains("LC_CODE_SIGNATURE"), "{headers}");
    let sections = objdump(&["--macho", "--section-headers"], injected);
    let line = sections.lines().find(|l| l.contains("__NODE_SEA_BLOB")).unwrap();
    let size = line.split_whitespace().nth(2).unwrap();
    assert_eq!(u64::from_str_radix(size, 16).unwrap(), blob.len() as u64, "{line}");
    assert_eq!(dumped_section(injected, "NODE_SEA,__NODE_SEA_BLOB", None), blob);
    // Everything the loader and the tools read elsewhere is as before.
    assert_same_views(original, injected);
    objdump(&["--macho", "--all-headers"], injected);
}

#[test]
fn injects_into_real_thin_executables() {
    let dir = tempfile::tempdir().unwrap();
    for arch in ARCHES {
        let original = fixtures::build(dir.path(), &Options::new(arch)).unwrap();
        for len in [1, 4096, 100_000] {
            let blob = blob(len);
            let image = read(&original);
            let mut out = Vec::new();
            let summary = inject::inject(&image, &blob, &mut out).unwrap();
            assert_eq!(summary.output_len, out.len() as u64);
            let page = if arch == Arch::Arm64 { 0x4000 } else { 0x1000 };
            assert_eq!(summary.slices[0].shift, (len as u64).next_multiple_of(page));
            assert_eq!(out.len(), image.len() + summary.slices[0].shift as usize);
            let injected = write(dir.path(), &format!("injected-{}-{len}", arch.name()), &out);
            check_injected_file(&original, &injected, &blob);
        }
    }
}

#[test]
fn injects_into_a_real_universal_file() {
    let dir = tempfile::tempdir().unwrap();
    let thin: Vec<PathBuf> = ARCHES.iter().map(|&arch| fixtures::build(dir.path(), &Options::new(arch)).unwrap()).collect();
    let fat = fixtures::lipo(dir.path(), &thin, "app-universal").unwrap();
    let blob = blob(20_000);
    let out = inject::inject_to_vec(&read(&fat), &blob).unwrap();
    let injected = write(dir.path(), "injected-universal", &out);

    let info = run(Command::new(tools().lipo).arg("-info").arg(&injected)).unwrap();
    assert!(info.contains("x86_64") && info.contains("arm64"), "{info}");
    let blobs = inject::find_blobs(&out).unwrap();
    assert_eq!(blobs.len(), 2);
    assert!(blobs.iter().all(|b| b.blob == Some(&blob[..])));
    for slice in fat_slices(&out).unwrap() {
        assert_eq!(slice.offset % (1 << slice.align), 0);
        let arch = sea_build::macho::arch_name(slice.cputype);
        assert_eq!(dumped_section(&injected, "NODE_SEA,__NODE_SEA_BLOB", Some(arch)), blob);
    }
    // Each slice is exactly what injecting the thin file gives, and passes the same checks.
    for (original, arch) in thin.iter().zip(ARCHES) {
        let extracted = dir.path().join(format!("extracted-{}", arch.name()));
        run(Command::new(tools().lipo).arg(&injected).args(["-thin", arch.name(), "-output"]).arg(&extracted)).unwrap();
        let thin_injected = inject::inject_to_vec(&read(original), &blob).unwrap();
        assert!(read(&extracted) == thin_injected, "{} slice differs", arch.name());
        check_injected_file(original, &extracted, &blob);
    }
}

#[test]
fn unsigns_linker_signed_executables() {
    let dir = tempfile::tempdir().unwrap();
    let signed = fixtures::build(dir.path(), &Options { linker_signed: true, output: "signed-arm64".into(), ..Options::new(Arch::Arm64) }).unwrap();
    let bytes = read(&signed);
    assert!(unsign::is_signed(&bytes).unwrap());
    assert!(objdump(&["--macho", "--private-headers"], &signed).contains("LC_CODE_SIGNATURE"));
    let error = inject::inject(&bytes, b"blob", &mut Vec::new()).unwrap_err().to_string();
    assert!(error.contains("unsign"), "{error}");

    let unsigned_bytes = unsign::unsign(&bytes).unwrap();
    assert!(!unsign::is_signed(&unsigned_bytes).unwrap());
    let unsigned = write(dir.path(), "unsigned-arm64", &unsigned_bytes);
    let headers = objdump(&["--macho", "--all-headers"], &unsigned);
    assert!(!headers.contains("LC_CODE_SIGNATURE"), "{headers}");
    let before = ThinImage::parse(&bytes).unwrap();
    let after = ThinImage::parse(&unsigned_bytes).unwrap();
    assert_eq!(after.commands().len() + 1, before.commands().len());
    assert_eq!(unsigned_bytes.len() as u64, before.data_end());
    assert_eq!(after.linkedit().unwrap().file_end(), unsigned_bytes.len() as u64);
    assert_eq!(after.header_room().unwrap(), before.header_room().unwrap() + 16);
    // The slot of the signature command is zero.
    let end = after.commands_end();
    assert!(unsigned_bytes[end..end + 16].iter().all(|&b| b == 0));
    assert_same_views(&signed, &unsigned);
    // Unsigning twice changes nothing; the unsigned file takes a blob.
    assert!(unsign::unsign(&unsigned_bytes).unwrap() == unsigned_bytes);
    let blob = blob(3000);
    let injected = write(dir.path(), "injected-after-unsign", &inject::inject_to_vec(&unsigned_bytes, &blob).unwrap());
    check_injected_file(&unsigned, &injected, &blob);

    // A universal file with one signed slice.
    let x86 = fixtures::build(dir.path(), &Options::new(Arch::X86_64)).unwrap();
    let fat = fixtures::lipo(dir.path(), &[signed.clone(), x86.clone()], "signed-universal").unwrap();
    let fat_bytes = read(&fat);
    assert!(unsign::is_signed(&fat_bytes).unwrap());
    let unsigned_fat = unsign::unsign(&fat_bytes).unwrap();
    assert!(!unsign::is_signed(&unsigned_fat).unwrap());
    let slices = fat_slices(&unsigned_fat).unwrap();
    let slice = |cputype| slices.iter().find(|s| s.cputype == cputype).unwrap().data;
    assert!(slice(CPU_TYPE_ARM64) == unsigned_bytes, "arm64 slice unsigned like the thin file");
    assert!(slice(CPU_TYPE_X86_64) == read(&x86), "x86_64 slice untouched");
    let path = write(dir.path(), "unsigned-universal", &unsigned_fat);
    objdump(&["--macho", "--arch=all", "--private-headers"], &path);
}

fn expect_error(result: anyhow::Result<impl std::fmt::Debug>, wanted: &[&str]) {
    let error = format!("{:#}", result.unwrap_err());
    for part in wanted {
        assert!(error.contains(part), "expected {part:?} in {error:?}");
    }
}

#[test]
fn refuses_real_images_it_cannot_handle() {
    let dir = tempfile::tempdir().unwrap();
    let cramped = fixtures::build(dir.path(), &Options { headerpad: None, output: "cramped".into(), ..Options::new(Arch::X86_64) }).unwrap();
    let cramped = read(&cramped);
    let room = ThinImage::parse(&cramped).unwrap().header_room().unwrap();
    assert!(room < (SEGMENT_COMMAND_LEN + SIGNATURE_COMMAND_LEN) as u64);
    expect_error(inject::inject_to_vec(&cramped, b"blob"), &["no room", &format!("has {room}"), "needs 168"]);

    let image = read(&fixtures::build(dir.path(), &Options::new(Arch::Arm64)).unwrap());
    let injected = inject::inject_to_vec(&image, b"blob").unwrap();
    expect_error(inject::inject_to_vec(&injected, b"again"), &["already carries a SEA blob"]);

    for len in [0, 16, 40, image.len() / 2, image.len() - 1] {
        expect_error(inject::inject_to_vec(&image[..len], b"blob"), &[]);
        expect_error(unsign::unsign(&image[..len]), &[]);
    }
    let linkedit_end = ThinImage::parse(&image).unwrap().linkedit().unwrap().fileoff() as usize + 8;
    expect_error(inject::inject_to_vec(&image[..linkedit_end], b"blob"), &["truncated"]);

    let signed = read(&fixtures::build(dir.path(), &Options { linker_signed: true, output: "signed".into(), ..Options::new(Arch::Arm64) }).unwrap());
    let mut appended = signed.clone();
    appended.extend_from_slice(&[0u8; 64]);
    expect_error(unsign::unsign(&appended), &["does not end the file"]);
    expect_error(unsign::unsign(&signed[..signed.len() - 1]), &["truncated"]);
}

/// The build directory's prefix as `relativise` wants it: absolute, with a trailing slash.
fn prefix_of(dir: &Path) -> String {
    format!("{}/", dir.canonicalize().unwrap().display())
}

/// unsign, then relativise under `dir`, as the pipeline does.
fn unsign_and_relativise(file: &Path, dir: &Path) -> Vec<u8> {
    let mut data = unsign::unsign(&read(file)).unwrap();
    relativise::relativise_in_place(&mut data, &prefix_of(dir), &RelativiseOptions::default()).unwrap();
    data
}

fn nm(file: &Path) -> String {
    let output = Command::new(tools().nm).args(["-a", "-p"]).arg(file).output().unwrap();
    assert!(output.status.success() && output.stderr.is_empty(), "llvm-nm {}: {}", file.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Two checkouts of different depth, objects with different mtimes.
fn two_checkouts(root: &Path) -> (PathBuf, PathBuf) {
    let shallow = root.join("a");
    let deep = root.join("much/deeper/checkout/of/b");
    (shallow, deep)
}

fn mtime(seconds: u64) -> Option<std::time::SystemTime> {
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
}

#[test]
fn relativised_builds_from_two_checkouts_are_identical() {
    let linkers = Tools::linkers();
    assert!(!linkers.is_empty(), "no ld64.lld: {}", fixtures::INSTALL_HINT);
    // Every installed lld: they differ (lld 14 records object mtimes, lld 19 writes 0).
    for (version, linker) in linkers {
        let root = tempfile::tempdir().unwrap();
        let (shallow, deep) = two_checkouts(root.path());
        for (arch, linker_signed) in [(Arch::Arm64, true), (Arch::X86_64, false)] {
            let build = |dir: &Path, seconds| {
                let options = Options { linker_signed, object_mtime: mtime(seconds), linker: Some(linker.clone()), ..Options::new(arch) };
                fixtures::build(dir, &options).unwrap()
            };
            let (a, b) = (build(&shallow, 1_600_000_000), build(&deep, 1_700_000_000));
            let what = format!("{} linked by lld {version}", arch.name());
            assert!(read(&a) != read(&b), "{what}: the checkouts must differ before");
            let before = nm(&a);
            assert!(before.contains(&prefix_of(&shallow)), "{what}: {before}");
            if version == 14 {
                let recorded = before.lines().any(|l| l.starts_with("000000005f5e1000 ") && l.contains(" OSO "));
                assert!(recorded, "{what}: lld 14 records the object mtime: {before}");
            }
            let (ra, rb) = (unsign_and_relativise(&a, &shallow), unsign_and_relativise(&b, &deep));
            assert!(ra == rb, "{what}: builds differ after relativising");

            let out = write(&shallow, &format!("relativised-{}", arch.name()), &ra);
            let symbols = nm(&out);
            let root_path = root.path().to_str().unwrap();
            assert!(!symbols.contains(root_path), "{what}: {symbols}");
            assert!(symbols.contains(" OSO main-") && symbols.contains("OSO libhelper-"), "{what}: {symbols}");
            assert!(symbols.contains(" SO ./main.c"), "{what}: {symbols}");
            // Every OSO timestamp is 0.
            for line in symbols.lines().filter(|l| l.contains(" OSO ")) {
                assert!(line.starts_with("0000000000000000"), "{what}: {line}");
            }
            objdump(&["--macho", "--all-headers"], &out);
            objdump(&["--macho", "-d"], &out);
            // The UUID was recomputed: not the linker's.
            let uuid = |data: &[u8]| {
                let thin = ThinImage::parse(data).unwrap();
                thin.command(object::macho::LC_UUID).unwrap().bytes[8..24].to_vec()
            };
            assert_ne!(uuid(&ra), uuid(&read(&a)), "{what}");
        }
    }
}

#[test]
fn relativised_universal_builds_are_identical() {
    let root = tempfile::tempdir().unwrap();
    let (shallow, deep) = two_checkouts(root.path());
    let mut results = Vec::new();
    for (dir, seconds) in [(&shallow, 1_600_000_000), (&deep, 1_700_000_000)] {
        let thin: Vec<PathBuf> = [(Arch::Arm64, true), (Arch::X86_64, false)]
            .into_iter()
            .map(|(arch, linker_signed)| {
                let options = Options { linker_signed, object_mtime: mtime(seconds), ..Options::new(arch) };
                fixtures::build(dir, &options).unwrap()
            })
            .collect();
        let fat = fixtures::lipo(dir, &thin, "app-universal").unwrap();
        results.push((unsign_and_relativise(&fat, dir), dir.clone()));
    }
    assert!(results[0].0 == results[1].0);
    let out = write(&shallow, "relativised-universal", &results[0].0);
    objdump(&["--macho", "--arch=all", "--all-headers"], &out);
    let info = run(Command::new(tools().lipo).arg("-info").arg(&out)).unwrap();
    assert!(info.contains("x86_64") && info.contains("arm64"), "{info}");
}

#[test]
fn relativised_symbols_match_the_toolchains_own_reproducible_build() {
    let root = tempfile::tempdir().unwrap();
    let (ours_dir, oracle_dir) = two_checkouts(root.path());
    for arch in ARCHES {
        let ours = fixtures::build(&ours_dir, &Options { object_mtime: mtime(1_650_000_000), ..Options::new(arch) }).unwrap();
        let oracle = fixtures::build(&oracle_dir, &Options { reproducible: true, ..Options::new(arch) }).unwrap();
        let relativised = write(&ours_dir, &format!("relativised-{}", arch.name()), &unsign_and_relativise(&ours, &ours_dir));
        let expected = nm(&oracle);
        assert!(expected.contains(" SO ./main.c") && expected.contains(" OSO main-"), "{expected}");
        assert_eq!(nm(&relativised), expected, "{}", arch.name());
        // Relativising the oracle rewrites no path: only the string table order, vmsize and
        // UUID can change, which gives the very same bytes as ours.
        let oracle_relativised = unsign_and_relativise(&oracle, &oracle_dir);
        assert!(read(&relativised) == oracle_relativised, "{} differs from the oracle", arch.name());
    }
}

#[test]
fn dsymutil_finds_the_objects_from_the_build_root() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("checkout");
    let app = fixtures::build(&dir, &Options::new(Arch::Arm64)).unwrap();
    let relativised = write(&dir, "relativised", &unsign_and_relativise(&app, &dir));
    let dsym = |cwd: &Path, name: &str| {
        let output = Command::new(tools().dsymutil).current_dir(cwd).arg(&relativised).arg("-o").arg(root.path().join(name)).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let warnings = dsym(&dir, "from-root.dSYM");
    assert!(warnings.trim().is_empty(), "{warnings}");
    let dwarf = run(Command::new(tools().dwarfdump).arg(root.path().join("from-root.dSYM"))).unwrap();
    // The DWARF comes from the objects (their DW_AT_comp_dir stays whatever the compiler
    // wrote): its presence proves dsymutil found main.o and libhelper.a(helper.o).
    for name in ["\"main\"", "\"helper_greeting\"", "\"main.c\"", "\"helper.c\""] {
        assert!(dwarf.contains(name), "{name} missing from the dSYM:\n{dwarf}");
    }
    // From elsewhere the relative paths do not resolve: they really are relative.
    let warnings = dsym(root.path(), "from-elsewhere.dSYM");
    assert!(warnings.contains("unable to open object file"), "{warnings}");
}

#[test]
fn relativise_refuses_signed_input() {
    let dir = tempfile::tempdir().unwrap();
    let signed = fixtures::build(dir.path(), &Options { linker_signed: true, ..Options::new(Arch::Arm64) }).unwrap();
    let error = relativise::relativise(&read(&signed), &prefix_of(dir.path()), &RelativiseOptions::default()).unwrap_err().to_string();
    assert!(error.contains("unsign it first"), "{error}");
}

#[test]
fn large_fixture_generator_works_at_a_small_scale() {
    let dir = tempfile::tempdir().unwrap();
    let large = fixtures::large_fixture(dir.path(), 0.002).unwrap();
    let data = read(&large);
    let thin = ThinImage::parse(&data).unwrap();
    let symbols = thin.file_ranges().iter().find(|r| r.what == "LC_SYMTAB symbol table").unwrap();
    // 100 files x 33 functions: a symbol and two N_FUN each, plus _main and per-file stabs.
    assert!(symbols.len / 16 > 100 * 33 * 3, "{} symbols", symbols.len / 16);
    assert!(data.len() > 800_000, "{} bytes", data.len());
    let relativised = unsign_and_relativise(&large, dir.path());
    let out = write(dir.path(), "large-relativised", &relativised);
    assert!(!nm(&out).contains(dir.path().to_str().unwrap()));
    let injected = inject::inject_to_vec(&relativised, &blob(1000)).unwrap();
    assert_eq!(inject::find_blob(&injected).unwrap(), Some(&blob(1000)[..]));
}

#[test]
fn injects_into_real_executables_with_chained_fixups() {
    let dir = tempfile::tempdir().unwrap();
    let version = fixtures::llvm_version(&tools().objdump).unwrap();
    assert!(version >= 16, "llvm-objdump {version} cannot print chained fixups: {}", fixtures::CHAINED_FIXUPS_HINT);
    for arch in ARCHES {
        // Without writable data the starts table has 4 spare bytes; with it (one segment
        // more) it has none and the fixups grow by 8.
        for (writable_data, growth) in [(false, 0), (true, 8)] {
            let original = fixtures::build(dir.path(), &Options { chained_fixups: true, writable_data, output: format!("chained-{}-{writable_data}", arch.name()), ..Options::new(arch) }).unwrap();
            let before = objdump(&["--macho", "--chained-fixups"], &original);
            let segments = if writable_data { 5 } else { 4 };
            assert!(before.contains(&format!("seg_count = {segments}")), "{before}");

            let blob = blob(30_000);
            let mut out = Vec::new();
            let summary = inject::inject(&read(&original), &blob, &mut out).unwrap();
            assert_eq!(summary.slices[0].fixups_growth, growth, "{}", arch.name());
            let injected = write(dir.path(), &format!("injected-chained-{}-{writable_data}", arch.name()), &out);
            check_injected_file(&original, &injected, &blob);

            let after = objdump(&["--macho", "--chained-fixups"], &injected);
            assert!(after.contains(&format!("seg_count = {}", segments + 1)), "{after}");
            let node_sea = segments - 1;
            assert!(after.contains(&format!("seg_offset[{node_sea}] = 0 (NODE_SEA)")) && after.contains(&format!("seg_offset[{segments}] = 0 (__LINKEDIT)")), "{after}");
            // The per-segment starts, imports and symbols read the same.
            let stable = |text: &str| {
                text.lines().filter(|line| !["seg_count", "seg_offset[", "imports_offset", "symbols_offset"].iter().any(|field| line.contains(field))).map(str::to_owned).collect::<Vec<_>>()
            };
            assert_eq!(stable(&before), stable(&after));
            // dyld's view: every fixup, found by walking the chains, is unchanged.
            let fixups = objdump(&["--macho", "--dyld-info"], &original);
            assert!(fixups.contains("bind") && fixups.contains("_puts"), "{fixups}");
            if writable_data {
                assert!(fixups.contains("rebase"), "{fixups}");
            }
            assert_eq!(fixups, objdump(&["--macho", "--dyld-info"], &injected));
        }
    }
}
