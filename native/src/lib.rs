//! `meshtrace`: the library services link to continue the trace the mesh started.
//!
//! An axum service behind the mesh: continue the sidecar's trace, export
//! to the collector named by `OTEL_EXPORTER_OTLP_ENDPOINT`, and propagate
//! the context on outgoing calls.
//!
//! ```no_run
//! use axum::{Router, extract::Path, routing::get};
//! use meshtrace::{ServerTraceLayer, TracedClient};
//!
//! #[tracing::instrument]
//! async fn order(Path(id): Path<u64>) -> String {
//!     // A CLIENT span, child of this request's SERVER span; `traceparent`,
//!     // `tracestate` and `baggage` are injected.
//!     let stock = TracedClient::default()
//!         .get(format!("http://127.0.0.1:15001/stock/{id}"))
//!         .send()
//!         .await;
//!     format!("order {id}: stock {}", stock.map(|r| r.status().as_u16()).unwrap_or(0))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Reads OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_PROPAGATORS...
//!     let _telemetry = meshtrace::Builder::new()
//!         .with_service_name("checkout") // a default: OTEL_SERVICE_NAME wins
//!         .init()?;
//!     let app = Router::new()
//!         .route("/orders/{id}", get(order))
//!         .layer(ServerTraceLayer::new()); // SERVER span per request
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//!     // `_telemetry` drops here: every buffered span is flushed.
//! }
//! ```
//!
//! The Envoy filter (`meshtrace-filter`) traces every HTTP hop through the
//! mesh. What the mesh cannot see, this crate covers from inside the service:
//! trace context carried in CloudEvents over NATS (core, JetStream and
//! request-reply; headers and binding in [`nats`]), an OTLP bootstrap
//! driven by the standard `OTEL_*` variables ([`bootstrap`]), a tower layer
//! for server spans and a traced reqwest client ([`http`]).
//!
//! # Migrating a service that exported to stdout
//!
//! A service that built its own pipeline around `opentelemetry_stdout`
//! replaces it with one call: drop the exporter and provider set-up, call
//! [`init()`] at the top of `main` and keep the guard alive, then point the
//! deployment at the collector with `OTEL_EXPORTER_OTLP_ENDPOINT` (for
//! example `http://otel-collector:4318`; set `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`
//! and port 4317 for gRPC) and name it with `OTEL_SERVICE_NAME`. To keep
//! printing spans locally, set `OTEL_TRACES_EXPORTER=console`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// W3C Trace Context header carrying the parent span (lowercase, as written
/// on every carrier). <https://www.w3.org/TR/trace-context-2/#traceparent-header>
pub const TRACEPARENT: &str = "traceparent";

/// W3C Trace Context vendor state header.
/// <https://www.w3.org/TR/trace-context-2/#tracestate-header>
pub const TRACESTATE: &str = "tracestate";

/// W3C Baggage header. <https://www.w3.org/TR/baggage/#header-name>
pub const BAGGAGE: &str = "baggage";

pub mod http;

#[cfg(test)]
mod testing;
mod tracer;

pub use http::{ServerTraceLayer, TracedClient};

pub mod bootstrap;

pub use bootstrap::{Builder, InitError, TelemetryGuard, init};

pub mod nats;
