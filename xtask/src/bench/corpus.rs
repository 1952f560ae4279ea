//! Real programs of the tests' corpus as users ship them, declared with only `main`: start-up
//! of the default build against `node <bin>` and against a `bundle = true` build where one
//! works, and of a mounted program with `compress = true`, each doing its real work; and the
//! whole build of the largest program.

use std::process::Command;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use sea_build::node::{Platform, Version, VersionSpec};

use super::{Bench, Row, fetch_node, ratio, run_checked};

// The tests' corpus (plain data), read where it is kept.
#[allow(dead_code, reason = "the fields the tests read")]
#[path = "../../../tests/src/corpus.rs"]
mod programs;

/// Whose start-up is measured: one that one bundled file serves, and three that ship mounted
/// (CommonJS with caches, an ES module program, a large mixed one).
const STARTUP: [&str; 4] = ["semver", "uglify-js", "js-yaml", "prettier"];
/// Whose build is measured: the largest closure of the corpus.
const LARGEST: &str = "standard";

impl Bench {
    /// The corpus group (`--only corpus`).
    pub(super) fn corpus(&mut self, node: Version) -> Result<()> {
        let work = self.dir.join("corpus");
        let out = work.join("sea");
        let node_binary = fetch_node(VersionSpec::Exact(node))?;
        let triple = Platform::host()?.rust_triple();
        for name in STARTUP {
            let program = find(name)?;
            let package = self.install(&work, program)?;
            let default = write_manifest(&package, program, node, name, None)?;
            run_checked(self.sea(&default, &out))?;
            let mounted = mounted_files(&out.join(triple).join(format!("{name}.sea.json")))?;
            let (bundled, bundled_name) = variant(&work, &package, program, node, "bundled", "bundle = true\n")?;
            let bundled_built = self.sea(&bundled, &out).output()?;

            let input = work.join(format!("{name}-input"));
            std::fs::create_dir_all(&input)?;
            for (path, text) in program.files {
                let path = input.join(path);
                std::fs::create_dir_all(path.parent().context("an input file has a parent")?)?;
                std::fs::write(path, text)?;
            }
            let artifact = out.join(triple).join(name);
            let node_run = self.measure_runs(&format!("start-up: node <bin> ({name})"), 20, || {
                let mut start = Command::new(&node_binary.path);
                start.arg(package.join("node_modules").join(program.package.0).join(program.bin)).args(program.args).current_dir(&input).env_clear();
                start
            })?;
            let shipped = match &mounted {
                Some(files) => format!("mounted, {files} files"),
                None => "bundled".to_owned(),
            };
            let default_run = self.measure_runs(&format!("start-up: default build ({name})"), 20, || {
                let mut start = Command::new(&artifact);
                start.args(program.args).current_dir(&input).env_clear();
                start
            })?;
            self.rows.push(Row { step: format!("start-up: node <bin>, {name} {}", program.package.1), measured: node_run, ratio: String::new(), target: String::new() });
            self.rows.push(Row {
                step: format!("start-up: default build ({shipped}), {name}"),
                measured: default_run,
                ratio: format!("{:.2}x node <bin>", ratio(default_run.wall, node_run.wall)),
                target: "not slower than the bundle where one works".into(),
            });
            let bundled_artifact = out.join(triple).join(&bundled_name);
            let bundled_works =
                bundled_built.status.success() && Command::new(&bundled_artifact).args(program.args).current_dir(&input).env_clear().output().is_ok_and(|output| output.status.success());
            if bundled_works {
                let bundled_run = self.measure_runs(&format!("start-up: bundle = true ({name})"), 20, || {
                    let mut start = Command::new(&bundled_artifact);
                    start.args(program.args).current_dir(&input).env_clear();
                    start
                })?;
                self.rows.push(Row {
                    step: format!("start-up: bundle = true, {name}"),
                    measured: bundled_run,
                    ratio: format!("{:.2}x node <bin>; default {:.2}x this", ratio(bundled_run.wall, node_run.wall), ratio(default_run.wall, bundled_run.wall)),
                    target: String::new(),
                });
            } else {
                self.sections.push(format!("`bundle = true` does not work for {name}: the build or its run with the real input fails.\n"));
            }
            if mounted.is_some() {
                let (compressed, compressed_name) = variant(&work, &package, program, node, "compressed", "compress = true\n")?;
                run_checked(self.sea(&compressed, &out))?;
                let compressed_artifact = out.join(triple).join(&compressed_name);
                let compressed_run = self.measure_runs(&format!("start-up: compress = true ({name})"), 20, || {
                    let mut start = Command::new(&compressed_artifact);
                    start.args(program.args).current_dir(&input).env_clear();
                    start
                })?;
                let size = |path: &Utf8Path| std::fs::metadata(path).map(|meta| meta.len() as f64 / 1e6);
                self.rows.push(Row {
                    step: format!("start-up: compress = true, {name} ({:.1} MB, default {:.1} MB)", size(&compressed_artifact)?, size(&artifact)?),
                    measured: compressed_run,
                    ratio: format!("{:.2}x node <bin>; {:.2}x default", ratio(compressed_run.wall, node_run.wall), ratio(compressed_run.wall, default_run.wall)),
                    target: String::new(),
                });
            }
        }

        let program = find(LARGEST)?;
        let package = self.install(&work, program)?;
        let manifest = write_manifest(&package, program, node, LARGEST, None)?;
        let files = {
            run_checked(self.sea(&manifest, &out))?;
            mounted_files(&out.join(triple).join(format!("{LARGEST}.sea.json")))?.unwrap_or_default()
        };
        let build = self.measure(&format!("whole build of {LARGEST} ({files} files mounted)"), || self.sea(&manifest, &out))?;
        let artifact = out.join(triple).join(LARGEST);
        let copy = work.join(format!("{LARGEST}.cp"));
        let cp = self.measure("cp of the artifact", || {
            let mut cp = Command::new("cp");
            cp.args([artifact.as_str(), copy.as_str()]);
            cp
        })?;
        self.rows.push(Row {
            step: format!("whole build of {LARGEST} {} ({files} files mounted, release xtask)", program.package.1),
            measured: build,
            ratio: format!("{:.0}x cp of the artifact", ratio(build.wall, cp.wall)),
            target: String::new(),
        });
        Ok(())
    }

    /// The release xtask's `sea` for `manifest` into `out`.
    fn sea(&self, manifest: &Utf8Path, out: &Utf8Path) -> Command {
        let mut build = Command::new(&self.xtask);
        build.args(["sea", "--manifest-path", manifest.as_str(), "--out", out.as_str()]);
        build
    }

    /// `program` installed from the npm registry into `<work>/<name>`, once, from the tests'
    /// lockfile (`tests/corpus/<name>/package-lock.json`): the same tree the tests run.
    fn install(&self, work: &Utf8Path, program: &programs::Program) -> Result<Utf8PathBuf> {
        let dir = work.join(program.name);
        let (package, version) = program.package;
        if !dir.join("node_modules").join(package).join("package.json").is_file() {
            eprintln!("bench: installing {package}@{version} from the npm registry");
            std::fs::create_dir_all(&dir)?;
            let manifest = serde_json::json!({ "name": format!("corpus-{}", program.name), "version": "1.4.2", "private": true, "dependencies": { package: version } });
            std::fs::write(dir.join("package.json"), serde_json::to_vec_pretty(&manifest)?)?;
            let lockfile = self.root.join("tests/corpus").join(program.name).join("package-lock.json");
            std::fs::copy(&lockfile, dir.join("package-lock.json")).with_context(|| format!("could not copy {lockfile}"))?;
            let sh = &self.sh;
            xshell::cmd!(sh, "npm ci --silent --no-audit --no-fund --ignore-scripts --prefix {dir}").run().with_context(|| format!("`npm ci` of {package}@{version} failed"))?;
        }
        Ok(dir)
    }
}

/// `program` declared as `<name>-<suffix>` with `extra` lines, beside its default build in
/// `work` (the same `node_modules`): its manifest and SEA name.
fn variant(work: &Utf8Path, package: &Utf8Path, program: &programs::Program, node: Version, suffix: &str, extra: &str) -> Result<(Utf8PathBuf, String)> {
    let name = format!("{}-{suffix}", program.name);
    let dir = work.join(&name);
    std::fs::create_dir_all(&dir)?;
    let link = dir.join("node_modules");
    if !link.exists() {
        crate::files::symlink(&package.join("node_modules"), &link)?;
    }
    std::fs::copy(package.join("package.json"), dir.join("package.json"))?;
    Ok((write_manifest(&dir, program, node, &name, Some(extra))?, name))
}

fn find(name: &str) -> Result<&'static programs::Program> {
    programs::PROGRAMS.iter().find(|program| program.name == name).with_context(|| format!("{name} is not in the corpus"))
}

/// Declares `program` in `dir` as the SEA `name`, with only `main` and `verify-args` (and
/// `extra` lines).
fn write_manifest(dir: &Utf8Path, program: &programs::Program, node: Version, name: &str, extra: Option<&str>) -> Result<Utf8PathBuf> {
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(dir.join("src/lib.rs"), "")?;
    let verify: Vec<String> = program.verify_args.iter().map(|arg| format!("{arg:?}")).collect();
    let manifest = dir.join("Cargo.toml");
    std::fs::write(
        &manifest,
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [package.metadata.sea]\nmain = \"node_modules/{}/{}\"\nnode-version = \"{node}\"\nverify-args = [{}]\n{}\n[workspace]\n",
            program.package.0,
            program.bin,
            verify.join(", "),
            extra.unwrap_or_default()
        ),
    )?;
    Ok(manifest)
}

/// How many files the manifest at `path` says were mounted (`None`: bundled).
fn mounted_files(path: &Utf8Path) -> Result<Option<u64>> {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(path).with_context(|| format!("could not read {path}"))?)?;
    Ok(manifest.get("mounted").and_then(|mounted| mounted.get("files")).and_then(serde_json::Value::as_u64))
}
