//! Consuming CloudEvents on core NATS: subscriptions, process spans and
//! request-reply responders.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use async_nats::subject::ToSubject;
use async_nats::{Client, Message, Subscriber};
use cloudevents::Event;
use futures_util::Stream;
use opentelemetry::trace::TraceContextExt;

use super::binding::{DecodeError, EncodeError, encode_binary, encode_structured};
use super::context::{MessageContext, ParentMode, inject};
use super::extension::set_span_as_creation_context_if_absent;
use super::header_case::HeaderCase;
use super::receive::{
    ConsumeSettings, Received, end_with_decode_error, record_handler_error, run_handler,
};
use super::semconv;
use super::send::{Mode, ServerAddress, end_with_error};

/// A core NATS subscription yielding each message as a [`Delivery`]:
/// decoded as a CloudEvent, with its trace context extracted.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use meshtrace::nats::Subscription;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let mut orders = Subscription::queue_subscribe(&client, "orders.created", "billing").await?;
/// while let Some(delivery) = orders.next().await {
///     // A CONSUMER span `process orders.created`, child of the publisher's span.
///     let result = delivery
///         .process(|event| async move {
///             println!("order {}", cloudevents::AttributesReader::id(&event));
///             Ok::<_, std::io::Error>(())
///         })
///         .await;
///     if let Err(error) = result {
///         eprintln!("{error}");
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Subscription {
    inner: Subscriber,
    /// Shared with every delivery (one reference count per message, not a
    /// copy of the group, template and server address).
    settings: Arc<ConsumeSettings>,
}

/// One received message: the NATS message, its event (or why it is not
/// one) and its trace context.
#[derive(Debug)]
pub struct Delivery {
    message: Message,
    received: Received,
    settings: Arc<ConsumeSettings>,
}

/// Why [`Delivery::process`] did not return the handler's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError<E> {
    /// The message is not a valid CloudEvent; the handler did not run.
    #[error("message on `{subject}` is not a valid CloudEvent: {source}")]
    Decode {
        /// The subject.
        subject: String,
        /// The binding's error.
        source: DecodeError,
    },
    /// The handler returned an error.
    #[error("handler failed: {0}")]
    Handler(E),
}

/// Why [`Delivery::respond`] did not send a reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RespondError<E> {
    /// The request is not a valid CloudEvent; the handler did not run.
    #[error("request on `{subject}` is not a valid CloudEvent: {source}")]
    Decode {
        /// The subject.
        subject: String,
        /// The binding's error.
        source: DecodeError,
    },
    /// The message has no reply subject (it was published, not requested).
    #[error("message on `{subject}` has no reply subject")]
    NoReplySubject {
        /// The subject.
        subject: String,
    },
    /// The handler returned an error; no reply was sent.
    #[error("handler failed: {0}")]
    Handler(E),
    /// The reply event could not be encoded.
    #[error("encoding the reply: {0}")]
    Encode(EncodeError),
    /// The client refused the reply.
    #[error("publishing the reply: {0}")]
    Publish(async_nats::PublishError),
}

// === impl Subscription ===

impl Subscription {
    /// Subscribes to `subject` on `client`.
    ///
    /// # Errors
    ///
    /// The client's error when the subscription cannot be made.
    pub async fn subscribe<S: ToSubject>(
        client: &Client,
        subject: S,
    ) -> Result<Self, async_nats::SubscribeError> {
        let inner = client.subscribe(subject).await?;
        Ok(Self::from_subscriber(inner, client, None))
    }

    /// Subscribes to `subject` in queue group `group` (recorded as
    /// `messaging.consumer.group.name`).
    ///
    /// # Errors
    ///
    /// The client's error when the subscription cannot be made.
    pub async fn queue_subscribe<S: ToSubject>(
        client: &Client,
        subject: S,
        group: impl Into<String>,
    ) -> Result<Self, async_nats::SubscribeError> {
        let group = group.into();
        let inner = client.queue_subscribe(subject, group.clone()).await?;
        Ok(Self::from_subscriber(inner, client, Some(group)))
    }

    /// Wraps an existing subscriber; `group` is its queue group, if any.
    pub fn from_subscriber(inner: Subscriber, client: &Client, group: Option<String>) -> Self {
        let settings = ConsumeSettings {
            group,
            server: ServerAddress::from_client(client),
            ..ConsumeSettings::default()
        };
        Self {
            inner,
            settings: Arc::new(settings),
        }
    }

    /// Sets how process spans relate to the message's context (default
    /// [`ParentMode::Hop`]).
    pub fn with_parent_mode(mut self, mode: ParentMode) -> Self {
        Arc::make_mut(&mut self.settings).parent_mode = mode;
        self
    }

    /// Names process spans after a low-cardinality subject template
    /// (e.g. `orders.*`) instead of each message's subject.
    pub fn with_destination_template(mut self, template: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.settings).template = Some(template.into());
        self
    }

    /// Spells the propagation headers of the replies
    /// [`Delivery::respond`] sends in `case` (default
    /// [`HeaderCase::Lowercase`]), for Go requesters; see
    /// [`Publisher::with_header_case`](super::Publisher::with_header_case).
    /// Incoming headers are read in any case either way.
    pub fn with_header_case(mut self, case: HeaderCase) -> Self {
        Arc::make_mut(&mut self.settings).header_case = case;
        self
    }

    /// The wrapped subscriber (to unsubscribe or drain it).
    pub fn subscriber_mut(&mut self) -> &mut Subscriber {
        &mut self.inner
    }
}

impl Stream for Subscription {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Delivery>> {
        let this = &mut *self;
        Pin::new(&mut this.inner).poll_next(cx).map(|message| {
            message.map(|message| Delivery::with_settings(message, this.settings.clone()))
        })
    }
}

// === impl Delivery ===

impl Delivery {
    /// Decodes a message received on any subscriber (default settings:
    /// [`ParentMode::Hop`], no queue group, no server address).
    pub fn new(message: Message) -> Self {
        Self::with_settings(message, Arc::default())
    }

    fn with_settings(message: Message, settings: Arc<ConsumeSettings>) -> Self {
        let received = Received::new(&message);
        Self {
            message,
            received,
            settings,
        }
    }

    /// Sets how the process span relates to the message's context.
    pub fn with_parent_mode(mut self, mode: ParentMode) -> Self {
        Arc::make_mut(&mut self.settings).parent_mode = mode;
        self
    }

    /// Spells the propagation headers of the reply
    /// [`respond`](Self::respond) sends in `case`; see
    /// [`Subscription::with_header_case`].
    pub fn with_header_case(mut self, case: HeaderCase) -> Self {
        Arc::make_mut(&mut self.settings).header_case = case;
        self
    }

    /// The message as received.
    pub fn message(&self) -> &Message {
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

    /// Runs `handler` on the event inside a CONSUMER span
    /// `process <subject>` (see [`ParentMode`] for its parent and links),
    /// with the span as the handler's current context.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Decode`] without running the handler when the
    /// message is not a valid CloudEvent; [`ProcessError::Handler`] with
    /// the handler's error. Both are recorded on the span.
    pub async fn process<F, Fut, T, E>(self, handler: F) -> Result<T, ProcessError<E>>
    where
        F: FnOnce(Event) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let cx = self
            .received
            .start_process(&self.message, &self.settings, Vec::new());
        let event = match self.received.event {
            Ok(event) => event,
            Err(source) => {
                end_with_decode_error(&cx, &source);
                return Err(ProcessError::Decode {
                    subject: self.message.subject.to_string(),
                    source,
                });
            }
        };
        let result = run_handler(&cx, event, handler).await;
        if let Err(error) = &result {
            record_handler_error(&cx, error);
        }
        cx.span().end();
        result.map_err(ProcessError::Handler)
    }

    /// Answers a request: runs `handler` inside a CONSUMER span
    /// `process <subject>` (the request's CLIENT span is its parent) and
    /// publishes the event it returns to the reply subject, in the mode
    /// the request came in. The reply's NATS headers carry the process
    /// span; the reply event's creation context is set to it unless the
    /// handler set one.
    ///
    /// # Errors
    ///
    /// [`RespondError`]; each is recorded on the span and no reply is
    /// sent.
    pub async fn respond<F, Fut, E>(
        self,
        client: &Client,
        handler: F,
    ) -> Result<(), RespondError<E>>
    where
        F: FnOnce(Event) -> Fut,
        Fut: Future<Output = Result<Event, E>>,
        E: std::fmt::Display,
    {
        let subject = self.message.subject.to_string();
        let cx = self
            .received
            .start_process(&self.message, &self.settings, Vec::new());
        let Some(reply_to) = self.message.reply.clone() else {
            let error = RespondError::<E>::NoReplySubject { subject };
            end_with_error(&cx, "no_reply_subject", &error);
            return Err(error);
        };
        let event = match self.received.event {
            Ok(event) => event,
            Err(source) => {
                end_with_decode_error(&cx, &source);
                return Err(RespondError::Decode { subject, source });
            }
        };
        let mut reply = match run_handler(&cx, event, handler).await {
            Ok(reply) => reply,
            Err(error) => {
                record_handler_error(&cx, &error);
                cx.span().end();
                return Err(RespondError::Handler(error));
            }
        };
        set_span_as_creation_context_if_absent(&mut reply, &cx);
        let encoded = match self.received.mode {
            Mode::Binary => encode_binary(&reply),
            Mode::Structured => encode_structured(&reply),
        };
        let (mut headers, payload) = match encoded {
            Ok(encoded) => encoded,
            Err(error) => {
                end_with_error(&cx, semconv::error_type(&error), &error);
                return Err(RespondError::Encode(error));
            }
        };
        inject(&cx, &mut headers, self.settings.header_case);
        match client
            .publish_with_headers(reply_to, headers, payload)
            .await
        {
            Ok(()) => {
                cx.span().end();
                Ok(())
            }
            Err(error) => {
                end_with_error(&cx, semconv::error_type(&error.kind()), &error);
                Err(RespondError::Publish(error))
            }
        }
    }
}
