//! Turning measurements into one table: medians over rounds, ratios and
//! CPU differences to no tracing taken round by round (each configuration
//! against the `none` run of the same round and variant), and the span
//! check.

use std::fmt::Write as _;

use crate::envoy_config::Variant;
use crate::runner::Measurement;

/// The configuration every other is compared to.
pub const BASELINE: &str = "none";

/// One row: a configuration in a variant, over all rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The variant.
    pub variant: Variant,
    /// The configuration.
    pub tracer: &'static str,
    /// Median closed-loop requests per second.
    pub rps: f64,
    /// Median of per-round `rps / baseline rps`.
    pub rps_ratio: Option<f64>,
    /// Median Envoy CPU µs per request, closed loop.
    pub cpu_us: f64,
    /// Median per-round added CPU µs per request vs the baseline, closed loop.
    pub added_us: Option<Spread>,
    /// Median Envoy busy fraction in the closed loop.
    pub busy: f64,
    /// Median fixed rate asked for.
    pub target_rate: f64,
    /// Median achieved fixed rate.
    pub fixed_rps: f64,
    /// Median Envoy CPU µs per request at the fixed rate.
    pub cpu_us_fixed: f64,
    /// Median per-round added CPU µs per request at the fixed rate.
    pub added_us_fixed: Option<Spread>,
    /// Median p50 at the fixed rate, ms.
    pub p50_ms: f64,
    /// p99 at the fixed rate, ms.
    pub p99_ms: Spread,
    /// SERVER spans received / expected, summed over rounds.
    pub server_spans: (u64, u64),
    /// CLIENT spans received / expected, summed over rounds.
    pub client_spans: (u64, u64),
    /// Every round's span counts matched.
    pub spans_ok: bool,
    /// Load errors (non-2xx, socket errors) over all phases.
    pub errors: u64,
}

/// A median with the smallest and largest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

// === impl Spread ===

impl Spread {
    /// The spread of `values`, `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.into_iter().collect();
    Spread::of(&values).map_or(f64::NAN, |s| s.median)
}

/// Aggregates measurements into rows, in first-seen order.
pub fn rows(measurements: &[Measurement]) -> Vec<Row> {
    let mut keys: Vec<(Variant, &'static str)> = Vec::new();
    for m in measurements {
        if !keys.contains(&(m.variant, m.tracer)) {
            keys.push((m.variant, m.tracer));
        }
    }
    keys.into_iter()
        .map(|(variant, tracer)| row(measurements, variant, tracer))
        .collect()
}

fn row(all: &[Measurement], variant: Variant, tracer: &'static str) -> Row {
    let runs: Vec<&Measurement> = all
        .iter()
        .filter(|m| m.variant == variant && m.tracer == tracer)
        .collect();
    let baseline = |m: &Measurement| {
        all.iter()
            .find(|b| b.variant == variant && b.round == m.round && b.tracer == BASELINE)
    };
    let paired = |f: &dyn Fn(&Measurement, &Measurement) -> f64| -> Vec<f64> {
        runs.iter()
            .filter_map(|m| baseline(m).map(|b| f(m, b)))
            .collect()
    };
    let p99s: Vec<f64> = runs.iter().map(|m| m.fixed.p99 * 1e3).collect();
    Row {
        variant,
        tracer,
        rps: median(runs.iter().map(|m| m.closed.rps)),
        rps_ratio: Spread::of(&paired(&|m, b| m.closed.rps / b.closed.rps)).map(|s| s.median),
        cpu_us: median(runs.iter().map(|m| m.cpu_us_closed)),
        added_us: Spread::of(&paired(&|m, b| m.cpu_us_closed - b.cpu_us_closed)),
        busy: median(runs.iter().map(|m| m.envoy_busy)),
        target_rate: median(runs.iter().map(|m| m.target_rate as f64)),
        fixed_rps: median(runs.iter().map(|m| m.fixed.rps)),
        cpu_us_fixed: median(runs.iter().map(|m| m.cpu_us_fixed)),
        added_us_fixed: Spread::of(&paired(&|m, b| m.cpu_us_fixed - b.cpu_us_fixed)),
        p50_ms: median(runs.iter().map(|m| m.fixed.p50 * 1e3)),
        p99_ms: Spread::of(&p99s).unwrap_or(Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        }),
        server_spans: runs.iter().fold((0, 0), |(r, e), m| {
            (r + m.spans.server, e + m.expected_server)
        }),
        client_spans: runs.iter().fold((0, 0), |(r, e), m| {
            (r + m.spans.client, e + m.expected_client)
        }),
        spans_ok: runs.iter().all(|m| m.spans_match()),
        errors: runs.iter().map(|m| m.closed.errors + m.fixed.errors).sum(),
    }
}

fn signed(v: f64) -> String {
    if v >= 0.0 {
        format!("+{v:.1}")
    } else {
        format!("{v:.1}")
    }
}

fn spread_cell(s: Option<Spread>) -> String {
    match s {
        Some(s) => format!("{} ({}…{})", signed(s.median), signed(s.min), signed(s.max)),
        None => "–".to_owned(),
    }
}

fn spans_cell((received, expected): (u64, u64)) -> String {
    format!("{received} / {expected}")
}

/// The table, as Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| variant | config | max req/s | × none | Envoy busy | CPU µs/req | added µs/req (min…max) \
         | rate req/s | CPU µs/req @rate | added @rate | p50 ms | p99 ms (min…max) \
         | SERVER spans recv / expected | CLIENT spans recv / expected | spans | errors |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|--:|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {:.0} % | {:.1} | {} | {:.0} / {:.0} | {:.1} | {} | {:.2} | {:.2} ({:.2}…{:.2}) | {} | {} | {} | {} |",
            r.variant.name(),
            r.tracer,
            r.rps,
            r.rps_ratio.map_or("–".to_owned(), |x| format!("{x:.2}×")),
            r.busy * 100.0,
            r.cpu_us,
            spread_cell(r.added_us),
            r.fixed_rps,
            r.target_rate,
            r.cpu_us_fixed,
            r.added_us_fixed
                .map_or("–".to_owned(), |s| signed(s.median)),
            r.p50_ms,
            r.p99_ms.median,
            r.p99_ms.min,
            r.p99_ms.max,
            spans_cell(r.server_spans),
            spans_cell(r.client_spans),
            if r.spans_ok { "✓" } else { "✗" },
            r.errors,
        );
    }
    out
}

/// The comparison the issue asks for, one line per variant: meshtrace's
/// added CPU per request against the native tracer's, and meshtrace's p99
/// against the 2 ms target.
pub fn verdict(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut variants: Vec<Variant> = rows.iter().map(|r| r.variant).collect();
    variants.dedup();
    for variant in variants {
        let find = |name: &str| {
            rows.iter()
                .find(|r| r.variant == variant && r.tracer == name)
        };
        let (Some(mesh), Some(native)) = (find("meshtrace"), find("native")) else {
            continue;
        };
        let (Some(m), Some(n)) = (mesh.added_us, native.added_us) else {
            continue;
        };
        let at_or_below = m.median <= n.median;
        let _ = writeln!(
            out,
            "- {}: meshtrace adds {} µs/req, native adds {} µs/req (closed loop) → meshtrace {} the native tracer; \
             at {:.0} req/s meshtrace p99 {:.2} ms ({} 2 ms), native p99 {:.2} ms; spans: meshtrace {}, native {}",
            variant.name(),
            signed(m.median),
            signed(n.median),
            if at_or_below { "at or below" } else { "ABOVE" },
            mesh.target_rate,
            mesh.p99_ms.median,
            if mesh.p99_ms.median < 2.0 {
                "under"
            } else {
                "NOT under"
            },
            native.p99_ms.median,
            if mesh.spans_ok {
                "all exported"
            } else {
                "MISMATCH"
            },
            if native.spans_ok {
                "all exported"
            } else {
                "MISMATCH"
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{ClosedLoop, FixedRate};
    use meshtrace_harness::otlp::SpanCounts;

    fn m(round: u32, tracer: &'static str, rps: f64, cpu: f64, spans: u64) -> Measurement {
        Measurement {
            round,
            variant: Variant::Direct,
            tracer,
            closed: ClosedLoop {
                requests: 1000,
                rps,
                errors: 0,
            },
            cpu_us_closed: cpu,
            envoy_busy: 1.0,
            target_rate: 500,
            fixed: FixedRate {
                requests: 500,
                rps: 500.0,
                p50: 0.0003,
                p99: 0.001,
                errors: 0,
            },
            cpu_us_fixed: cpu * 1.5,
            served: 1000,
            upstream_served: 0,
            expected_server: if tracer == "none" { 0 } else { 1000 },
            expected_client: 0,
            spans: SpanCounts {
                server: spans,
                ..SpanCounts::default()
            },
        }
    }

    #[test]
    fn compares_each_round_with_its_own_baseline() {
        let all = [
            m(1, "none", 1000.0, 30.0, 0),
            m(1, "native", 500.0, 60.0, 1000),
            m(2, "none", 2000.0, 20.0, 0),
            m(2, "native", 1000.0, 40.0, 1000),
        ];
        let rows = rows(&all);
        assert_eq!(rows.len(), 2);
        let native = &rows[1];
        assert_eq!(native.rps_ratio, Some(0.5));
        let added = native.added_us.expect("paired");
        assert_eq!((added.min, added.max, added.median), (20.0, 30.0, 25.0));
        assert!(native.spans_ok);
        assert_eq!(native.server_spans, (2000, 2000));
    }

    #[test]
    fn a_missing_span_fails_the_check_and_shows_in_the_table() {
        let all = [
            m(1, "none", 1000.0, 30.0, 0),
            m(1, "meshtrace", 900.0, 40.0, 999),
        ];
        let rows = rows(&all);
        assert!(!rows[1].spans_ok);
        let table = table(&rows);
        assert!(table.contains("| 999 / 1000 |"), "{table}");
        assert!(table.contains("✗"), "{table}");
    }

    #[test]
    fn verdict_compares_meshtrace_with_native() {
        let all = [
            m(1, "none", 1000.0, 30.0, 0),
            m(1, "native", 600.0, 54.0, 1000),
            m(1, "meshtrace", 700.0, 50.0, 1000),
        ];
        let text = verdict(&rows(&all));
        assert!(
            text.contains("meshtrace adds +20.0 µs/req, native adds +24.0 µs/req"),
            "{text}"
        );
        assert!(text.contains("at or below"), "{text}");
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(Spread::of(&[3.0, 1.0, 2.0]).map(|s| s.median), Some(2.0));
        assert_eq!(
            Spread::of(&[4.0, 1.0, 2.0, 3.0]).map(|s| s.median),
            Some(2.5)
        );
        assert_eq!(Spread::of(&[]), None);
    }
}
