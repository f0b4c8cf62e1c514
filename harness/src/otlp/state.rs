//! What the receiver's handlers share: the fault mode, the accepted
//! exports (unless it only counts), the span counts and the attempt
//! counts, behind one mutex taken once per export.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::counts::SpanCounts;
use super::{ReceivedExport, Retention};
use crate::Protocol;

/// How the receiver answers exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FaultMode {
    /// Accept and store: HTTP 200 with an empty
    /// `ExportTraceServiceResponse`, gRPC OK.
    #[default]
    Normal,
    /// Refuse without storing: HTTP 503, gRPC `UNAVAILABLE`.
    Unavailable,
    /// Hold each export this long, then answer as `Normal` would but
    /// without storing it (the client, whose timeout should be shorter, has
    /// given up by then and counts the export as failed).
    Stall(Duration),
}

/// Export attempts by outcome. An attempt is counted when its request
/// arrives, before any stall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportAttempts {
    /// Answered in [`FaultMode::Normal`] and stored.
    pub accepted: u64,
    /// Refused in [`FaultMode::Unavailable`].
    pub unavailable: u64,
    /// Held in [`FaultMode::Stall`].
    pub stalled: u64,
    /// OTLP/HTTP requests refused as malformed: wrong path (404), method
    /// (405) or content type (415), or a body that does not decode (400).
    /// (A gRPC message that does not decode is refused by the codec before
    /// the receiver sees it.)
    pub rejected: u64,
}

/// What a handler should do with an export that decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Stored; answer success.
    Accepted,
    /// Answer unavailable.
    Unavailable,
    /// Wait this long, then answer success.
    Stall(Duration),
}

/// What an export that was accepted is, as far as the receiver keeps it.
pub(super) enum Arrived {
    /// Decoded whole (every gRPC export; OTLP/HTTP when decoding).
    Decoded(ExportTraceServiceRequest),
    /// Counted in place ([`Retention::CountOnly`] over OTLP/HTTP).
    Counted(SpanCounts),
}

#[derive(Debug, Default)]
struct Inner {
    mode: FaultMode,
    exports: Vec<ReceivedExport>,
    counts: SpanCounts,
    attempts: ExportAttempts,
}

/// The receiver's shared state.
#[derive(Debug)]
pub(super) struct Shared {
    retention: Retention,
    inner: Mutex<Inner>,
}

// === impl ExportAttempts ===

impl ExportAttempts {
    /// Every attempt, whatever its outcome.
    pub fn total(&self) -> u64 {
        self.accepted + self.unavailable + self.stalled + self.rejected
    }
}

// === impl Shared ===

impl Shared {
    pub(super) fn new(retention: Retention) -> Self {
        Self {
            retention,
            inner: Mutex::default(),
        }
    }

    /// Whether exports are kept decoded or only counted.
    pub(super) fn retention(&self) -> Retention {
        self.retention
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide what the receiver got.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an export that decoded and, if the mode accepts it, its
    /// spans; stores it unless the receiver only counts.
    pub(super) fn admit(&self, protocol: Protocol, arrived: Arrived) -> Verdict {
        let mut inner = self.lock();
        match inner.mode {
            FaultMode::Normal => {
                inner.attempts.accepted += 1;
                match arrived {
                    Arrived::Counted(counts) => inner.counts.add(&counts),
                    Arrived::Decoded(request) => {
                        inner.counts.add(&SpanCounts::of_request(&request));
                        if self.retention == Retention::Decode {
                            inner.exports.push(ReceivedExport { protocol, request });
                        }
                    }
                }
                Verdict::Accepted
            }
            FaultMode::Unavailable => {
                inner.attempts.unavailable += 1;
                Verdict::Unavailable
            }
            FaultMode::Stall(hold) => {
                inner.attempts.stalled += 1;
                Verdict::Stall(hold)
            }
        }
    }

    /// Counts a malformed OTLP/HTTP request.
    pub(super) fn reject(&self) {
        let mut inner = self.lock();
        inner.attempts.rejected += 1;
        inner.counts.rejected += 1;
    }

    pub(super) fn set_mode(&self, mode: FaultMode) {
        self.lock().mode = mode;
    }

    pub(super) fn mode(&self) -> FaultMode {
        self.lock().mode
    }

    pub(super) fn exports(&self) -> Vec<ReceivedExport> {
        self.lock().exports.clone()
    }

    pub(super) fn counts(&self) -> SpanCounts {
        self.lock().counts
    }

    pub(super) fn attempts(&self) -> ExportAttempts {
        self.lock().attempts
    }

    pub(super) fn clear(&self) {
        let mut inner = self.lock();
        inner.exports.clear();
        inner.counts = SpanCounts::default();
        inner.attempts = ExportAttempts::default();
    }
}
