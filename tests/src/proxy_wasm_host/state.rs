//! The store's data: everything the host functions read and write, with
//! Envoy's rules for which context, map, buffer or property a call sees.

use std::collections::{BTreeMap, HashMap};

use wasmtime_wasi::p1::WasiP1Ctx;

use super::abi::{BufferType, LogLevel, MapType, Status};
use super::callouts::Callouts;
use super::clock::{TickTimer, VirtualClock};
use super::headers::HeaderMap;
use super::memory::{GuestMemory, HoldsGuest};
use super::metrics::Metrics;
use super::records::{HostCall, LocalResponse, LogEntry, StreamControl};
use super::shared::{SharedData, SharedQueues};

/// One HTTP stream context.
///
/// The maps keep what the filter left for the test to inspect, but the
/// guest sees them only when Envoy would: Envoy's `decodeHeaders` /
/// `encodeHeaders` drop their pointer to the map once the callback returns
/// `Continue` (or the guest continues the stream), and the log phase sees
/// both maps again.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub(crate) request_headers: Option<HeaderMap>,
    pub(crate) response_headers: Option<HeaderMap>,
    /// The guest may read and write the request headers now.
    pub(crate) request_headers_live: bool,
    /// The guest may read and write the response headers now.
    pub(crate) response_headers_live: bool,
    /// Set by the test or by the guest's `proxy_set_property`, keyed by the
    /// `\0`-joined path.
    pub(crate) properties: HashMap<Vec<u8>, Vec<u8>>,
    /// `proxy_on_delete` ran: the context is gone.
    pub(crate) deleted: bool,
}

/// An HTTP callout's response, visible while `proxy_on_http_call_response`
/// runs (Envoy's `http_call_response_`).
#[derive(Debug)]
pub(crate) struct HttpCallResponse {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Data of the wasmtime store.
pub(crate) struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    /// Set right after instantiation.
    pub(crate) guest: Option<GuestMemory>,
    pub(crate) root_id: u32,
    /// The context the host called into (0 while none).
    pub(crate) active: u32,
    /// Set by `proxy_set_effective_context` until the call returns.
    pub(crate) effective: Option<u32>,
    /// `proxy_on_log` is running (Envoy's `access_log_phase_`).
    pub(crate) log_phase: bool,
    pub(crate) streams: BTreeMap<u32, Stream>,
    pub(crate) vm_configuration: Vec<u8>,
    /// Only while `proxy_on_configure` runs.
    pub(crate) plugin_configuration: Option<Vec<u8>>,
    /// Only while `proxy_on_http_call_response` runs for a response.
    pub(crate) http_call_response: Option<HttpCallResponse>,
    /// Only while `proxy_on_grpc_receive` runs.
    pub(crate) grpc_receive_buffer: Option<Vec<u8>>,
    /// What `proxy_get_status` returns.
    pub(crate) status: (u32, String),
    pub(crate) properties: HashMap<Vec<u8>, Vec<u8>>,
    pub(crate) callouts: Callouts,
    pub(crate) metrics: Metrics,
    pub(crate) shared_data: SharedData,
    pub(crate) shared_queues: SharedQueues,
    pub(crate) logs: Vec<LogEntry>,
    pub(crate) log_level: LogLevel,
    pub(crate) host_calls: Vec<HostCall>,
    pub(crate) local_responses: Vec<LocalResponse>,
    pub(crate) stream_controls: Vec<StreamControl>,
    /// The root context's tick timer.
    pub(crate) tick_timer: TickTimer,
    pub(crate) clock: VirtualClock,
    /// Header writes (replace, remove, add) answer `BadArgument`, as Envoy
    /// does for a map it no longer holds: a fault for tests to inject.
    pub(crate) refuse_header_writes: bool,
}

// === impl HostState ===

impl HoldsGuest for HostState {
    fn guest_memory(&self) -> Option<&GuestMemory> {
        self.guest.as_ref()
    }
}

impl HostState {
    pub(crate) fn new(wasi: WasiP1Ctx, clock: VirtualClock, root_id: u32) -> Self {
        Self {
            wasi,
            guest: None,
            root_id,
            active: 0,
            effective: None,
            log_phase: false,
            streams: BTreeMap::new(),
            vm_configuration: Vec::new(),
            plugin_configuration: None,
            http_call_response: None,
            grpc_receive_buffer: None,
            status: (0, String::new()),
            properties: HashMap::new(),
            callouts: Callouts::default(),
            metrics: Metrics::default(),
            shared_data: SharedData::default(),
            shared_queues: SharedQueues::default(),
            logs: Vec::new(),
            log_level: LogLevel::Trace,
            host_calls: Vec::new(),
            local_responses: Vec::new(),
            stream_controls: Vec::new(),
            tick_timer: TickTimer::default(),
            clock,
            refuse_header_writes: false,
        }
    }

    /// Marks the start of a call into the guest on behalf of `context_id`.
    pub(crate) fn enter(&mut self, context_id: u32) {
        self.active = context_id;
        self.effective = None;
    }

    /// Marks its end: effective context and per-call data are dropped.
    pub(crate) fn leave(&mut self) {
        self.active = 0;
        self.effective = None;
        self.log_phase = false;
        self.plugin_configuration = None;
        self.http_call_response = None;
        self.grpc_receive_buffer = None;
    }

    /// The context a host call applies to (`contextOrEffectiveContext()`).
    pub(crate) fn context_id(&self) -> u32 {
        self.effective.unwrap_or(self.active)
    }

    /// `proxy_set_effective_context`: the root or a live stream.
    pub(crate) fn set_effective_context(&mut self, id: u32) -> Result<(), Status> {
        let live = id == self.root_id || self.streams.get(&id).is_some_and(|s| !s.deleted);
        if !live {
            return Err(Status::BadArgument);
        }
        self.effective = Some(id);
        Ok(())
    }

    /// The current stream, when the call runs in a (live) stream context.
    pub(crate) fn stream(&self) -> Option<&Stream> {
        self.streams.get(&self.context_id()).filter(|s| !s.deleted)
    }

    fn stream_mut(&mut self) -> Option<&mut Stream> {
        let id = self.context_id();
        self.streams.get_mut(&id).filter(|s| !s.deleted)
    }

    /// The stream's request headers as the guest sees them now: while
    /// they are live, or in the log phase (Envoy's
    /// `access_log_request_headers_`).
    fn request_headers(&self) -> Option<&HeaderMap> {
        let stream = self.stream()?;
        let visible = stream.request_headers_live || self.log_phase;
        stream.request_headers.as_ref().filter(|_| visible)
    }

    /// The response headers as the guest sees them now.
    fn response_headers(&self) -> Option<&HeaderMap> {
        let stream = self.stream()?;
        let visible = stream.response_headers_live || self.log_phase;
        stream.response_headers.as_ref().filter(|_| visible)
    }

    /// A map for reading (Envoy's `getConstMap`); `None` when the context
    /// has no such map right now.
    pub(crate) fn header_map(&self, map: MapType) -> Option<&HeaderMap> {
        match map {
            MapType::RequestHeaders => self.request_headers(),
            MapType::ResponseHeaders => self.response_headers(),
            MapType::HttpCallResponseHeaders => {
                self.http_call_response.as_ref().map(|r| &r.headers)
            }
            // The host delivers no trailers; unary gRPC calls and HTTP
            // callouts without trailers have none.
            MapType::RequestTrailers
            | MapType::ResponseTrailers
            | MapType::GrpcReceiveInitialMetadata
            | MapType::GrpcReceiveTrailingMetadata
            | MapType::HttpCallResponseTrailers => None,
        }
    }

    /// A map for writing (Envoy's `getMap`): only the stream's own live
    /// request and response headers (not in the log phase), else
    /// `BadArgument`.
    pub(crate) fn header_map_mut(&mut self, map: MapType) -> Result<&mut HeaderMap, Status> {
        let stream = self.stream_mut().ok_or(Status::BadArgument)?;
        let map = match map {
            MapType::RequestHeaders if stream.request_headers_live => {
                stream.request_headers.as_mut()
            }
            MapType::ResponseHeaders if stream.response_headers_live => {
                stream.response_headers.as_mut()
            }
            _ => None,
        };
        map.ok_or(Status::BadArgument)
    }

    /// `proxy_continue_stream` on a request or response: Envoy's
    /// `continueStream` forgets the request headers in both cases.
    pub(crate) fn continue_stream(&mut self) {
        if let Some(stream) = self.stream_mut() {
            stream.request_headers_live = false;
        }
    }

    /// `proxy_get_header_map_value`: the first value; a missing map is
    /// `NotFound` in the log phase, `BadArgument` otherwise.
    pub(crate) fn header_value(&self, map: MapType, key: &str) -> Result<String, Status> {
        let Some(headers) = self.header_map(map) else {
            return Err(if self.log_phase {
                Status::NotFound
            } else {
                Status::BadArgument
            });
        };
        headers
            .first(key)
            .map(str::to_string)
            .ok_or(Status::NotFound)
    }

    /// `proxy_get_buffer_bytes`' buffer: `None` where Envoy's `getBuffer`
    /// returns no buffer (`NotFound`), empty where it returns an empty one.
    pub(crate) fn buffer(&self, buffer: BufferType) -> Option<&[u8]> {
        match buffer {
            BufferType::VmConfiguration => Some(&self.vm_configuration),
            BufferType::PluginConfiguration => self.plugin_configuration.as_deref(),
            BufferType::HttpCallResponseBody => {
                self.http_call_response.as_ref().map(|r| r.body.as_slice())
            }
            BufferType::GrpcReceiveBuffer => {
                Some(self.grpc_receive_buffer.as_deref().unwrap_or_default())
            }
            BufferType::HttpRequestBody
            | BufferType::HttpResponseBody
            | BufferType::DownstreamData
            | BufferType::UpstreamData
            | BufferType::CallData => Some(&[]),
        }
    }

    /// `proxy_get_property`. In a stream: a property set on the stream, then
    /// `request`/`response` `headers` `<name>` (all values joined with `,`,
    /// from the maps the guest can see now), then global properties. In the root context: global properties only.
    pub(crate) fn property(&self, path: &[u8]) -> Result<Vec<u8>, Status> {
        if let Some(stream) = self.stream() {
            if let Some(value) = stream.properties.get(path) {
                return Ok(value.clone());
            }
            let parts: Vec<&[u8]> = path.split(|b| *b == 0).collect();
            if let [top, b"headers", name] = parts.as_slice() {
                let map = match *top {
                    b"request" => Some(self.request_headers()),
                    b"response" => Some(self.response_headers()),
                    _ => None,
                };
                if let Some(map) = map {
                    let name = String::from_utf8_lossy(name);
                    return map
                        .and_then(|m| m.joined(&name))
                        .map(String::into_bytes)
                        .ok_or(Status::NotFound);
                }
            }
        }
        self.properties.get(path).cloned().ok_or(Status::NotFound)
    }

    /// `proxy_set_property`: stored on the stream (Envoy keeps it in the
    /// stream's filter state); the root context has none (`NotFound`).
    pub(crate) fn set_property(&mut self, path: Vec<u8>, value: Vec<u8>) -> Result<(), Status> {
        let stream = self.stream_mut().ok_or(Status::NotFound)?;
        stream.properties.insert(path, value);
        Ok(())
    }

    /// Records a `proxy_log` call; logs also go to the test's captured
    /// output.
    pub(crate) fn log(&mut self, level: LogLevel, message: String) {
        let context_id = self.context_id();
        eprintln!("[wasm {level} ctx {context_id}] {message}");
        self.logs.push(LogEntry {
            level,
            message,
            context_id,
        });
    }
}
