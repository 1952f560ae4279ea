//! A PE file as the byte layer reads it: its length and the parts of it at hand.
//!
//! Editing a PE file touches its headers, its resource section and a few bytes at its end;
//! the other 99 % of an 87 MB node.exe is copied unchanged. [`PeImage`] lets the same
//! planning code run over a whole image in memory ([`PeImage::whole`]) or over the few
//! parts a caller read from a file ([`PeImage::from_parts`]). A read of bytes that lie in
//! the file but not in any part fails like a read past the end, and is noted as
//! [missing](PeImage::missing): the caller reads those bytes too and plans again.

use std::cell::RefCell;
use std::ops::Range;

/// Bytes of the file's start asked for when the headers do not parse from the part at hand:
/// a node.exe's headers take 1 KiB.
const HEAD_STEP: u64 = 64 << 10;

/// A PE file's length and some of its bytes.
///
/// ```
/// use sea_build::pe::image::PeImage;
/// let image = PeImage::from_parts(100, vec![(0, &b"MZ"[..]), (50, &b"abc"[..])]);
/// assert_eq!(image.get(51..53), Some(&b"bc"[..]));
/// assert_eq!(image.get(10..12), None);
/// assert_eq!(image.missing(), [10..12]);
/// assert_eq!(image.get(99..101), None, "past the end: not missing, absent");
/// assert_eq!(image.missing(), [10..12]);
/// ```
#[derive(Debug)]
pub struct PeImage<'a> {
    len: u64,
    parts: Vec<(u64, &'a [u8])>,
    missing: RefCell<Vec<Range<u64>>>,
}

impl<'a> PeImage<'a> {
    /// A whole image in memory: nothing is ever missing.
    pub fn whole(image: &'a [u8]) -> PeImage<'a> {
        PeImage { len: image.len() as u64, parts: vec![(0, image)], missing: RefCell::default() }
    }

    /// A file of `len` bytes of which `parts` (file offset, bytes) are at hand.
    pub fn from_parts(len: u64, parts: Vec<(u64, &'a [u8])>) -> PeImage<'a> {
        PeImage { len, parts, missing: RefCell::default() }
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes at hand from the start of the file on: the longest part there (empty when
    /// the start is not at hand).
    pub fn head(&self) -> &'a [u8] {
        self.parts.iter().filter(|(offset, _)| *offset == 0).map(|(_, bytes)| *bytes).max_by_key(|bytes| bytes.len()).unwrap_or(&[])
    }

    /// The bytes of `range`, when they lie in the file and in one part. Bytes in the file but
    /// not at hand are noted as missing.
    pub fn get(&self, range: Range<u64>) -> Option<&'a [u8]> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        for (offset, bytes) in &self.parts {
            if *offset <= range.start && range.end <= offset + bytes.len() as u64 {
                return bytes.get((range.start - offset) as usize..(range.end - offset) as usize);
            }
        }
        self.missing.borrow_mut().push(range);
        None
    }

    /// [`get`](Self::get) for `len` bytes at `offset`, in `usize` as slices count.
    pub fn get_at(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        let end = offset.checked_add(len)?;
        self.get(offset as u64..end as u64)
    }

    /// Notes that the headers did not parse from [`head`](Self::head): when the file is
    /// longer, more of its start is missing.
    pub(crate) fn headers_short(&self) {
        let head = self.head().len() as u64;
        if head < self.len {
            self.missing.borrow_mut().push(0..self.len.min((head * 4).max(HEAD_STEP)));
        }
    }

    /// The ranges read so far that lie in the file but in no part: read them, add them, and
    /// plan again.
    pub fn missing(&self) -> Vec<Range<u64>> {
        self.missing.borrow().clone()
    }

    /// The file offset of `bytes` when they are a slice of one of the parts (resource data
    /// read from the image, as opposed to new bytes).
    pub fn offset_of(&self, bytes: &[u8]) -> Option<u64> {
        let start = bytes.as_ptr() as usize;
        self.parts.iter().find_map(|(offset, part)| {
            let part_start = part.as_ptr() as usize;
            (part_start <= start && start + bytes.len() <= part_start + part.len()).then(|| offset + (start - part_start) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_of_parts_know_their_offset() {
        let data = b"0123456789".to_vec();
        let image = PeImage::from_parts(1000, vec![(0, &data[..4]), (500, &data[4..])]);
        let bytes = image.get(502..505).unwrap();
        assert_eq!(bytes, b"678");
        assert_eq!(image.offset_of(bytes), Some(502));
        assert_eq!(image.offset_of(b"678"), None, "equal bytes elsewhere are not the image's");
        assert!(image.missing().is_empty());
    }

    #[test]
    fn a_short_head_asks_for_more_of_the_start() {
        let data = [0u8; 16];
        let image = PeImage::from_parts(1 << 20, vec![(0, &data[..])]);
        image.headers_short();
        let missing = image.missing();
        assert_eq!((missing.len(), missing.first()), (1, Some(&(0..HEAD_STEP))));
        let longer = PeImage::from_parts(1 << 20, vec![(0, &data[..4]), (0, &data[..]), (0, &data[..8])]);
        assert_eq!(longer.head().len(), 16, "the longest part at the start is the head");
        let whole = PeImage::whole(&data);
        whole.headers_short();
        assert!(whole.missing().is_empty(), "nothing more to read");
    }
}
