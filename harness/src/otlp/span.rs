//! One received span with the context a test asserts on.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::ReceivedExport;
use super::attrs::{attr, hex, int_attr, str_attr};
use crate::Protocol;

/// A span, flattened out of its export with its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The span itself.
    pub span: Span,
    /// The resource's `service.name` (empty when absent).
    pub service_name: String,
    /// Every resource attribute.
    pub resource_attributes: Vec<KeyValue>,
    /// The instrumentation scope's name (empty when absent).
    pub scope_name: String,
    /// The transport the export came over.
    pub protocol: Protocol,
}

// === impl ReceivedSpan ===

impl ReceivedSpan {
    /// Every span of `export`, in order.
    pub fn all_of(export: &ReceivedExport) -> Vec<Self> {
        let mut out = Vec::new();
        for rs in &export.request.resource_spans {
            let resource_attributes = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.clone())
                .unwrap_or_default();
            let service_name = resource_attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                let scope_name = ss
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                out.extend(ss.spans.iter().map(|span| Self {
                    span: span.clone(),
                    service_name: service_name.clone(),
                    resource_attributes: resource_attributes.clone(),
                    scope_name: scope_name.clone(),
                    protocol: export.protocol,
                }));
            }
        }
        out
    }

    /// Lowercase hex trace id.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// Lowercase hex span id.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// Lowercase hex parent span id (empty for a root span).
    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// A span attribute's value.
    pub fn attr(&self, key: &str) -> Option<Value> {
        attr(&self.span, key)
    }

    /// A string span attribute.
    pub fn str_attr(&self, key: &str) -> Option<String> {
        str_attr(&self.span, key)
    }

    /// An integer span attribute.
    pub fn int_attr(&self, key: &str) -> Option<i64> {
        int_attr(&self.span, key)
    }
}
