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

/// The Python of the pinned LIEF (PyPI) environment `cargo xtask setup` makes in the sea-build
/// cache; fails, saying how to get it, when it is not there.
pub fn lief_python() -> Utf8PathBuf {
    let version = nodes::pinned::LIEF;
    let cache = sea_build::node::Cache::from_env(&sea_build::Env::from_process()).expect("the sea-build cache directory");
    let python = cache.root().join(format!("lief-{version}/bin/python3"));
    assert!(python.is_file(), "LIEF {version} is needed by this test: run `cargo xtask setup` (it installs it into {python})");
    python
}

/// Runs `program` with `args` and returns its standard output; the run must succeed and print
/// nothing on standard error (no warnings either): what an independent reader's clean reading
/// of a file looks like.
pub fn clean_output(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program).args(args).output().unwrap_or_else(|error| panic!("cannot run {program} (installed by `cargo xtask test`): {error}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.trim().is_empty(), "{program} {args:?} failed or warned ({}): {stderr}", output.status);
    String::from_utf8_lossy(&output.stdout).into_owned()
}
