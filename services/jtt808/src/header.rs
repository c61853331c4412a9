//! The message header. JT/T 808-2019 (body properties bit 14 set): ID, properties, protocol
//! version, the terminal's phone number as BCD[10], serial number; JT/T 808-2013 (bit 14
//! clear): the same without the version and with BCD[6]. Sub-packages (bit 13) add the
//! package count and this package's index (from 1).

use crate::error::DecodeError;
use crate::frame::MAX_BODY;
use crate::wire::{Reader, bcd, to_bcd};

/// Body properties: the body length.
const LENGTH_BITS: u16 = 0x03FF;
/// Body properties: encryption (bit 10: RSA; 11-12 reserved).
const ENCRYPTION_BITS: u16 = 0x1C00;
/// Body properties: a sub-package.
const PACKAGE_BIT: u16 = 1 << 13;
/// Body properties: the 2019 header (a version byte, a 10-byte phone number).
const VERSION_BIT: u16 = 1 << 14;

/// One package of a long message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// How many packages the message has.
    pub total: u16,
    /// This one's place, from 1.
    pub index: u16,
}

/// A message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The message ID.
    pub id: u16,
    /// The protocol version of a 2019 header (1 for JT/T 808-2019); `None`: a 2013 header.
    pub version: Option<u8>,
    /// The terminal's phone number (the SIM's), as digits without the zeros that pad it
    /// to the field (BCD[10] in a 2019 header, BCD[6] in a 2013 one): the same number
    /// whichever header carried it.
    pub phone: String,
    /// The message serial number (the sender's, counting up from 0 and wrapping).
    pub serial: u16,
    /// Set when this frame is one package of a longer message.
    pub package: Option<Package>,
}

/// A terminal's phone number as the gateway keys it: 1 to 20 digits, without leading zeros
/// (what a header's BCD field pads with); `None` when it is not that.
pub fn terminal_phone(digits: &str) -> Option<String> {
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match digits.trim_start_matches('0') {
        "" => "0".to_string(),
        d => d.to_string(),
    })
}

impl Header {
    /// A 2019 header.
    pub fn new(id: u16, phone: &str, serial: u16) -> Self {
        Self {
            id,
            version: Some(1),
            phone: phone.to_string(),
            serial,
            package: None,
        }
    }

    /// Whether this is a 2019 header (the bodies of some messages differ by version).
    pub fn is_2019(&self) -> bool {
        self.version.is_some()
    }

    /// The header and the body of a frame's content.
    pub fn read(content: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
        let mut r = Reader::new(content);
        let id = r.u16("header: message ID")?;
        let props = r.u16("header: body properties")?;
        if props & ENCRYPTION_BITS != 0 {
            return Err(DecodeError::Encrypted);
        }
        let version = if props & VERSION_BIT != 0 {
            Some(r.u8("header: protocol version")?)
        } else {
            None
        };
        let phone_len = if version.is_some() { 10 } else { 6 };
        let digits = bcd(
            r.bytes(phone_len, "header: phone number")?,
            "header: phone number",
        )?;
        let phone = terminal_phone(&digits).unwrap_or(digits);
        let serial = r.u16("header: serial number")?;
        let package = if props & PACKAGE_BIT != 0 {
            let total = r.u16("header: package count")?;
            let index = r.u16("header: package index")?;
            if total == 0 || index == 0 || index > total {
                return Err(DecodeError::Package("index outside 1..=count"));
            }
            Some(Package { total, index })
        } else {
            None
        };
        let body = r.rest();
        let declared = (props & LENGTH_BITS) as usize;
        if declared != body.len() {
            return Err(DecodeError::BodyLength {
                declared,
                actual: body.len(),
            });
        }
        let header = Header {
            id,
            version,
            phone,
            serial,
            package,
        };
        Ok((header, body))
    }

    /// Appends the header of a `body_len`-byte body to `out`.
    pub fn write(&self, body_len: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if body_len > MAX_BODY {
            return Err(DecodeError::Field {
                field: "body",
                reason: "longer than 1023 bytes: send it in packages",
            });
        }
        let mut props = body_len as u16;
        if self.package.is_some() {
            props |= PACKAGE_BIT;
        }
        if self.version.is_some() {
            props |= VERSION_BIT;
        }
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&props.to_be_bytes());
        let phone_len = match self.version {
            Some(v) => {
                out.push(v);
                10
            }
            None => 6,
        };
        out.extend(to_bcd(&self.phone, phone_len, "header: phone number")?);
        out.extend_from_slice(&self.serial.to_be_bytes());
        if let Some(p) = self.package {
            out.extend_from_slice(&p.total.to_be_bytes());
            out.extend_from_slice(&p.index.to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2019_header_is_laid_out_as_the_table_says() {
        // 0x0002 (heartbeat), empty body, version 1, phone 013912345678 in BCD[10], serial 7.
        let h = Header::new(0x0002, "013912345678", 7);
        let mut out = Vec::new();
        h.write(0, &mut out).unwrap();
        assert_eq!(
            out,
            [
                0x00, 0x02, // ID
                0x40, 0x00, // properties: version flag, length 0
                0x01, // protocol version
                0x00, 0x00, 0x00, 0x00, 0x01, 0x39, 0x12, 0x34, 0x56, 0x78, // phone
                0x00, 0x07, // serial
            ]
        );
        let (read, body) = Header::read(&out).unwrap();
        assert_eq!(read.phone, "13912345678");
        assert_eq!((read.id, read.serial, read.version), (2, 7, Some(1)));
        assert!(body.is_empty());
    }

    #[test]
    fn a_2013_header_and_a_package() {
        let h = Header {
            id: 0x0704,
            version: None,
            phone: "13912345678".into(),
            serial: 0x1234,
            package: Some(Package { total: 3, index: 2 }),
        };
        let mut out = Vec::new();
        h.write(2, &mut out).unwrap();
        out.extend_from_slice(&[0xAA, 0xBB]);
        assert_eq!(&out[..4], &[0x07, 0x04, 0x20, 0x02]);
        let (read, body) = Header::read(&out).unwrap();
        assert_eq!(read, h);
        assert_eq!(body, [0xAA, 0xBB]);
    }

    #[test]
    fn wrong_headers_are_named() {
        let mut out = Vec::new();
        Header::new(0x0200, "1", 1).write(3, &mut out).unwrap();
        out.push(0);
        assert_eq!(
            Header::read(&out),
            Err(DecodeError::BodyLength {
                declared: 3,
                actual: 1
            })
        );
        assert_eq!(
            Header::read(&[0x02, 0x00, 0x04, 0x00]),
            Err(DecodeError::Encrypted)
        );
        assert_eq!(
            Header::read(&[0x02, 0x00, 0x40, 0x00, 0x01]),
            Err(DecodeError::Truncated("header: phone number"))
        );
        assert!(Header::new(1, "1", 1).write(1024, &mut Vec::new()).is_err());
    }
}
