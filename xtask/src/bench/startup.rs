//! Start-up and size: TypeScript's compiler (the 6 MB main) type-checking a small project as a
//! SEA with no code cache, node's plain cache, a trained cache and a startup snapshot, timed in
//! interleaved rounds and reported as distributions; and the sizes of SEAs ([`super::sizes`]).
//!
//! The trained cache is made by sea-build's trainer (`sea_build::train`, what
//! `code-cache = "trained"` runs), trained on checking the project. Every variant must check a
//! project it was not trained on correctly, with its cache accepted, or the bench fails.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use sea_build::blob::{self, BlobLayout};
use sea_build::node::{Platform, Version, VersionSpec};
use sea_build::run::Processes;

use super::{Bench, fetch_node, pinned, run_checked};

/// Interleaved rounds of the start-up measurement (each round runs every variant once, in a
/// shuffled order, so load on the machine falls on all of them alike).
const ROUNDS: usize = 30;

/// The project every variant checks: the trained cache is trained on it.
const PROJECT: &[(&str, &str)] = &[
    ("tsconfig.json", r#"{ "compilerOptions": { "target": "es2022", "module": "commonjs", "strict": true, "noEmit": true, "lib": ["es2022"] }, "include": ["src"] }"#),
    (
        "src/shapes.ts",
        "export interface Shape { kind: string; area(): number }\n\
         export class Circle implements Shape { kind = \"circle\"; constructor(readonly r: number) {} area() { return Math.PI * this.r ** 2; } }\n\
         export class Rect implements Shape { kind = \"rect\"; constructor(readonly w: number, readonly h: number) {} area() { return this.w * this.h; } }\n\
         export type Named<T> = { [K in keyof T as `get${Capitalize<string & K>}`]: () => T[K] };\n",
    ),
    (
        "src/main.ts",
        "import { Circle, Rect, Shape, Named } from \"./shapes\";\n\
         const shapes: Shape[] = [new Circle(1), new Rect(2, 3)];\n\
         const total = shapes.reduce((sum, s) => sum + s.area(), 0);\n\
         function byKind<T extends Shape>(items: readonly T[]): Map<string, T[]> { const m = new Map<string, T[]>(); for (const i of items) { m.set(i.kind, [...(m.get(i.kind) ?? []), i]); } return m; }\n\
         type P = Named<{ name: string; size: number }>;\n\
         const p: P = { getName: () => \"x\", getSize: () => 1 };\n\
         export const report = `${total.toFixed(2)} ${[...byKind(shapes).keys()].join(\",\")} ${p.getName()}`;\n",
    ),
];

/// A project no cache was trained on, using other parts of the language and one type error,
/// which every variant must report.
const OTHER_PROJECT: &[(&str, &str)] = &[
    (
        "tsconfig.json",
        r#"{ "compilerOptions": { "target": "es2020", "module": "esnext", "moduleResolution": "bundler", "strict": true, "noEmit": true, "lib": ["es2020", "dom"], "experimentalDecorators": true }, "include": ["src"] }"#,
    ),
    (
        "src/index.ts",
        "enum Color { Red = \"red\", Green = \"green\" }\n\
         namespace Geo { export const origin = { x: 0, y: 0 } as const; }\n\
         function logged(target: object, key: string, d: PropertyDescriptor) { return d; }\n\
         abstract class Base<T> { abstract get(): T; map<U>(f: (t: T) => U): U { return f(this.get()); } }\n\
         class Box extends Base<number> { constructor(private v: number) { super(); } @logged get() { return this.v; } }\n\
         type Deep<T> = T extends object ? { readonly [K in keyof T]: Deep<T[K]> } : T;\n\
         const d: Deep<{ a: { b: number[] } }> = { a: { b: [1] } };\n\
         const el = document.createElement(\"div\");\n\
         async function* gen() { yield* [1, 2, 3]; }\n\
         export const out = [Color.Red, Geo.origin.x, new Box(2).map((n) => n * 2), d.a.b.length, el.tagName, gen()];\n\
         let wrong: Color = \"blue\";\n",
    ),
];

/// What checking [`OTHER_PROJECT`] prints.
const OTHER_PROJECT_ERROR: &str = "src/index.ts(11,5): error TS2322: Type '\"blue\"' is not assignable to type 'Color'.";

/// The end of TypeScript's `_tsc.js`: the command line runs as the module loads.
const TSC_TAIL: &str = "if (sys.setBlocking) {\n  sys.setBlocking();\n}\nexecuteCommandLine(sys, noop, sys.args);";

/// The same, for a snapshot: the compiler loads at build time and each start runs the command
/// line; the default libraries lie beside the executable, not beside the build-time main.
const TSC_SNAPSHOT_TAIL: &str = "require(\"v8\").startupSnapshot.setDeserializeMainFunction(() => {\n  sys.args = process.argv.slice(2);\n  sys.getExecutingFilePath = () => process.execPath;\n  if (sys.setBlocking) {\n    sys.setBlocking();\n  }\n  executeCommandLine(sys, noop, sys.args);\n});";

impl Bench {
    /// Start-up of the compiler checking a project per cache kind, and sizes with `strip`.
    pub(super) fn startup(&mut self) -> Result<()> {
        let work = self.dir.join("startup");
        std::fs::create_dir_all(&work)?;
        let main = self.typescript_main()?;
        let lib = main.parent().context("_tsc.js lies in lib/")?.to_owned();
        let version = pinned::NODE_24;
        let node = fetch_node(VersionSpec::Exact(version))?;
        let project = write_files(&work.join("project"), PROJECT)?;
        let other = write_files(&work.join("other-project"), OTHER_PROJECT)?;

        let out = work.join("sea");
        let dir = out.join(Platform::host()?.rust_triple());
        let snapshot_main = work.join("tsc-snapshot.js");
        let source = std::fs::read_to_string(&main)?;
        if !source.contains(TSC_TAIL) {
            bail!("{main} does not end the way the bench expects (`executeCommandLine(sys, noop, sys.args)`): update TSC_TAIL for this TypeScript");
        }
        std::fs::write(&snapshot_main, source.replace(TSC_TAIL, TSC_SNAPSHOT_TAIL))?;
        for (name, main, metadata) in [("tsc-nocache", &main, "code-cache = false\n"), ("tsc-plain", &main, ""), ("tsc-snapshot", &snapshot_main, "use-snapshot = true\n")] {
            let manifest = self.app_with(&work.join(name), name, main, version.to_string(), metadata)?;
            let mut build = Command::new(&self.xtask);
            build.args(["sea", "--manifest-path", manifest.as_str(), "--out", out.as_str()]);
            run_checked(build)?;
        }
        let trained_len = self.trained(&node.path, &main, &lib, &project, &work.join("trained"), &dir.join("tsc-trained"))?;
        // TypeScript finds its default libraries beside the executable.
        for entry in lib.read_dir_utf8()? {
            let entry = entry?;
            if entry.file_name().starts_with("lib.") && entry.file_name().ends_with(".d.ts") {
                std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
            }
        }
        std::fs::copy(&main, dir.join("_tsc.js"))?;

        let variants: Vec<(String, Vec<String>)> = vec![
            ("node _tsc.js".into(), vec![node.path.to_string(), dir.join("_tsc.js").to_string()]),
            ("SEA, no code cache".into(), vec![dir.join("tsc-nocache").to_string()]),
            ("SEA, plain code cache (node's)".into(), vec![dir.join("tsc-plain").to_string()]),
            (format!("SEA, trained code cache ({:.1} MB)", trained_len as f64 / 1e6), vec![dir.join("tsc-trained").to_string()]),
            ("SEA, startup snapshot".into(), vec![dir.join("tsc-snapshot").to_string()]),
        ];
        for (label, command) in &variants {
            check_other_project(label, command, &other)?;
        }
        let mut section = format!(
            "## Start-up: the TypeScript compiler (6 MB main), node {version}\n\n{ROUNDS} interleaved rounds (every variant once per round, in a shuffled order), after 2 untimed ones; seconds. \
             The trained cache was trained on `tsc -p project`; every variant was first checked on another project, with its cache accepted.\n"
        );
        for workload in [vec!["-p".to_owned(), project.to_string()], vec!["--version".to_owned()]] {
            let shown = if workload[0] == "-p" { "`tsc -p project` (type-check a small project)" } else { "`tsc --version`" };
            eprintln!("bench: start-up, {shown} ({ROUNDS} interleaved rounds)");
            let times = interleaved(&variants, &workload, ROUNDS)?;
            section.push_str(&format!("\n{shown}:\n\n| variant | min | p25 | median | p75 | max | median / plain cache |\n|---|---:|---:|---:|---:|---:|---:|\n"));
            let plain = median(&times[2]);
            for ((label, _), samples) in variants.iter().zip(&times) {
                let mut sorted = samples.clone();
                sorted.sort();
                let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64();
                section.push_str(&format!(
                    "| {label} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2}x |\n",
                    at(0.0),
                    at(0.25),
                    at(0.5),
                    at(0.75),
                    at(1.0),
                    median(samples).as_secs_f64() / plain.as_secs_f64()
                ));
            }
        }
        self.sections.push(section);
        self.sizes(&work.join("sizes"), &[])
    }

    /// The trained-cache variant at `artifact`; returns the trained cache's length.
    fn trained(&self, node: &Utf8Path, main: &Utf8Path, lib: &Utf8Path, project: &Utf8Path, staging: &Utf8Path, artifact: &Utf8Path) -> Result<usize> {
        std::fs::create_dir_all(staging)?;
        std::fs::copy(main, staging.join("main.js"))?;
        // The training run finds the default libraries beside the main it runs.
        for entry in lib.read_dir_utf8()? {
            let entry = entry?;
            if entry.file_name().starts_with("lib.") && entry.file_name().ends_with(".d.ts") {
                std::fs::copy(entry.path(), staging.join(entry.file_name()))?;
            }
        }
        std::fs::write(staging.join("sea-config.json"), r#"{"main":"main.js","output":"sea-prep.blob","disableExperimentalSEAWarning":true,"useCodeCache":true}"#)?;
        let mut generate = Command::new(node);
        generate.args(["--predictable", "--experimental-sea-config", "sea-config.json"]).current_dir(staging);
        run_checked(generate)?;
        let plain_blob = std::fs::read(staging.join("sea-prep.blob"))?;
        let version: Version = pinned::NODE_24;
        let layout = BlobLayout::for_node_version(version.major, version.minor, version.patch).context("node 24 has a blob layout")?;
        // sea-build's own trainer, as `code-cache = "trained"` runs it; here the default
        // libraries lie beside the main it runs, which a package's staging would not hold.
        let train_args = ["-p".to_owned(), project.to_string()];
        let trained = sea_build::train::train(&plain_blob, layout, node, &Processes, staging, Utf8Path::new("main.js"), &[], &train_args, staging)?;
        let trained_len = blob::parse(&trained, layout)?.code_cache.map_or(0, <[u8]>::len);
        let blob_path = staging.join("trained.blob");
        std::fs::write(&blob_path, &trained)?;
        let mut inject = Command::new(&self.xtask);
        inject.args(["inject", "--base", node.as_str(), "--blob", blob_path.as_str(), "--out", artifact.as_str()]);
        run_checked(inject)?;
        Ok(trained_len)
    }
}

/// Writes `files` under `dir`; returns `dir`.
fn write_files(dir: &Utf8Path, files: &[(&str, &str)]) -> Result<Utf8PathBuf> {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().context("a file has a directory")?)?;
        std::fs::write(&path, text)?;
    }
    Ok(dir.to_owned())
}

/// Runs `command -p other`: it must report the one type error (exit 2) and no rejected cache.
fn check_other_project(label: &str, command: &[String], other: &Utf8Path) -> Result<()> {
    let output = Command::new(&command[0]).args(&command[1..]).args(["-p", other.as_str()]).env_clear().output().with_context(|| format!("could not run {}", command[0]))?;
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.code() != Some(2) || !stdout.contains(OTHER_PROJECT_ERROR) || !stderr.is_empty() {
        bail!("{label} checked a project it was not trained on wrongly ({}):\n{stdout}{stderr}", output.status);
    }
    Ok(())
}

/// `rounds` timed runs of every variant with `workload`, after two untimed rounds; per round
/// the variants run in a shuffled order.
fn interleaved(variants: &[(String, Vec<String>)], workload: &[String], rounds: usize) -> Result<Vec<Vec<Duration>>> {
    let mut times = vec![Vec::with_capacity(rounds); variants.len()];
    // A fixed-seed xorshift: the order differs from round to round, the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut order: Vec<usize> = (0..variants.len()).collect();
    for round in 0..rounds + 2 {
        for at in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(at, (state % (at as u64 + 1)) as usize);
        }
        for &index in &order {
            let (label, command) = &variants[index];
            let started = Instant::now();
            let output = Command::new(&command[0]).args(&command[1..]).args(workload).env_clear().output().with_context(|| format!("could not run {label}"))?;
            let elapsed = started.elapsed();
            if !output.status.success() || !output.stderr.is_empty() {
                bail!("{label} {} failed ({}): {}", workload.join(" "), output.status, String::from_utf8_lossy(&output.stderr));
            }
            if round >= 2 {
                times[index].push(elapsed);
            }
        }
    }
    Ok(times)
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}
