//! The filter in a real Envoy 1.40: one trace through gateway, identity hop
//! and sidecars, both export protocols, incoming context, sampling, bad
//! configuration, and the shipped configs validated.
//!
//! Needs the Envoy binary and the filter module from `cargo xtask setup` /
//! `cargo xtask build-filter`; the fixtures panic with that instruction when
//! either is missing.

use std::time::Duration;

use meshtrace_harness::envoy::shipped::{GatewayPorts, SHIPPED_MODULE};
use meshtrace_harness::envoy::{
    EnvoyOptions, EnvoyProcess, config_template, render, validate_yaml,
};
use meshtrace_harness::http_client::http_get;
use meshtrace_harness::otlp::{OtlpReceiver, ReceivedSpan};
use meshtrace_harness::ports::free_ports;
use meshtrace_harness::tools::filter_wasm;
use meshtrace_tests::mesh::{FilterTweaks, Mesh, render_gateway};
use meshtrace_tests::services::ReceivedRequest;
use tokio::sync::Mutex;

/// Meshes of three Envoys run one at a time on a 2-core machine.
static SERIAL: Mutex<()> = Mutex::const_new(());

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const WAIT: Duration = Duration::from_secs(10);

/// `(trace id, parent id, flags)` of a request's single `traceparent`.
fn traceparent(req: &ReceivedRequest) -> (String, String, String) {
    let all = req.header_all("traceparent");
    assert_eq!(all.len(), 1, "exactly one traceparent: {all:?}");
    let parts: Vec<&str> = all[0].split('-').collect();
    assert_eq!(parts.len(), 4, "malformed traceparent {}", all[0]);
    assert_eq!(parts[0], "00");
    assert!(parts[1].len() == 32 && parts[2].len() == 16 && parts[3].len() == 2);
    (parts[1].into(), parts[2].into(), parts[3].into())
}

fn find<'a>(spans: &'a [ReceivedSpan], service: &str, kind: i32) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.service_name == service && s.span.kind == kind)
        .unwrap_or_else(|| {
            let seen: Vec<_> = spans
                .iter()
                .map(|s| (s.service_name.clone(), s.span.kind))
                .collect();
            panic!("no {service} span of kind {kind}; got {seen:?}")
        })
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

async fn one_trace_through_the_mesh(tweaks: FilterTweaks, connection: bool) {
    let _serial = SERIAL.lock().await;
    let mesh = Mesh::start(&tweaks).await.expect("mesh starts");
    let before = unix_nanos();
    let resp = http_get(
        mesh.edge_port,
        "/orders/7",
        &[("authorization", "Bearer t")],
    )
    .await
    .expect("request through the gateway");
    let after = unix_nanos();
    assert_eq!(resp.status, 200, "body: {}", resp.text());

    let spans = mesh.receiver.wait_for_spans(4, WAIT).await;
    assert_eq!(spans.len(), 4, "gateway, A-in, A-out, B-in: {spans:#?}");
    let gateway = find(&spans, "gateway", SERVER);
    let a_in = find(&spans, "service-a", SERVER);
    let a_out = find(&spans, "service-a", CLIENT);
    let b_in = find(&spans, "service-b", SERVER);
    let trace = gateway.trace_id();
    for s in [a_in, a_out, b_in] {
        assert_eq!(s.trace_id(), trace, "one trace id across the mesh");
    }
    assert!(
        gateway.parent_span_id().is_empty(),
        "the gateway starts the trace"
    );
    assert_eq!(a_in.parent_span_id(), gateway.span_id());
    assert_eq!(a_out.parent_span_id(), a_in.span_id());
    assert_eq!(b_in.parent_span_id(), a_out.span_id());

    // The identity hop carries the gateway span as parent.
    let checks = mesh.identity.received();
    assert_eq!(checks.len(), 1);
    let (t, p, flags) = traceparent(&checks[0]);
    assert_eq!(
        (t.as_str(), p.as_str()),
        (trace.as_str(), gateway.span_id().as_str())
    );
    assert_eq!(flags, "03", "new root: sampled + random");
    // Each app sees its proxy's span as parent.
    let (t, p, _) = traceparent(&mesh.app_a.received()[0]);
    assert_eq!((t, p), (trace.clone(), a_in.span_id()));
    let (t, p, _) = traceparent(&mesh.app_b.received()[0]);
    assert_eq!((t, p), (trace.clone(), b_in.span_id()));

    // The attributes come from the request header map; the opt-in
    // connection attributes, where asked for, from one CEL evaluation (the
    // wasmtime host suites cover the one-by-one path).
    let mode = if connection { "cel" } else { "off" };
    for envoy in [&mesh.gateway, &mesh.sidecar_a, &mesh.sidecar_b] {
        let log = envoy.log();
        assert!(
            log.contains(&format!("connection_attributes={mode}"))
                && !log.contains("connection_attributes=one-by-one"),
            "inbound instances log connection_attributes={mode}:\n{log}"
        );
        assert_eq!(
            envoy
                .stat("wasmcustom.meshtrace.attribute_fallbacks")
                .expect("stats"),
            Some(0),
            "no evaluation fell back to one-by-one reads: {}",
            envoy.log()
        );
        assert_eq!(
            envoy
                .stat("wasmcustom.meshtrace.header_write_failures")
                .expect("stats"),
            Some(0),
            "Envoy accepted every traceparent rewrite: {}",
            envoy.log()
        );
    }

    // Times: inside the test's own window, and each hop nested in the one
    // before.
    let interval = |s: &ReceivedSpan| (s.span.start_time_unix_nano, s.span.end_time_unix_nano);
    let hops = [gateway, a_in, a_out, b_in];
    for s in hops {
        let (start, end) = interval(s);
        assert!(
            before <= start && start <= end && end <= after,
            "{} span {start}..{end} outside the request's {before}..{after}",
            s.service_name
        );
    }
    for pair in hops.windows(2) {
        let (outer, inner) = (interval(pair[0]), interval(pair[1]));
        assert!(
            outer.0 <= inner.0 && inner.1 <= outer.1,
            "{} {inner:?} not within {} {outer:?}",
            pair[1].service_name,
            pair[0].service_name
        );
    }

    // Attributes and status as the filter specifies.
    for s in [gateway, a_in, a_out, b_in] {
        assert_eq!(s.span.name, "GET");
        assert_eq!(s.str_attr("http.request.method").as_deref(), Some("GET"));
        assert_eq!(s.str_attr("url.path").as_deref(), Some("/orders/7"));
        assert_eq!(s.int_attr("http.response.status_code"), Some(200));
        assert!(s.span.status.as_ref().is_none_or(|st| st.code == 0));
        assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
        assert_eq!(s.scope_name, "meshtrace-filter");
    }
    assert_eq!(
        a_out.str_attr("server.address").as_deref(),
        Some("service-b")
    );
    assert_eq!(
        a_out.str_attr("url.full").as_deref(),
        Some("http://service-b/orders/7")
    );
    assert_eq!(
        a_out.str_attr("envoy.upstream.cluster").as_deref(),
        Some("upstream"),
        "CLIENT spans always name their cluster"
    );
    if connection {
        assert_eq!(
            gateway.str_attr("client.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            a_in.str_attr("network.protocol.version").as_deref(),
            Some("1.1")
        );
        assert_eq!(
            a_in.str_attr("envoy.upstream.cluster").as_deref(),
            Some("local_app")
        );
    } else {
        for s in [gateway, a_in, b_in] {
            assert_eq!(s.str_attr("client.address"), None, "opt-in");
            assert_eq!(s.str_attr("network.protocol.version"), None, "opt-in");
            assert_eq!(s.str_attr("envoy.upstream.cluster"), None, "opt-in");
        }
    }
    assert!(
        gateway
            .str_attr("http.request.header.x-request-id")
            .is_none()
    );
    assert!(
        gateway.attr("http.request.header.x-request-id").is_some(),
        "x-request-id recorded (string array)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_through_the_mesh_over_otlp_http() {
    one_trace_through_the_mesh(FilterTweaks::http(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_through_the_mesh_over_otlp_grpc() {
    // The gRPC run also asks the inbound instances for the connection
    // attributes.
    let tweaks = FilterTweaks::grpc().with(|c| c.with_connection_attributes(true));
    one_trace_through_the_mesh(tweaks, true).await;
}

/// `spawn_upstream_span` on every inbound instance: each reports its
/// SERVER span and a CLIENT child for the request it forwards, and the
/// next hop continues from that CLIENT span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_upstream_span_adds_a_client_child_at_every_inbound_hop() {
    let _serial = SERIAL.lock().await;
    let tweaks = FilterTweaks::http().with_inbound(|c| c.with_spawn_upstream_span(true));
    let mesh = Mesh::start(&tweaks).await.expect("mesh starts");
    let resp = http_get(
        mesh.edge_port,
        "/orders/7",
        &[("authorization", "Bearer t")],
    )
    .await
    .expect("request through the gateway");
    assert_eq!(resp.status, 200, "body: {}", resp.text());

    // gateway S+C, A-in S+C, A-out C, B-in S+C.
    let spans = mesh.receiver.wait_for_spans(7, WAIT).await;
    assert_eq!(spans.len(), 7, "{spans:#?}");
    let gateway = find(&spans, "gateway", SERVER);
    let gateway_client = find(&spans, "gateway", CLIENT);
    let a_in = find(&spans, "service-a", SERVER);
    let b_in = find(&spans, "service-b", SERVER);
    let b_client = find(&spans, "service-b", CLIENT);
    let child_of = |parent: &ReceivedSpan, service: &str| -> &ReceivedSpan {
        spans
            .iter()
            .find(|s| {
                s.service_name == service
                    && s.span.kind == CLIENT
                    && s.parent_span_id() == parent.span_id()
            })
            .unwrap_or_else(|| panic!("no CLIENT child of {service}'s span: {spans:#?}"))
    };
    assert_eq!(gateway_client.parent_span_id(), gateway.span_id());
    assert_eq!(a_in.parent_span_id(), gateway_client.span_id());
    let a_client = child_of(a_in, "service-a");
    let (_, app_a_parent, _) = traceparent(&mesh.app_a.received()[0]);
    assert_eq!(
        app_a_parent,
        a_client.span_id(),
        "app A continues from A's CLIENT span"
    );
    // App A forwards what it received; its outbound sidecar's CLIENT span
    // is then a child of A-in's CLIENT span.
    let a_out = child_of(a_client, "service-a");
    assert_eq!(b_in.parent_span_id(), a_out.span_id());
    assert_eq!(b_client.parent_span_id(), b_in.span_id());
    let (_, app_b_parent, _) = traceparent(&mesh.app_b.received()[0]);
    assert_eq!(app_b_parent, b_client.span_id());
    for s in &spans {
        assert_eq!(s.trace_id(), gateway.trace_id(), "one trace");
    }
    for (client, cluster) in [
        (gateway_client, "backend"),
        (a_client, "local_app"),
        (b_client, "local_app"),
    ] {
        assert_eq!(
            client.str_attr("envoy.upstream.cluster").as_deref(),
            Some(cluster),
            "{}: the CLIENT span names its cluster",
            client.service_name
        );
        assert!(
            client.str_attr("url.full").is_some(),
            "url.full on CLIENT spans"
        );
        assert_eq!(client.int_attr("http.response.status_code"), Some(200));
    }
    for envoy in [&mesh.gateway, &mesh.sidecar_a, &mesh.sidecar_b] {
        assert!(
            envoy.log().contains("spawn_upstream_span=true"),
            "inbound instances log the option:\n{}",
            envoy.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_context_is_continued_or_restarted() {
    let _serial = SERIAL.lock().await;
    let mesh = Mesh::start(&FilterTweaks::http())
        .await
        .expect("mesh starts");

    let valid = format!("00-{TRACE}-{PARENT}-01");
    let resp = http_get(mesh.edge_port, "/v", &[("traceparent", valid.as_str())])
        .await
        .expect("request");
    assert_eq!(resp.status, 200);
    let spans = mesh.receiver.wait_for_spans(4, WAIT).await;
    let gateway = find(&spans, "gateway", SERVER);
    assert_eq!(
        gateway.trace_id(),
        TRACE,
        "a valid sampled parent is continued"
    );
    assert_eq!(gateway.parent_span_id(), PARENT);
    assert_eq!(traceparent(&mesh.app_b.received()[0]).0, TRACE);

    let invalid = [
        (format!("ff-{TRACE}-{PARENT}-01"), "version ff"),
        (
            format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
            "uppercase",
        ),
        (
            format!("00-{}-{PARENT}-01", "0".repeat(32)),
            "zero trace id",
        ),
        (
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            "zero parent id",
        ),
        (format!("00-{TRACE}-{PARENT}-01-x"), "trailing data"),
        (format!("00-{TRACE}-{PARENT}"), "too short"),
        (format!("00-{TRACE}g-{PARENT}-01"), "non-hex"),
    ];
    for (header, reason) in &invalid {
        mesh.app_b.clear();
        let resp = http_get(
            mesh.edge_port,
            "/i",
            &[("traceparent", header.as_str()), ("tracestate", "v=1")],
        )
        .await
        .expect("request");
        assert_eq!(resp.status, 200, "{reason}: the request still succeeds");
        let got = &mesh.app_b.received()[0];
        let (trace, _, flags) = traceparent(got);
        assert_ne!(trace, TRACE, "{reason}: a fresh trace");
        assert_eq!(flags, "03", "{reason}");
        assert!(
            got.header("tracestate").is_none(),
            "{reason}: tracestate dropped"
        );
    }
    // Two traceparent headers are invalid too.
    mesh.app_b.clear();
    let resp = http_get(
        mesh.edge_port,
        "/two",
        &[
            ("traceparent", valid.as_str()),
            ("traceparent", valid.as_str()),
        ],
    )
    .await
    .expect("request");
    assert_eq!(resp.status, 200);
    assert_ne!(
        traceparent(&mesh.app_b.received()[0]).0,
        TRACE,
        "duplicate headers"
    );
    assert!(
        mesh.gateway
            .wait_for_stat("wasmcustom.meshtrace.invalid_traceparent", 8, WAIT)
            .expect("stats")
            >= 8
    );
}

/// Route templates name the spans `{method} {template}` in every proxy
/// of the mesh: `http.route` on SERVER spans, `url.template` on CLIENT
/// spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_routes_name_the_spans_across_the_mesh() {
    let _serial = SERIAL.lock().await;
    let tweaks =
        FilterTweaks::http().with(|c| c.with_member("routes", serde_json::json!(["/items/{id}"])));
    let mesh = Mesh::start(&tweaks).await.expect("mesh starts");
    let resp = http_get(mesh.edge_port, "/items/42", &[])
        .await
        .expect("request");
    assert_eq!(resp.status, 200);
    let spans = mesh.receiver.wait_for_spans(4, WAIT).await;
    for span in &spans {
        assert_eq!(span.span.name, "GET /items/{id}", "{span:?}");
        let key = if span.span.kind == SERVER {
            "http.route"
        } else {
            "url.template"
        };
        assert_eq!(span.str_attr(key).as_deref(), Some("/items/{id}"), "{key}");
    }
    assert_eq!(
        find(&spans, "gateway", SERVER)
            .str_attr("http.route")
            .as_deref(),
        Some("/items/{id}")
    );
}

/// The experimental `traceresponse`: a caller learns the span that served
/// it, and a gateway can keep the mesh's spans from leaving it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceresponse_names_the_serving_span_and_a_gateway_can_strip_it() {
    let _serial = SERIAL.lock().await;
    let valid = format!("00-{TRACE}-{PARENT}-01");
    let headers = [("traceparent", valid.as_str())];
    let on = |c: meshtrace_harness::filter_config::FilterConfig| c.with_traceresponse("on");
    let cases = [
        (
            "the gateway answers with its own span",
            "on",
            Some("gateway"),
        ),
        (
            "an inner proxy's value passes an `off` gateway",
            "off",
            Some("service-a"),
        ),
        ("a `strip` gateway removes it", "strip", None),
    ];
    for (reason, gateway_mode, answered_by) in cases {
        let tweaks = FilterTweaks::http()
            .with_inbound(on)
            .with_gateway(|c| c.with_traceresponse(gateway_mode));
        let mesh = Mesh::start(&tweaks).await.expect("mesh starts");
        let resp = http_get(mesh.edge_port, "/v", &headers)
            .await
            .expect("request");
        assert_eq!(resp.status, 200, "{reason}");
        let values: Vec<&str> = resp
            .headers
            .get_all("traceresponse")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let spans = mesh.receiver.wait_for_spans(4, WAIT).await;
        match answered_by {
            Some(service) => {
                let server = find(&spans, service, SERVER);
                assert_eq!(
                    values,
                    [format!("00-{TRACE}-{}-01", server.span_id())],
                    "{reason}"
                );
            }
            None => assert!(values.is_empty(), "{reason}: {values:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_ratio_zero_exports_nothing_but_propagates_and_follows_sampled_parents() {
    let _serial = SERIAL.lock().await;
    let tweaks = FilterTweaks::http().with(|c| c.with_sampler_ratio(0.0));
    let mesh = Mesh::start(&tweaks).await.expect("mesh starts");

    for i in 0..5 {
        let resp = http_get(mesh.edge_port, &format!("/u{i}"), &[])
            .await
            .expect("request");
        assert_eq!(resp.status, 200);
        let (_, _, flags) = traceparent(mesh.app_b.received().last().expect("reached B"));
        assert_eq!(flags, "02", "unsampled, random trace id");
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(mesh.receiver.span_count(), 0, "ratio 0: nothing exported");

    let sampled = format!("00-{TRACE}-{PARENT}-01");
    let resp = http_get(mesh.edge_port, "/s", &[("traceparent", sampled.as_str())])
        .await
        .expect("request");
    assert_eq!(resp.status, 200);
    let spans = mesh.receiver.wait_for_spans(4, WAIT).await;
    assert_eq!(spans.len(), 4, "a sampled parent is exported at every hop");
    assert!(spans.iter().all(|s| s.trace_id() == TRACE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_rejected_at_load_naming_the_field() {
    let _serial = SERIAL.lock().await;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let cases = [
        ("batch.max_spanz", 1, "unknown field"),
        ("sampler.ratio", 7, "invalid value"),
    ];
    for (field, value, reason) in cases {
        let [edge, identity, backend] = free_ports::<3>().expect("free ports");
        let yaml = render_gateway(
            GatewayPorts {
                edge,
                identity,
                backend,
            },
            &receiver,
            &FilterTweaks::http().with(|c| c.with_member(field, value)),
        )
        .expect("render");
        let log = EnvoyProcess::start_expect_failure(&yaml, EnvoyOptions::default())
            .expect("envoy refuses the config");
        assert!(
            log.contains("meshtrace: invalid plugin configuration") && log.contains(field),
            "{reason}: Envoy's log must name {field}:\n{log}"
        );
    }
}

#[test]
fn every_shipped_envoy_config_validates() {
    let wasm = filter_wasm().expect("filter module").display().to_string();
    for name in ["sidecar.yaml", "gateway.yaml"] {
        let yaml = render(
            &config_template(name).expect("read config"),
            &[(SHIPPED_MODULE, wasm.clone())],
        )
        .expect("render");
        validate_yaml(&yaml).unwrap_or_else(|e| panic!("envoy/{name} must validate: {e:#}"));
    }
    // Any new Envoy config under envoy/ must be added above.
    let mut shipped: Vec<String> =
        std::fs::read_dir(meshtrace_harness::tools::workspace_root().join("envoy"))
            .expect("envoy/")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml") && n != "compose.yaml")
            .collect();
    shipped.sort();
    assert_eq!(shipped, ["gateway.yaml", "sidecar.yaml"]);
}
