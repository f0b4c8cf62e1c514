//! The filter's counters, visible in Envoy's `/stats` as
//! `wasmcustom.meshtrace.*`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Counter names, as defined with the host.
pub mod name {
    /// Sampled spans started. Counted in the VM and added to the host's
    /// counter on every flush tick, so it lags by up to one
    /// `batch.flush_interval_ms` (a host call per request saved).
    pub const SPANS_STARTED: &str = "meshtrace.spans_started";
    /// Spans the collector accepted.
    pub const SPANS_EXPORTED: &str = "meshtrace.spans_exported";
    /// Spans lost: queue full, or inside a failed export call.
    pub const SPANS_DROPPED: &str = "meshtrace.spans_dropped";
    /// Export calls that failed (dispatch error, non-2xx, gRPC error, timeout).
    pub const EXPORT_FAILURES: &str = "meshtrace.export_failures";
    /// Requests whose incoming `traceparent` was invalid (trace restarted).
    pub const INVALID_TRACEPARENT: &str = "meshtrace.invalid_traceparent";
    /// Requests a caller asked to sample beyond
    /// `trust.max_sampled_per_second`, continued unsampled.
    pub const SAMPLING_CAPPED: &str = "meshtrace.sampling_capped";
    /// Requests whose context came from an untrusted caller (`trust`):
    /// restarted, the incoming context linked.
    pub const UNTRUSTED_CONTEXT: &str = "meshtrace.untrusted_context";
    /// Connection-attribute reads (`attributes.connection`) that fell back
    /// from the CEL expression to one host call per attribute (the
    /// evaluation failed).
    pub const ATTRIBUTE_FALLBACKS: &str = "meshtrace.attribute_fallbacks";
    /// Requests whose `traceparent` or `tracestate` rewrite the host
    /// refused (`proxy_replace_header_map_value` or
    /// `proxy_remove_header_map_value` failed): the next hop did not get
    /// this proxy's context, so its spans will not join the trace here.
    pub const HEADER_WRITE_FAILURES: &str = "meshtrace.header_write_failures";
}

/// Metric ids of this VM. A metric the host refused to define has id `None`
/// and is skipped: metrics never fail a request.
#[derive(Debug, Clone)]
pub struct Metrics {
    spans_started: Option<u32>,
    /// Started spans not yet added to `spans_started`.
    started_pending: usize,
    spans_exported: Option<u32>,
    spans_dropped: Option<u32>,
    export_failures: Option<u32>,
    invalid_traceparent: Option<u32>,
    sampling_capped: Option<u32>,
    untrusted_context: Option<u32>,
    attribute_fallbacks: Option<u32>,
    header_write_failures: Option<u32>,
}

// === impl Metrics ===

impl Metrics {
    /// Defines the counters with the host.
    pub fn define() -> Self {
        let counter = |n: &str| hostcalls::define_metric(MetricType::Counter, n).ok();
        Self {
            spans_started: counter(name::SPANS_STARTED),
            started_pending: 0,
            spans_exported: counter(name::SPANS_EXPORTED),
            spans_dropped: counter(name::SPANS_DROPPED),
            export_failures: counter(name::EXPORT_FAILURES),
            invalid_traceparent: counter(name::INVALID_TRACEPARENT),
            sampling_capped: counter(name::SAMPLING_CAPPED),
            untrusted_context: counter(name::UNTRUSTED_CONTEXT),
            attribute_fallbacks: counter(name::ATTRIBUTE_FALLBACKS),
            header_write_failures: counter(name::HEADER_WRITE_FAILURES),
        }
    }

    fn add(id: Option<u32>, n: usize) {
        if let (Some(id), Ok(n @ 1..)) = (id, i64::try_from(n)) {
            // Errors (unknown id) are ignored: counting never fails traffic.
            let _ = hostcalls::increment_metric(id, n);
        }
    }

    /// A sampled span started; counted with the host at the next
    /// [`flush_started`](Self::flush_started).
    pub fn span_started(&mut self) {
        self.started_pending += 1;
    }

    /// Adds the spans started since the last call to the host's counter.
    pub fn flush_started(&mut self) {
        Self::add(
            self.spans_started,
            std::mem::take(&mut self.started_pending),
        );
    }

    /// `n` spans were accepted by the collector.
    pub fn exported(&self, n: usize) {
        Self::add(self.spans_exported, n);
    }

    /// `n` spans were lost.
    pub fn dropped(&self, n: usize) {
        Self::add(self.spans_dropped, n);
    }

    /// One export call failed.
    pub fn export_failed(&self) {
        Self::add(self.export_failures, 1);
    }

    /// An incoming `traceparent` was invalid.
    pub fn untrusted_context(&self) {
        Self::add(self.untrusted_context, 1);
    }

    /// One request was sampled beyond the cap and continued unsampled.
    pub fn sampling_capped(&self) {
        Self::add(self.sampling_capped, 1);
    }

    /// One incoming `traceparent` was invalid or repeated.
    pub fn invalid_traceparent(&self) {
        Self::add(self.invalid_traceparent, 1);
    }

    /// A CEL attribute evaluation failed; the attributes were read one by one.
    pub fn attribute_fallback(&self) {
        Self::add(self.attribute_fallbacks, 1);
    }

    /// The host refused a request's trace-context header rewrite.
    pub fn header_write_failed(&self) {
        Self::add(self.header_write_failures, 1);
    }
}
