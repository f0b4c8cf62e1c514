//! Test services to put around Envoy: [`RecordingApp`], an application that
//! records what reaches it and propagates trace context to the next hop
//! without a tracer of its own, [`IdentityService`], an `ext_authz`
//! HTTP service, and [`ZipkinReceiver`], a Zipkin collector for Envoy's
//! Zipkin tracer. Both are hyper servers on fresh loopback ports, stopped on
//! drop.
//!
//! ```no_run
//! use meshtrace_tests::services::{Next, RecordingApp};
//!
//! # async fn demo(envoy_outbound_port: u16) {
//! let orders = RecordingApp::start("orders", None).await;
//! let frontend = RecordingApp::start("frontend", Some(Next::local(envoy_outbound_port))).await;
//! // ... route Envoy's inbound listener to frontend.port() and its outbound
//! // listener to orders.port(), send a request ...
//! println!("{:?}", orders.received()[0].header("traceparent"));
//! # }
//! ```

mod identity;
mod recording_app;
mod zipkin;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use http::HeaderMap;
use hyper::Request;

pub use identity::{DENY_HEADER, IdentityService};
pub use recording_app::{FORWARDED_HEADERS, Next, RecordingApp};
pub use zipkin::{ZipkinReceiver, ZipkinSpan};

/// A request as a test service received it.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// Path and query, e.g. `/orders?id=1`.
    pub path: String,
    /// Every header as received.
    pub headers: HeaderMap,
}

// === impl ReceivedRequest ===

impl ReceivedRequest {
    fn of<B>(req: &Request<B>) -> Self {
        Self {
            method: req.method().to_string(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned()),
            headers: req.headers().clone(),
        }
    }

    /// The first value of header `name`, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of header `name` that is valid UTF-8, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

/// The requests a service received, shared with its handler.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ReceivedRequest>>>);

// === impl Recorder ===

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Vec<ReceivedRequest>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record<B>(&self, req: &Request<B>) {
        self.lock().push(ReceivedRequest::of(req));
    }

    fn all(&self) -> Vec<ReceivedRequest> {
        self.lock().clone()
    }

    fn clear(&self) {
        self.lock().clear();
    }
}
