//! `meshtrace`: the library services link to continue the trace the mesh started.
//!
//! The Envoy filter (`meshtrace-filter`) traces every HTTP hop through the
//! mesh. What the mesh cannot see, this crate covers from inside the service:
//! trace context carried in CloudEvents over NATS (core, JetStream and
//! request-reply), an OTLP bootstrap driven by the standard `OTEL_*`
//! variables, a tower layer for server spans and a traced reqwest client.
//!
//! This release ships the shared header names only; the NATS, bootstrap and
//! HTTP modules land with their issues.

/// W3C Trace Context header carrying the parent span (lowercase, as written
/// on every carrier). <https://www.w3.org/TR/trace-context-2/#traceparent-header>
pub const TRACEPARENT: &str = "traceparent";

/// W3C Trace Context vendor state header.
/// <https://www.w3.org/TR/trace-context-2/#tracestate-header>
pub const TRACESTATE: &str = "tracestate";

/// W3C Baggage header. <https://www.w3.org/TR/baggage/#header-name>
pub const BAGGAGE: &str = "baggage";
