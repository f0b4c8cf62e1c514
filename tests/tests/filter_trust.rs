//! The trust policy of the real filter module in the wasmtime proxy-wasm
//! host: a flood of callers forcing sampling is capped at
//! `trust.max_sampled_per_second`, counted, and still propagated.

use meshtrace_harness::filter_config::FilterConfig;
use meshtrace_tests::filter_fixture::{FilterHarness, Request, spans};

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
