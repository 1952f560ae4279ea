//! What users download and keep, per target family: the raw size, the size on disk (the blocks
//! the file system allocated) and the release archive (`.tar.xz`, `.zip` for Windows, as
//! `cargo xtask sea --archive` writes it) of a SEA with a one-line main and of one with
//! TypeScript's compiler (6 MB of JavaScript), whole, with `strip` and with `strip` and
//! `icu = ["en"]`, against node itself (its binary and LICENSE archived the same way) as 1.00x.

use std::process::Command;

use anyhow::{Context, Result};
use camino::Utf8Path;
use sea_build::artifact::{FileSizes, Manifest};
use sea_build::node::{Platform, Version, VersionSpec};
use sea_build::release::{Format, Member, archive_stem, write_archive};

use super::{Bench, fetch_node_for, pinned, run_checked};

/// The target families measured, each with the pinned node it is built from (darwin-x64 and
/// darwin-arm64 with node 22: see the pins).
const TARGETS: [(&str, Version); 4] = [("linux-x64", pinned::NODE_24), ("darwin-x64", pinned::NODE_22), ("darwin-arm64", pinned::NODE_22_DARWIN_ARM64), ("win-x64", pinned::NODE_24)];

/// What each row changes: its name in the report, its file-name suffix, its metadata, and
/// whether it applies to Windows (where `strip` has nothing to leave out).
const VARIANTS: [(&str, &str, &str, bool); 3] =
    [("whole", "whole", "strip = false\n", true), ("`strip`", "stripped", "strip = true\n", false), ("`strip`, `icu = [\"en\"]`", "en", "strip = true\nicu = [\"en\"]\n", true)];

/// The sizes of one file and of its release archive.
struct Sizes {
    file: FileSizes,
    archive: u64,
}

impl Bench {
    /// The sizes group (`--only sizes`); `targets` narrows it to some families (all when empty).
    pub(super) fn sizes(&mut self, work: &Utf8Path, targets: &[&str]) -> Result<()> {
        std::fs::create_dir_all(work)?;
        let hello = work.join("hello.js");
        std::fs::write(&hello, "console.log('hello');\n")?;
        let tsc = self.typescript_main()?;
        let out = work.join("sea");
        let mut section = "## What users download and keep (`--archive`; x = against node itself)\n\n\
            | target | node | program | build | raw | on disk | archive |\n|---|---|---|---|---:|---:|---:|\n"
            .to_owned();
        for (target, version) in TARGETS.into_iter().filter(|(target, _)| targets.is_empty() || targets.contains(target)) {
            let platform: Platform = target.parse()?;
            let node = node_sizes(platform, version, work)?;
            let mb = |bytes: u64, base: u64| format!("{:.1} MB ({:.2}x)", bytes as f64 / 1e6, bytes as f64 / base.max(1) as f64);
            let row = |program: &str, strip: &str, sizes: &Sizes| {
                format!(
                    "| {target} | {version} | {program} | {strip} | {} | {} | {} |\n",
                    mb(sizes.file.len, node.file.len),
                    mb(sizes.file.on_disk, node.file.on_disk),
                    mb(sizes.archive, node.archive)
                )
            };
            section.push_str(&row("node itself", "", &node));
            for (program, main) in [("one-line main", &hello), ("TypeScript compiler", &tsc)] {
                for (label, suffix, metadata, _) in VARIANTS.into_iter().filter(|&(.., on_windows)| on_windows || !target.starts_with("win-")) {
                    let name = format!("{}-{suffix}", if main == &hello { "hello" } else { "tsc" });
                    let app = work.join(format!("{target}-{name}"));
                    let manifest = self.app_with(&app, &name, main, version.to_string(), metadata)?;
                    let mut build = Command::new(&self.xtask);
                    build.args(["sea", "--archive", "--manifest-path", manifest.as_str(), "--out", out.as_str(), "--target", target]);
                    eprintln!("bench: sizes of {name} for {target}");
                    run_checked(build)?;
                    section.push_str(&row(program, label, &artifact_sizes(&out.join(platform.rust_triple()), &name)?));
                }
            }
        }
        self.sections.push(section);
        Ok(())
    }
}

/// The sizes of node itself for `platform`, its binary and LICENSE archived as a SEA's are.
fn node_sizes(platform: Platform, version: Version, work: &Utf8Path) -> Result<Sizes> {
    let node = fetch_node_for(VersionSpec::Exact(version), platform)?;
    let format = Format::for_platform(platform);
    let archive = work.join(format!("node-{}{}", platform.node_name(), format.extension()));
    eprintln!("bench: archiving node {version} for {platform}");
    let mut binary = std::fs::File::open(&node.path).with_context(|| format!("could not open {}", node.path))?;
    let mut members = vec![Member { name: platform.exe_name().to_owned(), executable: true, len: binary.metadata()?.len(), contents: &mut binary }];
    let license_path = node.path.with_file_name("LICENSE");
    let mut license = std::fs::File::open(&license_path).ok();
    if let Some(file) = &mut license {
        members.push(Member { name: "LICENSE".into(), executable: false, len: file.metadata()?.len(), contents: file });
    }
    let out = std::fs::File::create(&archive).with_context(|| format!("could not create {archive}"))?;
    write_archive(format, &archive_stem("node", platform), members, out)?;
    Ok(Sizes { file: FileSizes::of(&node.path)?, archive: std::fs::metadata(&archive)?.len() })
}

/// The sizes of the artifact `name` in `dir` and of the archive its manifest records.
fn artifact_sizes(dir: &Utf8Path, name: &str) -> Result<Sizes> {
    let manifest_path = dir.join(format!("{name}.sea.json"));
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path).with_context(|| format!("could not read {manifest_path}"))?)?;
    let archive = manifest.archive.with_context(|| format!("{manifest_path} records no archive"))?;
    let artifact = sea_build::artifact::published_artifact(&manifest_path).with_context(|| format!("the artifact of {manifest_path} is missing"))?;
    Ok(Sizes { file: FileSizes::of(&artifact)?, archive: archive.bytes })
}
