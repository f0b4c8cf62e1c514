//! An HTTP/1.1 client for the suites: keep-alive connections reused across
//! requests (fail-open scenarios send thousands), every request bounded by a
//! timeout, run on the fixture runtime so it works from any test.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::runtime::{block_on, runtime};

/// How long a request may take by default, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
}

/// A pooled HTTP/1.1 client for `127.0.0.1` ports. Cheap to clone (clones
/// share the pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

// === impl HttpResponse ===

impl HttpResponse {
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name`, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

// === impl HttpClient ===

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with [`DEFAULT_TIMEOUT`] and an unbounded keep-alive pool.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `GET http://127.0.0.1:{port}{path}` with extra `headers` (a `host`
    /// header replaces the default `127.0.0.1:{port}`).
    pub async fn get(
        &self,
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse> {
        self.request(Method::GET, port, path, headers, Bytes::new())
            .await
    }

    /// Sends one request and reads the whole response.
    pub async fn request(
        &self,
        method: Method,
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<HttpResponse> {
        let uri = format!("http://127.0.0.1:{port}{path}");
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .body(Full::new(body))
            .with_context(|| format!("invalid request {method} {uri}"))?;
        for (name, value) in headers {
            let name = HeaderName::try_from(*name)
                .with_context(|| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::try_from(*value)
                .with_context(|| format!("invalid value {value:?} for header {name}"))?;
            request.headers_mut().append(name, value);
        }
        let client = self.inner.clone();
        let timeout = self.timeout;
        let exchange = async move {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            anyhow::Ok(HttpResponse {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        runtime()?
            .spawn(async move { tokio::time::timeout(timeout, exchange).await })
            .await
            .context("the request task panicked")?
            .with_context(|| format!("{method} {uri}: no response within {timeout:?}"))?
            .with_context(|| format!("{method} {uri} failed"))
    }

    /// [`HttpClient::get`] for synchronous code (blocks the calling
    /// thread; fine inside a test's runtime, never inside a fixture).
    pub fn get_blocking(
        &self,
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse> {
        let client = self.clone();
        let path = path.to_owned();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        block_on(async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            client.get(port, &path, &headers).await
        })?
    }
}

/// `GET http://127.0.0.1:{port}{path}` on a process-wide shared
/// [`HttpClient`] (so keep-alive connections are reused across calls).
pub async fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
    shared().get(port, path, headers).await
}

/// The process-wide client behind [`http_get`].
pub fn shared() -> &'static HttpClient {
    static CLIENT: OnceLock<HttpClient> = OnceLock::new();
    CLIENT.get_or_init(HttpClient::new)
}
