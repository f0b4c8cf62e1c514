use std::time::{Duration, Instant};

use ::http::Method;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::*;
use crate::http_client::{HttpClient, HttpResponse};

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// One export from `service` holding spans named `names`.
fn export(service: &str, names: &[&str]) -> ExportTraceServiceRequest {
    let spans = names
        .iter()
        .enumerate()
        .map(|(i, name)| Span {
            trace_id: vec![0x4b; 16],
            span_id: vec![i as u8 + 1; 8],
            name: (*name).into(),
            attributes: vec![string_kv("http.route", "/orders")],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn post(
    client: &HttpClient,
    port: u16,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<HttpResponse> {
    client
        .request(
            Method::POST,
            port,
            path,
            &[("content-type", content_type)],
            Bytes::from(body),
        )
        .await
}

async fn grpc_client(receiver: &OtlpReceiver) -> TraceServiceClient<tonic::transport::Channel> {
    TraceServiceClient::connect(format!("http://127.0.0.1:{}", receiver.grpc_port()))
        .await
        .expect("gRPC client connects")
}

#[tokio::test]
async fn decodes_an_http_export_and_answers_an_empty_response() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    let body = export("orders", &["GET /orders", "SELECT"]).encode_to_vec();
    let response = post(
        &HttpClient::new(),
        receiver.http_port(),
        "/v1/traces",
        "application/x-protobuf",
        body,
    )
    .await
    .expect("POST answered");
    assert_eq!(response.status, 200, "body: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/x-protobuf")
    );
    ExportTraceServiceResponse::decode(response.body.clone()).expect("body is a response");

    let spans = receiver.wait_for_spans(2, Duration::from_secs(5)).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(spans[0].span.name, "GET /orders");
    assert_eq!(spans[0].service_name, "orders");
    assert_eq!(spans[0].protocol, Protocol::HttpProtobuf);
    assert_eq!(spans[1].span_id(), "0202020202020202");
    assert_eq!(spans[1].trace_id(), "4b".repeat(16));
    assert_eq!(spans[1].str_attr("http.route").as_deref(), Some("/orders"));
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(receiver.export_attempts().accepted, 1);
}

#[test]
fn a_count_only_receiver_counts_both_protocols_and_keeps_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let receiver =
        OtlpReceiver::start_on(runtime.handle(), Retention::CountOnly).expect("receiver starts");
    let mut two_kinds = export("orders", &["GET /orders", "SELECT"]);
    two_kinds.resource_spans[0].scope_spans[0].spans[0].kind = SpanKind::Server as i32;
    two_kinds.resource_spans[0].scope_spans[0].spans[1].kind = SpanKind::Client as i32;
    let client = HttpClient::new();
    let http = post(
        &client,
        receiver.http_port(),
        "/v1/traces",
        "application/x-protobuf",
        two_kinds.encode_to_vec(),
    );
    let response = runtime.block_on(http).expect("POST answered");
    assert_eq!(response.status, 200, "body: {}", response.text());
    let malformed = post(
        &client,
        receiver.http_port(),
        "/v1/traces",
        "application/x-protobuf",
        vec![0x0a, 0x05, 0x01],
    );
    assert_eq!(runtime.block_on(malformed).expect("answered").status, 400);
    runtime.block_on(async {
        let mut client = grpc_client(&receiver).await;
        client.export(two_kinds).await.expect("gRPC export OK");
    });
    let counts = receiver.counts();
    assert_eq!(
        (
            counts.server,
            counts.client,
            counts.exports,
            counts.rejected
        ),
        (2, 2, 2, 1),
        "{counts:?}"
    );
    assert_eq!(receiver.span_count(), 4);
    assert!(receiver.requests().is_empty(), "count-only keeps no export");
    assert_eq!(counts.since(&counts), SpanCounts::default());
}

#[tokio::test]
async fn decodes_a_grpc_export() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    let mut client = grpc_client(&receiver).await;
    client
        .export(export("frontend", &["GET /"]))
        .await
        .expect("gRPC export OK");
    let spans = receiver.wait_for_spans(1, Duration::from_secs(5)).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].protocol, Protocol::Grpc);
    assert_eq!(spans[0].service_name, "frontend");
    assert_eq!(receiver.span_count(), 1);
}

#[tokio::test]
async fn rejects_malformed_http_requests() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    let client = HttpClient::new();
    let port = receiver.http_port();
    let good = export("orders", &["x"]).encode_to_vec();
    let cases: [(&str, &str, Vec<u8>, u16, &str); 4] = [
        (
            "/v1/traces",
            "application/json",
            b"{}".to_vec(),
            415,
            "JSON is not binary protobuf",
        ),
        ("/v1/traces", "", good.clone(), 415, "no content type"),
        (
            "/v1/metrics",
            "application/x-protobuf",
            good,
            404,
            "not the traces path",
        ),
        (
            "/v1/traces",
            "application/x-protobuf",
            vec![0xff; 7],
            400,
            "body does not decode",
        ),
    ];
    for (path, content_type, body, status, reason) in cases {
        let response = post(&client, port, path, content_type, body)
            .await
            .expect(reason);
        assert_eq!(response.status, status, "{reason}: {}", response.text());
    }
    let response = client
        .get(port, "/v1/traces", &[])
        .await
        .expect("GET answered");
    assert_eq!(response.status, 405, "GET is not an export");
    assert_eq!(receiver.export_attempts().rejected, 5);
    assert_eq!(receiver.span_count(), 0, "nothing malformed is stored");
}

#[tokio::test]
async fn unavailable_mode_refuses_both_protocols_and_counts() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    receiver.set_mode(FaultMode::Unavailable);
    let body = export("orders", &["x"]).encode_to_vec();
    let response = post(
        &HttpClient::new(),
        receiver.http_port(),
        "/v1/traces",
        "application/x-protobuf",
        body,
    )
    .await
    .expect("POST answered");
    assert_eq!(response.status, 503);
    let status = grpc_client(&receiver)
        .await
        .export(export("orders", &["x"]))
        .await
        .expect_err("gRPC export refused");
    assert_eq!(status.code(), tonic::Code::Unavailable);

    let attempts = receiver.export_attempts();
    assert_eq!(attempts.unavailable, 2, "{attempts:?}");
    assert_eq!(attempts.total(), 2, "{attempts:?}");
    assert_eq!(receiver.span_count(), 0, "refused exports are not stored");

    receiver.set_mode(FaultMode::Normal);
    grpc_client(&receiver)
        .await
        .export(export("orders", &["y"]))
        .await
        .expect("accepted again in Normal mode");
    assert_eq!(receiver.span_count(), 1);
}

#[tokio::test]
async fn stall_mode_holds_exports_past_the_client_timeout() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    receiver.set_mode(FaultMode::Stall(Duration::from_millis(400)));
    let body = export("orders", &["x"]).encode_to_vec();
    let impatient = HttpClient::new().with_timeout(Duration::from_millis(100));
    let port = receiver.http_port();
    post(
        &impatient,
        port,
        "/v1/traces",
        "application/x-protobuf",
        body.clone(),
    )
    .await
    .expect_err("HTTP export outlasts a 100 ms timeout");
    let mut grpc = grpc_client(&receiver).await;
    let call = tokio::time::timeout(Duration::from_millis(100), grpc.export(export("o", &["x"])));
    assert!(call.await.is_err(), "gRPC export outlasts a 100 ms timeout");

    // A patient client gets the answer after the hold.
    let start = Instant::now();
    let response = post(
        &HttpClient::new(),
        port,
        "/v1/traces",
        "application/x-protobuf",
        body,
    )
    .await
    .expect("answered after the stall");
    assert_eq!(response.status, 200);
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "held {:?}",
        start.elapsed()
    );

    let attempts = receiver
        .wait_for_export_attempts(3, Duration::from_secs(5))
        .await;
    assert_eq!(attempts.stalled, 3, "{attempts:?}");
    assert_eq!(receiver.span_count(), 0, "stalled exports are not stored");
    assert_eq!(
        receiver.mode(),
        FaultMode::Stall(Duration::from_millis(400))
    );
}

#[tokio::test]
async fn wait_for_spans_returns_what_it_has_at_the_timeout() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    grpc_client(&receiver)
        .await
        .export(export("orders", &["only"]))
        .await
        .expect("export OK");
    let start = Instant::now();
    let spans = receiver.wait_for_spans(5, Duration::from_millis(200)).await;
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(spans.len(), 1, "the one span that came");

    receiver.clear();
    assert_eq!(receiver.span_count(), 0);
    assert_eq!(receiver.export_attempts(), ExportAttempts::default());
}

#[tokio::test]
async fn stops_serving_on_drop() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    let port = receiver.http_port();
    drop(receiver);
    let client = HttpClient::new().with_timeout(Duration::from_secs(2));
    let body = export("orders", &["x"]).encode_to_vec();
    let result = post(&client, port, "/v1/traces", "application/x-protobuf", body).await;
    assert!(
        result.is_err(),
        "dropped receiver still answered: {result:?}"
    );
}
