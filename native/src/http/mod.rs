//! HTTP tracing for services behind the mesh: a tower layer for SERVER spans
//! and a traced reqwest client for CLIENT spans, both per the stable HTTP
//! semantic conventions
//! (<https://opentelemetry.io/docs/specs/semconv/http/http-spans/>).
//!
//! Both use the global tracer provider (scope `meshtrace`, the crate
//! version) and the global text-map propagator, so they follow whatever
//! the application installed, whenever it installed it.
//!
//! # Server
//!
//! [`ServerTraceLayer`] wraps any `tower` service over `http` types (axum
//! routers and hyper services alike). Per request it:
//!
//! 1. extracts the incoming context (the sidecar's `traceparent`);
//! 2. if that parent is valid and **not sampled**, takes the fast path: no
//!    span, no boxing; the extracted context is only made current, so
//!    downstream calls carry the unsampled parent on;
//! 3. otherwise starts a SERVER span named `{method} {http.route}` when the
//!    route template is known (axum's `MatchedPath`, with the `axum`
//!    feature), else `{method}`, and makes it current while the handler is
//!    called and polled, so spans (and NATS publishes) made inside are its
//!    children;
//! 4. records `http.response.status_code` (a 5xx is an error with
//!    `error.type` set to the code) and ends the span when the response
//!    body completes, fails or is dropped.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use meshtrace::http::ServerTraceLayer;
//!
//! # async fn demo() -> std::io::Result<()> {
//! let app: Router = Router::new()
//!     .route("/orders/{id}", get(|| async { "ok" }))
//!     // `Router::layer` runs after routing, so `http.route` is known.
//!     .layer(ServerTraceLayer::new());
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # Client
//!
//! [`TracedClient`] wraps a `reqwest::Client`: each request gets a CLIENT
//! span, child of the current context, injected into the request headers.
//!
//! ```no_run
//! use meshtrace::http::TracedClient;
//!
//! # async fn demo() -> Result<(), meshtrace::http::SendError> {
//! let client = TracedClient::new(reqwest::Client::new());
//! let stock = client.get("http://stock:8080/stock/sku-1").send().await?;
//! # let _ = stock;
//! # Ok(())
//! # }
//! ```

mod body;
mod client;
mod future;
mod layer;
pub mod semconv;
mod service;

pub use body::ResponseBody;
pub use client::{SendError, TracedClient, TracedRequestBuilder};
pub use future::ResponseFuture;
pub use layer::ServerTraceLayer;
pub use service::ServerTraceService;

/// The instrumentation scope name of every span this module records.
pub use crate::tracer::SCOPE_NAME;
