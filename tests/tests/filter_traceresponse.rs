//! The experimental `traceresponse` response header (W3C Trace Context
//! Level 3 editor's draft) in the real filter module, request by request,
//! in the wasmtime proxy-wasm host.

use meshtrace_harness::filter_config::FilterConfig;
use meshtrace_tests::filter_fixture::{Exchange, FilterHarness, Request, hex, spans};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
/// What an upstream service (or an inner proxy) answered with.
const UPSTREAM: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";

fn filter(config: FilterConfig) -> FilterHarness {
    FilterHarness::new(&config.to_json()).expect("filter loads")
}

fn request(flags: &str) -> Request {
    Request::get("/orders").header("traceparent", &format!("00-{TRACE}-{PARENT}-{flags}"))
}

/// Sends `req` and returns the exchange and the response's
/// `traceresponse` values as the filter left them.
fn send(f: &mut FilterHarness, req: &Request) -> (Exchange, Vec<String>) {
    let ex = f.send(req).expect("request runs");
    let values = f.host.response_header_values(ex.stream, "traceresponse");
    (ex, values)
}

#[test]
fn on_answers_with_the_server_span_replacing_an_upstream_value() {
    let mut f = filter(FilterConfig::inbound("orders").with_traceresponse("on"));
    let (ex, values) = send(
        &mut f,
        &request("01").response_header("traceresponse", UPSTREAM),
    );
    let (trace, span_id, flags) = ex.traceparent().expect("upstream traceparent");
    assert_eq!(
        values,
        [format!("00-{trace}-{span_id}-{flags}")],
        "the caller's trace and this proxy's span, the upstream's value replaced"
    );
    assert_eq!(trace, TRACE);
    let exported = spans(&f.flush_and_collect().expect("export"));
    let [server] = exported.as_slice() else {
        panic!("one SERVER span, got {}", exported.len());
    };
    assert_eq!(
        hex(&server.span_id),
        span_id,
        "child-id is the exported span"
    );
    assert_eq!(hex(&server.parent_span_id), PARENT);
}

#[test]
fn on_answers_unsampled_and_restarted_traces_too() {
    let mut f = filter(FilterConfig::inbound("orders").with_traceresponse("on"));
    let (ex, values) = send(&mut f, &request("00"));
    let (trace, span_id, flags) = ex.traceparent().expect("upstream traceparent");
    assert_eq!(flags, "00");
    assert_eq!(values, [format!("00-{TRACE}-{span_id}-00")], "not sampled");
    let (ex, values) = send(&mut f, &Request::get("/").header("traceparent", "garbage"));
    let (new_trace, span_id, flags) = ex.traceparent().expect("upstream traceparent");
    assert_ne!(new_trace, trace, "restarted");
    assert_eq!(
        values,
        [format!("00-{new_trace}-{span_id}-{flags}")],
        "the caller learns the new trace"
    );
}

#[test]
fn on_names_the_server_span_not_the_client_child() {
    let mut f = filter(
        FilterConfig::inbound("orders")
            .with_spawn_upstream_span(true)
            .with_traceresponse("on"),
    );
    let (ex, values) = send(&mut f, &request("01"));
    let (_, client_id, _) = ex.traceparent().expect("upstream traceparent");
    let exported = spans(&f.flush_and_collect().expect("export"));
    let server = exported
        .iter()
        .find(|s| hex(&s.span_id) != client_id)
        .expect("the SERVER span");
    assert_eq!(
        values,
        [format!("00-{TRACE}-{}-01", hex(&server.span_id))],
        "child-id is the SERVER span, upstream got the CLIENT child ({client_id})"
    );
}

#[test]
fn off_by_default_leaves_responses_untouched_without_a_host_call() {
    let mut f = filter(FilterConfig::inbound("orders"));
    let req = request("01").response_header("traceresponse", UPSTREAM);
    let ex = f.begin(&req).expect("request headers");
    f.host.clear_host_calls();
    f.end(&ex, &req).expect("response");
    let writes: Vec<String> = f
        .host
        .host_calls()
        .iter()
        .map(|c| c.name.clone())
        .filter(|n| {
            n.starts_with("proxy_replace")
                || n.starts_with("proxy_remove")
                || n.starts_with("proxy_add")
        })
        .collect();
    assert!(
        writes.is_empty(),
        "no header write on the response: {writes:?}"
    );
    assert_eq!(
        f.host.response_header_values(ex.stream, "traceresponse"),
        [UPSTREAM],
        "the upstream's value passes"
    );
    let (_, values) = send(&mut f, &request("01"));
    assert!(values.is_empty(), "none added: {values:?}");
}

#[test]
fn strip_removes_an_upstream_value_and_adds_none() {
    for config in [
        FilterConfig::inbound("gateway").with_traceresponse("strip"),
        FilterConfig::outbound("gateway").with_traceresponse("strip"),
    ] {
        let mut f = filter(config);
        let (_, values) = send(
            &mut f,
            &request("01").response_header("traceresponse", UPSTREAM),
        );
        assert!(values.is_empty(), "stripped: {values:?}");
        let (_, values) = send(&mut f, &request("01"));
        assert!(values.is_empty(), "none added: {values:?}");
    }
}

#[test]
fn on_is_refused_for_an_outbound_filter() {
    let config = FilterConfig::outbound("orders").with_traceresponse("on");
    let (host, accepted) = FilterHarness::configure(&config.to_json()).expect("loads");
    assert!(!accepted, "an outbound `on` is rejected at load");
    let logs = format!("{:?}", host.logs());
    assert!(
        logs.contains("traceresponse"),
        "the log names the field: {logs}"
    );
}

#[test]
fn trusted_answers_trusted_callers_and_strips_for_the_others() {
    let mut f = filter(
        FilterConfig::inbound("gateway")
            .with_traceresponse("trusted")
            .with_member("trust.incoming", "peers")
            .with_member("trust.peers", serde_json::json!(["10.0.0.0/8"])),
    );
    let internal = request("01").response_header("traceresponse", UPSTREAM);
    assert_eq!(internal.source_address, "10.1.2.3:40000");
    let (ex, values) = send(&mut f, &internal);
    let (trace, span_id, flags) = ex.traceparent().expect("upstream traceparent");
    assert_eq!(
        values,
        [format!("00-{trace}-{span_id}-{flags}")],
        "a trusted peer learns its trace"
    );
    let mut internet = internal.clone();
    internet.source_address = "203.0.113.9:51000".into();
    let (_, values) = send(&mut f, &internet);
    assert!(values.is_empty(), "the internet learns nothing: {values:?}");
}
