//! A trained code cache (`code-cache = "trained"` with `train-args`): a V8 code cache that also
//! holds the functions a representative run compiled, not only those V8 compiles eagerly.
//!
//! Node's plain SEA cache is what V8 produces right after compiling `main` as a function of the
//! five CommonJS parameters (`exports, require, module, __filename, __dirname`): every function
//! V8 compiles lazily later is compiled again at every start. The trained cache comes from the
//! same compile path, run further: the target's own node compiles `main` exactly so
//! (`vm.compileFunction` with those parameters, the same V8 flags as the artifact), runs it
//! with `train-args`, and when the process exits compiles the same source again, which V8
//! serves from its in-process compilation cache with the functions the run compiled; V8
//! serializes that function (`CreateCodeCacheForFunction`, as for the plain cache). The result
//! replaces the plain cache in node's own blob, so everything else in the blob stays node's.
//!
//! V8 accepts it on the same terms as the plain one (version, flag and source hashes), which
//! the build checks by running the artifact; what it gains is measured by `cargo xtask bench`.

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::blob::{self, BlobLayout};
use crate::run::{Invocation, Runner};

/// The file the training script is written to, in the staging directory.
pub const TRAINER: &str = ".sea-build-train.js";

/// The file the trained cache is written to, in the staging directory.
const TRAINED: &str = ".sea-build-trained.cache";

/// How long a training run may take.
pub const TRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The training script: `node TRAINER <code path> <main file> <output> <train args...>`.
const TRAINER_SOURCE: &str = r#"'use strict';
// sea-build's trainer: compiles main as node compiles a SEA main, runs it with the training
// arguments, and on exit writes the cache of the same source compiled again (served from V8's
// in-process cache, with the functions the run compiled).
const vm = require('node:vm');
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const [codePath, mainFile, output, ...trainArgs] = process.argv.slice(2);
const source = fs.readFileSync(mainFile, 'utf8');
const params = ['exports', 'require', 'module', '__filename', '__dirname'];
const main = vm.compileFunction(source, params, { filename: codePath });
const file = path.resolve(mainFile);
const mod = new Module(file, null);
mod.filename = file;
process.argv = [process.argv[0], file, ...trainArgs];
process.on('exit', () => {
  const again = vm.compileFunction(source, params, { filename: codePath, produceCachedData: true });
  fs.writeFileSync(output, again.cachedData);
});
main.call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
"#;

/// `blob` (in `layout`) with its code cache replaced by `cache`; everything else as it was.
///
/// ```
/// use sea_build::blob::{self, BlobLayout, SeaBlob, SeaFlags};
/// let plain = SeaBlob {
///     flags: SeaFlags::DISABLE_EXPERIMENTAL_SEA_WARNING | SeaFlags::USE_CODE_CACHE,
///     exec_argv_extension: None,
///     main_format: None,
///     code_path: "main.js",
///     main_source: b"1",
///     code_cache: Some(b"plain"),
///     assets: Vec::new(),
///     exec_argv: Vec::new(),
/// };
/// let bytes = blob::write(&plain, BlobLayout::V20_12)?;
/// let trained = sea_build::train::with_code_cache(&bytes, BlobLayout::V20_12, b"trained")?;
/// assert_eq!(blob::parse(&trained, BlobLayout::V20_12)?.code_cache, Some(&b"trained"[..]));
/// # anyhow::Ok(())
/// ```
pub fn with_code_cache(blob: &[u8], layout: BlobLayout, cache: &[u8]) -> Result<Vec<u8>> {
    let mut parsed = blob::parse(blob, layout)?;
    if parsed.code_cache.is_none() {
        bail!("the blob has no code cache to replace with a trained one");
    }
    parsed.code_cache = Some(cache);
    blob::write(&parsed, layout)
}

/// Trains a cache for the blob `blob` (in `layout`) that `generator` (the target's node, run
/// by `runner`) just wrote in `staging` from the staged `main` (`code_path` in the blob): runs
/// the trainer with `v8_flags` (the artifact's) and `train_args` in `package_dir`, and returns
/// the blob with the trained cache in place of the plain one.
#[allow(clippy::too_many_arguments)]
pub fn train(
    blob: &[u8],
    layout: BlobLayout,
    generator: &Utf8Path,
    runner: &dyn Runner,
    staging: &Utf8Path,
    main: &Utf8Path,
    v8_flags: &[String],
    train_args: &[String],
    package_dir: &Utf8Path,
) -> Result<Vec<u8>> {
    let parsed = blob::parse(blob, layout)?;
    let code_path = parsed.code_path.to_owned();
    let trainer = staging.join(TRAINER);
    std::fs::write(&trainer, TRAINER_SOURCE).with_context(|| format!("could not write {trainer}"))?;
    let output = staging.join(TRAINED);
    let mut args = vec!["--predictable".to_owned()];
    args.extend(v8_flags.iter().cloned());
    args.extend([trainer.to_string(), code_path, staging.join(main).to_string(), output.to_string()]);
    args.extend(train_args.iter().cloned());
    let mut invocation = Invocation::new(generator, args);
    // The training arguments name the package's files as the package sees them.
    invocation.cwd = Some(package_dir.to_owned());
    invocation.timeout = TRAIN_TIMEOUT;
    invocation.fixed_addresses = true;
    let run = runner.run(&invocation)?;
    if let Some(failure) = run.failure(TRAIN_TIMEOUT) {
        bail!(
            "training the code cache failed: main, run with `train-args` ({}) in {package_dir}, failed ({failure}); its standard error:\n{}\n`train-args` must make the program do representative work and exit 0",
            train_args.join(" "),
            run.stderr_text().trim()
        );
    }
    let cache = std::fs::read(&output).with_context(|| format!("the training run exited 0 but wrote no cache at {output}"))?;
    with_code_cache(blob, layout, &cache)
}
