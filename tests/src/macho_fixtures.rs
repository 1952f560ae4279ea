//! Real Mach-O executables, built on Linux with Debian's clang, lld and llvm (no Apple SDK).
//!
//! A text stub `libSystem.tbd` stands in for the SDK; the C sources declare what they use.
//! Every source is compiled with `-g`, so the linker writes debug-map stabs (N_SO, N_OSO with
//! the object's absolute path and mtime, N_FUN) like Xcode builds have. The sources embed the
//! node SEA fuse, so the executables are injectable.
//!
//! Everything runs in a directory the caller chooses, with that directory as the working
//! directory and relative file names, like a build in a checkout: two directories give two
//! builds that differ exactly in their paths. A missing tool is an error naming the Debian
//! packages, never a silent skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail, ensure};

/// The fuse as it sits in every node binary with SEA support, unset.
pub const FUSE: &str = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:0";

/// The Debian packages that provide every tool used here.
pub const INSTALL_HINT: &str = "apt-get install clang lld llvm";

/// The Debian packages that provide a linker and tools for chained fixups (LLVM >= 16).
pub const CHAINED_FIXUPS_HINT: &str = "apt-get install lld-19 llvm-19";

/// The architectures of the fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Apple silicon.
    Arm64,
    /// Intel.
    X86_64,
}

impl Arch {
    /// The name `ld64.lld -arch` and `llvm-lipo` use.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    fn triple(self, macos: &str) -> String {
        format!("{}-apple-macos{macos}", self.name())
    }

    fn return_instruction(self) -> &'static str {
        match self {
            Arch::Arm64 => "ret",
            Arch::X86_64 => "retq",
        }
    }
}

/// The tools, found on `PATH` under their plain or versioned (`-14`, `-19`, ...) names.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `clang`.
    pub clang: PathBuf,
    /// `ld64.lld` (Debian ships only versioned names such as `ld64.lld-14`).
    pub ld64: PathBuf,
    /// `llvm-ar`.
    pub ar: PathBuf,
    /// `llvm-lipo` (Debian ships only versioned names such as `llvm-lipo-14`).
    pub lipo: PathBuf,
    /// `llvm-objdump`.
    pub objdump: PathBuf,
    /// `llvm-nm`.
    pub nm: PathBuf,
    /// `llvm-dwarfdump`.
    pub dwarfdump: PathBuf,
    /// `dsymutil`.
    pub dsymutil: PathBuf,
}

impl Tools {
    /// Finds every tool, or fails naming the missing ones and the install command.
    pub fn find() -> Result<Self> {
        let mut missing = Vec::new();
        let mut find = |name: &str| match which(name) {
            Some(path) => path,
            None => {
                missing.push(name.to_owned());
                PathBuf::new()
            }
        };
        let tools = Tools {
            clang: find("clang"),
            ld64: find("ld64.lld"),
            ar: find("llvm-ar"),
            lipo: find("llvm-lipo"),
            objdump: find("llvm-objdump"),
            nm: find("llvm-nm"),
            dwarfdump: find("llvm-dwarfdump"),
            dsymutil: find("dsymutil"),
        };
        if !missing.is_empty() {
            bail!("the Mach-O fixtures need {} on PATH: {INSTALL_HINT}", missing.join(", "));
        }
        Ok(tools)
    }
}

impl Tools {
    /// Every installed `ld64.lld` (plain and versioned names), oldest first: linkers differ,
    /// e.g. lld 14 records object mtimes in N_OSO where lld 19 writes 0.
    pub fn linkers() -> Vec<(u32, PathBuf)> {
        let mut found: Vec<(u32, PathBuf)> = all_versions("ld64.lld").into_iter().filter_map(|path| Some((llvm_version(&path).ok()?, path))).collect();
        found.sort();
        found.dedup_by_key(|(version, _)| *version);
        found
    }
}

/// Every `name` and `name-N` on `PATH`.
fn all_versions(name: &str) -> Vec<PathBuf> {
    let Some(paths) = sea_build::Env::from_process().var_os("PATH") else {
        return Vec::new();
    };
    let versioned = format!("{name}-");
    std::env::split_paths(&paths)
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_str().is_some_and(|file| file == name || file.strip_prefix(&versioned).is_some_and(|v| v.parse::<u32>().is_ok())))
        .map(|entry| entry.path())
        .collect()
}

/// The newest `name-N` on `PATH` (Debian's versioned LLVM tools), or else plain `name`, so
/// the tools come from one LLVM release when several are installed.
fn which(name: &str) -> Option<PathBuf> {
    let paths = sea_build::Env::from_process().var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&paths).collect();
    let versioned = format!("{name}-");
    let newest = dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().into_string().ok()?;
            let version: u32 = file.strip_prefix(&versioned)?.parse().ok()?;
            Some((version, entry.path()))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, path)| path);
    newest.or_else(|| dirs.iter().map(|dir| dir.join(name)).find(|p| p.is_file()))
}

/// The major version of an LLVM tool, from its `--version` output.
pub fn llvm_version(tool: &Path) -> Result<u32> {
    let text = run(Command::new(tool).arg("--version"))?;
    text.split(|c: char| !c.is_ascii_digit() && c != '.')
        .find_map(|word| word.split('.').next()?.parse().ok().filter(|_| word.contains('.')))
        .with_context(|| format!("no version number in the output of {} --version: {text}", tool.display()))
}

/// Runs `command`, failing with its output when it does not succeed; returns stdout.
pub fn run(command: &mut Command) -> Result<String> {
    let output = command.output().with_context(|| format!("cannot run {command:?}: {INSTALL_HINT}"))?;
    ensure!(output.status.success(), "{command:?} failed ({}):\n{}{}", output.status, String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// How to build a fixture.
#[derive(Debug, Clone)]
pub struct Options {
    /// The target architecture.
    pub arch: Arch,
    /// Let the linker sign ad hoc (`-adhoc_codesign`) or not (`-no_adhoc_codesign`).
    pub linker_signed: bool,
    /// Link `helper.o` from an archive `libhelper.a`, so its N_OSO reads `libhelper.a(helper.o)`.
    pub archive: bool,
    /// `-headerpad`: free bytes after the load commands (lld's default is 32).
    pub headerpad: Option<u32>,
    /// Set this modification time on the object files (N_OSO records it).
    pub object_mtime: Option<SystemTime>,
    /// Build like a reproducible toolchain would: `-fdebug-compilation-dir=.`,
    /// `ZERO_AR_DATE=1` and `-oso_prefix .`.
    pub reproducible: bool,
    /// Name of the output, relative to the build directory.
    pub output: String,
    /// Give `helper.c` writable data (a counter and a pointer needing a rebase), which adds
    /// a `__DATA` segment.
    pub writable_data: bool,
    /// The linker to use instead of the newest `ld64.lld` (see [`Tools::linkers`]).
    pub linker: Option<PathBuf>,
    /// Target macOS 13 and link with `-fixup_chains` (`LC_DYLD_CHAINED_FIXUPS` instead of
    /// `LC_DYLD_INFO_ONLY`, as node >= 24 has); needs ld64.lld 16 or newer.
    pub chained_fixups: bool,
    /// Embed the release URL node binaries carry (`…/node-v<version>-headers.tar.gz`), which
    /// tells sea-build the node version of a binary that cannot run here.
    pub node_version: Option<String>,
    /// Add a constant array of this many bytes (in `__TEXT,__const`), for images larger than
    /// some chunking of the file (the UUID's hash reads 16 MiB chunks).
    pub filler_bytes: Option<usize>,
}

impl Options {
    /// Defaults for `arch`: not linker-signed, `helper.o` in an archive, 0x400 bytes of
    /// header padding (room to inject), output `app-<arch>`.
    pub fn new(arch: Arch) -> Self {
        Options {
            arch,
            linker_signed: false,
            archive: true,
            headerpad: Some(0x400),
            object_mtime: None,
            reproducible: false,
            output: format!("app-{}", arch.name()),
            writable_data: true,
            linker: None,
            chained_fixups: false,
            node_version: None,
            filler_bytes: None,
        }
    }
}

const LIBSYSTEM_TBD: &str = "--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/usr/lib/libSystem.B.dylib'
current-version: 1311
exports:
  - targets:     [ x86_64-macos, arm64-macos ]
    symbols:     [ _puts, _strlen, dyld_stub_binder ]
...
";

const MAIN_C: &str = r#"int puts(const char *);
unsigned long strlen(const char *);
const char *helper_greeting(void);
extern const char node_sea_fuse[];

int main(int argc, char **argv) {
    (void)argv;
    puts(helper_greeting());
    /* Use the fuse so it stays in the image. */
    return argc > 5 ? (int)strlen(node_sea_fuse) : 0;
}
"#;

fn fuse_c() -> String {
    format!("const char node_sea_fuse[] = \"{FUSE}\";\n")
}

const HELPER_C: &str = r#"static const char greeting[] = "hello from a Mach-O fixture";
const char *helper_greeting(void) { return greeting; }
"#;

const HELPER_WRITABLE_C: &str = r#"static const char greeting[] = "hello from a Mach-O fixture";
int helper_calls = 1;
const char *greeting_pointer = greeting;
const char *helper_greeting(void) { helper_calls++; return greeting_pointer; }
"#;

/// Writes the sources into `dir` (`libSystem.tbd`, `main.c`, `fuse.c`, `helper.c`, the
/// latter with writable data or not).
pub fn write_sources(dir: &Path, writable_data: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let helper = if writable_data { HELPER_WRITABLE_C } else { HELPER_C };
    for (name, text) in [("libSystem.tbd", LIBSYSTEM_TBD.to_owned()), ("main.c", MAIN_C.to_owned()), ("fuse.c", fuse_c()), ("helper.c", helper.to_owned())] {
        std::fs::write(dir.join(name), text).with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    Ok(())
}

/// Builds a fixture executable in `dir` (created if needed) and returns its path.
///
/// The sources are written to `dir`, compiled there with `-g -O1`, `helper.o` optionally
/// archived, and linked with `ld64.lld` into `dir/<options.output>`.
pub fn build(dir: &Path, options: &Options) -> Result<PathBuf> {
    let tools = Tools::find()?;
    write_sources(dir, options.writable_data)?;
    let mut extra = String::new();
    if let Some(version) = &options.node_version {
        extra += &format!("const char node_release_url[] = \"https://example.invalid/release/v{version}/node-v{version}-headers.tar.gz\";\n");
    }
    if let Some(bytes) = options.filler_bytes {
        // Non-zero bytes keep the array out of zero-fill sections (it takes file space), and
        // being spread unevenly they make every chunk of it differ from its neighbours.
        let marks: Vec<String> = (0..bytes).step_by(65_521).map(|at| format!("[{at}]={}", at % 251 + 1)).collect();
        extra += &format!("const unsigned char sea_test_filler[{bytes}] = {{{}}};\n", marks.join(","));
    }
    if !extra.is_empty() {
        let fuse = dir.join("fuse.c");
        let text = std::fs::read_to_string(&fuse).with_context(|| format!("cannot read {}", fuse.display()))? + &extra;
        std::fs::write(&fuse, text).with_context(|| format!("cannot write {}", fuse.display()))?;
    }
    let arch = options.arch;
    let suffix = arch.name();
    let macos = if options.chained_fixups {
        let version = llvm_version(options.linker.as_ref().unwrap_or(&tools.ld64))?;
        ensure!(
            version >= 16,
            "chained fixups need ld64.lld 16 or newer, found {version} ({}): \
             {CHAINED_FIXUPS_HINT}",
            tools.ld64.display()
        );
        "13.0"
    } else {
        "11.0"
    };
    let mut objects = Vec::new();
    for source in ["main", "fuse", "helper"] {
        let object = format!("{source}-{suffix}.o");
        let mut command = Command::new(&tools.clang);
        command.current_dir(dir).args(["-target", &arch.triple(macos), "-g", "-O1", "-c"]).arg(format!("{source}.c")).args(["-o", &object]);
        if options.reproducible {
            command.arg("-fdebug-compilation-dir=.");
        }
        if arch == Arch::X86_64 {
            // lld 14 copies x86_64 __eh_frame from the objects without relocating it, so its
            // bytes depend on the object layout, which depends on the length of the paths in
            // the DWARF: a linker artefact outside the symbol table. Without asynchronous
            // unwind tables there is no __eh_frame to copy.
            command.arg("-fno-asynchronous-unwind-tables");
        }
        run(&mut command)?;
        if let Some(mtime) = options.object_mtime {
            std::fs::File::options().write(true).open(dir.join(&object)).and_then(|file| file.set_modified(mtime)).with_context(|| format!("cannot set the mtime of {object}"))?;
        }
        objects.push(object);
    }
    let mut inputs = objects[..2].to_vec();
    if options.archive {
        let archive = format!("libhelper-{suffix}.a");
        let _ = std::fs::remove_file(dir.join(&archive));
        run(Command::new(&tools.ar).current_dir(dir).args(["rcs", &archive, &objects[2]]))?;
        inputs.push(archive);
    } else {
        inputs.push(objects[2].clone());
    }
    let mut command = Command::new(options.linker.as_ref().unwrap_or(&tools.ld64));
    command
        .current_dir(dir)
        .args(["-arch", suffix, "-platform_version", "macos", macos, macos])
        .arg(if options.linker_signed { "-adhoc_codesign" } else { "-no_adhoc_codesign" })
        .args(["-o", &options.output])
        .args(&inputs)
        .arg("libSystem.tbd");
    if let Some(pad) = options.headerpad {
        command.args(["-headerpad", &format!("{pad:x}")]);
    }
    if options.chained_fixups {
        command.arg("-fixup_chains");
    }
    if options.reproducible {
        command.env("ZERO_AR_DATE", "1").args(["-oso_prefix", "."]);
    } else {
        command.env_remove("ZERO_AR_DATE");
    }
    run(&mut command)?;
    Ok(dir.join(&options.output))
}

/// Joins thin executables into a universal file `dir/<output>` with `llvm-lipo -create`.
pub fn lipo(dir: &Path, thin: &[PathBuf], output: &str) -> Result<PathBuf> {
    let tools = Tools::find()?;
    let out = dir.join(output);
    run(Command::new(&tools.lipo).arg("-create").args(thin).arg("-output").arg(&out))?;
    Ok(out)
}

/// The full size of [`large_fixture`]: functions per generated file (100 files).
const LARGE_FUNCTIONS_PER_FILE: f64 = 16_700.0;
/// Generated assembly files in [`large_fixture`].
const LARGE_FILES: usize = 100;
/// Bytes of the data blob of [`large_fixture`] at full size.
const LARGE_BLOB: f64 = 474.0 * 1024.0 * 1024.0;

/// Generates and links a large arm64 executable in `dir`: at `scale` 1.0 about 750 MiB with
/// about 5 million symbols (100 assembly files of 16,700 functions each, assembled with
/// `-g`, so every function has a symbol and two N_FUN stabs, plus a 474 MiB data blob). It
/// is unsigned, holds the unset fuse and 0x1000 bytes of header padding, so it serves
/// relativising and injection benchmarks. Smaller scales shrink the functions and the blob
/// (at least one function per file). Takes about 25 s and 2.2 GB at full size.
pub fn large_fixture(dir: &Path, scale: f64) -> Result<PathBuf> {
    ensure!(scale > 0.0 && scale.is_finite(), "the scale must be positive, not {scale}");
    let tools = Tools::find()?;
    let arch = Arch::Arm64;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("libSystem.tbd"), LIBSYSTEM_TBD)?;
    let functions = ((LARGE_FUNCTIONS_PER_FILE * scale).round() as usize).max(1);
    let mut objects = Vec::new();
    for file in 0..LARGE_FILES {
        let mut text = String::with_capacity(functions * 120);
        text.push_str(".section __TEXT,__text,regular,pure_instructions\n");
        if file == 0 {
            text.push_str(".globl _main\n.p2align 2\n_main:\n");
            text.push_str(&format!("  {}\n", arch.return_instruction()));
        }
        for function in 0..functions {
            // Long names like C++/Rust mangling, so the string table is realistic (~50 bytes).
            let name = format!("_generated_module_{file:03}_function_number_{function:06}_impl");
            text.push_str(&format!(".globl {name}\n.p2align 2\n{name}:\n  {}\n", arch.return_instruction()));
        }
        if file == 0 {
            let blob = (LARGE_BLOB * scale).round() as u64;
            text.push_str(&format!(
                ".section __TEXT,__const\n.globl _node_sea_fuse\n_node_sea_fuse:\n  .asciz \"{FUSE}\"\n\
                 .section __DATA,__data\n.globl _large_blob\n_large_blob:\n  .space {blob}, 0x5a\n"
            ));
        }
        let source = format!("gen{file:03}.s");
        std::fs::write(dir.join(&source), text)?;
        let object = format!("gen{file:03}.o");
        run(Command::new(&tools.clang).current_dir(dir).args(["-target", &arch.triple("11.0"), "-g", "-c", &source, "-o", &object]))?;
        objects.push(object);
    }
    let output = "large-arm64";
    run(Command::new(&tools.ld64)
        .current_dir(dir)
        .args(["-arch", "arm64", "-platform_version", "macos", "11.0", "11.0"])
        .args(["-no_adhoc_codesign", "-headerpad", "1000", "-o", output])
        .args(&objects)
        .arg("libSystem.tbd"))?;
    Ok(dir.join(output))
}
