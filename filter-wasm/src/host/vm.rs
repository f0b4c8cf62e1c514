//! The state one VM shares between its root context and its HTTP
//! contexts, and the host calls both make on it (the clock, a flush
//! request). Both contexts import this module; it imports neither.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;

use crate::export::batch::Batcher;
use crate::export::otlp::RequestEncoder;
use crate::export::target::{ExportTarget, FailureLog};

use crate::config::PropagatorsConfig;
use crate::ids::IdGenerator;
use crate::rate_limit::SampledLimiter;
use crate::route::RouteTemplate;
use crate::sampler::Sampler;
use crate::span::SpanKind;
use crate::traceresponse::TraceResponseMode;
use crate::trust::TrustPolicy;

use super::abi;
use super::metrics::Metrics;

/// Tick period used to flush a full batch right away.
const FLUSH_NOW: Duration = Duration::from_millis(1);

/// Everything one VM shares between its root and stream contexts.
pub struct VmState {
    /// SERVER (inbound) or CLIENT (outbound).
    pub kind: SpanKind,
    /// Also report the upstream request as a CLIENT child span.
    pub spawn_upstream_span: bool,
    /// Record `url.query`.
    pub capture_query: bool,
    /// What responses get as `traceresponse`.
    pub traceresponse: TraceResponseMode,
    /// The context formats read and written.
    pub propagators: PropagatorsConfig,
    /// The cap on sampling that callers force (`trust.max_sampled_per_second`).
    pub sampled_limiter: Option<SampledLimiter>,
    /// Whose incoming context is continued (`trust`).
    pub trust: TrustPolicy,
    /// Route templates for span names (`routes`).
    pub routes: Vec<RouteTemplate>,
    /// Per-route overrides by Envoy route name (`route_overrides`), each
    /// with its sampler.
    pub route_overrides: Vec<(String, RouteSettings)>,
    /// Root sampling.
    pub sampler: Sampler,
    /// Span and trace ids.
    pub ids: IdGenerator,
    /// Finished spans waiting for export.
    pub batcher: Batcher,
    /// Counters.
    pub metrics: Metrics,
    /// A flush tick has been requested.
    pub flush_requested: bool,
    /// How the connection attributes (`attributes.connection`) are read.
    pub connection: ConnectionAttributes,
    pub(crate) encoder: RequestEncoder,
    pub(crate) target: ExportTarget,
    pub(crate) flush_interval: Duration,
    pub(crate) failures: FailureLog,
}

/// What one route's override makes of its requests.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct RouteSettings {
    /// `false`: the filter leaves the route's requests untouched.
    pub tracing: bool,
    /// The route's sampler for new traces, if it has its own ratio.
    pub sampler: Option<Sampler>,
}

/// Whether and how a sampled span reads the opt-in connection attributes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConnectionAttributes {
    /// Not recorded (the default).
    Off,
    /// One evaluation of [`crate::cel::CONNECTION_EXPR`], compiled into this
    /// token.
    Cel(u32),
    /// A `get_property` each (hosts without CEL).
    OneByOne,
}

/// The shared VM state handle.
pub type SharedState = Rc<RefCell<VmState>>;

/// Current host time in Unix nanoseconds (0 if the host clock fails).
pub fn now_nanos() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Asks the root for an immediate flush tick (called from a stream when a
/// batch is full). The tick timer belongs to the root context whichever
/// context sets it.
pub fn request_flush(vm: &mut VmState) {
    // With every call slot taken, the batch goes out when a call finishes.
    if vm.flush_requested || !vm.batcher.can_send() {
        return;
    }
    if abi::set_tick_period(FLUSH_NOW).is_ok() {
        vm.flush_requested = true;
    }
}
