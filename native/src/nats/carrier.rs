//! W3C context carriers over NATS message headers.
//!
//! NATS header names are case-sensitive on the wire and in
//! `async_nats::HeaderMap`, while the propagators (and other languages'
//! carriers: Go's writes `Traceparent`) disagree on case. So the injectors
//! write one chosen case ([`HeaderCase`]: lowercase unless told otherwise)
//! and the extractor scans for a case-insensitive match.

use std::borrow::Cow;
use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

use super::header_case::HeaderCase;
use crate::TRACESTATE;

/// Writes propagation fields (`traceparent`, `tracestate`, `baggage`) into
/// NATS headers under lowercase names, replacing any existing value.
///
/// A name or value NATS cannot carry (control characters, `:` in a name,
/// CR/LF in a value) is skipped: propagation never fails a publish. An
/// empty `tracestate` is not written, and removes a stale one. For another
/// case, [`CasedHeaderInjector`].
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

/// Writes propagation fields into NATS headers under names in a chosen
/// [`HeaderCase`], replacing any existing value and removing the field's
/// other spellings, so the receiver sees exactly one.
///
/// ```
/// use async_nats::HeaderMap;
/// use meshtrace::nats::{CasedHeaderInjector, HeaderCase};
/// use opentelemetry::propagation::Injector;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "stale");
/// CasedHeaderInjector::new(&mut headers, HeaderCase::GoCanonical)
///     .set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned());
/// assert!(headers.get("Traceparent").is_some());
/// assert!(headers.get("traceparent").is_none());
/// ```
#[derive(Debug)]
pub struct CasedHeaderInjector<'a> {
    headers: &'a mut HeaderMap,
    case: HeaderCase,
}

/// Reads propagation fields from NATS headers, matching names
/// case-insensitively (`Traceparent` and `traceparent` are the same field).
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

// === impl HeaderInjector ===

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        insert_replacing(self.0, key, HeaderCase::Lowercase.apply(key), value);
    }
}

// === impl CasedHeaderInjector ===

impl<'a> CasedHeaderInjector<'a> {
    /// An injector writing into `headers` with names in `case`.
    pub fn new(headers: &'a mut HeaderMap, case: HeaderCase) -> Self {
        Self { headers, case }
    }
}

impl Injector for CasedHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        insert_replacing(self.headers, key, self.case.apply(key), value);
    }
}

/// Sets header `name` (the propagator's `key`, re-cased) to `value`,
/// dropping the name's other spellings. The W3C fields' names are static
/// (no allocation); other propagators' keys are lowercase already, so
/// `name` is borrowed on the default path, and an owned (re-cased) name
/// moves into the `HeaderName` without a second copy. The propagator's
/// `value` moves into the header.
fn insert_replacing(headers: &mut HeaderMap, key: &str, name: Cow<'_, str>, value: String) {
    let parsed = match (static_name(&name), name) {
        (Some(known), _) => Ok(known),
        (None, Cow::Borrowed(name)) => HeaderName::from_str(name),
        (None, Cow::Owned(name)) => HeaderName::try_from(name),
    };
    // The one rule `HeaderValue` enforces: no CR or LF.
    let (Ok(name), false) = (parsed, value.contains(['\r', '\n'])) else {
        tracing::debug!(header = %key, "skipping propagation header NATS cannot carry");
        return;
    };
    // An empty `tracestate` is not sent: "Vendors MUST accept empty
    // tracestate headers but SHOULD avoid sending them"
    // (<https://www.w3.org/TR/trace-context-2/#list>; OpenTelemetry Go omits
    // it too). The SDK's propagator sets it on every injection, and the
    // empty header would cost every message a header on both ends.
    let omitted = value.is_empty() && key.eq_ignore_ascii_case(TRACESTATE);
    let spelled: &str = name.as_ref();
    // Drop differently-cased duplicates (`Traceparent` when writing
    // `traceparent`, and the reverse) so the receiver sees exactly one
    // value; an omitted field drops every spelling.
    let stale: Vec<HeaderName> = headers
        .iter()
        .map(|(n, _)| n)
        .filter(|n| {
            let n: &str = n.as_ref();
            (omitted || n != spelled) && n.eq_ignore_ascii_case(spelled)
        })
        .cloned()
        .collect();
    if !stale.is_empty() {
        let mut kept = HeaderMap::new();
        for (n, values) in headers.iter() {
            if !stale.contains(n) {
                for v in values {
                    kept.append(n.clone(), v.clone());
                }
            }
        }
        *headers = kept;
    }
    if !omitted {
        headers.insert(name, HeaderValue::from(value));
    }
}

/// The propagation fields' names in both spellings [`HeaderCase`] writes,
/// as static header names.
fn static_name(spelled: &str) -> Option<HeaderName> {
    let known = match spelled {
        "traceparent" => "traceparent",
        "tracestate" => "tracestate",
        "baggage" => "baggage",
        "Traceparent" => "Traceparent",
        "Tracestate" => "Tracestate",
        "Baggage" => "Baggage",
        _ => return None,
    };
    Some(HeaderName::from_static(known))
}

// === impl HeaderExtractor ===

impl<'a> HeaderExtractor<'a> {
    /// The first value of the header named `key`, compared ignoring ASCII
    /// case; an exact-case match wins over other spellings.
    pub fn get_ignore_case(&self, key: &str) -> Option<&'a str> {
        // One pass over the (few) headers, comparing as strings:
        // `HeaderMap::get` would parse `key` into a `HeaderName` first.
        let mut other_case = None;
        for (name, values) in self.0.iter() {
            let name: &str = name.as_ref();
            if name == key {
                return values.first().map(HeaderValue::as_str);
            }
            if other_case.is_none() && name.eq_ignore_ascii_case(key) {
                other_case = values.first();
            }
        }
        other_case.map(HeaderValue::as_str)
    }
}

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.get_ignore_case(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_ref()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_lowercase_names_replacing_existing_values() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", "old");
        headers.insert("Tracestate", "old=1");
        headers.insert("other", "kept");
        let mut injector = HeaderInjector(&mut headers);
        injector.set("traceparent", "00-1-2-01".to_owned());
        injector.set("TraceState", "a=b".to_owned());
        injector.set("baggage", "k=v".to_owned());

        let cases = [
            ("traceparent", Some("00-1-2-01"), "replaced in place"),
            ("tracestate", Some("a=b"), "written lowercase"),
            ("Tracestate", None, "differently-cased duplicate removed"),
            ("baggage", Some("k=v"), "new field added"),
            ("other", Some("kept"), "unrelated header untouched"),
        ];
        for (name, want, reason) in cases {
            assert_eq!(headers.get(name).map(HeaderValue::as_str), want, "{reason}");
        }
    }

    /// The header names in `headers`, sorted.
    fn names(headers: &HeaderMap) -> Vec<String> {
        let mut names: Vec<String> = headers
            .iter()
            .map(|(n, _)| AsRef::<str>::as_ref(n).to_owned())
            .collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn go_canonical_injector_writes_only_canonical_names() {
        use opentelemetry::propagation::TextMapCompositePropagator;
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
        };
        use opentelemetry::{
            Context, KeyValue, baggage::BaggageExt, propagation::TextMapPropagator,
        };
        use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

        let state = TraceState::from_key_value([("vendor", "v1")]).unwrap();
        let span = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            state,
        );
        let cx = Context::new()
            .with_remote_span_context(span)
            .with_baggage([KeyValue::new("tenant", "t1")]);
        let propagator = TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]);

        let mut headers = HeaderMap::new();
        // A forwarder's stale lowercase fields and an unrelated header.
        headers.insert("traceparent", "stale");
        headers.insert("baggage", "stale=1");
        headers.insert("ce-id", "o-1");
        propagator.inject_context(
            &cx,
            &mut CasedHeaderInjector::new(&mut headers, HeaderCase::GoCanonical),
        );

        assert_eq!(
            names(&headers),
            ["Baggage", "Traceparent", "Tracestate", "ce-id"],
            "canonical names only, no lowercase duplicate; ce-id untouched"
        );
        let cases = [
            (
                "Traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("Tracestate", "vendor=v1"),
            ("Baggage", "tenant=t1"),
        ];
        for (name, want) in cases {
            assert_eq!(
                headers.get(name).map(HeaderValue::as_str),
                Some(want),
                "{name}: the new value, looked up case-sensitively"
            );
        }
        // What a Go consumer's http.Header.Get would also find through the
        // extractor: any case reads back.
        assert_eq!(
            HeaderExtractor(&headers).get_ignore_case("traceparent"),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
    }

    #[test]
    fn cased_injector_lowercase_matches_header_injector() {
        let mut cased = HeaderMap::new();
        cased.insert("Traceparent", "go");
        let mut plain = cased.clone();
        CasedHeaderInjector::new(&mut cased, HeaderCase::Lowercase)
            .set("traceparent", "00-1-2-01".to_owned());
        HeaderInjector(&mut plain).set("traceparent", "00-1-2-01".to_owned());
        assert_eq!(names(&cased), ["traceparent"], "default case: lowercase");
        assert_eq!(names(&plain), names(&cased));
    }

    #[test]
    fn empty_tracestate_is_not_sent_and_drops_a_stale_one() {
        let mut headers = HeaderMap::new();
        headers.insert("Tracestate", "stale=1");
        let mut injector = CasedHeaderInjector::new(&mut headers, HeaderCase::Lowercase);
        injector.set(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        );
        injector.set("tracestate", String::new());
        assert_eq!(names(&headers), ["traceparent"]);
        let mut injector = CasedHeaderInjector::new(&mut headers, HeaderCase::GoCanonical);
        injector.set("tracestate", "rojo=1".to_owned());
        assert_eq!(names(&headers), ["Tracestate", "traceparent"]);
    }

    #[test]
    fn skips_values_nats_cannot_carry() {
        let mut headers = HeaderMap::new();
        HeaderInjector(&mut headers).set("traceparent", "a\r\nb".to_owned());
        assert!(
            headers.get("traceparent").is_none(),
            "CR/LF value skipped, no panic"
        );
    }

    #[test]
    fn extracts_names_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert("Traceparent", "go-style");
        headers.insert("TRACESTATE", "upper");
        headers.insert("baggage", "lower");
        let extractor = HeaderExtractor(&headers);
        let cases = [
            ("traceparent", Some("go-style"), "Go's canonical MIME case"),
            ("tracestate", Some("upper"), "upper case"),
            ("baggage", Some("lower"), "exact case"),
            ("missing", None, "absent header"),
        ];
        for (name, want, reason) in cases {
            assert_eq!(Extractor::get(&extractor, name), want, "{reason}");
        }
        let mut keys = extractor.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["TRACESTATE", "Traceparent", "baggage"]);
    }

    #[test]
    fn exact_case_wins_over_other_spellings() {
        let mut headers = HeaderMap::new();
        headers.insert("Traceparent", "go");
        headers.insert("traceparent", "w3c");
        assert_eq!(
            HeaderExtractor(&headers).get_ignore_case("traceparent"),
            Some("w3c")
        );
    }
}
