//! Per-route overrides in a real Envoy 1.40 running the shipped sidecar,
//! whose inbound listener names its `/healthz` route `healthz` and whose
//! filter turns tracing off for it (`route_overrides`): probes go through
//! untouched and unrecorded, the rest is traced.

use std::time::Duration;

use meshtrace_harness::http_client::http_get;
use meshtrace_harness::otlp::OtlpReceiver;
use meshtrace_tests::mesh::{FilterTweaks, Sidecar};

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_healthz_route_is_not_traced() {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let side = Sidecar::start("orders", &receiver, &FilterTweaks::http(), 1)
        .await
        .expect("sidecar starts");
    let (inbound, app) = (side.inbound, &side.app);

    for _ in 0..20 {
        let resp = http_get(inbound, "/healthz", &[("traceparent", INCOMING)])
            .await
            .expect("probe");
        assert_eq!(resp.status, 200);
    }
    let resp = http_get(inbound, "/orders", &[("traceparent", INCOMING)])
        .await
        .expect("request");
    assert_eq!(resp.status, 200);

    let received = app.received();
    for probe in &received[..20] {
        assert_eq!(
            probe.header("traceparent"),
            Some(INCOMING),
            "left untouched"
        );
    }
    let traced = &received[20];
    assert_ne!(traced.header("traceparent"), Some(INCOMING), "rewritten");
    let spans = receiver.wait_for_spans(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let spans = if spans.len() == 1 {
        receiver.spans()
    } else {
        spans
    };
    assert_eq!(spans.len(), 1, "only /orders recorded: {spans:#?}");
    assert_eq!(spans[0].str_attr("url.path").as_deref(), Some("/orders"));
}
