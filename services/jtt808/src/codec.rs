//! The codec of a terminal's TCP stream (`tokio_util::codec`): frames found between 0x7E
//! flags, garbage before a flag skipped, a bad frame handed up as an error item without
//! ending the stream, sub-packages put together, every buffer bounded.

use crate::error::DecodeError;
use crate::frame::{FLAG, MAX_FRAME, read_frame, write_frame};
use crate::header::Header;
use crate::message::Body;
use crate::packets::Reassembly;
use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// A message: its header and typed body.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
}

impl Packet {
    /// The frame of this packet.
    pub fn to_frame(&self) -> Result<Vec<u8>, DecodeError> {
        let mut body = Vec::new();
        self.body.write(self.header.is_2019(), &mut body);
        let mut content = Vec::with_capacity(body.len() + 21);
        self.header.write(body.len(), &mut content)?;
        content.extend(body);
        let mut out = Vec::with_capacity(content.len() + 4);
        write_frame(&content, &mut out);
        Ok(out)
    }
}

/// One connection's codec.
#[derive(Debug, Default)]
pub struct Codec {
    packages: Reassembly,
}

/// A frame's content read: a message, or a package still waiting for the others.
fn read_packet(reassembly: &mut Reassembly, escaped: &[u8]) -> Result<Option<Packet>, DecodeError> {
    let content = read_frame(escaped)?;
    let (header, body) = Header::read(&content)?;
    let Some((header, body)) = reassembly.push(header, body)? else {
        return Ok(None);
    };
    let body = Body::read(header.id, header.is_2019(), &body)?;
    Ok(Some(Packet { header, body }))
}

impl Decoder for Codec {
    /// A message, or why a frame could not be read (the stream goes on).
    type Item = Result<Packet, DecodeError>;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        loop {
            // Whatever comes before a flag is not a frame.
            match src.iter().position(|&b| b == FLAG) {
                Some(start) => src.advance(start),
                None => {
                    src.clear();
                    return Ok(None);
                }
            }
            let Some(len) = src[1..].iter().position(|&b| b == FLAG) else {
                if src.len() > MAX_FRAME + 1 {
                    // No closing flag within any frame's length: drop it all but the
                    // last byte's worth (nothing here can still become a frame).
                    src.clear();
                    return Ok(Some(Err(DecodeError::TooLong(MAX_FRAME))));
                }
                src.reserve(MAX_FRAME + 2 - src.len());
                return Ok(None);
            };
            if len == 0 {
                // Two flags together: the end of one frame and the start of the next, or
                // an empty frame; the second flag opens what follows.
                src.advance(1);
                continue;
            }
            let read = read_packet(&mut self.packages, &src[1..1 + len]);
            match read {
                Ok(Some(packet)) => {
                    src.advance(len + 2);
                    return Ok(Some(Ok(packet)));
                }
                Ok(None) => src.advance(len + 2),
                Err(e) => {
                    // The closing flag may be the opening flag of a real frame after
                    // garbage that held a stray flag: keep it.
                    src.advance(len + 1);
                    return Ok(Some(Err(e)));
                }
            }
        }
    }
}

impl Encoder<Packet> for Codec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Packet, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let frame = item
            .to_frame()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        dst.extend_from_slice(&frame);
        Ok(())
    }
}
