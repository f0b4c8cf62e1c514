//! A finished span and its OpenTelemetry HTTP semantic-convention view.
//!
//! The Envoy glue stores what the proxy saw (raw pseudo-headers, properties,
//! response code and flags) in a [`SpanRecord`]; this module derives the
//! span name, attributes and status from them per the stable HTTP semantic
//! conventions, without knowing anything of proxy-wasm.
//! <https://opentelemetry.io/docs/specs/semconv/http/http-spans/>

use std::borrow::Cow;

use crate::response_flags;
use crate::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};

/// OTLP span kind. <https://opentelemetry.io/docs/specs/otel/trace/api/#spankind>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// The proxy received the request on behalf of the local workload.
    Server,
    /// The proxy forwarded a request of the local workload to another service.
    Client,
}

/// A span attribute value, borrowed from the record.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// An integer.
    Int(i64),
    /// An array of strings (semconv `string[]`, used for captured headers).
    StrArray(&'a [&'a str]),
}

/// OTLP span status. Successful HTTP spans leave it unset, as the
/// conventions require. <https://opentelemetry.io/docs/specs/semconv/http/http-spans/#status>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    /// No error.
    Unset,
    /// The request failed.
    Error,
}

/// What the proxy observed of one request, raw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpObservation {
    /// `:method`.
    pub method: Option<String>,
    /// `:path`, query included.
    pub path: Option<String>,
    /// `:scheme`.
    pub scheme: Option<String>,
    /// `:authority` (the `Host` header in HTTP/1).
    pub authority: Option<String>,
    /// `user-agent`.
    pub user_agent: Option<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// Envoy `request.protocol`, e.g. `HTTP/1.1`.
    pub protocol: Option<String>,
    /// Envoy `source.address`, `ip:port`.
    pub source_address: Option<String>,
    /// Envoy `response.code`; `None` when no response was sent or received.
    pub status_code: Option<i64>,
    /// Envoy `response.flags` bit vector.
    pub response_flags: u64,
    /// Envoy `xds.cluster_name`: the upstream cluster.
    pub upstream_cluster: Option<String>,
    /// The configured route template the path matched (`routes`).
    pub route: Option<String>,
}

/// A finished span, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The incoming parent, if the request carried a valid `traceparent`.
    pub parent_span_id: Option<SpanId>,
    /// Trace flags as propagated.
    pub flags: TraceFlags,
    /// The validated `tracestate`, if any.
    pub trace_state: Option<String>,
    /// The context an untrusted caller sent, linked instead of continued.
    pub link: Option<TraceParent>,
    /// SERVER (inbound) or CLIENT (outbound).
    pub kind: SpanKind,
    /// Start, Unix nanoseconds (host clock).
    pub start_unix_nanos: u64,
    /// End, Unix nanoseconds (host clock).
    pub end_unix_nanos: u64,
    /// Whether to record `url.query` (Opt-In).
    pub capture_query: bool,
    /// What the proxy saw.
    pub http: HttpObservation,
}

/// Methods the conventions know; others become `_OTHER`.
/// <https://opentelemetry.io/docs/specs/semconv/registry/attributes/http/#http-request-method>
const KNOWN_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
];

/// Query keys whose values the conventions redact.
/// <https://opentelemetry.io/docs/specs/semconv/registry/attributes/url/#url-query>
const SENSITIVE_QUERY_KEYS: [&str; 4] = ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

// === impl SpanRecord ===

impl SpanRecord {
    /// The known method, or `None` for `_OTHER`.
    fn known_method(&self) -> Option<&'static str> {
        let method = self.http.method.as_deref()?;
        KNOWN_METHODS.iter().copied().find(|m| *m == method)
    }

    /// Span name: `{method} {target}` when a route template matched
    /// (`http.route` for SERVER, `url.template` for CLIENT), else
    /// `{method}`; `HTTP` stands for a method that is not a known one.
    /// <https://opentelemetry.io/docs/specs/semconv/http/http-spans/#name>
    pub fn name(&self) -> Cow<'_, str> {
        let method = self.known_method().unwrap_or("HTTP");
        match self.http.route.as_deref() {
            Some(route) => Cow::Owned(format!("{method} {route}")),
            None => Cow::Borrowed(method),
        }
    }

    /// Whether the request failed, by the kind's rule: SERVER spans fail on
    /// 5xx, CLIENT spans on 4xx and 5xx, both when no response was sent or
    /// received. <https://opentelemetry.io/docs/specs/semconv/http/http-spans/#status>
    pub fn status(&self) -> SpanStatus {
        match self.http.status_code {
            None => SpanStatus::Error,
            Some(code) if code >= self.error_threshold() => SpanStatus::Error,
            Some(code) if !(100..=599).contains(&code) => SpanStatus::Error,
            Some(_) => SpanStatus::Unset,
        }
    }

    fn error_threshold(&self) -> i64 {
        match self.kind {
            SpanKind::Server => 500,
            SpanKind::Client => 400,
        }
    }

    /// `error.type`: the status code for error statuses, else (no response)
    /// a low-cardinality id from Envoy's response flags, or `_OTHER`.
    fn error_type(&self) -> Option<Cow<'_, str>> {
        if self.status() == SpanStatus::Unset {
            return None;
        }
        match self.http.status_code {
            Some(code) => Some(Cow::Owned(code.to_string())),
            None => Some(Cow::Borrowed(
                response_flags::error_type(self.http.response_flags).unwrap_or("_OTHER"),
            )),
        }
    }

    /// Visits every attribute of the span, in a stable order.
    pub fn for_each_attribute(&self, mut f: impl FnMut(&str, AttrValue<'_>)) {
        let h = &self.http;
        let str_attr = |f: &mut dyn FnMut(&str, AttrValue<'_>), key: &str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                f(key, AttrValue::Str(Cow::Borrowed(v)));
            }
        };

        match (self.known_method(), h.method.as_deref()) {
            (Some(m), _) => f("http.request.method", AttrValue::Str(Cow::Borrowed(m))),
            (None, Some(raw)) => {
                f(
                    "http.request.method",
                    AttrValue::Str(Cow::Borrowed("_OTHER")),
                );
                f(
                    "http.request.method_original",
                    AttrValue::Str(Cow::Borrowed(raw)),
                );
            }
            (None, None) => {}
        }

        let (path, query) = split_path(h.path.as_deref().unwrap_or(""));
        str_attr(&mut f, "url.path", Some(path));
        let template_key = match self.kind {
            SpanKind::Server => "http.route",
            SpanKind::Client => "url.template",
        };
        str_attr(&mut f, template_key, h.route.as_deref());
        str_attr(&mut f, "url.scheme", h.scheme.as_deref());
        if self.capture_query && !query.is_empty() {
            f("url.query", AttrValue::Str(redact_query(query)));
        }

        let authority = h.authority.as_deref().unwrap_or("");
        let (host, port) = split_host_port(authority);
        str_attr(&mut f, "server.address", Some(host));
        let port = port.or_else(|| default_port(h.scheme.as_deref()));
        if let (false, Some(port)) = (host.is_empty(), port) {
            f("server.port", AttrValue::Int(i64::from(port)));
        }

        if self.kind == SpanKind::Client && !authority.is_empty() {
            let scheme = h.scheme.as_deref().unwrap_or("http");
            let full = if query.is_empty() {
                format!("{scheme}://{authority}{path}")
            } else {
                format!("{scheme}://{authority}{path}?{}", redact_query(query))
            };
            f("url.full", AttrValue::Str(Cow::Owned(full)));
        }

        if self.kind == SpanKind::Server {
            let client = h.source_address.as_deref().map(|a| split_host_port(a).0);
            str_attr(&mut f, "client.address", client);
        }

        str_attr(
            &mut f,
            "network.protocol.version",
            h.protocol.as_deref().and_then(protocol_version),
        );
        str_attr(&mut f, "user_agent.original", h.user_agent.as_deref());

        if let Some(code) = h.status_code {
            f("http.response.status_code", AttrValue::Int(code));
        }
        if let Some(error_type) = self.error_type() {
            f("error.type", AttrValue::Str(error_type));
        }

        str_attr(
            &mut f,
            "envoy.upstream.cluster",
            h.upstream_cluster.as_deref(),
        );
        if h.response_flags != 0 {
            f(
                "envoy.response_flags",
                AttrValue::Str(Cow::Owned(response_flags::short_codes(h.response_flags))),
            );
        }
        if let Some(id) = h.request_id.as_deref().filter(|v| !v.is_empty()) {
            let one = [id];
            f(
                "http.request.header.x-request-id",
                AttrValue::StrArray(&one),
            );
        }
    }
}

/// Splits `:path` into path and query (without `?`); a fragment is never
/// sent on the wire.
pub fn split_path(target: &str) -> (&str, &str) {
    match target.split_once('?') {
        Some((path, query)) => (path, query),
        None => (target, ""),
    }
}

/// Splits `host[:port]`, `[v6]:port` or `ip:port`. An unparsable port is
/// treated as absent.
pub fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => (authority, None),
        Some((host, port)) => (host, port.parse().ok()),
        None => (authority, None),
    }
}

fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `HTTP/1.1` → `1.1`, `HTTP/2` → `2`.
/// <https://opentelemetry.io/docs/specs/semconv/registry/attributes/network/#network-protocol-version>
pub fn protocol_version(protocol: &str) -> Option<&str> {
    protocol.strip_prefix("HTTP/").filter(|v| !v.is_empty())
}

/// Replaces the values of sensitive query keys with `REDACTED`; borrows when
/// nothing needs redacting.
pub fn redact_query(query: &str) -> Cow<'_, str> {
    let sensitive = |pair: &str| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        SENSITIVE_QUERY_KEYS.contains(&key) && pair.contains('=')
    };
    if !query.split('&').any(sensitive) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if sensitive(pair) => {
                out.push_str(key);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: SpanKind, http: HttpObservation) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_bytes([1; 16]),
            span_id: SpanId::from_bytes([2; 8]),
            parent_span_id: None,
            flags: TraceFlags::default(),
            trace_state: None,
            link: None,
            kind,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            capture_query: false,
            http,
        }
    }

    fn attrs(r: &SpanRecord) -> Vec<(String, String)> {
        let mut out = Vec::new();
        r.for_each_attribute(|k, v| {
            let v = match v {
                AttrValue::Str(s) => s.into_owned(),
                AttrValue::Int(i) => i.to_string(),
                AttrValue::StrArray(a) => format!("{a:?}"),
            };
            out.push((k.to_owned(), v));
        });
        out
    }

    fn get(r: &SpanRecord, key: &str) -> Option<String> {
        attrs(r).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn observed(status: Option<i64>) -> HttpObservation {
        HttpObservation {
            method: Some("GET".into()),
            path: Some("/orders/7?page=2&sig=secret".into()),
            scheme: Some("http".into()),
            authority: Some("orders.svc:8080".into()),
            user_agent: Some("curl/8".into()),
            request_id: Some("req-1".into()),
            protocol: Some("HTTP/1.1".into()),
            source_address: Some("10.0.0.9:51234".into()),
            status_code: status,
            response_flags: 0,
            upstream_cluster: Some("orders".into()),
            route: None,
        }
    }

    #[test]
    fn a_matched_route_names_the_span_and_is_recorded() {
        let mut http = observed(Some(200));
        http.route = Some("/orders/{id}".into());
        let server = record(SpanKind::Server, http.clone());
        assert_eq!(server.name(), "GET /orders/{id}");
        assert_eq!(get(&server, "http.route").as_deref(), Some("/orders/{id}"));
        assert_eq!(get(&server, "url.template"), None);
        let client = record(SpanKind::Client, http.clone());
        assert_eq!(client.name(), "GET /orders/{id}");
        assert_eq!(
            get(&client, "url.template").as_deref(),
            Some("/orders/{id}")
        );
        assert_eq!(get(&client, "http.route"), None, "a SERVER attribute");
        http.method = Some("BREW".into());
        assert_eq!(record(SpanKind::Server, http).name(), "HTTP /orders/{id}");
        assert_eq!(
            record(SpanKind::Server, observed(None)).name(),
            "GET",
            "no route"
        );
    }

    #[test]
    fn server_span_gets_stable_http_attributes() {
        let r = record(SpanKind::Server, observed(Some(200)));
        assert_eq!(r.name(), "GET");
        assert_eq!(r.status(), SpanStatus::Unset);
        let a = attrs(&r);
        let expect = [
            ("http.request.method", "GET"),
            ("url.path", "/orders/7"),
            ("url.scheme", "http"),
            ("server.address", "orders.svc"),
            ("server.port", "8080"),
            ("client.address", "10.0.0.9"),
            ("network.protocol.version", "1.1"),
            ("user_agent.original", "curl/8"),
            ("http.response.status_code", "200"),
            ("envoy.upstream.cluster", "orders"),
            ("http.request.header.x-request-id", "[\"req-1\"]"),
        ];
        for (k, v) in expect {
            assert!(
                a.contains(&(k.to_owned(), v.to_owned())),
                "missing {k}={v} in {a:?}"
            );
        }
        assert_eq!(get(&r, "url.query"), None, "url.query is opt-in");
        assert_eq!(get(&r, "url.full"), None, "url.full is for client spans");
        assert_eq!(get(&r, "error.type"), None);
    }

    #[test]
    fn client_span_gets_url_full_with_redaction_and_no_client_address() {
        let r = record(SpanKind::Client, observed(Some(200)));
        assert_eq!(
            get(&r, "url.full").as_deref(),
            Some("http://orders.svc:8080/orders/7?page=2&sig=REDACTED")
        );
        assert_eq!(get(&r, "client.address"), None);
    }

    #[test]
    fn url_query_is_recorded_when_opted_in_and_redacted() {
        let mut r = record(SpanKind::Server, observed(Some(200)));
        r.capture_query = true;
        assert_eq!(get(&r, "url.query").as_deref(), Some("page=2&sig=REDACTED"));
    }

    #[test]
    fn status_follows_the_kind() {
        let cases = [
            (
                SpanKind::Server,
                Some(404),
                SpanStatus::Unset,
                "server 4xx is the client's fault",
            ),
            (SpanKind::Server, Some(503), SpanStatus::Error, "server 5xx"),
            (SpanKind::Client, Some(404), SpanStatus::Error, "client 4xx"),
            (SpanKind::Client, Some(302), SpanStatus::Unset, "client 3xx"),
            (SpanKind::Server, None, SpanStatus::Error, "no response"),
            (SpanKind::Client, None, SpanStatus::Error, "no response"),
        ];
        for (kind, code, want, reason) in cases {
            let r = record(kind, observed(code));
            assert_eq!(r.status(), want, "{reason}");
        }
    }

    #[test]
    fn error_type_is_the_status_code_or_the_reset_reason() {
        let r = record(SpanKind::Server, observed(Some(503)));
        assert_eq!(get(&r, "error.type").as_deref(), Some("503"));
        let mut http = observed(None);
        http.response_flags = 1 << 14; // DownstreamConnectionTermination
        let r = record(SpanKind::Server, http);
        assert_eq!(
            get(&r, "error.type").as_deref(),
            Some("downstream_connection_termination")
        );
        assert_eq!(get(&r, "envoy.response_flags").as_deref(), Some("DC"));
        let r = record(SpanKind::Client, observed(None));
        assert_eq!(get(&r, "error.type").as_deref(), Some("_OTHER"));
        assert_eq!(get(&r, "http.response.status_code"), None);
    }

    #[test]
    fn unknown_method_is_other_with_original() {
        let mut http = observed(Some(200));
        http.method = Some("PURGE".into());
        let r = record(SpanKind::Server, http);
        assert_eq!(r.name(), "HTTP");
        assert_eq!(get(&r, "http.request.method").as_deref(), Some("_OTHER"));
        assert_eq!(
            get(&r, "http.request.method_original").as_deref(),
            Some("PURGE")
        );
    }

    #[test]
    fn authority_forms() {
        let cases = [
            ("example.com", ("example.com", None)),
            ("example.com:8443", ("example.com", Some(8443))),
            ("[::1]:9000", ("::1", Some(9000))),
            ("[::1]", ("::1", None)),
            ("::1", ("::1", None)),
            ("host:notaport", ("host", None)),
        ];
        for (input, want) in cases {
            assert_eq!(split_host_port(input), want, "{input}");
        }
        let mut http = observed(Some(200));
        http.authority = Some("example.com".into());
        http.scheme = Some("https".into());
        let r = record(SpanKind::Client, http);
        assert_eq!(
            get(&r, "server.port").as_deref(),
            Some("443"),
            "scheme default"
        );
    }

    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_version("HTTP/1.1"), Some("1.1"));
        assert_eq!(protocol_version("HTTP/2"), Some("2"));
        assert_eq!(protocol_version("HTTP/3"), Some("3"));
        assert_eq!(protocol_version("SPDY"), None);
    }

    #[test]
    fn redaction_borrows_when_clean() {
        assert!(matches!(redact_query("a=1&b=2"), Cow::Borrowed(_)));
        assert_eq!(
            redact_query("X-Goog-Signature=abc&AWSAccessKeyId=k&Signature=s&x=1"),
            "X-Goog-Signature=REDACTED&AWSAccessKeyId=REDACTED&Signature=REDACTED&x=1"
        );
    }
}
