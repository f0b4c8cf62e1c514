//! Test fixtures for meshtrace: a wasmtime proxy-wasm host that runs the real
//! filter module, and (later) an OTLP receiver and process guards.

pub mod filter_fixture;
pub mod proxy_wasm_host;
