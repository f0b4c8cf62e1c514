//! Test fixtures for meshtrace that need more than the shared harness
//! (`meshtrace-harness`: process guard, Envoy, nats-server, OTLP receiver,
//! ports, tools, the filter's config builder): a wasmtime proxy-wasm host
//! that runs the real filter module ([`proxy_wasm_host`],
//! [`filter_fixture`]), the small HTTP services and client the
//! end-to-end suites put around Envoy ([`services`], [`mesh`],
//! [`capture_server`]), the NATS and Python interop helpers
//! ([`messaging`], [`python`]), an SDK pipeline ([`sdk_pipeline`]) and a
//! counting allocator ([`alloc_counter`]), and what the container suite
//! checks the Istio artifacts with: the OCI image as Istio's fetcher reads
//! it ([`oci`]) and the `WasmPlugin` manifests ([`wasmplugin`]). The
//! suites are in `tests/`.
//!
//! The servers run on the harness's shared runtime, not on the test's, so
//! a test may block its own thread (a synchronous Envoy admin call)
//! without stalling them.

pub mod alloc_counter;
pub mod capture_server;
pub mod filter_fixture;
pub mod mesh;
pub mod messaging;
pub mod oci;
pub mod proxy_wasm_host;
pub mod python;
pub mod sdk_pipeline;
pub mod services;
pub mod wasmplugin;
