//! The trace context a message carries, and how it is written.
//!
//! A message can carry two contexts (CloudEvents distributed-tracing
//! extension, "Using the distributed tracing extension"):
//!
//! - the **hop** context, in the NATS headers (`traceparent`, `tracestate`,
//!   `baggage`): the span that put this message on the wire. It changes at
//!   every hop and is read with the global propagator, so
//!   `OTEL_PROPAGATORS` applies.
//! - the **creation** context, in the event's `traceparent`/`tracestate`
//!   extension: the span the event was created in. It travels with the
//!   event unchanged across hops and is always W3C Trace Context.

use async_nats::HeaderMap;
use cloudevents::Event;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Link, SpanContext, TraceContextExt};
use opentelemetry::{Context, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;

use super::carrier::{CasedHeaderInjector, HeaderExtractor};
use super::extension::creation_fields;
use super::header_case::HeaderCase;
use crate::{TRACEPARENT, TRACESTATE};

/// How a consumer's process span relates to the message's context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParentMode {
    /// The span is a child of the hop context (or of the creation context
    /// when the message has no hop context) and links the creation
    /// context when it differs. The default.
    #[default]
    Hop,
    /// The span is a child of the caller's current context and links the
    /// hop and creation contexts: for consumers that process inside a
    /// span of their own (a batch, a poll loop).
    LinkOnly,
}

/// The trace context extracted from a received message.
#[derive(Debug, Clone)]
pub struct MessageContext {
    /// Extracted from the NATS headers (remote span context and baggage).
    hop: Context,
    /// From the event's distributed-tracing extension, when valid.
    creation: Option<SpanContext>,
}

// === impl MessageContext ===

impl MessageContext {
    /// Extracts the hop context from `headers` (names matched ignoring
    /// case, so Go's `Traceparent` is read) and the creation context from
    /// `event`'s extension. Malformed values are treated as absent (W3C
    /// Trace Context §4.2 / §4.3: restart the trace), never an error.
    pub fn extract(headers: Option<&HeaderMap>, event: Option<&Event>) -> Self {
        let hop = match headers {
            Some(headers) => global::get_text_map_propagator(|propagator| {
                propagator.extract(&HeaderExtractor(headers))
            }),
            None => Context::new(),
        };
        let creation = event.and_then(parse_creation_context);
        Self { hop, creation }
    }

    /// The hop context's span, when the headers carried a valid one.
    pub fn hop(&self) -> Option<SpanContext> {
        let span = self.hop.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| span_context.clone())
    }

    /// The creation context (the event's `traceparent` extension), when
    /// valid.
    pub fn creation(&self) -> Option<&SpanContext> {
        self.creation.as_ref()
    }

    /// The parent a process span takes in [`ParentMode::Hop`]: the hop
    /// context, else the creation context, else a new root; baggage from
    /// the headers either way.
    pub fn parent(&self) -> Context {
        if self.hop().is_some() {
            return self.hop.clone();
        }
        match &self.creation {
            Some(creation) => self.hop.with_remote_span_context(creation.clone()),
            None => self.hop.clone(),
        }
    }

    /// The parent context and links of a process span in `mode`.
    pub(crate) fn relations(&self, mode: ParentMode) -> (Context, Vec<Link>) {
        match mode {
            ParentMode::Hop => {
                let parent = self.parent();
                let links = self
                    .creation
                    .iter()
                    .filter(|c| !same_span(c, parent.span().span_context()))
                    .map(|c| Link::with_context(c.clone()))
                    .collect();
                (parent, links)
            }
            ParentMode::LinkOnly => {
                let hop = self.hop();
                let mut links: Vec<Link> = hop.iter().cloned().map(Link::with_context).collect();
                if let Some(creation) = &self.creation
                    && !hop.as_ref().is_some_and(|h| same_span(creation, h))
                {
                    links.push(Link::with_context(creation.clone()));
                }
                (Context::current(), links)
            }
        }
    }
}

fn same_span(a: &SpanContext, b: &SpanContext) -> bool {
    a.trace_id() == b.trace_id() && a.span_id() == b.span_id()
}

/// The extension's two values as a carrier, borrowed from the event.
struct ExtensionCarrier<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for ExtensionCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(self.traceparent),
            TRACESTATE => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys = vec![TRACEPARENT];
        if self.tracestate.is_some() {
            keys.push(TRACESTATE);
        }
        keys
    }
}

/// Parses the event's distributed-tracing extension with the W3C parser.
fn parse_creation_context(event: &Event) -> Option<SpanContext> {
    let (traceparent, tracestate) = creation_fields(event)?;
    let carrier = ExtensionCarrier {
        traceparent,
        tracestate,
    };
    let cx = TraceContextPropagator::new().extract(&carrier);
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.clone())
}

/// Writes `cx` into NATS headers with the global propagator, names in
/// `case`.
pub(crate) fn inject(cx: &Context, headers: &mut HeaderMap, case: HeaderCase) {
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut CasedHeaderInjector::new(headers, case));
    });
}

/// The two W3C fields a propagator writes, kept as values.
/// `cx`'s span as W3C `traceparent` and non-empty `tracestate` values,
/// for the distributed-tracing extension (always W3C, whatever the global
/// propagator); `None` for an invalid span context. The `traceparent` is
/// version `00` with only the `sampled` flag (Trace Context §3.2.2.5,
/// §3.2.2.6), formatted into one exact-size `String`.
pub(crate) fn w3c_fields(cx: &Context) -> Option<(String, Option<String>)> {
    let span = cx.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return None;
    }
    let mut traceparent = String::with_capacity(TRACEPARENT_LEN);
    traceparent.push_str("00-");
    push_hex(&mut traceparent, &span_context.trace_id().to_bytes());
    traceparent.push('-');
    push_hex(&mut traceparent, &span_context.span_id().to_bytes());
    traceparent.push_str(if span_context.is_sampled() {
        "-01"
    } else {
        "-00"
    });
    let tracestate = Some(span_context.trace_state().header()).filter(|s| !s.is_empty());
    Some((traceparent, tracestate))
}

/// `00-` + 32 + `-` + 16 + `-` + 2.
const TRACEPARENT_LEN: usize = 55;

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    const HOP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const CREATION: &str = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";

    fn event(traceparent: Option<&str>) -> Event {
        let builder = EventBuilderV10::new().id("1").source("/s").ty("t");
        match traceparent {
            Some(tp) => builder.extension(TRACEPARENT, tp),
            None => builder,
        }
        .build()
        .unwrap()
    }

    fn headers(traceparent: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("Traceparent", traceparent);
        headers
    }

    fn span_id(cx: &Context) -> String {
        cx.span().span_context().span_id().to_string()
    }

    #[test]
    fn hop_is_the_parent_and_creation_is_linked() {
        crate::testing::exporter();
        let cx = MessageContext::extract(Some(&headers(HOP)), Some(&event(Some(CREATION))));
        let (parent, links) = cx.relations(ParentMode::Hop);
        assert_eq!(span_id(&parent), "b7ad6b7169203331", "hop header, any case");
        assert_eq!(links.len(), 1);
        assert_eq!(
            links[0].span_context.span_id().to_string(),
            "00f067aa0ba902b7"
        );
    }

    #[test]
    fn creation_is_the_parent_without_a_hop_and_not_linked_twice() {
        crate::testing::exporter();
        let cases = [
            (None, "no headers"),
            (Some(headers("00-bad")), "malformed hop header"),
        ];
        for (headers, reason) in cases {
            let cx = MessageContext::extract(headers.as_ref(), Some(&event(Some(CREATION))));
            let (parent, links) = cx.relations(ParentMode::Hop);
            assert_eq!(span_id(&parent), "00f067aa0ba902b7", "{reason}");
            assert!(links.is_empty(), "{reason}: parent is not linked again");
        }
    }

    #[test]
    fn malformed_contexts_give_a_root() {
        crate::testing::exporter();
        let cases = [
            (
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                "zero span id",
            ),
            (
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                "uppercase",
            ),
            ("zz", "garbage"),
        ];
        for (bad, reason) in cases {
            let cx = MessageContext::extract(Some(&headers(bad)), Some(&event(Some(bad))));
            assert!(cx.hop().is_none() && cx.creation().is_none(), "{reason}");
            let (parent, links) = cx.relations(ParentMode::Hop);
            assert!(!parent.span().span_context().is_valid(), "{reason}");
            assert!(links.is_empty(), "{reason}");
        }
    }

    #[test]
    fn link_only_links_both_and_keeps_the_current_parent() {
        crate::testing::exporter();
        let cx = MessageContext::extract(Some(&headers(HOP)), Some(&event(Some(CREATION))));
        let (parent, links) = cx.relations(ParentMode::LinkOnly);
        assert!(
            !parent.span().span_context().is_valid(),
            "no current span here"
        );
        let linked: Vec<String> = links
            .iter()
            .map(|l| l.span_context.span_id().to_string())
            .collect();
        assert_eq!(linked, ["b7ad6b7169203331", "00f067aa0ba902b7"]);

        let same = MessageContext::extract(Some(&headers(HOP)), Some(&event(Some(HOP))));
        assert_eq!(
            same.relations(ParentMode::LinkOnly).1.len(),
            1,
            "one link when equal"
        );
    }

    #[test]
    fn w3c_fields_format_the_span_and_its_state() {
        let span_context = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("rojo", "1")]).unwrap(),
        );
        let cx = Context::new().with_remote_span_context(span_context);
        assert_eq!(
            w3c_fields(&cx),
            Some((HOP.to_owned(), Some("rojo=1".to_owned())))
        );
        assert_eq!(w3c_fields(&Context::new()), None, "no span, no fields");
        let unsampled = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(unsampled);
        let expected = TraceContextPropagator::new();
        let mut injected = std::collections::HashMap::new();
        expected.inject_context(&cx, &mut injected);
        assert_eq!(
            w3c_fields(&cx),
            Some((injected[TRACEPARENT].clone(), None)),
            "the SDK propagator's format, flags 00, no empty tracestate"
        );
    }
}
