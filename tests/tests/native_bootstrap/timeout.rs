//! How long one export to a stalled collector may take:
//! `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT`, `OTEL_BSP_EXPORT_TIMEOUT`, and the
//! guard's shutdown bound without either.

use std::time::Duration;

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::{FaultMode, OtlpReceiver};

use crate::run::{run_child, to_receiver};

// === OTEL_EXPORTER_OTLP_TIMEOUT ===

/// Runs a child against a receiver that stalls every export for 30 s and
/// returns how long dropping the guard took; asserts the export reached it.
fn drop_ms_against_stalled_collector(vars: &[(&'static str, &str)]) -> u128 {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    receiver.set_mode(FaultMode::Stall(Duration::from_secs(30)));
    let run = run_child(&to_receiver(&receiver, Protocol::HttpProtobuf, vars));
    assert!(
        receiver.export_attempts().stalled >= 1,
        "the export reached the receiver"
    );
    run.drop_ms()
}

#[test]
fn otlp_timeout_bounds_an_export_to_a_stalled_collector() {
    let ms = drop_ms_against_stalled_collector(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "300")]);
    assert!(ms < 3_000, "300 ms export timeout, drop took {ms} ms");

    // The traces-specific variable does the same.
    let ms = drop_ms_against_stalled_collector(&[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300")]);
    assert!(
        ms < 3_000,
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=300, drop took {ms} ms"
    );

    // Without it the export waits (default 10 s) until the guard's 5 s
    // shutdown bound gives up.
    let ms = drop_ms_against_stalled_collector(&[]);
    assert!(
        (4_000..8_000).contains(&ms),
        "bounded by the 5 s shutdown timeout, drop took {ms} ms"
    );
}

// === OTEL_BSP_EXPORT_TIMEOUT ===

#[test]
fn bsp_export_timeout_bounds_one_export() {
    // The OTLP exporter's own timeout is long (10 s); the batch export
    // timeout of 300 ms ends the stalled export first.
    let ms = drop_ms_against_stalled_collector(&[("OTEL_BSP_EXPORT_TIMEOUT", "300")]);
    assert!(ms < 3_000, "300 ms batch export timeout, drop took {ms} ms");
}
