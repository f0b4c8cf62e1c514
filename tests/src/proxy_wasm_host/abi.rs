//! proxy-wasm ABI 0.2.1 values shared by the host functions: status codes,
//! map and buffer types, log levels and header actions.
//!
//! Numbers follow `proxy-wasm-cpp-host` (`WasmResult`, `WasmHeaderMapType`,
//! `WasmBufferType`), which Envoy embeds, and the Rust SDK's `types.rs`.

use std::fmt;

/// A `WasmResult` status code returned by a host function.
///
/// The SDK panics on codes it does not expect, so each import returns
/// exactly what Envoy returns in the same situation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    NotFound = 1,
    BadArgument = 2,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    BrokenConnection = 11,
}

/// Why a host function did not return `Ok`: a status for the guest, or a
/// trap (e.g. the guest's allocator trapped while the host returned data).
#[derive(Debug)]
pub(crate) enum HostError {
    Status(Status),
    Trap(wasmtime::Error),
}

// === impl HostError ===

impl From<Status> for HostError {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

impl From<wasmtime::Error> for HostError {
    fn from(error: wasmtime::Error) -> Self {
        Self::Trap(error)
    }
}

/// What a host function body returns.
pub(crate) type HostResult<T = ()> = Result<T, HostError>;

/// Header map types (`proxy_*_header_map_*`'s first argument).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum MapType {
    RequestHeaders,
    RequestTrailers,
    ResponseHeaders,
    ResponseTrailers,
    GrpcReceiveInitialMetadata,
    GrpcReceiveTrailingMetadata,
    HttpCallResponseHeaders,
    HttpCallResponseTrailers,
}

// === impl MapType ===

impl MapType {
    /// Decodes the ABI number; unknown types are a `BadArgument`.
    pub(crate) fn from_abi(value: u32) -> Result<Self, Status> {
        Ok(match value {
            0 => Self::RequestHeaders,
            1 => Self::RequestTrailers,
            2 => Self::ResponseHeaders,
            3 => Self::ResponseTrailers,
            4 => Self::GrpcReceiveInitialMetadata,
            5 => Self::GrpcReceiveTrailingMetadata,
            6 => Self::HttpCallResponseHeaders,
            7 => Self::HttpCallResponseTrailers,
            _ => return Err(Status::BadArgument),
        })
    }
}

/// Buffer types (`proxy_get_buffer_bytes`'s first argument).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum BufferType {
    HttpRequestBody,
    HttpResponseBody,
    DownstreamData,
    UpstreamData,
    HttpCallResponseBody,
    GrpcReceiveBuffer,
    VmConfiguration,
    PluginConfiguration,
    CallData,
}

// === impl BufferType ===

impl BufferType {
    /// Decodes the ABI number; unknown types are a `BadArgument`.
    pub(crate) fn from_abi(value: u32) -> Result<Self, Status> {
        Ok(match value {
            0 => Self::HttpRequestBody,
            1 => Self::HttpResponseBody,
            2 => Self::DownstreamData,
            3 => Self::UpstreamData,
            4 => Self::HttpCallResponseBody,
            5 => Self::GrpcReceiveBuffer,
            6 => Self::VmConfiguration,
            7 => Self::PluginConfiguration,
            8 => Self::CallData,
            _ => return Err(Status::BadArgument),
        })
    }
}

/// A log level, as `proxy_log` and `proxy_get_log_level` number them
/// (Envoy passes spdlog levels straight through).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// 0
    Trace,
    /// 1
    Debug,
    /// 2
    Info,
    /// 3
    Warn,
    /// 4
    Error,
    /// 5
    Critical,
}

// === impl LogLevel ===

impl LogLevel {
    /// Decodes the ABI number; `None` for anything above `Critical`.
    pub fn from_abi(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            4 => Self::Error,
            5 => Self::Critical,
            _ => return None,
        })
    }

    /// The ABI number.
    pub fn to_abi(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Critical => "critical",
        };
        f.write_str(name)
    }
}

/// What `proxy_on_request_headers` / `proxy_on_response_headers` returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// 0: continue the filter chain.
    Continue,
    /// 1: stop iteration until `proxy_continue_stream`.
    Pause,
    /// Any other value (Envoy's `StopAllIteration*` variants).
    Other(u32),
}

// === impl Action ===

impl Action {
    /// Decodes the guest's return value.
    pub fn from_abi(value: u32) -> Self {
        match value {
            0 => Self::Continue,
            1 => Self::Pause,
            other => Self::Other(other),
        }
    }
}

/// Metric types (`proxy_define_metric`'s first argument).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// 0: monotonic counter.
    Counter,
    /// 1: gauge.
    Gauge,
    /// 2: histogram.
    Histogram,
}

// === impl MetricType ===

impl MetricType {
    /// Decodes the ABI number; `None` for an unknown type.
    pub fn from_abi(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Counter,
            1 => Self::Gauge,
            2 => Self::Histogram,
            _ => return None,
        })
    }
}
