//! A Zipkin collector for tests: accepts `POST /api/v2/spans` (JSON v2,
//! what Envoy's Zipkin tracer sends) and keeps each span's ids.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use meshtrace_harness::http_server::{PlainResponse, ServerTask, serve, text};

/// One span as Zipkin's JSON v2 has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipkinSpan {
    /// `traceId` (16 or 32 hex digits).
    pub trace_id: String,
    /// `id`.
    pub id: String,
    /// `parentId`, absent for a root.
    pub parent_id: Option<String>,
    /// `kind` (`SERVER`, `CLIENT`...).
    pub kind: Option<String>,
    /// `localEndpoint.serviceName`.
    pub service: Option<String>,
}

/// The collector, stopped on drop.
pub struct ZipkinReceiver {
    spans: Arc<Mutex<Vec<ZipkinSpan>>>,
    server: ServerTask,
}

// === impl ZipkinReceiver ===

impl ZipkinReceiver {
    /// Starts it on a fresh loopback port.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let store = spans.clone();
        let server = serve(service_fn(move |req| accept(store.clone(), req)))
            .unwrap_or_else(|e| panic!("Zipkin receiver cannot bind loopback: {e}"));
        Self { spans, server }
    }

    /// Its port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Waits until at least `n` spans arrived (or `timeout`) and returns
    /// them all.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ZipkinSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans.lock().map(|s| s.clone()).unwrap_or_default();
            if spans.len() >= n || Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn accept(
    store: Arc<Mutex<Vec<ZipkinSpan>>>,
    req: Request<Incoming>,
) -> Result<PlainResponse, Infallible> {
    if req.uri().path() != "/api/v2/spans" {
        return text(404, "not a Zipkin endpoint");
    }
    let Ok(body) = req.into_body().collect().await else {
        return text(400, "unreadable body");
    };
    let Ok(serde_json::Value::Array(spans)) = serde_json::from_slice(&body.to_bytes()) else {
        return text(400, "not a JSON v2 span list");
    };
    let field = |span: &serde_json::Value, name: &str| span.get(name)?.as_str().map(str::to_owned);
    let parsed = spans.iter().filter_map(|span| {
        Some(ZipkinSpan {
            trace_id: field(span, "traceId")?,
            id: field(span, "id")?,
            parent_id: field(span, "parentId"),
            kind: field(span, "kind"),
            service: span
                .get("localEndpoint")
                .and_then(|e| e.get("serviceName"))
                .and_then(|s| s.as_str())
                .map(str::to_owned),
        })
    });
    if let Ok(mut all) = store.lock() {
        all.extend(parsed);
    }
    text(202, "")
}
