//! Real node binaries for tests, fetched once by sea-build's own fetcher from the npm registry
//! and cached in the target directory, so every later run is offline.

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use sea_build::Env;
use sea_build::node::{Cache, NodeBinary, NodeFetcher, Platform, SourceKind, Version, VersionSpec};

/// The node releases the tests (and `cargo xtask bench`) build with, in one place.
#[path = "pinned.rs"]
pub mod pinned;

/// The cache shared by all tests (and the fuzz seed generator): `<target>/sea-test-cache`, or
/// `SEA_BUILD_TEST_CACHE`.
pub fn shared_cache_dir() -> Utf8PathBuf {
    if let Some(dir) = Env::from_process().var("SEA_BUILD_TEST_CACHE") {
        return dir.into();
    }
    // Test binaries live in <target>/<profile>/deps/, the crate's other binaries in
    // <target>/<profile>/.
    let exe = std::env::current_exe().expect("the binary knows its path");
    let profile_dir = exe.parent().and_then(|dir| if dir.ends_with("deps") { dir.parent() } else { Some(dir) });
    let target = profile_dir.and_then(std::path::Path::parent).expect("test binaries live in <target>/<profile>/");
    Utf8PathBuf::from_path_buf(target.join("sea-test-cache")).expect("the target directory is UTF-8")
}

/// The environment tests give sea-build: the shared cache, and nothing from the user's own
/// sea-build settings.
pub fn test_env() -> Env {
    let mut env = Env::from_process().with_var("SEA_BUILD_CACHE_DIR", shared_cache_dir().as_str());
    for name in ["SEA_BUILD_OFFLINE", "CARGO_NET_OFFLINE", "SEA_BUILD_NODE_SOURCES", "SEA_BUILD_NODE_MIRROR", "NODEJS_ORG_MIRROR"] {
        env = env.without_var(name);
    }
    env
}

/// A real node binary of exactly `version` (one of [`pinned`]) for `platform`, from the npm
/// registry.
pub fn real_node(version: Version, platform: &str) -> Result<NodeBinary> {
    let spec = VersionSpec::Exact(version);
    let platform: Platform = platform.parse()?;
    let fetcher = NodeFetcher::from_env(&test_env())?.sources(vec![SourceKind::Npm]).cache(Cache::new(shared_cache_dir()));
    fetcher.fetch(&spec, platform, None).with_context(|| format!("tests need node {spec} for {platform} from the npm registry"))
}
