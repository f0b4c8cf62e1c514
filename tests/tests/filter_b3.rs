//! B3 beside W3C in the real filter module (`propagators`), request by
//! request, in the wasmtime proxy-wasm host.

use meshtrace_harness::filter_config::FilterConfig;
use meshtrace_tests::filter_fixture::{FilterHarness, Request, hex, spans};

const B3_TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const B3_SPAN: &str = "e457b5a2e4d86bd1";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn filter(propagators: &[&str]) -> FilterHarness {
    let config = FilterConfig::inbound("orders")
        .with_member("propagators", serde_json::Value::from(propagators.to_vec()));
    FilterHarness::new(&config.to_json()).expect("filter loads")
}

#[test]
fn a_b3_caller_is_continued_and_both_formats_go_upstream() {
    let mut f = filter(&["tracecontext", "b3", "b3multi"]);
    let req = Request::get("/").header("b3", &format!("{B3_TRACE}-{B3_SPAN}-1"));
    let ex = f.send(&req).expect("request runs");
    let (trace, span, flags) = ex.traceparent().expect("traceparent written");
    assert_eq!(trace, B3_TRACE, "the B3 trace continues in W3C");
    assert_eq!(flags, "01");
    assert_eq!(ex.values("b3"), [format!("{B3_TRACE}-{span}-1")]);
    assert_eq!(ex.values("x-b3-traceid"), [B3_TRACE]);
    assert_eq!(ex.values("x-b3-spanid"), [span.as_str()]);
    assert_eq!(ex.values("x-b3-sampled"), ["1"]);
    let exported = spans(&f.flush_and_collect().expect("export"));
    let [server] = exported.as_slice() else {
        panic!("one span, got {}", exported.len());
    };
    assert_eq!(hex(&server.trace_id), B3_TRACE);
    assert_eq!(
        hex(&server.parent_span_id),
        B3_SPAN,
        "child of the B3 caller"
    );
    assert_eq!(hex(&server.span_id), span);
}

#[test]
fn a_w3c_caller_reaches_a_b3_upstream() {
    let mut f = filter(&["tracecontext", "b3multi"]);
    let req = Request::get("/").header("traceparent", &format!("00-{TRACE}-{PARENT}-00"));
    let ex = f.send(&req).expect("request runs");
    let (_, span, _) = ex.traceparent().expect("traceparent written");
    assert_eq!(ex.values("x-b3-traceid"), [TRACE]);
    assert_eq!(ex.values("x-b3-spanid"), [span.as_str()]);
    assert_eq!(
        ex.values("x-b3-sampled"),
        ["0"],
        "unsampled stays unsampled"
    );
    assert!(ex.values("b3").is_empty(), "only the named formats");
}

#[test]
fn the_default_ignores_b3_and_writes_only_traceparent() {
    let mut f = FilterHarness::new(&FilterConfig::inbound("orders").to_json()).expect("loads");
    let req = Request::get("/")
        .header("x-b3-traceid", B3_TRACE)
        .header("x-b3-spanid", B3_SPAN)
        .header("x-b3-sampled", "1");
    let ex = f.send(&req).expect("request runs");
    let (trace, _, _) = ex.traceparent().expect("traceparent written");
    assert_ne!(trace, B3_TRACE, "B3 is not read unless named");
    assert_eq!(
        ex.values("x-b3-traceid"),
        [B3_TRACE],
        "passed through untouched"
    );
}

#[test]
fn b3_only_leaves_w3c_headers_alone_and_malformed_b3_restarts() {
    let mut f = filter(&["b3multi"]);
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let req = Request::get("/")
        .header("traceparent", &incoming)
        .header("x-b3-traceid", "not-hex")
        .header("x-b3-spanid", B3_SPAN);
    let ex = f.send(&req).expect("request runs");
    assert_eq!(
        ex.values("traceparent"),
        [incoming.as_str()],
        "not the filter's"
    );
    let trace = ex.values("x-b3-traceid");
    assert_eq!(trace.len(), 1);
    assert_ne!(
        trace[0], "not-hex",
        "a new trace replaces the malformed one"
    );
    assert_ne!(trace[0], TRACE);
    assert!(!f.host.vm_failed());
}

#[test]
fn an_unknown_propagator_is_refused_naming_it() {
    let config = FilterConfig::inbound("orders")
        .with_member("propagators", serde_json::json!(["tracecontext", "jaeger"]));
    let (host, accepted) = FilterHarness::configure(&config.to_json()).expect("loads");
    assert!(!accepted);
    let logs = format!("{:?}", host.logs());
    assert!(logs.contains("propagators[1]"), "{logs}");
}
