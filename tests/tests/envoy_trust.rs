//! The trust policy in a real Envoy 1.40 running the shipped sidecar: a
//! flood of requests whose callers force sampling (a sampled
//! `traceparent` each) is recorded at `trust.max_sampled_per_second`, the
//! rest continue unsampled and are counted, and every request succeeds.

use std::time::{Duration, Instant};

use meshtrace_harness::http_client::HttpClient;
use meshtrace_harness::otlp::OtlpReceiver;
use meshtrace_tests::mesh::{FilterTweaks, Sidecar};
use meshtrace_tests::services::ReceivedRequest;

const RATE: u64 = 50;
const REQUESTS: usize = 2_000;
const CONNECTIONS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forced_sampling_is_capped_at_the_configured_rate() {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let tweaks =
        FilterTweaks::http().with_inbound(|c| c.with_member("trust.max_sampled_per_second", RATE));
    // One worker: one VM, one bucket.
    let side = Sidecar::start("orders", &receiver, &tweaks, 1)
        .await
        .expect("sidecar starts");
    let (envoy, app) = (&side.envoy, &side.app);

    let started = Instant::now();
    assert_eq!(
        flood(side.inbound, REQUESTS, &[]).await,
        0,
        "every request succeeds"
    );
    let elapsed = started.elapsed();

    let received = app.received();
    assert_eq!(received.len(), REQUESTS);
    let sampled = sampled_upstream(&received);
    let bound = cap_bound(elapsed);
    assert!(
        sampled >= RATE.min(REQUESTS as u64) && sampled <= bound,
        "{sampled} sampled in {elapsed:?} at {RATE}/s (at most {bound})"
    );
    let capped = envoy
        .wait_for_stat(
            "wasmcustom.meshtrace.sampling_capped",
            REQUESTS as u64 - sampled,
            Duration::from_secs(10),
        )
        .expect("stats");
    assert_eq!(
        capped,
        REQUESTS as u64 - sampled,
        "every capped request counted"
    );
    let spans = receiver
        .wait_for_spans(sampled as usize, Duration::from_secs(15))
        .await;
    assert_eq!(
        spans.len() as u64,
        sampled,
        "only the sampled ones recorded"
    );
}

/// How many requests reached the app sampled (`traceparent` flags `01`).
fn sampled_upstream(received: &[ReceivedRequest]) -> u64 {
    received
        .iter()
        .filter(|r| r.header("traceparent").is_some_and(|t| t.ends_with("-01")))
        .count() as u64
}

/// The most a cap of [`RATE`] lets through in `elapsed`: a full bucket at
/// start, then the rate, over however long the flood took on this machine.
fn cap_bound(elapsed: Duration) -> u64 {
    RATE + RATE * elapsed.as_secs().saturating_add(1)
}

/// Sends `n` GETs with a sampled `traceparent` each (and `extra` headers)
/// over [`CONNECTIONS`] connections; returns how many failed.
async fn flood(port: u16, n: usize, extra: &'static [(&'static str, &'static str)]) -> usize {
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let client = HttpClient::new().with_timeout(Duration::from_secs(10));
            let mut failed = 0;
            for i in (c..n).step_by(CONNECTIONS) {
                let traceparent = format!("00-{:032x}-00f067aa0ba902b7-01", i + 1);
                let mut headers = vec![("traceparent", traceparent.as_str())];
                headers.extend_from_slice(extra);
                let ok = client
                    .get(port, "/flood", &headers)
                    .await
                    .is_ok_and(|r| r.status == 200);
                failed += usize::from(!ok);
            }
            failed
        }));
    }
    let mut failed = 0;
    for task in tasks {
        failed += task.await.expect("load task");
    }
    failed
}

/// A gateway that records nothing of its own (`sampler.ratio: 0`),
/// trusts only peers in 10.0.0.0/8 or requests an earlier filter marked
/// `x-caller-verified`, and caps forced sampling at [`RATE`]: a flood from
/// the untrusted loopback peer forces nothing and joins no trace; verified
/// callers are continued, capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_flood_joins_no_trace_and_forces_no_sampling() {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let tweaks = FilterTweaks::http().with_inbound(|c| {
        c.with_member("sampler.ratio", 0.0)
            .with_member("trust.incoming", "peers")
            .with_member("trust.peers", serde_json::json!(["10.0.0.0/8"]))
            .with_member("trust.header", "x-caller-verified")
            .with_member("trust.max_sampled_per_second", RATE)
    });
    let side = Sidecar::start("orders", &receiver, &tweaks, 1)
        .await
        .expect("sidecar starts");
    let (envoy, app, inbound) = (&side.envoy, &side.app, side.inbound);

    assert_eq!(
        flood(inbound, 1_000, &[]).await,
        0,
        "every request succeeds"
    );
    let received = app.received();
    assert_eq!(received.len(), 1_000);
    for got in &received {
        let traceparent = got.header("traceparent").expect("a traceparent upstream");
        let flags = u8::from_str_radix(&traceparent[53..], 16).expect("hex flags");
        assert_eq!(flags & 1, 0, "not sampled: {traceparent}");
        assert!(
            !traceparent.contains("0000000000000000000000000000"),
            "a new trace, not the caller's: {traceparent}"
        );
    }
    let untrusted = envoy
        .wait_for_stat(
            "wasmcustom.meshtrace.untrusted_context",
            1_000,
            Duration::from_secs(10),
        )
        .expect("stats");
    assert_eq!(untrusted, 1_000);
    app.clear();

    let started = Instant::now();
    assert_eq!(
        flood(inbound, 1_000, &[("x-caller-verified", "alice")]).await,
        0
    );
    let elapsed = started.elapsed();
    let received = app.received();
    assert!(
        received.iter().all(|r| r
            .header("traceparent")
            .is_some_and(|t| t.contains("0000000000000000000000"))),
        "verified callers continue their trace"
    );
    let sampled = sampled_upstream(&received);
    let bound = cap_bound(elapsed);
    assert!(
        (1..=bound).contains(&sampled),
        "{sampled} sampled in {elapsed:?} (at most {bound})"
    );
    let spans = receiver
        .wait_for_spans(sampled as usize, Duration::from_secs(15))
        .await;
    assert_eq!(
        spans.len() as u64,
        sampled,
        "only the capped, verified ones recorded"
    );
    assert!(
        spans.iter().all(|s| s.span.links.is_empty()),
        "continued, not linked"
    );
}
