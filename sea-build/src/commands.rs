//! The byte-level commands on files, without generation or checks: `inject` (a blob into
//! a node binary) and `relativise` (a Mach-O file's debug-map paths), as the command line
//! and a workspace's xtask run them. Each reads its input, never maps a user's file, and
//! publishes its output atomically (through a temporary file beside it, renamed into place).

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::env::Env;
use crate::inject;
use crate::macho;
use crate::sign::SignMode;

/// Writes `base` with `blob` injected to `out`, holding neither in memory: the kernel copies
/// the base into `out` (`copy_file_range`) and only the changed and appended bytes are
/// written into it. With `sha256`, feeds it what was written (an artifact's manifest needs
/// it; the bare `inject` command does not pay for it). Returns how many bytes
/// `options.strip` left out.
///
/// `fuse_offset` is where the node cache found the unset fuse when it verified `base`: it
/// marks `base` as a verified cache entry, which is replaced only by renaming, never
/// rewritten, so it is safe to map. Then the plan is read from a map of `base`, and the
/// output is hashed from `base` on a second thread while the kernel copies: the two
/// whole-file passes overlap instead of following each other. Without it `base` may be a
/// user's file, never mapped (a file truncated under a map faults the process): it is
/// copied first, planned through a map of the private copy, and hashed as it is read back.
/// Either way the plan reads the base's own bytes and nothing past them, and `preallocate`
/// ([`crate::fsutil::preallocate`]; tests pass stand-ins for file systems without it or whose
/// preallocation grows the file) gives the output its blocks, so the output does not depend
/// on what the file system does with the hint.
pub(crate) fn inject_elf_file(
    base: &Utf8Path,
    blob: &[u8],
    out: &mut std::fs::File,
    fuse_offset: Option<u64>,
    options: inject::elf::Options,
    sha256: Option<&mut crate::digest::Sha256>,
    preallocate: fn(&std::fs::File, u64),
) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(base).with_context(|| format!("could not open {base}"))?;
    if inject::Format::detect(&crate::fsutil::read_head(&mut file, base, 4096)?) != Some(inject::Format::Elf) {
        bail!("{base} is not an ELF executable");
    }
    out.set_len(0).and_then(|()| out.seek(SeekFrom::Start(0))).context("could not reset the output file")?;
    if let Some(Ok(fuse_offset)) = fuse_offset.map(usize::try_from) {
        return inject_elf_from_cache(base, &file, blob, out, fuse_offset, options, sha256, preallocate);
    }
    preallocate(out, file.metadata().map_or(0, |metadata| metadata.len()) + blob.len() as u64);
    let base_len = std::io::copy(&mut file, out).with_context(|| format!("could not copy {base}"))?;
    drop(file);
    let mut copy: &std::fs::File = out;
    copy.seek(SeekFrom::Start(0)).context("could not read back the copy")?;
    let fuse_offset = match inject::fuse::find_fuse_in(std::io::BufReader::with_capacity(1 << 20, copy.take(base_len)))? {
        inject::fuse::FuseState::Unset { offset } => offset,
        inject::fuse::FuseState::Set { offset } => crate::error::fail!(AlreadyInjected, "{base} already carries a SEA blob (its fuse at {offset:#x} is set): start from a fresh node binary"),
    };
    let map = crate::fsutil::map_readonly(out)?;
    let image = usize::try_from(base_len).ok().and_then(|len| map.get(..len)).with_context(|| format!("the copy of {base} is shorter than {base_len} bytes"))?;
    let (splice, summary) = inject::elf::plan_with(image, blob.len(), fuse_offset, options).with_context(|| format!("{base} cannot take a SEA blob"))?;
    drop(map);
    crate::fsutil::apply_splice_to_copy(out, &splice, blob, sha256).context("could not write the injected image")?;
    Ok(summary.stripped_len)
}

/// [`inject_elf_file`] for a verified node cache entry `base`, open as `file`, whose unset
/// fuse is at `fuse_offset` (checked again by `elf::plan`).
#[allow(clippy::too_many_arguments)]
fn inject_elf_from_cache(
    base: &Utf8Path,
    mut file: &std::fs::File,
    blob: &[u8],
    out: &mut std::fs::File,
    fuse_offset: usize,
    options: inject::elf::Options,
    sha256: Option<&mut crate::digest::Sha256>,
    preallocate: fn(&std::fs::File, u64),
) -> Result<u64> {
    // SAFETY: the node cache publishes an entry by renaming it into place and never writes
    // or truncates it afterwards, so the mapped file stays whole while the map lives.
    let image = unsafe { memmap2::Mmap::map(file) }.with_context(|| format!("could not map {base}"))?;
    let (splice, summary) = inject::elf::plan_with(&image, blob.len(), fuse_offset, options).with_context(|| format!("{base} cannot take a SEA blob"))?;
    let mut write = |out: &mut std::fs::File| {
        preallocate(out, splice.len(blob.len()));
        std::io::copy(&mut file, out)
            .with_context(|| format!("could not copy {base}"))
            .and_then(|_| crate::fsutil::apply_splice_to_copy(out, &splice, blob, None).context("could not write the injected image"))
    };
    let Some(sha256) = sha256 else {
        write(out)?;
        return Ok(summary.stripped_len);
    };
    let (written, hashed) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| crate::fsutil::sha256_of_splice(base, &splice, blob));
        (write(out), hashing.join())
    });
    written?;
    *sha256 = hashed.map_err(|_| anyhow::anyhow!("internal error: hashing the injected image panicked"))?.with_context(|| format!("could not read {base} to hash the injected image"))?;
    Ok(summary.stripped_len)
}

/// Injects the blob file `blob` into the node binary `base` and writes the executable to
/// `out` atomically: what `inject` does on the command line, without generation or checks.
/// Mach-O and PE bases lose their signature first; Mach-O results are then signed as `sign`
/// says (identity settings from `env`, see [`relativise_file`]).
///
/// ```no_run
/// use camino::Utf8Path;
/// use sea_build::sign::SignMode;
/// let env = sea_build::Env::from_process();
/// sea_build::commands::inject_file(Utf8Path::new("node"), Utf8Path::new("sea-prep.blob"), Utf8Path::new("app"), SignMode::AdHoc, &env)?;
/// # anyhow::Ok(())
/// ```
pub fn inject_file(base: &Utf8Path, blob: &Utf8Path, out: &Utf8Path, sign: SignMode, env: &Env) -> crate::Result<()> {
    inject_file_inner(base, blob, out, sign, &PeResources::default(), env).map_err(crate::Error::from)
}

/// [`inject_file`], with a PE result given the version resource and icon `resources` name
/// (ignored for other formats), and signed with Authenticode by [`SignMode::Identity`]
/// (the identity `SEA_BUILD_WINDOWS_P12`, or `SEA_BUILD_WINDOWS_SIGN_KEY` and `_CERT`, names).
///
/// ```no_run
/// use camino::Utf8Path;
/// use sea_build::sign::SignMode;
/// let resources = sea_build::windows::InjectResources { icon: Some("app.ico".into()), version_info: [("ProductName".to_owned(), "App".to_owned())].into() };
/// let env = sea_build::Env::from_process();
/// sea_build::commands::inject_file_with(Utf8Path::new("node.exe"), Utf8Path::new("sea-prep.blob"), Utf8Path::new("app.exe"), SignMode::Identity, &resources, &env)?;
/// # anyhow::Ok(())
/// ```
#[cfg(feature = "windows")]
pub fn inject_file_with(base: &Utf8Path, blob: &Utf8Path, out: &Utf8Path, sign: SignMode, resources: &crate::windows::InjectResources, env: &Env) -> crate::Result<()> {
    inject_file_inner(base, blob, out, sign, resources, env).map_err(crate::Error::from)
}

/// What a PE result gets besides the blob (nothing without the `windows` feature).
#[cfg(feature = "windows")]
type PeResources = crate::windows::InjectResources;
#[cfg(not(feature = "windows"))]
type PeResources = ();

/// Unsigns the PE file `base`, injects the blob with `resources`, signs the result with
/// Authenticode for [`SignMode::Identity`], and publishes it at `out`. Neither image is held
/// in memory: the kernel copies the base's bulk into the output, and the CheckSum and the
/// signature's hash are computed over the output a chunk at a time.
#[cfg(feature = "windows")]
fn inject_pe_file(base: &Utf8Path, blob: &[u8], out: &Utf8Path, sign: SignMode, resources: &PeResources, env: &Env) -> Result<()> {
    let name = out.file_stem().unwrap_or("app");
    let icon = resources.read_icon()?;
    let changes = resources.changes(name, icon.as_ref())?;
    crate::publish::write_executable(out, |file| {
        crate::pe_file::inject(base, blob, &changes, file, None)?;
        if sign == SignMode::Identity {
            crate::windows::sign_file_with_env(file, name, env).with_context(|| format!("could not sign {out}"))?;
        }
        Ok(())
    })
}

#[cfg(not(feature = "windows"))]
fn inject_pe_file(_base: &Utf8Path, _blob: &[u8], _out: &Utf8Path, _sign: SignMode, _resources: &PeResources, _env: &Env) -> Result<()> {
    crate::features::Feature::Windows.require("injecting into a Windows executable")
}

// The body of `inject_file`: anyhow's error inside the crate, marked with kinds where they are known.
fn inject_file_inner(base: &Utf8Path, blob: &Utf8Path, out: &Utf8Path, sign: SignMode, resources: &PeResources, env: &Env) -> Result<()> {
    let blob_bytes = std::fs::read(blob).with_context(|| format!("could not read the blob {blob}"))?;
    let failed = || format!("could not inject {blob} into {base}");
    let mut file = std::fs::File::open(base).with_context(|| format!("could not open {base}"))?;
    let format = inject::Format::detect(&crate::fsutil::read_head(&mut file, base, 4096)?);
    drop(file);
    // `base` is the user's file, so it is never mapped: it is copied by the kernel and edited
    // in the copy (Mach-O), or read in parts and copied around them (PE).
    match format {
        // Appended to: the bulk is copied by the kernel.
        Some(inject::Format::Elf) => crate::publish::write_executable(out, |file| {
            inject_elf_file(base, &blob_bytes, file, None, inject::elf::Options::default(), None, crate::fsutil::preallocate).map(drop).with_context(failed)
        }),
        Some(inject::Format::MachO) => {
            let identifier = out.file_name().unwrap_or("app");
            // Copied by the kernel, then unsigned, injected and signed where it lies.
            crate::publish::write_executable(out, |file| {
                let len = copy_unsigned_macho(base, file)?;
                inject_macho_in_place(file, len, &blob_bytes).with_context(failed)?;
                sign_file(file, sign, identifier, env)
            })
        }
        Some(inject::Format::Pe) => inject_pe_file(base, &blob_bytes, out, sign, resources, env).with_context(failed),
        None => crate::error::fail!(NotNode, "{base} is not an executable sea-build can inject into (ELF, Mach-O or PE)"),
    }
}

/// Copies the thin Mach-O file `base` into `file` (by the kernel) and removes its signature
/// there; returns the unsigned image's length.
///
/// A universal file (rare: node ships thin binaries) is rebuilt in memory at each of these
/// steps instead.
pub(crate) fn copy_unsigned_macho(base: &Utf8Path, file: &mut std::fs::File) -> Result<u64> {
    use std::io::Seek;
    let mut source = std::fs::File::open(base).with_context(|| format!("could not open {base}"))?;
    file.set_len(0).and_then(|()| file.rewind()).context("could not reset the output file")?;
    crate::fsutil::preallocate(file, source.metadata().map_or(0, |metadata| metadata.len()));
    std::io::copy(&mut source, file).with_context(|| format!("could not copy {base}"))?;
    drop(source);
    let failed = || format!("could not remove the signature of {base}");
    let mut map = crate::fsutil::map_writable(file)?;
    if macho::is_fat(&map) {
        let universal = macho::unsign::unsign(&map).with_context(failed)?;
        drop(map);
        return rewrite(file, &universal);
    }
    let len = macho::unsign::unsign_slice(&mut map).with_context(failed)?;
    drop(map);
    file.set_len(len).context("could not cut the unsigned image")?;
    Ok(len)
}

/// Replaces the contents of `file` with `bytes`; returns their length.
fn rewrite(file: &std::fs::File, bytes: &[u8]) -> Result<u64> {
    crate::fsutil::overwrite(file, bytes).context("could not write the image")?;
    Ok(bytes.len() as u64)
}

/// Injects `blob` into the unsigned thin Mach-O image of `len` bytes in `file`, where it
/// lies: the file grows to the injected length and only the moved and new parts are written.
pub(crate) fn inject_macho_in_place(file: &std::fs::File, len: u64, blob: &[u8]) -> Result<()> {
    let map = crate::fsutil::map_readonly(file)?;
    if macho::is_fat(&map) {
        let injected = inject::macho::inject_to_vec(&map, blob)?;
        drop(map);
        return rewrite(file, &injected).map(drop);
    }
    let (splice, summary) = inject::macho::plan(&map, blob)?;
    drop(map);
    file.set_len(summary.len).context("could not extend the image for the blob")?;
    let mut map = crate::fsutil::map_writable(file)?;
    splice.apply_in_place(&mut map, len, blob)
}

/// Signs the unsigned thin Mach-O image in `file` as `mode` says, with `identifier`;
/// identities from `env`. Without the `macos` feature only `none` works.
fn sign_file(file: &std::fs::File, mode: SignMode, identifier: &str, env: &Env) -> Result<()> {
    if mode == SignMode::None {
        return Ok(());
    }
    #[cfg(feature = "macos")]
    {
        use crate::sign;
        let identity = match mode {
            SignMode::Identity => Some(sign::load_identity(env, &sign::undeclared(&sign::IdentityVariables::MACOS), None)?),
            _ => None,
        };
        sign_macho_file(file, &sign::Signing { identifier, identity: identity.as_ref(), signing_time: sign::signing_time(env)? })
    }
    #[cfg(not(feature = "macos"))]
    {
        let _ = (file, identifier, env);
        crate::features::Feature::Macos.require(&format!("signing a Mach-O file ({mode})"))
    }
}

/// Signs the unsigned thin Mach-O image in `file`, one of our own temporary files, where it
/// lies: the signature's room is reserved (the header rewritten, the file extended), the
/// signature is computed over a map of the file and written into the room. The image is
/// never copied into memory; the result is the bytes [`crate::sign::sign`] gives.
#[cfg(feature = "macos")]
pub(crate) fn sign_macho_file(file: &std::fs::File, signing: &crate::sign::Signing<'_>) -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let map = crate::fsutil::map_readonly(file)?;
    if macho::is_fat(&map) {
        let signed = crate::sign::sign(&map, signing)?;
        drop(map);
        return rewrite(file, &signed).map(drop);
    }
    let room = macho::signature::reserve(&map, crate::sign::signature_len(&map, signing)?)?;
    drop(map);
    let mut out = file;
    out.seek(SeekFrom::Start(0)).and_then(|_| out.write_all(&room.header)).context("could not write the signed image's header")?;
    file.set_len(room.file_len).context("could not extend the image for its signature")?;
    let map = crate::fsutil::map_readonly(file)?;
    let signature = crate::sign::signature_for(&map, signing)?;
    drop(map);
    out.seek(SeekFrom::Start(room.offset)).and_then(|_| out.write_all(&signature)).context("could not write the signature")?;
    Ok(())
}

/// Signs a Mach-O image as `mode` says, with `identifier`; identities from `env`. Without
/// the `macos` feature only `none` works.
fn sign_image(image: Vec<u8>, mode: SignMode, identifier: &str, env: &Env) -> Result<Vec<u8>> {
    if mode == SignMode::None {
        return Ok(image);
    }
    #[cfg(feature = "macos")]
    {
        use crate::sign;
        let identity = match mode {
            SignMode::Identity => Some(sign::load_identity(env, &sign::undeclared(&sign::IdentityVariables::MACOS), None)?),
            _ => None,
        };
        sign::sign(&image, &sign::Signing { identifier, identity: identity.as_ref(), signing_time: sign::signing_time(env)? })
    }
    #[cfg(not(feature = "macos"))]
    {
        let _ = (identifier, env);
        crate::features::Feature::Macos.require(&format!("signing a Mach-O file ({mode})")).map(|()| image)
    }
}

/// Relativises the Mach-O file `input` against `prefix` (see [`macho::relativise`]) and
/// writes it to `out` atomically (`out` may be `input`): a signature is removed first and
/// the result signed with `sign` (default: ad-hoc when `input` was signed, unsigned when it
/// was not; an identity comes from `SEA_BUILD_SIGN_P12` (or `SEA_BUILD_SIGN_KEY` and `_CERT`) in `env`,
/// the signing time from `SOURCE_DATE_EPOCH`). Returns a one-line summary.
///
/// ```no_run
/// use camino::Utf8Path;
/// let env = sea_build::Env::from_process();
/// let path = Utf8Path::new("target/aarch64-apple-darwin/release/app");
/// sea_build::commands::relativise_file(path, "/home/me/checkout/", path, None, &env)?;
/// # anyhow::Ok(())
/// ```
pub fn relativise_file(input: &Utf8Path, prefix: &str, out: &Utf8Path, sign: Option<SignMode>, env: &Env) -> crate::Result<String> {
    relativise_file_inner(input, prefix, out, sign, env).map_err(crate::Error::from)
}

// The body of `relativise_file`: anyhow's error inside the crate, marked with kinds where they are known.
fn relativise_file_inner(input: &Utf8Path, prefix: &str, out: &Utf8Path, sign: Option<SignMode>, env: &Env) -> Result<String> {
    let mut file = std::fs::File::open(input).with_context(|| format!("could not open {input}"))?;
    // An unsigned image that stays unsigned is edited where it lies, and the bytes the edit
    // leaves alone (most of the file) are hashed for its new UUID on a second thread while
    // the kernel copies them; the header decides which those are.
    let head = crate::fsutil::read_head(&mut file, input, 64 << 10)?;
    let unchanged = macho::relativise::unchanged_span(&head).filter(|_| matches!(sign, None | Some(SignMode::None)));
    std::thread::scope(|scope| {
        let ahead =
            unchanged.map(|span| HashedAhead { span: span.clone(), digests: scope.spawn(move || crate::fsutil::chunk_digests_within(input, span, macho::uuid::CHUNK, macho::uuid::chunk_digest)) });
        relativise_copy(file, input, prefix, out, sign, env, ahead)
    })
}

/// The UUID chunks of the bytes relativising leaves alone, being hashed from the input on
/// another thread (see `relativise_file_inner`).
struct HashedAhead<'scope> {
    span: std::ops::Range<u64>,
    digests: std::thread::ScopedJoinHandle<'scope, std::io::Result<Vec<Option<[u8; 32]>>>>,
}

// Copies `file` (the user's `input`) to `out`, relativised and signed as asked.
fn relativise_copy(mut file: std::fs::File, input: &Utf8Path, prefix: &str, out: &Utf8Path, sign: Option<SignMode>, env: &Env, mut ahead: Option<HashedAhead<'_>>) -> Result<String> {
    let mut options = macho::relativise::RelativiseOptions::default();
    let mut result = None;
    // `input` is the user's file, so it is never mapped (a file truncated under a map faults
    // the process): the kernel copies it, and the copy is mapped. Unsigned files staying so
    // have only the pages that change (symbols, strings, header) rewritten through the map;
    // unsigning and signing rewrite the whole image, in memory.
    crate::publish::write_executable(out, |copy| {
        crate::fsutil::preallocate(copy, file.metadata().map_or(0, |metadata| metadata.len()));
        std::io::copy(&mut file, copy).with_context(|| format!("could not copy {input}"))?;
        // SAFETY: the map is of our own unpublished temporary file, which nothing else
        // writes or truncates while it is mapped.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&*copy) }.with_context(|| format!("could not map the copy of {input}"))?;
        if let Some(ahead) = &ahead {
            // The edit writes most pages from the symbol table on.
            crate::fsutil::prefault_for_writing(&map, ahead.span.end);
        }
        let was_signed = macho::unsign::is_signed(&map).with_context(|| format!("{input} is not a Mach-O file sea-build can relativise"))?;
        let mode = sign.unwrap_or(if was_signed { SignMode::AdHoc } else { SignMode::None });
        let summary = if was_signed || mode != SignMode::None {
            let mut image = macho::unsign::unsign(&map).with_context(|| format!("could not remove the signature of {input}"))?;
            drop(map);
            let summary = macho::relativise::relativise_in_place(&mut image, prefix, &options).with_context(|| format!("could not relativise {input}"))?;
            let bytes = sign_image(image, mode, out.file_name().unwrap_or("a.out"), env)?;
            crate::fsutil::overwrite(copy, &bytes).with_context(|| format!("could not write {out}"))?;
            summary
        } else {
            // The UUID comes last, over the finished bytes and the chunks hashed meanwhile.
            options.recompute_uuid = ahead.is_none();
            let mut done = macho::relativise::relativise_slice(&mut map, prefix, &options).with_context(|| format!("could not relativise {input}"))?;
            if let Some(ahead) = ahead.take() {
                let image = &mut map[..done.len as usize];
                let known = ahead.digests.join().map_err(|_| anyhow::anyhow!("internal error: hashing {input} failed"))?.with_context(|| format!("could not read {input}"))?;
                let summary = done.images.first_mut().context("internal error: a thin image gave no summary")?;
                summary.uuid = macho::uuid::recompute_known(image, &known).with_context(|| format!("could not recompute the UUID of {input}"))?;
            }
            drop(map);
            copy.set_len(done.len).context("could not cut the relativised copy")?;
            done
        };
        result = Some((summary, mode));
        Ok(())
    })?;
    let (summary, mode) = result.context("internal error: relativising produced no summary")?;
    let rewritten: u64 = summary.images.iter().map(|image| image.paths_rewritten).sum();
    let zeroed: u64 = summary.images.iter().map(|image| image.timestamps_zeroed).sum();
    Ok(format!("{out}: {rewritten} paths relativised, {zeroed} timestamps zeroed, {} image(s), signed {mode}", summary.images.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny ELF executable carrying the unset fuse, and where its `'0'` lies.
    fn base_with_fuse() -> (Vec<u8>, u64) {
        let mut image = crate::elf::tiny_elf64(object::Endianness::Little);
        let fuse = format!("{}:0", inject::fuse::FUSE_SENTINEL);
        image[0x80..0x80 + fuse.len()].copy_from_slice(fuse.as_bytes());
        (image, 0x80 + fuse.len() as u64 - 1)
    }

    /// Every way an output file gets its blocks, and both ELF paths (a verified cache entry, a
    /// user's file), give the bytes the in-memory injector gives: a file system without
    /// preallocation, one whose preallocation grows the file (as `fallocate` mode 0 does), and
    /// ours, which never changes its length.
    #[test]
    fn elf_output_does_not_depend_on_preallocation_or_path() {
        let dir = tempfile::tempdir().unwrap();
        let base = camino::Utf8Path::from_path(dir.path()).unwrap().join("node");
        let (image, fuse_offset) = base_with_fuse();
        std::fs::write(&base, &image).unwrap();
        let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let expected = inject::elf::inject_to_vec(&image, &blob).unwrap();
        let growing: fn(&std::fs::File, u64) = |file, len| file.set_len(len).unwrap();
        let without: fn(&std::fs::File, u64) = |_, _| {};
        for (name, preallocate) in [("hint", crate::fsutil::preallocate as fn(&std::fs::File, u64)), ("none", without), ("growing", growing)] {
            for known in [None, Some(fuse_offset)] {
                let mut out = tempfile::tempfile_in(dir.path()).unwrap();
                let mut sha256 = crate::digest::Sha256::new();
                inject_elf_file(&base, &blob, &mut out, known, inject::elf::Options::default(), Some(&mut sha256), preallocate).unwrap();
                let mut written = Vec::new();
                std::io::Seek::rewind(&mut out).and_then(|()| std::io::Read::read_to_end(&mut out, &mut written)).unwrap();
                assert!(written == expected, "preallocation {name}, cache path {}: {} bytes, expected {}", known.is_some(), written.len(), expected.len());
                assert_eq!(sha256.finish_hex(), crate::digest::sha256_hex(&expected), "preallocation {name}, cache path {}", known.is_some());
            }
        }
    }
}
