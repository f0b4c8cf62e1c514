//! An application behind Envoy that records requests and propagates trace
//! context to its next hop, as an app with W3C propagation but no tracer
//! does.

use std::convert::Infallible;
use std::sync::Arc;

use http::Method;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;

use super::Recorder;
use meshtrace_harness::http_client::HttpClient;
use meshtrace_harness::http_server::{PlainResponse, ServerTask, serve, text};

use super::ReceivedRequest;

/// The headers a [`RecordingApp`] copies, all values as-is, onto its call
/// to the next hop.
pub const FORWARDED_HEADERS: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// Where a [`RecordingApp`] calls next: usually its Envoy's outbound
/// listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    /// Port on `127.0.0.1`.
    pub port: u16,
    /// `host` header to send; `127.0.0.1:{port}` when `None`.
    pub authority: Option<String>,
}

/// A recording, propagating application; stopped on drop.
///
/// Every request is recorded. With a [`Next`], the app sends `GET` with the
/// same path and query to it, carrying the incoming [`FORWARDED_HEADERS`],
/// and answers with the next hop's status and `{name} -> {next body}`; it
/// answers 502 if the call fails. Without one (a leaf), it answers
/// `GET /status/{code}` with that code, anything else with 200, and its
/// name as the body. Every answer carries `x-app: {name}`.
#[derive(Debug)]
pub struct RecordingApp {
    name: String,
    recorder: Recorder,
    server: ServerTask,
}

// === impl Next ===

impl Next {
    /// `127.0.0.1:{port}`, with the default `host` header.
    pub fn local(port: u16) -> Self {
        Self {
            port,
            authority: None,
        }
    }

    /// Sends this `host` header (e.g. to match an Envoy virtual host).
    pub fn with_authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self
    }
}

// === impl RecordingApp ===

impl RecordingApp {
    /// Starts the app on a fresh loopback port.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start(name: &str, next: Option<Next>) -> Self {
        let recorder = Recorder::default();
        let app = Arc::new(App {
            name: name.to_owned(),
            next,
            recorder: recorder.clone(),
            client: HttpClient::new(),
        });
        let server = serve(service_fn(move |req| app.clone().handle(req)))
            .unwrap_or_else(|e| panic!("app {name} cannot bind loopback: {e}"));
        Self {
            name: name.to_owned(),
            recorder,
            server,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.recorder.all()
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        self.recorder.clear();
    }
}

struct App {
    name: String,
    next: Option<Next>,
    recorder: Recorder,
    client: HttpClient,
}

// === impl App ===

impl App {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<PlainResponse, Infallible> {
        self.recorder.record(&req);
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
        let response = match &self.next {
            Some(next) => self.forward(next, &req, &path).await,
            None => self.answer(&path),
        };
        response.map(|mut r| {
            if let Ok(name) = self.name.parse() {
                r.headers_mut().insert("x-app", name);
            }
            r
        })
    }

    async fn forward(
        &self,
        next: &Next,
        req: &Request<Incoming>,
        path: &str,
    ) -> Result<PlainResponse, Infallible> {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        for name in FORWARDED_HEADERS {
            for value in req.headers().get_all(name) {
                if let Ok(value) = value.to_str() {
                    headers.push((name, value));
                }
            }
        }
        if let Some(authority) = &next.authority {
            headers.push(("host", authority));
        }
        let result = self
            .client
            .request(Method::GET, next.port, path, &headers, Default::default())
            .await;
        match result {
            Ok(downstream) => text(
                downstream.status,
                format!("{} -> {}", self.name, downstream.text()),
            ),
            Err(e) => text(
                502,
                format!("{}: call to next hop failed: {e:#}", self.name),
            ),
        }
    }

    fn answer(&self, path: &str) -> Result<PlainResponse, Infallible> {
        let status = match path.strip_prefix("/status/") {
            Some(code) => match code.split(['?', '/']).next().unwrap_or("").parse::<u16>() {
                Ok(code) if (100..1000).contains(&code) => code,
                _ => return text(400, format!("bad status in {path}")),
            },
            None => 200,
        };
        text(status, self.name.clone())
    }
}
