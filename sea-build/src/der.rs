//! Just enough DER (ASN.1's distinguished encoding) to write an Authenticode signature and to
//! read the few certificate and time-stamp fields it needs: tag, length, contents.

use anyhow::{Result, bail, ensure};

/// Universal tags used here.
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const BOOLEAN: u8 = 0x01;

/// A context-specific, constructed tag `[n]` (explicit tagging, or implicit over a
/// constructed type).
pub(crate) const fn context(n: u8) -> u8 {
    0xA0 | n
}

/// A context-specific, primitive tag `[n]` (implicit over a primitive type).
pub(crate) const fn context_primitive(n: u8) -> u8 {
    0x80 | n
}

/// One element: tag, length, `contents`.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// A constructed element holding `parts` in order.
pub(crate) fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A SEQUENCE of `parts`.
pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(SEQUENCE, parts)
}

/// A SET OF `parts` with tag `tag`, its elements sorted by their encodings as DER requires.
pub(crate) fn set_of(tag: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut sorted: Vec<&Vec<u8>> = parts.iter().collect();
    sorted.sort();
    tlv(tag, &sorted.into_iter().flatten().copied().collect::<Vec<u8>>())
}

/// An OBJECT IDENTIFIER from its arcs.
pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut contents = Vec::new();
    let first = arcs.first().copied().unwrap_or(0) * 40 + arcs.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(arcs.iter().skip(2).copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest != 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        contents.extend(groups.iter().rev());
    }
    tlv(OID, &contents)
}

/// A non-negative INTEGER.
pub(crate) fn unsigned_integer(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let mut contents = Vec::new();
    if bytes[skip] & 0x80 != 0 {
        contents.push(0);
    }
    contents.extend_from_slice(&bytes[skip..]);
    tlv(INTEGER, &contents)
}

/// A BMPString's contents: UTF-16 big-endian.
pub(crate) fn bmp(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// One element read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Element<'a> {
    pub tag: u8,
    /// The contents.
    pub contents: &'a [u8],
    /// The whole encoding, tag and length included.
    pub raw: &'a [u8],
}

/// A cursor over consecutive elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next element, without consuming it.
    pub(crate) fn peek(&self) -> Result<Element<'a>> {
        let bytes = self.bytes;
        ensure!(bytes.len() >= 2, "a DER element is cut short");
        let tag = bytes[0];
        ensure!(tag & 0x1f != 0x1f, "high-tag-number DER tags are not expected here");
        let (len, header) = match bytes[1] {
            short if short < 0x80 => (usize::from(short), 2),
            0x80 => bail!("an indefinite-length encoding, which DER does not allow"),
            long => {
                let count = usize::from(long & 0x7f);
                ensure!(count <= 4 && bytes.len() >= 2 + count, "a DER length is cut short or too large");
                let len = bytes[2..2 + count].iter().fold(0usize, |len, &b| len << 8 | usize::from(b));
                (len, 2 + count)
            }
        };
        let end = header.checked_add(len).filter(|&end| end <= bytes.len());
        let Some(end) = end else { bail!("a DER element of {len} bytes runs past the end of its container") };
        Ok(Element { tag, contents: &bytes[header..end], raw: &bytes[..end] })
    }

    /// The next element.
    pub(crate) fn next(&mut self) -> Result<Element<'a>> {
        let element = self.peek()?;
        self.bytes = &self.bytes[element.raw.len()..];
        Ok(element)
    }

    /// The next element, which must have tag `tag`; `what` names it in errors.
    pub(crate) fn expect(&mut self, tag: u8, what: &str) -> Result<Element<'a>> {
        let element = self.next().map_err(|error| anyhow::anyhow!("{what}: {error}"))?;
        ensure!(element.tag == tag, "{what}: expected tag {tag:#04x}, found {:#04x}", element.tag);
        Ok(element)
    }

    /// The next element when it has tag `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Element<'a>>> {
        if self.is_empty() || self.peek()?.tag != tag {
            return Ok(None);
        }
        self.next().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lengths_oids_and_integers() {
        assert_eq!(tlv(OCTET_STRING, &[7; 3]), [4, 3, 7, 7, 7]);
        let long = tlv(OCTET_STRING, &[0; 200]);
        assert_eq!(&long[..3], &[4, 0x81, 200]);
        let longer = tlv(OCTET_STRING, &[0; 0x1234]);
        assert_eq!(&longer[..4], &[4, 0x82, 0x12, 0x34]);
        // sha256 2.16.840.1.101.3.4.2.1 and SPC_INDIRECT_DATA 1.3.6.1.4.1.311.2.1.4.
        assert_eq!(oid(&[2, 16, 840, 1, 101, 3, 4, 2, 1]), [6, 9, 0x60, 0x86, 0x48, 1, 0x65, 3, 4, 2, 1]);
        assert_eq!(oid(&[1, 3, 6, 1, 4, 1, 311, 2, 1, 4]), [6, 10, 0x2b, 6, 1, 4, 1, 0x82, 0x37, 2, 1, 4]);
        assert_eq!(unsigned_integer(1), [2, 1, 1]);
        assert_eq!(unsigned_integer(0), [2, 1, 0]);
        assert_eq!(unsigned_integer(0x80), [2, 2, 0, 0x80]);
        assert_eq!(set_of(SET, &[vec![2, 1, 9], vec![2, 1, 1]]), [0x31, 6, 2, 1, 1, 2, 1, 9]);
    }

    #[test]
    fn reads_what_it_writes_and_refuses_the_rest() {
        let inner = sequence(&[&unsigned_integer(5), &tlv(OCTET_STRING, &[0; 300])]);
        let mut reader = Reader::new(&inner);
        let outer = reader.expect(SEQUENCE, "outer").unwrap();
        assert!(reader.is_empty());
        let mut fields = Reader::new(outer.contents);
        assert_eq!(fields.expect(INTEGER, "n").unwrap().contents, [5]);
        assert!(fields.optional(BOOLEAN).unwrap().is_none());
        assert_eq!(fields.expect(OCTET_STRING, "data").unwrap().contents.len(), 300);
        for len in 0..inner.len() {
            assert!(Reader::new(&inner[..len]).next().is_err(), "{len}");
        }
        assert!(Reader::new(&[0x30, 0x80, 0, 0]).next().is_err());
        assert!(Reader::new(&[0x30, 0x85, 1, 1, 1, 1, 1]).next().is_err());
    }
}
