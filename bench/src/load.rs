//! The load generators, pinned to the other core: `wrk` for closed-loop
//! throughput (16 connections, one thread) and `oha` for a fixed request
//! rate with latency percentiles corrected for coordinated omission
//! (`--latency-correction`: latency counts from when a request was due,
//! not from when it was sent).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Connections both generators keep open.
pub const CONNECTIONS: u32 = 16;

/// A sampled W3C `traceparent`, sent on every request.
pub const TRACEPARENT_SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The same context, not sampled (profiling only).
pub const TRACEPARENT_UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The generator did not start or exited non-zero.
    #[error("`{command}` failed: {problem}")]
    Run {
        /// The command line.
        command: String,
        /// What went wrong, with its stderr.
        problem: String,
    },
    /// Its output was not understood.
    #[error("could not read the output of {tool}: {problem}\n{output}")]
    Parse {
        /// `wrk` or `oha`.
        tool: &'static str,
        /// What was missing.
        problem: String,
        /// The output.
        output: String,
    },
}

/// A closed-loop run (`wrk`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClosedLoop {
    /// Responses completed.
    pub requests: u64,
    /// Responses per second.
    pub rps: f64,
    /// Non-2xx/3xx responses plus socket errors.
    pub errors: u64,
}

/// A fixed-rate run (`oha -q`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedRate {
    /// Responses completed.
    pub requests: u64,
    /// Achieved responses per second.
    pub rps: f64,
    /// Median latency, seconds.
    pub p50: f64,
    /// 99th percentile latency, seconds.
    pub p99: f64,
    /// Failed requests and non-200 responses.
    pub errors: u64,
}

/// Runs `wrk` on `core` against `url` for `duration`.
pub fn closed_loop(
    wrk: &Path,
    core: u32,
    url: &str,
    traceparent: &str,
    duration: Duration,
) -> Result<ClosedLoop, LoadError> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(core.to_string())
        .arg(wrk)
        .args(["-t1", &format!("-c{CONNECTIONS}")])
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("-H")
        .arg(format!("traceparent: {traceparent}"))
        .arg(url);
    let output = run(&mut cmd)?;
    parse_wrk(&output)
}

/// Runs `oha` on `core` against `url` at `rate` requests per second for
/// `duration`.
pub fn fixed_rate(
    oha: &Path,
    core: u32,
    url: &str,
    traceparent: &str,
    rate: u64,
    duration: Duration,
) -> Result<FixedRate, LoadError> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(core.to_string())
        .arg(oha)
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--latency-correction",
        ])
        .args(["-c", &CONNECTIONS.to_string()])
        .args(["-q", &rate.max(1).to_string()])
        .args(["-z", &format!("{}s", duration.as_secs().max(1))])
        .arg("-H")
        .arg(format!("traceparent: {traceparent}"))
        .arg(url);
    let output = run(&mut cmd)?;
    parse_oha(&output)
}

fn run(cmd: &mut Command) -> Result<String, LoadError> {
    let command = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LoadError::Run {
            command: command.clone(),
            problem: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(LoadError::Run {
            command,
            problem: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads `wrk`'s summary: `N requests in Xs`, `Requests/sec:`, and the
/// error lines.
pub fn parse_wrk(output: &str) -> Result<ClosedLoop, LoadError> {
    let fail = |problem: &str| LoadError::Parse {
        tool: "wrk",
        problem: problem.to_owned(),
        output: output.to_owned(),
    };
    let requests = output
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .and_then(|(n, _)| n.parse().ok())
        })
        .ok_or_else(|| fail("no `N requests in` line"))?;
    let rps = output
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Requests/sec:")
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| fail("no `Requests/sec:` line"))?;
    let mut errors = 0;
    for line in output.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += n.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(list) = line.strip_prefix("Socket errors:") {
            // `connect 0, read 0, write 0, timeout 0`
            errors += list
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok(ClosedLoop {
        requests,
        rps,
        errors,
    })
}

/// Reads `oha --output-format json`: `summary.requestsPerSec`,
/// `latencyPercentiles.p50`/`p99` (seconds), `statusCodeDistribution`,
/// `errorDistribution`.
pub fn parse_oha(output: &str) -> Result<FixedRate, LoadError> {
    let fail = |problem: &str| LoadError::Parse {
        tool: "oha",
        problem: problem.to_owned(),
        output: output.to_owned(),
    };
    let json: serde_json::Value =
        serde_json::from_str(output).map_err(|e| fail(&format!("not JSON: {e}")))?;
    let number = |pointer: &str| {
        json.pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| fail(&format!("no number at {pointer}")))
    };
    let sum_of = |pointer: &str, only_ok: Option<bool>| -> u64 {
        json.pointer(pointer)
            .and_then(serde_json::Value::as_object)
            .map(|map| {
                map.iter()
                    .filter(|(k, _)| only_ok.is_none_or(|ok| (k.as_str() == "200") == ok))
                    .filter_map(|(_, v)| v.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    };
    let ok = sum_of("/statusCodeDistribution", Some(true));
    Ok(FixedRate {
        requests: ok,
        rps: number("/summary/requestsPerSec")?,
        p50: number("/latencyPercentiles/p50")?,
        p99: number("/latencyPercentiles/p99")?,
        errors: sum_of("/statusCodeDistribution", Some(false)) + sum_of("/errorDistribution", None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_summary() {
        let out = "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\n  \
                   Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   520.00us  \
                   100.00us   5.00ms   90.00%\n  123456 requests in 10.00s, 9.00MB read\n  \
                   Socket errors: connect 0, read 2, write 0, timeout 1\n  \
                   Non-2xx or 3xx responses: 4\nRequests/sec:  12345.60\nTransfer/sec:    900.00KB\n";
        let parsed = parse_wrk(out).expect("parses");
        assert_eq!(parsed.requests, 123_456);
        assert!((parsed.rps - 12_345.6).abs() < 1e-9);
        assert_eq!(parsed.errors, 7);
        assert!(parse_wrk("nothing").is_err());
    }

    #[test]
    fn reads_oha_json() {
        let out = r#"{"summary":{"successRate":1.0,"total":10.0,"requestsPerSec":5000.5},
            "latencyPercentiles":{"p50":0.0004,"p99":0.0012},
            "statusCodeDistribution":{"200":50000,"503":2},
            "errorDistribution":{"connection closed":1}}"#;
        let parsed = parse_oha(out).expect("parses");
        assert_eq!(parsed.requests, 50_000);
        assert_eq!(parsed.errors, 3);
        assert!((parsed.p99 - 0.0012).abs() < 1e-12);
        assert!(parse_oha("{}").is_err());
    }
}
