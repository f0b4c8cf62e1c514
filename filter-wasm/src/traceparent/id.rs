//! The `trace-id` and `parent-id` fields: 16- and 8-byte ids, valid when
//! not all zeros, displayed as lowercase hex.
//! <https://www.w3.org/TR/trace-context-2/#trace-id>
//! <https://www.w3.org/TR/trace-context-2/#parent-id>

use core::fmt;

use super::hex::encode_hex;

/// A 16-byte trace id.
/// <https://www.w3.org/TR/trace-context-2/#trace-id>
///
/// Displays (and debug-prints) as 32 lowercase hex digits.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct TraceId(pub(super) [u8; 16]);

/// An 8-byte span id (the `parent-id` field of `traceparent`).
/// <https://www.w3.org/TR/trace-context-2/#parent-id>
///
/// Displays (and debug-prints) as 16 lowercase hex digits.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct SpanId(pub(super) [u8; 8]);

// === impl TraceId ===

impl TraceId {
    /// The all-zero trace id, which is invalid on the wire.
    /// <https://www.w3.org/TR/trace-context-2/#trace-id>
    pub const INVALID: Self = Self([0; 16]);

    /// A trace id from its 16 bytes (big-endian, as written in hex).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes of the id.
    pub const fn to_bytes(&self) -> [u8; 16] {
        self.0
    }

    /// The id as 32 lowercase hex digits, written into `buf`.
    pub fn to_hex<'a>(&self, buf: &'a mut [u8; 32]) -> &'a str {
        encode_hex(&self.0, buf).unwrap_or_default()
    }

    /// Whether the id may be sent: "All bytes as zero is considered an
    /// invalid value." <https://www.w3.org/TR/trace-context-2/#trace-id>
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 16]
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        f.write_str(encode_hex(&self.0, &mut buf).ok_or(fmt::Error)?)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceId")
            .field(&format_args!("{self}"))
            .finish()
    }
}

// === impl SpanId ===

impl SpanId {
    /// The all-zero span id, which is invalid on the wire.
    /// <https://www.w3.org/TR/trace-context-2/#parent-id>
    pub const INVALID: Self = Self([0; 8]);

    /// A span id from its 8 bytes (big-endian, as written in hex).
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The 8 bytes of the id.
    pub const fn to_bytes(&self) -> [u8; 8] {
        self.0
    }

    /// The id as 16 lowercase hex digits, written into `buf`.
    pub fn to_hex<'a>(&self, buf: &'a mut [u8; 16]) -> &'a str {
        encode_hex(&self.0, buf).unwrap_or_default()
    }

    /// Whether the id may be sent: "All bytes as zero is considered an
    /// invalid value." <https://www.w3.org/TR/trace-context-2/#parent-id>
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8]
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 16];
        f.write_str(encode_hex(&self.0, &mut buf).ok_or(fmt::Error)?)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SpanId")
            .field(&format_args!("{self}"))
            .finish()
    }
}
