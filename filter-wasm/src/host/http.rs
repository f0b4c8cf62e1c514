//! The proxy-wasm HTTP context: one span per request (two with
//! `spawn_upstream_span`).
//!
//! Request headers: one host call returns the whole request header map
//! ([`crate::headers`]); from it the filter takes every `traceparent` and
//! `tracestate` value, decides the span context and rewrites `traceparent`
//! upstream, and, for a sampled request only, the span's attributes.
//! Response headers: `:status`, and the experimental `traceresponse` set
//! or stripped ([`crate::traceresponse`]; one host call, none when off).
//! Log phase (stream end): finish the span and queue it. Envoy attributes that are not headers cost a `get_property`
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

use crate::b3;
use crate::cel::{self, ConnectionAttr};
use crate::decision::{self, RequestSpan, Start, TraceStateAction};
use crate::export::batch::Pushed;
use crate::headers::{self, RequestHeaders};
use crate::properties::{self, path};
use crate::route;
use crate::span::{HttpObservation, SpanRecord};
use crate::traceparent::TRACEPARENT_LEN;
use crate::traceresponse::{ResponseAction, TRACERESPONSE};
use crate::trust::{self, TrustPolicy};

use super::abi;
use super::vm::{
    ConnectionAttributes, RouteSettings, SharedState, VmState, now_nanos, request_flush,
};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The HTTP context of one request.
pub struct HttpTracer {
    state: Option<SharedState>,
    span: Option<RequestSpan>,
    /// What the response's `traceresponse` gets (decided with the span
    /// context at request headers).
    response: ResponseAction,
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

/// Writes (`Some`) or removes (`None`) request header `name`; a refusal
/// is counted (`meshtrace.header_write_failures`), and the request goes on.
fn write_header(vm: &VmState, name: &str, value: Option<&str>) {
    write_map(vm, MapType::HttpRequestHeaders, name, value);
}

/// [`write_header`] on any header map.
fn write_map(vm: &VmState, map: MapType, name: &str, value: Option<&str>) {
    let result = match value {
        Some(value) => abi::replace_header(map, name, value),
        None => abi::remove_header(map, name),
    };
    if let Err(status) = result {
        debug!("meshtrace: the host refused to rewrite {name} ({status:?})");
        vm.metrics.header_write_failed();
    }
}

// === impl HttpTracer ===

impl HttpTracer {
    /// A context for one request; without configuration it passes traffic
    /// through untouched.
    pub fn new(state: Option<SharedState>) -> Self {
        Self {
            state,
            span: None,
            response: ResponseAction::Leave,
        }
    }

    /// The request's span when it is sampled, and what its response's
    /// `traceresponse` gets. A route whose override turns tracing off is
    /// left untouched.
    fn start(vm: &mut VmState) -> (Option<RequestSpan>, ResponseAction) {
        let route = route_settings(vm);
        if route.is_some_and(|r| !r.tracing) {
            return (None, ResponseAction::Leave);
        }
        let sampler = route.and_then(|r| r.sampler).unwrap_or(vm.sampler);
        let raw = abi::header_pairs(MapType::HttpRequestHeaders).unwrap_or_default();
        let headers = RequestHeaders::scan(&raw).unwrap_or_else(|e| {
            debug!("meshtrace: unreadable request header map ({e}); no incoming context");
            RequestHeaders::default()
        });
        let trusted = trusted(&vm.trust, &raw);
        // The clock only when the cap needs it (a host call).
        let now = if vm.sampled_limiter.is_some() {
            now_nanos()
        } else {
            0
        };
        let Start {
            context,
            upstream_span_id,
            traceparent,
            tracestate,
            rejected_parent,
            rejected_b3,
            sampling_capped,
            link,
        } = decision::start(
            &headers,
            &raw,
            &sampler,
            &mut vm.ids,
            vm.spawn_upstream_span,
            &vm.propagators,
            decision::Trust {
                trusted,
                limiter: vm.sampled_limiter.as_mut(),
                now_nanos: now,
            },
        );
        if sampling_capped {
            vm.metrics.sampling_capped();
        }
        if link.is_some() {
            debug!("meshtrace: untrusted caller; a new trace links its context");
            vm.metrics.untrusted_context();
        }
        if let Some(why) = rejected_parent {
            debug!("meshtrace: {why}; restarting the trace");
            vm.metrics.invalid_traceparent();
        }
        if let Some(why) = rejected_b3 {
            debug!("meshtrace: {why}; ignoring the B3 headers");
        }
        if vm.propagators.tracecontext {
            let mut buf = [0u8; TRACEPARENT_LEN];
            write_header(vm, TRACEPARENT, Some(traceparent.format(&mut buf)));
        }
        if vm.propagators.b3 {
            let mut buf = [0u8; b3::B3_SINGLE_LEN];
            write_header(vm, b3::B3, Some(b3::format_single(&traceparent, &mut buf)));
        }
        if vm.propagators.b3multi {
            let mut trace = [0u8; 32];
            let mut span = [0u8; 16];
            write_header(
                vm,
                b3::X_B3_TRACE_ID,
                Some(traceparent.trace_id.to_hex(&mut trace)),
            );
            write_header(
                vm,
                b3::X_B3_SPAN_ID,
                Some(traceparent.parent_id.to_hex(&mut span)),
            );
            write_header(vm, b3::X_B3_SAMPLED, Some(b3::sampled_value(&traceparent)));
        }
        let trace_state = match tracestate {
            TraceStateAction::Absent => None,
            TraceStateAction::Forward(value) => {
                write_header(vm, TRACESTATE, Some(&value));
                Some(value)
            }
            TraceStateAction::Remove(why) => {
                debug!("meshtrace: dropping tracestate ({why})");
                write_header(vm, TRACESTATE, None);
                None
            }
        };

        let response = vm.traceresponse.action(&context, trusted);
        if !context.is_sampled() {
            return (None, response);
        }
        vm.metrics.span_started();
        let span = RequestSpan {
            context,
            upstream_span_id,
            trace_state: trace_state.map(|value| value.into_owned()),
            link,
            start_unix_nanos: now_nanos(),
            http: HttpObservation {
                method: text(headers.method),
                path: text(headers.path),
                scheme: text(headers.scheme),
                authority: text(headers.authority),
                user_agent: text(headers.user_agent),
                request_id: text(headers.request_id),
                route: headers
                    .path
                    .filter(|_| !vm.routes.is_empty())
                    .and_then(|p| std::str::from_utf8(p).ok())
                    .and_then(|p| route::route_of(&vm.routes, p))
                    .map(str::to_owned),
                ..HttpObservation::default()
            },
        };
        (Some(span), response)
    }

    /// Sets or removes the response's `traceresponse`.
    fn respond(&self, action: ResponseAction) {
        let value = match action {
            ResponseAction::Leave => return,
            ResponseAction::Set(value) => Some(value),
            ResponseAction::Strip => None,
        };
        let Some(Ok(vm)) = self.state.as_ref().map(|s| s.try_borrow()) else {
            return;
        };
        let mut buf = [0u8; TRACEPARENT_LEN];
        let value = value.map(|v| v.format(&mut buf));
        write_map(&vm, MapType::HttpResponseHeaders, TRACERESPONSE, value);
    }

    fn finish(vm: &mut VmState, mut span: RequestSpan) {
        let end_unix_nanos = now_nanos();
        if span.http.status_code.is_none() {
            // No response: the flags say why (error.type).
            span.http.response_flags = property(&path::RESPONSE_FLAGS)
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
        span.http.upstream_cluster = match connection {
            Some(connection) => {
                span.http.protocol = connection.protocol;
                span.http.source_address = connection.source_address;
                connection.cluster
            }
            None if span.needs_cluster(vm.kind) => {
                property(&path::CLUSTER_NAME).and_then(properties::string)
            }
            None => None,
        };
        let (mut record, client_child) =
            span.into_record(vm.kind, end_unix_nanos, vm.capture_query);
        queue(vm, &record);
        if let Some(client_id) = client_child {
            vm.metrics.span_started();
            decision::into_upstream_child(&mut record, client_id);
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

/// The override of the request's Envoy route, if `route_overrides` names
/// it (the route name is read only when there are overrides).
fn route_settings(vm: &VmState) -> Option<RouteSettings> {
    if vm.route_overrides.is_empty() {
        return None;
    }
    let name = property(&path::ROUTE_NAME).and_then(properties::string)?;
    vm.route_overrides
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, settings)| *settings)
}

/// Whether the caller's context may be continued ([`TrustPolicy`]): the
/// downstream address is read (a host call) only for `peers` ranges when
/// the trusted header did not settle it.
fn trusted(policy: &TrustPolicy, raw: &[u8]) -> bool {
    // `always` has no header and needs no address: no scan, no host call.
    let header_present = policy
        .header
        .as_deref()
        .is_some_and(|name| headers::has_header(raw, name));
    let source = if policy.needs_source_address(header_present) {
        property(&path::SOURCE_ADDRESS).and_then(|b| trust::peer_ip(&b))
    } else {
        None
    };
    policy.trusts(header_present, source)
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

impl Context for HttpTracer {}

impl HttpContext for HttpTracer {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(state) = &self.state
            && let Ok(mut vm) = state.try_borrow_mut()
        {
            (self.span, self.response) = Self::start(&mut vm);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let action = std::mem::replace(&mut self.response, ResponseAction::Leave);
        self.respond(action);
        if let Some(span) = &mut self.span {
            span.http.status_code = abi::header_value(MapType::HttpResponseHeaders, ":status")
                .and_then(|b| decision::response_status(&b));
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
