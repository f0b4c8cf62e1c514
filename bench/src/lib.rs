//! `meshtrace-bench`: the harness behind `cargo xtask bench envoy`.
//!
//! It measures what tracing every request costs Envoy: the same pinned
//! Envoy binary is started several times, with no tracing, with Envoy's
//! built-in `envoy.tracers.opentelemetry`, and with the meshtrace filter,
//! each exporting to one count-only OTLP receiver (the harness's
//! `OtlpReceiver` with `Retention::CountOnly`) that counts spans per
//! kind. Envoy runs on core 0 (`taskset -c 0`, `--concurrency 1`); `wrk`,
//! `oha`, the sink and the [`upstream::Upstream`] share core 1.
//! Configurations are interleaved round by round ([`runner`]); the
//! [`report`] compares each with no tracing in the same round, and
//! [`svg`] draws the chart.
//!
//! # Quickstart
//!
//! ```no_run
//! use meshtrace_bench::envoy_config::{Ports, TracerConfig, Variant, render};
//! use meshtrace_harness::Protocol;
//!
//! let ports = Ports { listener: 10000, admin: 9901, sink_http: 4318, sink_grpc: 4317, upstream: 8080 };
//! let yaml = render(
//!     Variant::Upstream,
//!     &TracerConfig::Meshtrace,
//!     Protocol::HttpProtobuf,
//!     "target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm".as_ref(),
//!     &ports,
//! );
//! std::fs::write("/tmp/envoy.yaml", yaml)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The full run is `cargo xtask bench envoy`, which installs `wrk` and
//! `oha`, builds the filter and this crate, and runs the `meshtrace-bench`
//! binary.

pub mod cpu;
pub mod envoy_config;
pub mod load;
pub mod nats;
pub mod nats_jetstream;
pub mod report;
pub mod runner;

pub mod svg;
pub mod upstream;
