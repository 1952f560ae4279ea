//! An injected image described as a recipe instead of bytes.
//!
//! Injection copies almost all of a 100+ MB node binary unchanged. A [`Splice`] names the
//! unchanged parts as ranges of the base image and holds only what is new (headers, the
//! fuse byte, padding, the blob's place), so the caller decides how the base bytes travel:
//! [`Splice::write`] streams them from a slice, while a file-to-file copy can hand them to
//! the kernel (`copy_file_range`) and never bring them into the process at all.

use std::io::Write;
use std::ops::Range;

use anyhow::{Result, ensure};

/// One stretch of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// These bytes of the base image, unchanged.
    Base(Range<u64>),
    /// New bytes.
    Bytes(Vec<u8>),
    /// This many zero bytes.
    Zeros(u64),
    /// The blob being injected.
    Blob,
}

/// The output of an injection as an ordered list of [`Piece`]s.
///
/// ```
/// use sea_build::inject::{Piece, Splice};
/// let mut splice = Splice::default();
/// splice.push(Piece::Base(0..3));
/// splice.push(Piece::Zeros(2));
/// splice.push(Piece::Blob);
/// let mut out = Vec::new();
/// splice.write(b"abcdef", b"XY", &mut out)?;
/// assert_eq!(out, b"abc\0\0XY");
/// assert_eq!(splice.len(2), 7);
/// # anyhow::Ok(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splice {
    pieces: Vec<Piece>,
}

impl Splice {
    /// Appends a piece, merging it with the previous one when both are adjacent base
    /// ranges, both new bytes or both zeros.
    pub fn push(&mut self, piece: Piece) {
        match (self.pieces.last_mut(), piece) {
            (_, Piece::Base(range)) if range.is_empty() => {}
            (_, Piece::Bytes(bytes)) if bytes.is_empty() => {}
            (_, Piece::Zeros(0)) => {}
            (Some(Piece::Base(last)), Piece::Base(range)) if last.end == range.start => last.end = range.end,
            (Some(Piece::Bytes(last)), Piece::Bytes(bytes)) => last.extend_from_slice(&bytes),
            (Some(Piece::Zeros(last)), Piece::Zeros(count)) => *last += count,
            (_, piece) => self.pieces.push(piece),
        }
    }

    /// The pieces, in output order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Length of the output for a blob of `blob_len` bytes.
    pub fn len(&self, blob_len: usize) -> u64 {
        self.pieces.iter().map(|piece| self.piece_len(piece, blob_len)).sum()
    }

    /// True when the splice has no pieces.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Overwrites the output bytes at `at` with `bytes`, which must lie inside one
    /// [`Piece::Bytes`] (a header field computed after the plan, such as a checksum).
    ///
    /// ```
    /// use sea_build::inject::{Piece, Splice};
    /// let mut splice = Splice::default();
    /// splice.push(Piece::Base(0..2));
    /// splice.push(Piece::Bytes(b"....".to_vec()));
    /// splice.patch(3, b"XY")?;
    /// assert_eq!(splice.pieces()[1], Piece::Bytes(b".XY.".to_vec()));
    /// assert!(splice.patch(0, b"Z").is_err(), "base bytes are not the splice's to change");
    /// # anyhow::Ok(())
    /// ```
    pub fn patch(&mut self, at: u64, bytes: &[u8]) -> Result<()> {
        let mut start = 0u64;
        for piece in &mut self.pieces {
            let len = match piece {
                Piece::Base(range) => range.end - range.start,
                Piece::Bytes(new) => new.len() as u64,
                Piece::Zeros(count) => *count,
                // Blobs lie after the headers; their length does not matter to a patch before.
                Piece::Blob => break,
            };
            if let Piece::Bytes(new) = piece
                && start <= at
                && at + bytes.len() as u64 <= start + len
            {
                let from = (at - start) as usize;
                new[from..from + bytes.len()].copy_from_slice(bytes);
                return Ok(());
            }
            start += len;
        }
        anyhow::bail!("internal error: bytes {at}..+{} of the output are not new bytes of the splice", bytes.len())
    }

    /// Checks that every base range lies inside an image of `image_len` bytes.
    pub fn check_bounds(&self, image_len: u64) -> Result<()> {
        for piece in &self.pieces {
            if let Piece::Base(range) = piece {
                ensure!(range.start <= range.end && range.end <= image_len, "internal error: injection plan reads bytes {range:?} of a {image_len}-byte image");
            }
        }
        Ok(())
    }

    /// Writes the output, taking base ranges from `image`.
    pub fn write(&self, image: &[u8], blob: &[u8], out: &mut impl Write) -> Result<()> {
        self.check_bounds(image.len() as u64)?;
        for piece in &self.pieces {
            match piece {
                Piece::Base(range) => out.write_all(&image[range.start as usize..range.end as usize])?,
                Piece::Bytes(bytes) => out.write_all(bytes)?,
                Piece::Zeros(count) => write_zeros(out, *count)?,
                Piece::Blob => out.write_all(blob)?,
            }
        }
        out.flush()?;
        Ok(())
    }
}

impl Splice {
    /// Applies the splice where the base lies: `image` is the output's buffer (a map of the
    /// output file, [`Splice::len`] bytes long) whose first `base_len` bytes hold the base.
    /// Base pieces that stay in place are not touched at all; those that move are moved
    /// within the buffer, so only the changed pages are read and written.
    ///
    /// Every base piece must move forward (or stay), in order, as injection's pieces do
    /// (an insertion shifts what follows it): the pieces are then placed from the last to
    /// the first, and none overwrites a source not yet moved.
    ///
    /// ```
    /// use sea_build::inject::{Piece, Splice};
    /// let mut splice = Splice::default();
    /// splice.push(Piece::Base(0..2));
    /// splice.push(Piece::Blob);
    /// splice.push(Piece::Base(2..4));
    /// let mut image = b"abcd".to_vec();
    /// image.resize(splice.len(2) as usize, 0);
    /// splice.apply_in_place(&mut image, 4, b"XY")?;
    /// assert_eq!(image, b"abXYcd");
    /// # anyhow::Ok(())
    /// ```
    pub fn apply_in_place(&self, image: &mut [u8], base_len: u64, blob: &[u8]) -> Result<()> {
        self.check_bounds(base_len)?;
        let out_len = self.len(blob.len());
        ensure!(image.len() as u64 == out_len, "internal error: the output buffer is {} bytes, the splice makes {out_len}", image.len());
        // Destinations, and the check that no piece lands on a source still to be moved.
        let mut destinations = Vec::with_capacity(self.pieces.len());
        let (mut at, mut sources_end) = (0u64, 0u64);
        for piece in &self.pieces {
            ensure!(at >= sources_end, "internal error: an injection piece would overwrite base bytes it still needs");
            if let Piece::Base(range) = piece {
                ensure!(range.start <= at && range.start >= sources_end, "internal error: an injection piece moves base bytes backwards");
                sources_end = range.end;
            }
            destinations.push(at);
            at += self.piece_len(piece, blob.len());
        }
        for (piece, &at) in self.pieces.iter().zip(&destinations).rev() {
            let at = at as usize;
            match piece {
                Piece::Base(range) if range.start as usize == at => {}
                Piece::Base(range) => image.copy_within(range.start as usize..range.end as usize, at),
                Piece::Bytes(bytes) => image[at..at + bytes.len()].copy_from_slice(bytes),
                Piece::Zeros(count) => image[at..at + *count as usize].fill(0),
                Piece::Blob => image[at..at + blob.len()].copy_from_slice(blob),
            }
        }
        Ok(())
    }

    fn piece_len(&self, piece: &Piece, blob_len: usize) -> u64 {
        match piece {
            Piece::Base(range) => range.end - range.start,
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::Zeros(count) => *count,
            Piece::Blob => blob_len as u64,
        }
    }
}

/// Writes `count` zero bytes.
pub(crate) fn write_zeros<W: Write + ?Sized>(out: &mut W, mut count: u64) -> std::io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while count > 0 {
        let chunk = count.min(ZEROS.len() as u64) as usize;
        out.write_all(&ZEROS[..chunk])?;
        count -= chunk as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_pieces_merge_and_empty_ones_vanish() {
        let mut splice = Splice::default();
        for piece in
            [Piece::Base(0..2), Piece::Base(2..4), Piece::Base(4..4), Piece::Bytes(b"x".to_vec()), Piece::Bytes(b"y".to_vec()), Piece::Zeros(0), Piece::Zeros(1), Piece::Zeros(2), Piece::Base(5..6)]
        {
            splice.push(piece);
        }
        assert_eq!(splice.pieces(), [Piece::Base(0..4), Piece::Bytes(b"xy".to_vec()), Piece::Zeros(3), Piece::Base(5..6)]);
        let mut out = Vec::new();
        splice.write(b"abcdef", b"", &mut out).unwrap();
        assert_eq!(out, b"abcdxy\0\0\0f");
    }

    #[test]
    fn ranges_outside_the_image_are_refused() {
        let mut splice = Splice::default();
        splice.push(Piece::Base(2..9));
        assert!(splice.write(b"abc", b"", &mut Vec::new()).is_err());
    }
}
