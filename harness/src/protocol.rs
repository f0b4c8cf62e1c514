//! The OTLP transport, as the harness's users name it: the filter's
//! `collector.protocol`, the receiver's record of what an export came
//! over, the benchmarks' tracer setting and the demo's collector choice.

use std::fmt;

/// An OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// OTLP/HTTP with a binary protobuf body (`POST /v1/traces`), the OTLP
    /// default.
    #[default]
    HttpProtobuf,
    /// OTLP/gRPC (`TraceService/Export`, cleartext HTTP/2 here).
    Grpc,
}

// === impl Protocol ===

impl Protocol {
    /// Both, HTTP first.
    pub const ALL: [Protocol; 2] = [Protocol::HttpProtobuf, Protocol::Grpc];

    /// The spelling of `OTEL_EXPORTER_OTLP_PROTOCOL` and of the filter's
    /// `collector.protocol`: `http/protobuf`, `grpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }

    /// The collector cluster of this transport in the shipped Envoy
    /// configs (`envoy/sidecar.yaml`, `envoy/gateway.yaml`).
    pub fn shipped_cluster(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "otel_collector",
            Protocol::Grpc => "otel_collector_grpc",
        }
    }

    /// Parses [`Protocol::as_str`]'s spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips_and_names_the_shipped_cluster() {
        for protocol in Protocol::ALL {
            assert_eq!(Protocol::parse(protocol.as_str()), Some(protocol));
        }
        assert_eq!(Protocol::parse("http/json"), None);
        assert_eq!(Protocol::Grpc.shipped_cluster(), "otel_collector_grpc");
        assert_eq!(Protocol::HttpProtobuf.to_string(), "http/protobuf");
    }
}
