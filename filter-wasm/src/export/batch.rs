//! The per-VM span batch: bounded, pre-encoded, flushed by size or by tick.
//!
//! Finished spans are encoded once into one growing buffer of framed OTLP
//! `Span` messages. A flush takes up to `max_spans` of them and wraps them in
//! an `ExportTraceServiceRequest`. At most `max_queued_spans` spans are held,
//! counting those inside export calls still in flight, so a dead or stalled
//! collector costs bounded memory: beyond the bound new spans are dropped and
//! counted, and requests keep flowing.

use std::collections::VecDeque;

use crate::config::BatchConfig;
use crate::export::otlp::{RequestEncoder, encode_span, frame_span};
use crate::span::SpanRecord;

/// What happened to a pushed span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued; `batch_full` when a full batch is waiting to be exported.
    Queued {
        /// At least `max_spans` spans are queued.
        batch_full: bool,
    },
    /// The bound was reached; the span was dropped.
    Dropped,
}

/// One export request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The encoded `ExportTraceServiceRequest`.
    pub body: Vec<u8>,
    /// Spans it carries.
    pub spans: usize,
}

/// The bounded span queue of one VM.
#[derive(Debug)]
pub struct Batcher {
    /// Framed spans, oldest first.
    buf: Vec<u8>,
    /// Framed length of each queued span.
    lens: VecDeque<usize>,
    /// Reused encoding buffer.
    scratch: Vec<u8>,
    /// Export calls in flight: (token, spans).
    in_flight: Vec<(u32, usize)>,
    max_spans: usize,
    max_held: usize,
    max_in_flight: usize,
}

// === impl Batcher ===

impl Batcher {
    /// An empty batcher with the configured bounds.
    pub fn new(config: &BatchConfig) -> Self {
        let max_spans = config.max_spans.max(1) as usize;
        Self {
            buf: Vec::new(),
            lens: VecDeque::new(),
            scratch: Vec::new(),
            in_flight: Vec::new(),
            max_spans,
            max_held: (config.max_queued_spans as usize).max(max_spans),
            max_in_flight: config.max_in_flight.max(1) as usize,
        }
    }

    /// Spans waiting for export.
    pub fn queued(&self) -> usize {
        self.lens.len()
    }

    /// Spans inside export calls still in flight.
    pub fn in_flight_spans(&self) -> usize {
        self.in_flight.iter().map(|(_, n)| n).sum()
    }

    /// Export calls in flight.
    pub fn in_flight_calls(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether another export call may start now.
    pub fn can_send(&self) -> bool {
        self.in_flight.len() < self.max_in_flight
    }

    /// Whether at least one full batch is queued.
    pub fn has_full_batch(&self) -> bool {
        self.queued() >= self.max_spans
    }

    /// Encodes and queues a finished span, unless the bound is reached.
    pub fn push(&mut self, span: &SpanRecord) -> Pushed {
        if self.queued() + self.in_flight_spans() >= self.max_held {
            return Pushed::Dropped;
        }
        self.scratch.clear();
        encode_span(span, &mut self.scratch);
        let before = self.buf.len();
        frame_span(&self.scratch, &mut self.buf);
        self.lens.push_back(self.buf.len() - before);
        Pushed::Queued {
            batch_full: self.has_full_batch(),
        }
    }

    /// Takes the next export request (up to `max_spans` spans), if spans are
    /// queued and fewer than `max_in_flight` calls are out.
    pub fn next_batch(&mut self, encoder: &RequestEncoder) -> Option<Batch> {
        if self.lens.is_empty() || !self.can_send() {
            return None;
        }
        let spans = self.lens.len().min(self.max_spans);
        let bytes: usize = self.lens.drain(..spans).sum();
        let body = encoder.encode(self.buf.get(..bytes).unwrap_or_default());
        self.buf.drain(..bytes.min(self.buf.len()));
        if self.lens.is_empty() {
            // Give back memory after a burst.
            self.buf.shrink_to(self.max_spans * 512);
        }
        Some(Batch { body, spans })
    }

    /// Records a dispatched export call; its spans stay counted against the
    /// bound until [`Batcher::finish`].
    pub fn sent(&mut self, token: u32, spans: usize) {
        self.in_flight.push((token, spans));
    }

    /// Ends an export call, returning how many spans it carried, or `None`
    /// for a token this batcher did not send.
    pub fn finish(&mut self, token: u32) -> Option<usize> {
        let at = self.in_flight.iter().position(|(t, _)| *t == token)?;
        Some(self.in_flight.swap_remove(at).1)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::*;
    use crate::span::{HttpObservation, SpanKind};
    use crate::traceparent::{SpanId, TraceFlags, TraceId};

    fn config(max_spans: u32, max_queued: u32, max_in_flight: u32) -> BatchConfig {
        BatchConfig {
            max_spans,
            flush_interval_ms: 1000,
            max_queued_spans: max_queued,
            max_in_flight,
        }
    }

    fn span(n: u8) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_bytes([n.max(1); 16]),
            span_id: SpanId::from_bytes([n.max(1); 8]),
            parent_span_id: None,
            flags: TraceFlags::from_u8(1),
            trace_state: None,
            link: None,
            kind: SpanKind::Client,
            start_unix_nanos: 10,
            end_unix_nanos: 20,
            capture_query: false,
            http: HttpObservation {
                method: Some("GET".into()),
                status_code: Some(200),
                ..HttpObservation::default()
            },
        }
    }

    fn encoder() -> RequestEncoder {
        RequestEncoder::new("svc", &[], "meshtrace-filter", "test")
    }

    fn decoded_span_ids(batch: &Batch) -> Vec<u8> {
        let req = ExportTraceServiceRequest::decode(batch.body.as_slice()).expect("protobuf");
        req.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.span_id[0])
            .collect()
    }

    #[test]
    fn reports_full_batch_at_max_spans() {
        let mut b = Batcher::new(&config(3, 10, 1));
        assert_eq!(b.push(&span(1)), Pushed::Queued { batch_full: false });
        assert_eq!(b.push(&span(2)), Pushed::Queued { batch_full: false });
        assert_eq!(b.push(&span(3)), Pushed::Queued { batch_full: true });
    }

    #[test]
    fn batches_are_fifo_and_capped_at_max_spans() {
        let mut b = Batcher::new(&config(2, 10, 5));
        for n in 1..=5 {
            b.push(&span(n));
        }
        let enc = encoder();
        let first = b.next_batch(&enc).expect("batch");
        assert_eq!(first.spans, 2);
        assert_eq!(decoded_span_ids(&first), vec![1, 2]);
        let second = b.next_batch(&enc).expect("batch");
        assert_eq!(decoded_span_ids(&second), vec![3, 4]);
        let third = b.next_batch(&enc).expect("batch");
        assert_eq!(decoded_span_ids(&third), vec![5]);
        assert!(b.next_batch(&enc).is_none());
    }

    #[test]
    fn bound_counts_in_flight_spans_and_frees_on_finish() {
        let mut b = Batcher::new(&config(2, 4, 1));
        let enc = encoder();
        for n in 1..=4 {
            assert!(matches!(b.push(&span(n)), Pushed::Queued { .. }));
        }
        assert_eq!(b.push(&span(5)), Pushed::Dropped, "queue full");
        let batch = b.next_batch(&enc).expect("batch");
        b.sent(7, batch.spans);
        assert_eq!(
            b.push(&span(6)),
            Pushed::Dropped,
            "in-flight spans still held"
        );
        assert!(b.next_batch(&enc).is_none(), "max_in_flight = 1");
        assert_eq!(b.finish(7), Some(2));
        assert_eq!(b.finish(7), None, "a token finishes once");
        assert!(matches!(b.push(&span(6)), Pushed::Queued { .. }));
        assert_eq!(b.queued(), 3);
        assert_eq!(b.in_flight_calls(), 0);
    }
}
