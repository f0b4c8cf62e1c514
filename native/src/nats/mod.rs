//! Trace context and CloudEvents over NATS: core NATS, JetStream and
//! request-reply, over [`async_nats`].
//!
//! ```no_run
//! use cloudevents::{EventBuilder, EventBuilderV10};
//! use futures_util::StreamExt;
//! use meshtrace::nats::{Publisher, Subscription};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//!
//! // Consumer: a CONSUMER span `process orders.created` per message,
//! // child of the publisher's span, current while the handler runs.
//! let mut orders = Subscription::subscribe(&client, "orders.created").await?;
//! tokio::spawn(async move {
//!     while let Some(delivery) = orders.next().await {
//!         let _ = delivery
//!             .process(|event| async move { Ok::<_, std::io::Error>(event) })
//!             .await;
//!     }
//! });
//!
//! // Producer: a PRODUCER span `send orders.created`, child of the current
//! // span; `traceparent` in the NATS headers and in the event.
//! let event = EventBuilderV10::new()
//!     .id("order-1")
//!     .source("/checkout")
//!     .ty("com.example.order.created")
//!     .build()?;
//! Publisher::new(client).publish("orders.created", event).await?;
//! # Ok(())
//! # }
//! ```
//!
//! - [`Publisher`]: core NATS publish (PRODUCER) and
//!   [`request`](Publisher::request) (CLIENT), binary or structured
//!   ([`Mode`]).
//! - [`Subscription`] / [`Delivery`]: consume with
//!   [`process`](Delivery::process) (CONSUMER), answer requests with
//!   [`respond`](Delivery::respond).
//! - [`JetStreamPublisher`]: publish and wait for the stream's ack.
//!   [`JetStreamDelivery`]: process a pulled message; the handler's
//!   result acks, naks ([`HandlerError::Retry`]) or terms
//!   ([`HandlerError::Reject`]); nothing is acknowledged implicitly.
//! - [`MessageContext`]: the hop and creation contexts of a message, and
//!   [`ParentMode`] for how a process span relates to them.
//!
//! # Wire contract
//!
//! Services in other languages (Python `cloudevents`, Go `sdk-go`) read and
//! write these headers; this is what this module writes and accepts.
//!
//! **Header names.** NATS headers are case-sensitive on the wire, but the
//! CloudEvents NATS binding (§3.1.3.1) declares them case-insensitive and
//! Go's carriers canonicalise (`Traceparent`, `Ce-Id`). So every name is
//! **written lowercase** and **read ignoring ASCII case**; when several
//! spellings are present, the exact lowercase one wins for propagation
//! headers, the first found for `ce-*`. For Go consumers that look names
//! up case-sensitively (`http.Header(msg.Header).Get` finds only
//! `Traceparent`), [`HeaderCase::GoCanonical`] (see
//! [`Publisher::with_header_case`]) writes the propagation headers, and
//! only them, in Go's canonical MIME case instead
//! ([`canonical_mime_header_key`]).
//!
//! **Propagation headers** ([`HeaderInjector`], [`CasedHeaderInjector`],
//! [`HeaderExtractor`]), on
//! every message, binary or structured, as W3C Trace Context / Baggage text
//! (no extra encoding):
//!
//! | header        | content |
//! |---------------|---------|
//! | `traceparent` | the span that published the message (`00-{trace}-{span}-{flags}`) |
//! | `tracestate`  | vendor state, when non-empty |
//! | `baggage`     | W3C baggage, when the propagator writes it |
//!
//! **CloudEvents, binary mode** ([`encode_binary`], binding §3.1):
//!
//! | header | content |
//! |--------|---------|
//! | `ce-specversion` | `1.0` (the only version accepted) |
//! | `ce-id`, `ce-source`, `ce-type` | required; missing ones are rejected by name |
//! | `ce-subject`, `ce-time` (RFC 3339), `ce-dataschema` | when set |
//! | `ce-datacontenttype` | when set (binding §3.1.3.1) |
//! | `content-type` | the same media type, unencoded, for readers that only look there; read as `datacontenttype` when `ce-datacontenttype` is absent |
//! | `ce-<extension>` | every extension, name lowercased; integers and booleans as their canonical strings (decoded back as strings: NATS headers are untyped) |
//! | `ce-traceparent`, `ce-tracestate` | the distributed-tracing extension: the **creation** context, set once by the producer and never overwritten |
//!
//! `ce-*` values are **percent-encoded** per binding §3.1.3.2: space
//! (U+0020), `"` (U+0022), `%` (U+0025) and every character outside
//! U+0021..=U+007E are written as `%XY` (upper-case hex) per UTF-8 byte;
//! everything else is literal. Example: `Euro € 😀` →
//! `Euro%20%E2%82%AC%20%F0%9F%98%80`. Decoding first unescapes a
//! double-quoted value (RFC 7230 §3.2.6, for older senders), then
//! percent-decodes once, accepting either hex case and unnecessary
//! escapes, and rejects malformed escapes and non-UTF-8 bytes (e.g. the
//! overlong `%C0%A0`). The payload is the data: raw bytes, UTF-8 text, or
//! serialized JSON; on decode a JSON `datacontenttype`
//! (`application/json`, `text/json`, `*+json`) must parse as JSON.
//!
//! **CloudEvents, structured mode** ([`encode_structured`], binding §3.2):
//! `content-type: application/cloudevents+json; charset=utf-8` and the JSON
//! event format as the payload; `traceparent`/`tracestate` are top-level
//! members (extensions).
//!
//! **Reading** ([`decode`]): structured when `content-type` starts with
//! `application/cloudevents+json` (any case), else binary when
//! `ce-specversion` is present, else structured when the payload is a JSON
//! object with a `specversion` member (binding v1.0.2 had structured mode
//! only and no content type; header-less Go publishers such as
//! evalops/cerebro send that), else [`DecodeError::NotACloudEvent`].
//!
//! **Which context is which.** The NATS `traceparent` header is the
//! **hop**: the span that sent this message (rewritten at every hop). The
//! event's `traceparent` extension is the **creation** context: set once,
//! by the first meshtrace producer when the event has none, and carried
//! unchanged by every forwarder (distributed-tracing extension). A
//! consumer's span is a child of the hop (else of the creation context,
//! else a new root) and links the creation context when it differs.
//! Malformed values of either are ignored (W3C Trace Context §4.2–4.3:
//! restart the trace); they never fail processing.
//!
//! # Span contract
//!
//! Scope `meshtrace`. Span names are `{operation} {subject}`, or
//! `{operation} {template}` with `with_destination_template`.
//!
//! | operation | kind | name | `messaging.operation.type` / `.name` | ends |
//! |---|---|---|---|---|
//! | [`Publisher::publish`] | PRODUCER | `send <subject>` | `send` / `send` | when the client has queued the message |
//! | [`JetStreamPublisher::publish`] | PRODUCER | `send <subject>` | `send` / `send` | after the stream's ack |
//! | [`Publisher::request`] | CLIENT | `request <subject>` | `send` / `request` | after the reply (links the responder's span) |
//! | [`Delivery::process`], [`Delivery::respond`], [`JetStreamDelivery::process`] | CONSUMER | `process <subject>` | `process` / `process` | after the handler (and the reply, or the ack) |
//!
//! Attributes on every span (messaging and CloudEvents semantic
//! conventions, plus `messaging.nats.*` of meshtrace's own):
//!
//! | attribute | value |
//! |---|---|
//! | `messaging.system` | `nats` |
//! | `messaging.destination.name` | the subject |
//! | `messaging.destination.template` | the template, when configured |
//! | `messaging.message.id`, `cloudevents.event_id` | the event `id` |
//! | `cloudevents.event_source`, `cloudevents.event_type`, `cloudevents.event_subject`, `cloudevents.event_spec_version` | the event's attributes |
//! | `messaging.message.body.size` | the NATS payload in bytes |
//! | `server.address`, `server.port` | the server from its INFO (not when it listens on a wildcard address), or `with_server_address` |
//! | `messaging.consumer.group.name` | the queue group ([`Subscription::queue_subscribe`]) |
//! | `messaging.destination.subscription.name` | the JetStream consumer |
//! | `messaging.nats.jetstream.stream`, `messaging.nats.jetstream.sequence` | the stream and stream sequence (JetStream publish ack and deliveries) |
//! | `messaging.nats.message.delivery_count` | the delivery attempt, from 1 (JetStream) |
//! | `messaging.nats.jetstream.ack` | `ack`, `nak` or `term`: how the handler settled the message |
//! | `error.type` | on failure: the handler error's type name, a [`DecodeError::kind`] (e.g. `missing_attribute`), or the client's error kind in snake case (`max_payload_exceeded`, `timed_out`, `no_responders`) |
//!
//! The sampler sees the attributes the messaging conventions call
//! sampling-relevant (`messaging.system`, `messaging.operation.*`,
//! `messaging.destination.*`, `messaging.consumer.group.name`,
//! `server.*`, and on JetStream deliveries the `messaging.nats.*` delivery
//! attributes) and, on CONSUMER spans, the links; the others are set after
//! the span starts and only when it records, so an unsampled message pays
//! for none of them.
//! <https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/#messaging-attributes>
//!
//! ```
//! use cloudevents::{EventBuilder, EventBuilderV10};
//! use meshtrace::nats::{creation_context, decode, encode_binary};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let event = EventBuilderV10::new()
//!     .id("order-1")
//!     .source("/checkout")
//!     .ty("com.example.order.created")
//!     .extension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
//!     .data("application/json", serde_json::json!({"sku": "sku-1"}))
//!     .build()?;
//! let (headers, payload) = encode_binary(&event)?;
//! assert_eq!(headers.get("ce-id").map(|v| v.as_str()), Some("order-1"));
//!
//! let received = decode(Some(&headers), &payload)?;
//! assert!(creation_context(&received).is_some());
//! # Ok(())
//! # }
//! ```

mod binding;
mod carrier;
mod context;
mod extension;
mod header_case;
mod jetstream;
mod percent;
mod publisher;
mod receive;
pub mod semconv;
mod send;
mod subscription;

pub use binding::{
    CE_PREFIX, CONTENT_TYPE, DecodeError, EncodeError, SPEC_VERSION, STRUCTURED_CONTENT_TYPE,
    decode, encode_binary, encode_structured,
};
pub use carrier::{CasedHeaderInjector, HeaderExtractor, HeaderInjector};
pub use context::{MessageContext, ParentMode};
pub use extension::{creation_context, set_creation_context_if_absent};
pub use header_case::{HeaderCase, canonical_mime_header_key};
pub use jetstream::{
    DeliveryInfo, HandlerError, JetStreamDelivery, JetStreamProcessError, JetStreamPublishError,
    JetStreamPublisher,
};
pub use percent::{percent_decode, percent_encode};
pub use publisher::{PublishError, Publisher, Reply, RequestError};
pub use send::Mode;
pub use subscription::{Delivery, ProcessError, RespondError, Subscription};
