//! Gathering the SEAs several machines built into one release directory: the last step of a
//! CI matrix (Linux runners build the Linux and Windows targets, macOS runners the darwin ones,
//! each uploading its `target/sea`).
//!
//! Every artifact found beside its manifest is checked against the SHA-256 its manifest
//! records (a transfer that damaged it is an error), copied as `<name>-<platform>[.exe]` with its
//! manifest as `<name>-<platform>.sea.json`, its release archive (`archive`) and node's licence
//! as `<name>-<platform>.node-LICENSE`, and listed in `SHA256SUMS` (the format `sha256sum -c`
//! reads). The directory is made beside `out` and renamed into place whole, so
//! `out` is either the previous release or the complete new one.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::artifact::{Manifest, manifest_path, published_artifact};

/// The checksum file of a gathered release.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// One artifact found in the inputs, checked against its manifest.
#[derive(Clone, Debug)]
pub struct Found {
    /// Where it was found.
    pub path: Utf8PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Found {
    /// Its file name in the release (see [`release_name`]).
    pub fn release_name(&self) -> String {
        release_name(&self.manifest.name, &self.manifest.platform)
    }
}

/// The file name of SEA `name` for Node platform `platform` in a gathered release:
/// `<name>-<platform>`, with `.exe` for Windows.
///
/// ```
/// # use sea_build::gather::release_name;
/// assert_eq!(release_name("hello", "win-x64"), "hello-win-x64.exe");
/// assert_eq!(release_name("hello", "darwin-arm64"), "hello-darwin-arm64");
/// ```
pub fn release_name(name: &str, platform: &str) -> String {
    let exe = if platform.starts_with("win-") { ".exe" } else { "" };
    format!("{name}-{platform}{exe}")
}

/// Every published artifact under `inputs` (searched to any depth), each checked against the
/// SHA-256 its manifest records; one per SEA and platform, sorted by release name. The same
/// SEA and platform found twice is kept once when the bytes agree, and an error when not.
pub fn find(inputs: &[Utf8PathBuf]) -> Result<Vec<Found>> {
    let mut manifests = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            bail!("{input} is not a directory: give the directories the build jobs uploaded (each holding `<target>/<name>` and `<name>.sea.json`)");
        }
        manifests_under(input, &mut manifests)?;
    }
    manifests.sort();
    let mut found: Vec<Found> = Vec::new();
    for manifest_file in manifests {
        let Some(path) = published_artifact(&manifest_file) else { continue };
        let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_file).with_context(|| format!("could not read {manifest_file}"))?)
            .with_context(|| format!("{manifest_file} is not a sea-build manifest"))?;
        let actual = crate::digest::sha256_file(&path)?;
        if actual != manifest.artifact_sha256 {
            bail!(
                "{path} hashes to {actual}, but its manifest {manifest_file} records {}: the file was changed or damaged after it was built (in the upload or download between jobs?); build it again",
                manifest.artifact_sha256
            );
        }
        if let Some(archive) = &manifest.archive {
            let at = crate::publish::dir_of(&path).join(&archive.file);
            let actual = crate::digest::sha256_file(&at).with_context(|| format!("{manifest_file} names the release archive {at}, which is not there"))?;
            if actual != archive.sha256 {
                bail!("{at} hashes to {actual}, but {manifest_file} records {}: the archive was changed or damaged after it was built; build it again", archive.sha256);
            }
        }
        let this = Found { path, manifest };
        match found.iter().find(|other| other.release_name() == this.release_name()) {
            Some(other) if other.manifest.artifact_sha256 == this.manifest.artifact_sha256 => {}
            Some(other) => {
                bail!("{} and {} are both SEA `{}` for {}, with different bytes: gather the outputs of one build per target", other.path, this.path, this.manifest.name, this.manifest.platform)
            }
            None => found.push(this),
        }
    }
    if found.is_empty() {
        let shown: Vec<&str> = inputs.iter().map(|input| input.as_str()).collect();
        bail!("no artifact with its manifest under {}: give the directories `cargo xtask sea` wrote (target/sea by default)", shown.join(", "));
    }
    found.sort_by_key(Found::release_name);
    Ok(found)
}

fn manifests_under(dir: &Utf8Path, found: &mut Vec<Utf8PathBuf>) -> Result<()> {
    for entry in dir.read_dir_utf8().with_context(|| format!("could not list {dir}"))? {
        let entry = entry.with_context(|| format!("could not list {dir}"))?;
        let path = entry.path();
        if entry.file_type().with_context(|| format!("could not read {path}"))?.is_dir() {
            manifests_under(path, found)?;
        } else if path.as_str().ends_with(".sea.json") {
            found.push(path.to_owned());
        }
    }
    Ok(())
}

/// The text of `SHA256SUMS` for `(file name, SHA-256)` pairs: `sha256sum`'s format, sorted by
/// name.
///
/// ```
/// let sums = sea_build::gather::sums_text(&[("b".into(), "22".into()), ("a".into(), "11".into())]);
/// assert_eq!(sums, "11  a\n22  b\n");
/// ```
pub fn sums_text(files: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    sorted.iter().map(|(name, sha256)| format!("{sha256}  {name}\n")).collect()
}

/// Lays out `found` in `out` (see the module docs), replacing a previous release there, once
/// `check` has passed each artifact's copy (executable, its manifest beside it) in the new
/// release; when one fails, `out` is left as it was. Returns the file names written,
/// `SHA256SUMS` last.
pub fn write_release(found: &[Found], out: &Utf8Path, mut check: impl FnMut(&Utf8Path) -> Result<()>) -> Result<Vec<String>> {
    if out.exists() && !out.join(SUMS_FILE).is_file() && out.read_dir_utf8().with_context(|| format!("could not list {out}"))?.next().is_some() {
        bail!("{out} is not empty and holds no {SUMS_FILE}, so it is not a release this command made: give another --out, or empty it");
    }
    let parent = crate::publish::dir_of(out);
    std::fs::create_dir_all(parent).with_context(|| format!("could not create {parent}"))?;
    let staging = tempfile::Builder::new().prefix(crate::publish::PARTIAL_PREFIX).tempdir_in(parent).with_context(|| format!("could not create a temporary directory in {parent}"))?;
    let staged = Utf8Path::from_path(staging.path()).context("the release directory is not UTF-8")?;
    let mut sums = Vec::new();
    for artifact in found {
        let name = artifact.release_name();
        let to = staged.join(&name);
        std::fs::copy(&artifact.path, &to).with_context(|| format!("could not copy {} to {to}", artifact.path))?;
        crate::fsutil::make_executable(&to)?;
        sums.push((name.clone(), artifact.manifest.artifact_sha256.clone()));
        let json = std::fs::read(manifest_path(&artifact.path)).with_context(|| format!("could not read the manifest of {}", artifact.path))?;
        let manifest_name = manifest_path(Utf8Path::new(&name)).into_string();
        std::fs::write(staged.join(&manifest_name), &json).with_context(|| format!("could not write {manifest_name} in {staged}"))?;
        sums.push((manifest_name, crate::digest::sha256_hex(&json)));
        // Beside it, what the build wrote beside it: the release archive, node's licence.
        let dir = crate::publish::dir_of(&artifact.path);
        if let Some(archive) = &artifact.manifest.archive {
            std::fs::copy(dir.join(&archive.file), staged.join(&archive.file)).with_context(|| format!("could not copy {} into {staged}", archive.file))?;
            sums.push((archive.file.clone(), archive.sha256.clone()));
        }
        if let Some(license) = &artifact.manifest.node_license_file {
            let stem = name.strip_suffix(".exe").unwrap_or(&name);
            let license_name = crate::artifact::license_file_name(stem);
            let text = std::fs::read(dir.join(license)).with_context(|| format!("could not read {license} beside {}", artifact.path))?;
            std::fs::write(staged.join(&license_name), &text).with_context(|| format!("could not write {license_name} in {staged}"))?;
            sums.push((license_name, crate::digest::sha256_hex(&text)));
        }
        check(&to)?;
    }
    std::fs::write(staged.join(SUMS_FILE), sums_text(&sums)).with_context(|| format!("could not write {SUMS_FILE} in {staged}"))?;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("could not remove the previous release in {out}"))?;
    }
    let staged_path = staging.keep();
    std::fs::rename(&staged_path, out).with_context(|| format!("could not move the new release into place at {out}"))?;
    let mut names: Vec<String> = sums.into_iter().map(|(name, _)| name).collect();
    names.sort();
    names.push(SUMS_FILE.to_owned());
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(dir: &Utf8Path, target: &str, platform: &str, file: &str, bytes: &[u8]) -> Utf8PathBuf {
        let path = dir.join(target).join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let manifest = Manifest { target: target.into(), platform: platform.into(), artifact_sha256: crate::digest::sha256_hex(bytes), ..crate::artifact::tests::manifest() };
        std::fs::write(manifest_path(&path), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        path
    }

    fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        (dir, path)
    }

    #[test]
    fn lays_out_what_every_runner_built_with_its_sums() {
        let (_dir, root) = temp();
        built(&root.join("linux"), "x86_64-unknown-linux-gnu", "linux-x64", "app", b"linux");
        built(&root.join("linux"), "x86_64-pc-windows-msvc", "win-x64", "app.exe", b"windows");
        built(&root.join("mac"), "aarch64-apple-darwin", "darwin-arm64", "app", b"mac");
        // The same target from two uploads, with the same bytes: kept once.
        built(&root.join("again"), "x86_64-unknown-linux-gnu", "linux-x64", "app", b"linux");
        let found = find(&[root.join("linux"), root.join("mac"), root.join("again")]).unwrap();
        let names: Vec<String> = found.iter().map(Found::release_name).collect();
        assert_eq!(names, ["app-darwin-arm64", "app-linux-x64", "app-win-x64.exe"]);
        let out = root.join("release");
        let written = write_release(&found, &out, |_| Ok(())).unwrap();
        assert_eq!(written.last().map(String::as_str), Some(SUMS_FILE));
        assert_eq!(std::fs::read(out.join("app-win-x64.exe")).unwrap(), b"windows");
        let sums = std::fs::read_to_string(out.join(SUMS_FILE)).unwrap();
        assert!(sums.contains(&format!("{}  app-linux-x64\n", crate::digest::sha256_hex(b"linux"))), "{sums}");
        assert!(sums.contains("  app-darwin-arm64.sea.json\n"), "{sums}");
        assert_eq!(sums.lines().count(), 6);
        // Gathering again replaces the release whole.
        write_release(&found[..1], &out, |_| Ok(())).unwrap();
        assert!(!out.join("app-win-x64.exe").exists());
    }

    #[test]
    fn a_damaged_or_conflicting_artifact_is_refused_by_name() {
        let (_dir, root) = temp();
        let path = built(&root.join("a"), "x86_64-unknown-linux-gnu", "linux-x64", "app", b"linux");
        std::fs::write(&path, b"linuX").unwrap();
        let error = format!("{:#}", find(&[root.join("a")]).unwrap_err());
        assert!(error.contains(path.as_str()) && error.contains("changed or damaged"), "{error}");

        built(&root.join("b"), "x86_64-unknown-linux-gnu", "linux-x64", "app", b"one");
        built(&root.join("c"), "x86_64-unknown-linux-gnu", "linux-x64", "app", b"two");
        let error = format!("{:#}", find(&[root.join("b"), root.join("c")]).unwrap_err());
        assert!(error.contains("different bytes"), "{error}");

        let error = format!("{:#}", find(&[root.join("missing")]).unwrap_err());
        assert!(error.contains("not a directory"), "{error}");
        std::fs::create_dir(root.join("empty")).unwrap();
        let error = format!("{:#}", find(&[root.join("empty")]).unwrap_err());
        assert!(error.contains("no artifact"), "{error}");
    }

    #[test]
    fn a_directory_it_did_not_make_is_left_alone() {
        let (_dir, root) = temp();
        built(&root.join("in"), "x86_64-unknown-linux-gnu", "linux-x64", "app", b"linux");
        let found = find(&[root.join("in")]).unwrap();
        let out = root.join("src");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("main.rs"), "fn main() {}").unwrap();
        let error = format!("{:#}", write_release(&found, &out, |_| Ok(())).unwrap_err());
        assert!(error.contains("not a release this command made"), "{error}");
        assert!(out.join("main.rs").is_file());
        // A failed check leaves the previous release as it was.
        let release = root.join("release");
        write_release(&found, &release, |_| Ok(())).unwrap();
        let error = write_release(&found, &release, |path| anyhow::bail!("{path} does not run")).unwrap_err();
        assert!(format!("{error:#}").contains("does not run"));
        assert!(release.join("app-linux-x64").is_file() && release.join(SUMS_FILE).is_file());
    }
}
