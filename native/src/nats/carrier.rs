//! W3C context carriers over NATS message headers.
//!
//! NATS header names are case-sensitive on the wire and in
//! `async_nats::HeaderMap`, while the propagators (and other languages'
//! carriers: Go's writes `Traceparent`) disagree on case. So the injector
//! always writes lowercase names and the extractor scans for a
//! case-insensitive match.

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

/// Writes propagation fields (`traceparent`, `tracestate`, `baggage`) into
/// NATS headers under lowercase names, replacing any existing value.
///
/// A name or value NATS cannot carry (control characters, `:` in a name,
/// CR/LF in a value) is skipped: propagation never fails a publish.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

/// Reads propagation fields from NATS headers, matching names
/// case-insensitively (`Traceparent` and `traceparent` are the same field).
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

// === impl HeaderInjector ===

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagators' keys are lowercase already: no copy then.
        let lower: std::borrow::Cow<'_, str> = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            key.to_ascii_lowercase().into()
        } else {
            key.into()
        };
        let lower = lower.as_ref();
        let (Ok(name), Ok(value)) = (HeaderName::from_str(lower), HeaderValue::from_str(&value))
        else {
            tracing::debug!(header = %lower, "skipping propagation header NATS cannot carry");
            return;
        };
        // Drop differently-cased duplicates (`Traceparent`) so the receiver
        // sees exactly one value.
        let stale: Vec<HeaderName> = self
            .0
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                let n: &str = n.as_ref();
                n != lower && n.eq_ignore_ascii_case(lower)
            })
            .cloned()
            .collect();
        if !stale.is_empty() {
            let mut kept = HeaderMap::new();
            for (n, values) in self.0.iter() {
                if !stale.contains(n) {
                    for v in values {
                        kept.append(n.clone(), v.clone());
                    }
                }
            }
            *self.0 = kept;
        }
        self.0.insert(name, value);
    }
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
