//! The corpus lockfiles (`tests/corpus/<name>/package-lock.json`), checked without the network:
//! one for every program, pinning that program at its corpus version, and naming no registry.

use camino::Utf8PathBuf;
use sea_build_tests::corpus::PROGRAMS;

/// `tests/corpus`, where the lockfiles are committed.
fn corpus_dir() -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

#[test]
fn every_program_has_a_lockfile_pinning_it_exactly() {
    for program in PROGRAMS {
        let (package, version) = program.package;
        let path = corpus_dir().join(program.name).join("package-lock.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: no lockfile at {path}: {error}", program.name));
        let lock: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"));
        let packages = &lock["packages"];
        // npm ci installs what the root package depends on: the program alone, at its version.
        let dependencies = packages[""]["dependencies"].as_object().unwrap_or_else(|| panic!("{path}: the root package has no dependencies"));
        assert_eq!(dependencies.len(), 1, "{path}: the root package depends on more than {package}");
        assert_eq!(dependencies.get(package).and_then(serde_json::Value::as_str), Some(version), "{path}: the root package does not depend on {package} {version}");
        assert_eq!(packages[format!("node_modules/{package}")]["version"].as_str(), Some(version), "{path}: {package} is not locked at {version}");
        // `resolved` holds the registry's URL; npm installs from the one it is configured with.
        assert!(!text.contains("\"resolved\""), "{path}: remove every \"resolved\" field");
        assert!(!text.contains("://"), "{path}: names a URL; remove the field that holds it");
    }
}

#[test]
fn every_lockfile_belongs_to_a_program() {
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(PROGRAMS.iter().any(|program| program.name == name), "tests/corpus/{name} is no corpus program: remove it");
    }
}
