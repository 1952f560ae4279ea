//! `cargo xtask bench`: how fast sea-build is, as ratios to `cp` of the same file and to the
//! peers, run side by side in one run on one machine.
//!
//! Every measured step is a separate process (the release build of this xtask, `cp`,
//! postject, node), timed by wall clock and measured for peak RSS with `wait4`, so the
//! figures compare like with like. Each step runs several times; the table shows medians.
//! The workload is a real program: TypeScript's compiler (`lib/_tsc.js`, 6 MB of
//! JavaScript in one file) on the tests' pinned node 24, packed from the npm registry npm is
//! configured with.
//!
//! Besides the release binary, it measures what users run: `cargo xtask sea` as aliased (the
//! dev profile), and `cargo build` of a downstream crate (outside this workspace, default
//! profiles) whose `build.rs` builds the same SEA, after its main script is touched; both
//! beside the documented flow (node writes the blob, `cp`, postject).
//!
//! Nothing here asserts a timing; the targets are printed beside the figures.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use sea_build::inject::fuse::FUSE_SENTINEL;
use sea_build::node::{NodeBinary, NodeFetcher, Platform, VersionSpec};
use xshell::{Shell, cmd};

mod corpus;
mod programs;
mod sizes;
mod startup;

/// The program the benchmark packs: pinned so runs stay comparable.
const TYPESCRIPT: &str = "typescript@5.9.3";
const POSTJECT: &str = "postject@1.0.0-alpha.6";

/// The tests' pinned node releases: the bench builds with the same ones, never with a release
/// resolved against the live registry.
#[allow(dead_code, reason = "the tests' other releases")]
#[path = "../../tests/src/pinned.rs"]
pub(crate) mod pinned;

/// What `cargo run` sets for the program it runs (this xtask). The builds the bench starts must
/// not see them: a user's shell has none, and ring's build script reruns when
/// `CARGO_MANIFEST_DIR` changes, which would rebuild half the dependencies in the bench and again
/// in the user's next build.
const CARGO_RUN_VARS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_VERSION",
    "CARGO_PKG_VERSION_MAJOR",
    "CARGO_PKG_VERSION_MINOR",
    "CARGO_PKG_VERSION_PATCH",
    "CARGO_PKG_VERSION_PRE",
    "CARGO_PKG_AUTHORS",
    "CARGO_PKG_NAME",
    "CARGO_PKG_DESCRIPTION",
    "CARGO_PKG_HOMEPAGE",
    "CARGO_PKG_REPOSITORY",
    "CARGO_PKG_LICENSE",
    "CARGO_PKG_LICENSE_FILE",
    "CARGO_PKG_RUST_VERSION",
    "CARGO_PKG_README",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

/// `cargo ARGS` in `dir`, with the environment of the user's shell (see [`CARGO_RUN_VARS`]).
fn cargo(dir: &Utf8Path, args: &[&str]) -> Command {
    let mut cargo = Command::new("cargo");
    cargo.current_dir(dir).args(args);
    for var in CARGO_RUN_VARS {
        cargo.env_remove(var);
    }
    cargo
}

/// Wall time and peak resident memory of one process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    max_rss_bytes: u64,
}

/// The median wall time and the largest peak RSS over several runs of one step.
#[derive(Debug, Clone, Copy)]
struct Measured {
    wall: Duration,
    max_rss_bytes: u64,
}

struct Bench {
    sh: Shell,
    /// The workspace root, where `cargo xtask` runs.
    root: Utf8PathBuf,
    dir: Utf8PathBuf,
    xtask: Utf8PathBuf,
    runs: usize,
    rows: Vec<Row>,
    /// Report sections after the table (start-up distributions, sizes).
    sections: Vec<String>,
}

struct Row {
    step: String,
    measured: Measured,
    ratio: String,
    target: String,
}

pub(crate) fn run(runs: usize, scale: f64, only: Option<&str>) -> Result<()> {
    let sh = Shell::new()?;
    let root = sea_build::cli::workspace_root(None)?;
    sh.change_dir(&root);
    let dir = root.join("target/bench");
    eprintln!("bench: building the release xtask (the measured binary)");
    run_checked(cargo(&root, &["build", "--release", "--quiet", "--package", "xtask"]))?;
    let mut bench = Bench { xtask: root.join("target/release/xtask"), sh, root, dir, runs: runs.max(1), rows: Vec::new(), sections: Vec::new() };
    match only {
        None => {}
        Some("startup") => {
            bench.startup()?;
            return bench.write_report("report-startup.md");
        }
        Some("windows-identity") => {
            bench.windows_identity()?;
            return bench.write_report("report-windows-identity.md");
        }
        Some("foreign") => {
            bench.foreign_rows()?;
            return bench.write_report("report-foreign.md");
        }
        Some("corpus") => {
            bench.corpus(pinned::NODE_24)?;
            return bench.write_report("report-corpus.md");
        }
        Some(sizes) if sizes == "sizes" || sizes.starts_with("sizes=") => {
            // `sizes=linux-x64,darwin-arm64` narrows the group to those target families.
            let targets: Vec<&str> = sizes.strip_prefix("sizes=").map(|list| list.split(',').collect()).unwrap_or_default();
            bench.sizes(&bench.dir.join("sizes"), &targets)?;
            return bench.write_report("report-sizes.md");
        }
        Some(other) => bail!("`--only {other}`: the groups are `startup`, `windows-identity`, `foreign`, `corpus` and `sizes` (or `sizes=TARGET,...`)"),
    }
    bench.linux()?;
    let version = pinned::NODE_24;
    bench.programs(version)?;
    bench.corpus(version)?;
    for platform in ["linux-arm64", "win-x64"] {
        bench.emulated(platform, version)?;
    }
    bench.foreign_rows()?;
    bench.windows_identity()?;
    bench.relativise(scale)?;
    bench.startup()?;
    bench.write_report("report.md")
}

impl Bench {
    /// Linux x64, node 24: injection, the whole build, postject, start-up.
    fn linux(&mut self) -> Result<()> {
        let node = fetch_node(VersionSpec::Exact(pinned::NODE_24))?;
        let work = self.dir.join("linux");
        std::fs::create_dir_all(&work)?;
        let main = self.typescript_main()?;
        let postject = self.postject()?;

        // The preparation blob, with a code cache, as the pipeline makes it.
        let staging = work.join("staging");
        std::fs::create_dir_all(&staging)?;
        std::fs::copy(&main, staging.join("main.js"))?;
        std::fs::write(staging.join("sea-config.json"), r#"{"main":"main.js","output":"sea-prep.blob","disableExperimentalSEAWarning":true,"useCodeCache":true}"#)?;
        let mut generate = Command::new(&node.path);
        generate.args(["--predictable", "--experimental-sea-config", "sea-config.json"]).current_dir(&staging);
        let generation = self.measure("blob generation (node --experimental-sea-config, 6 MB main, code cache)", || clone(&generate))?;
        let blob = staging.join("sea-prep.blob");

        let copy_target = work.join("cp.out");
        let cp = self.measure("cp node", || {
            let mut cp = Command::new("cp");
            cp.args([node.path.as_str(), copy_target.as_str()]);
            cp
        })?;
        self.rows.push(Row { step: format!("cp of node {} ({:.0} MB)", node.version, file_mb(&node.path)), measured: cp, ratio: "1.00x cp".into(), target: String::new() });

        let injected = work.join("injected");
        let inject = self.measure("sea-build inject", || {
            let mut inject = Command::new(&self.xtask);
            inject.args(["inject", "--base", node.path.as_str(), "--blob", blob.as_str(), "--out", injected.as_str()]);
            inject
        })?;
        let node_bytes = std::fs::metadata(&node.path)?.len();
        self.rows.push(Row {
            step: "sea-build inject (xtask inject)".into(),
            measured: inject,
            ratio: format!("{:.2}x cp", ratio(inject.wall, cp.wall)),
            target: format!("<= 1.5x cp; RSS < {:.0} MB", node_bytes as f64 / 1e6),
        });
        check_runs(&injected, &["--version"], "Version")?;

        let postject_target = work.join("postject.out");
        let postjected = self.measure_with_setup(
            "postject",
            || std::fs::copy(&node.path, &postject_target).map(drop).context("could not copy node for postject"),
            || {
                let mut run = Command::new(&node.path);
                run.arg(&postject).args([postject_target.as_str(), "NODE_SEA_BLOB", blob.as_str(), "--sentinel-fuse", FUSE_SENTINEL]);
                run
            },
        )?;
        check_runs(&postject_target, &["--version"], "Version")?;
        self.rows.push(Row {
            step: format!("postject {} (in place, after its own cp)", POSTJECT.trim_start_matches("postject@")),
            measured: postjected,
            ratio: format!("{:.2}x cp; sea-build is {:.1}x faster", ratio(postjected.wall, cp.wall), ratio(postjected.wall, inject.wall)),
            target: "sea-build >= 10x faster".into(),
        });
        self.rows.push(Row { step: "blob generation (node 24, 6 MB main, code cache)".into(), measured: generation, ratio: String::new(), target: String::new() });

        // The whole build from a warm cache: `xtask sea` on a generated workspace.
        let with_cache = self.app(&work.join("app-cache"), "tsc", &main, node.version.to_string(), true)?;
        let without_cache = self.app(&work.join("app-nocache"), "tsc-nocache", &main, node.version.to_string(), false)?;
        let out = work.join("sea");
        let build = |manifest: &Utf8Path| {
            let mut build = Command::new(&self.xtask);
            build.args(["sea", "--manifest-path", manifest.as_str(), "--out", out.as_str()]);
            build
        };
        // Warms the node cache and proves the build works before it is timed.
        run_checked(build(&with_cache))?;
        run_checked(build(&without_cache))?;
        let whole = self.measure("sea-build whole build (warm)", || build(&with_cache))?;
        let budget = cp.wall + generation.wall;
        self.rows.push(Row {
            step: "sea-build whole build, warm cache (release xtask sea: generate, inject, check cache, manifest)".into(),
            measured: whole,
            ratio: format!("{:.2}x (cp + generation)", ratio(whole.wall, budget)),
            target: "<= 3x (cp + generation)".into(),
        });
        self.as_users_run(&node, &main, &postject, &with_cache, &out, whole)?;

        // Start-up of the result.
        let triple = Platform::host()?.rust_triple();
        let artifact = out.join(triple).join("tsc");
        let artifact_nocache = out.join(triple).join("tsc-nocache");
        for (label, program, args) in [
            ("start-up: SEA with code cache (`tsc --version`)", artifact.as_str(), vec!["--version"]),
            ("start-up: SEA without code cache", artifact_nocache.as_str(), vec!["--version"]),
            ("start-up: `node _tsc.js --version`", node.path.as_str(), vec![main.as_str(), "--version"]),
        ] {
            let measured = self.measure_runs(label, 10, || {
                let mut start = Command::new(program);
                start.args(&args).env_clear();
                start
            })?;
            self.rows.push(Row { step: label.into(), measured, ratio: String::new(), target: String::new() });
        }
        Ok(())
    }

    /// A target whose code cache is made by its own node under qemu (Linux of another
    /// architecture) or Wine (Windows): the whole build with and without the cache, and the
    /// start-up there with and without it. The cache must be accepted, or the figures would
    /// describe something that does not work.
    fn emulated(&mut self, platform: &str, version: sea_build::node::Version) -> Result<()> {
        let platform: Platform = platform.parse()?;
        let work = self.dir.join(format!("emulated-{platform}"));
        let main = self.typescript_main()?;
        let with_cache = self.app(&work.join("app-cache"), "tsc", &main, version.to_string(), true)?;
        let without_cache = self.app(&work.join("app-nocache"), "tsc-nocache", &main, version.to_string(), false)?;
        let out = work.join("sea");
        let build = |manifest: &Utf8Path| {
            let mut build = Command::new(&self.xtask);
            build.args(["sea", "--manifest-path", manifest.as_str(), "--out", out.as_str(), "--target", platform.node_name()]);
            build
        };
        run_checked(build(&with_cache))?;
        run_checked(build(&without_cache))?;
        let dir = out.join(platform.rust_triple());
        let exe = if platform.os == sea_build::node::Os::Windows { ".exe" } else { "" };
        let manifest_path = dir.join("tsc.sea.json");
        let manifest: sea_build::artifact::Manifest =
            serde_json::from_slice(&std::fs::read(&manifest_path).with_context(|| format!("could not read {manifest_path}"))?).with_context(|| format!("{manifest_path} is not a manifest"))?;
        if manifest.cache_accepted != sea_build::artifact::CacheAccepted::Yes {
            bail!("the {platform} SEA has no accepted code cache (run-time check: {}): run `cargo xtask setup` first", manifest.run_time_check);
        }
        let how = manifest.run_time_check.to_string();
        let whole = self.measure(&format!("whole build {platform}, cache {how}"), || build(&with_cache))?;
        let whole_nocache = self.measure(&format!("whole build {platform}, no cache"), || build(&without_cache))?;
        self.rows.push(Row { step: format!("sea-build whole build for {platform} (node {version}), code cache made and checked {how}"), measured: whole, ratio: String::new(), target: String::new() });
        self.rows.push(Row {
            step: format!("sea-build whole build for {platform}, without code cache"),
            measured: whole_nocache,
            ratio: format!("the cache costs {:.1} s", whole.wall.as_secs_f64() - whole_nocache.wall.as_secs_f64()),
            target: String::new(),
        });

        let node = fetch_node_for(VersionSpec::Exact(version), platform)?;
        let env = sea_build::Env::from_process();
        let target = sea_build::runtime::TargetRunner::for_target(platform, &node.path, &sea_build::run::Processes, &env)?;
        let mut startups = Vec::new();
        for (label, program) in [("with code cache", dir.join(format!("tsc{exe}"))), ("without code cache", dir.join(format!("tsc-nocache{exe}")))] {
            let mut invocation = sea_build::run::Invocation::new(&program, ["--version"]);
            invocation.clean_env = true;
            let wrapped = target.wrap(&invocation).with_context(|| format!("{platform} programs do not run here: {}", target.execution))?;
            let label = format!("start-up {how}: {platform} SEA {label} (`tsc --version`)");
            let measured = self.measure(&label, || {
                // Output to files, not pipes: Windows programs under Wine fail on pipes.
                let mut command = Command::new("sh");
                command.args(["-c", "exec \"$0\" \"$@\" </dev/null >/dev/null 2>/dev/null", wrapped.program.as_str()]).args(&wrapped.args).env_clear().envs(wrapped.env.iter().map(|(k, v)| (k, v)));
                command
            })?;
            startups.push(measured.wall);
            self.rows.push(Row { step: label, measured, ratio: String::new(), target: String::new() });
        }
        if let [cached, uncached] = startups[..]
            && let Some(row) = self.rows.last_mut()
        {
            row.ratio = format!("the cache saves {:.2} s", uncached.as_secs_f64() - cached.as_secs_f64());
        }
        Ok(())
    }

    /// The same SEA built the ways users build it, against the release figure `release` and
    /// against the documented flow: node writes the blob, `cp` copies node, postject injects.
    fn as_users_run(&mut self, node: &NodeBinary, main: &Utf8Path, postject: &Utf8Path, manifest: &Utf8Path, out: &Utf8Path, release: Measured) -> Result<()> {
        let work = self.dir.join("linux");
        let flow_dir = work.join("postject-flow");
        std::fs::create_dir_all(&flow_dir)?;
        std::fs::copy(main, flow_dir.join("main.js"))?;
        std::fs::write(flow_dir.join("sea-config.json"), r#"{"main":"main.js","output":"sea-prep.blob","disableExperimentalSEAWarning":true,"useCodeCache":true}"#)?;
        // As node's documentation writes it, with postject run by node instead of through npx.
        const FLOW: &str = r#"set -e; "$1" --experimental-sea-config sea-config.json; cp "$1" app; "$1" "$2" app NODE_SEA_BLOB sea-prep.blob --sentinel-fuse "$3""#;
        let flow = self.measure("the documented flow: node --experimental-sea-config, cp, postject", || {
            let mut flow = Command::new("sh");
            flow.current_dir(&flow_dir).args(["-c", FLOW, "sh", node.path.as_str(), postject.as_str(), FUSE_SENTINEL]);
            flow
        })?;
        check_runs(&flow_dir.join("app"), &["--version"], "Version")?;
        self.rows.push(Row { step: "documented flow: node --experimental-sea-config, cp, postject (6 MB main, code cache)".into(), measured: flow, ratio: String::new(), target: String::new() });

        // `cargo xtask sea` exactly as typed: cargo checks the dev xtask is fresh, then runs it.
        let aliased = || cargo(&self.root, &["xtask", "sea", "--manifest-path", manifest.as_str(), "--out", out.as_str()]);
        run_checked(aliased())?;
        let dev = self.measure("cargo xtask sea (dev profile, as aliased)", aliased)?;
        self.rows.push(Row {
            step: "`cargo xtask sea`, dev profile as aliased, warm".into(),
            measured: dev,
            ratio: format!("{:.2}x release; {:.1}x faster than the documented flow", ratio(dev.wall, release.wall), ratio(flow.wall, dev.wall)),
            target: "<= 1.3x release; >= 5x faster".into(),
        });
        // What that figure is made of: the dev binary's own run, and cargo's check that it is
        // fresh (the whole graph of the xtask, apple-codesign's included, walked on every run).
        let direct = self.measure("dev xtask sea, run directly", || {
            let mut direct = Command::new(self.root.join("target/debug/xtask"));
            direct.args(["sea", "--manifest-path", manifest.as_str(), "--out", out.as_str()]);
            direct
        })?;
        self.rows.push(Row {
            step: "  of which: the dev xtask itself (`target/debug/xtask sea`)".into(),
            measured: direct,
            ratio: format!("{:.2}x release", ratio(direct.wall, release.wall)),
            target: String::new(),
        });
        let fresh = self.measure("cargo's freshness check of the xtask", || cargo(&self.root, &["build", "--quiet", "--package", "xtask"]))?;
        let packages = std::fs::read_to_string(self.root.join("Cargo.lock")).context("could not read Cargo.lock")?.matches("[[package]]").count();
        self.rows.push(Row {
            step: format!("  of which: cargo's check that the xtask is fresh (`cargo build -p xtask`, nothing to build; {packages} packages in the lock)"),
            measured: fresh,
            ratio: format!("{:.0}% of the aliased figure", 100.0 * ratio(fresh.wall, dev.wall)),
            target: String::new(),
        });

        let crate_dir = self.downstream(&work.join("downstream"), main, node)?;
        let cargo_build = || {
            let mut build = cargo(&crate_dir, &["build", "--quiet"]);
            build.env_remove("CARGO_TARGET_DIR");
            build
        };
        eprintln!("bench: building the downstream crate (the first time, this compiles sea-build and its dependencies unoptimised: minutes)");
        run_checked(cargo_build())?;
        let main_js = crate_dir.join("js/main.js");
        let touch = || {
            let file = std::fs::File::options().append(true).open(&main_js).with_context(|| format!("could not open {main_js}"))?;
            file.set_modified(std::time::SystemTime::now()).with_context(|| format!("could not touch {main_js}"))
        };
        let rebuild = self.measure_with_setup("downstream cargo build after touching js/main.js", touch, cargo_build)?;
        self.rows.push(Row {
            step: "downstream crate: `cargo build` after touching js/main.js (build.rs, default profiles)".into(),
            measured: rebuild,
            ratio: format!("{:.2}x release; {:.1}x faster than the documented flow", ratio(rebuild.wall, release.wall), ratio(flow.wall, rebuild.wall)),
            target: "<= 2x release; >= 3x faster".into(),
        });
        Ok(())
    }

    /// A crate outside this workspace with sea-build as a path build-dependency and a
    /// `build.rs` that builds `main` as its SEA; default profiles. Returns its directory.
    fn downstream(&self, dir: &Utf8Path, main: &Utf8Path, node: &NodeBinary) -> Result<Utf8PathBuf> {
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::create_dir_all(dir.join("js"))?;
        if !dir.join("js/main.js").is_file() {
            std::fs::copy(main, dir.join("js/main.js"))?;
        }
        // The workspace's lock, so the crate builds the dependency versions this workspace tests.
        if !dir.join("Cargo.lock").is_file() {
            std::fs::copy(self.root.join("Cargo.lock"), dir.join("Cargo.lock")).context("could not copy Cargo.lock into the downstream crate")?;
        }
        let sea_build = self.root.join("sea-build");
        let files = [
            (
                "Cargo.toml",
                format!(
                    "[package]\nname = \"tsc-downstream\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                     [package.metadata.sea]\nmain = \"js/main.js\"\nbundle = false\nnode-version = \"{}\"\nverify-args = [\"--version\"]\n\n\
                     [build-dependencies]\nsea-build = {{ path = \"{sea_build}\" }}\n\n[workspace]\n",
                    node.version
                ),
            ),
            ("build.rs", "fn main() {\n    sea_build::Build::new().build();\n}\n".to_owned()),
            ("src/main.rs", "fn main() {\n    println!(\"{}\", env!(\"SEA_TSC_DOWNSTREAM_PATH\"));\n}\n".to_owned()),
        ];
        for (name, text) in files {
            let path = dir.join(name);
            // Rewritten only when different, so an unchanged crate stays built.
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&path, text).with_context(|| format!("could not write {path}"))?;
            }
        }
        Ok(dir.to_owned())
    }

    /// The rows of [`Self::foreign`]: darwin-x64 and win-x64 (alone: `--only foreign`).
    fn foreign_rows(&mut self) -> Result<()> {
        self.foreign("darwin-x64", "inject + ad-hoc sign (xtask inject)")?;
        self.foreign("win-x64", "unsign + inject (xtask inject)")
    }

    /// Injection into a node binary for another platform (from the npm registry), with what
    /// that format needs (unsign, and for Mach-O the ad-hoc signature), against `cp`.
    fn foreign(&mut self, platform: &str, what: &str) -> Result<()> {
        let node = fetch_node_for(VersionSpec::Exact(pinned::NODE_22), platform.parse()?)?;
        let work = self.dir.join(platform);
        std::fs::create_dir_all(&work)?;
        let blob = self.blob(&work)?;
        let copy_target = work.join("cp.out");
        let cp = self.measure(&format!("cp node {platform}"), || {
            let mut cp = Command::new("cp");
            cp.args([node.path.as_str(), copy_target.as_str()]);
            cp
        })?;
        let injected = work.join("injected");
        let inject = self.measure(&format!("sea-build inject {platform}"), || {
            let mut inject = Command::new(&self.xtask);
            inject.args(["inject", "--base", node.path.as_str(), "--blob", blob.as_str(), "--out", injected.as_str()]);
            inject
        })?;
        let size = file_mb(&node.path);
        self.rows.push(Row { step: format!("cp of node {} {platform} ({size:.0} MB)", node.version), measured: cp, ratio: "1.00x cp".into(), target: String::new() });
        self.rows.push(Row { step: format!("sea-build {what}, {platform}"), measured: inject, ratio: format!("{:.2}x cp", ratio(inject.wall, cp.wall)), target: String::new() });
        Ok(())
    }

    /// win-x64 (node 22, as [`Self::foreign`]): injection with a version resource, an icon and
    /// an Authenticode signature (RSA 2048, a P12 made with openssl), against `cp` and against
    /// injection alone.
    fn windows_identity(&mut self) -> Result<()> {
        let node = fetch_node_for(VersionSpec::Exact(pinned::NODE_22), "win-x64".parse()?)?;
        let work = self.dir.join("win-x64-identity");
        std::fs::create_dir_all(&work)?;
        let sh = &self.sh;
        let (key, cert, p12) = (work.join("key.pem"), work.join("cert.pem"), work.join("bench.p12"));
        cmd!(sh, "openssl req -x509 -newkey rsa:2048 -nodes -keyout {key} -out {cert} -days 365 -subj /CN=sea-build-bench -addext extendedKeyUsage=codeSigning").quiet().ignore_stderr().run()?;
        cmd!(sh, "openssl pkcs12 -export -inkey {key} -in {cert} -out {p12} -passout pass:bench -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1").quiet().run()?;
        let icon = work.join("app.ico");
        std::fs::write(&icon, bench_icon())?;
        let blob = self.blob(&work)?;
        let copy_target = work.join("cp.out");
        let cp = self.measure("cp node win-x64 (identity)", || {
            let mut cp = Command::new("cp");
            cp.args([node.path.as_str(), copy_target.as_str()]);
            cp
        })?;
        let plain_out = work.join("plain.exe");
        let plain = self.measure("sea-build inject win-x64 (identity baseline)", || {
            let mut inject = Command::new(&self.xtask);
            inject.args(["inject", "--base", node.path.as_str(), "--blob", blob.as_str(), "--out", plain_out.as_str(), "--sign", "none"]);
            inject
        })?;
        let signed_out = work.join("signed.exe");
        let signed = self.measure("sea-build inject + identity win-x64", || {
            let mut inject = Command::new(&self.xtask);
            inject.args(["inject", "--base", node.path.as_str(), "--blob", blob.as_str(), "--out", signed_out.as_str(), "--sign", "identity", "--icon", icon.as_str()]);
            inject.args(["--version-info", "ProductName=tsc", "--version-info", "FileVersion=5.9.3", "--version-info", "CompanyName=sea-build bench"]);
            inject.env("SEA_BUILD_WINDOWS_P12", &p12).env("SEA_BUILD_WINDOWS_P12_PASSWORD", "bench").env_remove("SOURCE_DATE_EPOCH");
            inject
        })?;
        let verified = cmd!(sh, "osslsigncode verify -CAfile {cert} -in {signed_out}").quiet().ignore_status().read()?;
        if !verified.contains("Signature verification: ok") {
            bail!("the bench's signed executable does not verify with osslsigncode:\n{verified}");
        }
        self.rows.push(Row { step: format!("cp of node {} win-x64 ({:.0} MB)", node.version, file_mb(&node.path)), measured: cp, ratio: "1.00x cp".into(), target: String::new() });
        self.rows.push(Row {
            step: "sea-build unsign + inject, win-x64, unsigned (xtask inject --sign none)".into(),
            measured: plain,
            ratio: format!("{:.2}x cp", ratio(plain.wall, cp.wall)),
            target: String::new(),
        });
        self.rows.push(Row {
            step: "sea-build unsign + inject + version resource + icon + Authenticode (RSA 2048), win-x64".into(),
            measured: signed,
            ratio: format!("{:.2}x cp; resources + signing add {:.2}x cp", ratio(signed.wall, cp.wall), ratio(signed.wall.saturating_sub(plain.wall), cp.wall)),
            target: String::new(),
        });
        Ok(())
    }

    /// The blob the injection rows inject: the 6 MB main's when the whole bench made it; in a
    /// group run alone, 6 MB of filler in `work` (injection does not read the blob).
    fn blob(&self, work: &Utf8Path) -> Result<Utf8PathBuf> {
        let made = self.dir.join("linux/staging/sea-prep.blob");
        if made.is_file() {
            return Ok(made);
        }
        let filler = work.join("filler.blob");
        std::fs::write(&filler, (0..6_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect::<Vec<u8>>())?;
        Ok(filler)
    }

    /// Relativising a generated ~750 MiB x `scale` Mach-O with ~5 million x `scale` symbols.
    fn relativise(&mut self, scale: f64) -> Result<()> {
        let dir = self.dir.join(format!("macho-large-{scale}"));
        let find = || -> Option<Utf8PathBuf> {
            std::fs::read_dir(&dir)
                .ok()?
                .filter_map(|entry| entry.ok().and_then(|e| Utf8PathBuf::from_path_buf(e.path()).ok()))
                .filter(|path| path.is_file() && path.extension().is_none() && is_macho(path))
                .max_by_key(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
        };
        if find().is_none() {
            eprintln!("bench: generating the large Mach-O fixture (scale {scale}; about 45 s and 2.3 GB at scale 1)");
            let scale = scale.to_string();
            run_checked(cargo(&self.root, &["run", "--release", "--quiet", "--package", "sea-build-tests", "--bin", "macho-fixture", "--", dir.as_str(), &scale]))?;
        }
        let fixture = find().context("the fixture generator left no Mach-O executable")?;
        let copy_target = self.dir.join("macho-large.cp");
        let cp = self.measure("cp large Mach-O", || {
            let mut cp = Command::new("cp");
            cp.args([fixture.as_str(), copy_target.as_str()]);
            cp
        })?;
        let out = self.dir.join("macho-large.relativised");
        let prefix = dir.to_string();
        let relativise = self.measure("sea-build relativise", || {
            let mut relativise = Command::new(&self.xtask);
            relativise.args(["relativise", fixture.as_str(), "--prefix", prefix.as_str(), "--out", out.as_str(), "--sign", "none"]);
            relativise
        })?;
        let _ = std::fs::remove_file(&copy_target);
        let _ = std::fs::remove_file(&out);
        self.rows.push(Row { step: format!("cp of the large Mach-O ({:.0} MB)", file_mb(&fixture)), measured: cp, ratio: "1.00x cp".into(), target: String::new() });
        self.rows.push(Row {
            step: "sea-build relativise (paths, timestamps, string table, UUID)".into(),
            measured: relativise,
            ratio: format!("{:.2}x cp", ratio(relativise.wall, cp.wall)),
            target: "<= 1.5x cp".into(),
        });
        Ok(())
    }

    /// TypeScript's compiler in one file, unpacked from its npm package.
    fn typescript_main(&self) -> Result<Utf8PathBuf> {
        let dir = self.dir.join("inputs/typescript");
        let main = dir.join("package/lib/_tsc.js");
        if !main.is_file() {
            eprintln!("bench: packing {TYPESCRIPT} from the npm registry");
            std::fs::create_dir_all(&dir)?;
            let sh = &self.sh;
            let _cd = sh.push_dir(&dir);
            let tarball = cmd!(sh, "npm pack --silent {TYPESCRIPT}").read().with_context(|| format!("`npm pack {TYPESCRIPT}` failed: is npm installed and configured?"))?;
            let tarball = tarball.lines().last().unwrap_or_default().trim().to_owned();
            cmd!(sh, "tar xzf {tarball}").run()?;
        }
        Ok(main)
    }

    /// postject's command-line script, installed from the npm registry into the bench directory.
    fn postject(&self) -> Result<Utf8PathBuf> {
        let dir = self.dir.join("inputs/postject");
        let script = dir.join("node_modules/postject/dist/cli.js");
        if !script.is_file() {
            eprintln!("bench: installing {POSTJECT} from the npm registry");
            std::fs::create_dir_all(&dir)?;
            let sh = &self.sh;
            cmd!(sh, "npm install --silent --no-save --no-audit --no-fund --prefix {dir} {POSTJECT}").run().with_context(|| format!("`npm install {POSTJECT}` failed"))?;
        }
        Ok(script)
    }

    /// Writes a one-package workspace declaring `main` as a SEA; returns its manifest path.
    fn app(&self, dir: &Utf8Path, name: &str, main: &Utf8Path, node: String, code_cache: bool) -> Result<Utf8PathBuf> {
        self.app_with(dir, name, main, node, &format!("code-cache = {code_cache}\n"))
    }

    /// [`Bench::app`] with `metadata` (lines of `[package.metadata.sea]`) instead of the
    /// code-cache line.
    fn app_with(&self, dir: &Utf8Path, name: &str, main: &Utf8Path, node: String, metadata: &str) -> Result<Utf8PathBuf> {
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::create_dir_all(dir.join("js"))?;
        std::fs::copy(main, dir.join("js/main.js"))?;
        std::fs::write(dir.join("src/lib.rs"), "")?;
        let manifest = dir.join("Cargo.toml");
        std::fs::write(
            &manifest,
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [package.metadata.sea]\nmain = \"js/main.js\"\nbundle = false\nnode-version = \"{node}\"\n{metadata}\
                 verify-args = [\"--version\"]\n\n[workspace]\n"
            ),
        )?;
        Ok(manifest)
    }

    fn measure(&self, label: &str, command: impl Fn() -> Command) -> Result<Measured> {
        self.measure_runs(label, self.runs, command)
    }

    fn measure_runs(&self, label: &str, runs: usize, command: impl Fn() -> Command) -> Result<Measured> {
        self.measure_with_setup_runs(label, runs, || Ok(()), command)
    }

    fn measure_with_setup(&self, label: &str, setup: impl Fn() -> Result<()>, command: impl Fn() -> Command) -> Result<Measured> {
        self.measure_with_setup_runs(label, self.runs, setup, command)
    }

    /// Runs `setup` (untimed) then `command` (timed), `runs` times.
    fn measure_with_setup_runs(&self, label: &str, runs: usize, setup: impl Fn() -> Result<()>, command: impl Fn() -> Command) -> Result<Measured> {
        eprintln!("bench: {label} ({runs} runs)");
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            setup()?;
            samples.push(sample(command()).with_context(|| format!("benchmark step `{label}` failed"))?);
        }
        samples.sort_by_key(|sample| sample.wall);
        Ok(Measured { wall: samples[samples.len() / 2].wall, max_rss_bytes: samples.iter().map(|s| s.max_rss_bytes).max().unwrap_or(0) })
    }

    /// Prints the report and writes it to `target/bench/<name>`.
    fn write_report(&self, name: &str) -> Result<()> {
        let report = self.report();
        println!("{report}");
        let path = self.dir.join(name);
        std::fs::write(&path, &report).with_context(|| format!("could not write {path}"))?;
        eprintln!("bench: report written to {path}");
        Ok(())
    }

    fn report(&self) -> String {
        let mut text = format!(
            "# sea-build benchmark\n\nMedians of {} runs (start-up: 10 runs), peak RSS is the largest of any run. \
             Machine: {} cores.\n",
            self.runs,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        // A group of sections alone (sizes, say) has no timed steps: no empty table.
        if !self.rows.is_empty() {
            text.push_str("\n| step | median | peak RSS | ratio | target |\n|---|---:|---:|---|---|\n");
        }
        for row in &self.rows {
            text.push_str(&format!("| {} | {:.3} s | {:.1} MB | {} | {} |\n", row.step, row.measured.wall.as_secs_f64(), row.measured.max_rss_bytes as f64 / 1e6, row.ratio, row.target));
        }
        for section in &self.sections {
            text.push('\n');
            text.push_str(section);
        }
        text
    }
}

fn fetch_node(spec: VersionSpec) -> Result<NodeBinary> {
    fetch_node_for(spec, Platform::host()?)
}

fn fetch_node_for(spec: VersionSpec, platform: Platform) -> Result<NodeBinary> {
    let env = sea_build::Env::from_process();
    let fetcher = NodeFetcher::from_env(&env)?;
    Ok(fetcher.fetch(&spec, platform, None)?)
}

fn is_macho(path: &Utf8Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut file| std::io::Read::read_exact(&mut file, &mut magic)).is_ok() && magic == [0xcf, 0xfa, 0xed, 0xfe]
}

fn clone(command: &Command) -> Command {
    let mut copy = Command::new(command.get_program());
    copy.args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        copy.current_dir(dir);
    }
    copy
}

fn ratio(value: Duration, base: Duration) -> f64 {
    value.as_secs_f64() / base.as_secs_f64().max(1e-9)
}

fn file_mb(path: &Utf8Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn run_checked(mut command: Command) -> Result<()> {
    let status = command.status().with_context(|| format!("could not run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Runs `program args` and checks its stdout mentions `expected`: a benchmarked output that
/// does not work would make its figures meaningless.
fn check_runs(program: &Utf8Path, args: &[&str], expected: &str) -> Result<()> {
    let output = Command::new(program).args(args).env_clear().output().with_context(|| format!("could not run {program}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !stdout.contains(expected) {
        bail!("{program} {} did not work: {}\n{stdout}{}", args.join(" "), output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Runs `command` to its end with output discarded, returning its wall time and its own
/// peak RSS.
///
/// The peak is the child's `VmHWM`, polled every millisecond from `/proc` until it exits:
/// `wait4`'s `ru_maxrss` would count the memory of this process too (the kernel records the
/// parent's high-water mark when the spawned child calls exec), which is not the child's.
fn sample(mut command: Command) -> Result<Sample> {
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().with_context(|| format!("could not start {command:?}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text.lines().find_map(|line| line.strip_prefix("VmHWM:")).and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = started.elapsed();
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        bail!("{command:?} failed ({status}): {errors}");
    }
    Ok(Sample { wall, max_rss_bytes: peak_kib * 1024 })
}

/// A small .ico file: one 32x32 32-bit image (a BMP with its AND mask).
fn bench_icon() -> Vec<u8> {
    sea_build::pe::fixture::ico(&[(32, &sea_build::pe::fixture::bmp_image(32, [0x40, 0x90, 0xe0, 0xff]))])
}
