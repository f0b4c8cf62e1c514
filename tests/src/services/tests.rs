use std::time::Duration;

use super::*;
use meshtrace_harness::http_client::{HttpClient, http_get};
use meshtrace_harness::ports::free_port;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn recording_app_forwards_trace_headers_as_is_to_next() {
    let leaf = RecordingApp::start("orders", None).await;
    let front = RecordingApp::start("frontend", Some(Next::local(leaf.port()))).await;
    let response = http_get(
        front.port(),
        "/orders?id=7",
        &[
            ("traceparent", TRACEPARENT),
            ("tracestate", "vendor=abc,other=x"),
            ("baggage", "user=42"),
            ("baggage", "tenant=t1"),
            ("x-not-forwarded", "1"),
        ],
    )
    .await
    .expect("frontend answers");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "frontend -> orders");
    assert_eq!(response.header("x-app"), Some("frontend"));

    let got = front.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-not-forwarded"), Some("1"));
    let sent = leaf.received();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "GET");
    assert_eq!(sent[0].path, "/orders?id=7");
    assert_eq!(sent[0].header("traceparent"), Some(TRACEPARENT));
    assert_eq!(sent[0].header("tracestate"), Some("vendor=abc,other=x"));
    assert_eq!(sent[0].header_all("baggage"), ["user=42", "tenant=t1"]);
    assert_eq!(
        sent[0].header("x-not-forwarded"),
        None,
        "only trace headers go on"
    );
}

#[tokio::test]
async fn recording_app_without_trace_headers_sends_none() {
    let leaf = RecordingApp::start("orders", None).await;
    let next = Next::local(leaf.port()).with_authority("orders.svc");
    let front = RecordingApp::start("frontend", Some(next)).await;
    http_get(front.port(), "/", &[]).await.expect("answered");
    let sent = &leaf.received()[0];
    for name in FORWARDED_HEADERS {
        assert_eq!(sent.header(name), None, "{name} appeared from nowhere");
    }
    assert_eq!(sent.header("host"), Some("orders.svc"));
}

#[tokio::test]
async fn status_paths_answer_that_status_through_the_chain() {
    let leaf = RecordingApp::start("orders", None).await;
    let front = RecordingApp::start("frontend", Some(Next::local(leaf.port()))).await;
    let cases = [
        ("/status/503", 503),
        ("/status/404", 404),
        ("/status/abc", 400),
        ("/x", 200),
    ];
    for (path, status) in cases {
        let response = http_get(front.port(), path, &[]).await.expect(path);
        assert_eq!(response.status, status, "{path}: {}", response.text());
    }
}

#[tokio::test]
async fn recording_app_answers_502_when_next_is_down() {
    let front = RecordingApp::start(
        "frontend",
        Some(Next::local(free_port().expect("free port"))),
    )
    .await;
    let response = http_get(front.port(), "/", &[]).await.expect("answered");
    assert_eq!(response.status, 502, "{}", response.text());
}

#[tokio::test]
async fn identity_service_allows_and_denies_and_records() {
    let identity = IdentityService::start().await;
    let allowed = http_get(
        identity.port(),
        "/authz/orders",
        &[("traceparent", TRACEPARENT)],
    )
    .await
    .expect("answered");
    assert_eq!(allowed.status, 200);
    let denied = http_get(identity.port(), "/authz/admin", &[(DENY_HEADER, "1")])
        .await
        .expect("answered");
    assert_eq!(denied.status, 403);
    let checks = identity.received();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].path, "/authz/orders");
    assert_eq!(checks[0].header("traceparent"), Some(TRACEPARENT));
    assert_eq!(checks[1].header(DENY_HEADER), Some("1"));
    identity.clear();
    assert!(identity.received().is_empty());
}

#[tokio::test]
async fn client_sends_hundreds_of_requests() {
    let leaf = RecordingApp::start("orders", None).await;
    let client = HttpClient::new().with_timeout(Duration::from_secs(5));
    for _ in 0..300 {
        let response = client.get(leaf.port(), "/", &[]).await.expect("answered");
        assert_eq!(response.status, 200);
    }
    assert_eq!(leaf.received().len(), 300);
}
