//! The accept loop the sink and the upstream share: HTTP/1.1 and cleartext
//! HTTP/2 (prior knowledge, as Envoy's gRPC client speaks it) on one
//! loopback port.

use std::error::Error as StdError;
use std::io;
use std::net::{Ipv4Addr, TcpListener as StdListener};

use bytes::Bytes;
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::task::{JoinHandle, JoinSet};

/// A server running on a runtime; stopped (listener closed, connections
/// dropped) on drop.
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
        self.task.abort();
    }
}

/// Serves `service` on a fresh port of `127.0.0.1` on `runtime`; the port
/// is bound before this returns.
pub fn serve<S, B>(runtime: &Handle, service: S) -> io::Result<ServerTask>
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
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(ServerTask { port, task })
}
