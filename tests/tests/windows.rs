//! Windows SEAs: real win-x64 node 22 and 24 (from the npm registry) unsigned, injected and
//! checked with independent tools (llvm-readobj, osslsigncode).

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::inject::pe::{find_blob, inject_to_vec};
use sea_build::pe::{PeHeaders, certificate_table, checksum, unsign};
use sea_build_tests::nodes::real_node;

const MAJORS: [&str; 2] = ["22", "24"];

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// Runs an independent checking tool, which `cargo xtask test` installs.
fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program} is needed by this test (apt-get install llvm osslsigncode): {error}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// What `llvm-readobj --coff-resources` prints, for `path`.
fn coff_resources(path: &Utf8Path) -> String {
    let (ok, text) = tool("llvm-readobj", &["--coff-resources", path.as_str()]);
    assert!(ok, "llvm-readobj failed on {path}:\n{text}");
    text
}

/// What osslsigncode 2.x prints for a file without any signature.
const UNSIGNED: &str = "No signature found";
/// What it prints when the CheckSum field is stale.
const BAD_CHECKSUM: &str = "invalid PE checksum";

/// osslsigncode sees no signature (not a damaged one) and a correct checksum.
fn assert_unsigned(path: &Utf8Path) {
    let (ok, text) = tool("osslsigncode", &["verify", "-in", path.as_str()]);
    assert!(!ok, "osslsigncode verified {path}:\n{text}");
    assert!(text.contains(UNSIGNED), "{path}:\n{text}");
    assert!(!text.contains(BAD_CHECKSUM), "{path}:\n{text}");
}

#[test]
fn official_binaries_are_signed_with_a_checksum_we_reproduce() {
    for major in MAJORS {
        let node = real_node(major, "win-x64").unwrap();
        let image = std::fs::read(&node.path).unwrap();
        let headers = PeHeaders::parse(&image).unwrap();
        // The linker's (or signer's) CheckSum is what we compute.
        assert_ne!(headers.check_sum, 0);
        assert_eq!(checksum(&image).unwrap(), headers.check_sum, "node {}", node.version);
        let table = certificate_table(&headers, &image).unwrap().expect("official node.exe is signed");
        assert_eq!(table.end, image.len());

        let unsigned = unsign(&image).unwrap();
        assert_eq!(unsigned.len(), table.start);
        // Only the CheckSum and the security directory entry change.
        let changed: Vec<usize> = unsigned.iter().zip(&image).enumerate().filter(|(_, (a, b))| a != b).map(|(at, _)| at).collect();
        let check_sum = headers.check_sum_offset();
        let directory = headers.data_directory_offset(4).unwrap();
        assert!(changed.iter().all(|at| (check_sum..check_sum + 4).contains(at) || (directory..directory + 8).contains(at)), "{changed:?}");
        let after = PeHeaders::parse(&unsigned).unwrap();
        assert!(after.data_directory(4).unwrap().is_empty());
        assert_eq!(checksum(&unsigned).unwrap(), after.check_sum);
        assert_eq!(unsign(&unsigned).unwrap(), unsigned, "unsigning twice changes nothing");

        // osslsigncode sees a valid signature structure before (its digest matches the
        // file), and no signature at all after; both with a matching PE checksum.
        let (dir_guard, dir) = temp();
        let (signed_path, unsigned_path) = (dir.join("signed.exe"), dir.join("unsigned.exe"));
        std::fs::write(&signed_path, &image).unwrap();
        std::fs::write(&unsigned_path, &unsigned).unwrap();
        let (_, before) = tool("osslsigncode", &["verify", "-in", signed_path.as_str()]);
        assert!(before.contains("Signer's certificate") && !before.contains(BAD_CHECKSUM), "{before}");
        assert_unsigned(&unsigned_path);
        drop(dir_guard);
    }
}

/// The `Type: ... [` blocks of `llvm-readobj --coff-resources` output, by their header line.
fn resource_types(listing: &str) -> Vec<(String, String)> {
    let mut types: Vec<(String, String)> = Vec::new();
    for line in listing.lines() {
        if let Some(header) = line.strip_prefix("  Type: ") {
            types.push((header.trim_end_matches(" [").to_owned(), String::new()));
        } else if let Some((_, body)) = types.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    types
}

/// The total resource count llvm-readobj reports.
fn resource_count(listing: &str) -> usize {
    let line = listing.lines().find_map(|line| line.trim().strip_prefix("Total Number of Resources: ")).expect("llvm-readobj prints the resource count");
    line.parse().unwrap()
}

/// llvm-readobj finds the blob under RCDATA, language 0, with its exact size, next to every
/// resource the base had (the manifest among them).
fn assert_blob_listed(base: &Utf8Path, app: &Utf8Path, blob_len: usize) {
    let (before, after) = (coff_resources(base), coff_resources(app));
    assert_eq!(resource_count(&after), resource_count(&before) + 1);
    let (types_before, types_after) = (resource_types(&before), resource_types(&after));
    let names = |types: &[(String, String)]| types.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
    let mut expected = names(&types_before);
    if !expected.iter().any(|name| name == "RCDATA (ID 10)") {
        expected.push("RCDATA (ID 10)".into());
        expected.sort_by_key(|name| name.split("(ID ").nth(1).and_then(|id| id.trim_end_matches(')').parse::<u16>().ok()));
    }
    assert_eq!(names(&types_after), expected);
    // Every resource's bytes (the hex dumps) survive, the manifest's among them.
    let dumps = |body: &str| body.split("Data (").skip(1).map(|dump| dump.split(')').next().unwrap_or_default().to_owned()).collect::<Vec<_>>();
    for (name, body) in &types_before {
        let (_, after_body) = types_after.iter().find(|(other, _)| other == name).unwrap();
        if name == "RCDATA (ID 10)" {
            continue;
        }
        assert_eq!(dumps(after_body), dumps(body), "{name}");
    }
    let (_, manifest) = types_after.iter().find(|(name, _)| name == "MANIFEST (ID 24)").expect("the manifest survives");
    assert!(dumps(manifest).concat().contains("<?xml"), "{manifest}");
    let (_, rcdata) = types_after.iter().find(|(name, _)| name == "RCDATA (ID 10)").unwrap();
    let blob_entry = rcdata.split("Name: ").find(|part| part.starts_with("NODE_SEA_BLOB [")).expect("NODE_SEA_BLOB under RCDATA");
    assert!(blob_entry.contains("Language: (ID 0)"), "{blob_entry}");
    assert!(blob_entry.contains(&format!("DataSize: {blob_len}\n")), "{blob_entry}");
}

#[test]
fn injected_official_binaries_keep_their_resources() {
    for major in MAJORS {
        let node = real_node(major, "win-x64").unwrap();
        let image = unsign(&std::fs::read(&node.path).unwrap()).unwrap();
        let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let out = inject_to_vec(&image, &blob).unwrap();
        assert_eq!(find_blob(&out).unwrap(), Some(&blob[..]));
        let (_guard, dir) = temp();
        let (base, app) = (dir.join("node.exe"), dir.join("app.exe"));
        std::fs::write(&base, &image).unwrap();
        std::fs::write(&app, &out).unwrap();
        assert_blob_listed(&base, &app, blob.len());
        assert_unsigned(&app);
        // Injecting again is refused.
        let error = inject_to_vec(&out, b"again").unwrap_err().to_string();
        assert!(error.contains("already carries a SEA blob"), "{error}");
    }
}
