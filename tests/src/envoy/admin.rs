//! Reading Envoy's admin interface.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use serde_json::Value;

/// Parses `GET /stats?format=json`: every counter and gauge by name.
/// Histograms and text readouts (non-integer values) are left out.
pub(super) fn parse_stats_json(body: &[u8]) -> Result<HashMap<String, u64>> {
    let json: Value = serde_json::from_slice(body).context("/stats?format=json is not JSON")?;
    let stats = json
        .get("stats")
        .and_then(Value::as_array)
        .context("/stats?format=json has no \"stats\" array")?;
    Ok(stats
        .iter()
        .filter_map(|s| {
            let name = s.get("name")?.as_str()?;
            let value = s.get("value")?.as_u64()?;
            Some((name.to_owned(), value))
        })
        .collect())
}

/// `VmRSS` from the text of `/proc/<pid>/status`, in KiB.
pub(super) fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last `lines` lines of `log`.
pub(super) fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
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

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tenvoy\nVmPeak:\t  99 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss_kib(status), Some(51234));
        assert_eq!(parse_vm_rss_kib("Name:\tzombie\n"), None, "no VmRSS line");
    }
}
