//! The field types of JT/T 808/905 bodies: big-endian integers through a bounds-checked
//! [`Reader`], BCD digits, and GBK text (fixed-width, length-prefixed, or to the end).

use crate::error::DecodeError;
use encoding_rs::GBK;

/// Reads fields off a body; every read checks the bounds, so a short body is an error,
/// never a panic.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    /// The next `n` bytes; `what` names the field when they are not there.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(DecodeError::Truncated(what))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// A BYTE.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, what)?[0])
    }

    /// A WORD (big-endian).
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A DWORD (big-endian).
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.at..];
        self.at = self.buf.len();
        out
    }

    /// Bytes left.
    pub fn left(&self) -> usize {
        self.buf.len() - self.at
    }

    /// A string with a BYTE length before it.
    pub fn short_text(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let n = self.u8(what)? as usize;
        Ok(gbk(self.bytes(n, what)?))
    }
}

/// GBK bytes as text; a fixed-width field's padding (NUL or spaces at the end) dropped.
pub fn gbk(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    GBK.decode_without_bom_handling(&bytes[..end])
        .0
        .into_owned()
}

/// `text` as GBK, at most `max` bytes, cut between characters (a character GBK cannot
/// write becomes `?`).
pub fn to_gbk(text: &str, max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len().min(max));
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let (enc, _, unmappable) = GBK.encode(c.encode_utf8(&mut buf));
        let enc: &[u8] = if unmappable { b"?" } else { &enc };
        if out.len() + enc.len() > max {
            break;
        }
        out.extend_from_slice(enc);
    }
    out
}

/// `text` as a fixed-width GBK field: cut or padded with NULs to `width` bytes.
pub fn fixed(text: &str, width: usize, out: &mut Vec<u8>) {
    let enc = to_gbk(text, width);
    out.extend_from_slice(&enc);
    out.resize(out.len() + width - enc.len(), 0);
}

/// `text` with a BYTE length before it (at most 255 bytes of GBK).
pub fn short_text(text: &str, out: &mut Vec<u8>) {
    let enc = to_gbk(text, 255);
    out.push(enc.len() as u8);
    out.extend_from_slice(&enc);
}

/// BCD digits as a string; a nibble above 9 is an error.
pub fn bcd(bytes: &[u8], what: &'static str) -> Result<String, DecodeError> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            if nibble > 9 {
                return Err(DecodeError::Field {
                    field: what,
                    reason: "not a BCD digit",
                });
            }
            out.push(char::from(b'0' + nibble));
        }
    }
    Ok(out)
}

/// `digits` as `len` BCD bytes, left-padded with zeros (extra leading digits dropped);
/// anything but a digit is an error.
pub fn to_bcd(digits: &str, len: usize, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::Field {
            field: what,
            reason: "digits only",
        });
    }
    let want = len * 2;
    let d = digits.as_bytes();
    let d = &d[d.len().saturating_sub(want)..];
    let mut padded = vec![b'0'; want - d.len()];
    padded.extend_from_slice(d);
    Ok(padded
        .chunks(2)
        .map(|p| ((p[0] - b'0') << 4) | (p[1] - b'0'))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_round_trips_and_refuses_non_digits() {
        assert_eq!(
            to_bcd("13912345678", 6, "phone").unwrap(),
            [0x01, 0x39, 0x12, 0x34, 0x56, 0x78]
        );
        assert_eq!(
            bcd(&[0x01, 0x39, 0x12, 0x34, 0x56, 0x78], "phone").unwrap(),
            "013912345678"
        );
        assert!(bcd(&[0x1A], "phone").is_err());
        assert!(to_bcd("1391234567x", 6, "phone").is_err());
        assert_eq!(to_bcd("", 2, "x").unwrap(), [0, 0]);
    }

    #[test]
    fn gbk_text_is_written_and_read_with_its_padding_dropped() {
        // 渝 is 0xD3E5 in GBK, A is 0x41.
        let mut out = Vec::new();
        fixed("渝A", 5, &mut out);
        assert_eq!(out, [0xD3, 0xE5, 0x41, 0, 0]);
        assert_eq!(gbk(&out), "渝A");
        // Cut between characters, never inside one.
        assert_eq!(to_gbk("渝渝", 3), [0xD3, 0xE5]);
        let mut s = Vec::new();
        short_text("乘客", &mut s);
        assert_eq!(s[0], 4);
        assert_eq!(Reader::new(&s).short_text("x").unwrap(), "乘客");
    }

    #[test]
    fn the_reader_names_the_missing_field() {
        let mut r = Reader::new(&[0x12, 0x34, 0x56]);
        assert_eq!(r.u16("a").unwrap(), 0x1234);
        assert_eq!(r.u16("b"), Err(DecodeError::Truncated("b")));
        assert_eq!(r.u8("c").unwrap(), 0x56);
        assert_eq!(r.left(), 0);
        assert_eq!(r.bytes(usize::MAX, "d"), Err(DecodeError::Truncated("d")));
    }
}
