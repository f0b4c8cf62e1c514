//! The `traceparent` header: strict parsing and allocation-free formatting,
//! per W3C Trace Context Level 2.
//! <https://www.w3.org/TR/trace-context-2/#traceparent-header>
//!
//! ```text
//! traceparent = version "-" trace-id "-" parent-id "-" trace-flags
//!               00      -  32 HEXDIGLC -  16 HEXDIGLC  -  2 HEXDIGLC
//! ```
//!
//! Parsing takes the header value exactly as received: Envoy has already
//! trimmed the optional whitespace around it, and joins repeated
//! `traceparent` headers with `,`, which this parser rejects (a joined value
//! is longer than 55 characters, or has `,` where a `-` or the end must be).
//! Parsing and formatting never allocate and never panic.

use core::fmt;

mod error;
mod flags;
mod hex;
mod id;

pub use error::TraceParentError;
pub use flags::TraceFlags;
pub(crate) use hex::{decode_hex, push, push_hex};
pub use id::{SpanId, TraceId};

/// Length of a version-`00` `traceparent` value, which is exactly what
/// [`TraceParent::format`] writes.
/// <https://www.w3.org/TR/trace-context-2/#version-format>
pub const TRACEPARENT_LEN: usize = 55;

/// The only version this implementation writes.
/// <https://www.w3.org/TR/trace-context-2/#version>
const VERSION_00: u8 = 0x00;

/// The version value that is invalid whatever the implementation.
/// <https://www.w3.org/TR/trace-context-2/#version>
const VERSION_INVALID: u8 = 0xff;

/// Byte offsets of the three `-` separators in the first 55 characters.
const SEP_VERSION: usize = 2;
const SEP_TRACE_ID: usize = 35;
const SEP_PARENT_ID: usize = 52;

/// A parsed `traceparent` header.
/// <https://www.w3.org/TR/trace-context-2/#traceparent-header>
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The id of the whole trace.
    /// <https://www.w3.org/TR/trace-context-2/#trace-id>
    pub trace_id: TraceId,
    /// The id of the caller's span, the parent of the span the receiver
    /// makes. <https://www.w3.org/TR/trace-context-2/#parent-id>
    pub parent_id: SpanId,
    /// The trace flags (sampled, random).
    /// <https://www.w3.org/TR/trace-context-2/#trace-flags>
    pub flags: TraceFlags,
}

// === impl TraceParent ===

impl TraceParent {
    /// Parses a `traceparent` value strictly, without trimming whitespace.
    ///
    /// - The version is two lowercase hex digits, and not `ff`.
    ///   <https://www.w3.org/TR/trace-context-2/#version>
    /// - Version `00` is exactly `00-<32 hex>-<16 hex>-<2 hex>`, 55
    ///   characters. <https://www.w3.org/TR/trace-context-2/#version-format>
    /// - A later version (`01` to `fe`) is parsed by its first 55
    ///   characters with the version-`00` layout; the flags must then be
    ///   followed by the end of the value or a `-`, and only the known flags
    ///   are kept. <https://www.w3.org/TR/trace-context-2/#versioning-of-traceparent>
    /// - Hex is lowercase only; an all-zero trace-id or parent-id is invalid.
    ///   <https://www.w3.org/TR/trace-context-2/#trace-id>,
    ///   <https://www.w3.org/TR/trace-context-2/#parent-id>
    ///
    /// For version `00` the flags are returned as received (unknown bits
    /// included) so that the value formats back unchanged; call
    /// [`TraceFlags::known`] before propagating them.
    ///
    /// # Errors
    ///
    /// A [`TraceParentError`] naming the first problem found; the caller
    /// then treats the header as absent and restarts the trace.
    pub fn parse(input: &[u8]) -> Result<Self, TraceParentError> {
        let len = input.len();
        let too_short = TraceParentError::Length { len };

        let (version, rest) = input.split_first_chunk::<2>().ok_or(too_short)?;
        let [version] = decode_hex::<1>(version).ok_or(TraceParentError::Version)?;
        if version == VERSION_INVALID {
            return Err(TraceParentError::UnsupportedVersion);
        }
        if len < TRACEPARENT_LEN || (version == VERSION_00 && len != TRACEPARENT_LEN) {
            return Err(TraceParentError::Length { len });
        }

        let rest = expect_dash(rest, SEP_VERSION)?;
        let (trace_id, rest) = rest.split_first_chunk::<32>().ok_or(too_short)?;
        let trace_id = TraceId(decode_hex(trace_id).ok_or(TraceParentError::TraceId)?);
        let rest = expect_dash(rest, SEP_TRACE_ID)?;
        let (parent_id, rest) = rest.split_first_chunk::<16>().ok_or(too_short)?;
        let parent_id = SpanId(decode_hex(parent_id).ok_or(TraceParentError::ParentId)?);
        let rest = expect_dash(rest, SEP_PARENT_ID)?;
        let (flags, rest) = rest.split_first_chunk::<2>().ok_or(too_short)?;
        let [flags] = decode_hex::<1>(flags).ok_or(TraceParentError::Flags)?;

        // Version 00 has exactly 55 characters (checked above), so `rest` is
        // empty; a later version may continue only with `-`.
        if !matches!(rest, [] | [b'-', ..]) {
            return Err(TraceParentError::TrailingData);
        }
        if !trace_id.is_valid() {
            return Err(TraceParentError::ZeroTraceId);
        }
        if !parent_id.is_valid() {
            return Err(TraceParentError::ZeroParentId);
        }

        let flags = TraceFlags(flags);
        let flags = if version == VERSION_00 {
            flags
        } else {
            flags.known()
        };
        Ok(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Writes this context as a version-`00` `traceparent` into `buf` and
    /// returns it as a string; never allocates. Flags are written as held:
    /// call [`TraceFlags::known`] first when propagating flags from a later
    /// version or with unknown bits.
    /// <https://www.w3.org/TR/trace-context-2/#version-format>
    pub fn format<'a>(&self, buf: &'a mut [u8; TRACEPARENT_LEN]) -> &'a str {
        let mut out = buf.iter_mut();
        push_hex(&mut out, &[VERSION_00]);
        push(&mut out, b'-');
        push_hex(&mut out, &self.trace_id.0);
        push(&mut out, b'-');
        push_hex(&mut out, &self.parent_id.0);
        push(&mut out, b'-');
        push_hex(&mut out, &[self.flags.0]);
        // Every byte written above is ASCII, so this cannot fall back.
        core::str::from_utf8(buf).unwrap_or_default()
    }
}

impl fmt::Display for TraceParent {
    /// The version-`00` header value, as [`TraceParent::format`] writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; TRACEPARENT_LEN];
        f.write_str(self.format(&mut buf))
    }
}

/// Strips the `-` that must start `rest`, at byte offset `at` of the value.
fn expect_dash(rest: &[u8], at: usize) -> Result<&[u8], TraceParentError> {
    match rest.split_first() {
        Some((b'-', rest)) => Ok(rest),
        _ => Err(TraceParentError::Separator { at }),
    }
}

#[cfg(test)]
mod tests;
