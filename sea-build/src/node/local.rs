//! Node binaries given by path or found on PATH: checking that a file really is a node binary
//! for the wanted platform, and finding out its version.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use super::platform::{Arch, Os, Platform};
use super::version::Version;
use crate::Env;
use crate::error::{ErrorKind, Tag, fail};

/// Fails unless `bytes` is an executable for `platform` that carries the SEA fuse.
pub(crate) fn check_node_binary(bytes: &[u8], path: &Utf8Path, platform: Platform) -> Result<()> {
    use object::{Architecture, BinaryFormat, FileKind, Object};
    let not_node = || format!("{path} is not a node binary for {platform}");
    let kind = FileKind::parse(bytes).tag(ErrorKind::NotNode, || format!("{}: it is not an executable at all", not_node()))?;
    let (os, arch) = match kind {
        FileKind::MachOFat32 | FileKind::MachOFat64 => (Os::Darwin, None),
        _ => {
            let file = object::File::parse(bytes).tag(ErrorKind::NotNode, not_node)?;
            let os = match file.format() {
                BinaryFormat::Elf => Os::Linux,
                BinaryFormat::MachO => Os::Darwin,
                BinaryFormat::Pe => Os::Windows,
                other => fail!(NotNode, "{}: it is a {other:?} file", not_node()),
            };
            let arch = match file.architecture() {
                Architecture::X86_64 => Some(Arch::X64),
                Architecture::Aarch64 => Some(Arch::Arm64),
                Architecture::Arm => Some(Arch::Armv7l),
                Architecture::PowerPc64 => Some(Arch::Ppc64le),
                Architecture::S390x => Some(Arch::S390x),
                Architecture::I386 => Some(Arch::X86),
                _ => None,
            };
            (os, arch)
        }
    };
    if os != platform.os || arch.is_some_and(|arch| arch != platform.arch) {
        fail!(NotNode, "{}: it is built for {os:?} {}; pick the matching target or another binary", not_node(), arch.map_or("(unknown architecture)".to_owned(), |a| format!("{a:?}")));
    }
    // Universal files carry one fuse per slice.
    for image in crate::inject::images(bytes).with_context(|| format!("{path} cannot be used for a SEA"))? {
        crate::inject::fuse::find_fuse(image).with_context(|| format!("{path} cannot be used for a SEA"))?;
    }
    Ok(())
}

/// The version of a node binary: asked of the binary itself when it runs here, else read from
/// the release URLs official builds embed (`…/release/v22.23.3/node-v22.23.3-headers.tar.gz`).
pub(crate) fn binary_version(bytes: &[u8], path: &Utf8Path, platform: Platform) -> Result<Version> {
    if platform.is_host() {
        let output = std::process::Command::new(path).arg("--version").env_remove("NODE_OPTIONS").stdin(std::process::Stdio::null()).output();
        if let Ok(output) = output.as_ref()
            && output.status.success()
        {
            return String::from_utf8_lossy(&output.stdout).trim().parse().with_context(|| format!("{path} --version printed something unexpected"));
        }
    }
    embedded_version(bytes)
        .with_context(|| format!("could not tell which Node version {path} is: it does not run here and carries no release URL; name its archive node-vX.Y.Z-<platform>.* or use an official build"))
}

fn embedded_version(bytes: &[u8]) -> Result<Version> {
    const SUFFIX: &[u8] = b"-headers.tar.gz";
    let mut start = 0;
    while let Some(found) = find(&bytes[start..], SUFFIX) {
        let end = start + found;
        let head = &bytes[end.saturating_sub(32)..end];
        if let Some(at) = find(head, b"node-v")
            && let Ok(text) = std::str::from_utf8(&head[at + 6..])
            && let Ok(version) = text.parse()
        {
            return Ok(version);
        }
        start = end + SUFFIX.len();
    }
    bail!("no embedded release URL found")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The `node` executable on `PATH`.
pub(crate) fn node_on_path(env: &Env) -> Result<Utf8PathBuf> {
    let path = env.var_os("PATH").unwrap_or_default();
    let exe = if cfg!(windows) { "node.exe" } else { "node" };
    std::env::split_paths(&path)
        .map(|dir| dir.join(exe))
        .find(|candidate| candidate.is_file())
        .and_then(|found| Utf8PathBuf::from_path_buf(found).ok())
        .context("`local` asks for the node on PATH, but there is none: install Node.js or choose a version such as `24`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_version_in_a_release_url() {
        let bytes = b"\0\0https://nodejs.org/download/release/v22.23.3/node-v22.23.3-headers.tar.gz\0";
        assert_eq!(embedded_version(bytes).unwrap(), Version::new(22, 23, 3));
        assert!(embedded_version(b"nothing here-headers.tar.gz").is_err());
    }
}
