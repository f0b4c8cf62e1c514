//! The native HTTP layer and client end to end: axum service A (with
//! `ServerTraceLayer`) calls service B (with the layer) through
//! `TracedClient`; spans go through a real SDK pipeline to the OTLP receiver,
//! over gRPC and over HTTP/protobuf.
//!
//! The tracer provider and propagator are process-wide globals, so the tests
//! take [`GLOBALS`] for their whole run.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use meshtrace::http::{ServerTraceLayer, TracedClient};
use meshtrace_harness::otlp::{OtlpReceiver, ReceivedSpan};
use meshtrace_tests::sdk_pipeline::{Transport, flush, install};
use opentelemetry::global;
use opentelemetry::trace::Tracer;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use tokio::net::TcpListener;

/// Serialises the tests: each installs its own global provider.
static GLOBALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SERVICE_NAME: &str = "meshtrace-native-http";
/// The span id of the caller in front of A (the sidecar).
const INCOMING_SPAN_ID: &str = "00f067aa0ba902b7";
/// The span A's handler starts itself.
const HANDLER_SPAN: &str = "load order";
const WAIT: Duration = Duration::from_secs(10);

// === services ===

#[derive(Clone)]
struct Orders {
    client: TracedClient,
    stock_url: String,
}

/// A: `GET /orders/{id}` asks B for stock and answers 200 with
/// `{B's status} {B's body}`, so a failing B does not fail A.
async fn order(State(orders): State<Orders>, Path(id): Path<String>) -> (StatusCode, String) {
    // A span of the handler's own: the layer made SERVER(A) current.
    drop(global::tracer("orders").start(HANDLER_SPAN));
    let url = format!("{}/stock/{id}", orders.stock_url);
    match orders.client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (StatusCode::OK, format!("{status} {body}"))
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// B: `GET /stock/{sku}` answers with the `traceparent` it received; `out`
/// is 503, `missing` is 404.
async fn stock(Path(sku): Path<String>, headers: HeaderMap) -> (StatusCode, String) {
    let traceparent = headers
        .get(meshtrace::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = match sku.as_str() {
        "out" => StatusCode::SERVICE_UNAVAILABLE,
        "missing" => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    (status, traceparent)
}

/// Serves `app` on a fresh loopback port (with `ConnectInfo`), returning
/// its base URL.
async fn serve(app: Router) -> (String, u16) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind loopback: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (format!("http://127.0.0.1:{port}"), port)
}

struct Apps {
    a_url: String,
    a_port: u16,
    b_url: String,
    b_port: u16,
}

async fn start_apps() -> Apps {
    let b = Router::new()
        .route("/stock/{sku}", get(stock))
        .layer(ServerTraceLayer::new());
    let (b_url, b_port) = serve(b).await;
    let a = Router::new()
        .route("/orders/{id}", get(order))
        .with_state(Orders {
            client: TracedClient::default(),
            stock_url: b_url.clone(),
        })
        .layer(ServerTraceLayer::new());
    let (a_url, a_port) = serve(a).await;
    Apps {
        a_url,
        a_port,
        b_url,
        b_port,
    }
}

/// Calls A (untraced) with an incoming `traceparent`; returns A's body.
async fn call_a(apps: &Apps, id: &str, traceparent: &str) -> String {
    let response = reqwest_client()
        .get(format!("{}/orders/{id}?verbose=1&sig=secret", apps.a_url))
        .header(meshtrace::TRACEPARENT, traceparent)
        .header("user-agent", "native-http-test")
        .send()
        .await
        .unwrap_or_else(|e| panic!("calling A failed: {e}"));
    assert_eq!(response.status().as_u16(), 200, "A answers 200 for {id}");
    response
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading A's body failed: {e}"))
}

/// A plain reqwest client: sends only the headers the test sets.
fn reqwest_client() -> reqwest::Client {
    reqwest::Client::new()
}

// === assertions ===

fn incoming(trace_id: &str, sampled: bool) -> String {
    let flags = if sampled { "01" } else { "00" };
    format!("00-{trace_id}-{INCOMING_SPAN_ID}-{flags}")
}

fn status(span: &ReceivedSpan) -> i32 {
    span.span.status.as_ref().map_or(0, |s| s.code)
}

fn one<'a>(spans: &[&'a ReceivedSpan], kind: SpanKind, name: &str) -> &'a ReceivedSpan {
    let found: Vec<&'a ReceivedSpan> = spans
        .iter()
        .copied()
        .filter(|s| s.span.kind == kind as i32 && s.span.name == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind:?} span {name:?} in {spans:#?}");
    found[0]
}

/// Asserts SERVER(A) → CLIENT(A) → SERVER(B) (and the handler's own span
/// under SERVER(A)) for one incoming trace and returns the three HTTP spans.
fn chain<'a>(
    all: &'a [ReceivedSpan],
    trace_id: &str,
) -> (&'a ReceivedSpan, &'a ReceivedSpan, &'a ReceivedSpan) {
    let spans: Vec<&ReceivedSpan> = all.iter().filter(|s| s.trace_id() == trace_id).collect();
    assert_eq!(spans.len(), 4, "four spans in trace {trace_id}: {all:#?}");
    let server_a = one(&spans, SpanKind::Server, "GET /orders/{id}");
    let client_a = one(&spans, SpanKind::Client, "GET");
    let server_b = one(&spans, SpanKind::Server, "GET /stock/{sku}");
    let handler = one(&spans, SpanKind::Internal, HANDLER_SPAN);
    assert_eq!(
        handler.parent_span_id(),
        server_a.span_id(),
        "a span made in A's handler is a child of SERVER(A)"
    );
    assert_eq!(
        server_a.parent_span_id(),
        INCOMING_SPAN_ID,
        "A continues the incoming traceparent"
    );
    assert_eq!(
        client_a.parent_span_id(),
        server_a.span_id(),
        "CLIENT(A) is a child of SERVER(A)"
    );
    assert_eq!(
        server_b.parent_span_id(),
        client_a.span_id(),
        "SERVER(B) is a child of CLIENT(A)"
    );
    for span in [server_a, client_a, server_b] {
        assert_eq!(span.service_name, SERVICE_NAME);
        assert_eq!(span.scope_name, "meshtrace");
    }
    (server_a, client_a, server_b)
}

async fn run_flow(transport: Transport) {
    let _globals = GLOBALS.lock().await;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let provider = install(&receiver, transport, SERVICE_NAME);
    let apps = start_apps().await;

    let ok_trace = "4bf92f3577b34da6a3ce929d0e0e4701";
    let out_trace = "4bf92f3577b34da6a3ce929d0e0e4702";
    let missing_trace = "4bf92f3577b34da6a3ce929d0e0e4703";
    let unsampled_trace = "4bf92f3577b34da6a3ce929d0e0e4704";

    let ok = call_a(&apps, "sku-1", &incoming(ok_trace, true)).await;
    let out = call_a(&apps, "out", &incoming(out_trace, true)).await;
    let missing = call_a(&apps, "missing", &incoming(missing_trace, true)).await;
    let unsampled = call_a(&apps, "sku-2", &incoming(unsampled_trace, false)).await;
    assert!(ok.starts_with("200 00-"), "B answered: {ok}");
    assert!(out.starts_with("503 "), "B answered: {out}");
    assert!(missing.starts_with("404 "), "B answered: {missing}");

    // The unsampled request still carries its trace on, unsampled.
    let b_saw = unsampled.trim_start_matches("200 ");
    assert!(
        b_saw.starts_with(&format!("00-{unsampled_trace}-")) && b_saw.ends_with("-00"),
        "B receives the unsampled trace: {unsampled}"
    );

    flush(provider).await;
    let spans = receiver.wait_for_spans(12, WAIT).await;
    assert!(
        spans.iter().all(|s| s.trace_id() != unsampled_trace),
        "an unsampled request records no span: {spans:#?}"
    );
    assert_eq!(spans.len(), 12, "3 traces of 4 spans: {spans:#?}");

    // 200: attributes on all three, no error anywhere.
    let (server_a, client_a, server_b) = chain(&spans, ok_trace);
    let expect_str = |span: &ReceivedSpan, key: &str, want: &str| {
        assert_eq!(
            span.str_attr(key).as_deref(),
            Some(want),
            "{key} of {}",
            span.span.name
        );
    };
    let expect_int = |span: &ReceivedSpan, key: &str, want: i64| {
        assert_eq!(
            span.int_attr(key),
            Some(want),
            "{key} of {}",
            span.span.name
        );
    };
    expect_str(server_a, "http.request.method", "GET");
    expect_str(server_a, "url.path", "/orders/sku-1");
    expect_str(server_a, "url.query", "verbose=1&sig=REDACTED");
    expect_str(server_a, "url.scheme", "http");
    expect_str(server_a, "http.route", "/orders/{id}");
    expect_str(server_a, "server.address", "127.0.0.1");
    expect_int(server_a, "server.port", i64::from(apps.a_port));
    expect_str(server_a, "network.protocol.version", "1.1");
    expect_str(server_a, "user_agent.original", "native-http-test");
    expect_str(server_a, "client.address", "127.0.0.1");
    expect_int(server_a, "http.response.status_code", 200);
    expect_str(client_a, "http.request.method", "GET");
    expect_str(client_a, "url.full", &format!("{}/stock/sku-1", apps.b_url));
    expect_str(client_a, "server.address", "127.0.0.1");
    expect_int(client_a, "server.port", i64::from(apps.b_port));
    expect_int(client_a, "http.response.status_code", 200);
    expect_str(server_b, "http.route", "/stock/{sku}");
    expect_int(server_b, "server.port", i64::from(apps.b_port));
    expect_int(server_b, "http.response.status_code", 200);
    for span in [server_a, client_a, server_b] {
        assert_eq!(
            span.str_attr("error.type"),
            None,
            "no error.type on {}",
            span.span.name
        );
        assert_eq!(
            status(span),
            OtlpStatus::Unset as i32,
            "{} is not an error",
            span.span.name
        );
    }
    // B received CLIENT(A) as its parent, sampled.
    assert!(
        ok.ends_with(&format!("-{}-01", client_a.span_id())),
        "B saw: {ok}"
    );

    // 503: CLIENT(A) and SERVER(B) are errors, SERVER(A) (which answered 200) is not.
    let (server_a, client_a, server_b) = chain(&spans, out_trace);
    expect_int(client_a, "http.response.status_code", 503);
    expect_str(client_a, "error.type", "503");
    assert_eq!(
        status(client_a),
        OtlpStatus::Error as i32,
        "CLIENT(A) on 503"
    );
    expect_int(server_b, "http.response.status_code", 503);
    expect_str(server_b, "error.type", "503");
    assert_eq!(
        status(server_b),
        OtlpStatus::Error as i32,
        "SERVER(B) on 503"
    );
    assert_eq!(
        status(server_a),
        OtlpStatus::Unset as i32,
        "SERVER(A) answered 200"
    );

    // 404: an error for the client, not for the server.
    let (_, client_a, server_b) = chain(&spans, missing_trace);
    expect_str(client_a, "error.type", "404");
    assert_eq!(
        status(client_a),
        OtlpStatus::Error as i32,
        "CLIENT(A) on 404"
    );
    expect_int(server_b, "http.response.status_code", 404);
    assert_eq!(
        server_b.str_attr("error.type"),
        None,
        "SERVER(B) 404 has no error.type"
    );
    assert_eq!(
        status(server_b),
        OtlpStatus::Unset as i32,
        "SERVER(B) on 404 is not an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_calls_b_over_otlp_grpc() {
    run_flow(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_calls_b_over_otlp_http_protobuf() {
    run_flow(Transport::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_without_traceparent_starts_a_new_trace() {
    let _globals = GLOBALS.lock().await;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let provider = install(&receiver, Transport::Grpc, SERVICE_NAME);
    let apps = start_apps().await;

    let response = reqwest_client()
        .get(format!("{}/orders/sku-9", apps.a_url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("calling A failed: {e}"));
    assert_eq!(response.status().as_u16(), 200);

    flush(provider).await;
    let spans = receiver.wait_for_spans(4, WAIT).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let server_a = spans
        .iter()
        .find(|s| s.span.name == "GET /orders/{id}")
        .unwrap_or_else(|| panic!("no SERVER(A) in {spans:#?}"));
    assert_eq!(server_a.parent_span_id(), "", "SERVER(A) is a root");
    assert!(
        spans.iter().all(|s| s.trace_id() == server_a.trace_id()),
        "one trace: {spans:#?}"
    );
}
