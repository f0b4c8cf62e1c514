//! `cargo xtask bench nats`: publish-and-consume throughput of CloudEvents
//! over a real nats-server, traced (meshtrace `Publisher` and
//! `Subscription::process`, every message sampled and exported over
//! OTLP/gRPC to the [`Sink`](crate::sink::Sink)) against untraced (the same events encoded
//! and decoded with the same binding by a bare async-nats client), in
//! interleaved rounds on one server.
//!
//! A round publishes `messages` events as fast as the publisher can and
//! ends when the consumer has handled the last one; throughput is
//! messages / (last handled − first published). The consumer runs on its
//! own connection. After every round the run checks that the consumer got
//! every message, and at the end that the sink received one PRODUCER and
//! one CONSUMER span per traced message: a config that drops messages or
//! spans does not count.

use std::time::{Duration, Instant};

use async_nats::Client;
use bytes::Bytes;
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use futures_util::StreamExt;
use meshtrace::nats::{Publisher, Subscription, decode, encode_binary};

use crate::report::Spread;

/// How long a round may take before it counts as lost messages.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);

/// What the NATS benchmark runs.
#[derive(Debug, Clone)]
pub struct NatsPlan {
    /// Interleaved rounds of each configuration.
    pub rounds: usize,
    /// Messages per round.
    pub messages: usize,
    /// Bytes of JSON data per event.
    pub payload_bytes: usize,
}

/// The two configurations compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsConfig {
    /// Bare async-nats with the CloudEvents binding, no spans.
    Untraced,
    /// meshtrace `Publisher` / `Subscription::process`, spans exported.
    Traced,
}

/// One round's result.
#[derive(Debug, Clone)]
pub struct NatsRound {
    /// Which configuration.
    pub config: NatsConfig,
    /// Messages handled by the consumer.
    pub handled: usize,
    /// First publish to last handled.
    pub elapsed: Duration,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum NatsBenchError {
    /// A NATS operation failed.
    #[error("{what}: {source}")]
    Nats {
        /// What was being done.
        what: &'static str,
        /// The client's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The consumer did not get every message in time.
    #[error("{config:?} round lost messages: {handled} of {sent} handled within {ROUND_TIMEOUT:?}")]
    Lost {
        /// The configuration.
        config: NatsConfig,
        /// Messages handled.
        handled: usize,
        /// Messages sent.
        sent: usize,
    },
}

// === impl NatsConfig ===

impl NatsConfig {
    /// The label in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Untraced => "untraced (async-nats + binding)",
            Self::Traced => "traced (meshtrace, 100% sampled, OTLP export)",
        }
    }
}

// === impl NatsRound ===

impl NatsRound {
    /// Messages per second.
    pub fn throughput(&self) -> f64 {
        self.handled as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs `plan` against the server at `url`: rounds of untraced then
/// traced, alternating. The global tracer provider must already export
/// to a sink (see the `meshtrace-bench-nats` binary).
///
/// # Errors
///
/// [`NatsBenchError`] when NATS fails or a round loses messages.
pub async fn run(url: &str, plan: &NatsPlan) -> Result<Vec<NatsRound>, NatsBenchError> {
    let publisher_client = connect(url).await?;
    let consumer_client = connect(url).await?;
    let event = event(plan.payload_bytes);
    let mut rounds = Vec::with_capacity(plan.rounds * 2);
    for round in 0..plan.rounds {
        for config in [NatsConfig::Untraced, NatsConfig::Traced] {
            let subject = format!("bench.{round}.{config:?}");
            let result = match config {
                NatsConfig::Untraced => {
                    untraced(
                        &publisher_client,
                        &consumer_client,
                        &subject,
                        &event,
                        plan.messages,
                    )
                    .await?
                }
                NatsConfig::Traced => {
                    traced(
                        &publisher_client,
                        &consumer_client,
                        &subject,
                        &event,
                        plan.messages,
                    )
                    .await?
                }
            };
            rounds.push(result);
        }
    }
    Ok(rounds)
}

async fn connect(url: &str) -> Result<Client, NatsBenchError> {
    async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 20)
        .connect(url)
        .await
        .map_err(|e| NatsBenchError::Nats {
            what: "connecting",
            source: Box::new(e),
        })
}

fn event(payload_bytes: usize) -> Event {
    EventBuilderV10::new()
        .id("bench-1")
        .source("/bench")
        .ty("com.example.bench")
        .data(
            "application/json",
            serde_json::json!({ "pad": "x".repeat(payload_bytes) }),
        )
        .build()
        .unwrap_or_default()
}

fn nats_error(what: &'static str) -> impl FnOnce(async_nats::Error) -> NatsBenchError {
    move |source| NatsBenchError::Nats { what, source }
}

async fn untraced(
    publisher: &Client,
    consumer: &Client,
    subject: &str,
    event: &Event,
    messages: usize,
) -> Result<NatsRound, NatsBenchError> {
    let mut subscriber = consumer
        .subscribe(subject.to_owned())
        .await
        .map_err(|e| nats_error("subscribing")(e.into()))?;
    consumer
        .flush()
        .await
        .map_err(|e| nats_error("flushing")(e.into()))?;
    let handle = tokio::spawn(async move {
        let mut handled = 0;
        while handled < messages {
            let Some(message) = subscriber.next().await else {
                break;
            };
            if decode(message.headers.as_ref(), &message.payload).is_ok() {
                handled += 1;
            }
        }
        (handled, Instant::now())
    });
    let start = Instant::now();
    for _ in 0..messages {
        let Ok((headers, payload)) = encode_binary(event) else {
            continue;
        };
        publisher
            .publish_with_headers(subject.to_owned(), headers, payload)
            .await
            .map_err(|e| nats_error("publishing")(e.into()))?;
    }
    finish(NatsConfig::Untraced, handle, start, messages).await
}

async fn traced(
    publisher: &Client,
    consumer: &Client,
    subject: &str,
    event: &Event,
    messages: usize,
) -> Result<NatsRound, NatsBenchError> {
    let mut subscription = Subscription::subscribe(consumer, subject.to_owned())
        .await
        .map_err(|e| nats_error("subscribing")(e.into()))?;
    consumer
        .flush()
        .await
        .map_err(|e| nats_error("flushing")(e.into()))?;
    let handle = tokio::spawn(async move {
        let mut handled = 0;
        while handled < messages {
            let Some(delivery) = subscription.next().await else {
                break;
            };
            if delivery
                .process(|_| async { Ok::<_, std::convert::Infallible>(()) })
                .await
                .is_ok()
            {
                handled += 1;
            }
        }
        (handled, Instant::now())
    });
    let publisher = Publisher::new(publisher.clone());
    let start = Instant::now();
    for _ in 0..messages {
        publisher
            .publish(subject.to_owned(), event.clone())
            .await
            .map_err(|e| NatsBenchError::Nats {
                what: "publishing",
                source: Box::new(e),
            })?;
    }
    finish(NatsConfig::Traced, handle, start, messages).await
}

async fn finish(
    config: NatsConfig,
    handle: tokio::task::JoinHandle<(usize, Instant)>,
    start: Instant,
    sent: usize,
) -> Result<NatsRound, NatsBenchError> {
    let abort = handle.abort_handle();
    let (handled, end) = match tokio::time::timeout(ROUND_TIMEOUT, handle).await {
        Ok(Ok(done)) => done,
        _ => {
            abort.abort();
            (0, Instant::now())
        }
    };
    if handled < sent {
        return Err(NatsBenchError::Lost {
            config,
            handled,
            sent,
        });
    }
    Ok(NatsRound {
        config,
        handled,
        elapsed: end.duration_since(start),
    })
}

/// The report: per configuration the median throughput with its spread,
/// the ratio of traced to untraced (median of per-round ratios), and the
/// span check.
pub fn table(rounds: &[NatsRound], spans_expected: u64, spans_received: u64) -> String {
    let of = |config: NatsConfig| -> Vec<f64> {
        rounds
            .iter()
            .filter(|r| r.config == config)
            .map(NatsRound::throughput)
            .collect()
    };
    let untraced = of(NatsConfig::Untraced);
    let traced = of(NatsConfig::Traced);
    let ratios: Vec<f64> = untraced
        .iter()
        .zip(&traced)
        .map(|(u, t)| t / u.max(f64::EPSILON))
        .collect();
    let mut out =
        String::from("| config | msgs/s (median) | spread | vs untraced |\n|---|---|---|---|\n");
    for (config, values) in [
        (NatsConfig::Untraced, &untraced),
        (NatsConfig::Traced, &traced),
    ] {
        let Some(spread) = Spread::of(values) else {
            continue;
        };
        let ratio = match config {
            NatsConfig::Untraced => "1.00×".to_owned(),
            NatsConfig::Traced => {
                Spread::of(&ratios).map_or_else(String::new, |r| format!("{:.2}×", r.median))
            }
        };
        out.push_str(&format!(
            "| {} | {:.0} | {:.0}–{:.0} | {ratio} |\n",
            config.label(),
            spread.median,
            spread.min,
            spread.max
        ));
    }
    let verdict = if spans_received == spans_expected {
        "every traced message exported its PRODUCER and CONSUMER span"
    } else {
        "SPANS MISSING: the traced figures do not count"
    };
    out.push_str(&format!(
        "\nsink: {spans_received} spans received, {spans_expected} expected ({verdict})\n"
    ));
    out
}

/// The spans a run should export: one PRODUCER and one CONSUMER per
/// traced message.
pub fn spans_expected(rounds: &[NatsRound]) -> u64 {
    rounds
        .iter()
        .filter(|r| r.config == NatsConfig::Traced)
        .map(|r| 2 * r.handled as u64)
        .sum()
}

/// The untraced baseline's payload, for tests: encoded then decoded.
pub fn round_trip(event: &Event) -> Option<Event> {
    let (headers, payload): (_, Bytes) = encode_binary(event).ok()?;
    decode(Some(&headers), &payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(config: NatsConfig, per_sec: u64) -> NatsRound {
        NatsRound {
            config,
            handled: per_sec as usize,
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn table_reports_median_ratio_and_span_check() {
        let rounds = [
            round(NatsConfig::Untraced, 1000),
            round(NatsConfig::Traced, 900),
            round(NatsConfig::Untraced, 1000),
            round(NatsConfig::Traced, 950),
            round(NatsConfig::Untraced, 1000),
            round(NatsConfig::Traced, 980),
        ];
        assert_eq!(spans_expected(&rounds), 2 * (900 + 950 + 980));
        let out = table(&rounds, 10, 10);
        assert!(out.contains("| 0.95× |"), "{out}");
        assert!(out.contains("every traced message"), "{out}");
        assert!(table(&rounds, 10, 9).contains("SPANS MISSING"));
    }

    #[test]
    fn the_baseline_decodes_what_it_encodes() {
        assert!(round_trip(&event(64)).is_some());
    }
}
