//! The case propagation header names are written in: lowercase, or Go's
//! canonical MIME case for consumers that look names up case-sensitively.
//!
//! Go services usually extract with
//! `propagation.HeaderCarrier(http.Header(msg.Header))`. `http.Header.Get`
//! canonicalises the key it is asked for (`traceparent` becomes
//! `Traceparent`) and then looks that exact string up in the map, while
//! nats.go's `Header` keeps the names as they came on the wire. A
//! lowercase `traceparent` header is then invisible to the Go consumer.

use std::borrow::Cow;

/// How [`CasedHeaderInjector`](super::CasedHeaderInjector) and the
/// publishers spell the propagation headers they write (`traceparent`,
/// `tracestate`, `baggage`, or whatever the global propagator's fields
/// are).
///
/// Reading is unaffected: the extractor matches any case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderCase {
    /// `traceparent`, `tracestate`, `baggage`: the W3C spelling. The
    /// default.
    #[default]
    Lowercase,
    /// `Traceparent`, `Tracestate`, `Baggage`: each propagator key through
    /// [`canonical_mime_header_key`], what Go's
    /// `textproto.CanonicalMIMEHeaderKey` (and so `http.Header.Get`)
    /// produces, for Go consumers that read nats.go headers through
    /// `http.Header`.
    GoCanonical,
}

// === impl HeaderCase ===

impl HeaderCase {
    /// `key` spelled in this case; borrowed when it already is.
    ///
    /// ```
    /// use meshtrace::nats::HeaderCase;
    ///
    /// assert_eq!(HeaderCase::Lowercase.apply("TraceParent"), "traceparent");
    /// assert_eq!(HeaderCase::GoCanonical.apply("traceparent"), "Traceparent");
    /// ```
    pub fn apply(self, key: &str) -> Cow<'_, str> {
        match self {
            Self::Lowercase if key.bytes().any(|b| b.is_ascii_uppercase()) => {
                Cow::Owned(key.to_ascii_lowercase())
            }
            Self::Lowercase => Cow::Borrowed(key),
            Self::GoCanonical => canonical_mime_header_key(key),
        }
    }
}

/// The canonical MIME form of a header name, as Go's
/// [`textproto.CanonicalMIMEHeaderKey`] computes it: the first letter and
/// every letter following a `-` upper-cased, every other letter
/// lower-cased (`x-b3-traceid` → `X-B3-Traceid`, `TRACESTATE` →
/// `Tracestate`). As in Go, a name holding a byte that is not an RFC 7230
/// `tchar` (a space, `:`, a non-ASCII byte...) is returned unchanged, and
/// so is the empty name.
///
/// Borrowed when `key` is canonical already; otherwise one `String` of
/// `key`'s length.
///
/// Source: `CanonicalMIMEHeaderKey`, `canonicalMIMEHeaderKey` and
/// `validHeaderFieldByte` in Go's `src/net/textproto/reader.go`.
///
/// [`textproto.CanonicalMIMEHeaderKey`]: https://pkg.go.dev/net/textproto#CanonicalMIMEHeaderKey
///
/// ```
/// use meshtrace::nats::canonical_mime_header_key;
///
/// assert_eq!(canonical_mime_header_key("traceparent"), "Traceparent");
/// assert_eq!(canonical_mime_header_key("x-b3-traceid"), "X-B3-Traceid");
/// ```
pub fn canonical_mime_header_key(key: &str) -> Cow<'_, str> {
    let bytes = key.as_bytes();
    if !bytes.iter().copied().all(is_token_byte) || is_canonical(bytes) {
        return Cow::Borrowed(key);
    }
    let mut canonical = String::with_capacity(key.len());
    let mut upper = true;
    for &b in bytes {
        let c = if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        canonical.push(char::from(c));
        upper = c == b'-';
    }
    Cow::Owned(canonical)
}

/// Whether every letter already has the case Go would give it (Go's quick
/// check in `CanonicalMIMEHeaderKey`).
fn is_canonical(bytes: &[u8]) -> bool {
    let mut upper = true;
    for &b in bytes {
        if (upper && b.is_ascii_lowercase()) || (!upper && b.is_ascii_uppercase()) {
            return false;
        }
        upper = b == b'-';
    }
    true
}

/// An RFC 7230 §3.2.6 `tchar`, Go's `validHeaderFieldByte`:
/// `!#$%&'*+-.^_`|~`, digits and letters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalises_like_go_textproto() {
        // Expected values are what Go's textproto.CanonicalMIMEHeaderKey
        // returns for each input.
        let cases = [
            ("traceparent", "Traceparent", "W3C Trace Context"),
            ("tracestate", "Tracestate", "W3C Trace Context"),
            ("baggage", "Baggage", "W3C Baggage"),
            ("x-b3-traceid", "X-B3-Traceid", "B3 multi: after each dash"),
            ("b3", "B3", "a digit stays"),
            ("TRACEPARENT", "Traceparent", "upper case lowered"),
            ("uber-trace-id", "Uber-Trace-Id", "Jaeger"),
            ("ot-tracer-spanid", "Ot-Tracer-Spanid", "OpenTracing"),
            ("x--y", "X--Y", "letter after a double dash"),
            ("-x", "-X", "leading dash"),
            ("a_b", "A_b", "underscore is not a separator"),
            ("Traceparent", "Traceparent", "canonical already"),
            ("trace parent", "trace parent", "space: unchanged, as in Go"),
            ("trace:parent", "trace:parent", "non-token byte: unchanged"),
            ("tracé", "tracé", "non-ASCII: unchanged"),
            ("", "", "empty"),
        ];
        for (key, want, reason) in cases {
            assert_eq!(canonical_mime_header_key(key), want, "{key}: {reason}");
        }
    }

    #[test]
    fn borrows_names_already_in_case() {
        let cases = [
            (HeaderCase::GoCanonical, "Traceparent"),
            (HeaderCase::GoCanonical, "X-B3-Traceid"),
            (HeaderCase::GoCanonical, "trace parent"),
            (HeaderCase::Lowercase, "traceparent"),
        ];
        for (case, key) in cases {
            assert!(
                matches!(case.apply(key), Cow::Borrowed(_)),
                "{case:?} {key}: no copy"
            );
        }
    }

    #[test]
    fn lowercase_lowers_any_spelling() {
        assert_eq!(HeaderCase::Lowercase.apply("TraceState"), "tracestate");
        assert_eq!(HeaderCase::default(), HeaderCase::Lowercase);
    }
}
