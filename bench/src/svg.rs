//! The SVG bar chart the command writes: added Envoy CPU per request
//! (closed loop, whiskers from the fastest to the slowest round) and p99 at
//! the fixed rate (with the 2 ms target), grouped by variant.

use std::fmt::Write as _;

use crate::report::{BASELINE, Row, Spread};

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The configuration.
    pub label: String,
    /// Median, with whiskers.
    pub value: Spread,
}

/// Bars of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The variant.
    pub label: String,
    /// Its bars.
    pub bars: Vec<Bar>,
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 380.0;
const COLORS: [&str; 6] = [
    "#9e9e9e", "#d9822b", "#2b7bd9", "#5aa55a", "#a05ad9", "#d95a8c",
];

/// The chart for `rows`, with `subtitle` (machine, date) under the title.
pub fn chart(rows: &[Row], subtitle: &str) -> String {
    let mut variants: Vec<&str> = rows.iter().map(|r| r.variant.name()).collect();
    variants.dedup();
    let configs: Vec<&str> = {
        let mut seen = Vec::new();
        for r in rows {
            if !seen.contains(&r.tracer) {
                seen.push(r.tracer);
            }
        }
        seen
    };
    let groups = |f: &dyn Fn(&Row) -> Option<Spread>, with_baseline: bool| -> Vec<Group> {
        variants
            .iter()
            .map(|v| Group {
                label: (*v).to_owned(),
                bars: rows
                    .iter()
                    .filter(|r| r.variant.name() == *v && (with_baseline || r.tracer != BASELINE))
                    .filter_map(|r| {
                        f(r).map(|value| Bar {
                            label: r.tracer.to_owned(),
                            value,
                        })
                    })
                    .collect(),
            })
            .collect()
    };
    let cpu = groups(&|r| r.added_us, false);
    let p99 = groups(&|r| Some(r.p99_ms), true);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="16" font-weight="bold">Envoy 1.40, --concurrency 1: cost of tracing every request</text>"#,
        WIDTH / 2.0
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="40" text-anchor="middle" fill="#555">{}</text>"##,
        WIDTH / 2.0,
        escape(subtitle)
    );
    panel(
        &mut svg,
        "Added Envoy CPU per request vs no tracing (µs)",
        &cpu,
        &configs,
        None,
        (20.0, 60.0, 420.0, 270.0),
    );
    panel(
        &mut svg,
        "p99 latency at half load (ms)",
        &p99,
        &configs,
        Some((2.0, "2 ms target")),
        (460.0, 60.0, 420.0, 270.0),
    );
    // Legend.
    let mut x = 40.0;
    for (i, name) in configs.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            HEIGHT - 24.0,
            COLORS[i % COLORS.len()],
            x + 16.0,
            HEIGHT - 14.0,
            escape(name)
        );
        x += 40.0 + 8.0 * name.len() as f64;
    }
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#555">bars: median of rounds; whiskers: min…max</text>"##,
        WIDTH - 20.0,
        HEIGHT - 14.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn panel(
    svg: &mut String,
    title: &str,
    groups: &[Group],
    configs: &[&str],
    target: Option<(f64, &str)>,
    (x0, y0, w, h): (f64, f64, f64, f64),
) {
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
        x0 + w / 2.0,
        y0 + 8.0,
        escape(title)
    );
    let (left, top, bottom) = (x0 + 45.0, y0 + 25.0, y0 + h - 25.0);
    let right = x0 + w - 5.0;
    let values = groups
        .iter()
        .flat_map(|g| &g.bars)
        .flat_map(|b| [b.value.max, b.value.median, b.value.min]);
    let top_value = values
        .clone()
        .chain(target.map(|(v, _)| v))
        .fold(0.0_f64, f64::max);
    let bottom_value = values.fold(0.0_f64, f64::min);
    let (lo, hi) = (bottom_value.min(0.0), nice(top_value.max(1e-9)));
    let y = |v: f64| bottom - (v - lo) / (hi - lo) * (bottom - top);
    // Axis and grid.
    for i in 0..=4 {
        let v = lo + (hi - lo) * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{right}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e0e0e0"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            left - 4.0,
            y(v) + 4.0,
            short(v),
            yy = y(v),
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" x2="{right}" y1="{z:.1}" y2="{z:.1}" stroke="#333"/>"##,
        z = y(0.0)
    );
    let group_w = (right - left) / groups.len().max(1) as f64;
    for (gi, group) in groups.iter().enumerate() {
        let gx = left + group_w * gi as f64;
        let bar_w = (group_w - 20.0) / group.bars.len().max(1) as f64;
        for (bi, bar) in group.bars.iter().enumerate() {
            let color_index = configs.iter().position(|c| *c == bar.label).unwrap_or(bi);
            let bx = gx + 10.0 + bar_w * bi as f64;
            let (y_top, y_base) = (y(bar.value.median.max(0.0)), y(bar.value.median.min(0.0)));
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{y_top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                bx + 2.0,
                bar_w - 4.0,
                (y_base - y_top).max(0.5),
                COLORS[color_index % COLORS.len()],
                escape(&group.label),
                escape(&bar.label),
                short(bar.value.median),
            );
            let cx = bx + bar_w / 2.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="#222"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
                y(bar.value.min),
                y(bar.value.max),
                y(bar.value.max.max(bar.value.median)) - 4.0,
                short(bar.value.median),
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + group_w / 2.0,
            bottom + 16.0,
            escape(&group.label)
        );
    }
    if let Some((value, label)) = target {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{right}" y1="{ty:.1}" y2="{ty:.1}" stroke="#c62828" stroke-dasharray="5,4"/><text x="{right}" y="{:.1}" text-anchor="end" fill="#c62828">{}</text>"##,
            y(value) - 4.0,
            escape(label),
            ty = y(value),
        );
    }
}

/// A round axis maximum at or above `v`: 1, 2 or 5 times a power of ten.
fn nice(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|candidate| *candidate >= v)
        .unwrap_or(10.0 * magnitude)
}

fn short(v: f64) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy_config::Variant;

    fn row(variant: Variant, tracer: &'static str, added: Option<f64>, p99: f64) -> Row {
        let spread = |v: f64| Spread {
            median: v,
            min: v - 1.0,
            max: v + 1.0,
        };
        Row {
            variant,
            tracer,
            rps: 1000.0,
            rps_ratio: Some(1.0),
            cpu_us: 30.0,
            added_us: added.map(spread),
            busy: 1.0,
            target_rate: 500.0,
            fixed_rps: 500.0,
            cpu_us_fixed: 40.0,
            added_us_fixed: None,
            p50_ms: 0.3,
            p99_ms: spread(p99),
            server_spans: (0, 0),
            client_spans: (0, 0),
            spans_ok: true,
            errors: 0,
        }
    }

    #[test]
    fn draws_one_bar_per_traced_config_and_variant_plus_p99_for_all() {
        let rows = [
            row(Variant::Direct, "none", Some(0.0), 0.5),
            row(Variant::Direct, "native", Some(24.0), 5.4),
            row(Variant::Direct, "meshtrace", Some(17.0), 0.9),
            row(Variant::Upstream, "none", Some(0.0), 0.8),
            row(Variant::Upstream, "native", Some(46.0), 6.0),
            row(Variant::Upstream, "meshtrace", Some(30.0), 1.2),
        ];
        let svg = chart(&rows, "2 cores <shared>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        // CPU panel: 4 bars (no baseline); p99 panel: 6 bars.
        assert_eq!(svg.matches("<rect x=").count() - 3, 10, "{svg}");
        assert!(svg.contains("2 cores &lt;shared&gt;"));
        assert!(svg.contains("2 ms target"));
        assert!(svg.contains("<title>upstream native: 46</title>"));
    }

    #[test]
    fn axis_maximum_is_round() {
        assert_eq!(nice(0.7), 1.0);
        assert_eq!(nice(46.0), 50.0);
        assert_eq!(nice(120.0), 200.0);
    }
}
