//! SHA-256 digests as lowercase hex, the form `sea.lock`, manifests and SHASUMS256.txt use.
//!
//! The hashing is ring's, whose core is assembly: it runs at the same speed in a build
//! script's unoptimised build as in a release build (0.1 s for a 150 MB node binary, where a
//! pure-Rust SHA-256 built without optimisation takes 5 s).

use std::io::Read;

use anyhow::{Context, Result};
use camino::Utf8Path;

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

/// A SHA-256 computed piece by piece.
///
/// ```
/// use sea_build::digest::Sha256;
/// let mut hasher = Sha256::new();
/// hasher.update(b"ab");
/// hasher.update(b"c");
/// assert_eq!(hasher.finish_hex(), sea_build::digest::sha256_hex(b"abc"));
/// ```
#[derive(Clone)]
pub struct Sha256(ring::digest::Context);

impl Sha256 {
    /// A hasher that has seen nothing yet.
    pub fn new() -> Sha256 {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// Hashes `bytes` after everything before.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The 32-byte digest of everything hashed.
    ///
    /// ```
    /// assert_eq!(sea_build::digest::Sha256::new().finish()[0], 0xe3);
    /// ```
    pub fn finish(self) -> [u8; 32] {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(self.0.finish().as_ref());
        digest
    }

    /// The digest of everything hashed, as hex.
    pub fn finish_hex(self) -> String {
        hex(&self.finish())
    }
}

impl Default for Sha256 {
    fn default() -> Sha256 {
        Sha256::new()
    }
}

/// A hasher is a sink: anything that writes (a splice, a copy) can hash what it writes.
///
/// ```
/// use std::io::Write;
/// let mut hasher = sea_build::digest::Sha256::new();
/// hasher.write_all(b"abc")?;
/// assert_eq!(hasher.finish_hex(), sea_build::digest::sha256_hex(b"abc"));
/// # std::io::Result::Ok(())
/// ```
impl std::io::Write for Sha256 {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The 32-byte SHA-256 of `bytes`.
///
/// ```
/// assert_eq!(sea_build::digest::sha256(b"")[..4], [0xe3, 0xb0, 0xc4, 0x42]);
/// ```
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    hasher.finish()
}

/// The SHA-256 of `bytes`, as hex.
///
/// ```
/// assert_eq!(&sea_build::digest::sha256_hex(b"")[..8], "e3b0c442");
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// The SHA-256 of everything `reader` yields, as hex.
///
/// ```
/// assert_eq!(sea_build::digest::sha256_reader(&b"abc"[..])?, sea_build::digest::sha256_hex(b"abc"));
/// # std::io::Result::Ok(())
/// ```
pub fn sha256_reader(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(hasher.finish_hex()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // FIPS 180-2 examples: one block, two blocks, and a million `a`s fed piecewise.
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        let mut hasher = Sha256::new();
        for _ in 0..1000 {
            hasher.update(&[b'a'; 1000]);
        }
        assert_eq!(hasher.finish_hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }
}
