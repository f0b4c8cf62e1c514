//! The CloudEvents the flow carries and the subjects they travel on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use serde_json::{Value, json};

use super::FlowError;

/// Core NATS subject tap publishes captured events on.
pub const TAP_SUBJECT: &str = "tap.events";
/// JetStream subject pipeline publishes scoring jobs on.
pub const JOBS_SUBJECT: &str = "jobs.score";
/// The JetStream stream holding [`JOBS_SUBJECT`].
pub const JOBS_STREAM: &str = "JOBS";
/// The stream's subjects.
pub const JOBS_STREAM_SUBJECTS: &str = "jobs.>";
/// The durable pull consumer ensemble reads jobs with.
pub const JOBS_CONSUMER: &str = "ensemble";
/// Core NATS subject ensemble publishes usage on.
pub const USAGE_SUBJECT: &str = "usage.recorded";

/// `com.example.tap.event`: what a customer did, captured at the edge.
pub const TAP_EVENT_TYPE: &str = "com.example.tap.event";
/// `com.example.pipeline.job`: a scoring job for the ensemble.
pub const JOB_EVENT_TYPE: &str = "com.example.pipeline.job";
/// `com.example.usage.recorded`: tokens an LLM call used, to be billed.
pub const USAGE_EVENT_TYPE: &str = "com.example.usage.recorded";

/// A unique event id with `prefix`.
pub fn event_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{nanos:x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The event tap publishes for a request body (JSON, or any text).
pub fn tap_event(body: &[u8]) -> Result<Event, FlowError> {
    let data: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| json!({ "text": String::from_utf8_lossy(body) }));
    build(
        EventBuilderV10::new()
            .id(event_id("tap"))
            .source("/tap")
            .ty(TAP_EVENT_TYPE)
            .data("application/json", data),
    )
}

/// The scoring job pipeline derives from a tap event.
pub fn job_event(tap: &Event) -> Result<Event, FlowError> {
    let data = json_data(tap)?;
    let prompt = data
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or("score this customer")
        .to_owned();
    build(
        EventBuilderV10::new()
            .id(event_id("job"))
            .source("/pipeline")
            .ty(JOB_EVENT_TYPE)
            .subject(tap.id())
            .data(
                "application/json",
                json!({
                    "tap_event": tap.id(),
                    "customer": data.get("customer").cloned().unwrap_or(Value::Null),
                    "prompt": prompt,
                }),
            ),
    )
}

/// The usage event ensemble publishes after an LLM call.
pub fn usage_event(job: &Event, completion: &Value) -> Result<Event, FlowError> {
    let data = json_data(job)?;
    let usage = completion.get("usage").cloned().unwrap_or(Value::Null);
    build(
        EventBuilderV10::new()
            .id(event_id("usage"))
            .source("/ensemble")
            .ty(USAGE_EVENT_TYPE)
            .subject(job.id())
            .data(
                "application/json",
                json!({
                    "job": job.id(),
                    "customer": data.get("customer").cloned().unwrap_or(Value::Null),
                    "model": completion.get("model").cloned().unwrap_or(Value::Null),
                    "usage": usage,
                }),
            ),
    )
}

/// Total tokens of a usage event.
pub fn total_tokens(event: &Event) -> Result<u64, FlowError> {
    let data = json_data(event)?;
    let usage = data.get("usage");
    let field = |name: &str| usage.and_then(|u| u.get(name)).and_then(Value::as_u64);
    match (field("prompt_tokens"), field("completion_tokens")) {
        (Some(p), Some(c)) => Ok(p + c),
        _ => Err(FlowError::BadEvent(format!(
            "usage event {} has no token counts",
            event.id()
        ))),
    }
}

/// The event's data as JSON.
pub fn json_data(event: &Event) -> Result<Value, FlowError> {
    match event.data() {
        Some(cloudevents::Data::Json(value)) => Ok(value.clone()),
        Some(cloudevents::Data::Binary(bytes)) => serde_json::from_slice(bytes)
            .map_err(|e| FlowError::BadEvent(format!("event {}: {e}", event.id()))),
        Some(cloudevents::Data::String(text)) => serde_json::from_str(text)
            .map_err(|e| FlowError::BadEvent(format!("event {}: {e}", event.id()))),
        None => Err(FlowError::BadEvent(format!(
            "event {} has no data",
            event.id()
        ))),
    }
}

fn build(builder: EventBuilderV10) -> Result<Event, FlowError> {
    builder
        .build()
        .map_err(|e| FlowError::BadEvent(format!("cannot build the event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_carries_customer_and_tokens_through() {
        let tap = tap_event(br#"{"customer":"acme","prompt":"upsell?"}"#).expect("tap");
        assert_eq!(tap.ty(), TAP_EVENT_TYPE);
        let job = job_event(&tap).expect("job");
        assert_eq!(json_data(&job).expect("json")["customer"], "acme");
        let completion = json!({"model":"m","usage":{"prompt_tokens":3,"completion_tokens":4}});
        let usage = usage_event(&job, &completion).expect("usage");
        assert_eq!(total_tokens(&usage).expect("tokens"), 7);
        assert_eq!(json_data(&usage).expect("json")["customer"], "acme");
    }

    #[test]
    fn text_bodies_and_missing_counts_are_handled() {
        let tap = tap_event(b"not json").expect("tap");
        assert_eq!(json_data(&tap).expect("json")["text"], "not json");
        let job = job_event(&tap).expect("job");
        let usage = usage_event(&job, &json!({})).expect("usage");
        assert!(matches!(total_tokens(&usage), Err(FlowError::BadEvent(_))));
        assert_ne!(event_id("a"), event_id("a"), "ids are unique");
    }
}
