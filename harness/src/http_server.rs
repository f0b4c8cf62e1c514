//! The accept loop every HTTP server of the harness shares (the OTLP
//! receiver, the tests' services, the benchmarks' upstream, through
//! [`serve_on`]): HTTP/1.1 and
//! cleartext HTTP/2 (prior knowledge, as Envoy's gRPC client and
//! `http2_protocol_options` clusters speak it) on one loopback port.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io;
use std::net::{Ipv4Addr, TcpListener as StdListener};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::task::{JoinHandle, JoinSet};

use crate::runtime::runtime;

/// A server running on a runtime; stopped (listener closed, open
/// connections dropped) on drop.
#[derive(Debug)]
pub struct ServerTask {
    port: u16,
    task: JoinHandle<()>,
}

// === impl ServerTask ===

impl ServerTask {
    /// The port it listens on, on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every
        // connection task.
        self.task.abort();
    }
}

/// Serves `service` on a fresh port of `127.0.0.1` on the fixture
/// runtime, bound before this returns (no free-port race).
pub fn serve<S, B>(service: S) -> io::Result<ServerTask>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_on(runtime()?.handle(), service)
}

/// Serves `service` on a fresh port of `127.0.0.1` on `runtime`, bound
/// before this returns (no free-port race).
///
/// # Errors
///
/// When the port cannot be bound.
pub fn serve_on<S, B>(runtime: &Handle, service: S) -> io::Result<ServerTask>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let listener = {
        let _guard = runtime.enter();
        TcpListener::from_std(listener)?
    };
    let task = runtime.spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let service = service.clone();
                    connections.spawn(async move {
                        let builder = auto::Builder::new(TokioExecutor::new());
                        // A peer that resets or speaks garbage ends only its
                        // own connection.
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Reap finished connections so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(ServerTask { port, task })
}

/// The response type of the plain (non-gRPC) fixture handlers.
pub type PlainResponse = Response<Full<Bytes>>;

/// A response with `status` and a text body.
pub fn text(status: u16, body: impl Into<Bytes>) -> Result<PlainResponse, Infallible> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok(response)
}
