//! Spans and OTLP export calls of the real filter module: content, both
//! protocols, batching, bounds, failures and configuration errors.

use std::time::Duration;

use meshtrace_tests::filter_fixture::{
    FilterHarness, Request, decode_export, hex, int_attr, spans, str_attr,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE}-{PARENT}-01")
}

fn one_span(f: &mut FilterHarness) -> Span {
    f.tick().expect("tick");
    let exported = spans(&f.answer_http_exports(200).expect("export"));
    assert_eq!(exported.len(), 1, "one span exported");
    exported.into_iter().next().expect("one span")
}

#[test]
fn server_span_has_ids_times_attributes_and_resource() {
    let mut f = FilterHarness::new(
        r#"{"direction":"inbound","service_name":"orders","resource":{"deployment.environment.name":"test"},"attributes":{"connection":true}}"#,
    )
    .expect("loads");
    let start = f.host.now();
    let ex = f
        .send(&Request::get("/orders/7?page=2").header("traceparent", &traceparent()))
        .expect("runs");
    let (_, upstream_parent, _) = ex.traceparent().expect("valid");

    f.tick().expect("tick");
    let calls = f.host.take_http_callouts();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.cluster, "otel_collector");
    let header = |k: &str| {
        call.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header(":method"), Some("POST"));
    assert_eq!(header(":path"), Some("/v1/traces"));
    assert_eq!(header("content-type"), Some("application/x-protobuf"));
    let request = decode_export(&call.body).expect("OTLP body");

    let rs = &request.resource_spans[0];
    let resource = rs.resource.as_ref().expect("resource");
    let res_attr = |k: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.clone())
    };
    assert_eq!(
        res_attr("service.name"),
        Some(Value::StringValue("orders".into()))
    );
    assert_eq!(
        res_attr("deployment.environment.name"),
        Some(Value::StringValue("test".into()))
    );
    let scope = rs.scope_spans[0].scope.as_ref().expect("scope");
    assert_eq!(scope.name, "meshtrace-filter");
    assert!(!scope.version.is_empty());

    let span = &rs.scope_spans[0].spans[0];
    assert_eq!(hex(&span.trace_id), TRACE);
    assert_eq!(
        hex(&span.span_id),
        upstream_parent,
        "span id is the upstream parent"
    );
    assert_eq!(hex(&span.parent_span_id), PARENT);
    assert_eq!(span.kind, 2, "SERVER");
    assert_eq!(span.name, "GET");
    let start_ns = start
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_nanos() as u64;
    assert_eq!(
        span.start_time_unix_nano, start_ns,
        "start from the host clock"
    );
    assert_eq!(
        span.end_time_unix_nano - span.start_time_unix_nano,
        3_000_000,
        "end from the host clock (fixture advances 3 ms)"
    );
    assert_eq!(
        str_attr(span, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(str_attr(span, "url.path").as_deref(), Some("/orders/7"));
    assert_eq!(str_attr(span, "url.scheme").as_deref(), Some("http"));
    assert_eq!(str_attr(span, "url.query"), None, "url.query is opt-in");
    assert_eq!(
        str_attr(span, "server.address").as_deref(),
        Some("orders.svc")
    );
    assert_eq!(int_attr(span, "server.port"), Some(8080));
    assert_eq!(
        str_attr(span, "client.address").as_deref(),
        Some("10.1.2.3")
    );
    assert_eq!(
        str_attr(span, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(
        str_attr(span, "user_agent.original").as_deref(),
        Some("test-client/1.0")
    );
    assert_eq!(int_attr(span, "http.response.status_code"), Some(200));
    assert_eq!(
        str_attr(span, "envoy.upstream.cluster").as_deref(),
        Some("orders")
    );
    assert_eq!(str_attr(span, "error.type"), None);
    assert!(
        span.status.as_ref().is_none_or(|s| s.code == 0),
        "2xx leaves status unset"
    );
    assert_eq!(f.counter("meshtrace.spans_started"), 1);
}

#[test]
fn both_kinds_over_both_protocols_carry_ids_times_attributes_and_status() {
    let cases = [
        ("inbound", "http/protobuf", 2, 503, true),
        ("inbound", "grpc", 2, 404, false),
        ("outbound", "http/protobuf", 3, 404, true),
        ("outbound", "grpc", 3, 200, false),
    ];
    for (direction, protocol, kind, status, error) in cases {
        let case = format!("{direction} over {protocol}, status {status}");
        let mut f = FilterHarness::new(&format!(
            r#"{{"direction":"{direction}","service_name":"svc","collector":{{"protocol":"{protocol}"}}}}"#
        ))
        .expect("loads");
        let start = f
            .host
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("epoch");
        let ex = f
            .send(
                &Request::get("/p?q=1")
                    .set(":method", "POST")
                    .header("traceparent", &traceparent())
                    .status(status),
            )
            .expect("runs");
        let requests = f.flush_and_collect().expect("export");
        let exported = spans(&requests);
        assert_eq!(exported.len(), 1, "{case}");
        let span = &exported[0];
        assert_eq!(hex(&span.trace_id), TRACE, "{case}");
        assert_eq!(
            hex(&span.span_id),
            ex.traceparent().expect("valid").1,
            "{case}"
        );
        assert_eq!(hex(&span.parent_span_id), PARENT, "{case}");
        assert_eq!(span.kind, kind, "{case}");
        assert_eq!(span.name, "POST", "{case}");
        assert_eq!(span.start_time_unix_nano, start.as_nanos() as u64, "{case}");
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            3_000_000,
            "{case}"
        );
        assert_eq!(
            str_attr(span, "http.request.method").as_deref(),
            Some("POST"),
            "{case}"
        );
        assert_eq!(str_attr(span, "url.path").as_deref(), Some("/p"), "{case}");
        assert_eq!(
            str_attr(span, "server.address").as_deref(),
            Some("orders.svc"),
            "{case}"
        );
        assert_eq!(
            int_attr(span, "http.response.status_code"),
            Some(status),
            "{case}"
        );
        let is_error = span.status.as_ref().is_some_and(|s| s.code == 2);
        assert_eq!(is_error, error, "{case}");
        assert_eq!(
            str_attr(span, "error.type"),
            error.then(|| status.to_string()),
            "{case}"
        );
        let service = requests[0].resource_spans[0]
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value);
        assert_eq!(service, Some(Value::StringValue("svc".into())), "{case}");
        assert_eq!(f.counter("meshtrace.spans_exported"), 1, "{case}");
    }
}

#[test]
fn server_status_errors_on_5xx_only() {
    for (status, error) in [(200, false), (404, false), (503, true)] {
        let mut f = FilterHarness::new(r#"{"direction":"inbound"}"#).expect("loads");
        f.send(&Request::get("/").status(status)).expect("runs");
        let span = one_span(&mut f);
        let is_error = span.status.as_ref().is_some_and(|s| s.code == 2);
        assert_eq!(is_error, error, "SERVER {status}");
        let want = error.then(|| status.to_string());
        assert_eq!(str_attr(&span, "error.type"), want, "SERVER {status}");
    }
}

#[test]
fn client_span_errors_on_4xx_and_records_url_full() {
    for (status, error) in [(200, false), (404, true), (502, true)] {
        let mut f = FilterHarness::new(r#"{"direction":"outbound"}"#).expect("loads");
        f.send(&Request::get("/items?sig=secret").status(status))
            .expect("runs");
        let span = one_span(&mut f);
        assert_eq!(span.kind, 3, "CLIENT");
        let is_error = span.status.as_ref().is_some_and(|s| s.code == 2);
        assert_eq!(is_error, error, "CLIENT {status}");
        assert_eq!(
            str_attr(&span, "url.full").as_deref(),
            Some("http://orders.svc:8080/items?sig=REDACTED")
        );
        assert_eq!(str_attr(&span, "client.address"), None);
    }
}

#[test]
fn a_request_without_response_is_an_error_with_error_type() {
    let mut f = FilterHarness::new(r#"{"direction":"outbound"}"#).expect("loads");
    // UpstreamRequestTimeout (bit 2)
    f.send(&Request::get("/slow").no_response(1 << 2))
        .expect("runs");
    let span = one_span(&mut f);
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
    assert_eq!(
        str_attr(&span, "error.type").as_deref(),
        Some("upstream_request_timeout")
    );
    assert_eq!(
        str_attr(&span, "envoy.response_flags").as_deref(),
        Some("UT")
    );
    assert_eq!(int_attr(&span, "http.response.status_code"), None);
}

#[test]
fn grpc_export_carries_the_same_span() {
    let mut f = FilterHarness::new(
        r#"{"direction":"inbound","collector":{"protocol":"grpc","authority":"collector:4317"}}"#,
    )
    .expect("loads");
    let ex = f
        .send(&Request::get("/g").header("traceparent", &traceparent()))
        .expect("runs");
    f.tick().expect("tick");
    assert!(f.host.http_callouts().is_empty(), "gRPC only");
    let calls = f.host.take_grpc_callouts();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.cluster, "otel_collector");
    assert_eq!(call.authority.as_deref(), Some("collector:4317"));
    assert_eq!(
        call.service,
        "opentelemetry.proto.collector.trace.v1.TraceService"
    );
    assert_eq!(call.method, "Export");
    let exported = spans(&[decode_export(&call.message).expect("OTLP message")]);
    assert_eq!(exported.len(), 1);
    assert_eq!(hex(&exported[0].trace_id), TRACE);
    assert_eq!(
        hex(&exported[0].span_id),
        ex.traceparent().expect("valid").1
    );
    assert_eq!(exported[0].kind, 2);

    f.host
        .respond_grpc_call(call.token, 0, b"")
        .expect("respond");
    assert_eq!(f.counter("meshtrace.spans_exported"), 1);

    f.send(&Request::get("/g2")).expect("runs");
    f.tick().expect("tick");
    let call = f.host.take_grpc_callouts().pop().expect("second call");
    f.host
        .respond_grpc_call(call.token, 14, b"")
        .expect("respond UNAVAILABLE");
    assert_eq!(f.counter("meshtrace.export_failures"), 1);
    assert_eq!(f.counter("meshtrace.spans_dropped"), 1);
    assert!(!f.host.vm_failed());
}

#[test]
fn a_full_batch_is_flushed_at_once_and_the_rest_on_tick() {
    let mut f = FilterHarness::new(
        r#"{"direction":"inbound","batch":{"max_spans":3,"flush_interval_ms":5000}}"#,
    )
    .expect("loads");
    assert_eq!(f.host.tick_period(), Some(Duration::from_secs(5)));
    f.send(&Request::get("/1")).expect("runs");
    f.send(&Request::get("/2")).expect("runs");
    assert_eq!(
        f.host.tick_period(),
        Some(Duration::from_secs(5)),
        "not full yet"
    );
    f.send(&Request::get("/3")).expect("runs");
    assert_eq!(
        f.host.tick_period(),
        Some(Duration::from_millis(1)),
        "a full batch asks for an immediate tick"
    );
    f.tick().expect("tick");
    assert_eq!(
        f.host.tick_period(),
        Some(Duration::from_secs(5)),
        "interval restored"
    );
    let first = f.answer_http_exports(200).expect("export");
    assert_eq!(spans(&first).len(), 3, "size-triggered batch");

    f.send(&Request::get("/4")).expect("runs");
    assert!(
        f.host.http_callouts().is_empty(),
        "a partial batch waits for the tick"
    );
    f.tick().expect("tick");
    let second = f.answer_http_exports(200).expect("export");
    assert_eq!(spans(&second).len(), 1, "tick-triggered batch");
    assert_eq!(f.counter("meshtrace.spans_exported"), 4);
}

#[test]
fn the_queue_is_bounded_and_drops_are_counted() {
    let mut f = FilterHarness::new(
        r#"{"direction":"inbound","batch":{"max_spans":2,"max_queued_spans":4,"max_in_flight":1}}"#,
    )
    .expect("loads");
    for i in 0..10 {
        f.send(&Request::get(&format!("/{i}")))
            .expect("requests keep flowing");
    }
    assert_eq!(f.counter("meshtrace.spans_dropped"), 6, "4 held, 6 dropped");
    f.tick().expect("tick");
    assert_eq!(
        f.counter("meshtrace.spans_started"),
        10,
        "started spans reach the host counter on the tick"
    );
    let calls = f.host.take_http_callouts();
    assert_eq!(calls.len(), 1, "max_in_flight = 1");
    // Still in flight: new spans are dropped while the bound is reached.
    f.send(&Request::get("/more")).expect("runs");
    assert_eq!(f.counter("meshtrace.spans_dropped"), 7);
    f.host
        .respond_http_call(calls[0].token, &[(":status", "200")], b"")
        .expect("respond");
    assert_eq!(f.counter("meshtrace.spans_exported"), 2);
    let next = f.host.take_http_callouts();
    assert_eq!(
        next.len(),
        1,
        "the waiting full batch goes out when a slot frees"
    );
    assert_eq!(
        spans(&[decode_export(&next[0].body).expect("otlp")]).len(),
        2
    );
}

#[test]
fn failed_exports_are_counted_logged_at_a_bounded_rate_and_never_break_traffic() {
    let mut f = FilterHarness::new(r#"{"direction":"inbound"}"#).expect("loads");
    for round in 0..5 {
        let ex = f.send(&Request::get("/")).expect("requests keep flowing");
        ex.traceparent().expect("propagation unaffected");
        f.tick().expect("tick");
        let calls = f.host.take_http_callouts();
        assert_eq!(calls.len(), 1, "round {round}");
        f.host
            .respond_http_call(calls[0].token, &[(":status", "503")], b"unavailable")
            .expect("respond");
    }
    assert_eq!(f.counter("meshtrace.export_failures"), 5);
    assert_eq!(f.counter("meshtrace.spans_dropped"), 5);
    assert_eq!(f.counter("meshtrace.spans_exported"), 0);
    let warnings = f
        .host
        .logs()
        .iter()
        .filter(|l| l.message.contains("OTLP export"))
        .count();
    assert_eq!(warnings, 1, "five failures within 10 s log one line");
    assert!(!f.host.vm_failed());
}

#[test]
fn an_undefined_collector_cluster_counts_failures_without_a_panic() {
    let mut f = FilterHarness::new(r#"{"direction":"inbound","collector":{"cluster":"nowhere"}}"#)
        .expect("loads");
    f.send(&Request::get("/")).expect("runs");
    f.tick().expect("tick");
    assert_eq!(f.counter("meshtrace.export_failures"), 1);
    assert_eq!(f.counter("meshtrace.spans_dropped"), 1);
    assert!(!f.host.vm_failed());
    f.send(&Request::get("/"))
        .expect("runs")
        .traceparent()
        .expect("still propagating");
}

#[test]
fn a_connection_failure_to_the_collector_is_a_failed_export() {
    let mut f = FilterHarness::new(r#"{"direction":"inbound"}"#).expect("loads");
    f.send(&Request::get("/")).expect("runs");
    f.tick().expect("tick");
    let call = f.host.take_http_callouts().pop().expect("call");
    // Envoy answers a reset/timeout with a response without headers.
    f.host
        .respond_http_call(call.token, &[], b"")
        .expect("respond");
    assert_eq!(f.counter("meshtrace.export_failures"), 1);
}

#[test]
fn bad_configuration_is_rejected_with_the_field_named() {
    let cases = [
        (
            r#"{"direction":"inbound","batch":{"max_spanz":3}}"#,
            "batch.max_spanz",
            "unknown field",
        ),
        (
            r#"{"direction":"inbound","sampler":{"ratio":2}}"#,
            "sampler.ratio",
            "out of range",
        ),
        (r#"{"direction":"upstream"}"#, "direction", "bad enum value"),
        (
            r#"{"service_name":"x"}"#,
            "direction",
            "missing required field",
        ),
        (
            r#"{"direction":"inbound","collector":{"timeout_ms":"fast"}}"#,
            "collector.timeout_ms",
            "wrong type",
        ),
        ("{not json", "(root)", "syntax"),
    ];
    for (config, field, reason) in cases {
        let (host, accepted) = FilterHarness::configure(config).expect("loads");
        assert!(!accepted, "{reason}: must be rejected");
        assert!(!host.vm_failed(), "{reason}: rejected, not crashed");
        let named = host.logs().iter().any(|l| {
            l.message.contains("invalid plugin configuration") && l.message.contains(field)
        });
        assert!(
            named,
            "{reason}: a log line names {field}: {:?}",
            host.logs()
        );
    }
}

#[test]
fn spawn_upstream_span_reports_a_client_child_that_upstream_continues() {
    let mut f =
        FilterHarness::new(r#"{"direction":"inbound","spawn_upstream_span":true}"#).expect("loads");
    let ex = f
        .send(&Request::get("/orders/7?page=2").header("traceparent", &traceparent()))
        .expect("runs");
    let (trace, upstream_parent, flags) = ex.traceparent().expect("valid");
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "01"));
    f.tick().expect("tick");
    let exported = spans(&f.answer_http_exports(200).expect("export"));
    assert_eq!(exported.len(), 2, "SERVER and CLIENT: {exported:#?}");
    let server = exported
        .iter()
        .find(|s| s.kind == 2)
        .expect("a SERVER span");
    let client = exported
        .iter()
        .find(|s| s.kind == 3)
        .expect("a CLIENT span");
    assert_eq!(hex(&server.trace_id), TRACE);
    assert_eq!(hex(&client.trace_id), TRACE);
    assert_eq!(hex(&server.parent_span_id), PARENT);
    assert_eq!(
        client.parent_span_id, server.span_id,
        "CLIENT is the SERVER span's child"
    );
    assert_eq!(
        hex(&client.span_id),
        upstream_parent,
        "upstream continues from the CLIENT span"
    );
    assert!(
        server.start_time_unix_nano <= client.start_time_unix_nano
            && client.end_time_unix_nano <= server.end_time_unix_nano,
        "the child lies within its parent"
    );
    assert_eq!(
        str_attr(client, "url.full").as_deref(),
        Some("http://orders.svc:8080/orders/7?page=2"),
        "url.full is a CLIENT attribute"
    );
    assert_eq!(str_attr(server, "url.full"), None);
    assert_eq!(
        str_attr(client, "envoy.upstream.cluster").as_deref(),
        Some("orders"),
        "the CLIENT span names its cluster"
    );
    assert_eq!(
        str_attr(server, "client.address"),
        None,
        "connection attributes are opt-in"
    );
    assert_eq!(str_attr(client, "client.address"), None);
    assert_eq!(int_attr(client, "http.response.status_code"), Some(200));
    assert_eq!(f.counter("meshtrace.spans_started"), 2);

    // A route that answers itself sends nothing upstream: no CLIENT span.
    let mut direct = Request::get("/healthz").header("traceparent", &traceparent());
    direct.cluster = String::new();
    f.send(&direct).expect("runs");
    f.tick().expect("tick");
    let exported = spans(&f.answer_http_exports(200).expect("export"));
    let kinds: Vec<i32> = exported.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![2], "only the SERVER span");
    assert_eq!(f.counter("meshtrace.spans_started"), 3);

    // Unsampled: one new span id upstream, nothing recorded.
    let ex = f
        .send(&Request::get("/").header("traceparent", &format!("00-{TRACE}-{PARENT}-00")))
        .expect("runs");
    let (_, parent, flags) = ex.traceparent().expect("valid");
    assert_eq!(flags, "00");
    assert_ne!(parent, PARENT, "the proxy's own span id");
    f.tick().expect("tick");
    assert!(f.host.http_callouts().is_empty(), "nothing to export");
}

/// `cargo xtask build-filter` removes the exports of the SDK callbacks the
/// filter leaves at their defaults, so Envoy skips those VM entries; the
/// ones it implements (and the gRPC export callbacks) stay.
#[test]
fn the_module_exports_only_the_callbacks_it_implements() {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(
        &engine,
        meshtrace_harness::tools::filter_wasm().expect("filter module"),
    )
    .expect("the built module compiles");
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    for kept in [
        "proxy_on_context_create",
        "proxy_on_vm_start",
        "proxy_on_configure",
        "proxy_on_tick",
        "proxy_on_request_headers",
        "proxy_on_response_headers",
        "proxy_on_log",
        "proxy_on_done",
        "proxy_on_delete",
        "proxy_on_http_call_response",
        "proxy_on_grpc_receive",
        "proxy_on_grpc_close",
        "proxy_on_memory_allocate",
    ] {
        assert!(
            exports.contains(&kept),
            "{kept} must stay exported: {exports:?}"
        );
    }
    for removed in [
        "proxy_on_request_body",
        "proxy_on_response_body",
        "proxy_on_request_trailers",
        "proxy_on_response_trailers",
        "proxy_on_downstream_data",
        "proxy_on_queue_ready",
    ] {
        assert!(
            !exports.contains(&removed),
            "{removed} is left at the SDK default and must not be exported: {exports:?}"
        );
    }
}

#[test]
fn a_configured_route_names_the_span_and_sets_http_route() {
    let config = meshtrace_harness::filter_config::FilterConfig::inbound("orders").with_member(
        "routes",
        serde_json::json!(["/v1/complete", "/orders/{id}"]),
    );
    let mut f = FilterHarness::new(&config.to_json()).expect("filter loads");
    f.send(&Request::get("/orders/7?page=2"))
        .expect("request runs");
    f.send(&Request::get("/health")).expect("request runs");
    let exported = spans(&f.flush_and_collect().expect("export"));
    let names: Vec<&str> = exported.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["GET /orders/{id}", "GET"],
        "no template, the method alone"
    );
    assert_eq!(
        str_attr(&exported[0], "http.route").as_deref(),
        Some("/orders/{id}")
    );
    assert_eq!(str_attr(&exported[1], "http.route"), None);
}

#[test]
fn route_overrides_turn_a_route_off_or_give_it_its_own_ratio() {
    let config = meshtrace_harness::filter_config::FilterConfig::inbound("orders").with_member(
        "route_overrides",
        serde_json::json!({"healthz": {"tracing": false}, "batch": {"sampler_ratio": 0.0}}),
    );
    let mut f = FilterHarness::new(&config.to_json()).expect("filter loads");
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let probe = Request::get("/healthz")
        .route("healthz")
        .header("traceparent", incoming);
    let ex = f.send(&probe).expect("request runs");
    assert_eq!(ex.values("traceparent"), [incoming], "left as it came");
    let ex = f
        .send(&Request::get("/jobs").route("batch"))
        .expect("request runs");
    assert_eq!(
        ex.traceparent().expect("a new root").2,
        "02",
        "ratio 0: not sampled"
    );
    f.send(&Request::get("/orders").route("orders"))
        .expect("request runs");
    let exported = spans(&f.flush_and_collect().expect("export"));
    let paths: Vec<Option<String>> = exported.iter().map(|s| str_attr(s, "url.path")).collect();
    assert_eq!(
        paths,
        [Some("/orders".to_owned())],
        "only the untouched route is traced"
    );
}
