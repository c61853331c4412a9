//! What can be wrong with a frame, named so the gateway can answer it (JT/T 808's general
//! reply: "message error") and log it.

/// A frame that cannot be read. The stream goes on: the next 0x7E starts a new frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The XOR of the header and body is not the frame's check code.
    #[error("check code {found:#04x}, computed {computed:#04x}")]
    BadCheck {
        /// The code in the frame.
        found: u8,
        /// The code of its bytes.
        computed: u8,
    },
    /// 0x7D followed by anything but 0x01 or 0x02.
    #[error("bad escape 0x7d {0:#04x}")]
    BadEscape(u8),
    /// More bytes than any frame may have before its closing 0x7E.
    #[error("frame longer than {0} bytes")]
    TooLong(usize),
    /// Fewer bytes than the header or a field needs.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// The body length in the header is not the body's.
    #[error("body length {declared} declared, {actual} present")]
    BodyLength {
        /// Bits 0-9 of the body properties.
        declared: usize,
        /// What the frame holds.
        actual: usize,
    },
    /// Encrypted bodies (RSA, bit 10) are not supported.
    #[error("encrypted bodies are not supported")]
    Encrypted,
    /// A field holds a value the standard does not allow.
    #[error("{field}: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A sub-package that cannot belong to a message (index 0 or past the total, too many
    /// packages, too many messages being reassembled at once).
    #[error("sub-package: {0}")]
    Package(&'static str),
}
