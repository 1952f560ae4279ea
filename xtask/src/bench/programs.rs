//! Real programs: bundling the 6 MB main with esbuild exactly as a build does, and start-up of
//! a bundled real command-line package (semver's CLI, from the npm registry) with and without
//! its code cache.

use std::process::Command;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use sea_build::blob::MainFormat;
use sea_build::node::{NodeFetcher, Platform, Version};

use super::{Bench, Row, check_runs, ratio, run_checked};

/// The real command-line package whose start-up is measured, pinned.
const SEMVER: &str = "semver@7.6.3";

impl Bench {
    /// Bundling time for the 6 MB main, and start-up of a bundled real program.
    pub(super) fn programs(&mut self, node: Version) -> Result<()> {
        let work = self.dir.join("programs");
        std::fs::create_dir_all(&work)?;
        let main = self.typescript_main()?;
        let fetcher = NodeFetcher::from_env(&sea_build::Env::from_process())?;
        let esbuild = sea_build::bundle::esbuild::fetch(&fetcher, None)?;

        // esbuild as a build runs it: in the package directory, with sea-build's arguments.
        let package = main.parent().and_then(Utf8Path::parent).context("the TypeScript main lies in package/lib")?.to_owned();
        let relative = main.strip_prefix(&package)?.to_owned();
        let outfile = work.join("bundle/_tsc.js");
        let args = sea_build::bundle::esbuild_args(&relative, &outfile, &work.join("bundle/meta.json"), node, MainFormat::CommonJs);
        let bundling = self.measure("bundling the 6 MB main with esbuild", || {
            let mut bundle = Command::new(&esbuild.path);
            bundle.args(&args).current_dir(&package);
            bundle
        })?;
        let copy_target = work.join("main.cp");
        let cp = self.measure("cp of the 6 MB main", || {
            let mut cp = Command::new("cp");
            cp.args([main.as_str(), copy_target.as_str()]);
            cp
        })?;
        self.rows.push(Row {
            step: format!("bundling the 6 MB main (esbuild {}, as a build runs it)", esbuild.version),
            measured: bundling,
            ratio: format!("{:.0}x cp of the main", ratio(bundling.wall, cp.wall)),
            target: String::new(),
        });

        // semver's CLI as it ships: bin/semver.js requiring its lib files and package.json.
        let out = work.join("sea");
        let with_cache = self.semver_app(&work.join("semver-cache"), "semver-cli", node, true)?;
        let without_cache = self.semver_app(&work.join("semver-nocache"), "semver-cli-nocache", node, false)?;
        for manifest in [&with_cache, &without_cache] {
            let mut build = Command::new(&self.xtask);
            build.args(["sea", "--manifest-path", manifest.as_str(), "--out", out.as_str()]);
            run_checked(build)?;
        }
        let triple = Platform::host()?.rust_triple();
        let args = ["1.2.3", "2.0.0-rc.1", "-r", ">=1.0.0 <2.0.0"];
        for (label, name) in [("start-up: bundled semver CLI with code cache", "semver-cli"), ("start-up: bundled semver CLI without code cache", "semver-cli-nocache")] {
            let program = out.join(triple).join(name);
            check_runs(&program, &args, "1.2.3")?;
            let measured = self.measure_runs(label, 20, || {
                let mut start = Command::new(&program);
                start.args(args).env_clear();
                start
            })?;
            self.rows.push(Row { step: label.into(), measured, ratio: String::new(), target: String::new() });
        }
        Ok(())
    }

    /// A one-package workspace whose SEA is semver's CLI, installed from the npm registry.
    fn semver_app(&self, dir: &Utf8Path, name: &str, node: Version, code_cache: bool) -> Result<Utf8PathBuf> {
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::write(dir.join("src/lib.rs"), "")?;
        if !dir.join("node_modules/semver/bin/semver.js").is_file() {
            let sh = &self.sh;
            cmd_install(sh, dir)?;
        }
        let manifest = dir.join("Cargo.toml");
        std::fs::write(
            &manifest,
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [package.metadata.sea]\nmain = \"node_modules/semver/bin/semver.js\"\nnode-version = \"{node}\"\ncode-cache = {code_cache}\n\
                 verify-args = [\"1.2.3\"]\n\n[workspace]\n"
            ),
        )?;
        Ok(manifest)
    }
}

/// `npm install` of [`SEMVER`] into `dir`.
fn cmd_install(sh: &xshell::Shell, dir: &Utf8Path) -> Result<()> {
    eprintln!("bench: installing {SEMVER} from the npm registry");
    xshell::cmd!(sh, "npm install --silent --no-save --no-audit --no-fund --no-package-lock --ignore-scripts --prefix {dir} {SEMVER}")
        .run()
        .with_context(|| format!("`npm install {SEMVER}` failed"))?;
    Ok(())
}
