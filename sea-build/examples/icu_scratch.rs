fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1])?;
    let locales: Vec<String> = args[3..].to_vec();
    let (range, trimmed) = sea_build::icu::trim_binary(&bytes, &locales)?;
    eprintln!("package {:?} ({} bytes), used {}, removed {}, locales {}", range, range.len(), trimmed.used, trimmed.removed_items, trimmed.locales.join(" "));
    let mut out = bytes.clone();
    out[range.clone()].copy_from_slice(&trimmed.bytes);
    std::fs::write(&args[2], &out)?;
    std::fs::write(format!("{}.dat", args[2]), &trimmed.bytes[..trimmed.used])?;
    std::fs::write(format!("{}.orig.dat", args[2]), &bytes[range])?;
    Ok(())
}
