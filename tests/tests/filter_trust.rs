//! The trust policy of the real filter module in the wasmtime proxy-wasm
//! host: a flood of callers forcing sampling is capped at
//! `trust.max_sampled_per_second`, counted, and still propagated.

use meshtrace_harness::filter_config::FilterConfig;
use meshtrace_tests::filter_fixture::{FilterHarness, Request, hex, spans};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[test]
fn a_flood_of_sampled_callers_is_capped_counted_and_still_propagated() {
    let config = FilterConfig::inbound("orders").with_member("trust.max_sampled_per_second", 100);
    let mut f = FilterHarness::new(&config.to_json()).expect("filter loads");
    // 1,000 requests; the fixture advances the host clock 3 ms per request,
    // so they span 3 seconds: a bucket of 100, then 100 a second.
    let req = Request::get("/").header("traceparent", &format!("00-{TRACE}-{PARENT}-01"));
    let mut sampled = 0u64;
    for _ in 0..1_000 {
        let ex = f.send(&req).expect("request runs");
        let (trace, _, flags) = ex.traceparent().expect("upstream traceparent");
        assert_eq!(trace, TRACE, "a capped request still continues the trace");
        if flags == "01" {
            sampled += 1;
        } else {
            assert_eq!(flags, "00");
        }
    }
    assert!(
        (395..=402).contains(&sampled),
        "100 at once and 100 a second over 3 s: {sampled}"
    );
    assert_eq!(f.counter("meshtrace.sampling_capped"), 1_000 - sampled);
    let mut exported = 0;
    for _ in 0..10 {
        exported += spans(&f.flush_and_collect().expect("export")).len() as u64;
    }
    assert_eq!(exported, sampled, "only the sampled ones are recorded");
}

#[test]
fn without_a_cap_every_sampled_caller_is_recorded() {
    let mut f = FilterHarness::new(&FilterConfig::inbound("orders").to_json()).expect("loads");
    let req = Request::get("/").header("traceparent", &format!("00-{TRACE}-{PARENT}-01"));
    for _ in 0..300 {
        let ex = f.send(&req).expect("request runs");
        assert_eq!(ex.traceparent().expect("upstream").2, "01");
    }
    assert_eq!(f.counter("meshtrace.sampling_capped"), 0);
}

fn incoming(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

#[test]
fn never_restarts_every_trace_and_links_the_callers_context() {
    let config = FilterConfig::inbound("gateway").with_member("trust.incoming", "never");
    let mut f = FilterHarness::new(&config.to_json()).expect("filter loads");
    let req = Request::get("/")
        .header("traceparent", &incoming("01"))
        .header("tracestate", "vendor=1");
    let ex = f.send(&req).expect("request runs");
    let (trace, span, _) = ex.traceparent().expect("upstream traceparent");
    assert_ne!(trace, TRACE, "a new trace");
    assert!(
        ex.values("tracestate").is_empty(),
        "the caller's tracestate dropped"
    );
    assert_eq!(f.counter("meshtrace.untrusted_context"), 1);
    let exported = spans(&f.flush_and_collect().expect("export"));
    let [server] = exported.as_slice() else {
        panic!(
            "one span (ratio 1 samples the new root), got {}",
            exported.len()
        );
    };
    assert_eq!(hex(&server.span_id), span);
    assert!(server.parent_span_id.is_empty(), "a root");
    let [link] = server.links.as_slice() else {
        panic!("one link: {:?}", server.links);
    };
    assert_eq!(
        (hex(&link.trace_id), hex(&link.span_id)),
        (TRACE.to_owned(), PARENT.to_owned())
    );
}

#[test]
fn peers_trusts_internal_addresses_and_the_verified_header_only() {
    let config = FilterConfig::inbound("gateway")
        .with_member("trust.incoming", "peers")
        .with_member("trust.peers", serde_json::json!(["10.0.0.0/8"]))
        .with_member("trust.header", "x-caller-verified");
    let mut f = FilterHarness::new(&config.to_json()).expect("filter loads");
    let internal = Request::get("/").header("traceparent", &incoming("01"));
    assert_eq!(internal.source_address, "10.1.2.3:40000");
    let mut internet = internal.clone();
    internet.source_address = "203.0.113.9:51000".into();
    let verified = internet.clone().header("x-caller-verified", "alice");
    for (req, continued, why) in [
        (&internal, true, "an internal peer"),
        (&internet, false, "the internet"),
        (
            &verified,
            true,
            "the internet, verified by an earlier filter",
        ),
    ] {
        let ex = f.send(req).expect("request runs");
        let (trace, _, _) = ex.traceparent().expect("upstream traceparent");
        assert_eq!(trace == TRACE, continued, "{why}");
    }
    assert_eq!(f.counter("meshtrace.untrusted_context"), 1);
}
