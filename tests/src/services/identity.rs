//! An Envoy `ext_authz` HTTP authorization service.
//!
//! Envoy sends it the original method and the original path with the
//! filter's `path_prefix` prepended, plus the headers the `ext_authz`
//! config allows (by default only a few: `host`, `authorization`, ...;
//! list `x-deny` and the trace headers under `allowed_headers` to see
//! them).

use std::convert::Infallible;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;

use super::{ReceivedRequest, Recorder};
use meshtrace_harness::http_server::{PlainResponse, ServerTask, serve, text};

/// A check request with this header set to `1` is denied (403).
pub const DENY_HEADER: &str = "x-deny";

/// The authorization service; stopped on drop. Answers every check 200
/// (allow), or 403 when it carries `x-deny: 1`.
#[derive(Debug)]
pub struct IdentityService {
    recorder: Recorder,
    server: ServerTask,
}

// === impl IdentityService ===

impl IdentityService {
    /// Starts the service on a fresh loopback port.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start() -> Self {
        let recorder = Recorder::default();
        let handler = recorder.clone();
        let server = serve(service_fn(move |req| check(handler.clone(), req)))
            .unwrap_or_else(|e| panic!("identity service cannot bind loopback: {e}"));
        Self { recorder, server }
    }

    /// Its port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Every check request received so far, in order.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.recorder.all()
    }

    /// Forgets the check requests received so far.
    pub fn clear(&self) {
        self.recorder.clear();
    }
}

async fn check(recorder: Recorder, req: Request<Incoming>) -> Result<PlainResponse, Infallible> {
    recorder.record(&req);
    let deny = req
        .headers()
        .get(DENY_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1");
    if deny {
        text(403, "denied")
    } else {
        text(200, "")
    }
}
