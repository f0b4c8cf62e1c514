//! Reading a whole header map from the proxy-wasm pairs serialization, in
//! one pass and without allocating.
//!
//! Why the whole map: in Envoy each value-returning host call re-enters the
//! VM to allocate its result, and `get_property` (the only call that sees
//! every value of a repeated header) goes through Envoy's attribute
//! wrappers. Measured in Envoy 1.40 (BENCHMARKS.md): about 4 µs of Envoy
//! CPU per `get_property`, about 7 µs per CEL `expr_evaluate`, 1 to 3 µs
//! per header read. One `proxy_get_header_map_pairs` returns every header in
//! one call: `traceparent` (all of its values, so a repeated one is seen),
//! `tracestate` (all values, to combine) and, for a sampled request, the
//! span's attributes.
//!
//! The serialization: a `u32` count, a `u32` key size and value size per
//! pair, then each key and each value followed by a NUL, all little-endian.
//! <https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1#header-map-pairs>

use std::borrow::Cow;

use crate::b3::MultiHeaders;

/// Why a serialized map could not be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PairsError {
    /// The buffer ends inside the count, a size, a key or a value.
    #[error("header map truncated at byte {0}")]
    Truncated(usize),
    /// A key or value is not followed by its NUL.
    #[error("header map entry not NUL-terminated at byte {0}")]
    MissingNul(usize),
    /// Bytes left after the last pair.
    #[error("unexpected bytes after the last header, from byte {0}")]
    Trailing(usize),
}

/// Calls `f` with each `(key, value)` of a serialized map, in order;
/// returns the number of pairs. An empty buffer is an empty map (hosts
/// return no buffer at all for one).
///
/// # Errors
///
/// [`PairsError`] for a malformed buffer; `f` may have seen the pairs
/// before the fault.
pub fn for_each_pair<'a>(
    bytes: &'a [u8],
    mut f: impl FnMut(&'a [u8], &'a [u8]),
) -> Result<usize, PairsError> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let u32_at = |at: usize| -> Result<usize, PairsError> {
        let raw = bytes
            .get(at..at.saturating_add(4))
            .ok_or(PairsError::Truncated(at))?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
    };
    let count = u32_at(0)?;
    let sizes_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .filter(|end| *end <= bytes.len())
        .ok_or(PairsError::Truncated(4))?;
    let mut data = sizes_end;
    // Takes `len` bytes and their NUL at `data`.
    let mut take = |len: usize| -> Result<&'a [u8], PairsError> {
        let end = data
            .checked_add(len)
            .filter(|end| *end < bytes.len())
            .ok_or(PairsError::Truncated(data))?;
        if bytes[end] != 0 {
            return Err(PairsError::MissingNul(end));
        }
        let slice = &bytes[data..end];
        data = end + 1;
        Ok(slice)
    };
    for i in 0..count {
        let key_len = u32_at(4 + 8 * i)?;
        let value_len = u32_at(8 + 8 * i)?;
        let key = take(key_len)?;
        let value = take(value_len)?;
        f(key, value);
    }
    if data != bytes.len() {
        return Err(PairsError::Trailing(data));
    }
    Ok(count)
}

/// The request headers the filter reads, borrowed from the serialized map.
/// Envoy's header names are lowercase (HTTP/2 requires it; its HTTP/1
/// codec lowercases them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestHeaders<'a> {
    /// The first `traceparent`.
    pub traceparent: Option<&'a [u8]>,
    /// How many `traceparent` headers there were.
    pub traceparent_count: usize,
    /// The first `tracestate`.
    pub tracestate: Option<&'a [u8]>,
    /// How many `tracestate` headers there were.
    pub tracestate_count: usize,
    /// `:method`.
    pub method: Option<&'a [u8]>,
    /// `:path`.
    pub path: Option<&'a [u8]>,
    /// `:scheme`.
    pub scheme: Option<&'a [u8]>,
    /// `:authority` (the `Host` header in HTTP/1).
    pub authority: Option<&'a [u8]>,
    /// `user-agent`.
    pub user_agent: Option<&'a [u8]>,
    /// `x-request-id`.
    pub request_id: Option<&'a [u8]>,
    /// The first `b3` (single header).
    pub b3: Option<&'a [u8]>,
    /// The first of each `X-B3-*` header.
    pub b3_multi: MultiHeaders<'a>,
}

// === impl RequestHeaders ===

impl<'a> RequestHeaders<'a> {
    /// Picks the filter's headers out of a serialized request header map.
    ///
    /// # Errors
    ///
    /// [`PairsError`] for a malformed buffer.
    pub fn scan(bytes: &'a [u8]) -> Result<Self, PairsError> {
        let mut h = Self::default();
        for_each_pair(bytes, |key, value| {
            let first = |slot: &mut Option<&'a [u8]>| {
                slot.get_or_insert(value);
            };
            match key {
                b"traceparent" => {
                    first(&mut h.traceparent);
                    h.traceparent_count += 1;
                }
                b"tracestate" => {
                    first(&mut h.tracestate);
                    h.tracestate_count += 1;
                }
                b":method" => first(&mut h.method),
                b":path" => first(&mut h.path),
                b":scheme" => first(&mut h.scheme),
                b":authority" => first(&mut h.authority),
                b"user-agent" => first(&mut h.user_agent),
                b"x-request-id" => first(&mut h.request_id),
                b"b3" => first(&mut h.b3),
                b"x-b3-traceid" => first(&mut h.b3_multi.trace_id),
                b"x-b3-spanid" => first(&mut h.b3_multi.span_id),
                b"x-b3-parentspanid" => first(&mut h.b3_multi.parent_span_id),
                b"x-b3-sampled" => first(&mut h.b3_multi.sampled),
                b"x-b3-flags" => first(&mut h.b3_multi.flags),
                _ => {}
            }
        })?;
        Ok(h)
    }

    /// The single `traceparent`, or `None` when there is none; `Err` with
    /// the count when there are several, which W3C Trace Context treats as
    /// invalid (the trace restarts).
    /// <https://www.w3.org/TR/trace-context-2/#traceparent-header>
    pub fn single_traceparent(&self) -> Result<Option<&'a [u8]>, usize> {
        match self.traceparent_count {
            0 | 1 => Ok(self.traceparent),
            n => Err(n),
        }
    }

    /// The `tracestate` value, `None` when there is none: the header as it
    /// is, or for repeated headers their combined value (joined with `,`,
    /// read again from `bytes`, the map this was scanned from).
    /// <https://www.w3.org/TR/trace-context-2/#combined-header-value>
    pub fn combined_tracestate(&self, bytes: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        match self.tracestate_count {
            0 => None,
            1 => self.tracestate.map(Cow::Borrowed),
            _ => Some(Cow::Owned(joined(bytes, b"tracestate"))),
        }
    }
}

/// Whether a serialized map has a non-empty header `name` (lowercase).
/// A malformed map has none.
pub fn has_header(bytes: &[u8], name: &str) -> bool {
    let mut found = false;
    let _ = for_each_pair(bytes, |key, value| {
        found |= key == name.as_bytes() && !value.is_empty();
    });
    found
}

/// Every value of `name` in a serialized map, joined with `,`.
fn joined(bytes: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = for_each_pair(bytes, |key, value| {
        if key == name {
            if !out.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(value);
        }
    });
    out
}

/// The host's serialization of `pairs` (proxy-wasm ABI header map), for
/// the unit tests that feed [`RequestHeaders::scan`].
#[cfg(test)]
pub(crate) fn serialize(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn picks_the_filters_headers_in_one_pass() {
        let bytes = serialize(&[
            (":authority", "orders.svc:8080"),
            (":path", "/orders/7?x=1"),
            (":method", "GET"),
            (":scheme", "http"),
            ("user-agent", "curl/8"),
            ("x-request-id", "req-1"),
            ("accept", "*/*"),
            ("traceparent", TP),
            ("tracestate", "a=1"),
        ]);
        let h = RequestHeaders::scan(&bytes).unwrap();
        assert_eq!(h.single_traceparent(), Ok(Some(TP.as_bytes())));
        assert_eq!(h.tracestate, Some(&b"a=1"[..]));
        assert_eq!(h.tracestate_count, 1);
        assert!(
            matches!(h.combined_tracestate(&bytes), Some(Cow::Borrowed(b"a=1"))),
            "a single header is borrowed"
        );
        assert_eq!(h.method, Some(&b"GET"[..]));
        assert_eq!(h.path, Some(&b"/orders/7?x=1"[..]));
        assert_eq!(h.scheme, Some(&b"http"[..]));
        assert_eq!(h.authority, Some(&b"orders.svc:8080"[..]));
        assert_eq!(h.user_agent, Some(&b"curl/8"[..]));
        assert_eq!(h.request_id, Some(&b"req-1"[..]));
    }

    #[test]
    fn repeated_trace_headers_are_counted_and_joined() {
        let bytes = serialize(&[
            ("traceparent", TP),
            ("tracestate", "a=1"),
            ("traceparent", TP),
            ("tracestate", "b=2"),
        ]);
        let h = RequestHeaders::scan(&bytes).unwrap();
        assert_eq!(
            h.single_traceparent(),
            Err(2),
            "two traceparent headers are invalid, even when equal"
        );
        assert_eq!(h.tracestate_count, 2);
        assert_eq!(joined(&bytes, b"tracestate"), b"a=1,b=2");
        assert_eq!(
            h.combined_tracestate(&bytes).as_deref(),
            Some(&b"a=1,b=2"[..])
        );
    }

    #[test]
    fn empty_buffer_is_an_empty_map() {
        assert_eq!(for_each_pair(&[], |_, _| {}), Ok(0));
        let h = RequestHeaders::scan(&[]).unwrap();
        assert_eq!(h.single_traceparent(), Ok(None));
        assert_eq!(h.combined_tracestate(&[]), None);
        assert_eq!(h, RequestHeaders::default());
    }

    #[test]
    fn values_may_hold_any_bytes_but_nul() {
        let mut bytes = serialize(&[("user-agent", "caf?")]);
        let at = bytes.len() - 2;
        bytes[at] = 0xe9; // Latin-1 'é': not UTF-8, still a value.
        let h = RequestHeaders::scan(&bytes).unwrap();
        assert_eq!(h.user_agent, Some(&b"caf\xe9"[..]));
    }

    #[test]
    fn malformed_maps_are_errors_not_panics() {
        let good = serialize(&[("a", "bc"), ("traceparent", TP)]);
        for cut in 1..good.len() {
            assert!(
                RequestHeaders::scan(&good[..cut]).is_err(),
                "cut at {cut} of {}",
                good.len()
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            RequestHeaders::scan(&trailing),
            Err(PairsError::Trailing(good.len()))
        );
        let mut no_nul = good.clone();
        let first_nul = 4 + 16 + 1;
        no_nul[first_nul] = b'x';
        assert_eq!(
            RequestHeaders::scan(&no_nul),
            Err(PairsError::MissingNul(first_nul))
        );
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(RequestHeaders::scan(&huge).is_err(), "a count past the end");
        let mut long_key = good.clone();
        long_key[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            RequestHeaders::scan(&long_key).is_err(),
            "a size past the end"
        );
    }
}
