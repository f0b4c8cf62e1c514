//! The proxy-wasm HTTP context: one span per request.
//!
//! Request headers: read `traceparent` (and, for a valid one, `tracestate`),
//! decide the span context, rewrite `traceparent` upstream. Only a sampled
//! request reads the attributes it will record. Log phase (stream end): read
//! the response code and flags, finish the span and queue it. Where Envoy
//! offers CEL, each phase's attributes come from one host call
//! ([`crate::cel`]); otherwise, and whenever an evaluation fails, they are
//! read one by one.
//!
//! Both headers are read through Envoy's `request.headers.<name>` attribute,
//! which joins repeated headers with `,`: two `traceparent` headers are thus
//! invalid, and repeated `tracestate` headers are merged, as W3C requires.
//! <https://www.w3.org/TR/trace-context-2/#traceparent-header-field-values>
//! <https://www.w3.org/TR/trace-context-2/#combined-header-value>

use log::debug;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::cel::{self, RequestAttr, ResponseAttr, Value};
use crate::export::Pushed;
use crate::propagation::SpanContext;
use crate::properties::{self, path};
use crate::root_context::{SharedState, VmState, now_nanos, request_flush};
use crate::span::{HttpObservation, SpanRecord};
use crate::traceparent::{TRACEPARENT_LEN, TraceParent};
use crate::tracestate;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// A sampled request's span, between request headers and the log phase.
struct ActiveSpan {
    context: SpanContext,
    trace_state: Option<String>,
    start_unix_nanos: u64,
    http: HttpObservation,
}

/// The HTTP context of one request.
pub struct HttpTracer {
    state: Option<SharedState>,
    span: Option<ActiveSpan>,
}

fn property(p: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(p.to_vec()).ok().flatten()
}

fn request_header(name: &str) -> Option<String> {
    hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

// === impl HttpTracer ===

impl HttpTracer {
    /// A context for one request; without configuration it passes traffic
    /// through untouched.
    pub fn new(state: Option<SharedState>) -> Self {
        Self { state, span: None }
    }

    fn start(vm: &mut VmState) -> Option<ActiveSpan> {
        let parent = property(&path::TRACEPARENT).and_then(|raw| {
            TraceParent::parse(&raw)
                .map_err(|e| {
                    debug!("meshtrace: invalid traceparent ({e}); restarting the trace");
                    vm.metrics.invalid_traceparent();
                })
                .ok()
        });
        let context = SpanContext::start(parent.as_ref(), &vm.sampler, &mut vm.ids);

        let mut buf = [0u8; TRACEPARENT_LEN];
        let value = context.traceparent().format(&mut buf);
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, TRACEPARENT, Some(value));

        // tracestate travels only with the valid traceparent it belongs to.
        let trace_state = match parent {
            Some(_) => forward_trace_state(),
            None => {
                let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, TRACESTATE);
                None
            }
        };

        if !context.is_sampled() {
            return None;
        }
        vm.metrics.span_started();
        Some(ActiveSpan {
            context,
            trace_state,
            start_unix_nanos: now_nanos(),
            http: match vm.exprs.map(|e| request_from_cel(e.request)) {
                Some(Some(http)) => http,
                Some(None) => {
                    vm.metrics.attribute_fallback();
                    request_one_by_one()
                }
                None => request_one_by_one(),
            },
        })
    }

    fn finish(vm: &mut VmState, span: ActiveSpan) {
        let mut http = span.http;
        let response = match vm.exprs.map(|e| response_from_cel(e.response)) {
            Some(Some(response)) => response,
            Some(None) => {
                vm.metrics.attribute_fallback();
                response_one_by_one()
            }
            None => response_one_by_one(),
        };
        http.status_code = response.status_code.filter(|code| *code > 0);
        http.response_flags = response.flags;
        http.upstream_cluster = response.cluster;
        let record = SpanRecord {
            trace_id: span.context.trace_id,
            span_id: span.context.span_id,
            parent_span_id: span.context.parent_span_id,
            flags: span.context.flags,
            trace_state: span.trace_state,
            kind: vm.kind,
            start_unix_nanos: span.start_unix_nanos,
            end_unix_nanos: now_nanos(),
            capture_query: vm.capture_query,
            http,
        };
        match vm.batcher.push(&record) {
            Pushed::Dropped => vm.metrics.dropped(1),
            Pushed::Queued { batch_full: true } => request_flush(vm),
            Pushed::Queued { batch_full: false } => {}
        }
    }
}

/// What the log phase reads.
struct ResponseObservation {
    status_code: Option<i64>,
    flags: u64,
    cluster: Option<String>,
}

fn evaluate(token: u32, what: &str) -> Option<Vec<u8>> {
    match hostcalls::call_foreign_function(cel::EVALUATE, Some(&token.to_le_bytes())) {
        Ok(bytes) => bytes,
        Err(status) => {
            debug!(
                "meshtrace: {what} attributes: {} failed ({status:?})",
                cel::EVALUATE
            );
            None
        }
    }
}

fn decode<'a, const N: usize>(bytes: &'a [u8], what: &str) -> Option<[Value<'a>; N]> {
    cel::decode_list::<N>(bytes)
        .map_err(|e| debug!("meshtrace: {what} attributes: {e}"))
        .ok()
}

/// The request attributes in one host call ([`cel::REQUEST_EXPR`]).
fn request_from_cel(token: u32) -> Option<HttpObservation> {
    let bytes = evaluate(token, "request")?;
    let v = decode::<{ cel::REQUEST_LEN }>(&bytes, "request")?;
    let s = |attr: RequestAttr| v[attr as usize].as_str().map(str::to_owned);
    Some(HttpObservation {
        method: s(RequestAttr::Method),
        path: s(RequestAttr::Path),
        scheme: s(RequestAttr::Scheme),
        authority: s(RequestAttr::Host),
        user_agent: s(RequestAttr::UserAgent),
        request_id: s(RequestAttr::RequestId),
        protocol: s(RequestAttr::Protocol),
        source_address: s(RequestAttr::SourceAddress),
        ..HttpObservation::default()
    })
}

/// The same attributes, a host call each (hosts without CEL).
fn request_one_by_one() -> HttpObservation {
    HttpObservation {
        method: request_header(":method"),
        path: request_header(":path"),
        scheme: request_header(":scheme"),
        authority: request_header(":authority"),
        user_agent: request_header("user-agent"),
        request_id: request_header("x-request-id"),
        protocol: property(&path::PROTOCOL).and_then(properties::string),
        source_address: property(&path::SOURCE_ADDRESS).and_then(properties::string),
        ..HttpObservation::default()
    }
}

/// The log-phase attributes in one host call ([`cel::RESPONSE_EXPR`]).
fn response_from_cel(token: u32) -> Option<ResponseObservation> {
    let bytes = evaluate(token, "response")?;
    let v = decode::<{ cel::RESPONSE_LEN }>(&bytes, "response")?;
    Some(ResponseObservation {
        status_code: v[ResponseAttr::Code as usize].as_i64(),
        flags: v[ResponseAttr::Flags as usize]
            .as_i64()
            .map_or(0, |f| f as u64),
        cluster: v[ResponseAttr::Cluster as usize]
            .as_str()
            .map(str::to_owned),
    })
}

/// The same attributes, a host call each (hosts without CEL).
fn response_one_by_one() -> ResponseObservation {
    ResponseObservation {
        status_code: property(&path::RESPONSE_CODE).and_then(|b| properties::int64(&b)),
        flags: property(&path::RESPONSE_FLAGS)
            .and_then(|b| properties::int64(&b))
            .map_or(0, |f| f as u64),
        cluster: property(&path::CLUSTER_NAME).and_then(properties::string),
    }
}

/// Validates the (merged) incoming `tracestate`: forwards a valid one as a
/// single header and returns it for the span; drops an invalid one entirely.
/// <https://www.w3.org/TR/trace-context-2/#tracestate-parsing>
fn forward_trace_state() -> Option<String> {
    let raw = property(&path::TRACESTATE)?;
    match tracestate::validate(&raw) {
        // An empty list (e.g. `,`) is valid but not worth sending.
        // <https://www.w3.org/TR/trace-context-2/#tracestate-header-field-values>
        Ok(valid) if valid.is_empty() => {
            let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, TRACESTATE);
            None
        }
        Ok(valid) => {
            let value = std::str::from_utf8(valid.as_bytes()).ok()?.to_owned();
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, TRACESTATE, Some(&value));
            Some(value)
        }
        Err(e) => {
            debug!("meshtrace: dropping invalid tracestate ({e})");
            let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, TRACESTATE);
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

    fn on_log(&mut self) {
        let (Some(state), Some(span)) = (&self.state, self.span.take()) else {
            return;
        };
        if let Ok(mut vm) = state.try_borrow_mut() {
            Self::finish(&mut vm, span);
        }
    }
}
