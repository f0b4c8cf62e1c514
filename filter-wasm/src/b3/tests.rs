use super::*;
use crate::traceparent::TraceFlags;

const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const SPAN: &str = "e457b5a2e4d86bd1";
const PARENT: &str = "05e3ac9a4f6e3b90";

fn span(trace: &str, span: &str, sampled: Option<bool>) -> B3Context {
    let trace = if trace.len() == 16 {
        format!("{}{trace}", "0".repeat(16))
    } else {
        trace.to_owned()
    };
    let tp = TraceParent::parse(format!("00-{trace}-{span}-00").as_bytes()).unwrap();
    B3Context::Span {
        trace_id: tp.trace_id,
        span_id: tp.parent_id,
        sampled,
    }
}

#[test]
fn reads_the_single_header_forms_of_the_b3_spec() {
    // <https://github.com/openzipkin/b3-propagation#single-header>
    let cases = [
        (
            format!("{TRACE}-{SPAN}-1-{PARENT}"),
            span(TRACE, SPAN, Some(true)),
            "all four fields",
        ),
        (
            format!("{TRACE}-{SPAN}-1"),
            span(TRACE, SPAN, Some(true)),
            "no parent",
        ),
        (
            format!("{TRACE}-{SPAN}-d"),
            span(TRACE, SPAN, Some(true)),
            "debug is accept",
        ),
        (
            format!("{TRACE}-{SPAN}-0"),
            span(TRACE, SPAN, Some(false)),
            "deny",
        ),
        (
            format!("{TRACE}-{SPAN}"),
            span(TRACE, SPAN, None),
            "deferred",
        ),
        (
            format!("64fe8b2a57d3eff7-{SPAN}-1"),
            span("64fe8b2a57d3eff7", SPAN, Some(true)),
            "a 64-bit trace id is the low half",
        ),
        ("0".to_owned(), B3Context::SamplingOnly(false), "deny only"),
        ("1".to_owned(), B3Context::SamplingOnly(true), "accept only"),
        ("d".to_owned(), B3Context::SamplingOnly(true), "debug only"),
    ];
    for (value, want, why) in cases {
        assert_eq!(parse_single(value.as_bytes()), Ok(want), "{why}: {value}");
    }
}

#[test]
fn rejects_malformed_single_headers() {
    use B3Error::*;
    let cases = [
        (
            format!("{}-{SPAN}-1", TRACE.to_uppercase()),
            TraceId,
            "uppercase trace id",
        ),
        (format!("{}-{SPAN}-1", &TRACE[..31]), TraceId, "31 digits"),
        (
            format!("{}-{SPAN}-1", "0".repeat(32)),
            TraceId,
            "all-zero trace id",
        ),
        (
            format!("{TRACE}-{}-1", "0".repeat(16)),
            SpanId,
            "all-zero span id",
        ),
        (
            format!("{TRACE}-{}-1", &SPAN[..15]),
            SpanId,
            "short span id",
        ),
        (format!("{TRACE}-{SPAN}-2"), Sampling, "sampling state 2"),
        (format!("{TRACE}-{SPAN}-1-xyz"), ParentSpanId, "bad parent"),
        (
            format!("{TRACE}-{SPAN}-1-{PARENT}-x"),
            TooManyFields,
            "five fields",
        ),
        ("".to_owned(), Sampling, "empty"),
        ("true".to_owned(), Sampling, "not a sampling state"),
    ];
    for (value, want, why) in cases {
        assert_eq!(parse_single(value.as_bytes()), Err(want), "{why}: {value}");
    }
}

#[test]
fn reads_the_multi_headers() {
    let ids = MultiHeaders {
        trace_id: Some(TRACE.as_bytes()),
        span_id: Some(SPAN.as_bytes()),
        ..MultiHeaders::default()
    };
    let cases = [
        (ids, Some(span(TRACE, SPAN, None)), "ids only: deferred"),
        (
            MultiHeaders {
                sampled: Some(b"1"),
                parent_span_id: Some(PARENT.as_bytes()),
                ..ids
            },
            Some(span(TRACE, SPAN, Some(true))),
            "sampled, with a parent",
        ),
        (
            MultiHeaders {
                sampled: Some(b"true"),
                ..ids
            },
            Some(span(TRACE, SPAN, Some(true))),
            "legacy true",
        ),
        (
            MultiHeaders {
                sampled: Some(b"0"),
                ..ids
            },
            Some(span(TRACE, SPAN, Some(false))),
            "deny",
        ),
        (
            MultiHeaders {
                sampled: Some(b"0"),
                flags: Some(b"1"),
                ..ids
            },
            Some(span(TRACE, SPAN, Some(true))),
            "debug wins",
        ),
        (
            MultiHeaders {
                sampled: Some(b"0"),
                ..MultiHeaders::default()
            },
            Some(B3Context::SamplingOnly(false)),
            "a decision without ids",
        ),
        (MultiHeaders::default(), None, "no B3 headers"),
    ];
    for (headers, want, why) in cases {
        assert_eq!(parse_multi(&headers), Ok(want), "{why}");
    }
    for (headers, want, why) in [
        (
            MultiHeaders {
                span_id: None,
                ..ids
            },
            B3Error::Incomplete,
            "trace id alone",
        ),
        (
            MultiHeaders {
                sampled: Some(b"yes"),
                ..ids
            },
            B3Error::Sampling,
            "bad sampled",
        ),
        (
            MultiHeaders {
                flags: Some(b"2"),
                ..ids
            },
            B3Error::Sampling,
            "bad flags",
        ),
        (
            MultiHeaders {
                trace_id: Some(b"xyz"),
                ..ids
            },
            B3Error::TraceId,
            "bad trace id",
        ),
    ] {
        assert_eq!(parse_multi(&headers), Err(want), "{why}");
    }
}

#[test]
fn formats_the_next_hop_into_a_fixed_buffer() {
    let tp = TraceParent::parse(format!("00-{TRACE}-{SPAN}-01").as_bytes()).unwrap();
    let mut buf = [0u8; B3_SINGLE_LEN];
    assert_eq!(format_single(&tp, &mut buf), format!("{TRACE}-{SPAN}-1"));
    assert_eq!(sampled_value(&tp), "1");
    let unsampled = TraceParent {
        flags: TraceFlags::default(),
        ..tp
    };
    assert_eq!(
        format_single(&unsampled, &mut buf),
        format!("{TRACE}-{SPAN}-0")
    );
    assert_eq!(sampled_value(&unsampled), "0");
    // What it writes, it reads back.
    let written = format_single(&tp, &mut buf).to_owned();
    assert_eq!(
        parse_single(written.as_bytes()),
        Ok(span(TRACE, SPAN, Some(true)))
    );
}
