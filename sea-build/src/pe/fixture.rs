//! Hand-built icons for doc examples and tests (the `test-support` feature; not a public
//! API): the tests, the fuzz seeds and the benchmarks write their `.ico` files with these.

use super::icon::{DIR_LEN, FILE_ENTRY_LEN};

/// Length of the BITMAPINFOHEADER an icon's BMP image starts with.
const BITMAP_HEADER_LEN: u32 = 40;

/// A 32-bit icon image `size` pixels square, every pixel `bgra` (blue, green, red, alpha),
/// as an `.ico` file holds it: a BMP without its file header, whose BITMAPINFOHEADER gives
/// twice the height because the pixels are followed by the AND mask, here all zero (every
/// pixel drawn), each mask row padded to 32 bits.
///
/// ```
/// use sea_build::pe::fixture::bmp_image;
/// let image = bmp_image(16, [0x20, 0x80, 0xf0, 0xff]);
/// assert_eq!(image.len(), 40 + 16 * 16 * 4 + 16 * 4);
/// assert_eq!(image[4..12], [16, 0, 0, 0, 32, 0, 0, 0], "width, then the height of pixels and mask");
/// assert_eq!(image[40..44], [0x20, 0x80, 0xf0, 0xff]);
/// ```
pub fn bmp_image(size: u32, bgra: [u8; 4]) -> Vec<u8> {
    let mut bmp = Vec::new();
    for value in [BITMAP_HEADER_LEN, size, size * 2] {
        bmp.extend(value.to_le_bytes());
    }
    // Planes, bits per pixel; then no compression and zero sizes, resolutions and colours.
    bmp.extend(1u16.to_le_bytes());
    bmp.extend(32u16.to_le_bytes());
    bmp.extend([0u8; 24]);
    bmp.extend(bgra.repeat((size * size) as usize));
    bmp.extend(vec![0u8; (size * size.div_ceil(32) * 4) as usize]);
    bmp
}

/// An `.ico` file holding `images` in this order, each given as its width and height byte
/// (0 standing for 256, as in the file) and its bytes (a [`bmp_image`] or a PNG); every
/// directory entry says one plane and 32 bits per pixel.
///
/// ```
/// use sea_build::pe::fixture::{bmp_image, ico};
/// use sea_build::pe::icon::IconFile;
/// let small = bmp_image(16, [0x20, 0x80, 0xf0, 0xff]);
/// let png = b"\x89PNG\r\n\x1a\n(the rest of a PNG)";
/// let file = ico(&[(16, &small), (0, png)]);
/// let icon = IconFile::parse(&file, "app.ico")?;
/// assert_eq!(icon.images[0].bytes, small);
/// assert_eq!(icon.images[1].bytes, png);
/// assert_eq!(icon.images[1].entry[..2], [0, 0], "256 pixels square");
/// # anyhow::Ok(())
/// ```
pub fn ico(images: &[(u8, &[u8])]) -> Vec<u8> {
    let mut file = vec![0, 0, 1, 0];
    file.extend((images.len() as u16).to_le_bytes());
    let mut offset = DIR_LEN + FILE_ENTRY_LEN * images.len();
    for (size, bytes) in images {
        file.extend([*size, *size, 0, 0, 1, 0, 32, 0]);
        file.extend((bytes.len() as u32).to_le_bytes());
        file.extend((offset as u32).to_le_bytes());
        offset += bytes.len();
    }
    for (_, bytes) in images {
        file.extend_from_slice(bytes);
    }
    file
}
