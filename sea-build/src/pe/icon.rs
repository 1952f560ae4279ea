//! Icons: reading an `.ico` file and turning it into the `RT_ICON` images and the
//! `RT_GROUP_ICON` directory a PE image carries.
//!
//! ```text
//! .ico file                               resources
//! ICONDIR  reserved 0, type 1, count      RT_GROUP_ICON: GRPICONDIR reserved 0, type 1, count
//! count x ICONDIRENTRY (16 bytes):        count x GRPICONDIRENTRY (14 bytes):
//!   width, height, colours, reserved,       the same first 12 bytes,
//!   planes, bit count, bytes in image,
//!   u32 offset of the image in the file     u16 RT_ICON id of the image
//! images (BMP without file header, or PNG) RT_ICON/<id>: each image as it is
//! ```

use anyhow::{Result, bail, ensure};

/// Length of the ICONDIR header.
pub(super) const DIR_LEN: usize = 6;
/// Length of an ICONDIRENTRY in a file.
pub(super) const FILE_ENTRY_LEN: usize = 16;
/// Length of a GRPICONDIRENTRY in a resource.
const GROUP_ENTRY_LEN: usize = 14;

/// One image of an icon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconImage<'a> {
    /// Width, height, colour count, reserved, planes (u16), bit count (u16), size (u32):
    /// the directory entry's first 12 bytes, copied into the group entry.
    pub entry: [u8; 12],
    /// The image (a BMP without its file header, or a PNG), as the file holds it.
    pub bytes: &'a [u8],
}

/// An `.ico` file's images, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconFile<'a> {
    /// The images.
    pub images: Vec<IconImage<'a>>,
}

impl<'a> IconFile<'a> {
    /// Reads an `.ico` file; `origin` names it in errors.
    ///
    /// Fails on an empty file, a file that is not an icon (a cursor, a PNG, anything
    /// else), an icon without images, and a directory or image that runs past the end of
    /// the file (a truncated file).
    ///
    /// ```
    /// use sea_build::pe::icon::IconFile;
    /// // One 1x1 PNG-compressed image (only its first bytes matter here).
    /// let png = b"\x89PNG\r\n\x1a\n....";
    /// let mut ico = vec![0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 32, 0];
    /// ico.extend((png.len() as u32).to_le_bytes());
    /// ico.extend(22u32.to_le_bytes());
    /// ico.extend(png);
    /// let icon = IconFile::parse(&ico, "app.ico")?;
    /// assert_eq!(icon.images[0].bytes, png);
    /// assert!(IconFile::parse(b"", "empty.ico").unwrap_err().to_string().contains("empty"));
    /// # anyhow::Ok(())
    /// ```
    pub fn parse(bytes: &'a [u8], origin: &str) -> Result<IconFile<'a>> {
        let what = "use an .ico file (export one from an image editor, or `convert app.png -define icon:auto-resize app.ico`)";
        ensure!(!bytes.is_empty(), "the icon {origin} is empty: {what}");
        let Some(header) = bytes.get(..DIR_LEN) else {
            bail!("the icon {origin} is {} bytes, shorter than an icon's 6-byte header: the file is truncated or not an icon; {what}", bytes.len());
        };
        let word = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        if word(0) != 0 || word(2) != 1 {
            let kind = if bytes.starts_with(b"\x89PNG") {
                "a PNG image"
            } else if bytes.starts_with(b"BM") {
                "a BMP image"
            } else if word(0) == 0 && word(2) == 2 {
                "a cursor (.cur)"
            } else {
                "not an icon"
            };
            bail!("the icon {origin} is {kind}, not an .ico file (which starts with 00 00 01 00): {what}");
        }
        let count = usize::from(word(4));
        ensure!(count > 0, "the icon {origin} holds no images: {what}");
        let directory_end = DIR_LEN + count * FILE_ENTRY_LEN;
        ensure!(
            directory_end <= bytes.len(),
            "the icon {origin} announces {count} images, but its directory would end at byte {directory_end} of a {}-byte file: the file is truncated; {what}",
            bytes.len()
        );
        let mut images = Vec::with_capacity(count);
        for index in 0..count {
            let at = DIR_LEN + index * FILE_ENTRY_LEN;
            let entry: [u8; 16] = bytes[at..at + FILE_ENTRY_LEN].try_into().unwrap_or([0; 16]);
            let size = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]) as usize;
            let offset = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]) as usize;
            let image = offset.checked_add(size).and_then(|end| bytes.get(offset..end)).filter(|_| offset >= directory_end && size > 0);
            let Some(image) = image else {
                bail!(
                    "image {} of the icon {origin} lies at bytes {offset}..{} of a {}-byte file, outside its image data: the file is truncated or damaged; {what}",
                    index + 1,
                    offset.saturating_add(size),
                    bytes.len()
                );
            };
            let mut head = [0u8; 12];
            head.copy_from_slice(&entry[..12]);
            images.push(IconImage { entry: head, bytes: image });
        }
        Ok(IconFile { images })
    }

    /// The `RT_GROUP_ICON` resource for these images, stored as `RT_ICON` ids
    /// `first_id`, `first_id + 1`, ...
    ///
    /// ```
    /// use sea_build::pe::icon::{IconFile, IconImage};
    /// let icon = IconFile { images: vec![IconImage { entry: [16, 16, 0, 0, 1, 0, 32, 0, 4, 0, 0, 0], bytes: b"data" }] };
    /// let group = icon.group(1)?;
    /// assert_eq!(group, [0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 4, 0, 0, 0, 1, 0]);
    /// # anyhow::Ok(())
    /// ```
    pub fn group(&self, first_id: u16) -> Result<Vec<u8>> {
        let count = u16::try_from(self.images.len()).ok().filter(|count| u32::from(first_id) + u32::from(*count) <= 0x1_0000);
        let Some(count) = count else { bail!("an icon with {} images does not fit the 16-bit resource ids from {first_id}", self.images.len()) };
        let mut group = Vec::with_capacity(DIR_LEN + GROUP_ENTRY_LEN * self.images.len());
        group.extend([0, 0, 1, 0]);
        group.extend(count.to_le_bytes());
        for (index, image) in self.images.iter().enumerate() {
            group.extend_from_slice(&image.entry);
            group.extend((first_id + index as u16).to_le_bytes());
        }
        Ok(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pe::fixture::ico;
    use crate::testing::XorShift;

    #[test]
    fn reads_every_image_and_builds_the_group() {
        let file = ico(&[(16, b"sixteen"), (32, b"thirty-two!")]);
        let icon = IconFile::parse(&file, "app.ico").unwrap();
        assert_eq!(icon.images.len(), 2);
        assert_eq!(icon.images[1].bytes, b"thirty-two!");
        assert_eq!(icon.images[1].entry[..2], [32, 32]);
        let group = icon.group(5).unwrap();
        assert_eq!(group.len(), 6 + 2 * 14);
        assert_eq!(&group[6..18], &file[6..18], "the entry's first 12 bytes are copied");
        assert_eq!(&group[18..20], &5u16.to_le_bytes());
        assert_eq!(&group[32..34], &6u16.to_le_bytes());
        assert!(icon.group(u16::MAX).is_err());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let error = |bytes: &[u8]| IconFile::parse(bytes, "assets/app.ico").unwrap_err().to_string();
        assert!(error(b"").contains("assets/app.ico is empty"));
        assert!(error(b"\x89PNG\r\n\x1a\n").contains("a PNG image"));
        assert!(error(b"\0\0\x02\0\x01\0").contains("a cursor"));
        assert!(error(b"hello, world").contains("not an icon"));
        assert!(error(&[0, 0, 1, 0, 0, 0]).contains("no images"));
        let file = ico(&[(16, b"sixteen"), (32, b"thirty-two!")]);
        for len in 1..file.len() {
            let message = error(&file[..len]);
            assert!(message.contains("truncated"), "{len}: {message}");
        }
        let mut random = XorShift(0x0bad_1c0e_5eed_u64);
        for _ in 0..3000 {
            let corrupted = random.corrupt_one(&file, 0..file.len());
            if let Ok(icon) = IconFile::parse(&corrupted, "x.ico") {
                let _ = icon.group(1);
            }
        }
    }
}
