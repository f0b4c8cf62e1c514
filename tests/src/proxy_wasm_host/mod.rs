//! A proxy-wasm host on wasmtime that runs a real `wasm32-wasip1` filter
//! module and lets tests drive it request by request, then assert on what it
//! did: headers written, callouts dispatched, metrics, logs, every import
//! call.
//!
//! It implements the proxy-wasm ABI 0.2.1 imports with Envoy 1.40's
//! semantics, so what passes here should pass in the proxy:
//!
//! - status codes exactly as Envoy returns them (the SDK panics on others),
//!   and empty values returned as a null pointer (the SDK reads `None`);
//! - header reads return the first value; `request`/`response` `headers`
//!   `<name>` properties join all values with `,`; delivered values lose
//!   surrounding whitespace, as Envoy's codecs do;
//! - a stream's header maps are usable only in their own callback (or until
//!   the guest continues a paused stream) and again in `proxy_on_log`;
//!   [`PluginHost::finish_stream`] runs `proxy_on_log`, then
//!   `proxy_on_done` and `proxy_on_delete`, in Envoy's order;
//! - callouts belong to the root context; an answer with no headers is a
//!   failed call (no response maps, status `BrokenConnection`);
//! - the root's tick period is set from any context and runs a timer like
//!   proxy-wasm-cpp-host's (a new period applies after the pending tick);
//!   ticks fire only when the test calls [`PluginHost::tick`] or
//!   [`PluginHost::advance_with_ticks`];
//! - shared data and shared queues live in the host (one VM, id `""`);
//!   enqueueing does not deliver `proxy_on_queue_ready`.
//!
//! WASI preview1 comes from `wasmtime-wasi`, with stdout and stderr
//! captured and the clocks reading the host's virtual clocks: wall time
//! starts at 2026-01-01T00:00:00Z, and both move only on
//! [`PluginHost::advance`] / [`PluginHost::advance_with_ticks`]
//! ([`PluginHost::set_time`] steps the wall clock alone). Imports the host
//! does not implement (`proxy_set_buffer_bytes`, gRPC streams) trap when
//! called; bodies and trailers are never delivered, so body buffers read
//! empty.
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
mod inspect;
mod memory;
mod metrics;
mod module;
mod records;
mod shared;
mod state;

#[cfg(test)]
mod tests;

pub use abi::{Action, LogLevel};
pub use callouts::{GrpcCallout, HttpCallout};
pub use clock::START_UNIX_SECS;
pub use headers::serialize_pairs;
pub use host::{PluginHost, StreamId};
pub use module::{WasmModule, filter_module, filter_module_path};
pub use records::{HostCall, LocalResponse, LogEntry, StreamControl, StreamControlKind};

/// An integer property value as Envoy serializes CEL `int64`: 8 bytes,
/// little-endian (e.g. `response.code`, `response.flags`).
pub fn int_property(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
