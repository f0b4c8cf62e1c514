//! Stable HTTP semantic conventions: attribute keys, method normalisation and
//! `url.full` redaction, free of tower and reqwest types.
//!
//! <https://opentelemetry.io/docs/specs/semconv/http/http-spans/>

use std::borrow::Cow;

/// `http.request.method`: the normalised request method (or `_OTHER`).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`: the method as sent, when it is not one of
/// the known methods.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.response.status_code`.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`: the matched route template, e.g. `/orders/{id}`.
pub const HTTP_ROUTE: &str = "http.route";
/// `error.type`: the status code (as a string) or a low-cardinality error class.
pub const ERROR_TYPE: &str = "error.type";
/// `url.full`: the absolute URL of a client request, redacted.
pub const URL_FULL: &str = "url.full";
/// `url.path`: the path of a server request.
pub const URL_PATH: &str = "url.path";
/// `url.query`: the query of a server request, without the `?`.
pub const URL_QUERY: &str = "url.query";
/// `url.scheme`: `http` or `https`.
pub const URL_SCHEME: &str = "url.scheme";
/// `server.address`: the host the request was addressed to.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`: the port the request was addressed to.
pub const SERVER_PORT: &str = "server.port";
/// `client.address`: the peer that sent a server request.
pub const CLIENT_ADDRESS: &str = "client.address";
/// `network.protocol.version`: `1.0`, `1.1`, `2` or `3`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `user_agent.original`: the `User-Agent` header as sent.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";

/// The `error.type` value when no better class is known.
pub const ERROR_TYPE_OTHER: &str = "_OTHER";

/// What replaces redacted credentials and query values in `url.full`.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose values are redacted from `url.full` (semconv
/// "sensitive query string parameters").
pub const SENSITIVE_QUERY_PARAMS: &[&str] =
    &["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// The methods semconv knows; every other method becomes `_OTHER`.
const KNOWN_METHODS: &[&str] = &[
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// A request method normalised for `http.request.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method<'a> {
    /// The known method, or `_OTHER`.
    pub normalised: &'static str,
    /// The method as sent, when it differs from `normalised`.
    pub original: Option<&'a str>,
}

// === impl Method ===

impl<'a> Method<'a> {
    /// Appends `http.request.method` and, for a method the conventions do
    /// not know, `http.request.method_original`.
    pub fn push_attributes(&self, attributes: &mut Vec<opentelemetry::KeyValue>) {
        attributes.push(opentelemetry::KeyValue::new(
            HTTP_REQUEST_METHOD,
            self.normalised,
        ));
        if let Some(original) = self.original {
            attributes.push(opentelemetry::KeyValue::new(
                HTTP_REQUEST_METHOD_ORIGINAL,
                original.to_owned(),
            ));
        }
    }

    /// Normalises `method` (case-sensitive, as semconv requires: `get` is
    /// `_OTHER` with `get` as the original).
    pub fn normalise(method: &'a str) -> Self {
        match KNOWN_METHODS.iter().find(|known| **known == method) {
            Some(known) => Self {
                normalised: known,
                original: None,
            },
            None => Self {
                normalised: ERROR_TYPE_OTHER,
                original: Some(method),
            },
        }
    }

    /// The span name's method part: the method, or `HTTP` for `_OTHER`.
    pub fn span_name(&self) -> &'static str {
        if self.original.is_some() {
            "HTTP"
        } else {
            self.normalised
        }
    }
}

/// The HTTP version as `network.protocol.version` spells it.
pub fn protocol_version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// Splits a `Host` header value (or URI authority) into host and port,
/// handling bracketed IPv6 literals. The port is `None` when absent or not a
/// number.
pub fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    // Drop any userinfo (URI authorities may carry it; Host never does).
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()),
        None => (authority, None),
    }
}

/// Redacts `url` for `url.full`: userinfo becomes `REDACTED:REDACTED@` and
/// the values of [`SENSITIVE_QUERY_PARAMS`] become `REDACTED`. Borrows when
/// nothing needs redacting.
///
/// <https://opentelemetry.io/docs/specs/semconv/registry/attributes/url/#url-full>
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let after_authority = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let userinfo_end = url[authority_start..after_authority]
        .rfind('@')
        .map(|i| authority_start + i);

    let fragment_start = url.find('#').unwrap_or(url.len());
    let query = url[..fragment_start]
        .find('?')
        .filter(|q| *q >= after_authority)
        .map(|q| (q + 1, fragment_start));
    let query_sensitive = query.is_some_and(|(start, end)| has_sensitive_value(&url[start..end]));

    if userinfo_end.is_none() && !query_sensitive {
        return Cow::Borrowed(url);
    }

    let mut out = String::with_capacity(url.len() + 16);
    match userinfo_end {
        Some(at) => {
            out.push_str(&url[..authority_start]);
            out.push_str("REDACTED:REDACTED");
            out.push_str(&url[at..after_authority]);
        }
        None => out.push_str(&url[..after_authority]),
    }
    match query {
        Some((start, end)) if query_sensitive => {
            out.push_str(&url[after_authority..start]);
            push_redacted_query(&mut out, &url[start..end]);
            out.push_str(&url[end..]);
        }
        _ => out.push_str(&url[after_authority..]),
    }
    Cow::Owned(out)
}

/// Redacts the values of [`SENSITIVE_QUERY_PARAMS`] in a query string
/// (without its `?`), for `url.query`. Borrows when nothing needs redacting.
pub fn redact_query(query: &str) -> Cow<'_, str> {
    if !has_sensitive_value(query) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    push_redacted_query(&mut out, query);
    Cow::Owned(out)
}

fn push_redacted_query(out: &mut String, query: &str) {
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if is_sensitive(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
}

fn has_sensitive_value(query: &str) -> bool {
    query.split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(key, _)| is_sensitive(key))
    })
}

fn is_sensitive(key: &str) -> bool {
    SENSITIVE_QUERY_PARAMS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_and_sensitive_query_values() {
        let cases = [
            (
                "https://user:secret@example.com/path",
                "https://REDACTED:REDACTED@example.com/path",
                "userinfo with password",
            ),
            (
                "http://user@example.com:8080",
                "http://REDACTED:REDACTED@example.com:8080",
                "userinfo without password, no path",
            ),
            (
                "https://example.com/p?AWSAccessKeyId=AKIA&Signature=abc&x=1",
                "https://example.com/p?AWSAccessKeyId=REDACTED&Signature=REDACTED&x=1",
                "AWS presigned URL",
            ),
            (
                "https://example.com/p?sig=abc#frag",
                "https://example.com/p?sig=REDACTED#frag",
                "Azure sig keeps the fragment",
            ),
            (
                "https://u:p@example.com/?X-Goog-Signature=z&sigma=1",
                "https://REDACTED:REDACTED@example.com/?X-Goog-Signature=REDACTED&sigma=1",
                "both, and a key that only starts like a sensitive one",
            ),
            (
                "https://example.com/a@b?q=1",
                "https://example.com/a@b?q=1",
                "@ in the path is not userinfo",
            ),
            (
                "https://example.com/p?signature=abc",
                "https://example.com/p?signature=abc",
                "keys are case-sensitive",
            ),
            (
                "https://example.com/p#?sig=abc",
                "https://example.com/p#?sig=abc",
                "a ? in the fragment is not a query",
            ),
        ];
        for (input, want, reason) in cases {
            assert_eq!(redact_url(input), want, "{reason}: {input}");
        }
    }

    #[test]
    fn redacts_sensitive_values_in_a_bare_query() {
        assert_eq!(redact_query("sig=abc&page=2"), "sig=REDACTED&page=2");
        assert!(
            matches!(redact_query("page=2&sig"), Cow::Borrowed(_)),
            "a key without a value has nothing to redact"
        );
    }

    #[test]
    fn borrows_when_nothing_is_redacted() {
        assert!(matches!(
            redact_url("http://127.0.0.1:80/stock/1?x=1"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn normalises_methods() {
        let cases = [
            ("GET", "GET", None, "GET"),
            ("PATCH", "PATCH", None, "PATCH"),
            ("get", "_OTHER", Some("get"), "HTTP"),
            ("PURGE", "_OTHER", Some("PURGE"), "HTTP"),
        ];
        for (input, normalised, original, span_name) in cases {
            let method = Method::normalise(input);
            assert_eq!(method.normalised, normalised, "normalised {input}");
            assert_eq!(method.original, original, "original {input}");
            assert_eq!(method.span_name(), span_name, "span name {input}");
        }
    }

    #[test]
    fn splits_host_and_port() {
        let cases = [
            ("example.com", ("example.com", None)),
            ("example.com:8080", ("example.com", Some(8080))),
            ("[::1]:443", ("::1", Some(443))),
            ("[::1]", ("::1", None)),
            ("example.com:x", ("example.com", None)),
            ("u:p@example.com:81", ("example.com", Some(81))),
        ];
        for (input, want) in cases {
            assert_eq!(split_host_port(input), want, "{input}");
        }
    }
}
