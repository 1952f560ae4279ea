//! Helpers shared by the fuzz targets: how a target splits its input.
//!
//! The injection targets read a two-byte header before the image: the blob's length, so the
//! fuzzer explores blob sizes around page boundaries as well as the image itself. Seeds carry
//! the same header (see `fuzz/README.md` and the `fuzz-seeds` generator).

/// The longest blob an injection target uses: a little over one 16 KiB arm64 page, so that
/// shifts of one and two pages are reachable.
pub const MAX_BLOB: usize = 0x4000 + 0x100;

/// The bytes every blob is cut from: a pattern with no zeros and no run, so that a blob that
/// comes back from the wrong offset or with the wrong length does not compare equal.
static BLOB: [u8; MAX_BLOB] = {
    let mut bytes = [0u8; MAX_BLOB];
    let mut index = 0;
    while index < MAX_BLOB {
        bytes[index] = (index % 251) as u8 + 1;
        index += 1;
    }
    bytes
};

/// Splits an injection target's input into the blob (its length from the first two bytes,
/// little-endian, modulo [`MAX_BLOB`] + 1) and the image (the rest). `None` for inputs
/// shorter than the header.
///
/// ```
/// let (blob, image) = sea_build_fuzz::blob_and_image(b"\x05\x00rest").unwrap();
/// assert_eq!((blob.len(), image), (5, &b"rest"[..]));
/// ```
pub fn blob_and_image(data: &[u8]) -> Option<(&'static [u8], &[u8])> {
    let (header, image) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*header)) % (MAX_BLOB + 1);
    Some((&BLOB[..len], image))
}

/// The header [`blob_and_image`] reads, for a blob of `len` bytes (seeds use it).
pub fn blob_header(len: u16) -> [u8; 2] {
    len.to_le_bytes()
}

/// Splits off a length-prefixed string: the first byte is its length (at most 255), the
/// bytes after it the string (lossily decoded). Returns the string and the rest.
///
/// ```
/// let (text, rest) = sea_build_fuzz::short_string(b"\x03abcdef").unwrap();
/// assert_eq!((text.as_str(), rest), ("abc", &b"def"[..]));
/// ```
pub fn short_string(data: &[u8]) -> Option<(String, &[u8])> {
    let (&len, rest) = data.split_first()?;
    let (text, rest) = rest.split_at_checked(usize::from(len))?;
    Some((String::from_utf8_lossy(text).into_owned(), rest))
}
