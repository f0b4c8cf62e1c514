//! The receiver against Envoy's own OTLP clients: Envoy's built-in
//! OpenTelemetry tracer exports over its gRPC client (cleartext HTTP/2 to a
//! `http2_protocol_options` cluster) and over its HTTP async client, the
//! same client paths the meshtrace filter's exports take.

use std::time::Duration;

use super::*;
use crate::envoy::{EnvoyOptions, EnvoyProcess};
use crate::http_client::HttpClient;
use crate::ports::free_port;

/// One listener on `{port}` answering directly, traced by Envoy's
/// OpenTelemetry tracer through `{exporter}`, flushing every span at once.
fn traced_config(port: u16, receiver: &OtlpReceiver, exporter: &str) -> String {
    let (grpc, http) = (receiver.grpc_port(), receiver.http_port());
    format!(
        r#"
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
layered_runtime:
  layers:
  - name: static
    static_layer:
      tracing.opentelemetry.min_flush_spans: 1
      tracing.opentelemetry.flush_interval_ms: 100
static_resources:
  listeners:
  - name: main
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          tracing:
            provider:
              name: envoy.tracers.opentelemetry
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                service_name: envoy-{exporter}
                {exporter_config}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                direct_response: {{ status: 200, body: {{ inline_string: "hello" }} }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: otlp_grpc
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{ http2_protocol_options: {{}} }}
    load_assignment:
      cluster_name: otlp_grpc
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {grpc} }} }} }}
  - name: otlp_http
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: otlp_http
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {http} }} }} }}
"#,
        exporter_config = match exporter {
            "grpc" =>
                "grpc_service: { envoy_grpc: { cluster_name: otlp_grpc }, timeout: 1s }".to_string(),
            _ => format!(
                "http_service: {{ http_uri: {{ uri: \"http://127.0.0.1:{http}/v1/traces\", \
                 cluster: otlp_http, timeout: 1s }} }}"
            ),
        }
    )
}

async fn receives_envoy_spans_over(exporter: &str, protocol: Protocol) {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    let port = free_port().expect("free port");
    let envoy = EnvoyProcess::start(
        &traced_config(port, &receiver, exporter),
        EnvoyOptions::default(),
    )
    .expect("envoy starts");
    let client = HttpClient::new();
    for _ in 0..3 {
        let response = client
            .get(port, "/orders", &[])
            .await
            .expect("listener answers");
        assert_eq!(response.status, 200);
    }
    let spans = receiver.wait_for_spans(3, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 3, "{spans:#?}\nenvoy log:\n{}", envoy.log());
    for span in &spans {
        assert_eq!(span.protocol, protocol);
        assert_eq!(span.service_name, format!("envoy-{exporter}"));
        assert_eq!(span.trace_id().len(), 32);
    }
    assert_eq!(receiver.export_attempts().rejected, 0);
}

#[tokio::test]
async fn receives_envoys_grpc_exports() {
    receives_envoy_spans_over("grpc", Protocol::Grpc).await;
}

#[tokio::test]
async fn receives_envoys_http_exports() {
    receives_envoy_spans_over("http", Protocol::HttpProtobuf).await;
}

/// Unavailable and stalled exports are Envoy's problem to drop: it keeps
/// serving, the receiver counts the attempts, and exports flow again once
/// the receiver is back to normal.
#[tokio::test]
async fn fault_modes_hold_against_envoys_grpc_client() {
    let receiver = OtlpReceiver::start().await.expect("receiver starts");
    let port = free_port().expect("free port");
    let envoy = EnvoyProcess::start(
        &traced_config(port, &receiver, "grpc"),
        EnvoyOptions::default(),
    )
    .expect("envoy starts");
    let client = HttpClient::new().with_timeout(Duration::from_secs(5));
    let modes = [
        FaultMode::Unavailable,
        // Envoy's tracer keeps a stalled export stream open (its
        // `grpc_service.timeout` does not bound it); the attempt counts.
        FaultMode::Stall(Duration::from_secs(3)),
    ];
    for mode in modes {
        receiver.clear();
        receiver.set_mode(mode);
        let response = client
            .get(port, "/", &[])
            .await
            .expect("served despite the fault");
        assert_eq!(response.status, 200, "{mode:?}");
        let attempts = receiver
            .wait_for_export_attempts(1, Duration::from_secs(10))
            .await;
        let counted = match mode {
            FaultMode::Unavailable => attempts.unavailable,
            _ => attempts.stalled,
        };
        assert!(
            counted >= 1,
            "{mode:?}: {attempts:?}\nenvoy log:\n{}",
            envoy.log()
        );
        assert_eq!(receiver.span_count(), 0, "{mode:?}");
    }
    receiver.set_mode(FaultMode::Normal);
    client.get(port, "/", &[]).await.expect("served");
    let spans = receiver.wait_for_spans(1, Duration::from_secs(10)).await;
    assert!(
        !spans.is_empty(),
        "exports resume; envoy log:\n{}",
        envoy.log()
    );
}
