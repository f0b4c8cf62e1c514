//! `meshtrace::init()` against the real OTLP receiver, one child process per
//! scenario.
//!
//! The bootstrap reads `OTEL_*` variables and installs process-wide globals,
//! so every scenario runs in a child: the test re-runs this binary filtered
//! to the ignored [`child::child`] test, with the scenario's variables set on
//! the child's command (the test process's own environment is never changed).
//! The child calls `init()`, makes spans (plain API spans, a parent with
//! baggage, an `#[instrument]` span inside it), prints what the global
//! propagator injected, and drops the guard inside its runtime. The parent
//! asserts on the receiver and on the child's stdout and stderr.
//!
//! [`child`] is the child's side (with [`custom`], the code-side sampler
//! and span processor it can install), [`run`] the parent's; the other
//! modules hold the scenarios, one area of the configuration each.

mod child;
mod custom;
mod run;

mod batch;
mod exporter;
mod processor;
mod propagators;
mod protocol;
mod request_headers;
mod resource;
mod sampler;
mod shutdown;
mod timeout;
mod tracing_bridge;
