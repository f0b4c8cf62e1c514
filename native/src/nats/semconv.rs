//! Messaging and CloudEvents semantic conventions for the NATS spans:
//! attribute keys, operations and span names.
//!
//! <https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/>
//! and <https://opentelemetry.io/docs/specs/semconv/cloudevents/cloudevents-spans/>.
//! Attributes under `messaging.nats.*` are meshtrace's own: the
//! conventions define no NATS-specific attributes, and these follow the
//! `messaging.{system}.*` pattern they use for other systems.

use cloudevents::{AttributesReader, Event};
use opentelemetry::KeyValue;

pub use crate::http::semconv::{ERROR_TYPE, SERVER_ADDRESS, SERVER_PORT};

/// `messaging.system`: always [`NATS`].
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// The `messaging.system` value.
pub const NATS: &str = "nats";
/// `messaging.operation.type`: `send`, `receive` or `process`.
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// `messaging.operation.name`: `send`, `request` or `process`.
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
/// `messaging.destination.name`: the subject.
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// `messaging.destination.template`: the low-cardinality subject template.
pub const MESSAGING_DESTINATION_TEMPLATE: &str = "messaging.destination.template";
/// `messaging.destination.subscription.name`: the JetStream consumer.
pub const MESSAGING_DESTINATION_SUBSCRIPTION_NAME: &str = "messaging.destination.subscription.name";
/// `messaging.consumer.group.name`: the queue group.
pub const MESSAGING_CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
/// `messaging.message.id`: the CloudEvent `id`.
pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
/// `messaging.message.body.size`: the NATS payload in bytes.
pub const MESSAGING_MESSAGE_BODY_SIZE: &str = "messaging.message.body.size";
/// `messaging.nats.jetstream.stream` (meshtrace): the stream that stored
/// the message.
pub const NATS_JETSTREAM_STREAM: &str = "messaging.nats.jetstream.stream";
/// `messaging.nats.jetstream.sequence` (meshtrace): the stream sequence.
pub const NATS_JETSTREAM_SEQUENCE: &str = "messaging.nats.jetstream.sequence";
/// `messaging.nats.message.delivery_count` (meshtrace): which delivery
/// attempt this is, from 1 (JetStream's `num_delivered`).
pub const NATS_DELIVERY_COUNT: &str = "messaging.nats.message.delivery_count";
/// `messaging.nats.jetstream.ack` (meshtrace): how the handler settled the
/// message: `ack`, `nak` or `term`.
pub const NATS_JETSTREAM_ACK: &str = "messaging.nats.jetstream.ack";

/// `cloudevents.event_id`.
pub const CLOUDEVENTS_EVENT_ID: &str = "cloudevents.event_id";
/// `cloudevents.event_source`.
pub const CLOUDEVENTS_EVENT_SOURCE: &str = "cloudevents.event_source";
/// `cloudevents.event_type`.
pub const CLOUDEVENTS_EVENT_TYPE: &str = "cloudevents.event_type";
/// `cloudevents.event_subject`.
pub const CLOUDEVENTS_EVENT_SUBJECT: &str = "cloudevents.event_subject";
/// `cloudevents.event_spec_version`.
pub const CLOUDEVENTS_EVENT_SPEC_VERSION: &str = "cloudevents.event_spec_version";

/// What a span does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Publishing (PRODUCER span).
    Send,
    /// Publishing a request and awaiting its reply (CLIENT span).
    Request,
    /// Handling a received message (CONSUMER span).
    Process,
}

// === impl Operation ===

impl Operation {
    /// The `messaging.operation.type` value.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Send | Self::Request => "send",
            Self::Process => "process",
        }
    }

    /// The `messaging.operation.name` value, the first word of the span
    /// name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Request => "request",
            Self::Process => "process",
        }
    }

    /// The span name: `{operation} {destination}`, where destination is
    /// the template when one is configured, else the subject.
    pub fn span_name(self, subject: &str, template: Option<&str>) -> String {
        format!("{} {}", self.name(), template.unwrap_or(subject))
    }

    /// The attributes every span of this operation carries.
    pub(crate) fn attributes(self, subject: &str, template: Option<&str>) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(16);
        attributes.push(KeyValue::new(MESSAGING_SYSTEM, NATS));
        attributes.push(KeyValue::new(MESSAGING_OPERATION_TYPE, self.type_name()));
        attributes.push(KeyValue::new(MESSAGING_OPERATION_NAME, self.name()));
        attributes.push(KeyValue::new(
            MESSAGING_DESTINATION_NAME,
            subject.to_owned(),
        ));
        if let Some(template) = template {
            attributes.push(KeyValue::new(
                MESSAGING_DESTINATION_TEMPLATE,
                template.to_owned(),
            ));
        }
        attributes
    }
}

/// `messaging.message.id` and the `cloudevents.*` attributes of `event`
/// (with room for one more, the body size).
pub(crate) fn event_attributes(event: &Event) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(7);
    attributes.push(KeyValue::new(MESSAGING_MESSAGE_ID, event.id().to_owned()));
    attributes.push(KeyValue::new(CLOUDEVENTS_EVENT_ID, event.id().to_owned()));
    attributes.push(KeyValue::new(
        CLOUDEVENTS_EVENT_SOURCE,
        event.source().to_string(),
    ));
    attributes.push(KeyValue::new(CLOUDEVENTS_EVENT_TYPE, event.ty().to_owned()));
    if let Some(subject) = event.subject() {
        attributes.push(KeyValue::new(CLOUDEVENTS_EVENT_SUBJECT, subject.to_owned()));
    }
    attributes.push(KeyValue::new(
        CLOUDEVENTS_EVENT_SPEC_VERSION,
        event.specversion().to_string(),
    ));
    attributes
}

/// A low-cardinality `error.type` from an async-nats error kind's `Debug`
/// name: `TimedOut` becomes `timed_out`.
pub(crate) fn error_type(kind: &impl std::fmt::Debug) -> String {
    let name = format!("{kind:?}");
    let name = name.split(['(', ' ', '{']).next().unwrap_or_default();
    let mut snake = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_use_the_template_when_set() {
        let cases = [
            (Operation::Send, "orders.eu.1", None, "send orders.eu.1"),
            (
                Operation::Send,
                "orders.eu.1",
                Some("orders.{region}.{id}"),
                "send orders.{region}.{id}",
            ),
            (Operation::Request, "quote", None, "request quote"),
            (Operation::Process, "orders", None, "process orders"),
        ];
        for (operation, subject, template, want) in cases {
            assert_eq!(operation.span_name(subject, template), want);
        }
    }

    #[test]
    fn error_types_are_snake_case_kind_names() {
        #[derive(Debug)]
        #[allow(dead_code)]
        enum Kind {
            TimedOut,
            NoResponders,
            Other(u8),
        }
        let cases = [
            (Kind::TimedOut, "timed_out"),
            (Kind::NoResponders, "no_responders"),
            (Kind::Other(3), "other"),
        ];
        for (kind, want) in cases {
            assert_eq!(error_type(&kind), want);
        }
    }
}
