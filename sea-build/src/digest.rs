//! SHA-256 digests as lowercase hex, the form `sea.lock`, manifests and SHASUMS256.txt use.

use std::io::Read;

use anyhow::{Context, Result};
use camino::Utf8Path;
use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
///
/// ```
/// assert_eq!(sea_build::digest::hex(&[0x00, 0xab]), "00ab");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 15)] as char);
    }
    text
}

/// The SHA-256 of `bytes`, as hex.
///
/// ```
/// assert_eq!(&sea_build::digest::sha256_hex(b"")[..8], "e3b0c442");
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of everything `reader` yields, as hex.
pub fn sha256_reader(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(hex(&hasher.finalize())),
            Ok(read) => hasher.update(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// The SHA-256 of the file at `path`, as hex.
///
/// ```no_run
/// let digest = sea_build::digest::sha256_file("target/sea/x86_64-unknown-linux-gnu/hello".into())?;
/// # anyhow::Ok(())
/// ```
pub fn sha256_file(path: &Utf8Path) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("could not open {path} to hash it"))?;
    sha256_reader(file).with_context(|| format!("could not read {path} to hash it"))
}
