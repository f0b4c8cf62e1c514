//! A trace as a terminal waterfall: one line per span with the tree, the
//! service, span name, kind, start offset, duration, a bar on a shared
//! timeline, and the status. Pure; colours (ANSI) are optional.

use std::fmt::Write as _;

use crate::record::Status;
use crate::tree::{Row, TraceTree};

/// Characters of the timeline column.
const BAR_WIDTH: usize = 36;
/// Characters of the tree, service and span name column.
const LABEL_WIDTH: usize = 58;
/// ANSI colours per service, in order of first appearance.
const PALETTE: [&str; 8] = [
    "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[92m", "\x1b[93m",
];
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Draws `tree`; `color` adds ANSI colours (use it for terminals only).
pub fn render(tree: &TraceTree, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let services = tree.services();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(
            BOLD,
            &format!(
                "trace {} · {} spans · {} services · {}",
                tree.trace_id,
                tree.rows.len(),
                services.len(),
                format_duration(tree.total_nanos)
            )
        )
    );
    let header = format!(
        "{:<LABEL_WIDTH$} {:<8} {:>9} {:>9}  {:<BAR_WIDTH$}  STATUS",
        "SERVICE  SPAN", "KIND", "START", "DURATION", "TIMELINE"
    );
    let _ = writeln!(out, "{}", paint(DIM, &header));
    for row in &tree.rows {
        let service_color = services
            .iter()
            .position(|s| *s == row.span.service)
            .map_or(PALETTE[0], |i| PALETTE[i % PALETTE.len()]);
        let bar_color = if row.span.status == Status::Error {
            RED
        } else {
            service_color
        };
        let prefix = tree_prefix(row);
        let service = row.span.service_label();
        let name_room =
            LABEL_WIDTH.saturating_sub(prefix.chars().count() + service.chars().count() + 2);
        let name = truncate(&row.span.name, name_room);
        let pad = LABEL_WIDTH.saturating_sub(
            prefix.chars().count() + service.chars().count() + 2 + name.chars().count(),
        );
        let status = row.span.status.label();
        let _ = writeln!(
            out,
            "{prefix}{}  {name}{:pad$} {:<8} {:>9} {:>9}  {}  {}",
            paint(service_color, &service),
            "",
            row.span.kind.label(),
            format!("+{}", format_duration(row.offset_nanos)),
            format_duration(row.span.duration_nanos()),
            paint(bar_color, &bar(row, tree.total_nanos, BAR_WIDTH)),
            if row.span.status == Status::Error {
                paint(RED, status)
            } else {
                status.to_owned()
            },
        );
    }
    out
}

/// The tree guides before a row's label: `│  ` per ancestor level that has
/// more siblings below, then `├─ ` or `└─ `; `⤷ ` for an orphan.
pub fn tree_prefix(row: &Row) -> String {
    let mut out = String::new();
    if row.orphan {
        return "⤷ ".to_owned();
    }
    for &more in &row.guides {
        out.push_str(if more { "│  " } else { "   " });
    }
    if row.depth > 0 {
        out.push_str(if row.last { "└─ " } else { "├─ " });
    }
    out
}

/// A `width`-character timeline with the span's part filled.
pub fn bar(row: &Row, total_nanos: u64, width: usize) -> String {
    let (from, to) = bar_columns(
        row.offset_nanos,
        row.span.duration_nanos(),
        total_nanos,
        width,
    );
    (0..width)
        .map(|i| if i >= from && i < to { '█' } else { '·' })
        .collect()
}

/// The columns `[from, to)` a span covers on a `width`-wide timeline of
/// `total` nanoseconds: at least one column, never past the end.
pub fn bar_columns(offset: u64, duration: u64, total: u64, width: usize) -> (usize, usize) {
    let total = total.max(1) as u128;
    let w = width as u128;
    let from = ((offset as u128 * w) / total).min(w.saturating_sub(1)) as usize;
    let end = (offset as u128 + duration as u128) * w;
    let to = end.div_ceil(total).min(w) as usize;
    (from, to.max(from + 1))
}

/// `0.42ms`, `12.3ms`, `1.25s`.
pub fn format_duration(nanos: u64) -> String {
    let ms = nanos as f64 / 1e6;
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testing::{TRACE_ID, sample_trace};

    #[test]
    fn bars_cover_the_span_share_of_the_timeline() {
        for (offset, duration, total, want, why) in [
            (0, 100, 100, (0, 10), "the whole trace"),
            (50, 50, 100, (5, 10), "the second half"),
            (0, 0, 100, (0, 1), "an instant still gets one column"),
            (99, 1, 100, (9, 10), "the last column"),
            (
                100,
                0,
                100,
                (9, 10),
                "ending at the end stays on the timeline",
            ),
            (0, 5, 0, (0, 10), "an empty trace does not divide by zero"),
        ] {
            assert_eq!(bar_columns(offset, duration, total, 10), want, "{why}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(420_000), "0.42ms");
        assert_eq!(format_duration(12_340_000), "12.3ms");
        assert_eq!(format_duration(1_250_000_000), "1.25s");
    }

    #[test]
    fn draws_every_span_with_its_tree_kind_and_status() {
        let spans = sample_trace("process usage", (60, 90));
        let tree = TraceTree::of(TRACE_ID, &spans).expect("a tree");
        let text = render(&tree, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "title, header, three spans:\n{text}");
        assert!(lines[0].contains("3 spans · 3 services · 0.10ms"), "{text}");
        assert!(lines[2].starts_with("gateway  POST"), "{text}");
        assert!(lines[3].starts_with("├─ tap  send tap.events"), "{text}");
        assert!(
            lines[3].contains("PRODUCER") && lines[3].contains("+0.01ms"),
            "{text}"
        );
        assert!(
            lines[4].starts_with("└─ meter") && lines[4].ends_with("ERROR"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no colours unless asked");
        assert!(render(&tree, true).contains(RED), "errors in red");
    }
}
