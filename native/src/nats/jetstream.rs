//! CloudEvents on JetStream: publish with acknowledgement, and process
//! spans for pulled (or pushed) messages that leave ack/nak/term to the
//! handler.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::context::PublishError as JsPublishError;
use async_nats::jetstream::{self, AckKind};
use async_nats::subject::ToSubject;
use cloudevents::Event;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt};

use super::binding::{DecodeError, EncodeError};
use super::context::{MessageContext, ParentMode};
use super::header_case::HeaderCase;
use super::receive::{
    ConsumeSettings, Received, end_with_decode_error, record_handler_error, run_handler,
};
use super::semconv::{self, Operation};
use super::send::{Mode, SendSettings, ServerAddress, end_with_error};

/// Publishes CloudEvents to JetStream under PRODUCER spans that end when
/// the stream acknowledges the message, recording the stream and its
/// sequence. Headers and extension as [`Publisher`](super::Publisher).
///
/// ```no_run
/// use cloudevents::{EventBuilder, EventBuilderV10};
/// use meshtrace::nats::JetStreamPublisher;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let publisher = JetStreamPublisher::new(async_nats::jetstream::new(client));
/// let event = EventBuilderV10::new().id("job-1").source("/pipeline").ty("job.created").build()?;
/// let ack = publisher.publish("jobs.created", event).await?;
/// println!("stored as {} #{}", ack.stream, ack.sequence);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamPublisher {
    context: jetstream::Context,
    settings: SendSettings,
}

/// Why a JetStream publish failed. The PRODUCER span records the same.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JetStreamPublishError {
    /// The event could not be encoded; nothing was sent.
    #[error("encoding the event for `{subject}`: {source}")]
    Encode {
        /// The subject.
        subject: String,
        /// The binding's error.
        source: EncodeError,
    },
    /// The message was not stored: no stream, timeout, or rejected.
    #[error("publishing on `{subject}`: {source}")]
    Publish {
        /// The subject.
        subject: String,
        /// The JetStream error.
        source: JsPublishError,
    },
}

/// A JetStream message with its event and trace context, processed by
/// [`process`](Self::process). Nothing is acknowledged unless the handler
/// says so: a message that is dropped, fails to decode or whose handler
/// panics stays unacknowledged and is redelivered after the consumer's
/// `ack_wait`.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use meshtrace::nats::{HandlerError, JetStreamDelivery};
///
/// # async fn run(consumer: async_nats::jetstream::consumer::PullConsumer) -> Result<(), Box<dyn std::error::Error>> {
/// let mut messages = consumer.messages().await?;
/// while let Some(message) = messages.next().await {
///     let delivery = JetStreamDelivery::new(message?);
///     let outcome = delivery
///         .process(|event| async move {
///             if event.data().is_none() {
///                 // Terminate: redelivering will not help.
///                 return Err(HandlerError::Reject(std::io::Error::other("no data")));
///             }
///             Ok(()) // acknowledged
///         })
///         .await;
///     if let Err(error) = outcome {
///         eprintln!("{error}");
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct JetStreamDelivery {
    message: jetstream::Message,
    received: Received,
    settings: ConsumeSettings,
    info: Option<DeliveryInfo>,
}

/// Where a JetStream message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The stream that stored it.
    pub stream: String,
    /// The consumer that delivered it.
    pub consumer: String,
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// Which delivery attempt this is, from 1.
    pub delivery_count: u64,
}

/// A handler's failure, and what JetStream should do with the message.
#[derive(Debug)]
pub enum HandlerError<E> {
    /// Negatively acknowledge (`-NAK`): redeliver, after `delay` if set.
    Retry {
        /// The failure.
        error: E,
        /// How long the server waits before redelivering.
        delay: Option<Duration>,
    },
    /// Terminate (`+TERM`): never redeliver.
    Reject(E),
}

/// Why [`JetStreamDelivery::process`] did not return the handler's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JetStreamProcessError<E> {
    /// The message is not a valid CloudEvent; the handler did not run and
    /// the message was **not** acknowledged (it is redelivered after
    /// `ack_wait`; term it through [`JetStreamDelivery::message`] before
    /// processing to drop it).
    #[error("message on `{subject}` is not a valid CloudEvent: {source}")]
    Decode {
        /// The subject.
        subject: String,
        /// The binding's error.
        source: DecodeError,
    },
    /// The handler failed; the message was nak'ed (`retried: true`) or
    /// terminated.
    #[error("handler failed ({}): {error}", if *retried { "nak, will be redelivered" } else { "terminated" })]
    Handler {
        /// The handler's error.
        error: E,
        /// Whether the message was nak'ed for redelivery.
        retried: bool,
    },
    /// The ack, nak or term could not be sent; the server redelivers
    /// after `ack_wait`.
    #[error("sending {ack} failed: {source}")]
    Settle {
        /// `ack`, `nak` or `term`.
        ack: &'static str,
        /// The client's error.
        source: async_nats::Error,
    },
}

// === impl JetStreamPublisher ===

impl JetStreamPublisher {
    /// A binary-mode publisher on `context`.
    pub fn new(context: jetstream::Context) -> Self {
        let settings = SendSettings::for_client(&context.client());
        Self { context, settings }
    }

    /// Sets the content mode of every publish (default [`Mode::Binary`]).
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.settings.mode = mode;
        self
    }

    /// Names spans after a low-cardinality subject template.
    pub fn with_destination_template(mut self, template: impl Into<String>) -> Self {
        self.settings.template = Some(template.into());
        self
    }

    /// Spells the propagation headers of every publish in `case` (default
    /// [`HeaderCase::Lowercase`]); see
    /// [`Publisher::with_header_case`](super::Publisher::with_header_case).
    ///
    /// ```no_run
    /// use meshtrace::nats::{HeaderCase, JetStreamPublisher};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let publisher = JetStreamPublisher::new(async_nats::jetstream::new(client))
    ///     .with_header_case(HeaderCase::GoCanonical);
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

    /// Publishes `event` and waits for the stream's acknowledgement.
    ///
    /// # Errors
    ///
    /// [`JetStreamPublishError`] when the event cannot be encoded or is
    /// not stored.
    pub async fn publish<S: ToSubject>(
        &self,
        subject: S,
        event: Event,
    ) -> Result<jetstream::publish::PublishAck, JetStreamPublishError> {
        self.publish_as(self.settings.mode, subject, event).await
    }

    /// Publishes `event` in `mode` and waits for the acknowledgement.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish).
    pub async fn publish_as<S: ToSubject>(
        &self,
        mode: Mode,
        subject: S,
        event: Event,
    ) -> Result<jetstream::publish::PublishAck, JetStreamPublishError> {
        let subject = subject.to_subject();
        let out = self
            .settings
            .start(Operation::Send, SpanKind::Producer, &subject, event, mode)
            .map_err(|source| JetStreamPublishError::Encode {
                subject: subject.to_string(),
                source,
            })?;
        let result = match self
            .context
            .publish_with_headers(subject.clone(), out.headers, out.payload)
            .await
        {
            Ok(ack) => ack.await,
            Err(error) => Err(error),
        };
        match result {
            Ok(ack) => {
                let span = out.cx.span();
                span.set_attribute(KeyValue::new(
                    semconv::NATS_JETSTREAM_STREAM,
                    ack.stream.clone(),
                ));
                span.set_attribute(KeyValue::new(
                    semconv::NATS_JETSTREAM_SEQUENCE,
                    i64::try_from(ack.sequence).unwrap_or(i64::MAX),
                ));
                span.end();
                Ok(ack)
            }
            Err(source) => {
                end_with_error(&out.cx, semconv::error_type(&source.kind()), &source);
                Err(JetStreamPublishError::Publish {
                    subject: subject.to_string(),
                    source,
                })
            }
        }
    }
}

// === impl JetStreamDelivery ===

impl JetStreamDelivery {
    /// Decodes a JetStream message and reads its delivery metadata.
    pub fn new(message: jetstream::Message) -> Self {
        let received = Received::new(&message.message);
        let info = message.info().ok().map(|info| DeliveryInfo {
            stream: info.stream.to_owned(),
            consumer: info.consumer.to_owned(),
            stream_sequence: info.stream_sequence,
            delivery_count: u64::try_from(info.delivered).unwrap_or(0),
        });
        let settings = ConsumeSettings {
            server: ServerAddress::of_connection(&message.context.client()),
            ..ConsumeSettings::default()
        };
        Self {
            message,
            received,
            settings,
            info,
        }
    }

    /// Sets how the process span relates to the message's context.
    pub fn with_parent_mode(mut self, mode: ParentMode) -> Self {
        self.settings.parent_mode = mode;
        self
    }

    /// Names the process span after a low-cardinality subject template.
    pub fn with_destination_template(mut self, template: impl Into<String>) -> Self {
        self.settings.template = Some(template.into());
        self
    }

    /// The message as received (to ack, nak or term it yourself).
    pub fn message(&self) -> &jetstream::Message {
        &self.message
    }

    /// The message decoded as a CloudEvent.
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] when it is not a valid CloudEvent.
    pub fn event(&self) -> Result<&Event, &DecodeError> {
        self.received.event.as_ref()
    }

    /// The trace context the message carries.
    pub fn context(&self) -> &MessageContext {
        &self.received.context
    }

    /// Stream, consumer, sequence and delivery count, when the message
    /// came through a JetStream consumer.
    pub fn info(&self) -> Option<&DeliveryInfo> {
        self.info.as_ref()
    }

    /// Runs `handler` inside a CONSUMER span `process <subject>` that
    /// records the stream, sequence, consumer
    /// (`messaging.destination.subscription.name`) and delivery count, and
    /// settles the message by the result: `Ok` acks,
    /// [`HandlerError::Retry`] naks, [`HandlerError::Reject`] terms.
    ///
    /// # Errors
    ///
    /// [`JetStreamProcessError`]; a decode error leaves the message
    /// unacknowledged.
    pub async fn process<F, Fut, T, E>(self, handler: F) -> Result<T, JetStreamProcessError<E>>
    where
        F: FnOnce(Event) -> Fut,
        Fut: Future<Output = Result<T, HandlerError<E>>>,
        E: std::fmt::Display,
    {
        let cx = self.received.start_process(
            &self.message.message,
            &self.settings,
            self.info_attributes(),
        );
        let event = match self.received.event {
            Ok(event) => event,
            Err(source) => {
                end_with_decode_error(&cx, &source);
                return Err(JetStreamProcessError::Decode {
                    subject: self.message.subject.to_string(),
                    source,
                });
            }
        };
        let result = run_handler(&cx, event, handler).await;
        let (kind, name) = match &result {
            Ok(_) => (AckKind::Ack, "ack"),
            Err(HandlerError::Retry { error, delay }) => {
                record_handler_error(&cx, error);
                (AckKind::Nak(*delay), "nak")
            }
            Err(HandlerError::Reject(error)) => {
                record_handler_error(&cx, error);
                (AckKind::Term, "term")
            }
        };
        cx.span()
            .set_attribute(KeyValue::new(semconv::NATS_JETSTREAM_ACK, name));
        if let Err(source) = self.message.ack_with(kind).await {
            end_with_error(&cx, "settle_failed", &source);
            return Err(JetStreamProcessError::Settle { ack: name, source });
        }
        cx.span().end();
        result.map_err(|error| match error {
            HandlerError::Retry { error, .. } => JetStreamProcessError::Handler {
                error,
                retried: true,
            },
            HandlerError::Reject(error) => JetStreamProcessError::Handler {
                error,
                retried: false,
            },
        })
    }

    fn info_attributes(&self) -> Vec<KeyValue> {
        let Some(info) = &self.info else {
            return Vec::new();
        };
        vec![
            KeyValue::new(semconv::NATS_JETSTREAM_STREAM, info.stream.clone()),
            KeyValue::new(
                semconv::NATS_JETSTREAM_SEQUENCE,
                i64::try_from(info.stream_sequence).unwrap_or(i64::MAX),
            ),
            KeyValue::new(
                semconv::MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
                info.consumer.clone(),
            ),
            KeyValue::new(
                semconv::NATS_DELIVERY_COUNT,
                i64::try_from(info.delivery_count).unwrap_or(i64::MAX),
            ),
        ]
    }
}

// === impl HandlerError ===

impl<E: std::fmt::Display> std::fmt::Display for HandlerError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retry { error, .. } | Self::Reject(error) => error.fmt(f),
        }
    }
}
