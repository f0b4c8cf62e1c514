//! B3 propagation (Zipkin), for meshes that are half B3 and half W3C:
//! allocation-free parsing of the single `b3` header and the `X-B3-*`
//! headers, and formatting into fixed buffers.
//! <https://github.com/openzipkin/b3-propagation>
//!
//! ```text
//! b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]
//! b3: {SamplingState}
//! X-B3-TraceId, X-B3-SpanId, X-B3-ParentSpanId, X-B3-Sampled, X-B3-Flags
//! ```
//!
//! Trace ids are 16 or 32 lowercase hex digits (a 64-bit id is the low
//! half of the 128-bit one, as OpenTelemetry's B3 propagator reads it),
//! span ids 16; all-zero ids are invalid. The sampling state is `1`
//! (accept), `0` (deny) or `d` (debug, which implies accept); absent, the
//! receiver decides (deferred). `X-B3-Flags: 1` is debug; `X-B3-Sampled`
//! is `1` or `0` (and the legacy `true` / `false`).

use crate::traceparent::{SpanId, TraceId, TraceParent, decode_hex, push, push_hex};

/// The single header's name.
pub const B3: &str = "b3";
/// The multi headers' names, lowercase as Envoy's header maps hold them.
pub const X_B3_TRACE_ID: &str = "x-b3-traceid";
/// `X-B3-SpanId`.
pub const X_B3_SPAN_ID: &str = "x-b3-spanid";
/// `X-B3-ParentSpanId`.
pub const X_B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
/// `X-B3-Sampled`.
pub const X_B3_SAMPLED: &str = "x-b3-sampled";
/// `X-B3-Flags`.
pub const X_B3_FLAGS: &str = "x-b3-flags";

/// Length of the single header this filter writes:
/// `{32 hex}-{16 hex}-{0|1}`.
pub const B3_SINGLE_LEN: usize = 32 + 1 + 16 + 2;

/// What a request's B3 headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B3Context {
    /// A span to continue.
    Span {
        /// The trace (a 64-bit id zero-extended).
        trace_id: TraceId,
        /// The caller's span, the parent of the proxy's.
        span_id: SpanId,
        /// `Some(true)` for accept or debug, `Some(false)` for deny,
        /// `None` when the caller deferred the decision.
        sampled: Option<bool>,
    },
    /// Only a sampling decision (`b3: 0`, `b3: 1`, `b3: d`, or
    /// `X-B3-Sampled` without ids): no trace to continue.
    SamplingOnly(bool),
}

/// Why B3 headers were not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum B3Error {
    /// The trace id is not 16 or 32 lowercase hex digits, or all zero.
    #[error("B3 trace id is not 16 or 32 lowercase hex digits (or is all zero)")]
    TraceId,
    /// The span id is not 16 lowercase hex digits, or all zero.
    #[error("B3 span id is not 16 lowercase hex digits (or is all zero)")]
    SpanId,
    /// The parent span id is not 16 lowercase hex digits.
    #[error("B3 parent span id is not 16 lowercase hex digits")]
    ParentSpanId,
    /// The sampling state is not `0`, `1` or `d` (or the flags not `1`).
    #[error("B3 sampling state is not 0, 1 or d")]
    Sampling,
    /// A trace id without a span id, or the reverse.
    #[error("B3 trace id and span id must come together")]
    Incomplete,
    /// More fields than `trace-span-sampled-parent`.
    #[error("B3 single header has too many fields")]
    TooManyFields,
}

/// The request's `X-B3-*` headers, as read from the header map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultiHeaders<'a> {
    /// `X-B3-TraceId`.
    pub trace_id: Option<&'a [u8]>,
    /// `X-B3-SpanId`.
    pub span_id: Option<&'a [u8]>,
    /// `X-B3-ParentSpanId` (validated, not used: the proxy's parent is the
    /// caller's span).
    pub parent_span_id: Option<&'a [u8]>,
    /// `X-B3-Sampled`.
    pub sampled: Option<&'a [u8]>,
    /// `X-B3-Flags`.
    pub flags: Option<&'a [u8]>,
}

/// Reads a `b3` header.
///
/// # Errors
///
/// A [`B3Error`] naming the bad field; the header is then ignored.
pub fn parse_single(value: &[u8]) -> Result<B3Context, B3Error> {
    let mut fields = value.split(|&b| b == b'-');
    let first = fields.next().unwrap_or_default();
    let Some(second) = fields.next() else {
        return sampling_state(first).map(B3Context::SamplingOnly);
    };
    let trace_id = trace_id(first)?;
    let span_id = span_id(second)?;
    let sampled = fields.next().map(sampling_state).transpose()?;
    if let Some(parent) = fields.next() {
        span_id_or(parent, B3Error::ParentSpanId)?;
    }
    if fields.next().is_some() {
        return Err(B3Error::TooManyFields);
    }
    Ok(B3Context::Span {
        trace_id,
        span_id,
        sampled,
    })
}

/// Reads the `X-B3-*` headers; `Ok(None)` when there are none.
///
/// # Errors
///
/// A [`B3Error`] naming the bad header; the headers are then ignored.
pub fn parse_multi(headers: &MultiHeaders<'_>) -> Result<Option<B3Context>, B3Error> {
    let debug = match headers.flags {
        None => false,
        Some(b"1") => true,
        Some(_) => return Err(B3Error::Sampling),
    };
    let sampled = match headers.sampled {
        None => None,
        Some(b"1" | b"true") => Some(true),
        Some(b"0" | b"false") => Some(false),
        Some(_) => return Err(B3Error::Sampling),
    };
    let sampled = if debug { Some(true) } else { sampled };
    match (headers.trace_id, headers.span_id) {
        (None, None) => Ok(sampled.map(B3Context::SamplingOnly)),
        (Some(trace), Some(span)) => {
            if let Some(parent) = headers.parent_span_id {
                span_id_or(parent, B3Error::ParentSpanId)?;
            }
            Ok(Some(B3Context::Span {
                trace_id: trace_id(trace)?,
                span_id: span_id(span)?,
                sampled,
            }))
        }
        _ => Err(B3Error::Incomplete),
    }
}

/// Writes `b3: {trace}-{span}-{1|0}` for the span `traceparent` names as
/// the parent of the next hop.
pub fn format_single<'a>(traceparent: &TraceParent, buf: &'a mut [u8; B3_SINGLE_LEN]) -> &'a str {
    let mut out = buf.iter_mut();
    push_hex(&mut out, &traceparent.trace_id.to_bytes());
    push(&mut out, b'-');
    push_hex(&mut out, &traceparent.parent_id.to_bytes());
    push(&mut out, b'-');
    push(
        &mut out,
        if traceparent.flags.is_sampled() {
            b'1'
        } else {
            b'0'
        },
    );
    core::str::from_utf8(buf).unwrap_or_default()
}

/// `X-B3-Sampled` for `traceparent`.
pub fn sampled_value(traceparent: &TraceParent) -> &'static str {
    if traceparent.flags.is_sampled() {
        "1"
    } else {
        "0"
    }
}

fn sampling_state(value: &[u8]) -> Result<bool, B3Error> {
    match value {
        b"1" | b"d" => Ok(true),
        b"0" => Ok(false),
        _ => Err(B3Error::Sampling),
    }
}

fn trace_id(hex: &[u8]) -> Result<TraceId, B3Error> {
    let bytes = match hex.len() {
        32 => decode_hex::<16>(hex),
        16 => decode_hex::<8>(hex).map(|low| {
            let mut bytes = [0u8; 16];
            bytes[8..].copy_from_slice(&low);
            bytes
        }),
        _ => None,
    };
    bytes
        .map(TraceId::from_bytes)
        .filter(TraceId::is_valid)
        .ok_or(B3Error::TraceId)
}

fn span_id(hex: &[u8]) -> Result<SpanId, B3Error> {
    span_id_or(hex, B3Error::SpanId)
}

fn span_id_or(hex: &[u8], error: B3Error) -> Result<SpanId, B3Error> {
    decode_hex::<8>(hex)
        .map(SpanId::from_bytes)
        .filter(SpanId::is_valid)
        .ok_or(error)
}

#[cfg(test)]
mod tests;
