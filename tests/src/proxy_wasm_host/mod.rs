//! A proxy-wasm host on wasmtime that runs a real `wasm32-wasip1` filter
//! module and lets tests drive it request by request, then assert on what it
//! did: headers written, callouts dispatched, metrics, logs, every import
//! call.
//!
//! It implements the proxy-wasm ABI 0.2.1 imports with Envoy 1.40's
//! semantics (status codes, first-value header reads, `request.headers.*`
//! properties joined with `,`, callouts attached to the root context, the
//! root's tick period set from any context), WASI preview1 from
//! `wasmtime-wasi` with stdout/stderr captured, and a virtual clock that
//! moves only when the test says so. Imports it does not implement trap
//! when called (shared queues, `proxy_set_buffer_bytes`, gRPC streams).
//!
//! ```no_run
//! use meshtrace_tests::proxy_wasm_host::{PluginHost, filter_module};
//!
//! # fn main() -> anyhow::Result<()> {
//! let mut host = PluginHost::new(filter_module())?;
//! host.add_cluster("otel_collector");
//! assert!(host.configure(br#"{"direction":"inbound"}"#)?);
//! let stream = host.create_http_stream()?;
//! host.on_request_headers(stream, &[(":method", "GET"), (":path", "/")], true)?;
//! println!("{:?}", host.request_headers(stream));
//! host.finish_stream(stream)?;
//! host.tick()?;
//! for call in host.take_http_callouts() {
//!     host.respond_http_call(call.token, &[(":status", "200")], b"")?;
//! }
//! # Ok(())
//! # }
//! ```

mod abi;
mod callouts;
mod clock;
mod headers;
mod host;
mod imports;
mod memory;
mod metrics;
mod module;
mod records;
mod state;

#[cfg(test)]
mod tests;

pub use abi::{Action, LogLevel};
pub use callouts::{GrpcCallout, HttpCallout};
pub use clock::START_UNIX_SECS;
pub use host::{PluginHost, StreamId};
pub use module::{FILTER_WASM_ENV, WasmModule, filter_module, filter_module_path};
pub use records::{HostCall, LocalResponse, LogEntry, StreamControl, StreamControlKind};

/// An integer property value as Envoy serializes CEL `int64`: 8 bytes,
/// little-endian (e.g. `response.code`, `response.flags`).
pub fn int_property(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
