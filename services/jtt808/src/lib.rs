//! The JT/T 808-2019 and JT/T 905 codec of the in-car terminal gateway: bytes in, typed
//! messages out, and back. Nothing here does I/O or keeps a session.
//!
//! - [`frame`]: the 0x7E-delimited frame, 0x7D escaping and the XOR check code.
//! - [`header`]: the message header (ID, body properties, protocol version, the terminal's
//!   phone number in BCD, serial number, sub-package fields).
//! - [`wire`]: a bounds-checked reader, GBK strings, fixed-width fields and BCD.
//! - [`message`]: the typed bodies the gateway speaks (registration, authentication,
//!   heartbeat, general replies, locations and their batches, and the JT/T 905 taxi
//!   order flow).
//! - [`packets`]: sub-packages reassembled, bounded.
//! - [`codec`]: a `tokio_util` codec over a TCP stream: garbage between frames skipped, a
//!   bad frame reported without ending the stream, every buffer bounded.
//!
//! Decoding never panics and never allocates more than [`frame::MAX_FRAME`] per frame
//! (a property test feeds it arbitrary bytes).

pub mod codec;
pub mod error;
pub mod frame;
pub mod header;
pub mod message;
pub mod packets;
pub mod wire;

pub use codec::{Codec, Packet};
pub use error::DecodeError;
pub use header::Header;
pub use message::Body;
