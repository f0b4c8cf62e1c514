//! The CloudEvents NATS protocol binding (binary and structured content
//! modes) and the distributed-tracing extension, over `cloudevents::Event`.
//!
//! Spec: <https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/nats-protocol-binding.md>
//! and <https://github.com/cloudevents/spec/blob/main/cloudevents/extensions/distributed-tracing.md>.

use std::borrow::Cow;
use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use cloudevents::event::{AttributeValue, EventBuilderError, SpecVersion, TryIntoUrl};
use cloudevents::{AttributesReader, AttributesWriter, Data, Event, EventBuilder, EventBuilderV10};

use super::carrier::HeaderExtractor;
use super::percent::{percent_decode, percent_encode};

/// Prefix of every binary-mode attribute header (binding §3.1.3.1), written
/// lowercase and matched case-insensitively.
pub const CE_PREFIX: &str = "ce-";

/// The media-type header (lowercase): `datacontenttype` in binary mode,
/// [`STRUCTURED_CONTENT_TYPE`] in structured mode.
pub const CONTENT_TYPE: &str = "content-type";

/// `content-type` of a structured-mode message: the JSON event format
/// (binding §3, §1.4).
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// The only `specversion` this binding reads and writes.
pub const SPEC_VERSION: &str = "1.0";

/// Why an event could not be encoded as a NATS message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An extension name cannot form a NATS header name (`ce-<name>`
    /// must be printable ASCII without `:`).
    #[error("extension `{name}` cannot be a NATS header name")]
    InvalidExtensionName {
        /// The extension name as set on the event.
        name: String,
    },
    /// The event or its JSON data could not be serialized.
    #[error("serializing event `{id}` as JSON: {source}")]
    Json {
        /// The event's `id`.
        id: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
}

/// Why a NATS message could not be decoded as a CloudEvent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Neither a structured `content-type` nor a `ce-specversion` header.
    #[error(
        "not a CloudEvent: no `content-type: application/cloudevents+json`, no `ce-specversion` header and no JSON `specversion` member"
    )]
    NotACloudEvent,
    /// A required context attribute (`id`, `source`, `specversion`,
    /// `type`) is absent.
    #[error("required attribute `{name}` is missing")]
    MissingAttribute {
        /// The attribute name.
        name: &'static str,
    },
    /// `specversion` is not `1.0`.
    #[error("unsupported specversion `{version}` (expected `1.0`)")]
    UnsupportedSpecVersion {
        /// The version found.
        version: String,
    },
    /// A `ce-*` header value is not valid per binding §3.1.3.2.
    #[error("header `{header}` is not valid percent-encoding: {reason}")]
    InvalidHeaderValue {
        /// The header name as received.
        header: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// A structured payload is not a JSON-format CloudEvent.
    #[error("structured payload is not a valid JSON CloudEvent: {source}")]
    InvalidJson {
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A binary payload declared as JSON by `datacontenttype` is not JSON.
    #[error("payload declared `{content_type}` is not valid JSON: {source}")]
    InvalidJsonData {
        /// The declared `datacontenttype`.
        content_type: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// An attribute value does not fit its type (`time`, `dataschema`...).
    #[error("invalid attribute: {reason}")]
    InvalidAttribute {
        /// The SDK's message, which names the attribute.
        reason: String,
    },
}

// === impl DecodeError ===

impl DecodeError {
    /// A low-cardinality name for the failure, used as `error.type` on
    /// the consumer's span (e.g. `missing_attribute`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotACloudEvent => "not_a_cloudevent",
            Self::MissingAttribute { .. } => "missing_attribute",
            Self::UnsupportedSpecVersion { .. } => "unsupported_specversion",
            Self::InvalidHeaderValue { .. } => "invalid_header_value",
            Self::InvalidJson { .. } => "invalid_json",
            Self::InvalidJsonData { .. } => "invalid_json_data",
            Self::InvalidAttribute { .. } => "invalid_attribute",
        }
    }
}

// === encode ===

/// Binary content mode (binding §3.1): every context attribute and
/// extension as a lowercase `ce-<name>` header, values percent-encoded
/// (§3.1.3.2); `datacontenttype` also as `content-type`; the data as the
/// payload (binary raw, text as UTF-8, JSON serialized).
pub fn encode_binary(event: &Event) -> Result<(HeaderMap, Bytes), EncodeError> {
    let mut headers = HeaderMap::new();
    for (name, value) in event.iter_attributes() {
        insert_encoded(&mut headers, name, &attribute_text(&value))?;
    }
    for (name, value) in event.iter_extensions() {
        insert_encoded(&mut headers, name, &attribute_text(&value.into()))?;
    }
    if let Some(ct) = event.datacontenttype()
        && let Ok(value) = HeaderValue::from_str(ct)
    {
        headers.insert(CONTENT_TYPE, value);
    }
    let payload = match event.data() {
        None => Bytes::new(),
        Some(Data::Binary(b)) => Bytes::copy_from_slice(b),
        Some(Data::String(s)) => Bytes::copy_from_slice(s.as_bytes()),
        Some(Data::Json(j)) => serde_json::to_vec(j)
            .map_err(|source| EncodeError::Json {
                id: event.id().to_owned(),
                source,
            })?
            .into(),
    };
    Ok((headers, payload))
}

/// Structured content mode (binding §3.2): `content-type:
/// application/cloudevents+json; charset=utf-8` and the whole event in the
/// JSON event format as the payload.
pub fn encode_structured(event: &Event) -> Result<(HeaderMap, Bytes), EncodeError> {
    let payload = serde_json::to_vec(event).map_err(|source| EncodeError::Json {
        id: event.id().to_owned(),
        source,
    })?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, STRUCTURED_CONTENT_TYPE);
    Ok((headers, payload.into()))
}

fn insert_encoded(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), EncodeError> {
    let header = ce_header_name(name)?;
    // Percent-encoded values are printable ASCII, so always valid.
    headers.insert(header, percent_encode(value));
    Ok(())
}

/// The `ce-<name>` header of an attribute or extension: a static name
/// for the context attributes and the distributed-tracing extension, which
/// every event carries (no allocation), else `ce-` and the name lowercased
/// (binding §3.1.3.1).
fn ce_header_name(name: &str) -> Result<HeaderName, EncodeError> {
    let known = match name {
        "specversion" => "ce-specversion",
        "id" => "ce-id",
        "type" => "ce-type",
        "source" => "ce-source",
        "datacontenttype" => "ce-datacontenttype",
        "dataschema" => "ce-dataschema",
        "subject" => "ce-subject",
        "time" => "ce-time",
        crate::TRACEPARENT => "ce-traceparent",
        crate::TRACESTATE => "ce-tracestate",
        _ => {
            let mut header = String::with_capacity(CE_PREFIX.len() + name.len());
            header.push_str(CE_PREFIX);
            header.extend(name.chars().map(|c| c.to_ascii_lowercase()));
            return HeaderName::from_str(&header).map_err(|_| EncodeError::InvalidExtensionName {
                name: name.to_owned(),
            });
        }
    };
    Ok(HeaderName::from_static(known))
}

/// An attribute's value as text (CloudEvents §"Type System": the canonical
/// string encoding), borrowed where the event holds it as text.
fn attribute_text<'a>(value: &AttributeValue<'a>) -> Cow<'a, str> {
    match *value {
        AttributeValue::String(s) => Cow::Borrowed(s),
        AttributeValue::URI(uri) => Cow::Borrowed(uri.as_str()),
        AttributeValue::URIRef(uri) => Cow::Borrowed(uri.as_str()),
        AttributeValue::SpecVersion(SpecVersion::V10) => Cow::Borrowed(SPEC_VERSION),
        ref other => Cow::Owned(other.to_string()),
    }
}

// === decode ===

/// Decodes a NATS message (binding §3): structured when `content-type`
/// starts with `application/cloudevents+json` (case-insensitive), binary
/// when a `ce-specversion` header is present. Header names match
/// case-insensitively.
///
/// Otherwise, a payload that is a JSON object with a `specversion` member
/// is read as a structured event: NATS binding v1.0.2 §3 made structured
/// mode the only mode ("the content mode is always structured"), so
/// senders written against it, and header-less publishers such as the Go
/// service evalops/cerebro (`js.Publish(subject, json)` with only
/// `Nats-Msg-Id`), send no content type. Anything else is
/// [`DecodeError::NotACloudEvent`].
pub fn decode(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<Event, DecodeError> {
    let extractor = headers.map(HeaderExtractor);
    let content_type = extractor.and_then(|e| e.get_ignore_case(CONTENT_TYPE));
    if content_type.is_some_and(is_structured) {
        return decode_structured(payload);
    }
    if let Some(headers) = headers
        && HeaderExtractor(headers)
            .get_ignore_case("ce-specversion")
            .is_some()
    {
        return decode_binary(headers, content_type, payload);
    }
    if looks_structured(payload) {
        return decode_structured(payload);
    }
    Err(DecodeError::NotACloudEvent)
}

/// Whether a payload sent without any CloudEvents marker is a JSON-format
/// event: a JSON object with a `specversion` member.
fn looks_structured(payload: &[u8]) -> bool {
    if payload.trim_ascii_start().first() != Some(&b'{') {
        return false;
    }
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload)
        .is_ok_and(|object| object.contains_key("specversion"))
}

fn is_structured(content_type: &str) -> bool {
    const PREFIX: &str = "application/cloudevents+json";
    content_type
        .trim_start()
        .get(..PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
}

fn decode_structured(payload: &[u8]) -> Result<Event, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|source| DecodeError::InvalidJson { source })?;
    for name in ["specversion", "id", "source", "type"] {
        if value.get(name).is_none_or(serde_json::Value::is_null) {
            return Err(DecodeError::MissingAttribute { name });
        }
    }
    match value.get("specversion").and_then(serde_json::Value::as_str) {
        Some(SPEC_VERSION) => {}
        other => {
            return Err(DecodeError::UnsupportedSpecVersion {
                version: other.map_or_else(|| value["specversion"].to_string(), str::to_owned),
            });
        }
    }
    serde_json::from_value(value).map_err(|source| DecodeError::InvalidJson { source })
}

fn decode_binary(
    headers: &HeaderMap,
    content_type: Option<&str>,
    payload: &[u8],
) -> Result<Event, DecodeError> {
    let mut builder = EventBuilderV10::new();
    let (mut id, mut source, mut ty, mut version) = (false, false, false, None);
    let mut datacontenttype = None;
    let mut dataschema = None;
    for (name, values) in headers.iter() {
        let raw: &str = name.as_ref();
        let Some((prefix, attr)) = raw.split_at_checked(CE_PREFIX.len()) else {
            continue;
        };
        if !prefix.eq_ignore_ascii_case(CE_PREFIX) {
            continue;
        }
        let Some(value) = values.first() else {
            continue;
        };
        let attr = attr.to_ascii_lowercase();
        let value =
            percent_decode(value.as_str()).map_err(|reason| DecodeError::InvalidHeaderValue {
                header: raw.to_owned(),
                reason,
            })?;
        builder = match attr.as_str() {
            "specversion" => {
                version = Some(value);
                builder
            }
            "id" => {
                id = true;
                builder.id(value)
            }
            "source" => {
                source = true;
                builder.source(value)
            }
            "type" => {
                ty = true;
                builder.ty(value)
            }
            "subject" => builder.subject(value),
            "time" => builder.time(value),
            "datacontenttype" => {
                datacontenttype = Some(value);
                builder
            }
            "dataschema" => {
                dataschema = Some(value);
                builder
            }
            _ => builder.extension(&attr, value),
        };
    }
    match version.as_deref() {
        Some(SPEC_VERSION) => {}
        Some(other) => return Err(unsupported(other)),
        None => {
            return Err(DecodeError::MissingAttribute {
                name: "specversion",
            });
        }
    }
    for (present, name) in [(id, "id"), (source, "source"), (ty, "type")] {
        if !present {
            return Err(DecodeError::MissingAttribute { name });
        }
    }
    let datacontenttype = datacontenttype.or_else(|| content_type.map(str::to_owned));
    if !payload.is_empty() {
        let ct = datacontenttype.clone().unwrap_or_default();
        builder = builder.data(ct.clone(), data_for(&ct, payload)?);
    }
    let mut event = builder.build().map_err(|e| match e {
        EventBuilderError::MissingRequiredAttribute { attribute_name } => {
            DecodeError::MissingAttribute {
                name: attribute_name,
            }
        }
        other => DecodeError::InvalidAttribute {
            reason: other.to_string(),
        },
    })?;
    // Empty data: keep the declared media type, no data; absent: none.
    event.set_datacontenttype(datacontenttype.filter(|ct| !ct.is_empty()));
    if let Some(schema) = dataschema {
        let url = schema
            .as_str()
            .into_url()
            .map_err(|e| DecodeError::InvalidAttribute {
                reason: format!("`dataschema` `{schema}` is not a URI: {e}"),
            })?;
        event.set_dataschema(Some(url));
    }
    Ok(event)
}

fn unsupported(version: &str) -> DecodeError {
    DecodeError::UnsupportedSpecVersion {
        version: version.to_owned(),
    }
}

/// Binary-mode data per `datacontenttype` (binding §2.2): JSON media types
/// parse as JSON, `text/*` in UTF-8 as a string, anything else raw.
fn data_for(content_type: &str, payload: &[u8]) -> Result<Data, DecodeError> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    if essence == "application/json" || essence == "text/json" || essence.ends_with("+json") {
        return serde_json::from_slice(payload)
            .map(Data::Json)
            .map_err(|source| DecodeError::InvalidJsonData {
                content_type: content_type.to_owned(),
                source,
            });
    }
    if essence.starts_with("text/")
        && let Ok(s) = std::str::from_utf8(payload)
    {
        return Ok(Data::String(s.to_owned()));
    }
    Ok(Data::Binary(payload.to_vec()))
}

#[cfg(test)]
mod tests;
