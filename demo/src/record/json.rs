//! A [`SpanRecord`] as one JSON object: what `trace-viewer --json-dir`
//! writes, so a test outside the viewer's container can read the trace
//! back and check it.

use serde_json::{Value, json};

use super::{Kind, SpanRecord, Status};

/// A JSON line that is not a span record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a span record: {0}")]
pub struct JsonError(pub String);

// === impl SpanRecord ===

impl SpanRecord {
    /// The record as JSON (ids in lowercase hex, kinds and statuses by
    /// their labels).
    pub fn to_json(&self) -> Value {
        json!({
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "service": self.service,
            "name": self.name,
            "kind": self.kind.label(),
            "proxy": self.proxy,
            "start_unix_nanos": self.start_unix_nanos,
            "end_unix_nanos": self.end_unix_nanos,
            "status": self.status.label(),
        })
    }

    /// Reads what [`to_json`](Self::to_json) wrote.
    ///
    /// # Errors
    ///
    /// [`JsonError`] naming the field that is missing or of another type.
    pub fn from_json(value: &Value) -> Result<Self, JsonError> {
        let text = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| JsonError(format!("`{name}` is not a string")))
        };
        let number = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_u64)
                .ok_or_else(|| JsonError(format!("`{name}` is not a number")))
        };
        let kind = text("kind")?;
        let status = text("status")?;
        Ok(Self {
            trace_id: text("trace_id")?,
            span_id: text("span_id")?,
            parent_span_id: text("parent_span_id")?,
            service: text("service")?,
            name: text("name")?,
            kind: [
                Kind::Unspecified,
                Kind::Internal,
                Kind::Server,
                Kind::Client,
                Kind::Producer,
                Kind::Consumer,
            ]
            .into_iter()
            .find(|k| k.label() == kind)
            .ok_or_else(|| JsonError(format!("unknown kind `{kind}`")))?,
            proxy: value
                .get("proxy")
                .and_then(Value::as_bool)
                .ok_or_else(|| JsonError("`proxy` is not a boolean".to_owned()))?,
            start_unix_nanos: number("start_unix_nanos")?,
            end_unix_nanos: number("end_unix_nanos")?,
            status: [Status::Unset, Status::Ok, Status::Error]
                .into_iter()
                .find(|s| s.label() == status)
                .ok_or_else(|| JsonError(format!("unknown status `{status}`")))?,
        })
    }

    /// Every record in JSON-lines `text`.
    ///
    /// # Errors
    ///
    /// [`JsonError`] for the first line that is not a record.
    pub fn all_from_json_lines(text: &str) -> Result<Vec<Self>, JsonError> {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let value: Value =
                    serde_json::from_str(line).map_err(|e| JsonError(e.to_string()))?;
                Self::from_json(&value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testing::span;

    #[test]
    fn records_round_trip_through_json_lines() {
        let mut a = span("a", "", "gateway", "POST", Kind::Server, 0, 10);
        a.proxy = true;
        a.status = Status::Error;
        let b = span("b", "a", "tap", "send tap.events", Kind::Producer, 1, 2);
        let text = format!("{}\n{}\n", a.to_json(), b.to_json());
        assert_eq!(SpanRecord::all_from_json_lines(&text), Ok(vec![a, b]));
    }

    #[test]
    fn a_line_that_is_not_a_record_is_named() {
        let mut value = span("a", "", "gateway", "POST", Kind::Server, 0, 10).to_json();
        value["trace_id"] = json!(1);
        let err = SpanRecord::all_from_json_lines(&value.to_string()).expect_err("rejected");
        assert!(err.0.contains("trace_id"), "{err}");
    }
}
