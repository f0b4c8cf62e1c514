//! A fast upstream for the `upstream` variant: every request gets
//! `200 ok` with a two-byte body, on a kept-alive connection.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::runtime::Handle;

use meshtrace_harness::http_server::{ServerTask, serve_on as serve};

/// The running upstream and its request counter.
#[derive(Debug)]
pub struct Upstream {
    task: ServerTask,
    requests: Arc<AtomicU64>,
}

// === impl Upstream ===

impl Upstream {
    /// Starts the upstream on a fresh loopback port.
    pub fn start(runtime: &Handle) -> io::Result<Self> {
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let task = serve(
            runtime,
            service_fn(move |_req: Request<Incoming>| {
                counter.fetch_add(1, Ordering::Relaxed);
                async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
            }),
        )?;
        Ok(Self { task, requests })
    }

    /// The port it listens on, on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.task.port()
    }

    /// Requests served since start.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
