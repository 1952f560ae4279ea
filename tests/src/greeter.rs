//! The package the Linux and Windows SEA tests build: "greeter", a main and the asset it reads.

use std::collections::BTreeMap;

use camino::Utf8Path;
use sea_build::Sea;
use sea_build::blob::ExecArgvExtension;
use sea_build::config::Bundling;
use sea_build::node::{Platform, VersionSpec};

/// Writes the package at `dir` (`js/main.js` holding `main`, and `js/greeting.txt`, the
/// asset `greeting.txt`) and declares its SEA "greeter": one file, not bundled, not
/// stripped, no snapshot, no `execArgv`, default signing and Windows resources. The tests
/// change the fields they are about on the `Sea` returned.
///
/// ```
/// use sea_build::node::{Platform, VersionSpec};
/// let dir = tempfile::tempdir()?;
/// let dir = camino::Utf8Path::from_path(dir.path()).unwrap();
/// let main = "console.log(require('node:sea').getAsset('greeting.txt', 'utf8'));\n";
/// let node = VersionSpec::Exact(sea_build_tests::nodes::pinned::NODE_24);
/// let sea = sea_build_tests::greeter::package(dir, main, node, vec![Platform::host()?], true);
/// assert_eq!(std::fs::read_to_string(dir.join(&sea.main))?, main);
/// assert_eq!(std::fs::read_to_string(dir.join("js/greeting.txt"))?, "hello, asset\n");
/// # anyhow::Ok(())
/// ```
pub fn package(dir: &Utf8Path, main: &str, node: VersionSpec, targets: Vec<Platform>, code_cache: bool) -> Sea {
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("js/main.js"), main).unwrap();
    std::fs::write(dir.join("js/greeting.txt"), "hello, asset\n").unwrap();
    Sea {
        name: "greeter".into(),
        package_dir: dir.to_owned(),
        main: "js/main.js".into(),
        bundle: Bundling::Never,
        vfs: vec![],
        node,
        targets,
        code_cache,
        train_args: None,
        use_snapshot: false,
        strip: false,
        icu: Default::default(),
        archive: false,
        compress: false,
        assets: BTreeMap::from([("greeting.txt".to_owned(), "js/greeting.txt".into())]),
        exec_argv: vec![],
        exec_argv_extension: ExecArgvExtension::None,
        verify_args: vec![],
        sidecar_dir: None,
        sign: Default::default(),
        windows: Default::default(),
    }
}

/// A Cargo workspace at `root` whose one package, `greeter`, declares the greeter SEA in
/// `[package.metadata.sea]` (`main`, the asset, node `node`, `targets`, a code cache, not
/// bundled, `verify-args = ["--check"]`), for tests that drive the CLI as a user's workspace
/// would.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let root = camino::Utf8Path::from_path(dir.path()).unwrap();
/// sea_build_tests::greeter::workspace(root, "console.log('hi');\n", sea_build_tests::nodes::pinned::NODE_24, &["linux-x64"]);
/// let manifest = std::fs::read_to_string(root.join("greeter/Cargo.toml"))?;
/// assert!(manifest.contains("targets = [\"linux-x64\"]"));
/// # anyhow::Ok(())
/// ```
pub fn workspace(root: &Utf8Path, main: &str, node: sea_build::node::Version, targets: &[&str]) {
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\nmembers = [\"greeter\"]\n").unwrap();
    let dir = root.join("greeter");
    package(&dir, main, VersionSpec::Exact(node), Vec::new(), true);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    let targets: Vec<String> = targets.iter().map(|target| format!("\"{target}\"")).collect();
    let manifest = format!(
        "[package]\nname = \"greeter\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[package.metadata.sea]\nmain = \"js/main.js\"\nnode-version = \"{node}\"\ntargets = [{}]\ncode-cache = true\nbundle = false\nassets = {{ \"greeting.txt\" = \"js/greeting.txt\" }}\nverify-args = [\"--check\"]\n",
        targets.join(", ")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
}
