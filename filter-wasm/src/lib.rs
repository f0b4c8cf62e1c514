//! `meshtrace-filter`: an Envoy HTTP filter (proxy-wasm, `wasm32-wasip1`)
//! that makes every hop through the mesh part of one W3C trace.
//!
//! For each request it extracts and validates `traceparent` and `tracestate`
//! (W3C Trace Context Level 2), continues the trace or restarts it, makes a
//! SERVER span (`direction: inbound`) or a CLIENT span (`direction:
//! outbound`) with the OpenTelemetry HTTP semantic-convention attributes,
//! rewrites `traceparent` upstream so the next hop is its child, and exports
//! finished spans as OTLP (HTTP/protobuf or gRPC) to an Envoy cluster, in
//! bounded batches that never hold a request back.
//!
//! # Quickstart
//!
//! Build with `cargo xtask build-filter`, then add the filter ahead of the
//! router in an Envoy HTTP connection manager:
//!
//! ```yaml
//! - name: envoy.filters.http.wasm
//!   typed_config:
//!     "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
//!     config:
//!       name: meshtrace
//!       configuration:
//!         "@type": type.googleapis.com/google.protobuf.StringValue
//!         value: '{"service_name": "orders", "direction": "inbound"}'
//!       vm_config:
//!         runtime: envoy.wasm.runtime.v8
//!         code: { local: { filename: meshtrace_filter.wasm } }
//! ```
//!
//! The configuration fields and their defaults are documented on
//! [`config::Config`].
//!
//! # Layout
//!
//! A pure core, unit-tested natively:
//!
//! - trace context: [`traceparent`], [`tracestate`], [`headers`] (the
//!   request headers the filter reads), [`ids`], [`sampler`],
//!   [`span_context`] (the context of the proxy's span);
//! - [`decision`]: what the filter does with one request (parent,
//!   upstream `traceparent`, `tracestate`, the CLIENT child), and
//!   [`traceresponse`] (the experimental response header);
//! - spans and export: [`span`] (HTTP semantic conventions),
//!   [`response_flags`], [`export`] (OTLP encoding, the batch, the target);
//! - [`config`] (types, validation, the JSON reader), [`cel`] and
//!   [`properties`] (Envoy attribute encodings).
//!
//! The Envoy glue, `host` (the VM state, the root and HTTP contexts, export
//! dispatch, the ABI calls and the metrics), is private and compiled for
//! `wasm32` only.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod b3;
pub mod cel;
pub mod config;
pub mod decision;
pub mod export;
pub mod headers;
pub mod ids;
pub mod properties;
pub mod rate_limit;
pub mod response_flags;
pub mod route;
pub mod sampler;
pub mod span;
pub mod span_context;
pub mod traceparent;
pub mod traceresponse;
pub mod tracestate;
pub mod trust;

#[cfg(target_arch = "wasm32")]
mod host;

// The SDK's entry point (`_initialize`): installs the logger and root context.
#[cfg(target_arch = "wasm32")]
#[allow(missing_docs)]
mod entry {
    use super::host::root;
    proxy_wasm::main! {{
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Debug);
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(root::TracingRoot::new())
        });
    }}
}
