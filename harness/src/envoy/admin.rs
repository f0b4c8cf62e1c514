//! Reading Envoy's admin interface.

use std::collections::HashMap;

use serde_json::Value;

/// Parses `GET /stats?format=json`: every counter and gauge by name.
/// Histograms and text readouts (non-integer values) are left out.
///
/// # Errors
///
/// What is wrong with the body, when it is not that JSON.
pub(super) fn parse_stats_json(body: &[u8]) -> Result<HashMap<String, u64>, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("/stats?format=json is not JSON: {e}"))?;
    let stats = json
        .get("stats")
        .and_then(Value::as_array)
        .ok_or("/stats?format=json has no \"stats\" array")?;
    Ok(stats
        .iter()
        .filter_map(|s| {
            let name = s.get("name")?.as_str()?;
            let value = s.get("value")?.as_u64()?;
            Some((name.to_owned(), value))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_json_keeps_counters_and_gauges_only() {
        let body = br#"{"stats":[
            {"name":"server.live","value":1},
            {"name":"cluster.c.upstream_rq_total","value":42},
            {"name":"server.version_label","value":"1.40.0"},
            {"histograms":{"supported_quantiles":[0,50],"computed_quantiles":[]}}
        ]}"#;
        let stats = parse_stats_json(body).expect("valid stats json");
        assert_eq!(
            stats.len(),
            2,
            "text readout and histograms dropped: {stats:?}"
        );
        assert_eq!(stats["server.live"], 1);
        assert_eq!(stats["cluster.c.upstream_rq_total"], 42);
        assert!(
            parse_stats_json(b"{}").is_err(),
            "no stats array is an error"
        );
    }
}
