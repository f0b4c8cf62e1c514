//! The filter's JSON configuration, built with typed methods instead of
//! written by hand: the tests, the demo and the benchmarks all go through
//! [`FilterConfig`], and so produce configurations the filter's parser
//! reads (fields and defaults: `meshtrace_filter::config::Config`).
//!
//! A `FilterConfig` holds only the members that were set; everything else
//! is left at the filter's default. Two of them merge member by member
//! ([`FilterConfig::merged`]), which is how a shipped configuration is
//! varied without restating it.
//!
//! ```
//! use meshtrace_harness::Protocol;
//! use meshtrace_harness::filter_config::FilterConfig;
//!
//! let config = FilterConfig::inbound("orders")
//!     .with_collector(Protocol::Grpc)
//!     .with_sampler_ratio(0.25)
//!     .with_flush_interval_ms(200);
//! assert_eq!(
//!     config.to_json(),
//!     r#"{"batch":{"flush_interval_ms":200},"collector":{"cluster":"otel_collector_grpc","protocol":"grpc"},"direction":"inbound","sampler":{"ratio":0.25},"service_name":"orders"}"#
//! );
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::Protocol;

/// `direction`: which span kind the filter instance makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// SERVER spans (requests into the local workload).
    Inbound,
    /// CLIENT spans (requests the local workload makes).
    Outbound,
}

/// A configuration text that is not a JSON object.
#[derive(Debug, thiserror::Error)]
#[error("the filter configuration {text:?} is not a JSON object: {problem}")]
pub struct FilterConfigError {
    /// The text.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Members of the filter's JSON configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterConfig {
    members: Map<String, Value>,
}

// === impl Direction ===

impl Direction {
    /// The JSON spelling: `inbound`, `outbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

// === impl FilterConfig ===

impl FilterConfig {
    /// No member set.
    pub fn new() -> Self {
        Self::default()
    }

    /// `direction` and `service_name`.
    pub fn with_role(direction: Direction, service_name: &str) -> Self {
        Self::new()
            .with_direction(direction)
            .with_service_name(service_name)
    }

    /// An inbound instance (SERVER spans) of `service_name`.
    pub fn inbound(service_name: &str) -> Self {
        Self::with_role(Direction::Inbound, service_name)
    }

    /// An outbound instance (CLIENT spans) of `service_name`.
    pub fn outbound(service_name: &str) -> Self {
        Self::with_role(Direction::Outbound, service_name)
    }

    /// Reads a configuration text (e.g. one shipped in an Envoy config).
    ///
    /// # Errors
    ///
    /// [`FilterConfigError`] when it is not a JSON object.
    pub fn parse(text: &str) -> Result<Self, FilterConfigError> {
        let error = |problem: String| FilterConfigError {
            text: text.to_owned(),
            problem,
        };
        match serde_json::from_str(text).map_err(|e| error(e.to_string()))? {
            Value::Object(members) => Ok(Self { members }),
            other => Err(error(format!("it is {other}"))),
        }
    }

    /// `direction`, when set to a known value.
    pub fn direction(&self) -> Option<Direction> {
        match self.members.get("direction")?.as_str()? {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }

    /// Sets `direction`.
    pub fn with_direction(self, direction: Direction) -> Self {
        self.with_member("direction", direction.as_str())
    }

    /// Sets `service_name`.
    pub fn with_service_name(self, name: &str) -> Self {
        self.with_member("service_name", name)
    }

    /// Exports over `protocol` to its cluster in the shipped configs
    /// (`collector.cluster`, `collector.protocol`).
    pub fn with_collector(self, protocol: Protocol) -> Self {
        self.with_collector_cluster(protocol.shipped_cluster())
            .with_member("collector.protocol", protocol.as_str())
    }

    /// Sets `collector.cluster`.
    pub fn with_collector_cluster(self, cluster: &str) -> Self {
        self.with_member("collector.cluster", cluster)
    }

    /// Sets `collector.timeout_ms`.
    pub fn with_collector_timeout_ms(self, ms: u32) -> Self {
        self.with_member("collector.timeout_ms", ms)
    }

    /// Sets `sampler.ratio`.
    pub fn with_sampler_ratio(self, ratio: f64) -> Self {
        self.with_member("sampler.ratio", ratio)
    }

    /// Sets `batch.max_spans`.
    pub fn with_max_spans(self, spans: u32) -> Self {
        self.with_member("batch.max_spans", spans)
    }

    /// Sets `batch.flush_interval_ms`.
    pub fn with_flush_interval_ms(self, ms: u32) -> Self {
        self.with_member("batch.flush_interval_ms", ms)
    }

    /// Sets `batch.max_queued_spans`.
    pub fn with_max_queued_spans(self, spans: u32) -> Self {
        self.with_member("batch.max_queued_spans", spans)
    }

    /// Sets `batch.max_in_flight`.
    pub fn with_max_in_flight(self, calls: u32) -> Self {
        self.with_member("batch.max_in_flight", calls)
    }

    /// Sets `spawn_upstream_span` (inbound only).
    pub fn with_spawn_upstream_span(self, on: bool) -> Self {
        self.with_member("spawn_upstream_span", on)
    }

    /// Sets `traceresponse` (`"off"`, `"on"` or `"strip"`).
    pub fn with_traceresponse(self, mode: &str) -> Self {
        self.with_member("traceresponse", mode)
    }

    /// Sets `attributes.connection`.
    pub fn with_connection_attributes(self, on: bool) -> Self {
        self.with_member("attributes.connection", on)
    }

    /// Sets the member at the dotted `path` (`batch.max_spans`), making the
    /// objects on the way: for fields without a method of their own, and
    /// for configurations the filter must refuse (`batch.max_spanz`).
    pub fn with_member(mut self, path: &str, value: impl Into<Value>) -> Self {
        let mut members = &mut self.members;
        let mut keys = path.split('.').peekable();
        while let Some(key) = keys.next() {
            if keys.peek().is_none() {
                members.insert(key.to_owned(), value.into());
                break;
            }
            let slot = members
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(inner) = slot else { break };
            members = inner;
        }
        self
    }

    /// `self` with every member of `other` set over it; objects merge
    /// member by member.
    pub fn merged(mut self, other: &FilterConfig) -> Self {
        merge(&mut self.members, &other.members);
        self
    }

    /// The configuration as compact JSON, members sorted by name.
    pub fn to_json(&self) -> String {
        Value::Object(self.members.clone()).to_string()
    }
}

impl fmt::Display for FilterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(more)) => merge(inner, more),
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_members_and_keeps_siblings() {
        let config = FilterConfig::outbound("ensemble")
            .with_max_spans(512)
            .with_flush_interval_ms(1000)
            .with_collector_timeout_ms(200)
            .with_collector(Protocol::HttpProtobuf);
        assert_eq!(
            config.to_json(),
            r#"{"batch":{"flush_interval_ms":1000,"max_spans":512},"collector":{"cluster":"otel_collector","protocol":"http/protobuf","timeout_ms":200},"direction":"outbound","service_name":"ensemble"}"#
        );
        assert_eq!(config.direction(), Some(Direction::Outbound));
    }

    #[test]
    fn merges_member_by_member() {
        let shipped = FilterConfig::parse(
            r#"{"service_name":"app","direction":"inbound","collector":{"cluster":"otel_collector","protocol":"http/protobuf"}}"#,
        )
        .expect("an object");
        let tweak = FilterConfig::new()
            .with_collector_timeout_ms(200)
            .with_member("batch.max_spanz", 1);
        let merged = shipped.merged(&tweak);
        assert_eq!(
            merged.to_json(),
            r#"{"batch":{"max_spanz":1},"collector":{"cluster":"otel_collector","protocol":"http/protobuf","timeout_ms":200},"direction":"inbound","service_name":"app"}"#
        );
    }

    #[test]
    fn a_member_over_a_scalar_replaces_it() {
        let config = FilterConfig::new()
            .with_member("sampler", 1)
            .with_sampler_ratio(0.5);
        assert_eq!(config.to_json(), r#"{"sampler":{"ratio":0.5}}"#);
    }

    #[test]
    fn only_objects_parse() {
        for (text, reason) in [("[1]", "an array"), ("{", "truncated"), ("", "empty")] {
            assert!(FilterConfig::parse(text).is_err(), "{reason}");
        }
        assert_eq!(
            FilterConfig::parse(r#"{"direction":"sideways"}"#)
                .expect("an object")
                .direction(),
            None,
            "an unknown direction is kept but not named"
        );
    }
}
