//! Which files a mounted program needs: its package's own files and its production dependency
//! closure, found as node finds packages (`node_modules` from the requiring package upward).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

/// The files to mount, package-relative (to the directory the SEA is declared in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closure {
    /// The program's main.
    pub main: Utf8PathBuf,
    /// Every file, sorted, each once.
    pub files: Vec<Utf8PathBuf>,
    /// The files node loads as CommonJS (`.cjs`, and `.js` outside `"type": "module"`).
    pub commonjs: BTreeSet<Utf8PathBuf>,
    /// The packages holding native addons.
    pub addon_packages: Vec<AddonPackage>,
    /// Regular dependencies that are declared but not installed (the program fails where it
    /// needs them, as under node).
    pub not_installed: Vec<String>,
}

/// The production closure of the program `main` in `package_dir`, plus `extra` files (the
/// `vfs` entries, package-relative). The program's own package is the nearest directory at or
/// above `main` with a `package.json`; its own files are all it holds but `node_modules`,
/// dot-entries and directories marked with `CACHEDIR.TAG` (Cargo's target directory), or only
/// what its `files` field names when that is given for the declaring directory itself.
pub fn closure(package_dir: &Utf8Path, main: &Utf8Path, extra: &[Utf8PathBuf]) -> Result<Closure> {
    let program = program_package(package_dir, main);
    let mut files = BTreeSet::new();
    files.insert(main.to_owned());
    files.extend(extra.iter().cloned());
    let manifest = read_manifest(&package_dir.join(&program).join("package.json"))?;
    let listed = manifest.as_ref().and_then(|json| json.get("files")).and_then(serde_json::Value::as_array).filter(|_| program.as_str().is_empty());
    match listed {
        Some(entries) => {
            let patterns: Vec<String> = entries.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect();
            for pattern in patterns {
                // npm tolerates `files` entries that match nothing; so does the closure.
                if let Ok(found) = crate::vfs::expand(package_dir, &[pattern]) {
                    files.extend(found);
                }
            }
            if manifest.is_some() {
                files.insert(program.join("package.json"));
            }
        }
        None => walk(package_dir, &program, &mut files)?,
    }

    let mut not_installed = Vec::new();
    for dir in dependencies(package_dir, &program, manifest, &mut not_installed)? {
        walk(package_dir, &dir, &mut files)?;
    }
    let files: Vec<Utf8PathBuf> = files.into_iter().collect();
    let mut types = BTreeMap::new();
    let mut commonjs = BTreeSet::new();
    for file in &files {
        let is_commonjs = match file.extension() {
            Some("cjs") => true,
            Some("js") => !module_scope(package_dir, file, &mut types)?,
            _ => false,
        };
        if is_commonjs {
            commonjs.insert(file.clone());
        }
    }
    let addon_packages = addon_packages(package_dir, &files)?;
    Ok(Closure { main: main.to_owned(), files, commonjs, addon_packages, not_installed })
}

/// The installed packages (package-relative directories) `start`'s production dependencies
/// reach, breadth first, each once, `start` not included; regular dependencies that are not
/// installed are added to `not_installed`.
fn dependencies(package_dir: &Utf8Path, start: &Utf8Path, manifest: Option<serde_json::Value>, not_installed: &mut Vec<String>) -> Result<Vec<Utf8PathBuf>> {
    let mut seen = BTreeSet::from([start.to_owned()]);
    let mut found_all = Vec::new();
    let mut queue = VecDeque::from([(start.to_owned(), manifest)]);
    while let Some((dir, manifest)) = queue.pop_front() {
        let Some(manifest) = manifest else { continue };
        for (field, required) in [("dependencies", true), ("optionalDependencies", false), ("peerDependencies", false)] {
            let Some(names) = manifest.get(field).and_then(serde_json::Value::as_object) else { continue };
            for name in names.keys() {
                match find_package(package_dir, &dir, name) {
                    Some(found) if seen.insert(found.clone()) => {
                        let json = read_manifest(&package_dir.join(&found).join("package.json"))?;
                        found_all.push(found.clone());
                        queue.push_back((found, json));
                    }
                    Some(_) => {}
                    None if required => not_installed.push(format!("{name} (a dependency of {})", if dir.as_str().is_empty() { "the package" } else { dir.as_str() })),
                    None => {}
                }
            }
        }
    }
    not_installed.sort();
    not_installed.dedup();
    Ok(found_all)
}

/// The directory (package-relative, `""` for the declaring directory) of the package holding
/// `main`: an installed package (`node_modules/<name>` or `node_modules/@scope/<name>`) when
/// `main` lies in one, otherwise the outermost directory with a `package.json` at or above
/// `main` (a `package.json` further in may only mark a directory's module type).
fn program_package(package_dir: &Utf8Path, main: &Utf8Path) -> Utf8PathBuf {
    let parts: Vec<&str> = main.components().map(|part| part.as_str()).collect();
    if let Some(at) = parts.iter().rposition(|part| *part == "node_modules") {
        let name_parts = if parts.get(at + 1).is_some_and(|part| part.starts_with('@')) { 2 } else { 1 };
        if at + name_parts < parts.len() - 1 {
            return parts[..=at + name_parts].iter().collect();
        }
    }
    let mut outermost = Utf8PathBuf::new();
    let mut dir = main.parent().map(Utf8Path::to_owned).unwrap_or_default();
    loop {
        if package_dir.join(&dir).join("package.json").is_file() {
            outermost = dir.clone();
        }
        if dir.as_str().is_empty() {
            return outermost;
        }
        dir = dir.parent().map(Utf8Path::to_owned).unwrap_or_default();
    }
}

/// `node_modules/<name>` as node finds it from `from` (package-relative), not above the package.
fn find_package(package_dir: &Utf8Path, from: &Utf8Path, name: &str) -> Option<Utf8PathBuf> {
    let mut dir = from.to_owned();
    loop {
        if dir.file_name() != Some("node_modules") {
            let candidate = dir.join("node_modules").join(name);
            if package_dir.join(&candidate).is_dir() {
                return Some(candidate);
            }
        }
        if dir.as_str().is_empty() {
            return None;
        }
        dir = dir.parent().map(Utf8Path::to_owned).unwrap_or_default();
    }
}

fn read_manifest(path: &Utf8Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| format!("{path} is not valid JSON: fix it, or run `npm install` again")),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("could not read {path}")),
    }
}

/// Whether `file` lies in a `"type": "module"` scope (nearest `package.json` above it).
fn module_scope(package_dir: &Utf8Path, file: &Utf8Path, types: &mut BTreeMap<Utf8PathBuf, Option<bool>>) -> Result<bool> {
    let mut dir = file.parent().map(Utf8Path::to_owned).unwrap_or_default();
    loop {
        if !types.contains_key(&dir) {
            let manifest = read_manifest(&package_dir.join(&dir).join("package.json"))?;
            types.insert(dir.clone(), manifest.map(|json| json.get("type").and_then(serde_json::Value::as_str) == Some("module")));
        }
        if let Some(Some(module)) = types.get(&dir) {
            return Ok(*module);
        }
        if dir.as_str().is_empty() {
            return Ok(false);
        }
        dir = dir.parent().map(Utf8Path::to_owned).unwrap_or_default();
    }
}

/// Every file below `dir` (package-relative) but nested `node_modules`, dot-entries of the
/// declaring package, directories marked `CACHEDIR.TAG`, and a Cargo package's `target`
/// directory (where builds, and the SEA itself, are written).
fn walk(package_dir: &Utf8Path, dir: &Utf8Path, files: &mut BTreeSet<Utf8PathBuf>) -> Result<()> {
    let full = package_dir.join(dir);
    let cargo_target = dir.file_name() == Some("target") && full.parent().is_some_and(|parent| parent.join("Cargo.toml").is_file());
    if cargo_target || full.join("CACHEDIR.TAG").is_file() {
        return Ok(());
    }
    let mut entries: Vec<_> = full.read_dir_utf8().with_context(|| format!("could not list {full}"))?.collect::<std::io::Result<_>>().with_context(|| format!("could not list {full}"))?;
    entries.sort_by(|a, b| a.file_name().cmp(b.file_name()));
    let in_dependency = dir.components().any(|part| part.as_str() == "node_modules");
    for entry in entries {
        let name = entry.file_name();
        if name == "node_modules" || (!in_dependency && name.starts_with('.')) {
            continue;
        }
        let relative = dir.join(name);
        let path = entry.path();
        // Links are followed: a linked package is mounted where the link is.
        if path.is_dir() {
            walk(package_dir, &relative, files)?;
        } else if path.is_file() {
            files.insert(relative);
        }
    }
    Ok(())
}

/// Each package holding native addons (the nearest `package.json` above a `.node` file), with
/// the packages it depends on (where its addon's shared libraries may lie, such as
/// `$ORIGIN/../../<sibling>/lib`) and the SHA-256 of all their files (paths and contents).
fn addon_packages(package_dir: &Utf8Path, files: &[Utf8PathBuf]) -> Result<Vec<AddonPackage>> {
    let in_set: BTreeSet<&Utf8Path> = files.iter().map(Utf8PathBuf::as_path).collect();
    let mut packages = BTreeSet::new();
    for addon in files.iter().filter(|file| file.extension() == Some("node")) {
        let mut dir = addon.parent().map(Utf8Path::to_owned).unwrap_or_default();
        while !in_set.contains(dir.join("package.json").as_path()) && !dir.as_str().is_empty() {
            dir = dir.parent().map(Utf8Path::to_owned).unwrap_or_default();
        }
        packages.insert(dir);
    }
    let mut found = Vec::new();
    for dir in packages {
        let manifest = read_manifest(&package_dir.join(&dir).join("package.json"))?;
        let mut dirs = vec![dir.clone()];
        dirs.extend(dependencies(package_dir, &dir, manifest, &mut Vec::new())?);
        let mut sha256 = crate::digest::Sha256::new();
        for file in files.iter().filter(|file| dirs.iter().any(|dir| owns(dir, file))) {
            let path = package_dir.join(file);
            let bytes = std::fs::read(&path).with_context(|| format!("could not read {path}"))?;
            sha256.update(file.as_str().as_bytes());
            sha256.update(&[0]);
            sha256.update(&(bytes.len() as u64).to_le_bytes());
            sha256.update(&bytes);
        }
        found.push(AddonPackage { dir, dirs, sha256: sha256.finish_hex() });
    }
    Ok(found)
}

/// Whether `file` belongs to the package in `dir` itself (not to one nested in its
/// `node_modules`).
pub(crate) fn owns(dir: &Utf8Path, file: &Utf8Path) -> bool {
    file.strip_prefix(dir).is_ok_and(|rest| !rest.components().any(|part| part.as_str() == "node_modules"))
}

/// A package with native addons, as the loader writes it out before loading one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddonPackage {
    /// The package's directory.
    pub dir: Utf8PathBuf,
    /// It and the packages its dependencies reach: what is written out, at the same paths.
    pub dirs: Vec<Utf8PathBuf>,
    /// SHA-256 of their files: the name of their directory in the per-user cache.
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(files: &[(&str, &str)]) -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        for (path, text) in files {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        (dir, root)
    }

    #[test]
    fn takes_the_production_closure_and_nothing_else() {
        let (_keep, root) = package(&[
            ("package.json", r#"{"dependencies":{"cli":"1"},"devDependencies":{"dev":"1"}}"#),
            ("Cargo.toml", ""),
            ("target/sea/x86_64-unknown-linux-gnu/app", ""),
            ("cache/CACHEDIR.TAG", ""),
            ("cache/x", ""),
            (".git/HEAD", ""),
            ("node_modules/cli/package.json", r#"{"type":"module","dependencies":{"a":"1","missing":"1"},"optionalDependencies":{"opt":"1"}}"#),
            ("node_modules/cli/bin/cli.js", ""),
            ("node_modules/cli/bin/package.json", r#"{"type":"commonjs"}"#),
            ("node_modules/cli/lib/old.cjs", ""),
            ("node_modules/cli/node_modules/a/package.json", "{}"),
            ("node_modules/cli/node_modules/a/index.js", ""),
            ("node_modules/cli/node_modules/a/build/a.node", "addon"),
            ("node_modules/dev/index.js", ""),
            ("node_modules/dev/package.json", "{}"),
            ("node_modules/unrelated/index.js", ""),
        ]);
        let closure = closure(&root, "node_modules/cli/bin/cli.js".into(), &[]).unwrap();
        let names: Vec<&str> = closure.files.iter().map(|f| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_modules/cli/bin/cli.js",
                "node_modules/cli/bin/package.json",
                "node_modules/cli/lib/old.cjs",
                "node_modules/cli/node_modules/a/build/a.node",
                "node_modules/cli/node_modules/a/index.js",
                "node_modules/cli/node_modules/a/package.json",
                "node_modules/cli/package.json"
            ]
        );
        let commonjs: Vec<&str> = closure.commonjs.iter().map(|f| f.as_str()).collect();
        assert_eq!(commonjs, ["node_modules/cli/bin/cli.js", "node_modules/cli/lib/old.cjs", "node_modules/cli/node_modules/a/index.js"]);
        assert_eq!(closure.not_installed, ["missing (a dependency of node_modules/cli)"]);
        assert_eq!(closure.addon_packages.len(), 1);
        assert_eq!(closure.addon_packages[0].dir, "node_modules/cli/node_modules/a");
        assert_eq!(closure.addon_packages[0].dirs, [Utf8PathBuf::from("node_modules/cli/node_modules/a")]);

        // The declaring package's own files: all but node_modules, dot-entries and Cargo's target.
        let own = super::closure(&root, "node_modules/dev/index.js".into(), &[]).unwrap();
        assert_eq!(own.files, [Utf8PathBuf::from("node_modules/dev/index.js"), "node_modules/dev/package.json".into()]);
        std::fs::write(root.join("main.js"), "").unwrap();
        let own = super::closure(&root, "main.js".into(), &[]).unwrap();
        assert!(own.files.iter().any(|f| f == "Cargo.toml") && !own.files.iter().any(|f| f.starts_with("target") || f.starts_with("cache") || f.starts_with(".git")), "{:?}", own.files);
        assert!(own.files.iter().any(|f| f == "node_modules/cli/bin/cli.js"));
    }
}
