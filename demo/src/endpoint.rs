//! The collector `OTEL_EXPORTER_OTLP_ENDPOINT` names (a real Tempo or
//! Jaeger) as the demo's Envoys and services reach it, read exactly as
//! `meshtrace::init()` reads the standard variables; without it the demo
//! exports to its embedded receiver.

use meshtrace::bootstrap::OtlpProtocol;
use meshtrace::bootstrap::env::{self, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL};
use meshtrace_harness::Protocol;
use meshtrace_harness::envoy::shipped::Collector;

/// Where the Envoys' collector clusters point, and which of the two the
/// filter exports with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorTarget {
    /// Host name or address (the clusters are `STRICT_DNS`).
    pub host: String,
    /// Port of the OTLP/HTTP cluster.
    pub http_port: u16,
    /// Port of the OTLP/gRPC cluster.
    pub grpc_port: u16,
    /// Which of the two the filter uses.
    pub protocol: Protocol,
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` cannot be used by the demo's Envoys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not `http://...` (Envoy's collector clusters here are plaintext).
    #[error(
        "{OTEL_EXPORTER_OTLP_ENDPOINT}={0:?}: only http:// endpoints are supported by the demo (the Envoy collector clusters are plaintext)"
    )]
    Scheme(String),
    /// No host after the scheme.
    #[error("{OTEL_EXPORTER_OTLP_ENDPOINT}={0:?}: no host")]
    Host(String),
    /// A port that is not a number in 1..=65535.
    #[error("{OTEL_EXPORTER_OTLP_ENDPOINT}={0:?}: bad port")]
    Port(String),
}

/// The protocol of an `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` value, parsed
/// as `meshtrace`'s bootstrap parses it: `grpc`, else OTLP/HTTP (the
/// specification's default).
pub fn protocol_from_env_value(value: Option<&str>) -> Protocol {
    from_otlp(env::parse_protocol(OTEL_EXPORTER_OTLP_PROTOCOL, value).0)
}

/// The protocol the services' SDK will use, read exactly as
/// `meshtrace::init()` reads it (so the Envoys and the services agree).
pub fn protocol_from_env() -> Protocol {
    from_otlp(env::protocol_from_env().0)
}

fn from_otlp(protocol: OtlpProtocol) -> Protocol {
    match protocol {
        OtlpProtocol::Grpc => Protocol::Grpc,
        OtlpProtocol::HttpProtobuf => Protocol::HttpProtobuf,
    }
}

/// The port an endpoint without one defaults to (OTLP's 4318 / 4317).
pub fn default_port(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::HttpProtobuf => 4318,
        Protocol::Grpc => 4317,
    }
}

// === impl CollectorTarget ===

impl CollectorTarget {
    /// Where the shipped configs' collector clusters are to point.
    pub fn clusters(&self) -> Collector {
        Collector {
            host: self.host.clone(),
            http_port: self.http_port,
            grpc_port: self.grpc_port,
        }
    }

    /// The embedded receiver on loopback.
    pub fn local(http_port: u16, grpc_port: u16) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            http_port,
            grpc_port,
            protocol: Protocol::HttpProtobuf,
        }
    }

    /// Host and port of `endpoint` (`http://host[:port][/path]`), the port
    /// defaulting per `protocol`.
    ///
    /// # Errors
    ///
    /// [`EndpointError`] for another scheme, no host or a bad port.
    pub fn from_endpoint(endpoint: &str, protocol: Protocol) -> Result<Self, EndpointError> {
        let trimmed = endpoint.trim();
        let rest = trimmed
            .strip_prefix("http://")
            .ok_or_else(|| EndpointError::Scheme(endpoint.to_owned()))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = match authority.strip_prefix('[') {
            // [v6]:port
            Some(v6) => {
                let (host, after) = v6
                    .split_once(']')
                    .ok_or_else(|| EndpointError::Host(endpoint.to_owned()))?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(EndpointError::Host(endpoint.to_owned()));
        }
        let port = match port {
            None => default_port(protocol),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| EndpointError::Port(endpoint.to_owned()))?,
        };
        Ok(Self {
            host: host.to_owned(),
            http_port: port,
            grpc_port: port,
            protocol,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_collector_endpoints() {
        for (endpoint, protocol, want, why) in [
            (
                "http://jaeger:4318",
                Protocol::HttpProtobuf,
                ("jaeger", 4318),
                "host and port",
            ),
            (
                "http://tempo",
                Protocol::Grpc,
                ("tempo", 4317),
                "gRPC default port",
            ),
            (
                "http://tempo/",
                Protocol::HttpProtobuf,
                ("tempo", 4318),
                "HTTP default port",
            ),
            (
                "http://10.0.0.7:14318/otlp",
                Protocol::HttpProtobuf,
                ("10.0.0.7", 14318),
                "a path is ignored",
            ),
            ("http://[::1]:4317", Protocol::Grpc, ("::1", 4317), "IPv6"),
        ] {
            let target = CollectorTarget::from_endpoint(endpoint, protocol).expect(why);
            assert_eq!((target.host.as_str(), target.http_port), want, "{why}");
            assert_eq!(target.protocol, protocol);
        }
    }

    #[test]
    fn rejects_unusable_endpoints() {
        for (endpoint, why) in [
            (
                "https://collector:4318",
                "TLS is not configured on the clusters",
            ),
            ("collector:4318", "no scheme"),
            ("http://:4318", "no host"),
            ("http://collector:http", "port not a number"),
            ("http://collector:0", "port zero"),
        ] {
            assert!(
                CollectorTarget::from_endpoint(endpoint, Protocol::HttpProtobuf).is_err(),
                "{why}: {endpoint}"
            );
        }
    }

    #[test]
    fn protocol_follows_the_standard_variable() {
        assert_eq!(protocol_from_env_value(Some("grpc")), Protocol::Grpc);
        assert_eq!(protocol_from_env_value(Some(" GRPC ")), Protocol::Grpc);
        assert_eq!(
            protocol_from_env_value(Some("http/protobuf")),
            Protocol::HttpProtobuf
        );
        assert_eq!(protocol_from_env_value(None), Protocol::HttpProtobuf);
    }
}
