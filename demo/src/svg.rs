//! A trace as a standalone SVG waterfall (opens in any browser): the tree
//! of spans on the left, bars on a shared timeline with ticks on the right,
//! one colour per service, errors in red. Pure.

use std::fmt::Write as _;

use crate::record::Status;
use crate::tree::TraceTree;
use crate::waterfall::format_duration;

/// Total width of the picture.
const WIDTH: u32 = 1280;
/// Width of the label column.
const LABEL_WIDTH: u32 = 520;
/// Right margin.
const MARGIN: u32 = 90;
/// Height of one span row.
const ROW: u32 = 26;
/// Height of the title and axis.
const HEADER: u32 = 64;
/// Indentation per tree level.
const INDENT: u32 = 16;
/// Ticks on the time axis (plus zero).
const TICKS: u32 = 5;
/// Fill colours per service, in order of first appearance.
const PALETTE: [&str; 8] = [
    "#4e79a7", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7",
];
/// Fill of error spans.
const ERROR: &str = "#e15759";

/// Draws `tree` as an SVG document.
pub fn render(tree: &TraceTree) -> String {
    let services = tree.services();
    let height = HEADER + ROW * tree.rows.len() as u32 + 20;
    let timeline = WIDTH - LABEL_WIDTH - MARGIN;
    let total = tree.total_nanos.max(1);
    let x_of = |nanos: u64| -> f64 {
        LABEL_WIDTH as f64 + (nanos as f64 / total as f64) * timeline as f64
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="ui-monospace, Menlo, Consolas, monospace" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r##"<text x="12" y="22" font-size="15" font-weight="bold" fill="#222">trace {} · {} spans · {} services · {}</text>"##,
        escape(&tree.trace_id),
        tree.rows.len(),
        services.len(),
        format_duration(tree.total_nanos)
    );
    // The time axis.
    for i in 0..=TICKS {
        let nanos = tree.total_nanos * u64::from(i) / u64::from(TICKS);
        let x = x_of(nanos);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#dddddd"/><text x="{x:.1}" y="{}" text-anchor="middle" fill="#666">{}</text>"##,
            HEADER - 10,
            height - 14,
            HEADER - 16,
            format_duration(nanos)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="12" y="{}" fill="#666">service  span  (kind)</text>"##,
        HEADER - 16
    );
    for (i, row) in tree.rows.iter().enumerate() {
        let y = HEADER + ROW * i as u32;
        if i % 2 == 0 {
            let _ = writeln!(
                out,
                r##"<rect x="0" y="{y}" width="{WIDTH}" height="{ROW}" fill="#f6f7f9"/>"##
            );
        }
        let color = services
            .iter()
            .position(|s| *s == row.span.service)
            .map_or(PALETTE[0], |i| PALETTE[i % PALETTE.len()]);
        let error = row.span.status == Status::Error;
        let fill = if error { ERROR } else { color };
        let text_y = y + ROW / 2 + 4;
        let indent = 12 + INDENT * row.depth as u32;
        if row.depth > 0 {
            let _ = writeln!(
                out,
                r##"<path d="M{} {} v{} h{}" fill="none" stroke="#bbbbbb"/>"##,
                indent - INDENT + 4,
                y - ROW / 2 + 4,
                ROW / 2 + ROW / 2 - 4,
                INDENT - 6
            );
        }
        let _ = writeln!(
            out,
            r##"<text x="{indent}" y="{text_y}"><tspan font-weight="bold" fill="{color}">{}</tspan><tspan dx="8" fill="#222">{}</tspan><tspan dx="8" fill="#888">({})</tspan>{}</text>"##,
            escape(&row.span.service_label()),
            escape(&row.span.name),
            row.span.kind.label(),
            if row.orphan {
                r##"<tspan dx="8" fill="#e15759">parent missing</tspan>"##
            } else {
                ""
            }
        );
        let x = x_of(row.offset_nanos);
        let w = (x_of(row.offset_nanos + row.span.duration_nanos()) - x).max(2.0);
        let _ = writeln!(
            out,
            r##"<rect x="{x:.1}" y="{}" width="{w:.1}" height="{}" rx="3" fill="{fill}"{}><title>{} {} · start +{} · {} · status {}</title></rect>"##,
            y + 5,
            ROW - 10,
            if error {
                r##" stroke="#a00" stroke-width="1""##
            } else {
                ""
            },
            escape(&row.span.service_label()),
            escape(&row.span.name),
            format_duration(row.offset_nanos),
            format_duration(row.span.duration_nanos()),
            row.span.status.label()
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{text_y}" fill="{}">{}{}</text>"##,
            x + w + 6.0,
            if error { ERROR } else { "#444" },
            format_duration(row.span.duration_nanos()),
            if error { " ERROR" } else { "" }
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testing::{TRACE_ID, sample_trace};

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }

    #[test]
    fn draws_one_bar_per_span_with_service_colours_and_errors_in_red() {
        let spans = sample_trace("process <usage>", (50, 100));
        let tree = TraceTree::of(TRACE_ID, &spans).expect("a tree");
        let svg = render(&tree);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), 3, "one bar per span");
        assert!(svg.contains(PALETTE[0]) && svg.contains(PALETTE[1]));
        assert!(svg.contains(ERROR), "the failed span is red");
        assert!(svg.contains("process &lt;usage&gt;"), "names are escaped");
        // The root bar spans the whole timeline.
        let full = (WIDTH - LABEL_WIDTH - MARGIN) as f64;
        assert!(
            svg.contains(&format!(
                r#"x="{LABEL_WIDTH}.0" y="{}" width="{full:.1}""#,
                HEADER + 5
            )),
            "{svg}"
        );
    }
}
