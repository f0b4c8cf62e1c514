//! [`TracedClient`]: a `reqwest::Client` wrapper that records a CLIENT span
//! per request and injects the trace context into its headers.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanBuilder, SpanKind, SpanRef, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_http::HeaderInjector;
use reqwest::{IntoUrl, Method, Request, RequestBuilder, Response};

use super::semconv;
use crate::tracer::tracer;

/// Why [`TracedClient::execute`] or [`TracedRequestBuilder::send`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The request could not be built (invalid URL or header); no span was
    /// recorded.
    #[error("cannot build the request")]
    Build(#[source] reqwest::Error),
    /// The request was sent (a CLIENT span was recorded) and failed before a
    /// response arrived.
    #[error("{method} {url} failed")]
    Send {
        /// The request method.
        method: Method,
        /// The request URL, redacted as for `url.full`.
        url: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
}

/// A `reqwest::Client` that records a CLIENT span for every request, as a
/// child of the current [`Context`], and injects it (`traceparent`,
/// `tracestate`, `baggage`: whatever the global propagator writes) into the
/// request headers.
///
/// Recorded: `http.request.method` (and `http.request.method_original`),
/// `url.full` (credentials and sensitive query values redacted),
/// `server.address`, `server.port`, `http.response.status_code`,
/// `network.protocol.version` and `error.type`. A 4xx or 5xx response, or a
/// transport error, marks the span as an error. The span ends when the
/// response head arrives.
///
/// ```no_run
/// use meshtrace::http::TracedClient;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = TracedClient::default();
/// let response = client
///     .get("http://stock.internal/stock/sku-1")
///     .header("accept", "application/json")
///     .send()
///     .await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TracedClient {
    inner: reqwest::Client,
}

// === impl TracedClient ===

impl TracedClient {
    /// Wraps `inner`; its timeouts, pools and redirect policy apply.
    pub fn new(inner: reqwest::Client) -> Self {
        Self { inner }
    }

    /// The wrapped client (requests sent through it directly are not traced).
    pub fn inner(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Starts a `GET` request to `url`.
    pub fn get<U: IntoUrl>(&self, url: U) -> TracedRequestBuilder {
        self.request(Method::GET, url)
    }

    /// Starts a `POST` request to `url`.
    pub fn post<U: IntoUrl>(&self, url: U) -> TracedRequestBuilder {
        self.request(Method::POST, url)
    }

    /// Starts a request with `method` to `url`.
    pub fn request<U: IntoUrl>(&self, method: Method, url: U) -> TracedRequestBuilder {
        TracedRequestBuilder {
            client: self.clone(),
            inner: self.inner.request(method, url),
        }
    }

    /// Sends `request` under a CLIENT span that is a child of the current
    /// context.
    ///
    /// # Errors
    ///
    /// [`SendError::Send`] when reqwest fails before a response arrives. An
    /// error status is a response, not an error.
    pub async fn execute(&self, mut request: Request) -> Result<Response, SendError> {
        let parent = Context::current();
        let span = tracer().build_with_context(span_builder(&request), &parent);
        let cx = parent.with_span(span);
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&cx, &mut HeaderInjector(request.headers_mut()));
        });
        let method = request.method().clone();
        let url = request.url().clone();

        let result = self.inner.execute(request).with_context(cx.clone()).await;

        let span = cx.span();
        let result = match result {
            Ok(response) => {
                record_response(&span, &response);
                Ok(response)
            }
            Err(source) => {
                span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type(&source)));
                span.set_status(Status::error(source.to_string()));
                Err(SendError::Send {
                    method,
                    url: semconv::redact_url(url.as_str()).into_owned(),
                    source,
                })
            }
        };
        span.end();
        result
    }
}

/// A request being built for a [`TracedClient`]; [`send`](Self::send) traces
/// it. Builder methods not mirrored here are reachable through
/// [`with`](Self::with).
#[derive(Debug)]
pub struct TracedRequestBuilder {
    client: TracedClient,
    inner: RequestBuilder,
}

// === impl TracedRequestBuilder ===

impl TracedRequestBuilder {
    /// Adds a header (see [`RequestBuilder::header`]).
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.with(|inner| inner.header(key, value))
    }

    /// Merges headers (see [`RequestBuilder::headers`]).
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.with(|inner| inner.headers(headers))
    }

    /// Sets the body (see [`RequestBuilder::body`]).
    pub fn body<T: Into<reqwest::Body>>(self, body: T) -> Self {
        self.with(|inner| inner.body(body))
    }

    /// Sets a per-request timeout (see [`RequestBuilder::timeout`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|inner| inner.timeout(timeout))
    }

    /// Applies any [`RequestBuilder`] method.
    pub fn with(self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        Self {
            client: self.client,
            inner: f(self.inner),
        }
    }

    /// Builds the request and sends it with [`TracedClient::execute`].
    ///
    /// # Errors
    ///
    /// [`SendError::Build`] when the request is invalid (nothing is sent or
    /// traced), [`SendError::Send`] when sending fails.
    pub async fn send(self) -> Result<Response, SendError> {
        let request = self.inner.build().map_err(SendError::Build)?;
        self.client.execute(request).await
    }
}

/// The CLIENT span for `request`, per the stable HTTP semantic conventions.
fn span_builder(request: &Request) -> SpanBuilder {
    let method = semconv::Method::normalise(request.method().as_str());
    let url = request.url();
    let mut attributes = Vec::with_capacity(8);
    method.push_attributes(&mut attributes);
    attributes.push(KeyValue::new(
        semconv::URL_FULL,
        semconv::redact_url(url.as_str()).into_owned(),
    ));
    if let Some(host) = url.host_str() {
        // `Url` keeps IPv6 literals bracketed; semconv wants the bare address.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()));
    }
    if let Some(port) = url.port_or_known_default() {
        attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
    }
    SpanBuilder::from_name(method.span_name())
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
}

/// Records the response head; 4xx and 5xx are errors for a client.
fn record_response(span: &SpanRef<'_>, response: &Response) {
    let status = response.status();
    span.set_attribute(KeyValue::new(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    ));
    if let Some(version) = semconv::protocol_version(response.version()) {
        span.set_attribute(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    if status.is_client_error() || status.is_server_error() {
        span.set_attribute(KeyValue::new(
            semconv::ERROR_TYPE,
            status.as_u16().to_string(),
        ));
        span.set_status(Status::error(""));
    }
}

/// A low-cardinality `error.type` for a transport failure.
fn error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "redirect"
    } else if error.is_body() {
        "body"
    } else if error.is_decode() {
        "decode"
    } else if error.is_request() {
        "request"
    } else {
        semconv::ERROR_TYPE_OTHER
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;
    use crate::testing::{attr, exporter, spans_of};

    /// A loopback port nothing listens on.
    async fn closed_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind loopback: {e}"));
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"))
            .port()
    }

    #[tokio::test]
    async fn records_a_failed_connection_as_a_redacted_client_error() {
        exporter();
        let trace = "0af7651916cd43dd8448eb211c80f101";
        let parent = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex(trace).unwrap_or(TraceId::INVALID),
            SpanId::from_hex("00f067aa0ba902b7").unwrap_or(SpanId::INVALID),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        let port = closed_port().await;
        let url = format!("http://user:pw@127.0.0.1:{port}/stock/1?sig=abc&x=1");

        let result = TracedClient::default()
            .get(url.as_str())
            .send()
            .with_context(parent)
            .await;

        // reqwest moves URL credentials into an `Authorization` header when
        // it builds the request, so only the query needs redacting here.
        let redacted = format!("http://127.0.0.1:{port}/stock/1?sig=REDACTED&x=1");
        match result {
            Err(SendError::Send { method, url, .. }) => {
                assert_eq!(method, Method::GET);
                assert_eq!(url, redacted, "the error carries the redacted URL");
            }
            other => panic!("expected a send error, got {other:?}"),
        }
        let spans = spans_of(trace);
        assert_eq!(spans.len(), 1, "{spans:?}");
        let span = &spans[0];
        assert_eq!(span.name, "GET");
        assert_eq!(span.span_kind, SpanKind::Client);
        assert_eq!(
            span.parent_span_id.to_string(),
            "00f067aa0ba902b7",
            "child of the current context"
        );
        assert_eq!(attr(span, "url.full"), Some(redacted));
        assert_eq!(attr(span, "server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(attr(span, "server.port"), Some(port.to_string()));
        assert_eq!(attr(span, "error.type").as_deref(), Some("connect"));
        assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    }

    #[tokio::test]
    async fn rejects_an_invalid_url_without_a_span() {
        let result = TracedClient::default().get("not a url").send().await;
        assert!(matches!(result, Err(SendError::Build(_))), "{result:?}");
    }
}
