//! The code-side sampler and span processor a child installs through
//! `Builder::with_sampler` and `Builder::with_span_processor`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId, TraceState};
use opentelemetry::{Context, Key, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    SamplingDecision, SamplingResult, ShouldSample, Span, SpanData, SpanProcessor,
};

/// The `tracestate` list member [`DropNamed`] puts on root spans.
pub(crate) const ROOT_MEMBER: (&str, &str) = ("meshtrace-test", "root");

// === impl DropNamed ===

/// Drops spans with one name and samples the others, parents or not; puts
/// [`ROOT_MEMBER`] on the `tracestate` of every root, and keeps the
/// parent's `tracestate` on children.
#[derive(Debug, Clone)]
pub(crate) struct DropNamed(pub(crate) String);

impl ShouldSample for DropNamed {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        _: TraceId,
        name: &str,
        _: &SpanKind,
        _: &[KeyValue],
        _: &[Link],
    ) -> SamplingResult {
        let parent = parent
            .map(|cx| cx.span().span_context().clone())
            .filter(|sc| sc.is_valid());
        let trace_state = match parent {
            Some(sc) => sc.trace_state().clone(),
            None => TraceState::from_key_value([ROOT_MEMBER])
                .unwrap_or_else(|e| panic!("a valid list member: {e}")),
        };
        let decision = if name == self.0 {
            SamplingDecision::Drop
        } else {
            SamplingDecision::RecordAndSample
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state,
        }
    }
}

// === impl Recorder ===

/// What a [`Recorder`] saw; the child keeps a handle and prints it after
/// the guard is dropped.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// How many spans started.
    pub(crate) started: usize,
    /// The names of the spans that ended, in order.
    pub(crate) ended: Vec<String>,
    /// The `service.name` of the resource the provider gave it.
    pub(crate) service: Option<String>,
    /// Whether it was shut down.
    pub(crate) shut_down: bool,
}

/// A span processor that records every span it sees.
#[derive(Debug, Default)]
pub(crate) struct Recorder(pub(crate) Arc<Mutex<Recorded>>);

impl Recorder {
    fn with(&self, f: impl FnOnce(&mut Recorded)) {
        let mut recorded = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut recorded);
    }
}

impl SpanProcessor for Recorder {
    fn on_start(&self, _: &mut Span, _: &Context) {
        self.with(|r| r.started += 1);
    }

    fn on_end(&self, span: SpanData) {
        self.with(|r| r.ended.push(span.name.into_owned()));
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.with(|r| r.shut_down = true);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let service = resource
            .get(&Key::from_static_str("service.name"))
            .map(|v| v.as_str().into_owned());
        self.with(|r| r.service = service);
    }
}
