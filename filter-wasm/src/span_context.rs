//! The context of the span the proxy makes for one request: the incoming
//! parent's trace continued with a new span id, or a new root.
//!
//! Which incoming `traceparent` counts as the parent is decided in
//! `decision`.
//! <https://www.w3.org/TR/trace-context-2/#a-traceparent-is-received>
//! <https://www.w3.org/TR/trace-context-2/#no-traceparent-received>

use crate::ids::IdGenerator;
use crate::sampler::Sampler;
use crate::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};

/// The context of the span the proxy makes for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace id: inherited, or new for a restarted trace.
    pub trace_id: TraceId,
    /// This span's id, new for every request.
    pub span_id: SpanId,
    /// The incoming parent's span id, when the trace is continued.
    pub parent_span_id: Option<SpanId>,
    /// Flags to propagate: the parent's `sampled` and `random` (only the
    /// flags version `00` defines; others are zeroed), or for a new trace
    /// `random` plus the sampler's decision.
    pub flags: TraceFlags,
}

// === impl SpanContext ===

impl SpanContext {
    /// Starts the proxy's span under `parent` (a validated incoming
    /// `traceparent`), or as a new root when there is none.
    pub fn start(parent: Option<&TraceParent>, sampler: &Sampler, ids: &mut IdGenerator) -> Self {
        match parent {
            Some(parent) => Self {
                trace_id: parent.trace_id,
                span_id: ids.span_id(),
                parent_span_id: Some(parent.parent_id),
                flags: parent.flags.known(),
            },
            None => {
                let trace_id = ids.trace_id();
                // New roots get an all-random trace id, so the random flag is
                // set. <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>
                let flags = TraceFlags::RANDOM.with_sampled(sampler.sample_root(&trace_id));
                Self {
                    trace_id,
                    span_id: ids.span_id(),
                    parent_span_id: None,
                    flags,
                }
            }
        }
    }

    /// A new root whose sampling was decided upstream (a B3 sampling
    /// state without ids): a new random trace id with the `random` flag.
    /// <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>
    pub fn root(sampled: bool, ids: &mut IdGenerator) -> Self {
        let trace_id = ids.trace_id();
        Self {
            trace_id,
            span_id: ids.span_id(),
            parent_span_id: None,
            flags: TraceFlags::RANDOM.with_sampled(sampled),
        }
    }

    /// Whether the span is recorded and exported.
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// The `traceparent` sent upstream: this span as the parent.
    pub fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span_id,
            flags: self.flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> TraceParent {
        TraceParent::parse(s.as_bytes()).expect("valid traceparent")
    }

    #[test]
    fn continues_a_valid_parent_with_a_new_span_id() {
        let mut ids = IdGenerator::from_seed(3);
        let parent = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let a = SpanContext::start(Some(&parent), &Sampler::ratio(0.0), &mut ids);
        let b = SpanContext::start(Some(&parent), &Sampler::ratio(0.0), &mut ids);
        assert_eq!(a.trace_id, parent.trace_id);
        assert_eq!(a.parent_span_id, Some(parent.parent_id));
        assert!(a.is_sampled(), "parent-based: the ratio does not apply");
        assert_ne!(a.span_id, b.span_id, "every request gets its own span");
        assert_ne!(a.span_id, parent.parent_id);
    }

    #[test]
    fn keeps_inherited_random_flag_and_zeroes_unknown_flags() {
        let mut ids = IdGenerator::from_seed(3);
        let parent = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
        let ctx = SpanContext::start(Some(&parent), &Sampler::ratio(1.0), &mut ids);
        assert_eq!(ctx.flags.to_u8(), 0x03);
        let parent = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        let ctx = SpanContext::start(Some(&parent), &Sampler::ratio(1.0), &mut ids);
        assert_eq!(
            ctx.flags.to_u8(),
            0x00,
            "unsampled parent stays unsampled, no random flag invented"
        );
    }

    #[test]
    fn new_roots_set_random_and_follow_the_ratio() {
        let mut ids = IdGenerator::from_seed(3);
        let on = SpanContext::start(None, &Sampler::ratio(1.0), &mut ids);
        assert_eq!(on.flags.to_u8(), 0x03);
        assert!(on.parent_span_id.is_none());
        let off = SpanContext::start(None, &Sampler::ratio(0.0), &mut ids);
        assert_eq!(off.flags.to_u8(), 0x02);
        assert_ne!(on.trace_id, off.trace_id);
    }

    #[test]
    fn upstream_traceparent_names_this_span() {
        let mut ids = IdGenerator::from_seed(3);
        let parent = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let ctx = SpanContext::start(Some(&parent), &Sampler::ratio(1.0), &mut ids);
        let up = ctx.traceparent();
        assert_eq!(up.trace_id, parent.trace_id);
        assert_eq!(up.parent_id, ctx.span_id);
    }
}
