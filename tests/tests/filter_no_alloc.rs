//! Proves that the W3C Trace Context hot path never touches the heap:
//! reading the request header map (`RequestHeaders::scan`),
//! `TraceParent::parse`, `TraceParent::format`, `tracestate::validate` and
//! iterating the validated members allocate zero bytes, for valid and
//! invalid inputs alike.

use std::hint::black_box;

use meshtrace_filter::headers::RequestHeaders;
use meshtrace_filter::traceparent::{TRACEPARENT_LEN, TraceParent};
use meshtrace_filter::tracestate;
use meshtrace_tests::alloc_counter::{CountingAllocator, allocations};
use meshtrace_tests::proxy_wasm_host::serialize_pairs;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const TRACEPARENTS: &[&str] = &[
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-future-fields",
    "",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
];

#[test]
fn trace_context_never_allocates() {
    // Inputs are built before counting starts.
    let tracestates: Vec<String> = vec![
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
        " a=1 ,, \tb=2\t, t@s=x ".into(),
        (0..32)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(","),
        String::new(),
        (0..33)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(","),
        "a=1,a=2".into(),
        "Upper=1".into(),
        "k=a=b".into(),
        "k".into(),
        format!("k={}", "v".repeat(257)),
    ];
    let not_utf8: &[u8] = b"k=\xff";

    let parse = allocations(|| {
        for input in TRACEPARENTS {
            let _ = black_box(TraceParent::parse(black_box(input.as_bytes())));
        }
    });
    assert_eq!(parse, 0, "TraceParent::parse allocated");

    let parsed: Vec<TraceParent> = TRACEPARENTS
        .iter()
        .filter_map(|s| TraceParent::parse(s.as_bytes()).ok())
        .collect();
    assert_eq!(parsed.len(), 3, "the valid vectors parse");
    let format = allocations(|| {
        for tp in &parsed {
            let mut buf = [0u8; TRACEPARENT_LEN];
            let _ = black_box(black_box(tp).format(&mut buf).len());
        }
    });
    assert_eq!(format, 0, "TraceParent::format allocated");

    let mut seen_members = 0;
    let validate = allocations(|| {
        for input in tracestates.iter().map(String::as_bytes).chain([not_utf8]) {
            if let Ok(state) = black_box(tracestate::validate(black_box(input))) {
                // The forwarded value is borrowed unless a key repeats
                // (then the kept members are joined, the one allocation).
                if state.repeated() == 0 {
                    let _ = black_box(state.header());
                }
                for (key, value) in state.members() {
                    let _ = black_box((key, value));
                    seen_members += 1;
                }
            }
        }
    });
    assert_eq!(validate, 0, "tracestate::validate or members() allocated");
    assert_eq!(
        seen_members,
        2 + 3 + 32 + 1,
        "the valid headers were iterated (`a=1,a=2` keeps one)"
    );

    // The header map as the host serializes it (proxy-wasm pairs), whole
    // and cut short.
    let pairs = [
        (":method", "GET"),
        (":path", "/orders/7"),
        (":authority", "orders.svc"),
        ("traceparent", TRACEPARENTS[0]),
        ("tracestate", "a=1"),
        ("user-agent", "curl/8"),
    ];
    let map = serialize_pairs(&pairs);
    let mut single = None;
    let scan = allocations(|| {
        for cut in [map.len(), map.len() - 3, 10] {
            if let Ok(headers) = black_box(RequestHeaders::scan(black_box(&map[..cut]))) {
                single = black_box(headers.combined_tracestate(&map).map(|v| v.len()));
                let _ = black_box(headers.single_traceparent());
            }
        }
    });
    assert_eq!(scan, 0, "RequestHeaders::scan allocated");
    assert_eq!(single, Some(3), "the whole map was read");

    // The counter itself works: this allocation is seen.
    let control = allocations(|| {
        let _ = black_box(Box::new(1u64));
    });
    assert_eq!(control, 1, "the counting allocator counts");
}
