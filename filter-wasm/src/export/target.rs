//! How export calls reach the collector cluster: the OTLP/HTTP request
//! headers, the gRPC target, and a rate limit on failure logs.

use std::time::Duration;

use crate::config::{CollectorConfig, Protocol};

/// OTLP/HTTP protobuf content type.
/// <https://opentelemetry.io/docs/specs/otlp/#otlphttp-request>
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";

/// Failures are logged at most once per this interval (per VM).
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The export target, resolved once at configuration.
#[derive(Debug, Clone)]
pub struct ExportTarget {
    /// Envoy cluster.
    pub cluster: String,
    /// OTLP transport.
    pub protocol: Protocol,
    /// Timeout of one call.
    pub timeout: Duration,
    /// OTLP/HTTP request headers, pseudo-headers first.
    http_headers: Vec<(String, String)>,
    /// The serialized `envoy.config.core.v3.GrpcService` naming the cluster
    /// and authority, as `proxy_grpc_call` takes it.
    grpc_service: String,
    /// gRPC initial metadata (the configured headers).
    grpc_metadata: Vec<(String, Vec<u8>)>,
}

// === impl ExportTarget ===

impl ExportTarget {
    /// Resolves the target from the configuration.
    pub fn new(config: &CollectorConfig, authority: &str) -> Self {
        let mut http_headers = vec![
            (":method".to_owned(), "POST".to_owned()),
            (":path".to_owned(), config.path.clone()),
            (":authority".to_owned(), authority.to_owned()),
            ("content-type".to_owned(), CONTENT_TYPE_PROTOBUF.to_owned()),
        ];
        http_headers.extend(config.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        let grpc_metadata = config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        Self {
            cluster: config.cluster.clone(),
            protocol: config.protocol,
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
            http_headers,
            grpc_service: grpc_service(&config.cluster, authority),
            grpc_metadata,
        }
    }

    /// Headers of an OTLP/HTTP export call.
    pub fn http_headers(&self) -> Vec<(&str, &str)> {
        self.http_headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The gRPC target as `proxy_grpc_call` takes it.
    pub fn grpc_service(&self) -> &str {
        &self.grpc_service
    }

    /// gRPC initial metadata.
    pub fn grpc_metadata(&self) -> Vec<(&str, &[u8])> {
        self.grpc_metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect()
    }
}

/// Serializes `GrpcService { envoy_grpc: EnvoyGrpc { cluster_name, authority } }`
/// (fields 1 → 1 and 2 of `envoy/config/core/v3/grpc_service.proto`). Envoy
/// parses the upstream argument of `proxy_grpc_call` as this message first,
/// and falls back to treating it as a bare cluster name; sending the message
/// sets the `:authority` and avoids a cluster name being misread as protobuf.
/// The ABI takes a string, so names too long for one-byte lengths fall back
/// to the bare cluster name.
pub fn grpc_service(cluster: &str, authority: &str) -> String {
    let (Ok(c), Ok(a)) = (u8::try_from(cluster.len()), u8::try_from(authority.len())) else {
        return cluster.to_owned();
    };
    let inner_len = 2 + usize::from(c) + 2 + usize::from(a);
    let Ok(inner) = u8::try_from(inner_len) else {
        return cluster.to_owned();
    };
    if c >= 0x80 || a >= 0x80 || inner >= 0x80 {
        return cluster.to_owned();
    }
    let mut out = String::with_capacity(2 + inner_len);
    out.push('\u{0a}');
    out.push(char::from(inner));
    out.push('\u{0a}');
    out.push(char::from(c));
    out.push_str(cluster);
    out.push('\u{12}');
    out.push(char::from(a));
    out.push_str(authority);
    out
}

/// Logs export failures at a bounded rate, counting the ones it held back.
#[derive(Debug, Default)]
pub struct FailureLog {
    last_logged_nanos: Option<u64>,
    suppressed: u64,
}

// === impl FailureLog ===

impl FailureLog {
    /// Returns the number of failures suppressed since the last line when a
    /// line should be logged now, or `None` to stay quiet.
    pub fn should_log(&mut self, now_nanos: u64) -> Option<u64> {
        let interval = FAILURE_LOG_INTERVAL.as_nanos() as u64;
        match self.last_logged_nanos {
            Some(last) if now_nanos.saturating_sub(last) < interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_logged_nanos = Some(now_nanos);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_service_is_a_valid_envoy_grpc_message() {
        let s = grpc_service("otel_collector", "collector:4317");
        let b = s.as_bytes();
        assert_eq!(b[0], 0x0a, "field 1 (envoy_grpc), length-delimited");
        assert_eq!(usize::from(b[1]), b.len() - 2);
        assert_eq!(&b[2..4], &[0x0a, 14], "cluster_name");
        assert_eq!(&b[4..18], b"otel_collector");
        assert_eq!(&b[18..20], &[0x12, 14], "authority");
        assert_eq!(&b[20..], b"collector:4317");
    }

    #[test]
    fn long_names_fall_back_to_the_bare_cluster() {
        let long = "c".repeat(200);
        assert_eq!(grpc_service(&long, "a"), long);
    }

    #[test]
    fn http_headers_carry_pseudo_headers_and_extras() {
        let mut config = CollectorConfig::default();
        config
            .headers
            .push(("authorization".into(), "Bearer t".into()));
        let c = ExportTarget::new(&config, "collector");
        let h = c.http_headers();
        assert_eq!(h[0], (":method", "POST"));
        assert_eq!(h[1], (":path", "/v1/traces"));
        assert_eq!(h[2], (":authority", "collector"));
        assert!(h.contains(&("content-type", "application/x-protobuf")));
        assert!(h.contains(&("authorization", "Bearer t")));
        assert_eq!(
            c.grpc_metadata(),
            vec![("authorization", b"Bearer t".as_slice())]
        );
    }

    #[test]
    fn failure_log_is_rate_limited() {
        let mut log = FailureLog::default();
        let s = 1_000_000_000u64;
        assert_eq!(log.should_log(0), Some(0));
        assert_eq!(log.should_log(s), None);
        assert_eq!(log.should_log(2 * s), None);
        assert_eq!(log.should_log(11 * s), Some(2), "reports what it held back");
        assert_eq!(log.should_log(12 * s), None);
    }
}
