//! [`ServerTraceService`]: extracts the incoming context, starts the SERVER
//! span and makes it current for the inner service.
//!
//! The service knows only its [`Options`]; the layer
//! ([`ServerTraceLayer`](crate::http::ServerTraceLayer)) sets them and
//! wraps services, so the dependency runs from the layer to the service.

use std::borrow::Cow;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response, header};
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{KeyValue, global};
use opentelemetry_http::HeaderExtractor;
use tower_service::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::semconv::{self, Method};
use crate::tracer::tracer;

/// The service [`ServerTraceLayer`](crate::http::ServerTraceLayer) wraps
/// around an `http` service.
#[derive(Debug, Clone)]
pub struct ServerTraceService<S> {
    inner: S,
    options: Options,
}

/// What the service reads per request, set by the layer's `with_*`
/// builders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options {
    /// `url.scheme` when the request URI carries none.
    pub(crate) url_scheme: &'static str,
    /// Whether a valid, unsampled parent skips the span.
    pub(crate) unsampled_fast_path: bool,
}

// === impl Options ===

impl Options {
    /// `url.scheme` `http` (behind a sidecar that terminates TLS) and the
    /// unsampled fast path on.
    pub(crate) const DEFAULT: Self = Self {
        url_scheme: "http",
        unsampled_fast_path: true,
    };
}

// === impl ServerTraceService ===

impl<S> ServerTraceService<S> {
    /// Wraps `inner` with `options`. The public constructor, which takes the
    /// layer, is `ServerTraceService::new` in `layer.rs`.
    pub(crate) fn with_options(inner: S, options: Options) -> Self {
        Self { inner, options }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerTraceService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let parent = global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(req.headers()))
        });

        let unsampled_parent = {
            let span = parent.span();
            let parent = span.span_context();
            parent.is_valid() && !parent.is_sampled()
        };
        if self.options.unsampled_fast_path && unsampled_parent {
            // No span: only make the remote context current, so downstream
            // calls carry the unsampled parent on.
            let inner = {
                let _attached = parent.clone().attach();
                self.inner.call(req)
            };
            return ResponseFuture::passthrough(inner, parent);
        }

        let span = tracer().build_with_context(span_builder(&req, self.options), &parent);
        let cx = parent.with_span(span);
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::traced(inner, cx)
    }
}

/// The SERVER span for `req`, per the stable HTTP semantic conventions.
fn span_builder<B>(req: &Request<B>, options: Options) -> SpanBuilder {
    let method = Method::normalise(req.method().as_str());
    let route = route(req);
    let name: Cow<'static, str> = match route {
        Some(route) => format!("{} {route}", method.span_name()).into(),
        None => method.span_name().into(),
    };

    let mut attributes = Vec::with_capacity(12);
    method.push_attributes(&mut attributes);
    let uri = req.uri();
    attributes.push(KeyValue::new(semconv::URL_PATH, uri.path().to_owned()));
    if let Some(query) = uri.query() {
        attributes.push(KeyValue::new(
            semconv::URL_QUERY,
            semconv::redact_query(query).into_owned(),
        ));
    }
    let scheme = uri.scheme_str().unwrap_or(options.url_scheme);
    attributes.push(KeyValue::new(semconv::URL_SCHEME, scheme.to_owned()));
    if let Some(route) = route {
        attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned()));
    }

    let authority = req
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    if let Some(authority) = authority {
        let (host, port) = semconv::split_host_port(authority);
        attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()));
        if let Some(port) = port {
            attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
    }
    if let Some(version) = semconv::protocol_version(req.version()) {
        attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    if let Some(agent) = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
    {
        attributes.push(KeyValue::new(
            semconv::USER_AGENT_ORIGINAL,
            agent.to_owned(),
        ));
    }
    if let Some(client) = client_address(req) {
        attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, client));
    }

    SpanBuilder::from_name(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
}

/// The matched route template (axum's `MatchedPath`), when known.
#[cfg(feature = "axum")]
fn route<B>(req: &Request<B>) -> Option<&str> {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str())
}

#[cfg(not(feature = "axum"))]
fn route<B>(_req: &Request<B>) -> Option<&str> {
    None
}

/// The peer address (axum's `ConnectInfo<SocketAddr>`), when known.
#[cfg(feature = "axum")]
fn client_address<B>(req: &Request<B>) -> Option<String> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
}

#[cfg(not(feature = "axum"))]
fn client_address<B>(_req: &Request<B>) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use std::future::{Ready, ready};
    use std::pin::pin;
    use std::task::Waker;

    use opentelemetry::trace::{SpanKind, Status};

    use super::*;
    use crate::testing::{attr, exporter, spans_of};

    /// Answers with `status`, or fails when `status` is `None`.
    #[derive(Clone, Copy)]
    struct Fixed(Option<u16>);

    impl Service<Request<()>> for Fixed {
        type Response = Response<()>;
        type Error = &'static str;
        type Future = Ready<Result<Response<()>, &'static str>>;

        fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            ready(match self.0 {
                Some(code) => {
                    let mut response = Response::new(());
                    *response.status_mut() =
                        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK);
                    Ok(response)
                }
                None => Err("backend gone"),
            })
        }
    }

    /// Sends `method /path?q` under trace `trace_id` (flags `flags`) through
    /// the service, drops the response, and returns the trace's spans.
    fn serve(
        options: Options,
        inner: Fixed,
        method: &str,
        trace_id: &str,
        flags: &str,
    ) -> (bool, Vec<opentelemetry_sdk::trace::SpanData>) {
        exporter();
        let req = Request::builder()
            .method(method)
            .uri("/orders/7?sig=s3cret&page=2")
            .header(header::HOST, "orders.internal:8080")
            .header(
                crate::TRACEPARENT,
                format!("00-{trace_id}-00f067aa0ba902b7-{flags}"),
            )
            .body(())
            .unwrap_or_else(|e| panic!("bad test request: {e}"));
        let mut service = ServerTraceService::with_options(inner, options);
        let future = pin!(service.call(req));
        let mut task = TaskContext::from_waker(Waker::noop());
        let Poll::Ready(result) = future.poll(&mut task) else {
            panic!("the inner service is ready at once")
        };
        let ok = result.is_ok();
        drop(result);
        (ok, spans_of(trace_id))
    }

    #[test]
    fn records_a_server_span_with_semconv_attributes() {
        let trace = "0af7651916cd43dd8448eb211c80f001";
        let (ok, spans) = serve(Options::DEFAULT, Fixed(Some(200)), "GET", trace, "01");
        assert!(ok);
        assert_eq!(spans.len(), 1, "{spans:?}");
        let span = &spans[0];
        assert_eq!(
            span.name, "GET",
            "no route known without axum's MatchedPath"
        );
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(span.status, Status::Unset);
        let want = [
            ("http.request.method", "GET"),
            ("url.path", "/orders/7"),
            ("url.query", "sig=REDACTED&page=2"),
            ("url.scheme", "http"),
            ("server.address", "orders.internal"),
            ("server.port", "8080"),
            ("network.protocol.version", "1.1"),
            ("http.response.status_code", "200"),
        ];
        for (key, value) in want {
            assert_eq!(attr(span, key).as_deref(), Some(value), "{key}");
        }
        assert_eq!(attr(span, "error.type"), None);
    }

    #[test]
    fn marks_5xx_as_an_error_and_4xx_not() {
        let trace = "0af7651916cd43dd8448eb211c80f002";
        let (_, spans) = serve(Options::DEFAULT, Fixed(Some(503)), "GET", trace, "01");
        assert_eq!(attr(&spans[0], "error.type").as_deref(), Some("503"));
        assert!(matches!(spans[0].status, Status::Error { .. }), "{spans:?}");

        let trace = "0af7651916cd43dd8448eb211c80f003";
        let (_, spans) = serve(Options::DEFAULT, Fixed(Some(404)), "GET", trace, "01");
        assert_eq!(attr(&spans[0], "error.type"), None);
        assert_eq!(spans[0].status, Status::Unset);
    }

    #[test]
    fn records_an_inner_error_with_its_type() {
        let trace = "0af7651916cd43dd8448eb211c80f004";
        let (ok, spans) = serve(Options::DEFAULT, Fixed(None), "POST", trace, "01");
        assert!(!ok);
        assert_eq!(spans.len(), 1, "the span ends with the error: {spans:?}");
        assert_eq!(attr(&spans[0], "error.type").as_deref(), Some("&str"));
        assert_eq!(
            spans[0].status,
            Status::error("backend gone"),
            "the error's message is the status description"
        );
    }

    #[test]
    fn names_unknown_methods_http() {
        let trace = "0af7651916cd43dd8448eb211c80f005";
        let (_, spans) = serve(Options::DEFAULT, Fixed(Some(200)), "PURGE", trace, "01");
        assert_eq!(spans[0].name, "HTTP");
        assert_eq!(
            attr(&spans[0], "http.request.method").as_deref(),
            Some("_OTHER")
        );
        assert_eq!(
            attr(&spans[0], "http.request.method_original").as_deref(),
            Some("PURGE")
        );
    }

    #[test]
    fn skips_the_span_for_an_unsampled_parent_unless_told_not_to() {
        // The test provider samples everything, so only the fast path keeps
        // the unsampled request out of the exporter.
        let trace = "0af7651916cd43dd8448eb211c80f006";
        let (ok, spans) = serve(Options::DEFAULT, Fixed(Some(200)), "GET", trace, "00");
        assert!(ok);
        assert!(spans.is_empty(), "fast path records nothing: {spans:?}");

        let trace = "0af7651916cd43dd8448eb211c80f007";
        let options = Options {
            unsampled_fast_path: false,
            ..Options::DEFAULT
        };
        let (_, spans) = serve(options, Fixed(Some(200)), "GET", trace, "00");
        assert_eq!(spans.len(), 1, "without the fast path the sampler decides");
    }
}
