//! Test fixtures for meshtrace: a wasmtime proxy-wasm host that runs the real
//! filter module, a real OTLP receiver, guards that run Envoy and
//! nats-server on free ports, and the small HTTP services and client the
//! end-to-end suites put around Envoy.
//!
//! The servers run on one shared fixture runtime, not on the test's, so a
//! test may block its own thread (a synchronous Envoy admin call) without
//! stalling them.

pub mod alloc_counter;
pub mod capture_server;
pub mod envoy;
pub mod filter_fixture;
pub mod http_client;
pub mod http_server;
pub mod mesh;
pub mod messaging;
pub mod nats;
pub mod otlp_receiver;
pub mod ports;
pub mod proxy_wasm_host;
pub mod python;
mod runtime;
pub mod sdk_pipeline;
pub mod services;
pub mod tools;
