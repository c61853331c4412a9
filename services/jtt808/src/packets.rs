//! Sub-packages put back together. A long message comes as `total` frames with
//! consecutive serial numbers, each holding its index; the message is whole when every
//! index has arrived. Bounded: at most [`MAX_PACKAGES`] packages a message and
//! [`MAX_PENDING`] messages being put together at once (the oldest is dropped for a new
//! one), so a terminal cannot make the gateway hold more than about 4 × 64 KiB.

use crate::error::DecodeError;
use crate::header::Header;

/// The most packages one message may have.
pub const MAX_PACKAGES: u16 = 64;
/// The most messages being put together at once (per connection).
pub const MAX_PENDING: usize = 4;

#[derive(Debug)]
struct Pending {
    id: u16,
    first_serial: u16,
    parts: Vec<Option<Vec<u8>>>,
    header: Header,
}

/// The messages of one connection being put together.
#[derive(Debug, Default)]
pub struct Reassembly {
    pending: Vec<Pending>,
}

impl Reassembly {
    /// Takes one frame: a whole message comes straight back; a package is kept, and when
    /// it completes its message, the message comes back (its header the first package's,
    /// without the package fields).
    pub fn push(
        &mut self,
        header: Header,
        body: &[u8],
    ) -> Result<Option<(Header, Vec<u8>)>, DecodeError> {
        let Some(p) = header.package else {
            return Ok(Some((header, body.to_vec())));
        };
        if p.total > MAX_PACKAGES {
            return Err(DecodeError::Package("more than 64 packages"));
        }
        let first_serial = header.serial.wrapping_sub(p.index - 1);
        let at = self.pending.iter().position(|m| {
            m.id == header.id
                && m.first_serial == first_serial
                && m.parts.len() == usize::from(p.total)
        });
        let at = match at {
            Some(at) => at,
            None => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.remove(0);
                }
                let mut first = header.clone();
                first.package = None;
                first.serial = first_serial;
                self.pending.push(Pending {
                    id: header.id,
                    first_serial,
                    parts: vec![None; usize::from(p.total)],
                    header: first,
                });
                self.pending.len() - 1
            }
        };
        self.pending[at].parts[usize::from(p.index - 1)] = Some(body.to_vec());
        if self.pending[at].parts.iter().all(Option::is_some) {
            let done = self.pending.remove(at);
            let body = done.parts.into_iter().flatten().flatten().collect();
            return Ok(Some((done.header, body)));
        }
        Ok(None)
    }

    /// Messages waiting for packages.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Package;

    fn part(serial: u16, total: u16, index: u16) -> Header {
        let mut h = Header::new(0x0704, "13912345678", serial);
        h.package = Some(Package { total, index });
        h
    }

    #[test]
    fn packages_in_any_order_make_one_message() {
        let mut r = Reassembly::default();
        assert_eq!(r.push(part(11, 3, 2), b"bb").unwrap(), None);
        assert_eq!(r.push(part(12, 3, 3), b"c").unwrap(), None);
        let (h, body) = r.push(part(10, 3, 1), b"aaa").unwrap().unwrap();
        assert_eq!(body, b"aaabbc");
        assert_eq!((h.serial, h.package), (10, None));
        assert_eq!(r.waiting(), 0);
        let whole = Header::new(0x0200, "1", 5);
        assert_eq!(
            r.push(whole.clone(), b"x").unwrap(),
            Some((whole, b"x".to_vec()))
        );
    }

    #[test]
    fn it_stays_bounded() {
        let mut r = Reassembly::default();
        for m in 0..10u16 {
            r.push(part(m * 100, 2, 1), b"a").unwrap();
        }
        assert_eq!(r.waiting(), MAX_PENDING);
        assert!(r.push(part(1, 65, 1), b"a").is_err());
    }
}
