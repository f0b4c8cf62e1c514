//! W3C Trace Context propagation by the real filter module, request by
//! request, in the wasmtime proxy-wasm host.

use meshtrace_tests::filter_fixture::{FilterHarness, Request, hex, spans};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn inbound(ratio: f64) -> FilterHarness {
    let config = format!(
        r#"{{"direction":"inbound","service_name":"orders","sampler":{{"ratio":{ratio}}}}}"#
    );
    FilterHarness::new(&config).expect("filter loads")
}

fn valid(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

#[test]
fn invalid_traceparent_restarts_the_trace_and_drops_tracestate() {
    let t = TRACE;
    let p = PARENT;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("ff-{t}-{p}-01")], "version ff is invalid"),
        (vec![format!("0A-{t}-{p}-01")], "uppercase version"),
        (
            vec![format!("00-{}-{p}-01", t.to_uppercase())],
            "uppercase trace id",
        ),
        (
            vec![format!("00-{t}-{}-01", p.to_uppercase())],
            "uppercase parent id",
        ),
        (vec![format!("00-{t}-{p}-0A")], "uppercase flags"),
        (
            vec![format!("00-4bf92f3577b34da6a3ce929d0e0e473g-{p}-01")],
            "non-hex trace id",
        ),
        (
            vec![format!("00-{t}-00f067aa0ba902bz-01")],
            "non-hex parent id",
        ),
        (vec![format!("00-{t}-{p}-0x")], "non-hex flags"),
        (
            vec![format!("00-{}-{p}-01", "0".repeat(32))],
            "all-zero trace id",
        ),
        (
            vec![format!("00-{t}-{}-01", "0".repeat(16))],
            "all-zero parent id",
        ),
        (
            vec![format!("00-{}-{p}-01", &t[..31])],
            "trace id too short",
        ),
        (vec![format!("00-{t}0-{p}-01")], "trace id too long"),
        (
            vec![format!("00-{t}-{}-01", &p[..15])],
            "parent id too short",
        ),
        (vec![format!("00-{t}-{p}0-01")], "parent id too long"),
        (vec![format!("00-{t}-{p}-1")], "flags too short"),
        (
            vec![format!("00-{t}-{p}-01-extra")],
            "version 00 with trailing data",
        ),
        (vec![format!("00-{t}-{p}")], "missing flags"),
        (vec![format!("00_{t}_{p}_01")], "wrong separators"),
        (
            vec![format!("01-{t}-{p}-0")],
            "future version shorter than 55 chars",
        ),
        (
            vec![format!("01-{t}-{p}-01x")],
            "future version: char after flags is not '-'",
        ),
        (vec![String::new()], "empty value"),
        (vec![valid("01"), valid("01")], "two traceparent headers"),
        (vec![format!("x{}", valid("01"))], "leading garbage"),
    ];
    for (headers, reason) in cases {
        let mut f = inbound(1.0);
        let mut req = Request::get("/orders")
            .header("tracestate", "vendor=abc")
            .header("baggage", "k=v");
        for h in &headers {
            req = req.header("traceparent", h);
        }
        let ex = f.send(&req).expect("request runs");
        let (trace, _parent, flags) = ex.traceparent().unwrap_or_else(|e| {
            panic!("{reason}: upstream must carry one fresh valid traceparent: {e}")
        });
        assert_ne!(trace, TRACE, "{reason}: the trace must restart");
        assert_eq!(
            flags, "03",
            "{reason}: a new root is sampled (ratio 1) with the random flag"
        );
        assert!(
            ex.values("tracestate").is_empty(),
            "{reason}: tracestate must not be forwarded"
        );
        assert_eq!(
            ex.values("baggage"),
            vec!["k=v"],
            "{reason}: baggage passes untouched"
        );
        assert_eq!(
            f.counter("meshtrace.invalid_traceparent"),
            1,
            "{reason}: counted"
        );
        assert!(!f.host.vm_failed(), "{reason}: the VM survives");
    }
}

#[test]
fn valid_traceparent_is_continued_with_a_new_span_per_request() {
    let mut f = inbound(1.0);
    let mut parents = Vec::new();
    for _ in 0..3 {
        let ex = f
            .send(&Request::get("/a").header("traceparent", &valid("01")))
            .expect("request runs");
        let (trace, parent, flags) = ex.traceparent().expect("valid upstream traceparent");
        assert_eq!(trace, TRACE, "same trace id upstream");
        assert_ne!(
            parent, PARENT,
            "upstream parent is the proxy's span, not the incoming one"
        );
        assert_eq!(flags, "01", "sampled flag kept, no random flag invented");
        parents.push(parent);
    }
    parents.sort();
    parents.dedup();
    assert_eq!(parents.len(), 3, "three requests, three distinct span ids");

    f.tick().expect("tick");
    let exported = spans(&f.answer_http_exports(200).expect("export"));
    assert_eq!(exported.len(), 3);
    for span in &exported {
        assert_eq!(hex(&span.trace_id), TRACE);
        assert_eq!(
            hex(&span.parent_span_id),
            PARENT,
            "span's parent is the incoming span"
        );
        assert!(
            parents.contains(&hex(&span.span_id)),
            "exported span is the upstream parent"
        );
    }
}

#[test]
fn higher_version_is_parsed_by_its_first_55_chars_and_sent_as_00() {
    let mut f = inbound(1.0);
    let incoming = format!("cc-{TRACE}-{PARENT}-01-what-the-future-holds");
    let ex = f
        .send(&Request::get("/").header("traceparent", &incoming))
        .expect("request runs");
    let (trace, _, flags) = ex.traceparent().expect("valid upstream");
    assert_eq!(trace, TRACE);
    assert_eq!(flags, "01");
    assert!(ex.values("traceparent")[0].starts_with("00-"));
}

#[test]
fn random_flag_is_kept_when_inherited_and_set_on_new_roots() {
    let cases = [
        (Some("03"), 1.0, "03", "inherited random+sampled"),
        (Some("02"), 1.0, "02", "inherited random, unsampled"),
        (Some("01"), 1.0, "01", "sampled without random"),
        (Some("ff"), 1.0, "03", "unknown flags are zeroed"),
        (None, 1.0, "03", "new root, sampled"),
        (None, 0.0, "02", "new root, not sampled"),
    ];
    for (incoming, ratio, want, reason) in cases {
        let mut f = inbound(ratio);
        let mut req = Request::get("/");
        if let Some(flags) = incoming {
            req = req.header("traceparent", &valid(flags));
        }
        let ex = f.send(&req).expect("request runs");
        let (_, _, flags) = ex.traceparent().expect("valid upstream");
        assert_eq!(flags, want, "{reason}");
    }
}

#[test]
fn sampling_is_parent_based() {
    // ratio 0: new roots are dropped, a sampled parent is still exported.
    let mut f = inbound(0.0);
    f.send(&Request::get("/root")).expect("runs");
    f.send(&Request::get("/child").header("traceparent", &valid("01")))
        .expect("runs");
    f.tick().expect("tick");
    let exported = spans(&f.answer_http_exports(200).expect("export"));
    assert_eq!(exported.len(), 1, "only the sampled parent's span");
    assert_eq!(hex(&exported[0].trace_id), TRACE);
    assert_eq!(f.counter("meshtrace.spans_started"), 1);

    // ratio 1: an unsampled parent is still not exported, and propagates 00.
    let mut f = inbound(1.0);
    let ex = f
        .send(&Request::get("/").header("traceparent", &valid("00")))
        .expect("runs");
    assert_eq!(ex.traceparent().expect("valid").2, "00");
    f.tick().expect("tick");
    assert!(f.host.http_callouts().is_empty(), "nothing to export");
    assert_eq!(f.counter("meshtrace.spans_started"), 0);
}

#[test]
fn tracestate_is_merged_validated_and_bounded() {
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let m32 = members(32);
    let m33 = members(33);
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (vec!["a=1"], Some("a=1"), "single valid header forwarded"),
        (
            vec!["a=1", "b=2"],
            Some("a=1,b=2"),
            "repeated headers merged in order",
        ),
        (
            vec!["tenant@vendor=x,b=2"],
            Some("tenant@vendor=x,b=2"),
            "multi-tenant key",
        ),
        (
            vec![m32.as_str()],
            Some(m32.as_str()),
            "32 members is the limit",
        ),
        (vec![m33.as_str()], None, "33 members: dropped entirely"),
        (vec!["A=1"], None, "uppercase key"),
        (
            vec!["a=1,a=2"],
            Some("a=1"),
            "duplicate key: the first member kept",
        ),
        (
            vec!["a=1,b=2", "a=3"],
            Some("a=1,b=2"),
            "duplicate key across headers: the later one dropped",
        ),
        (
            vec!["foo@bar=1,foo@=2,t1@v=3"],
            Some("foo@bar=1,foo@=2,t1@v=3"),
            "Level 2 keys with `@`",
        ),
        (vec!["@foo=1"], None, "a key may not start with `@`"),
        (vec!["a=x\ty"], None, "tab inside a value"),
        (vec!["a=caf\u{e9}"], None, "non-ASCII value"),
        (
            vec!["a=x y ", "b=2"],
            Some("a=x y,b=2"),
            "trailing space is OWS (trimmed), not value",
        ),
        (vec!["a=b=c"], None, "'=' in value"),
        (vec!["novalue"], None, "member without '='"),
    ];
    for (headers, want, reason) in cases {
        let mut f = inbound(1.0);
        let mut req = Request::get("/").header("traceparent", &valid("01"));
        for h in &headers {
            req = req.header("tracestate", h);
        }
        let ex = f.send(&req).expect("request runs");
        let got = ex.values("tracestate");
        match want {
            Some(value) => assert_eq!(got, vec![value], "{reason}"),
            None => assert!(got.is_empty(), "{reason}: got {got:?}"),
        }
        assert_eq!(
            ex.traceparent().expect("valid").0,
            TRACE,
            "{reason}: trace continues"
        );
    }
}

/// The pass-through path costs one read and one write: the header map in
/// one call (in Envoy a `get_property` costs about four header reads, and
/// a header read sees only the first of repeated headers), then the new
/// `traceparent`. No attribute is read for a span that is not recorded.
#[test]
fn unsampled_requests_read_the_header_map_once_and_write_traceparent() {
    let mut f = inbound(1.0);
    f.host.clear_host_calls();
    f.send(&Request::get("/").header("traceparent", &valid("00")))
        .expect("runs");
    let calls: Vec<String> = f.host.host_calls().iter().map(|c| c.name.clone()).collect();
    assert_eq!(
        calls,
        vec![
            "proxy_get_header_map_pairs".to_owned(),
            "proxy_replace_header_map_value".to_owned()
        ],
        "one read, one write"
    );
}

#[test]
fn garbage_trace_headers_never_fail_the_vm() {
    // Deterministic pseudo-random bytes (xorshift), biased towards the
    // characters of real headers so parsing goes deep.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"0123456789abcdefABCDEF-=,@ *_/\t\x7f\x80\xff";
    let mut f = inbound(1.0);
    for i in 0..400 {
        let len = (next() % 80) as usize;
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        if i % 3 == 0 {
            // Start from a valid header and corrupt one byte.
            bytes = valid("01").into_bytes();
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
        }
        let value = String::from_utf8_lossy(&bytes).into_owned();
        let req = Request::get("/")
            .header("traceparent", &value)
            .header("tracestate", &value);
        let ex = f
            .send(&req)
            .unwrap_or_else(|e| panic!("input {value:?}: {e}"));
        ex.traceparent()
            .unwrap_or_else(|e| panic!("input {value:?}: upstream must stay valid: {e}"));
        assert!(!f.host.vm_failed(), "input {value:?} failed the VM");
    }
    f.flush_and_collect().expect("export still works");
}

/// A host that refuses the trace-context rewrite (Envoy answers
/// `BadArgument` for a header map it no longer holds) costs the next hop
/// its parent, never the request: the refusal is counted in
/// `meshtrace.header_write_failures`, the span is still recorded, and the
/// next request writes again.
#[test]
fn refused_header_writes_are_counted_and_the_request_still_flows() {
    const FAILURES: &str = "meshtrace.header_write_failures";
    let mut f = inbound(1.0);
    f.host.refuse_header_writes(true);
    let ex = f
        .send(
            &Request::get("/")
                .header("traceparent", &valid("01"))
                .header("tracestate", "congo=t61rcWkgMzE"),
        )
        .expect("the request flows");
    assert_eq!(
        ex.values("traceparent"),
        vec![valid("01").as_str()],
        "the refused rewrite left the incoming traceparent"
    );
    assert_eq!(f.counter(FAILURES), 2, "traceparent and tracestate refused");
    assert!(!f.host.vm_failed());
    // An invalid tracestate is removed: a refused removal counts too.
    f.send(
        &Request::get("/")
            .header("traceparent", &valid("01"))
            .header("tracestate", "UPPER=1"),
    )
    .expect("the request flows");
    assert_eq!(f.counter(FAILURES), 4);

    f.host.refuse_header_writes(false);
    let ex = f
        .send(&Request::get("/").header("traceparent", &valid("01")))
        .expect("runs");
    let (trace, parent, _) = ex.traceparent().expect("rewritten");
    assert_eq!(trace, TRACE);
    assert_ne!(parent, PARENT, "this proxy's span is the parent again");
    assert_eq!(f.counter(FAILURES), 4, "successful writes are not counted");
    f.tick().expect("tick");
    let exported = spans(&f.answer_http_exports(200).expect("export"));
    assert_eq!(exported.len(), 3, "every request's span was still recorded");
}
