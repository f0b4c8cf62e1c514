//! Decoding Envoy attribute values as proxy-wasm `get_property` returns them.
//! <https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes>

/// Property paths the filter reads (parts, as the ABI takes them).
pub mod path {
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub const PROTOCOL: [&str; 2] = ["request", "protocol"];
    /// Downstream peer, `ip:port`.
    pub const SOURCE_ADDRESS: [&str; 2] = ["source", "address"];
    /// Response flags bit vector (int64).
    pub const RESPONSE_FLAGS: [&str; 2] = ["response", "flags"];
    /// Upstream cluster name.
    pub const CLUSTER_NAME: [&str; 2] = ["xds", "cluster_name"];
    /// The name of the route the request matched.
    pub const ROUTE_NAME: [&str; 2] = ["xds", "route_name"];
    /// Envoy's `--service-cluster` / Istio's workload name.
    pub const NODE_CLUSTER: [&str; 2] = ["node", "cluster"];
}

/// An integer attribute: Envoy serializes CEL int64 as 8 little-endian bytes.
pub fn int64(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_le_bytes(raw))
}

/// A string attribute; invalid UTF-8 is treated as absent.
pub fn string(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_int64_little_endian() {
        assert_eq!(int64(&503i64.to_le_bytes()), Some(503));
        assert_eq!(
            int64(&[1, 2, 3]),
            None,
            "wrong width is absent, not a panic"
        );
    }

    #[test]
    fn strings_must_be_utf8_and_non_empty() {
        assert_eq!(string(b"HTTP/2".to_vec()).as_deref(), Some("HTTP/2"));
        assert_eq!(string(vec![0xff, 0xfe]), None);
        assert_eq!(string(Vec::new()), None);
    }
}
