//! OTLP/HTTP: `POST /v1/traces` with `content-type: application/x-protobuf`.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tokio::runtime::Handle;

use super::counts::SpanCounts;
use super::state::{Arrived, Shared, Verdict};
use super::{HTTP_TRACES_PATH, Retention};
use crate::Protocol;
use crate::http_server::{PlainResponse, ServerTask, serve_on, text};

/// The OTLP/HTTP binary protobuf content type.
pub(super) const PROTOBUF: &str = "application/x-protobuf";

/// Serves OTLP/HTTP on a fresh loopback port, on `runtime`.
pub(super) fn serve(runtime: &Handle, shared: Arc<Shared>) -> io::Result<ServerTask> {
    serve_on(runtime, service_fn(move |req| handle(shared.clone(), req)))
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<PlainResponse, Infallible> {
    if req.uri().path() != HTTP_TRACES_PATH {
        shared.reject();
        return text(404, format!("only {HTTP_TRACES_PATH} is served"));
    }
    if req.method() != Method::POST {
        shared.reject();
        return text(405, "only POST");
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Parameters (`; charset=...`) are allowed; the media type is not.
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(PROTOBUF) {
        shared.reject();
        return text(
            415,
            format!("content-type {content_type:?} is not {PROTOBUF}"),
        );
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            shared.reject();
            return text(400, format!("cannot read the body: {e}"));
        }
    };
    let arrived = match shared.retention() {
        Retention::Decode => ExportTraceServiceRequest::decode(body)
            .map(Arrived::Decoded)
            .map_err(|e| e.to_string()),
        Retention::CountOnly => SpanCounts::of_bytes(&body)
            .map(Arrived::Counted)
            .ok_or_else(|| "malformed protobuf".to_owned()),
    };
    let arrived = match arrived {
        Ok(arrived) => arrived,
        Err(e) => {
            shared.reject();
            return text(
                400,
                format!("body is not an ExportTraceServiceRequest: {e}"),
            );
        }
    };
    match shared.admit(Protocol::HttpProtobuf, arrived) {
        Verdict::Accepted => Ok(success()),
        Verdict::Unavailable => text(503, "receiver unavailable (fault mode)"),
        Verdict::Stall(hold) => {
            tokio::time::sleep(hold).await;
            Ok(success())
        }
    }
}

fn success() -> PlainResponse {
    let body = Bytes::from(ExportTraceServiceResponse::default().encode_to_vec());
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(PROTOBUF),
    );
    response
}
