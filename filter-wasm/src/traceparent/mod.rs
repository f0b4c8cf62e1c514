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

/// Lowercase hex digits of every byte value, so that encoding is one table
/// lookup per byte (see [`hex_pair`]). Built at compile time, where the
/// indexing below is checked by the compiler.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
        i += 1;
    }
    table
};

/// A 16-byte trace id.
/// <https://www.w3.org/TR/trace-context-2/#trace-id>
///
/// Displays (and debug-prints) as 32 lowercase hex digits.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// An 8-byte span id (the `parent-id` field of `traceparent`).
/// <https://www.w3.org/TR/trace-context-2/#parent-id>
///
/// Displays (and debug-prints) as 16 lowercase hex digits.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

/// The 8-bit `trace-flags` field.
/// <https://www.w3.org/TR/trace-context-2/#trace-flags>
///
/// Holds the bits as received; [`TraceFlags::known`] keeps only the flags
/// version `00` defines, as required before propagating.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraceFlags(u8);

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

/// Why a `traceparent` value was rejected. Every variant means the header
/// is treated as absent and the trace restarts.
/// <https://www.w3.org/TR/trace-context-2/#versioning-of-traceparent>
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    /// Version `00` must be exactly 55 characters; a later version at least
    /// 55 (shorter values cannot be parsed at all).
    /// <https://www.w3.org/TR/trace-context-2/#versioning-of-traceparent>
    #[error(
        "traceparent is {len} characters long; version 00 must be exactly 55, later versions at least 55"
    )]
    Length {
        /// The length of the rejected value, in bytes.
        len: usize,
    },
    /// The version is not two lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#version>
    #[error("traceparent version is not two lowercase hex digits")]
    Version,
    /// The version is `ff`, which is invalid in every version of the spec.
    /// <https://www.w3.org/TR/trace-context-2/#version>
    #[error("traceparent version ff is invalid")]
    UnsupportedVersion,
    /// A `-` was expected at byte offset `at` (2, 35 or 52).
    /// <https://www.w3.org/TR/trace-context-2/#traceparent-header-field-values>
    #[error("traceparent has no `-` separator at offset {at}")]
    Separator {
        /// The byte offset where a `-` was required.
        at: usize,
    },
    /// The trace-id is not 32 lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#trace-id>
    #[error("traceparent trace-id is not 32 lowercase hex digits")]
    TraceId,
    /// The trace-id is all zeros.
    /// <https://www.w3.org/TR/trace-context-2/#trace-id>
    #[error("traceparent trace-id is all zeros")]
    ZeroTraceId,
    /// The parent-id is not 16 lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#parent-id>
    #[error("traceparent parent-id is not 16 lowercase hex digits")]
    ParentId,
    /// The parent-id is all zeros.
    /// <https://www.w3.org/TR/trace-context-2/#parent-id>
    #[error("traceparent parent-id is all zeros")]
    ZeroParentId,
    /// The trace-flags are not two lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#trace-flags>
    #[error("traceparent trace-flags are not two lowercase hex digits")]
    Flags,
    /// In a later version, the flags are followed by something other than
    /// the end of the value or a `-` (for example the `,` that joins two
    /// `traceparent` headers).
    /// <https://www.w3.org/TR/trace-context-2/#versioning-of-traceparent>
    #[error("traceparent trace-flags are followed by something other than `-` or the end")]
    TrailingData,
}

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

// === impl TraceFlags ===

impl TraceFlags {
    /// The caller may have recorded trace data.
    /// <https://www.w3.org/TR/trace-context-2/#sampled-flag>
    pub const SAMPLED: Self = Self(0x01);

    /// The rightmost 7 bytes of the trace-id are random (Level 2).
    /// <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>
    pub const RANDOM: Self = Self(0x02);

    /// The flags version `00` defines; all other bits are unknown.
    /// <https://www.w3.org/TR/trace-context-2/#other-flags>
    const KNOWN_MASK: u8 = Self::SAMPLED.0 | Self::RANDOM.0;

    /// Flags from the raw byte, unknown bits included.
    pub const fn from_u8(bits: u8) -> Self {
        Self(bits)
    }

    /// The raw byte.
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// Whether the sampled flag is set.
    /// <https://www.w3.org/TR/trace-context-2/#sampled-flag>
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the random trace-id flag is set.
    /// <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with the sampled flag set to `sampled`.
    /// <https://www.w3.org/TR/trace-context-2/#sampled-flag>
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED.0)
        } else {
            Self(self.0 & !Self::SAMPLED.0)
        }
    }

    /// Only the flags version `00` defines (sampled and random): the others
    /// are unknown, and "vendors MUST set those to zero" when propagating.
    /// <https://www.w3.org/TR/trace-context-2/#other-flags>
    #[must_use]
    pub const fn known(self) -> Self {
        Self(self.0 & Self::KNOWN_MASK)
    }
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

// === hex helpers ===

/// The value of one lowercase hex digit.
const fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Decodes `2 * N` lowercase hex digits into `N` bytes; `None` if `hex` has
/// another length or any character is not a lowercase hex digit.
fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let &[hi, lo] = pair else { return None };
        *byte = (nibble(hi)? << 4) | nibble(lo)?;
    }
    Some(out)
}

/// Writes `bytes` as lowercase hex into `buf` (which must be twice as long)
/// and returns the written text.
fn encode_hex<'a>(bytes: &[u8], buf: &'a mut [u8]) -> Option<&'a str> {
    if buf.len() != 2 * bytes.len() {
        return None;
    }
    push_hex(&mut buf.iter_mut(), bytes);
    core::str::from_utf8(buf).ok()
}

/// The two lowercase hex digits of `byte`. A `u8` always indexes a
/// 256-entry table, so the fallback is unreachable (and optimised out); it
/// only keeps the lookup free of panicking indexing.
fn hex_pair(byte: u8) -> [u8; 2] {
    HEX_PAIRS
        .get(usize::from(byte))
        .copied()
        .unwrap_or([b'0'; 2])
}

/// Writes `byte` to the next slot of `out`; the caller sizes the buffer.
fn push(out: &mut core::slice::IterMut<'_, u8>, byte: u8) {
    if let Some(slot) = out.next() {
        *slot = byte;
    }
}

/// Writes `bytes` as lowercase hex to the next slots of `out`.
fn push_hex(out: &mut core::slice::IterMut<'_, u8>, bytes: &[u8]) {
    for &byte in bytes {
        let [hi, lo] = hex_pair(byte);
        push(out, hi);
        push(out, lo);
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
mod tests {
    use super::*;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_ID: &str = "00f067aa0ba902b7";
    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn parse(s: &str) -> Result<TraceParent, TraceParentError> {
        TraceParent::parse(s.as_bytes())
    }

    fn format(tp: &TraceParent) -> String {
        let mut buf = [0u8; TRACEPARENT_LEN];
        tp.format(&mut buf).to_owned()
    }

    /// Asserts each `(input, expected error, reason)` vector.
    fn assert_rejects(cases: &[(&str, TraceParentError, &str)]) {
        for &(input, expected, reason) in cases {
            assert_eq!(parse(input), Err(expected), "{reason}: {input:?}");
        }
    }

    #[test]
    fn accepts_valid_headers() {
        let cases: &[(&str, &str, &str, u8, &str)] = &[
            (VALID, TRACE_ID, PARENT_ID, 0x01, "spec example, sampled"),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                TRACE_ID,
                PARENT_ID,
                0x00,
                "not sampled",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
                TRACE_ID,
                PARENT_ID,
                0x03,
                "sampled and random",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
                TRACE_ID,
                PARENT_ID,
                0x09,
                "version 00 keeps unknown flags as received",
            ),
            (
                "00-00000000000000000000000000000001-0000000000000001-01",
                "00000000000000000000000000000001",
                "0000000000000001",
                0x01,
                "smallest non-zero ids",
            ),
            (
                "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff",
                "ffffffffffffffffffffffffffffffff",
                "ffffffffffffffff",
                0xff,
                "all-ones ids and flags",
            ),
        ];
        for &(input, trace_id, parent_id, flags, reason) in cases {
            let tp = parse(input).unwrap_or_else(|e| panic!("{reason}: {input:?}: {e}"));
            assert_eq!(tp.trace_id.to_string(), trace_id, "{reason}");
            assert_eq!(tp.parent_id.to_string(), parent_id, "{reason}");
            assert_eq!(tp.flags.to_u8(), flags, "{reason}");
        }
    }

    #[test]
    fn parses_later_versions_by_their_first_55_characters() {
        let cases: &[(&str, u8, &str)] = &[
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                0x01,
                "later version with exactly 55 characters",
            ),
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
                0x01,
                "later version with extra fields after a dash",
            ),
            (
                "fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-",
                0x03,
                "highest valid version, trailing dash",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-xyz",
                0x03,
                "later version keeps only the known flags",
            ),
            (
                "02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-08",
                0x00,
                "unknown-only flags become zero",
            ),
        ];
        for &(input, flags, reason) in cases {
            let tp = parse(input).unwrap_or_else(|e| panic!("{reason}: {input:?}: {e}"));
            assert_eq!(tp.trace_id.to_string(), TRACE_ID, "{reason}");
            assert_eq!(tp.parent_id.to_string(), PARENT_ID, "{reason}");
            assert_eq!(tp.flags.to_u8(), flags, "{reason}");
        }
    }

    #[test]
    fn rejects_invalid_versions() {
        use TraceParentError::*;
        assert_rejects(&[
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                UnsupportedVersion,
                "version ff is always invalid",
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                UnsupportedVersion,
                "version ff is invalid even with the later-version layout",
            ),
            (
                "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
                "uppercase version",
            ),
            (
                "FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
                "uppercase ff is not even a version",
            ),
            (
                "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
                "non-hex version",
            ),
            (
                "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
                "one-digit version",
            ),
            (
                " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
                "leading whitespace is not trimmed",
            ),
        ]);
    }

    #[test]
    fn rejects_wrong_lengths() {
        use TraceParentError::*;
        assert_rejects(&[
            ("", Length { len: 0 }, "empty value"),
            ("0", Length { len: 1 }, "one character"),
            ("00", Length { len: 2 }, "version only"),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
                Length { len: 54 },
                "version 00 with a one-digit flags field",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                Length { len: 54 },
                "version 00 with a 31-digit trace-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
                Length { len: 54 },
                "version 00 with a 15-digit parent-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                Length { len: 56 },
                "version 00 with a trailing dash",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                Length { len: 61 },
                "version 00 with extra fields",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
                Length { len: 56 },
                "trailing whitespace is not trimmed",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
                Length { len: 54 },
                "later version shorter than 55 characters",
            ),
        ]);
    }

    #[test]
    fn rejects_uppercase_in_any_field() {
        use TraceParentError::*;
        assert_rejects(&[
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                TraceId,
                "uppercase trace-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473A-00f067aa0ba902b7-01",
                TraceId,
                "one uppercase digit in the trace-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
                ParentId,
                "uppercase parent-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
                Flags,
                "uppercase flags",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A-x",
                Flags,
                "uppercase flags in a later version",
            ),
        ]);
    }

    #[test]
    fn rejects_non_hex_characters() {
        use TraceParentError::*;
        assert_rejects(&[
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                TraceId,
                "non-hex trace-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e 736-00f067aa0ba902b7-01",
                TraceId,
                "space inside the trace-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
                TraceId,
                "a two-byte UTF-8 character in place of two hex digits",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
                ParentId,
                "non-hex parent-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
                Flags,
                "non-hex flags",
            ),
            (
                "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceId,
                "sign character in the trace-id",
            ),
        ]);
    }

    #[test]
    fn rejects_all_zero_ids() {
        use TraceParentError::*;
        assert_rejects(&[
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ZeroTraceId,
                "all-zero trace-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ZeroParentId,
                "all-zero parent-id",
            ),
            (
                "01-00000000000000000000000000000000-00f067aa0ba902b7-01-x",
                ZeroTraceId,
                "all-zero trace-id in a later version",
            ),
        ]);
    }

    #[test]
    fn rejects_wrong_separators() {
        use TraceParentError::*;
        assert_rejects(&[
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Separator { at: 2 },
                "underscore after the version",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
                Separator { at: 35 },
                "underscore after the trace-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
                Separator { at: 52 },
                "underscore after the parent-id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e47361-0f067aa0ba902b7-01",
                Separator { at: 35 },
                "trace-id one digit too long",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x",
                TrailingData,
                "later version with a dot after the flags",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-012",
                TrailingData,
                "later version with three flag digits",
            ),
        ]);
    }

    #[test]
    fn rejects_joined_duplicate_headers() {
        use TraceParentError::*;
        assert_rejects(&[
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Length { len: 111 },
                "two version-00 headers joined by Envoy",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TrailingData,
                "two later-version headers joined by Envoy",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TrailingData,
                "later version joined with version 00",
            ),
        ]);
    }

    #[test]
    fn round_trips_version_00() {
        for input in [
            VALID,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "00-0123456789abcdef0123456789abcdef-fedcba9876543210-03",
            "00-ffffffffffffffffffffffffffffffff-0000000000000001-ff",
        ] {
            let tp = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(format(&tp), input);
            assert_eq!(tp.to_string(), input, "Display matches format");
        }
    }

    #[test]
    fn formats_later_versions_as_00_with_known_flags() {
        let tp = parse("7f-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-more")
            .unwrap_or_else(|e| panic!("{e}"));
        let propagated = TraceParent {
            flags: tp.flags.known(),
            ..tp
        };
        assert_eq!(
            format(&propagated),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
        );
    }

    #[test]
    fn formats_ids_as_lowercase_hex() {
        let tp = TraceParent {
            trace_id: super::TraceId::from_bytes([0xab; 16]),
            parent_id: SpanId::from_bytes([0x0c; 8]),
            flags: TraceFlags::RANDOM.with_sampled(true),
        };
        assert_eq!(
            format(&tp),
            "00-abababababababababababababababab-0c0c0c0c0c0c0c0c-03"
        );
        assert_eq!(tp.trace_id.to_string(), "abababababababababababababababab");
        assert_eq!(tp.parent_id.to_string(), "0c0c0c0c0c0c0c0c");
        assert_eq!(
            format!("{:?}", tp.trace_id),
            "TraceId(abababababababababababababababab)"
        );
        assert_eq!(format!("{:?}", tp.parent_id), "SpanId(0c0c0c0c0c0c0c0c)");
    }

    #[test]
    fn ids_round_trip_bytes_and_reject_zero() {
        let bytes = *b"0123456789abcdef";
        assert_eq!(super::TraceId::from_bytes(bytes).to_bytes(), bytes);
        assert_eq!(SpanId::from_bytes([7; 8]).to_bytes(), [7; 8]);
        assert!(!super::TraceId::INVALID.is_valid());
        assert!(!SpanId::INVALID.is_valid());
        assert!(super::TraceId::from_bytes(bytes).is_valid());
        assert!(SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1]).is_valid());
    }

    #[test]
    fn flags_set_and_mask_bits() {
        let cases: &[(TraceFlags, u8, bool, bool, &str)] = &[
            (
                TraceFlags::default(),
                0x00,
                false,
                false,
                "default is empty",
            ),
            (TraceFlags::SAMPLED, 0x01, true, false, "sampled"),
            (TraceFlags::RANDOM, 0x02, false, true, "random"),
            (
                TraceFlags::RANDOM.with_sampled(true),
                0x03,
                true,
                true,
                "random, sampled",
            ),
            (
                TraceFlags::from_u8(0xff).with_sampled(false),
                0xfe,
                false,
                true,
                "unsampling keeps other bits",
            ),
            (
                TraceFlags::from_u8(0xff).known(),
                0x03,
                true,
                true,
                "known drops unknown bits",
            ),
            (
                TraceFlags::from_u8(0xfc).known(),
                0x00,
                false,
                false,
                "unknown-only becomes zero",
            ),
        ];
        for &(flags, bits, sampled, random, reason) in cases {
            assert_eq!(flags.to_u8(), bits, "{reason}");
            assert_eq!(flags.is_sampled(), sampled, "{reason}");
            assert_eq!(flags.is_random(), random, "{reason}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: &[(TraceParentError, &str)] = &[
            (TraceParentError::Length { len: 54 }, "54 characters"),
            (TraceParentError::Separator { at: 35 }, "offset 35"),
            (TraceParentError::UnsupportedVersion, "version ff"),
            (TraceParentError::ZeroParentId, "parent-id is all zeros"),
        ];
        for (error, fragment) in cases {
            assert!(
                error.to_string().contains(fragment),
                "{error} should mention {fragment}"
            );
        }
    }
}
