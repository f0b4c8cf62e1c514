//! A real OTLP trace receiver on loopback: OTLP/HTTP (`POST /v1/traces`,
//! binary protobuf) and OTLP/gRPC (`TraceService/Export`, cleartext
//! HTTP/2), each on its own port. By default it decodes every export into
//! `ExportTraceServiceRequest` and keeps it with the protocol it came over
//! (the suites, the demo, `trace-viewer`); count-only, it keeps just the
//! spans per kind ([`SpanCounts`], read in place from OTLP/HTTP bodies) and
//! costs the measured machine little (the benchmarks). Fault modes switch
//! at runtime, for fail-open tests.
//!
//! ```no_run
//! use std::time::Duration;
//! use meshtrace_harness::otlp::{FaultMode, OtlpReceiver};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let receiver = OtlpReceiver::start().await?;
//! // ... render an Envoy config whose collector cluster points at
//! // receiver.http_port() or receiver.grpc_port(), send traffic ...
//! let spans = receiver.wait_for_spans(2, Duration::from_secs(10)).await;
//! assert_eq!(spans.len(), 2, "spans: {spans:#?}");
//! receiver.set_mode(FaultMode::Unavailable);
//! # Ok(())
//! # }
//! ```

mod attrs;
mod counts;
mod grpc;
mod http;
mod span;
mod state;

#[cfg(test)]
mod envoy_tests;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::runtime::Handle;

pub use attrs::{attr, hex, int_attr, spans, str_attr};
pub use counts::SpanCounts;
pub use span::ReceivedSpan;
pub use state::{ExportAttempts, FaultMode};

use crate::Protocol;
use crate::http_server::ServerTask;
use crate::runtime::runtime;
use state::Shared;

/// The OTLP/HTTP traces path.
pub const HTTP_TRACES_PATH: &str = "/v1/traces";
/// The OTLP/gRPC export method's path.
pub const GRPC_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// How often [`OtlpReceiver::wait_for_spans`] looks again.
const POLL: Duration = Duration::from_millis(10);

/// What the receiver keeps of an accepted export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// The decoded export ([`OtlpReceiver::requests`],
    /// [`OtlpReceiver::spans`]) and the counts.
    #[default]
    Decode,
    /// The counts only ([`OtlpReceiver::counts`]); OTLP/HTTP bodies are not
    /// decoded but walked in place.
    CountOnly,
}

/// One accepted export request and the transport it came over.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedExport {
    /// The transport.
    pub protocol: Protocol,
    /// The decoded request.
    pub request: ExportTraceServiceRequest,
}

/// The running receiver; both servers stop on drop.
#[derive(Debug)]
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    http: ServerTask,
    grpc: ServerTask,
}

// === impl OtlpReceiver ===

impl OtlpReceiver {
    /// Starts both servers on fresh loopback ports, decoding, in
    /// [`FaultMode::Normal`], on the harness runtime.
    ///
    /// # Errors
    ///
    /// If loopback ports cannot be bound or the runtime cannot be built.
    pub async fn start() -> io::Result<Self> {
        Self::start_blocking()
    }

    /// [`OtlpReceiver::start`] for synchronous callers. The servers run on
    /// the harness runtime either way.
    ///
    /// # Errors
    ///
    /// As [`OtlpReceiver::start`].
    pub fn start_blocking() -> io::Result<Self> {
        Self::start_on(runtime()?.handle(), Retention::Decode)
    }

    /// Starts both servers on `runtime` (e.g. one pinned beside the load
    /// generator), keeping what `retention` says.
    ///
    /// # Errors
    ///
    /// If loopback ports cannot be bound.
    pub fn start_on(runtime: &Handle, retention: Retention) -> io::Result<Self> {
        let shared = Arc::new(Shared::new(retention));
        let http = http::serve(runtime, shared.clone())?;
        let grpc = grpc::serve(runtime, shared.clone())?;
        Ok(Self { shared, http, grpc })
    }

    /// The OTLP/HTTP port on `127.0.0.1` (`POST /v1/traces`).
    pub fn http_port(&self) -> u16 {
        self.http.port()
    }

    /// The OTLP/gRPC port on `127.0.0.1` (HTTP/2 cleartext).
    pub fn grpc_port(&self) -> u16 {
        self.grpc.port()
    }

    /// Switches how later exports are answered.
    pub fn set_mode(&self, mode: FaultMode) {
        self.shared.set_mode(mode);
    }

    /// The current fault mode.
    pub fn mode(&self) -> FaultMode {
        self.shared.mode()
    }

    /// Every accepted export, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedExport> {
        self.shared.exports()
    }

    /// Every span of every accepted export, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared
            .exports()
            .iter()
            .flat_map(ReceivedSpan::all_of)
            .collect()
    }

    /// How many spans the accepted exports held.
    pub fn span_count(&self) -> usize {
        usize::try_from(self.counts().spans()).unwrap_or(usize::MAX)
    }

    /// Spans per kind and export calls accepted (and requests rejected)
    /// since start or [`OtlpReceiver::clear`].
    pub fn counts(&self) -> SpanCounts {
        self.shared.counts()
    }

    /// Export attempts per outcome, counted as they arrive.
    pub fn export_attempts(&self) -> ExportAttempts {
        self.shared.attempts()
    }

    /// Waits until at least `n` spans were accepted or `timeout` passed,
    /// then returns every span received (fewer than `n` on timeout, so the
    /// test can print what did arrive).
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        while self.span_count() < n && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        self.spans()
    }

    /// Waits until at least `n` export attempts (any outcome) arrived or
    /// `timeout` passed, then returns the counts.
    pub async fn wait_for_export_attempts(&self, n: u64, timeout: Duration) -> ExportAttempts {
        let deadline = Instant::now() + timeout;
        while self.export_attempts().total() < n && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        self.export_attempts()
    }

    /// Forgets every stored export and zeroes the attempt counts (the mode
    /// stays).
    pub fn clear(&self) {
        self.shared.clear();
    }
}
