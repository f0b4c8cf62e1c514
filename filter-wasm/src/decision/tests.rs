use super::*;
use crate::headers::serialize;

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TP_UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

/// `start` over a request with `pairs` as headers.
fn decide(pairs: &[(&str, &str)], ratio: f64, spawn_upstream_span: bool) -> Start<'static> {
    decide_full(
        pairs,
        ratio,
        spawn_upstream_span,
        PropagatorsConfig::default(),
        true,
    )
}

fn no_cap() -> Trust<'static> {
    Trust {
        trusted: true,
        limiter: None,
        now_nanos: 0,
    }
}

/// [`decide`] with these propagators, ratio 1.
fn decide_with(pairs: &[(&str, &str)], propagators: PropagatorsConfig) -> Start<'static> {
    decide_trusting(pairs, 1.0, propagators, true)
}

/// `start` with these propagators and trust; no CLIENT child, no cap.
fn decide_trusting(
    pairs: &[(&str, &str)],
    ratio: f64,
    propagators: PropagatorsConfig,
    trusted: bool,
) -> Start<'static> {
    decide_full(pairs, ratio, false, propagators, trusted)
}

/// `start` with every choice given; no sampling cap.
fn decide_full(
    pairs: &[(&str, &str)],
    ratio: f64,
    spawn_upstream_span: bool,
    propagators: PropagatorsConfig,
    trusted: bool,
) -> Start<'static> {
    let raw: &'static [u8] = Box::leak(serialize(pairs).into_boxed_slice());
    let headers = RequestHeaders::scan(raw).expect("well-formed map");
    let mut ids = IdGenerator::from_seed(7);
    start(
        &headers,
        raw,
        &Sampler::ratio(ratio),
        &mut ids,
        spawn_upstream_span,
        &propagators,
        Trust {
            trusted,
            ..no_cap()
        },
    )
}

fn parse(s: &str) -> TraceParent {
    TraceParent::parse(s.as_bytes()).expect("valid traceparent")
}

#[test]
fn a_valid_parent_is_continued_and_this_span_goes_upstream() {
    let d = decide(&[("traceparent", TP)], 0.0, false);
    let parent = parse(TP);
    assert_eq!(d.context.trace_id, parent.trace_id);
    assert_eq!(d.context.parent_span_id, Some(parent.parent_id));
    assert!(
        d.context.is_sampled(),
        "parent-based: the ratio does not apply"
    );
    assert_eq!(d.traceparent.trace_id, parent.trace_id);
    assert_eq!(d.traceparent.parent_id, d.context.span_id);
    assert_eq!(d.traceparent.flags, d.context.flags);
    assert_eq!(d.rejected_parent, None);
    assert_eq!(d.upstream_span_id, None);
    assert_eq!(d.tracestate, TraceStateAction::Absent);
}

#[test]
fn no_parent_starts_a_root_with_the_sampler_decision() {
    let sampled = decide(&[(":path", "/")], 1.0, false);
    assert_eq!(sampled.context.parent_span_id, None);
    assert_eq!(sampled.context.flags.to_u8(), 0x03, "random + sampled");
    assert_eq!(sampled.rejected_parent, None);
    let unsampled = decide(&[(":path", "/")], 0.0, false);
    assert_eq!(unsampled.context.flags.to_u8(), 0x02, "random only");
    assert_eq!(
        unsampled.traceparent.flags,
        TraceFlags::RANDOM,
        "an unsampled root still propagates its context"
    );
}

#[test]
fn an_invalid_parent_restarts_the_trace_and_says_why() {
    let d = decide(
        &[(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )],
        1.0,
        false,
    );
    assert!(matches!(
        d.rejected_parent,
        Some(ParentRejected::Invalid(_))
    ));
    assert_eq!(d.context.parent_span_id, None);
    assert_ne!(d.context.trace_id, parse(TP).trace_id);
}

#[test]
fn repeated_traceparent_headers_restart_the_trace() {
    // <https://www.w3.org/TR/trace-context-2/#traceparent-header>
    let d = decide(&[("traceparent", TP), ("traceparent", TP)], 1.0, false);
    assert_eq!(d.rejected_parent, Some(ParentRejected::Repeated(2)));
    assert_eq!(d.context.parent_span_id, None);
    assert_ne!(d.context.trace_id, parse(TP).trace_id);
}

#[test]
fn the_client_child_is_the_upstream_parent_when_spawned() {
    let d = decide(&[("traceparent", TP)], 1.0, true);
    let child = d.upstream_span_id.expect("sampled: a CLIENT child");
    assert_ne!(child, d.context.span_id);
    assert_eq!(d.traceparent.parent_id, child);
    assert_eq!(d.context.parent_span_id, Some(parse(TP).parent_id));
}

#[test]
fn an_unsampled_request_has_no_client_child() {
    let d = decide(&[("traceparent", TP_UNSAMPLED)], 1.0, true);
    assert_eq!(d.upstream_span_id, None);
    assert_eq!(d.traceparent.parent_id, d.context.span_id);
}

#[test]
fn a_valid_tracestate_travels_with_its_parent_borrowed() {
    let d = decide(
        &[("traceparent", TP), ("tracestate", "congo=t61rcWkgMzE")],
        1.0,
        false,
    );
    match d.tracestate {
        TraceStateAction::Forward(Cow::Borrowed(value)) => assert_eq!(value, "congo=t61rcWkgMzE"),
        other => panic!("expected a borrowed forward, got {other:?}"),
    }
}

#[test]
fn repeated_tracestate_headers_are_combined_in_order() {
    // <https://www.w3.org/TR/trace-context-2/#combined-header-value>
    let d = decide(
        &[
            ("tracestate", "a=1"),
            ("traceparent", TP),
            ("tracestate", "b=2"),
        ],
        1.0,
        false,
    );
    assert_eq!(
        d.tracestate,
        TraceStateAction::Forward(Cow::Owned("a=1,b=2".to_owned()))
    );
}

#[test]
fn a_repeated_tracestate_key_loses_only_its_later_members() {
    // Repeated keys are not an invalid header: the first member of each
    // key travels on, and so does the parent.
    // <https://www.w3.org/TR/trace-context-2/#combined-header-value>
    let d = decide(
        &[
            ("traceparent", TP),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "foo=3"),
        ],
        1.0,
        false,
    );
    assert_eq!(
        d.tracestate,
        TraceStateAction::Forward(Cow::Owned("foo=1,bar=2".to_owned()))
    );
    assert_eq!(d.rejected_parent, None);
    assert_eq!(
        d.context.trace_id,
        parse(TP).trace_id,
        "the trace continues"
    );
}

#[test]
fn a_bad_tracestate_never_costs_the_traceparent() {
    for bad in ["UPPER=1", "k=v=w", "@foo=1", "k"] {
        let d = decide(&[("traceparent", TP), ("tracestate", bad)], 1.0, false);
        assert!(
            matches!(
                d.tracestate,
                TraceStateAction::Remove(TraceStateDropped::Invalid(_))
            ),
            "{bad}: {:?}",
            d.tracestate
        );
        assert_eq!(d.rejected_parent, None, "{bad}");
        assert_eq!(d.context.trace_id, parse(TP).trace_id, "{bad}");
    }
}

#[test]
fn tracestate_without_a_valid_parent_is_removed() {
    let d = decide(&[("tracestate", "a=1")], 1.0, false);
    assert_eq!(
        d.tracestate,
        TraceStateAction::Remove(TraceStateDropped::WithoutParent)
    );
    let d = decide(
        &[("traceparent", "garbage"), ("tracestate", "a=1")],
        1.0,
        false,
    );
    assert_eq!(
        d.tracestate,
        TraceStateAction::Remove(TraceStateDropped::WithoutParent)
    );
}

#[test]
fn an_empty_or_invalid_tracestate_is_removed() {
    let d = decide(&[("traceparent", TP), ("tracestate", ",")], 1.0, false);
    assert_eq!(
        d.tracestate,
        TraceStateAction::Remove(TraceStateDropped::Empty)
    );
    let d = decide(
        &[("traceparent", TP), ("tracestate", "UPPER=1")],
        1.0,
        false,
    );
    assert!(matches!(
        d.tracestate,
        TraceStateAction::Remove(TraceStateDropped::Invalid(_))
    ));
}

#[test]
fn response_status_is_a_positive_integer() {
    assert_eq!(response_status(b"200"), Some(200));
    assert_eq!(response_status(b"0"), None);
    assert_eq!(response_status(b"-1"), None);
    assert_eq!(response_status(b"abc"), None);
    assert_eq!(response_status(b"\xff"), None);
}

fn request_span(upstream_span_id: Option<SpanId>, cluster: Option<&str>) -> RequestSpan {
    let mut ids = IdGenerator::from_seed(1);
    let parent = parse(TP);
    RequestSpan {
        context: SpanContext::start(Some(&parent), &Sampler::ratio(1.0), &mut ids),
        upstream_span_id,
        trace_state: Some("a=1".to_owned()),
        link: None,
        start_unix_nanos: 10,
        http: HttpObservation {
            method: Some("GET".to_owned()),
            upstream_cluster: cluster.map(str::to_owned),
            status_code: Some(200),
            ..HttpObservation::default()
        },
    }
}

#[test]
fn the_cluster_is_needed_for_client_spans_and_spawned_children() {
    let child = SpanId::from_bytes([9; 8]);
    assert!(!request_span(None, None).needs_cluster(SpanKind::Server));
    assert!(request_span(None, None).needs_cluster(SpanKind::Client));
    assert!(request_span(Some(child), None).needs_cluster(SpanKind::Server));
}

#[test]
fn the_record_carries_the_context_and_the_observation() {
    let span = request_span(None, Some("backend"));
    let context = span.context;
    let (record, child) = span.into_record(SpanKind::Server, 20, true);
    assert_eq!(child, None);
    assert_eq!(record.trace_id, context.trace_id);
    assert_eq!(record.span_id, context.span_id);
    assert_eq!(record.parent_span_id, context.parent_span_id);
    assert_eq!(record.trace_state.as_deref(), Some("a=1"));
    assert_eq!((record.start_unix_nanos, record.end_unix_nanos), (10, 20));
    assert!(record.capture_query);
    assert_eq!(record.http.status_code, Some(200));
}

#[test]
fn the_client_child_is_reported_only_when_the_request_went_upstream() {
    let id = SpanId::from_bytes([9; 8]);
    let (_, child) = request_span(Some(id), None).into_record(SpanKind::Server, 20, false);
    assert_eq!(child, None, "a direct response has no upstream cluster");
    let (mut record, child) =
        request_span(Some(id), Some("backend")).into_record(SpanKind::Server, 20, false);
    assert_eq!(child, Some(id));
    let server_id = record.span_id;
    into_upstream_child(&mut record, id);
    assert_eq!(record.kind, SpanKind::Client);
    assert_eq!(record.span_id, id);
    assert_eq!(record.parent_span_id, Some(server_id));
    assert_eq!((record.start_unix_nanos, record.end_unix_nanos), (10, 20));
}

const B3_TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const B3_SPAN: &str = "e457b5a2e4d86bd1";

fn w3c_and_b3() -> PropagatorsConfig {
    PropagatorsConfig {
        tracecontext: true,
        b3: true,
        b3multi: true,
    }
}

#[test]
fn b3_is_read_only_when_named_and_no_valid_traceparent_came() {
    let single = format!("{B3_TRACE}-{B3_SPAN}-1");
    // Not named: ignored, a new root.
    let d = decide(&[("b3", &single)], 1.0, false);
    assert_ne!(d.context.trace_id.to_string(), B3_TRACE);
    // Named: continued, the caller's span as the parent.
    let d = decide_with(&[("b3", &single)], w3c_and_b3());
    assert_eq!(d.context.trace_id.to_string(), B3_TRACE);
    assert_eq!(
        d.context.parent_span_id.map(|s| s.to_string()).as_deref(),
        Some(B3_SPAN)
    );
    assert!(d.context.is_sampled());
    assert!(
        !d.context.flags.is_random(),
        "B3 says nothing about randomness"
    );
    // A valid traceparent wins over B3.
    let d = decide_with(&[("b3", &single), ("traceparent", TP)], w3c_and_b3());
    assert_eq!(d.context.trace_id, parse(TP).trace_id);
    // An invalid one does not: B3 takes over, the bad one is still counted.
    let d = decide_with(&[("b3", &single), ("traceparent", "garbage")], w3c_and_b3());
    assert_eq!(d.context.trace_id.to_string(), B3_TRACE);
    assert!(d.rejected_parent.is_some());
}

#[test]
fn b3_multi_and_single_fallback_and_sampling() {
    let multi = [
        ("x-b3-traceid", B3_TRACE),
        ("x-b3-spanid", B3_SPAN),
        ("x-b3-sampled", "0"),
    ];
    let d = decide_with(&multi, w3c_and_b3());
    assert_eq!(d.context.trace_id.to_string(), B3_TRACE);
    assert!(!d.context.is_sampled(), "deny is followed");
    // A malformed single header falls back to the multi headers.
    let mut with_bad_single = multi.to_vec();
    with_bad_single.push(("b3", "not-b3"));
    let d = decide_with(&with_bad_single, w3c_and_b3());
    assert_eq!(d.context.trace_id.to_string(), B3_TRACE);
    // Malformed B3 alone: a new root, and the reason.
    let d = decide_with(&[("b3", "not-b3")], w3c_and_b3());
    assert_ne!(d.context.trace_id.to_string(), B3_TRACE);
    assert_eq!(d.rejected_b3, Some(B3Error::TraceId));
    // A decision without ids: a new trace with that decision.
    let d = decide_with(&[("b3", "0")], w3c_and_b3());
    assert!(!d.context.is_sampled());
    assert_eq!(d.context.parent_span_id, None);
    // Deferred: the sampler decides (ratio 1 here).
    let d = decide_with(&multi[..2], w3c_and_b3());
    assert!(d.context.is_sampled());
}

#[test]
fn without_tracecontext_the_w3c_headers_are_left_alone() {
    let b3_only = PropagatorsConfig {
        tracecontext: false,
        b3: false,
        b3multi: true,
    };
    let d = decide_with(&[("traceparent", TP), ("tracestate", "a=1")], b3_only);
    assert_ne!(
        d.context.trace_id,
        parse(TP).trace_id,
        "traceparent not read"
    );
    assert_eq!(d.rejected_parent, None);
    assert_eq!(
        d.tracestate,
        TraceStateAction::Absent,
        "tracestate untouched"
    );
}

#[test]
fn forced_sampling_beyond_the_cap_continues_unsampled() {
    let raw: &'static [u8] = Box::leak(serialize(&[("traceparent", TP)]).into_boxed_slice());
    let headers = RequestHeaders::scan(raw).expect("well-formed map");
    let root_raw: &'static [u8] = Box::leak(serialize(&[]).into_boxed_slice());
    let root_headers = RequestHeaders::scan(root_raw).expect("well-formed map");
    let mut ids = IdGenerator::from_seed(7);
    let mut limiter = SampledLimiter::new(2, 0);
    let mut run = |headers: &RequestHeaders<'static>, raw: &'static [u8], now_nanos: u64| {
        start(
            headers,
            raw,
            &Sampler::ratio(1.0),
            &mut ids,
            false,
            &PropagatorsConfig::default(),
            Trust {
                trusted: true,
                limiter: Some(&mut limiter),
                now_nanos,
            },
        )
    };
    let first: Vec<(bool, bool)> = (0..4)
        .map(|_| {
            let d = run(&headers, raw, 0);
            (d.context.is_sampled(), d.sampling_capped)
        })
        .collect();
    assert_eq!(
        first,
        [(true, false), (true, false), (false, true), (false, true)],
        "two a second, the rest capped"
    );
    let capped = run(&headers, raw, 0);
    assert_eq!(
        capped.context.trace_id,
        parse(TP).trace_id,
        "the trace continues"
    );
    assert!(
        !capped.traceparent.flags.is_sampled(),
        "sent upstream unsampled"
    );
    // Roots the ratio samples are not the caller's doing.
    let root = run(&root_headers, root_raw, 0);
    assert!(root.context.is_sampled() && !root.sampling_capped);
    // A second later the bucket has refilled.
    assert!(run(&headers, raw, 1_000_000_000).context.is_sampled());
}

#[test]
fn an_untrusted_callers_context_is_linked_not_continued() {
    let untrusted = |pairs: &[(&str, &str)], propagators: PropagatorsConfig| {
        decide_trusting(pairs, 0.0, propagators, false)
    };
    let d = untrusted(
        &[("traceparent", TP), ("tracestate", "a=1")],
        PropagatorsConfig::default(),
    );
    assert_ne!(d.context.trace_id, parse(TP).trace_id, "a new trace");
    assert_eq!(d.context.parent_span_id, None);
    assert!(
        !d.context.is_sampled(),
        "the caller's sampled flag decides nothing"
    );
    assert_eq!(d.link, Some(parse(TP)), "linked");
    assert_eq!(
        d.tracestate,
        TraceStateAction::Remove(TraceStateDropped::Untrusted)
    );
    let single = format!("{B3_TRACE}-{B3_SPAN}-1");
    let d = untrusted(&[("b3", &single)], w3c_and_b3());
    assert_ne!(d.context.trace_id.to_string(), B3_TRACE);
    assert_eq!(
        d.link
            .map(|l| (l.trace_id.to_string(), l.parent_id.to_string())),
        Some((B3_TRACE.to_owned(), B3_SPAN.to_owned()))
    );
    let d = untrusted(&[("b3", "1")], w3c_and_b3());
    assert!(!d.context.is_sampled(), "nor can it force sampling");
    assert_eq!(d.link, None);
    assert_eq!(
        decide(&[("traceparent", TP)], 1.0, false).link,
        None,
        "trusted: no link"
    );
}
