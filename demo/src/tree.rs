//! Spans of one trace as a parent/child tree, flattened into rows in
//! depth-first order (children by start time), with offsets from the
//! trace's first span. Pure: the waterfall and the SVG draw these rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::record::SpanRecord;

/// One row of a waterfall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The span.
    pub span: SpanRecord,
    /// Nesting depth, 0 for a root.
    pub depth: usize,
    /// Whether the span names a parent that is not in the trace (a lost
    /// parent: drawn as a root).
    pub orphan: bool,
    /// Start, nanoseconds after the trace's first start.
    pub offset_nanos: u64,
    /// `├─`/`└─` guides to draw before the label, one entry per ancestor
    /// level: `true` when that ancestor has later siblings.
    pub guides: Vec<bool>,
    /// Whether this is its parent's last child.
    pub last: bool,
}

/// One trace, ready to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceTree {
    /// Lowercase hex trace id.
    pub trace_id: String,
    /// Rows in drawing order.
    pub rows: Vec<Row>,
    /// Earliest start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// From the earliest start to the latest end, nanoseconds.
    pub total_nanos: u64,
}

// === impl TraceTree ===

impl TraceTree {
    /// The tree of the spans of trace `trace_id` in `spans` (others are
    /// ignored); `None` when there are none.
    pub fn of(trace_id: &str, spans: &[SpanRecord]) -> Option<Self> {
        let spans: Vec<&SpanRecord> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
        let start = spans.iter().map(|s| s.start_unix_nanos).min()?;
        let end = spans
            .iter()
            .map(|s| s.end_unix_nanos.max(s.start_unix_nanos))
            .max()
            .unwrap_or(start);
        let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
        let mut children: HashMap<&str, Vec<&SpanRecord>> = HashMap::new();
        let mut roots = Vec::new();
        for span in &spans {
            let parent = span.parent_span_id.as_str();
            if parent.is_empty() || !ids.contains(parent) || parent == span.span_id {
                roots.push(*span);
            } else {
                children.entry(parent).or_default().push(*span);
            }
        }
        let by_start = |a: &&SpanRecord, b: &&SpanRecord| {
            (a.start_unix_nanos, &a.span_id).cmp(&(b.start_unix_nanos, &b.span_id))
        };
        roots.sort_by(by_start);
        children.values_mut().for_each(|c| c.sort_by(by_start));

        let mut rows = Vec::with_capacity(spans.len());
        let mut seen = HashSet::new();
        let root_count = roots.len();
        for (i, root) in roots.into_iter().enumerate() {
            let walk = Walk {
                children: &children,
                start,
            };
            walk.visit(
                root,
                0,
                Vec::new(),
                i + 1 == root_count,
                &mut rows,
                &mut seen,
            );
        }
        // Spans only reachable through a cycle of parent ids: drawn as
        // orphan roots rather than dropped.
        let mut rest: Vec<&SpanRecord> = spans
            .iter()
            .copied()
            .filter(|s| !seen.contains(&s.span_id))
            .collect();
        rest.sort_by(by_start);
        for span in rest {
            let walk = Walk {
                children: &children,
                start,
            };
            walk.visit(span, 0, Vec::new(), true, &mut rows, &mut seen);
        }
        Some(Self {
            trace_id: trace_id.to_owned(),
            rows,
            start_unix_nanos: start,
            total_nanos: end - start,
        })
    }

    /// One tree per trace in `spans`, the earliest trace first.
    pub fn all(spans: &[SpanRecord]) -> Vec<Self> {
        let mut first_start: BTreeMap<&str, u64> = BTreeMap::new();
        for s in spans {
            let entry = first_start.entry(&s.trace_id).or_insert(u64::MAX);
            *entry = (*entry).min(s.start_unix_nanos);
        }
        let mut traces: Vec<(&str, u64)> = first_start.into_iter().collect();
        traces.sort_by_key(|(id, start)| (*start, *id));
        traces
            .into_iter()
            .filter_map(|(id, _)| Self::of(id, spans))
            .collect()
    }

    /// The distinct services, in order of first appearance in the rows.
    pub fn services(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !out.contains(&row.span.service.as_str()) {
                out.push(&row.span.service);
            }
        }
        out
    }
}

struct Walk<'a> {
    children: &'a HashMap<&'a str, Vec<&'a SpanRecord>>,
    start: u64,
}

// === impl Walk ===

impl Walk<'_> {
    fn visit(
        &self,
        span: &SpanRecord,
        depth: usize,
        guides: Vec<bool>,
        last: bool,
        rows: &mut Vec<Row>,
        seen: &mut HashSet<String>,
    ) {
        // A cycle of parent ids cannot loop forever.
        if !seen.insert(span.span_id.clone()) {
            return;
        }
        let parent = span.parent_span_id.as_str();
        rows.push(Row {
            span: span.clone(),
            depth,
            orphan: depth == 0 && !parent.is_empty(),
            offset_nanos: span.start_unix_nanos.saturating_sub(self.start),
            guides: guides.clone(),
            last,
        });
        let kids = self
            .children
            .get(span.span_id.as_str())
            .map_or(&[][..], |v| v.as_slice());
        for (i, child) in kids.iter().enumerate() {
            let mut child_guides = guides.clone();
            if depth > 0 {
                child_guides.push(!last);
            }
            self.visit(
                child,
                depth + 1,
                child_guides,
                i + 1 == kids.len(),
                rows,
                seen,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;
    use crate::record::testing::{TRACE_ID, span};

    fn names(tree: &TraceTree) -> Vec<(usize, &str)> {
        tree.rows
            .iter()
            .map(|r| (r.depth, r.span.span_id.as_str()))
            .collect()
    }

    #[test]
    fn orders_depth_first_with_children_by_start() {
        let spans = vec![
            span("c2", "root", "b", "late", Kind::Client, 50, 60),
            span("root", "", "a", "GET", Kind::Server, 0, 100),
            span("c1", "root", "b", "early", Kind::Client, 10, 20),
            span("g1", "c1", "c", "leaf", Kind::Server, 12, 18),
        ];
        let tree = TraceTree::of(TRACE_ID, &spans).expect("a tree");
        assert_eq!(
            names(&tree),
            [(0, "root"), (1, "c1"), (2, "g1"), (1, "c2")],
            "children follow their parent, earliest first"
        );
        assert_eq!(tree.total_nanos, 100_000);
        assert_eq!(tree.rows[2].offset_nanos, 12_000);
        assert!(!tree.rows[1].last && tree.rows[3].last);
        assert_eq!(tree.services(), ["a", "b", "c"]);
    }

    #[test]
    fn a_lost_parent_makes_an_orphan_root() {
        let spans = vec![
            span("root", "", "a", "GET", Kind::Server, 0, 10),
            span("x", "missing", "b", "process", Kind::Consumer, 5, 8),
        ];
        let tree = TraceTree::of(TRACE_ID, &spans).expect("a tree");
        assert_eq!(names(&tree), [(0, "root"), (0, "x")]);
        assert!(!tree.rows[0].orphan, "a real root");
        assert!(tree.rows[1].orphan, "its parent is not in the trace");
    }

    #[test]
    fn separates_traces_and_survives_cycles() {
        let mut other = span("o", "", "z", "other", Kind::Server, 200, 300);
        other.trace_id = "o".repeat(32);
        let spans = vec![
            other,
            span("a", "b", "s", "x", Kind::Internal, 0, 1),
            span("b", "a", "s", "y", Kind::Internal, 0, 1),
        ];
        let trees = TraceTree::all(&spans);
        assert_eq!(trees.len(), 2);
        assert_eq!(trees[0].trace_id, TRACE_ID, "earliest trace first");
        assert_eq!(trees[0].rows.len(), 2, "a cycle is still drawn");
        assert!(trees[0].rows[0].orphan);
        assert!(TraceTree::of("nope", &spans).is_none());
    }
}
