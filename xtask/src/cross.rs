//! The hosts developers build on, checked from Linux: sea-build (every feature) and this xtask
//! compile for Windows and for macOS on Intel and Apple silicon (`cargo xtask test` runs
//! [`check`]), and the xtask built for Windows runs under Wine (the `windows_host` test).
//!
//! Rust's standard library for those targets cannot be downloaded here, but its source can:
//! Debian's `rust-src` of the machine's own rustc version (trixie-backports keeps one per
//! release). [`toolchain`] lays out an overlay sysroot, the machine's rustc beside that
//! source, and cargo's `-Zbuild-std` (allowed on a stable toolchain by `RUSTC_BOOTSTRAP=1`)
//! builds the standard library from it.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{Shell, cmd};

/// The targets [`check`] checks: the hosts developers use besides Linux.
pub(crate) const HOST_TARGETS: &[&str] = &["x86_64-pc-windows-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin"];

/// Packages whose build scripts compile C against the target's C headers, which for macOS come
/// only with Apple's SDK (ring includes `TargetConditionals.h`; bzip2-sys and lzma-sys, through
/// apple-codesign's XAR reader, the C library's headers). On the darwin checks their build
/// scripts are replaced by empty overrides (`[target.<triple>.<links>]`): their Rust is checked,
/// their C is not.
const NEEDS_APPLE_SDK: &[&str] = &["ring", "bzip2-sys", "lzma-sys"];

/// The Debian suite whose `rust-src` versions follow Rust's releases and stay listed.
const RUST_SRC_SUITE: &str = "trixie-backports";

/// The machine's rustc in a sysroot of our own, whose standard library source is Debian's.
pub(crate) struct Toolchain {
    /// The rustc to give cargo as `RUSTC`: a copy of the machine's, whose sysroot is the overlay.
    pub rustc: Utf8PathBuf,
    /// The machine's cargo itself (not rustup's proxy, which would bring its own rustc back).
    pub cargo: Utf8PathBuf,
}

impl Toolchain {
    /// `cargo <args>` building the standard library from the overlay's source: the variables
    /// rustup's proxy set are dropped, so cargo uses this rustc and its sysroot (with the
    /// toolchain's `lib` on `LD_LIBRARY_PATH`, rustc would load the toolchain's own
    /// librustc_driver and take the toolchain's sysroot).
    pub(crate) fn cargo<'a>(&self, sh: &'a Shell, args: &[&str]) -> xshell::Cmd<'a> {
        let cargo = &self.cargo;
        let mut command = cmd!(sh, "{cargo} {args...}").env("RUSTC", &self.rustc).env("RUSTC_BOOTSTRAP", "1");
        for variable in ["LD_LIBRARY_PATH", "RUSTUP_TOOLCHAIN", "RUSTUP_HOME", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_RUSTC", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
            command = command.env_remove(variable);
        }
        command
    }
}

/// The overlay toolchain, made when missing (in `<sea-build cache>/rust-cross/<version>`):
/// Debian's `rust-src` for the machine's rustc version, downloaded and checked by apt-get
/// against Debian's signed index, unpacked, and the machine's rustc beside it.
pub(crate) fn toolchain(sh: &Shell) -> Result<Toolchain> {
    let version_text = cmd!(sh, "rustc -vV").quiet().read().context("could not run `rustc -vV`")?;
    let release = version_text.lines().find_map(|line| line.strip_prefix("release: ")).context("`rustc -vV` names no release")?.trim().to_owned();
    let host = version_text.lines().find_map(|line| line.strip_prefix("host: ")).context("`rustc -vV` names no host")?.trim().to_owned();
    let sysroot = Utf8PathBuf::from(cmd!(sh, "rustc --print sysroot").quiet().read()?.trim());
    let cache = sea_build::node::Cache::from_env(&sea_build::Env::from_process())?.root().join("rust-cross");
    let dir = cache.join(&release);
    let toolchain = Toolchain { rustc: dir.join("bin/rustc"), cargo: sysroot.join("bin/cargo") };
    let library = dir.join("lib/rustlib/src/rust/library");
    if library.join("Cargo.lock").is_file() && toolchain.rustc.is_file() {
        return Ok(toolchain);
    }
    let started = std::time::Instant::now();
    let partial = cache.join(format!("{release}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).with_context(|| format!("could not remove the half-made {partial}"))?;
    }
    std::fs::create_dir_all(partial.join("bin")).with_context(|| format!("could not create {partial}"))?;
    let source = rust_src(sh, &cache, &release, &partial)?;
    std::fs::create_dir_all(partial.join("lib/rustlib/src/rust")).context("could not lay out the overlay sysroot")?;
    std::fs::rename(&source, partial.join("lib/rustlib/src/rust/library")).with_context(|| format!("could not move {source} into the overlay"))?;
    std::fs::remove_dir_all(partial.join("deb")).context("could not remove the unpacked package")?;
    // rustc finds its sysroot from where librustc_driver is: that one is linked (or copied)
    // into the overlay; the rest of the machine's toolchain is referred to.
    std::fs::copy(sysroot.join("bin/rustc"), partial.join("bin/rustc")).context("could not copy rustc into the overlay")?;
    for entry in sysroot.join("lib").read_dir_utf8()? {
        let entry = entry?;
        let (from, to) = (entry.path(), partial.join("lib").join(entry.file_name()));
        if entry.file_name().starts_with("librustc_driver") {
            if std::fs::hard_link(from, &to).is_err() {
                std::fs::copy(from, &to).with_context(|| format!("could not copy {from} into the overlay"))?;
            }
        } else if entry.file_type()?.is_file() {
            crate::files::symlink(from, &to)?;
        }
    }
    crate::files::symlink(&sysroot.join("lib/rustlib").join(&host), &partial.join("lib/rustlib").join(&host))?;
    let rustc = partial.join("bin/rustc");
    let printed = cmd!(sh, "{rustc} --print sysroot").env_remove("LD_LIBRARY_PATH").quiet().read().context("the overlay's rustc does not run")?;
    if Utf8Path::new(printed.trim()) != partial {
        bail!("the overlay's rustc reports sysroot {}, not {partial}: it cannot build the standard library from Debian's source", printed.trim());
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("could not remove the incomplete {dir}"))?;
    }
    std::fs::rename(&partial, &dir).with_context(|| format!("could not move {partial} to {dir}"))?;
    eprintln!("setup: rustc {release} with Debian's rust-src in {dir} ({:.0} s)", started.elapsed().as_secs_f64());
    Ok(toolchain)
}

/// Downloads Debian's `rust-src` of `release` with apt-get (its own lists in `cache/apt`, so
/// the machine's apt configuration is untouched) and unpacks it into `into/deb`; returns its
/// `library` directory.
fn rust_src(sh: &Shell, cache: &Utf8Path, release: &str, into: &Utf8Path) -> Result<Utf8PathBuf> {
    let apt = cache.join("apt");
    for dir in ["lists/partial", "archives/partial"] {
        std::fs::create_dir_all(apt.join(dir)).with_context(|| format!("could not create {apt}/{dir}"))?;
    }
    let mirror = debian_mirror()?;
    let sources = apt.join("sources.list");
    std::fs::write(&sources, format!("deb {mirror} {RUST_SRC_SUITE} main\n")).with_context(|| format!("could not write {sources}"))?;
    let options = &[
        format!("-oDir::Etc::SourceList={sources}"),
        "-oDir::Etc::SourceParts=-".to_owned(),
        format!("-oDir::State::Lists={apt}/lists"),
        format!("-oDir::Cache={apt}"),
        "-oAcquire::Languages=none".to_owned(),
        "-oAPT::Sandbox::User=root".to_owned(),
    ];
    cmd!(sh, "apt-get -q {options...} update").quiet().ignore_stdout().run().with_context(|| format!("could not read the {RUST_SRC_SUITE} package lists from {mirror} (apt-get update, see above)"))?;
    let listed = cmd!(sh, "apt-cache {options...} madison rust-src").quiet().read()?;
    let prefix = format!("{release}+");
    let Some(version) = listed.lines().filter_map(|line| line.split('|').nth(1)).map(str::trim).find(|version| version.starts_with(&prefix)) else {
        bail!(
            "Debian's {RUST_SRC_SUITE} has no rust-src for rustc {release} (it lists {}): install a Rust release it has, or check the other hosts on a machine with their standard libraries",
            listed.lines().filter_map(|l| l.split('|').nth(1)).map(str::trim).collect::<Vec<_>>().join(", ")
        );
    };
    eprintln!("setup: downloading Debian's rust-src {version} (the standard library source of rustc {release})");
    let deb_dir = into.join("deb");
    std::fs::create_dir_all(&deb_dir)?;
    let package = format!("rust-src={version}");
    // apt-get download checks the file against the signed index before keeping it.
    let _in_deb_dir = sh.push_dir(&deb_dir);
    cmd!(sh, "apt-get -q {options...} download {package}").quiet().ignore_stdout().run().context("apt-get could not download rust-src (see above)")?;
    let deb = deb_dir.read_dir_utf8()?.filter_map(Result::ok).map(|entry| entry.path().to_owned()).find(|path| path.extension() == Some("deb")).context("apt-get download left no .deb")?;
    let unpacked = deb_dir.join("root");
    std::fs::create_dir_all(&unpacked)?;
    // Only the standard library's source, not the whole compiler's (a tenth of it).
    let member = format!("./usr/src/rustc-{release}/library");
    let script = r#"dpkg-deb --fsys-tarfile "$0" | tar -x -C "$1" "$2""#;
    cmd!(sh, "sh -c {script} {deb} {unpacked} {member}").quiet().run().with_context(|| format!("could not unpack {member} from {deb}"))?;
    let library = unpacked.join(format!("usr/src/rustc-{release}/library"));
    if !library.join("Cargo.lock").is_file() {
        bail!("{deb} holds no usr/src/rustc-{release}/library/Cargo.lock: it is not the rust-src layout this setup knows");
    }
    Ok(library)
}

/// The Debian archive this machine's apt uses (its first `URIs:` or `deb` line that is not the
/// security archive).
fn debian_mirror() -> Result<String> {
    let mut files = vec![Utf8PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = Utf8Path::new("/etc/apt/sources.list.d").read_dir_utf8() {
        let mut more: Vec<Utf8PathBuf> = dir.filter_map(Result::ok).map(|entry| entry.path().to_owned()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for line in text.lines().map(str::trim).filter(|line| !line.starts_with('#')) {
            let uri = if let Some(uris) = line.strip_prefix("URIs:") {
                uris.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|word| !word.starts_with('['))
            } else {
                None
            };
            if let Some(uri) = uri.filter(|uri| uri.contains("debian") && !uri.contains("security")) {
                return Ok(uri.trim_end_matches('/').to_owned());
            }
        }
    }
    bail!("found no Debian archive in /etc/apt/sources.list(.d): the cross checks fetch Debian's rust-src with apt-get, on a Debian machine")
}

/// `cargo check` of sea-build (every feature) and this xtask for each of `targets` (of
/// [`HOST_TARGETS`]), in `target/cross-check`.
pub(crate) fn check(sh: &Shell, root: &Utf8Path, targets: &[&str]) -> Result<()> {
    let toolchain = toolchain(sh)?;
    let target_dir = root.join("target/cross-check");
    for target in targets {
        let started = std::time::Instant::now();
        let mut args: Vec<String> = ["check", "--locked", "-Zbuild-std", "--target", target, "--package", "sea-build", "--all-features", "--package", "xtask"].map(str::to_owned).to_vec();
        if target.contains("-apple-") {
            for links in links_of(sh, target, NEEDS_APPLE_SDK)? {
                args.extend(["--config".to_owned(), format!("target.{target}.{links}.rustc-link-lib=[]")]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        toolchain.cargo(sh, &args).env("CARGO_TARGET_DIR", &target_dir).run().with_context(|| format!("sea-build or the xtask does not compile for {target}"))?;
        let unchecked = if target.contains("-apple-") { format!(" (all but the C of {}, which needs Apple's SDK)", NEEDS_APPLE_SDK.join(", ")) } else { String::new() };
        eprintln!("cross check: {target} compiles{unchecked}, {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Builds the xtask and cargo's stand-in for the Windows-host test (`recorded-cargo`) for
/// x86_64-pc-windows-gnu, linked by mingw-w64; returns the directory holding both `.exe`s.
pub(crate) fn build_windows_host(sh: &Shell, root: &Utf8Path) -> Result<Utf8PathBuf> {
    let toolchain = toolchain(sh)?;
    let target_dir = root.join("target/cross-check");
    let target = "x86_64-pc-windows-gnu";
    let started = std::time::Instant::now();
    let args = ["build", "--locked", "-Zbuild-std", "--target", target, "--package", "xtask", "--bin", "xtask", "--package", "sea-build-tests", "--bin", "recorded-cargo"];
    toolchain
        .cargo(sh, &args)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", "x86_64-w64-mingw32-gcc")
        .run()
        .context("could not build the xtask for Windows hosts")?;
    let dir = target_dir.join(target).join("debug");
    eprintln!("windows host: xtask.exe and recorded-cargo.exe in {dir}, {:.0} s", started.elapsed().as_secs_f64());
    Ok(dir)
}

/// The `links` names of `packages` in the workspace's graph for `target` (what a build-script
/// override is keyed by); each must be there, so a dependency change that drops one is seen.
fn links_of(sh: &Shell, target: &str, packages: &[&str]) -> Result<Vec<String>> {
    let metadata = cmd!(sh, "cargo metadata --locked --format-version 1 --filter-platform {target}").quiet().read()?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata).context("`cargo metadata` printed no JSON")?;
    let listed = metadata["packages"].as_array().context("`cargo metadata` lists no packages")?;
    packages
        .iter()
        .map(|name| {
            listed
                .iter()
                .find(|package| package["name"] == *name)
                .and_then(|package| package["links"].as_str())
                .map(str::to_owned)
                .with_context(|| format!("{name} (with a `links` key) is no longer in the dependency graph for {target}: update NEEDS_APPLE_SDK in xtask/src/cross.rs"))
        })
        .collect()
}
