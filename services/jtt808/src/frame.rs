//! The frame: `0x7E`, then the header, body and check code with `0x7E` written as
//! `0x7D 0x02` and `0x7D` as `0x7D 0x01`, then `0x7E`. The check code is the XOR of every
//! byte of the header and body (before escaping).

use crate::error::DecodeError;

/// The flag that opens and closes every frame.
pub const FLAG: u8 = 0x7E;
/// The escape byte.
pub const ESCAPE: u8 = 0x7D;
/// The longest body of one frame (bits 0-9 of the body properties).
pub const MAX_BODY: usize = 1023;
/// The longest header (2019, with the sub-package fields).
pub const MAX_HEADER: usize = 21;
/// The most bytes between the two flags of a valid frame: every byte escaped.
pub const MAX_FRAME: usize = 2 * (MAX_HEADER + MAX_BODY + 1);

/// The XOR of `bytes`.
pub fn check_code(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

/// Appends the frame of `content` (header and body, unescaped) to `out`: the flags, the
/// escaped content and its escaped check code.
pub fn write_frame(content: &[u8], out: &mut Vec<u8>) {
    out.reserve(content.len() + 4);
    out.push(FLAG);
    for &b in content.iter().chain(std::iter::once(&check_code(content))) {
        match b {
            FLAG => out.extend_from_slice(&[ESCAPE, 0x02]),
            ESCAPE => out.extend_from_slice(&[ESCAPE, 0x01]),
            b => out.push(b),
        }
    }
    out.push(FLAG);
}

/// The content (header and body) of the bytes between two flags: unescaped, its check
/// code verified and removed.
pub fn read_frame(escaped: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if escaped.len() > MAX_FRAME {
        return Err(DecodeError::TooLong(MAX_FRAME));
    }
    let mut raw = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        if b == ESCAPE {
            match bytes.next() {
                Some(0x01) => raw.push(ESCAPE),
                Some(0x02) => raw.push(FLAG),
                Some(&other) => return Err(DecodeError::BadEscape(other)),
                None => return Err(DecodeError::Truncated("an escape at the end")),
            }
        } else {
            raw.push(b);
        }
    }
    let Some(found) = raw.pop() else {
        return Err(DecodeError::Truncated("no check code"));
    };
    let computed = check_code(&raw);
    if found != computed {
        return Err(DecodeError::BadCheck { found, computed });
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_escapes_are_written_as_the_standard_shows() {
        // JT/T 808 §5.3's example: 0x30 0x7E 0x08 0x7D 0x55 is sent as
        // 0x7E 0x30 0x7D 0x02 0x08 0x7D 0x01 0x55 <check> 0x7E.
        let content = [0x30, 0x7E, 0x08, 0x7D, 0x55];
        let mut out = Vec::new();
        write_frame(&content, &mut out);
        let check = 0x30 ^ 0x7E ^ 0x08 ^ 0x7D ^ 0x55;
        assert_eq!(check, 0x6E);
        assert_eq!(
            out,
            [0x7E, 0x30, 0x7D, 0x02, 0x08, 0x7D, 0x01, 0x55, 0x6E, 0x7E]
        );
        assert_eq!(read_frame(&out[1..out.len() - 1]).unwrap(), content);
    }

    #[test]
    fn a_check_code_that_is_itself_a_flag_is_escaped() {
        let content = [0x7E];
        let mut out = Vec::new();
        write_frame(&content, &mut out);
        // 0x7E's check code is 0x7E.
        assert_eq!(out, [0x7E, 0x7D, 0x02, 0x7D, 0x02, 0x7E]);
        assert_eq!(read_frame(&out[1..out.len() - 1]).unwrap(), content);
    }

    #[test]
    fn bad_frames_are_named() {
        assert_eq!(
            read_frame(&[0x01, 0x02, 0x04]),
            Err(DecodeError::BadCheck {
                found: 0x04,
                computed: 0x03
            })
        );
        assert_eq!(
            read_frame(&[0x01, 0x7D, 0x03, 0x01]),
            Err(DecodeError::BadEscape(0x03))
        );
        assert_eq!(
            read_frame(&[0x01, 0x7D]),
            Err(DecodeError::Truncated("an escape at the end"))
        );
        assert_eq!(
            read_frame(&[]),
            Err(DecodeError::Truncated("no check code"))
        );
        assert_eq!(
            read_frame(&vec![0; MAX_FRAME + 1]),
            Err(DecodeError::TooLong(MAX_FRAME))
        );
    }
}
