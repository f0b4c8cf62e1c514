//! What the host records for tests to assert on, beyond callouts and metrics.

use super::abi::LogLevel;

/// One `proxy_log` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Level the guest logged at.
    pub level: LogLevel,
    /// The message (lossy UTF-8).
    pub message: String,
    /// The context the guest was running in.
    pub context_id: u32,
}

/// One call from the guest into a proxy-wasm import (WASI calls are not
/// recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCall {
    /// Import name, e.g. `proxy_get_property`.
    pub name: String,
    /// The context (effective context, when the guest set one) it ran in.
    pub context_id: u32,
}

/// A `proxy_send_local_response` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    /// The context that sent it.
    pub context_id: u32,
    /// HTTP status.
    pub status_code: u32,
    /// Response code details.
    pub details: String,
    /// Body.
    pub body: Vec<u8>,
    /// Extra headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// gRPC status, -1 for none.
    pub grpc_status: i32,
}

/// What a stream control call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamControlKind {
    /// `proxy_continue_stream`.
    Continue,
    /// `proxy_close_stream`.
    Close,
}

/// A `proxy_continue_stream` or `proxy_close_stream` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamControl {
    /// The context that made it.
    pub context_id: u32,
    /// Continue or close.
    pub kind: StreamControlKind,
    /// ABI stream type: 0 request, 1 response, 2 downstream, 3 upstream.
    pub stream_type: u32,
}
