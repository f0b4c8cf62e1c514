//! Envoy response flags: the `response.flags` bit vector, in Envoy's
//! `CoreResponseFlag` order (`envoy/stream_info/stream_info.h`), with the
//! short codes of the access log's `%RESPONSE_FLAGS%`.

/// `(short code, error.type id)` per bit, bit 0 first.
const FLAGS: [(&str, &str); 30] = [
    ("LH", "failed_local_health_check"),
    ("UH", "no_healthy_upstream"),
    ("UT", "upstream_request_timeout"),
    ("LR", "local_reset"),
    ("UR", "upstream_remote_reset"),
    ("UF", "upstream_connection_failure"),
    ("UC", "upstream_connection_termination"),
    ("UO", "upstream_overflow"),
    ("NR", "no_route_found"),
    ("DI", "delay_injected"),
    ("FI", "fault_injected"),
    ("RL", "rate_limited"),
    ("UAEX", "unauthorized_external_service"),
    ("RLSE", "rate_limit_service_error"),
    ("DC", "downstream_connection_termination"),
    ("URX", "upstream_retry_limit_exceeded"),
    ("SI", "stream_idle_timeout"),
    ("IH", "invalid_envoy_request_headers"),
    ("DPE", "downstream_protocol_error"),
    ("UMSDR", "upstream_max_stream_duration_reached"),
    ("RFCF", "response_from_cache_filter"),
    ("NFCF", "no_filter_config_found"),
    ("DT", "duration_timeout"),
    ("UPE", "upstream_protocol_error"),
    ("NC", "no_cluster_found"),
    ("OM", "overload_manager"),
    ("DF", "dns_resolution_failed"),
    ("DO", "drop_overload"),
    ("DR", "downstream_remote_reset"),
    ("UDO", "unconditional_drop_overload"),
];

/// Flags that describe a cause rather than a circumstance, preferred when
/// picking one `error.type` (e.g. `DI`, delay injected, is not a failure).
fn is_failure(bit: usize) -> bool {
    !matches!(bit, 9 | 20)
}

/// Comma-joined short codes, as in Envoy's access log (`UF,URX`).
pub fn short_codes(flags: u64) -> String {
    let mut out = String::new();
    for (bit, (code, _)) in FLAGS.iter().enumerate() {
        if flags & (1 << bit) != 0 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(code);
        }
    }
    out
}

/// A low-cardinality `error.type` for a request that got no response: the
/// first failure flag set, if any.
pub fn error_type(flags: u64) -> Option<&'static str> {
    FLAGS
        .iter()
        .enumerate()
        .find(|(bit, _)| flags & (1 << bit) != 0 && is_failure(*bit))
        .map(|(_, (_, id))| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_envoy_bit_order() {
        assert_eq!(short_codes(0), "");
        assert_eq!(short_codes(1 << 5 | 1 << 15), "UF,URX");
        assert_eq!(short_codes(1 << 2), "UT");
        assert_eq!(short_codes(1 << 29), "UDO");
    }

    #[test]
    fn error_type_skips_non_failures() {
        assert_eq!(error_type(0), None);
        assert_eq!(error_type(1 << 9), None, "delay injected is no failure");
        assert_eq!(
            error_type(1 << 9 | 1 << 2),
            Some("upstream_request_timeout")
        );
        assert_eq!(
            error_type(1 << 14),
            Some("downstream_connection_termination")
        );
    }
}
