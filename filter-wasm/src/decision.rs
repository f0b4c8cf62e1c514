//! What the filter decides for one request, apart from the host calls that
//! carry it out, so native unit tests cover every choice.
//!
//! At request headers ([`start`]): which parent to continue (exactly one
//! valid `traceparent`, else a new trace), the `traceparent` to send
//! upstream (this proxy's span, or its CLIENT child with
//! `spawn_upstream_span`), and whether the incoming `tracestate` is
//! forwarded or removed. At the log phase ([`RequestSpan::into_record`]):
//! the finished span, and whether the CLIENT child is reported.
//!
//! W3C Trace Context: a request continues its trace only with one valid
//! `traceparent`; otherwise the trace restarts and neither the bad
//! `traceparent` nor the `tracestate` travels on. Repeated `tracestate`
//! headers are one combined list.
//! <https://www.w3.org/TR/trace-context-2/#a-traceparent-is-received>
//! <https://www.w3.org/TR/trace-context-2/#no-traceparent-received>
//! <https://www.w3.org/TR/trace-context-2/#combined-header-value>

use std::borrow::Cow;
use std::fmt;

use crate::b3::{self, B3Context, B3Error};
use crate::config::PropagatorsConfig;
use crate::headers::RequestHeaders;
use crate::ids::IdGenerator;
use crate::rate_limit::SampledLimiter;
use crate::sampler::Sampler;
use crate::span::{HttpObservation, SpanKind, SpanRecord};
use crate::span_context::SpanContext;
use crate::traceparent::{SpanId, TraceFlags, TraceParent, TraceParentError};
use crate::tracestate::{self, TraceStateError};

/// The decisions made at request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start<'a> {
    /// This proxy's span.
    pub context: SpanContext,
    /// The CLIENT child's id, when the proxy also reports the upstream
    /// request (`spawn_upstream_span`, sampled requests only).
    pub upstream_span_id: Option<SpanId>,
    /// The `traceparent` to send upstream: the proxy's last span (the
    /// CLIENT child when there is one) as the parent.
    pub traceparent: TraceParent,
    /// What happens to the incoming `tracestate`.
    pub tracestate: TraceStateAction<'a>,
    /// Why the incoming `traceparent` was not continued, when there was
    /// one (counted in `meshtrace.invalid_traceparent`).
    pub rejected_parent: Option<ParentRejected>,
    /// Why the incoming B3 headers were not used, when B3 is read and
    /// they were malformed.
    pub rejected_b3: Option<B3Error>,
    /// The caller asked for sampling beyond `trust.max_sampled_per_second`:
    /// the trace continues unsampled (counted in
    /// `meshtrace.sampling_capped`).
    pub sampling_capped: bool,
    /// The incoming context an untrusted caller sent, not continued: the
    /// span links to it (`trust.incoming`).
    pub link: Option<TraceParent>,
}

/// Limits on what incoming context may do, with the clock they run on.
#[derive(Debug)]
pub struct Trust<'a> {
    /// Whether the caller's context may be continued (`trust.incoming`).
    pub trusted: bool,
    /// The cap on sampling that callers force, if configured.
    pub limiter: Option<&'a mut SampledLimiter>,
    /// Now, Unix nanoseconds.
    pub now_nanos: u64,
}

/// Why an incoming `traceparent` did not become the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentRejected {
    /// The value does not parse.
    Invalid(TraceParentError),
    /// The request carried this many `traceparent` headers.
    /// <https://www.w3.org/TR/trace-context-2/#traceparent-header>
    Repeated(usize),
}

/// What the filter does with the incoming `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceStateAction<'a> {
    /// The request had none: nothing to do.
    Absent,
    /// Send this validated list upstream as the single `tracestate` header
    /// (and record it on the span).
    Forward(Cow<'a, str>),
    /// Remove the header.
    Remove(TraceStateDropped),
}

/// Why an incoming `tracestate` is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStateDropped {
    /// It came without a valid `traceparent`, and travels only with one.
    /// <https://www.w3.org/TR/trace-context-2/#no-traceparent-received>
    WithoutParent,
    /// It holds no list-member (for example `,`): valid, but not worth
    /// sending. <https://www.w3.org/TR/trace-context-2/#tracestate-header-field-values>
    Empty,
    /// It does not validate.
    /// <https://www.w3.org/TR/trace-context-2/#tracestate-parsing>
    Invalid(TraceStateError),
    /// It came from an untrusted caller whose trace is restarted: "Vendors
    /// SHOULD clean up tracestate collection on traceparent restart."
    /// <https://www.w3.org/TR/trace-context-2/#mutating-the-traceparent-field>
    Untrusted,
}

/// A sampled request's span, between its request headers and the log
/// phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpan {
    /// This proxy's span.
    pub context: SpanContext,
    /// The CLIENT child's id (`spawn_upstream_span`).
    pub upstream_span_id: Option<SpanId>,
    /// The forwarded `tracestate`.
    pub trace_state: Option<String>,
    /// The untrusted caller's context, linked ([`Start::link`]).
    pub link: Option<TraceParent>,
    /// Start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// What the proxy saw so far.
    pub http: HttpObservation,
}

/// Makes the request-header decisions for one request.
///
/// `raw` is the serialized header map `headers` was scanned from (repeated
/// `tracestate` headers are read again from it). Ids are drawn in a fixed
/// order: this span's, then the CLIENT child's.
///
/// The parent: a valid `traceparent` when `tracecontext` is read; else,
/// when B3 is read, the `b3` header, else the `X-B3-*` headers (a
/// malformed single header falls back to the multi ones, as
/// OpenTelemetry's B3 propagator does). A B3 sampling decision without
/// ids starts a new trace with that decision; a deferred one leaves it to
/// the sampler.
pub fn start<'a>(
    headers: &RequestHeaders<'a>,
    raw: &'a [u8],
    sampler: &Sampler,
    ids: &mut IdGenerator,
    spawn_upstream_span: bool,
    propagators: &PropagatorsConfig,
    trust: Trust<'_>,
) -> Start<'a> {
    let (w3c_parent, rejected_parent) = if propagators.tracecontext {
        match headers.single_traceparent() {
            Ok(None) => (None, None),
            Ok(Some(value)) => match TraceParent::parse(value) {
                Ok(parent) => (Some(parent), None),
                Err(e) => (None, Some(ParentRejected::Invalid(e))),
            },
            Err(count) => (None, Some(ParentRejected::Repeated(count))),
        }
    } else {
        (None, None)
    };
    let (b3, rejected_b3) = match w3c_parent {
        None if propagators.reads_b3() => match b3_context(headers) {
            Ok(b3) => (b3, None),
            Err(e) => (None, Some(e)),
        },
        _ => (None, None),
    };
    // An untrusted caller's context is not continued, only linked; nor can
    // it decide sampling.
    let (w3c_parent, b3, link) = if trust.trusted {
        (w3c_parent, b3, None)
    } else {
        let link = w3c_parent.or(match b3 {
            Some(B3Context::Span {
                trace_id,
                span_id,
                sampled,
            }) => Some(TraceParent {
                trace_id,
                parent_id: span_id,
                flags: TraceFlags::default().with_sampled(sampled.unwrap_or(false)),
            }),
            _ => None,
        });
        (None, None, link)
    };
    // Sampling the caller decided: a continued parent's flag, or a B3
    // decision without ids (a ratio-sampled new root is the proxy's own).
    let forced = w3c_parent.is_some() || b3.is_some();
    let mut context = match b3 {
        Some(B3Context::Span {
            trace_id,
            span_id,
            sampled,
        }) => {
            let sampled = sampled.unwrap_or_else(|| sampler.sample_root(&trace_id));
            let parent = TraceParent {
                trace_id,
                parent_id: span_id,
                flags: TraceFlags::default().with_sampled(sampled),
            };
            SpanContext::start(Some(&parent), sampler, ids)
        }
        Some(B3Context::SamplingOnly(sampled)) => SpanContext::root(sampled, ids),
        None => SpanContext::start(w3c_parent.as_ref(), sampler, ids),
    };
    let sampling_capped = forced
        && context.is_sampled()
        && trust
            .limiter
            .is_some_and(|limiter| !limiter.try_take(trust.now_nanos));
    if sampling_capped {
        context.flags = context.flags.with_sampled(false);
    }
    let upstream_span_id = (spawn_upstream_span && context.is_sampled()).then(|| ids.span_id());
    let mut traceparent = context.traceparent();
    if let Some(id) = upstream_span_id {
        traceparent.parent_id = id;
    }
    let tracestate = match headers.combined_tracestate(raw) {
        // Without `tracecontext` the W3C headers are not the filter's.
        _ if !propagators.tracecontext => TraceStateAction::Absent,
        None => TraceStateAction::Absent,
        Some(_) if !trust.trusted => TraceStateAction::Remove(TraceStateDropped::Untrusted),
        Some(_) if w3c_parent.is_none() => {
            TraceStateAction::Remove(TraceStateDropped::WithoutParent)
        }
        Some(Cow::Borrowed(value)) => trace_state_action(value, Cow::Borrowed),
        Some(Cow::Owned(value)) => trace_state_action(&value, |s| Cow::Owned(s.to_owned())),
    };
    Start {
        context,
        upstream_span_id,
        traceparent,
        tracestate,
        rejected_parent,
        rejected_b3,
        sampling_capped,
        link,
    }
}

/// The B3 context of a request: the single header first, then the multi
/// headers; `Ok(None)` when neither is there.
fn b3_context(headers: &RequestHeaders<'_>) -> Result<Option<B3Context>, B3Error> {
    let single = headers.b3.map(b3::parse_single);
    match single {
        Some(Ok(context)) => Ok(Some(context)),
        Some(Err(e)) => {
            b3::parse_multi(&headers.b3_multi).and_then(|multi| multi.ok_or(e).map(Some))
        }
        None => b3::parse_multi(&headers.b3_multi),
    }
}

/// Validates `value` and forwards it (without the later list-members of a
/// repeated key), or says why it is dropped.
fn trace_state_action<'v, 'a>(
    value: &'v [u8],
    keep: impl FnOnce(&'v str) -> Cow<'a, str>,
) -> TraceStateAction<'a> {
    match tracestate::validate(value) {
        Ok(valid) if valid.is_empty() => TraceStateAction::Remove(TraceStateDropped::Empty),
        Ok(valid) => TraceStateAction::Forward(match valid.header() {
            Cow::Borrowed(value) => keep(value),
            // A repeated key's later list-members left out.
            Cow::Owned(value) => Cow::Owned(value),
        }),
        Err(e) => TraceStateAction::Remove(TraceStateDropped::Invalid(e)),
    }
}

/// The response status a span records: a positive `:status`.
pub fn response_status(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value)
        .ok()?
        .parse()
        .ok()
        .filter(|code| *code > 0)
}

// === impl RequestSpan ===

impl RequestSpan {
    /// Whether finishing needs the upstream cluster's name: CLIENT spans
    /// record it, and with `spawn_upstream_span` it tells whether the
    /// request went upstream at all (a direct response has no cluster).
    pub fn needs_cluster(&self, kind: SpanKind) -> bool {
        kind == SpanKind::Client || self.upstream_span_id.is_some()
    }

    /// The finished span of `kind`, and the CLIENT child's id when the
    /// proxy reports the upstream request and the request went upstream
    /// (it has an upstream cluster).
    pub fn into_record(
        self,
        kind: SpanKind,
        end_unix_nanos: u64,
        capture_query: bool,
    ) -> (SpanRecord, Option<SpanId>) {
        let child = self
            .upstream_span_id
            .filter(|_| self.http.upstream_cluster.is_some());
        let record = SpanRecord {
            trace_id: self.context.trace_id,
            span_id: self.context.span_id,
            parent_span_id: self.context.parent_span_id,
            flags: self.context.flags,
            trace_state: self.trace_state,
            link: self.link,
            kind,
            start_unix_nanos: self.start_unix_nanos,
            end_unix_nanos,
            capture_query,
            http: self.http,
        };
        (record, child)
    }
}

/// Turns the proxy's span `record` into its CLIENT child `span_id`: the
/// proxy observes the upstream request within the same stream, so the child
/// covers the same interval and carries the same observation.
pub fn into_upstream_child(record: &mut SpanRecord, span_id: SpanId) {
    record.kind = SpanKind::Client;
    // The SERVER span carries the link; its child is inside the new trace.
    record.link = None;
    record.parent_span_id = Some(record.span_id);
    record.span_id = span_id;
}

impl fmt::Display for ParentRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "invalid traceparent ({e})"),
            Self::Repeated(n) => write!(f, "{n} traceparent headers"),
        }
    }
}

impl fmt::Display for TraceStateDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WithoutParent => f.write_str("no valid traceparent"),
            Self::Empty => f.write_str("no list-member"),
            Self::Invalid(e) => write!(f, "invalid: {e}"),
            Self::Untrusted => f.write_str("untrusted caller, trace restarted"),
        }
    }
}

#[cfg(test)]
mod tests;
