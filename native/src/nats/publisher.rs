//! Publishing CloudEvents on core NATS, and request-reply.

use async_nats::subject::ToSubject;
use async_nats::{Client, Message};
use cloudevents::Event;
use opentelemetry::trace::{SpanKind, TraceContextExt};

use super::binding::{DecodeError, EncodeError};
use super::context::MessageContext;
use super::header_case::HeaderCase;
use super::receive::decoded;
use super::semconv::{self, Operation};
use super::send::{Mode, SendSettings, ServerAddress, end_with_error};

/// Publishes CloudEvents on core NATS under PRODUCER spans, and sends
/// requests under CLIENT spans.
///
/// Each publish: a PRODUCER span `send <subject>` (child of the current
/// context) with the messaging and CloudEvents attributes; the span
/// becomes the event's creation context (`traceparent` / `tracestate`
/// extension) unless the event already carries one; the event is encoded
/// in the publisher's [`Mode`] and the span is injected into the NATS
/// headers (`traceparent`; `tracestate` and `baggage` when not empty).
///
/// ```no_run
/// use cloudevents::{EventBuilder, EventBuilderV10};
/// use meshtrace::nats::{Mode, Publisher};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let publisher = Publisher::new(client).with_mode(Mode::Structured);
/// let event = EventBuilderV10::new()
///     .id("order-1")
///     .source("/checkout")
///     .ty("com.example.order.created")
///     .data("application/json", serde_json::json!({"sku": "sku-1"}))
///     .build()?;
/// publisher.publish("orders.created", event).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Publisher {
    client: Client,
    settings: SendSettings,
}

/// Why a publish failed. The PRODUCER span records the same error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The event could not be encoded; nothing was sent.
    #[error("encoding the event for `{subject}`: {source}")]
    Encode {
        /// The subject.
        subject: String,
        /// The binding's error.
        source: EncodeError,
    },
    /// The client refused the message (connection closed, payload over
    /// `max_payload`...).
    #[error("publishing on `{subject}`: {source}")]
    Publish {
        /// The subject.
        subject: String,
        /// The client's error.
        source: async_nats::PublishError,
    },
}

/// Why a request failed. The CLIENT span records the same error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The event could not be encoded; nothing was sent.
    #[error("encoding the request for `{subject}`: {source}")]
    Encode {
        /// The subject.
        subject: String,
        /// The binding's error.
        source: EncodeError,
    },
    /// No reply: timed out, no responders, or the client failed.
    #[error("request on `{subject}`: {source}")]
    Request {
        /// The subject.
        subject: String,
        /// The client's error.
        source: async_nats::RequestError,
    },
}

/// The reply to a [`Publisher::request`]: the message, its event and the
/// context it carries back (the responder's span).
#[derive(Debug)]
pub struct Reply {
    message: Message,
    event: Result<cloudevents::Event, DecodeError>,
    context: MessageContext,
}

// === impl Publisher ===

impl Publisher {
    /// A binary-mode publisher on `client`; `server.address` and
    /// `server.port` come from the server's INFO.
    pub fn new(client: Client) -> Self {
        let settings = SendSettings::for_client(&client);
        Self { client, settings }
    }

    /// Sets the content mode of every publish (default [`Mode::Binary`]).
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.settings.mode = mode;
        self
    }

    /// Names spans after a low-cardinality subject template (e.g.
    /// `orders.{region}`) instead of the subject, and records it as
    /// `messaging.destination.template`.
    pub fn with_destination_template(mut self, template: impl Into<String>) -> Self {
        self.settings.template = Some(template.into());
        self
    }

    /// Spells the propagation headers (`traceparent`, `tracestate`,
    /// `baggage`) of every publish and request in `case` (default
    /// [`HeaderCase::Lowercase`]). [`HeaderCase::GoCanonical`] writes
    /// `Traceparent`, `Tracestate`, `Baggage`: what Go's
    /// `textproto.CanonicalMIMEHeaderKey` makes of each key, so a Go
    /// consumer extracting with
    /// `propagation.HeaderCarrier(http.Header(msg.Header))`, which looks up
    /// exactly the canonical name, finds them. Only the canonical spelling
    /// is written; meshtrace consumers read either.
    ///
    /// ```no_run
    /// use meshtrace::nats::{HeaderCase, Publisher};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// // Consumers are Go services reading nats.go headers via http.Header.
    /// let publisher = Publisher::new(client).with_header_case(HeaderCase::GoCanonical);
    /// # let _ = publisher;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_header_case(mut self, case: HeaderCase) -> Self {
        self.settings.header_case = case;
        self
    }

    /// Overrides `server.address` / `server.port`.
    pub fn with_server_address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.settings.server = Some(ServerAddress::new(host, port));
        self
    }

    /// The client this publisher sends on.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Publishes `event` on `subject` in the publisher's mode.
    ///
    /// # Errors
    ///
    /// [`PublishError`] when the event cannot be encoded or the client
    /// refuses the message.
    pub async fn publish<S: ToSubject>(
        &self,
        subject: S,
        event: Event,
    ) -> Result<(), PublishError> {
        self.publish_as(self.settings.mode, subject, event).await
    }

    /// Publishes `event` on `subject` in `mode`.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish).
    pub async fn publish_as<S: ToSubject>(
        &self,
        mode: Mode,
        subject: S,
        event: Event,
    ) -> Result<(), PublishError> {
        let subject = subject.to_subject();
        let out = self
            .settings
            .start(Operation::Send, SpanKind::Producer, &subject, event, mode)
            .map_err(|source| PublishError::Encode {
                subject: subject.to_string(),
                source,
            })?;
        match self
            .client
            .publish_with_headers(subject.clone(), out.headers, out.payload)
            .await
        {
            Ok(()) => {
                out.cx.span().end();
                Ok(())
            }
            Err(source) => {
                end_with_error(&out.cx, semconv::error_type(&source.kind()), &source);
                Err(PublishError::Publish {
                    subject: subject.to_string(),
                    source,
                })
            }
        }
    }

    /// Sends `event` as a request on `subject` and waits for the reply
    /// (the client's request timeout applies), under a CLIENT span
    /// `request <subject>`. The reply's context (the responder's span) is
    /// linked from the CLIENT span and returned in the [`Reply`].
    ///
    /// # Errors
    ///
    /// [`RequestError`] when the event cannot be encoded, nobody answers
    /// in time, or the client fails. A reply that is not a valid
    /// CloudEvent is still a reply: see [`Reply::event`].
    pub async fn request<S: ToSubject>(
        &self,
        subject: S,
        event: Event,
    ) -> Result<Reply, RequestError> {
        let subject = subject.to_subject();
        let out = self
            .settings
            .start(
                Operation::Request,
                SpanKind::Client,
                &subject,
                event,
                self.settings.mode,
            )
            .map_err(|source| RequestError::Encode {
                subject: subject.to_string(),
                source,
            })?;
        let result = self
            .client
            .request_with_headers(subject.clone(), out.headers, out.payload)
            .await;
        match result {
            Ok(message) => {
                let (event, context, _) = decoded(&message.headers, &message.payload);
                let span = out.cx.span();
                if let Some(responder) = context.hop() {
                    span.add_link(responder, Vec::new());
                }
                span.end();
                Ok(Reply {
                    message,
                    event,
                    context,
                })
            }
            Err(source) => {
                end_with_error(&out.cx, semconv::error_type(&source.kind()), &source);
                Err(RequestError::Request {
                    subject: subject.to_string(),
                    source,
                })
            }
        }
    }
}

// === impl Reply ===

impl Reply {
    /// The reply message as received.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The reply decoded as a CloudEvent.
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] when the reply is not a valid CloudEvent.
    pub fn event(&self) -> Result<&Event, &DecodeError> {
        self.event.as_ref()
    }

    /// Takes the decoded event out of the reply.
    ///
    /// # Errors
    ///
    /// As [`event`](Self::event).
    pub fn into_event(self) -> Result<Event, DecodeError> {
        self.event
    }

    /// The context the reply carries: its hop context is the responder's
    /// span.
    pub fn context(&self) -> &MessageContext {
        &self.context
    }
}
