//! One span as the demo draws and checks it: flattened out of OTLP, with
//! the few fields a waterfall needs.

mod json;

pub use json::JsonError;
use meshtrace_harness::otlp::ReceivedSpan;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

/// The instrumentation scope the Envoy filter exports under.
pub const FILTER_SCOPE: &str = "meshtrace-filter";

/// A span's kind, as OTLP has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `SPAN_KIND_UNSPECIFIED`.
    Unspecified,
    /// `SPAN_KIND_INTERNAL`.
    Internal,
    /// `SPAN_KIND_SERVER`.
    Server,
    /// `SPAN_KIND_CLIENT`.
    Client,
    /// `SPAN_KIND_PRODUCER`.
    Producer,
    /// `SPAN_KIND_CONSUMER`.
    Consumer,
}

/// A span's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not set (the default: success for most instrumentation).
    Unset,
    /// Explicitly OK.
    Ok,
    /// An error.
    Error,
}

/// One span, ready to be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    /// Lowercase hex trace id.
    pub trace_id: String,
    /// Lowercase hex span id.
    pub span_id: String,
    /// Lowercase hex parent span id, empty for a root.
    pub parent_span_id: String,
    /// The resource's `service.name`.
    pub service: String,
    /// The span name.
    pub name: String,
    /// The span kind.
    pub kind: Kind,
    /// Whether Envoy (the meshtrace filter) reported it.
    pub proxy: bool,
    /// Start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// End, Unix nanoseconds.
    pub end_unix_nanos: u64,
    /// The status code.
    pub status: Status,
}

// === impl Kind ===

impl Kind {
    /// From the OTLP enum value.
    pub fn from_otlp(kind: i32) -> Self {
        match SpanKind::try_from(kind) {
            Ok(SpanKind::Internal) => Self::Internal,
            Ok(SpanKind::Server) => Self::Server,
            Ok(SpanKind::Client) => Self::Client,
            Ok(SpanKind::Producer) => Self::Producer,
            Ok(SpanKind::Consumer) => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    /// Upper-case label, as in the OTLP enum (`SERVER`, `CONSUMER`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Internal => "INTERNAL",
            Self::Server => "SERVER",
            Self::Client => "CLIENT",
            Self::Producer => "PRODUCER",
            Self::Consumer => "CONSUMER",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

// === impl Status ===

impl Status {
    /// From the OTLP status, absent meaning unset.
    pub fn from_otlp(code: Option<i32>) -> Self {
        match code.map(StatusCode::try_from) {
            Some(Ok(StatusCode::Ok)) => Self::Ok,
            Some(Ok(StatusCode::Error)) => Self::Error,
            _ => Self::Unset,
        }
    }

    /// `OK`, `ERROR` or `-`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unset => "-",
            Self::Ok => "OK",
            Self::Error => "ERROR",
        }
    }
}

// === impl SpanRecord ===

impl SpanRecord {
    /// Flattens a span the OTLP receiver got.
    pub fn from_received(span: &ReceivedSpan) -> Self {
        Self {
            trace_id: span.trace_id(),
            span_id: span.span_id(),
            parent_span_id: span.parent_span_id(),
            service: span.service_name.clone(),
            name: span.span.name.clone(),
            kind: Kind::from_otlp(span.span.kind),
            proxy: span.scope_name == FILTER_SCOPE,
            start_unix_nanos: span.span.start_time_unix_nano,
            end_unix_nanos: span.span.end_time_unix_nano,
            status: Status::from_otlp(span.span.status.as_ref().map(|s| s.code)),
        }
    }

    /// Every span the receiver got so far.
    pub fn all_from(spans: &[ReceivedSpan]) -> Vec<Self> {
        spans.iter().map(Self::from_received).collect()
    }

    /// The service, marked `[envoy]` when a proxy reported the span.
    pub fn service_label(&self) -> String {
        if self.proxy {
            format!("{} [envoy]", self.service)
        } else {
            self.service.clone()
        }
    }

    /// Its duration in nanoseconds (0 if the clock went backwards).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Span lists for the unit tests.

    use super::*;

    /// The trace id of every test span.
    pub(crate) const TRACE_ID: &str = "tttttttttttttttttttttttttttttttt";

    /// A span of trace [`TRACE_ID`], `start`..`end` in microseconds from 0.
    pub(crate) fn span(
        id: &str,
        parent: &str,
        service: &str,
        name: &str,
        kind: Kind,
        start_us: u64,
        end_us: u64,
    ) -> SpanRecord {
        SpanRecord {
            trace_id: TRACE_ID.to_owned(),
            span_id: id.to_owned(),
            parent_span_id: parent.to_owned(),
            service: service.to_owned(),
            name: name.to_owned(),
            kind,
            proxy: false,
            start_unix_nanos: 1_000_000_000 + start_us * 1_000,
            end_unix_nanos: 1_000_000_000 + end_us * 1_000,
            status: Status::Unset,
        }
    }

    /// Three spans 0..100 µs: gateway SERVER root, tap PRODUCER child
    /// (10..20), and a failed meter CONSUMER child named `failed_name`
    /// over `failed_us`.
    pub(crate) fn sample_trace(failed_name: &str, failed_us: (u64, u64)) -> Vec<SpanRecord> {
        let mut failed = span(
            "c2",
            "root",
            "meter",
            failed_name,
            Kind::Consumer,
            failed_us.0,
            failed_us.1,
        );
        failed.status = Status::Error;
        vec![
            span("root", "", "gateway", "POST", Kind::Server, 0, 100),
            span(
                "c1",
                "root",
                "tap",
                "send tap.events",
                Kind::Producer,
                10,
                20,
            ),
            failed,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_map_from_otlp() {
        assert_eq!(Kind::from_otlp(2), Kind::Server);
        assert_eq!(Kind::from_otlp(5), Kind::Consumer);
        assert_eq!(Kind::from_otlp(99), Kind::Unspecified, "unknown value");
        assert_eq!(Status::from_otlp(None), Status::Unset);
        assert_eq!(Status::from_otlp(Some(2)), Status::Error);
        assert_eq!(Status::from_otlp(Some(1)), Status::Ok);
    }

    #[test]
    fn proxy_spans_are_labelled() {
        let mut s = testing::span("a", "", "tap", "POST", Kind::Server, 0, 5);
        assert_eq!(s.service_label(), "tap");
        s.proxy = true;
        assert_eq!(s.service_label(), "tap [envoy]");
        assert_eq!(s.duration_nanos(), 5_000);
    }
}
