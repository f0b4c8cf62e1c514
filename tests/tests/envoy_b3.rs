//! B3 against a real peer: Envoy's own Zipkin tracer (B3 multi headers, a
//! 128-bit trace) in front of a meshtrace sidecar reading
//! `propagators: ["tracecontext", "b3multi"]`, in two real Envoy 1.40
//! processes. One trace across both tracers: the Zipkin span Envoy
//! reports is the parent of the sidecar's SERVER span, and the app behind
//! the sidecar gets both formats for the next hop.

use std::time::Duration;

use meshtrace_harness::envoy::{EnvoyOptions, EnvoyProcess};
use meshtrace_harness::http_client::http_get;
use meshtrace_harness::otlp::OtlpReceiver;
use meshtrace_harness::ports::free_ports;
use meshtrace_tests::mesh::{FilterTweaks, Sidecar};
use meshtrace_tests::services::ZipkinReceiver;

const WAIT: Duration = Duration::from_secs(15);
const SERVER: i32 = 2;

/// A front Envoy tracing with Zipkin (every request sampled, spans flushed
/// one by one) and routing to `upstream`.
fn zipkin_front(admin: u16, listener: u16, upstream: u16, zipkin: u16) -> String {
    format!(
        r#"
node: {{ id: front, cluster: front }}
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
layered_runtime:
  layers:
  - name: static
    static_layer:
      tracing.zipkin.min_flush_spans: 1
static_resources:
  listeners:
  - name: front
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {listener} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: front
          generate_request_id: true
          tracing:
            random_sampling: {{ value: 100 }}
            provider:
              name: envoy.tracers.zipkin
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig
                collector_cluster: zipkin
                collector_endpoint: /api/v2/spans
                collector_endpoint_version: HTTP_JSON
                trace_id_128bit: true
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: sidecar }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: sidecar
    type: STATIC
    load_assignment:
      cluster_name: sidecar
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {upstream} }} }} }}
  - name: zipkin
    type: STATIC
    load_assignment:
      cluster_name: zipkin
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {zipkin} }} }} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoys_zipkin_tracer_and_the_sidecar_make_one_trace() {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let zipkin = ZipkinReceiver::start();
    let [admin, edge] = free_ports::<2>().expect("free ports");
    let tweaks = FilterTweaks::http().with_inbound(|c| {
        c.with_member(
            "propagators",
            serde_json::json!(["tracecontext", "b3multi"]),
        )
    });
    let side = Sidecar::start("orders", &receiver, &tweaks, 1)
        .await
        .expect("sidecar starts");
    let app = &side.app;
    let _front = EnvoyProcess::start(
        &zipkin_front(admin, edge, side.inbound, zipkin.port()),
        EnvoyOptions::default(),
    )
    .expect("the Zipkin-tracing Envoy starts");

    let resp = http_get(edge, "/orders", &[]).await.expect("request");
    assert_eq!(resp.status, 200);

    let zipkin_spans = zipkin.wait_for_spans(1, WAIT).await;
    let front = zipkin_spans
        .first()
        .unwrap_or_else(|| panic!("Envoy's Zipkin tracer reported no span"));
    assert_eq!(front.trace_id.len(), 32, "128-bit trace: {front:?}");
    let otlp = receiver.wait_for_spans(1, WAIT).await;
    let server = otlp
        .iter()
        .find(|s| s.span.kind == SERVER)
        .unwrap_or_else(|| panic!("the sidecar reported no SERVER span: {otlp:#?}"));
    assert_eq!(
        server.trace_id(),
        front.trace_id,
        "one trace across both tracers"
    );
    let zipkin_ids: Vec<&str> = zipkin_spans
        .iter()
        .filter(|s| s.trace_id == front.trace_id)
        .map(|s| s.id.as_str())
        .collect();
    assert!(
        zipkin_ids.contains(&server.parent_span_id().as_str()),
        "the sidecar's span is the child of Envoy's Zipkin span ({} in {zipkin_ids:?})",
        server.parent_span_id()
    );

    let got = &app.received()[0];
    let traceparent = got.header("traceparent").expect("W3C for the next hop");
    assert!(
        traceparent.contains(&front.trace_id) && traceparent.contains(&server.span_id()),
        "{traceparent}"
    );
    assert_eq!(got.header("x-b3-traceid"), Some(front.trace_id.as_str()));
    assert_eq!(
        got.header("x-b3-spanid"),
        Some(server.span_id().as_str()),
        "B3 for the next hop names the sidecar's span"
    );
}
