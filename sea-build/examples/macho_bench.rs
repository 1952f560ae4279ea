//! Times sea-build's Mach-O transformations on a file, phase by phase, for comparison with
//! `cp` (build with `--release`):
//!
//! ```text
//! cargo run --release -p sea-build --example macho_bench -- inject IMAGE BLOB OUT
//! cargo run --release -p sea-build --example macho_bench -- relativise IMAGE PREFIX OUT
//! cargo run --release -p sea-build --example macho_bench -- unsign IMAGE OUT
//! cargo run --release -p sea-build --example macho_bench -- uuid IMAGE
//! ```
//!
//! `inject` streams from the input in memory to a buffered file; `relativise` works in
//! place on the input's buffer; `uuid` times the LC_UUID hash alone. Output is not synced,
//! like `cp`. Large fixtures come from
//! `cargo run -p sea-build-tests --bin macho-fixture -- DIR SCALE`.

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sea_build::inject::macho as inject;
use sea_build::macho::relativise::{RelativiseOptions, relativise_in_place};
use sea_build::macho::unsign::unsign;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let start = Instant::now();
    let lap = |what: &str, since: Instant| eprintln!("{what:>12}: {:.3} s", since.elapsed().as_secs_f64());
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["inject", image, blob, out] => {
            let t = Instant::now();
            let image = std::fs::read(image).with_context(|| format!("cannot read {image}"))?;
            let blob = std::fs::read(blob).with_context(|| format!("cannot read {blob}"))?;
            lap("read", t);
            let t = Instant::now();
            let mut writer = BufWriter::with_capacity(1 << 20, File::create(out)?);
            let summary = inject::inject(&image, &blob, &mut writer)?;
            writer.into_inner().map_err(|e| e.into_error())?;
            lap("inject+write", t);
            eprintln!("{summary:?}");
        }
        ["relativise", image, prefix, out] => {
            let t = Instant::now();
            let mut data = std::fs::read(image).with_context(|| format!("cannot read {image}"))?;
            lap("read", t);
            let t = Instant::now();
            let summary = relativise_in_place(&mut data, prefix, &RelativiseOptions::default())?;
            lap("relativise", t);
            let t = Instant::now();
            std::fs::write(out, &data)?;
            lap("write", t);
            eprintln!("{summary:?}");
        }
        ["uuid", image] => {
            let t = Instant::now();
            let mut data = std::fs::read(image).with_context(|| format!("cannot read {image}"))?;
            lap("read", t);
            let t = Instant::now();
            sea_build::macho::uuid::recompute_all(&mut data)?;
            lap("uuid", t);
        }
        ["unsign", image, out] => {
            let t = Instant::now();
            let data = std::fs::read(image).with_context(|| format!("cannot read {image}"))?;
            lap("read", t);
            let t = Instant::now();
            let unsigned = unsign(&data)?;
            lap("unsign", t);
            let t = Instant::now();
            std::fs::write(out, unsigned)?;
            lap("write", t);
        }
        _ => bail!("usage: macho_bench inject IMAGE BLOB OUT | relativise IMAGE PREFIX OUT | unsign IMAGE OUT | uuid IMAGE"),
    }
    lap("total", start);
    Ok(())
}
