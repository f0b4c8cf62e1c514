//! Flushing: the guard's drop and `TelemetryGuard::force_flush`, on a
//! `current_thread` runtime, a multi-thread runtime and none.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::{CHILD_EXIT_AFTER_MS, CHILD_FLUSH, CHILD_RUNTIME, CHILD_SPANS};
use crate::run::{DEFAULT_SPANS, run_child, to_receiver};

#[test]
fn shutdown_flushes_every_span_on_both_runtime_flavours() {
    for flavour in ["current", "multi", "none"] {
        for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
            let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
            // The default 5 s schedule delay: only the drop's flush exports.
            let run = run_child(&to_receiver(
                &receiver,
                protocol,
                &[(CHILD_RUNTIME, flavour), (CHILD_SPANS, "50")],
            ));
            let why = format!("{flavour} runtime, {protocol:?}");
            assert_eq!(receiver.span_count(), 52, "{why}: {run:#?}");
            assert!(
                run.drop_ms() < 5_000,
                "{why}: the drop took {} ms",
                run.drop_ms()
            );
        }
    }
}

#[test]
fn force_flush_exports_without_shutdown_on_both_runtime_flavours() {
    for flavour in ["current", "multi"] {
        let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
        // A 60 s schedule delay and an exit without the guard's drop: only
        // the explicit flush exports.
        let run = run_child(&to_receiver(
            &receiver,
            Protocol::Grpc,
            &[
                (CHILD_RUNTIME, flavour),
                ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
                (CHILD_FLUSH, "1"),
                (CHILD_EXIT_AFTER_MS, "0"),
            ],
        ));
        assert_eq!(receiver.span_count(), DEFAULT_SPANS, "{flavour}: {run:#?}");
    }
}
