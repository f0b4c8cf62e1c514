//! The proxy-wasm HTTP context: one span per request (two with
//! `spawn_upstream_span`).
//!
//! Request headers: one host call returns the whole request header map
//! ([`crate::headers`]); from it the filter takes every `traceparent` and
//! `tracestate` value, decides the span context and rewrites `traceparent`
//! upstream, and, for a sampled request only, the span's attributes.
//! Response headers: `:status`. Log phase (stream end): finish the span and
//! queue it. Envoy attributes that are not headers cost a `get_property`
//! each, so they are read only where they are needed: `response.flags`
//! when there was no response, `xds.cluster_name` for CLIENT spans, and
//! the opt-in `attributes.connection` set in one CEL evaluation
//! ([`crate::cel`]).
//!
//! Repeated `traceparent` headers make the context invalid, and repeated
//! `tracestate` headers are combined, as W3C requires.
//! <https://www.w3.org/TR/trace-context-2/#traceparent-header-field-values>
//! <https://www.w3.org/TR/trace-context-2/#combined-header-value>

use log::debug;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::abi;
use crate::cel::{self, ConnectionAttr};
use crate::export::Pushed;
use crate::headers::RequestHeaders;
use crate::propagation::SpanContext;
use crate::properties::{self, path};
use crate::span::{HttpObservation, SpanKind, SpanRecord};
use crate::traceparent::{SpanId, TRACEPARENT_LEN, TraceParent};
use crate::tracestate;
use crate::vm::{ConnectionAttributes, SharedState, VmState, now_nanos, request_flush};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// A sampled request's span, between request headers and the log phase.
struct ActiveSpan {
    context: SpanContext,
    /// The CLIENT child's id when the filter also reports the upstream
    /// request (`spawn_upstream_span`).
    upstream_span_id: Option<SpanId>,
    trace_state: Option<String>,
    start_unix_nanos: u64,
    /// `:status` of the response, once its headers passed.
    status_code: Option<i64>,
    http: HttpObservation,
}

/// The HTTP context of one request.
pub struct HttpTracer {
    state: Option<SharedState>,
    span: Option<ActiveSpan>,
}

/// The opt-in connection attributes (`attributes.connection`).
struct Connection {
    protocol: Option<String>,
    source_address: Option<String>,
    cluster: Option<String>,
}

fn property(p: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(p.to_vec()).ok().flatten()
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes
        .filter(|b| !b.is_empty())
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn remove_trace_state() {
    let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, TRACESTATE);
}

// === impl HttpTracer ===

impl HttpTracer {
    /// A context for one request; without configuration it passes traffic
    /// through untouched.
    pub fn new(state: Option<SharedState>) -> Self {
        Self { state, span: None }
    }

    fn start(vm: &mut VmState) -> Option<ActiveSpan> {
        let raw = abi::header_pairs(MapType::HttpRequestHeaders).unwrap_or_default();
        let headers = RequestHeaders::scan(&raw).unwrap_or_else(|e| {
            debug!("meshtrace: unreadable request header map ({e}); no incoming context");
            RequestHeaders::default()
        });
        let parent = match headers.single_traceparent() {
            Ok(raw) => raw.and_then(|raw| {
                TraceParent::parse(raw)
                    .map_err(|e| {
                        debug!("meshtrace: invalid traceparent ({e}); restarting the trace");
                        vm.metrics.invalid_traceparent();
                    })
                    .ok()
            }),
            Err(count) => {
                debug!("meshtrace: {count} traceparent headers; restarting the trace");
                vm.metrics.invalid_traceparent();
                None
            }
        };
        let context = SpanContext::start(parent.as_ref(), &vm.sampler, &mut vm.ids);
        let upstream_span_id =
            (vm.spawn_upstream_span && context.is_sampled()).then(|| vm.ids.span_id());

        // Upstream, the parent is this proxy's last span: the CLIENT child
        // when there is one, else this span.
        let mut sent = context.traceparent();
        if let Some(id) = upstream_span_id {
            sent.parent_id = id;
        }
        let mut buf = [0u8; TRACEPARENT_LEN];
        let value = sent.format(&mut buf);
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, TRACEPARENT, Some(value));

        // tracestate travels only with the valid traceparent it belongs to.
        let trace_state = match (&parent, headers.combined_tracestate(&raw)) {
            (_, None) => None,
            (Some(_), Some(value)) => forward_trace_state(&value),
            (None, Some(_)) => {
                remove_trace_state();
                None
            }
        };

        if !context.is_sampled() {
            return None;
        }
        vm.metrics.span_started();
        Some(ActiveSpan {
            context,
            upstream_span_id,
            trace_state,
            start_unix_nanos: now_nanos(),
            status_code: None,
            http: HttpObservation {
                method: text(headers.method),
                path: text(headers.path),
                scheme: text(headers.scheme),
                authority: text(headers.authority),
                user_agent: text(headers.user_agent),
                request_id: text(headers.request_id),
                ..HttpObservation::default()
            },
        })
    }

    fn finish(vm: &mut VmState, span: ActiveSpan) {
        let end_unix_nanos = now_nanos();
        let mut http = span.http;
        http.status_code = span.status_code.filter(|code| *code > 0);
        if http.status_code.is_none() {
            // No response: the flags say why (error.type).
            http.response_flags = property(&path::RESPONSE_FLAGS)
                .and_then(|b| properties::int64(&b))
                .map_or(0, |f| f as u64);
        }
        let connection = match vm.connection {
            ConnectionAttributes::Off => None,
            ConnectionAttributes::Cel(token) => {
                Some(connection_from_cel(token).unwrap_or_else(|| {
                    vm.metrics.attribute_fallback();
                    connection_one_by_one()
                }))
            }
            ConnectionAttributes::OneByOne => Some(connection_one_by_one()),
        };
        // CLIENT spans name their upstream cluster; with
        // `spawn_upstream_span` it also tells whether a request went
        // upstream at all (a direct response has no cluster).
        let needs_cluster = vm.kind == SpanKind::Client || span.upstream_span_id.is_some();
        http.upstream_cluster = match connection {
            Some(connection) => {
                http.protocol = connection.protocol;
                http.source_address = connection.source_address;
                connection.cluster
            }
            None if needs_cluster => property(&path::CLUSTER_NAME).and_then(properties::string),
            None => None,
        };
        let went_upstream = http.upstream_cluster.is_some();
        let mut record = SpanRecord {
            trace_id: span.context.trace_id,
            span_id: span.context.span_id,
            parent_span_id: span.context.parent_span_id,
            flags: span.context.flags,
            trace_state: span.trace_state,
            kind: vm.kind,
            start_unix_nanos: span.start_unix_nanos,
            end_unix_nanos,
            capture_query: vm.capture_query,
            http,
        };
        queue(vm, &record);
        // The proxy observes the upstream request within the same stream:
        // the CLIENT child covers the same interval.
        if let Some(client_id) = span.upstream_span_id
            && went_upstream
        {
            vm.metrics.span_started();
            record.kind = SpanKind::Client;
            record.parent_span_id = Some(record.span_id);
            record.span_id = client_id;
            queue(vm, &record);
        }
    }
}

fn queue(vm: &mut VmState, record: &SpanRecord) {
    match vm.batcher.push(record) {
        Pushed::Dropped => vm.metrics.dropped(1),
        Pushed::Queued { batch_full: true } => request_flush(vm),
        Pushed::Queued { batch_full: false } => {}
    }
}

/// The connection attributes in one host call ([`cel::CONNECTION_EXPR`]).
fn connection_from_cel(token: u32) -> Option<Connection> {
    let bytes = match hostcalls::call_foreign_function(cel::EVALUATE, Some(&token.to_le_bytes())) {
        Ok(bytes) => bytes?,
        Err(status) => {
            debug!("meshtrace: {} failed ({status:?})", cel::EVALUATE);
            return None;
        }
    };
    let v = cel::decode_list::<{ cel::CONNECTION_LEN }>(&bytes)
        .map_err(|e| debug!("meshtrace: connection attributes: {e}"))
        .ok()?;
    let s = |attr: ConnectionAttr| v[attr as usize].as_str().map(str::to_owned);
    Some(Connection {
        protocol: s(ConnectionAttr::Protocol),
        source_address: s(ConnectionAttr::SourceAddress),
        cluster: s(ConnectionAttr::Cluster),
    })
}

/// The same attributes, a host call each (hosts without CEL).
fn connection_one_by_one() -> Connection {
    Connection {
        protocol: property(&path::PROTOCOL).and_then(properties::string),
        source_address: property(&path::SOURCE_ADDRESS).and_then(properties::string),
        cluster: property(&path::CLUSTER_NAME).and_then(properties::string),
    }
}

/// Validates the (combined) incoming `tracestate` `raw`: a valid one is
/// forwarded as a single header and returned for the span, an invalid or
/// empty one is dropped.
/// <https://www.w3.org/TR/trace-context-2/#tracestate-parsing>
fn forward_trace_state(raw: &[u8]) -> Option<String> {
    match tracestate::validate(raw) {
        // An empty list (e.g. `,`) is valid but not worth sending.
        // <https://www.w3.org/TR/trace-context-2/#tracestate-header-field-values>
        Ok(valid) if valid.is_empty() => {
            remove_trace_state();
            None
        }
        Ok(valid) => {
            let value = valid.as_str();
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, TRACESTATE, Some(value));
            Some(value.to_owned())
        }
        Err(e) => {
            debug!("meshtrace: dropping invalid tracestate ({e})");
            remove_trace_state();
            None
        }
    }
}

impl Context for HttpTracer {}

impl HttpContext for HttpTracer {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(state) = &self.state
            && let Ok(mut vm) = state.try_borrow_mut()
        {
            self.span = Self::start(&mut vm);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(span) = &mut self.span {
            span.status_code = abi::header_value(MapType::HttpResponseHeaders, ":status")
                .and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok());
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        let (Some(state), Some(span)) = (&self.state, self.span.take()) else {
            return;
        };
        if let Ok(mut vm) = state.try_borrow_mut() {
            Self::finish(&mut vm, span);
        }
    }
}
