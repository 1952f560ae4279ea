//! Helpers shared by the unit tests of every module.

use std::ops::Range;

/// A deterministic pseudo-random sequence (xorshift64): corruption tests change the same
/// bytes on every run, so a failure reproduces.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    /// The next value (the state after one step; a zero state stays zero).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A copy of `bytes` with one byte in `within` changed: the place and the value both from
    /// the next value of the sequence (the state then holds it, for a test that wants more).
    pub(crate) fn corrupt_one(&mut self, bytes: &[u8], within: Range<usize>) -> Vec<u8> {
        let state = self.next_u64();
        let mut copy = bytes.to_vec();
        copy[within.start + (state % within.len() as u64) as usize] = (state >> 32) as u8;
        copy
    }
}
