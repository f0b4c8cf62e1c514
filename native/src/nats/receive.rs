//! The consumer side shared by core NATS, request-reply and JetStream:
//! decode, extract, and the CONSUMER `process` span.

use std::future::Future;

use async_nats::{HeaderMap, Message};
use cloudevents::Event;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use super::binding::{DecodeError, decode};
use super::carrier::HeaderExtractor;
use super::context::{MessageContext, ParentMode};
use super::header_case::HeaderCase;
use super::semconv::{self, Operation};
use super::send::{Mode, ServerAddress, end_with_error};
use crate::tracer::tracer;

/// What every process span is configured with.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConsumeSettings {
    pub(crate) parent_mode: ParentMode,
    pub(crate) group: Option<String>,
    pub(crate) template: Option<String>,
    pub(crate) server: Option<ServerAddress>,
    /// How the propagation headers of a reply are spelled.
    pub(crate) header_case: HeaderCase,
}

/// A received message, decoded once.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) event: Result<Event, DecodeError>,
    pub(crate) context: MessageContext,
    /// The mode the message came in, which a reply mirrors.
    pub(crate) mode: Mode,
}

/// Decodes a message's event and extracts its contexts (hop from the
/// headers, creation from the event). Returns the mode it came in.
pub(crate) fn decoded(
    headers: &Option<HeaderMap>,
    payload: &[u8],
) -> (Result<Event, DecodeError>, MessageContext, Mode) {
    let event = decode(headers.as_ref(), payload);
    let context = MessageContext::extract(headers.as_ref(), event.as_ref().ok());
    let binary = headers.as_ref().is_some_and(|h| {
        HeaderExtractor(h)
            .get_ignore_case("ce-specversion")
            .is_some()
    });
    let mode = if binary {
        Mode::Binary
    } else {
        Mode::Structured
    };
    (event, context, mode)
}

// === impl Received ===

impl Received {
    pub(crate) fn new(message: &Message) -> Self {
        let (event, context, mode) = decoded(&message.headers, &message.payload);
        Self {
            event,
            context,
            mode,
        }
    }

    /// Starts the CONSUMER span `process <subject>` for `message`, with
    /// the messaging and CloudEvents attributes plus `extra`.
    pub(crate) fn start_process(
        &self,
        message: &Message,
        settings: &ConsumeSettings,
        extra: Vec<KeyValue>,
    ) -> Context {
        let template = settings.template.as_deref();
        // Sampling-relevant attributes and the links at creation, the rest
        // only onto a span that records.
        // <https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/#messaging-attributes>
        let mut attributes = Operation::Process.attributes(&message.subject, template);
        if let Some(group) = &settings.group {
            attributes.push(KeyValue::new(
                semconv::MESSAGING_CONSUMER_GROUP_NAME,
                group.clone(),
            ));
        }
        if let Some(server) = &settings.server {
            server.push_attributes(&mut attributes);
        }
        // JetStream's delivery attributes, with the subscription name.
        attributes.extend(extra);
        let (parent, links) = self.context.relations(settings.parent_mode);
        let builder =
            SpanBuilder::from_name(Operation::Process.span_name(&message.subject, template))
                .with_kind(SpanKind::Consumer)
                .with_attributes(attributes)
                .with_links(links);
        let cx = parent.with_span(tracer().build_with_context(builder, &parent));
        if cx.span().is_recording() {
            let mut more = self
                .event
                .as_ref()
                .map_or_else(|_| Vec::with_capacity(1), semconv::event_attributes);
            more.push(KeyValue::new(
                semconv::MESSAGING_MESSAGE_BODY_SIZE,
                i64::try_from(message.payload.len()).unwrap_or(i64::MAX),
            ));
            cx.span().set_attributes(more);
        }
        cx
    }
}

/// Runs `handler` on `event` with `cx` as the current context, so its
/// spans are children of the process span.
pub(crate) async fn run_handler<F, Fut, R>(cx: &Context, event: Event, handler: F) -> R
where
    F: FnOnce(Event) -> Fut,
    Fut: Future<Output = R>,
{
    handler(event).with_context(cx.clone()).await
}

/// Records a handler's error on the span in `cx` (`error.type` = the
/// error's type name, per the conventions' "fully-qualified type"), leaving
/// the span open.
pub(crate) fn record_handler_error<E: std::fmt::Display>(cx: &Context, error: &E) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        semconv::ERROR_TYPE,
        std::any::type_name::<E>(),
    ));
    span.set_status(opentelemetry::trace::Status::error(error.to_string()));
}

/// Ends the process span in `cx` with a decode error.
pub(crate) fn end_with_decode_error(cx: &Context, error: &DecodeError) {
    end_with_error(cx, error.kind(), error);
}
