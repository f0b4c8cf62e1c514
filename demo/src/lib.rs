//! `meshtrace-demo`: the revenue flow as one trace, in one command.
//!
//! `cargo xtask demo` builds the filter and runs the `meshtrace-demo`
//! binary, which starts nats-server (JetStream on), Envoy with the
//! meshtrace filter (a gateway with `ext_authz`, and sidecars rendered
//! from the shipped `envoy/*.yaml`) and seven small services written with the
//! [`meshtrace`] crate, each its own process ([`services`]), sends one
//! request and checks the trace it produces:
//!
//! ```text
//! client → gateway [envoy] ─ext_authz→ identity
//!        → tap [envoy] → tap ─core NATS tap.events→ pipeline
//!        ─JetStream jobs.score→ ensemble → ensemble [envoy, outbound]
//!        → llm-gateway [envoy] → llm-gateway → [envoy, outbound] → llm-provider
//!          ensemble ─core NATS usage.recorded→ meter
//! ```
//!
//! Spans go to an embedded OTLP receiver (or to `OTEL_EXPORTER_OTLP_ENDPOINT`);
//! the trace is printed as a waterfall ([`waterfall`]), written as SVG
//! ([`svg`]) and checked hop by hop ([`check`]). The `trace-viewer`
//! binary is the same receiver and drawing on fixed ports, as a local
//! trace viewer ([`viewer`]).
//!
//! The drawing is pure, over [`record::SpanRecord`]s:
//!
//! ```
//! use meshtrace_demo::record::{Kind, SpanRecord, Status};
//! use meshtrace_demo::{tree::TraceTree, waterfall};
//!
//! let span = |id: &str, parent: &str, service: &str, start: u64, end: u64| SpanRecord {
//!     trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
//!     span_id: id.into(),
//!     parent_span_id: parent.into(),
//!     service: service.into(),
//!     name: "POST".into(),
//!     kind: Kind::Server,
//!     proxy: false,
//!     start_unix_nanos: start,
//!     end_unix_nanos: end,
//!     status: Status::Unset,
//! };
//! let spans = [span("a", "", "gateway", 0, 9_000_000), span("b", "a", "tap", 1_000_000, 5_000_000)];
//! let tree = TraceTree::of("4bf92f3577b34da6a3ce929d0e0e4736", &spans).unwrap();
//! print!("{}", waterfall::render(&tree, false));
//! ```

pub mod check;
pub mod children;
pub mod cli;
pub mod endpoint;
pub mod envoy_config;
pub mod orchestrator;
pub mod record;
pub mod services;
pub mod svg;
pub mod tree;
pub mod viewer;
pub mod waterfall;

pub use orchestrator::{DemoError, DemoOptions, Report, run};
