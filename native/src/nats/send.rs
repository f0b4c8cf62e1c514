//! The producer side shared by core NATS, request-reply and JetStream:
//! start the span, record the creation context, encode, inject.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use async_nats::{Client, HeaderMap, Statistics};
use bytes::Bytes;
use cloudevents::Event;
use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, StringValue, Value};

use super::binding::{EncodeError, encode_binary, encode_structured};
use super::context::inject;
use super::extension::set_span_as_creation_context_if_absent;
use super::header_case::HeaderCase;
use super::semconv::{self, ERROR_TYPE, Operation, SERVER_ADDRESS, SERVER_PORT};
use crate::tracer::tracer;

/// How an event is laid out in the NATS message (CloudEvents NATS binding
/// §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Attributes as `ce-` headers, data as the payload (§3.1). The default.
    #[default]
    Binary,
    /// The JSON event format as the payload,
    /// `content-type: application/cloudevents+json` (§3.2).
    Structured,
}

/// The server a span names in `server.address` / `server.port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerAddress {
    /// Shared: every span's `server.address` is a reference count, not a
    /// copy.
    host: Arc<str>,
    port: u16,
}

/// What every sending span is configured with.
#[derive(Debug, Clone, Default)]
pub(crate) struct SendSettings {
    pub(crate) mode: Mode,
    pub(crate) template: Option<String>,
    pub(crate) server: Option<ServerAddress>,
    /// How the propagation headers are spelled.
    pub(crate) header_case: HeaderCase,
}

/// An encoded message under its started span.
pub(crate) struct Outgoing {
    /// The caller's context with the new span.
    pub(crate) cx: Context,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Bytes,
}

// === impl ServerAddress ===

impl ServerAddress {
    /// An explicit address.
    pub(crate) fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: Arc::from(host.into()),
            port,
        }
    }

    /// The address the connected server reports in its INFO, unless it
    /// listens on a wildcard address (which names no server).
    pub(crate) fn from_client(client: &Client) -> Option<Self> {
        let info = client.server_info();
        let wildcard = matches!(info.host.as_str(), "" | "0.0.0.0" | "::" | "[::]");
        (!wildcard && info.port != 0).then(|| Self::new(info.host, info.port))
    }

    /// [`from_client`](Self::from_client) for a JetStream delivery, which
    /// has only its message's client: the address read once per connection
    /// and thread, since reading it copies the server's whole INFO (every
    /// string in it, each time). The key is the connection's statistics,
    /// which live as long as the connection; holding them weakly keeps a
    /// later connection from reusing the key. As for [`Publisher`] and
    /// [`Subscription`], the address is the one of the server the
    /// connection first reported.
    ///
    /// [`Publisher`]: super::Publisher
    /// [`Subscription`]: super::Subscription
    pub(crate) fn of_connection(client: &Client) -> Option<Self> {
        thread_local! {
            static LAST: RefCell<Option<(Weak<Statistics>, Option<ServerAddress>)>> =
                const { RefCell::new(None) };
        }
        let statistics = client.statistics();
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if let Some((key, server)) = last.as_ref()
                && std::ptr::eq(key.as_ptr(), Arc::as_ptr(&statistics))
            {
                return server.clone();
            }
            let server = Self::from_client(client);
            *last = Some((Arc::downgrade(&statistics), server.clone()));
            server
        })
    }

    pub(crate) fn push_attributes(&self, attributes: &mut Vec<KeyValue>) {
        attributes.push(KeyValue::new(
            SERVER_ADDRESS,
            Value::String(StringValue::from(Arc::clone(&self.host))),
        ));
        attributes.push(KeyValue::new(SERVER_PORT, i64::from(self.port)));
    }
}

// === impl SendSettings ===

impl SendSettings {
    pub(crate) fn for_client(client: &Client) -> Self {
        Self {
            server: ServerAddress::from_client(client),
            ..Self::default()
        }
    }

    /// Starts a `kind` span for `operation` as a child of the current
    /// context, records it as the event's creation context unless the
    /// event has one, encodes the event in `mode` and injects the span
    /// into the headers. On an encode error the span ends with it.
    pub(crate) fn start(
        &self,
        operation: Operation,
        kind: SpanKind,
        subject: &str,
        mut event: Event,
        mode: Mode,
    ) -> Result<Outgoing, EncodeError> {
        let parent = Context::current();
        let template = self.template.as_deref();
        // The attributes the conventions call sampling-relevant go in at
        // creation; the rest only onto a span that records.
        // <https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/#messaging-attributes>
        let mut attributes = operation.attributes(subject, template);
        if let Some(server) = &self.server {
            server.push_attributes(&mut attributes);
        }
        let builder = SpanBuilder::from_name(operation.span_name(subject, template))
            .with_kind(kind)
            .with_attributes(attributes);
        let cx = parent.with_span(tracer().build_with_context(builder, &parent));
        let recording = cx.span().is_recording();
        if recording {
            cx.span().set_attributes(semconv::event_attributes(&event));
        }

        set_span_as_creation_context_if_absent(&mut event, &cx);
        let encoded = match mode {
            Mode::Binary => encode_binary(&event),
            Mode::Structured => encode_structured(&event),
        };
        let (mut headers, payload) = match encoded {
            Ok(encoded) => encoded,
            Err(error) => {
                end_with_error(&cx, semconv::error_type(&error), &error);
                return Err(error);
            }
        };
        inject(&cx, &mut headers, self.header_case);
        if recording {
            cx.span().set_attribute(KeyValue::new(
                semconv::MESSAGING_MESSAGE_BODY_SIZE,
                i64::try_from(payload.len()).unwrap_or(i64::MAX),
            ));
        }
        Ok(Outgoing {
            cx,
            headers,
            payload,
        })
    }
}

/// Marks the span in `cx` failed with `error.type` and the error's message,
/// and ends it.
pub(crate) fn end_with_error(
    cx: &Context,
    error_type: impl Into<opentelemetry::StringValue>,
    error: &dyn std::fmt::Display,
) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(ERROR_TYPE, error_type.into()));
    span.set_status(Status::error(error.to_string()));
    span.end();
}
