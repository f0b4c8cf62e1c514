//! The `traceresponse` response header, experimental: the W3C Trace Context
//! Level 3 editor's draft (it was taken out of Level 2), so off by default.
//! <https://w3c.github.io/trace-context/#traceresponse-header>
//!
//! An inbound proxy answers with its SERVER span, so that the caller learns
//! the trace its request joined (a new one when the proxy restarted it):
//!
//! ```text
//! traceresponse: 00-<trace-id>-<child-id>-<trace-flags>
//! ```
//!
//! The layout is `traceparent`'s, with the callee's span as `child-id`. A
//! gateway can also strip the `traceresponse` an upstream sent, so that
//! trace ids from inside the mesh do not leave it.

use crate::span_context::SpanContext;
use crate::traceparent::TraceParent;

/// The response header's name.
pub const TRACERESPONSE: &str = "traceresponse";

/// `traceresponse` in the plugin configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceResponseMode {
    /// Responses are left as they are (an upstream's `traceresponse`
    /// passes). The default.
    #[default]
    Off,
    /// Every response carries this proxy's span (an upstream's value is
    /// replaced). Inbound only.
    On,
    /// An upstream's `traceresponse` is removed, and none is added: for a
    /// gateway at the edge of the mesh.
    Strip,
    /// `On` for callers the trust policy trusts (`trust.incoming`), `Strip`
    /// for the others. Inbound only.
    Trusted,
}

/// What the filter does to one response's `traceresponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseAction {
    /// Nothing: no host call.
    Leave,
    /// Set it to this value (formatted as a `traceparent`).
    Set(TraceParent),
    /// Remove it.
    Strip,
}

// === impl TraceResponseMode ===

impl TraceResponseMode {
    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
            Self::Strip => "strip",
            Self::Trusted => "trusted",
        }
    }

    /// The mode spelled `name` in the configuration.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Off, Self::On, Self::Strip, Self::Trusted]
            .into_iter()
            .find(|mode| mode.name() == name)
    }

    /// The action for a response to a request served under `context`
    /// for a caller the trust policy does (`trusted`) or does not trust:
    /// the proxy's span with its flags (sampled or not: an unsampled
    /// caller learns the trace id too).
    pub fn action(self, context: &SpanContext, trusted: bool) -> ResponseAction {
        let set = || {
            ResponseAction::Set(TraceParent {
                trace_id: context.trace_id,
                parent_id: context.span_id,
                flags: context.flags,
            })
        };
        match self {
            Self::Off => ResponseAction::Leave,
            Self::On => set(),
            Self::Trusted if trusted => set(),
            Self::Strip | Self::Trusted => ResponseAction::Strip,
        }
    }

    /// Whether the mode answers callers (`on`, `trusted`): inbound only.
    pub fn answers(self) -> bool {
        matches!(self, Self::On | Self::Trusted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;
    use crate::sampler::Sampler;
    use crate::traceparent::TRACEPARENT_LEN;

    fn context(parent: &str, ratio: f64) -> SpanContext {
        let parent = TraceParent::parse(parent.as_bytes()).ok();
        SpanContext::start(
            parent.as_ref(),
            &Sampler::ratio(ratio),
            &mut IdGenerator::from_seed(7),
        )
    }

    #[test]
    fn on_answers_with_the_proxy_span() {
        let cx = context(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            1.0,
        );
        let ResponseAction::Set(value) = TraceResponseMode::On.action(&cx, true) else {
            panic!("on sets the header");
        };
        let mut buf = [0u8; TRACEPARENT_LEN];
        let header = value.format(&mut buf);
        assert_eq!(
            header,
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", cx.span_id),
            "the caller's trace, this proxy's span as child-id"
        );
        assert_ne!(cx.span_id.to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn an_unsampled_or_restarted_trace_is_answered_too() {
        let unsampled = context(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            1.0,
        );
        let ResponseAction::Set(value) = TraceResponseMode::On.action(&unsampled, true) else {
            panic!("on sets the header");
        };
        assert!(!value.flags.is_sampled());
        let root = context("garbage", 0.0);
        let ResponseAction::Set(value) = TraceResponseMode::On.action(&root, false) else {
            panic!("on sets the header");
        };
        assert_eq!(value.trace_id, root.trace_id, "the new trace's id");
    }

    #[test]
    fn off_leaves_and_strip_removes() {
        let cx = context("garbage", 1.0);
        assert_eq!(
            TraceResponseMode::Off.action(&cx, true),
            ResponseAction::Leave
        );
        assert_eq!(
            TraceResponseMode::Strip.action(&cx, true),
            ResponseAction::Strip
        );
        assert!(matches!(
            TraceResponseMode::Trusted.action(&cx, true),
            ResponseAction::Set(_)
        ));
        assert_eq!(
            TraceResponseMode::Trusted.action(&cx, false),
            ResponseAction::Strip,
            "an untrusted caller learns nothing"
        );
        assert_eq!(TraceResponseMode::default(), TraceResponseMode::Off);
        for mode in [
            TraceResponseMode::Off,
            TraceResponseMode::On,
            TraceResponseMode::Strip,
            TraceResponseMode::Trusted,
        ] {
            assert_eq!(TraceResponseMode::from_name(mode.name()), Some(mode));
        }
        assert_eq!(TraceResponseMode::from_name("ON"), None);
    }
}
