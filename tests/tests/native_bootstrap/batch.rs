//! The batch span processor's `OTEL_BSP_*` variables: schedule delay,
//! queue size and export batch size (the export timeout is in
//! [`timeout`](crate::timeout)).

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::{CHILD_EXIT_AFTER_MS, CHILD_SPANS};
use crate::run::{DEFAULT_SPANS, run_child, to_receiver};

#[test]
fn bsp_schedule_delay_exports_before_shutdown() {
    // The child exits 1.5 s after its spans without a shutdown flush: only
    // a scheduled export gets them out.
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            (CHILD_EXIT_AFTER_MS, "1500"),
        ],
    ));
    assert_eq!(
        receiver.span_count(),
        DEFAULT_SPANS,
        "100 ms delay: exported while running"
    );

    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            (CHILD_EXIT_AFTER_MS, "1500"),
        ],
    ));
    assert_eq!(
        receiver.span_count(),
        0,
        "60 s delay: nothing exported before the exit"
    );
}

#[test]
fn bsp_max_queue_size_drops_the_overflow() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "5"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            (CHILD_SPANS, "100"),
        ],
    ));
    // 5 queued plus what the processor exported while the loop ran (one
    // batch of 5 here); the rest is dropped.
    let got = receiver.span_count();
    assert!(
        (5..=50).contains(&got),
        "a queue of 5 keeps few of 102 spans, got {got}"
    );

    // The default queue (2048) keeps them all.
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_BSP_SCHEDULE_DELAY", "60000"), (CHILD_SPANS, "100")],
    ));
    assert_eq!(receiver.span_count(), 102);
}

#[test]
fn bsp_max_export_batch_size_caps_each_export() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            (CHILD_SPANS, "100"),
        ],
    ));
    let sizes: Vec<usize> = receiver
        .requests()
        .iter()
        .map(|r| {
            r.request
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum()
        })
        .collect();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        102,
        "every span exported: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|n| *n <= 10),
        "batches of at most 10: {sizes:?}"
    );
    assert!(sizes.len() >= 11, "102 spans need 11 batches: {sizes:?}");
}
