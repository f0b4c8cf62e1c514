//! `cargo xtask bench nats`: publish-and-consume throughput of CloudEvents
//! over a real nats-server, traced (meshtrace `Publisher` and
//! `Subscription::process`, every message sampled and exported over
//! OTLP/HTTP to a count-only `OtlpReceiver`, the sink) against untraced (the same events encoded
//! and decoded with the same binding by a bare async-nats client), in
//! interleaved rounds on one server.
//!
//! A round publishes `messages` events as fast as the publisher can and
//! ends when the consumer has handled the last one; throughput is
//! messages / (last handled − first published). The consumer runs on its
//! own connection. A traced round also records when the sink had all of
//! its spans (the sustained rate, export included), and the next round
//! starts only then, so that no round's export backlog runs into the
//! next one's measurement. After every round the run checks that the consumer got
//! every message, and at the end that the sink received one PRODUCER and
//! one CONSUMER span per sampled message: a config that drops messages or
//! spans does not count.
//!
//! Traced runs twice: every message sampled, and every tenth message
//! sampled by its parent (each publish runs under a remote parent context
//! whose `sampled` flag is set for one message in ten, as a 10 % ratio
//! sampler upstream would decide; the SDK's default parent-based sampler
//! follows it). The second is what a production service with a 10 %
//! sampling ratio pays: context on every message, spans for a tenth.

use std::time::{Duration, Instant};

use async_nats::{Client, Subscriber};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use futures_util::{Stream, StreamExt};
use meshtrace::nats::{Publisher, Subscription, decode, encode_binary};

use crate::report::Spread;
use meshtrace_harness::otlp::SpanCounts;

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
    /// The configurations each round runs, in order (default
    /// [`NatsConfig::ALL`]).
    pub configs: Vec<NatsConfig>,
    /// Over JetStream (publish with ack, pull consume, file storage)
    /// instead of core NATS.
    pub jetstream: bool,
}

/// The configurations compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsConfig {
    /// Bare async-nats with the CloudEvents binding, no spans.
    Untraced,
    /// [`Untraced`](Self::Untraced) plus the two headers a propagated
    /// binary-mode message carries ([`PROPAGATED_HEADERS`]: `traceparent`
    /// and `ce-traceparent`), with fixed values and no tracing code: what
    /// the extra bytes alone cost through async-nats and nats-server.
    Headers,
    /// meshtrace `Publisher` / `Subscription::process` under unsampled
    /// parents: context propagated on every message, nothing recorded.
    Propagated,
    /// meshtrace `Publisher` / `Subscription::process`, every message
    /// sampled, spans exported.
    Traced,
    /// The same, one message in [`SAMPLED_EVERY`] sampled by its parent.
    TracedTenth,
}

/// One message in this many is sampled in [`NatsConfig::TracedTenth`].
pub const SAMPLED_EVERY: usize = 10;

/// The headers [`NatsConfig::Headers`] adds to each message: what
/// `Publisher` writes for an unsampled parent in binary mode (the hop's
/// `traceparent`, W3C Trace Context §3.2, and the event's creation context,
/// CloudEvents distributed-tracing extension), with fixed values.
pub const PROPAGATED_HEADERS: [(&str, &str); 2] = [
    (
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    ),
    (
        "ce-traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    ),
];

/// Adds [`PROPAGATED_HEADERS`] to `headers`.
pub(crate) fn add_propagated_headers(headers: &mut async_nats::HeaderMap) {
    for (name, value) in PROPAGATED_HEADERS {
        headers.insert(name, value);
    }
}

/// One round's result.
#[derive(Debug, Clone)]
pub struct NatsRound {
    /// Which configuration.
    pub config: NatsConfig,
    /// Messages handled by the consumer.
    pub handled: usize,
    /// The first publish.
    pub started: Instant,
    /// First publish to last handled.
    pub elapsed: Duration,
    /// First publish to the sink having every span of the round (traced
    /// rounds).
    pub exported: Option<Duration>,
    /// CPU of the benchmark process (publisher, consumer, the SDK and its
    /// exporter; not the sink) from the round's start until it was handled
    /// and, for traced rounds, exported.
    pub client_cpu_ns: u64,
    /// CPU of nats-server over the same window.
    pub server_cpu_ns: u64,
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
            Self::Headers => "untraced + the 2 propagation headers (no tracing code)",
            Self::Propagated => "traced, nothing sampled (propagation only)",
            Self::Traced => "traced (meshtrace, 100% sampled, OTLP export)",
            Self::TracedTenth => "traced, 1 in 10 sampled by the parent (meshtrace, OTLP export)",
        }
    }

    /// One message in this many is sampled (traced configs; 0: none).
    pub fn sampled_every(self) -> Option<usize> {
        match self {
            Self::Untraced | Self::Headers => None,
            Self::Propagated => Some(0),
            Self::Traced => Some(1),
            Self::TracedTenth => Some(SAMPLED_EVERY),
        }
    }

    /// The name on the command line (`--configs`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Untraced => "untraced",
            Self::Headers => "headers",
            Self::Propagated => "propagated",
            Self::TracedTenth => "tenth",
            Self::Traced => "all",
        }
    }

    /// The configuration called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The configurations, in the order each round runs them.
    pub const ALL: [Self; 5] = [
        Self::Untraced,
        Self::Headers,
        Self::Propagated,
        Self::TracedTenth,
        Self::Traced,
    ];
}

// === impl NatsRound ===

impl NatsRound {
    /// Messages per second, first publish to last handled.
    pub fn throughput(&self) -> f64 {
        self.handled as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Messages per second until every span was at the sink (the
    /// handled rate for an untraced round, which exports nothing).
    pub fn sustained(&self) -> f64 {
        let elapsed = self.exported.unwrap_or(self.elapsed);
        self.handled as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Client CPU µs per message.
    pub fn client_us(&self) -> f64 {
        self.client_cpu_ns as f64 / 1_000.0 / self.handled.max(1) as f64
    }

    /// nats-server CPU µs per message.
    pub fn server_us(&self) -> f64 {
        self.server_cpu_ns as f64 / 1_000.0 / self.handled.max(1) as f64
    }
}

/// Runs `plan` against the server at `url`: rounds of
/// [`NatsConfig::ALL`], in turn. The global tracer provider must already
/// export to a sink (see the `meshtrace-bench-nats` binary) whose span
/// count `spans_at_sink` reads; `flush` exports what the provider holds,
/// and runs when a traced round's last message was handled, so that the
/// round's export time is the export's, not a wait for the batch timer.
///
/// # Errors
///
/// [`NatsBenchError`] when NATS fails or a round loses messages.
pub async fn run(
    url: &str,
    plan: &NatsPlan,
    spans_at_sink: impl Fn() -> u64,
    flush: impl Fn(),
    cpu: impl Fn() -> (u64, u64),
) -> Result<Vec<NatsRound>, NatsBenchError> {
    let publisher_client = connect(url).await?;
    let consumer_client = connect(url).await?;
    let event = event(plan.payload_bytes);
    let mut rounds = Vec::with_capacity(plan.rounds * plan.configs.len());
    let mut spans_so_far = spans_at_sink();
    for round in 0..plan.rounds {
        for &config in &plan.configs {
            let subject = format!("bench.{round}.{config:?}");
            let (client_before, server_before) = cpu();
            let mut result = match config.sampled_every() {
                _ if plan.jetstream => {
                    crate::nats_jetstream::round(
                        config,
                        &publisher_client,
                        &format!("BENCH_{round}_{}", config.name()),
                        &event,
                        plan.messages,
                    )
                    .await?
                }
                None => {
                    untraced(
                        config,
                        &publisher_client,
                        &consumer_client,
                        &subject,
                        &event,
                        plan.messages,
                    )
                    .await?
                }
                Some(every) => {
                    traced(
                        config,
                        &publisher_client,
                        &consumer_client,
                        &subject,
                        &event,
                        plan.messages,
                        every,
                    )
                    .await?
                }
            };
            if let Some(every) = config.sampled_every() {
                flush();
                spans_so_far += 2 * sampled_of(result.handled, every);
                result.exported = exported_by(result.started, spans_so_far, &spans_at_sink).await;
            }
            let (client_after, server_after) = cpu();
            result.client_cpu_ns = client_after.saturating_sub(client_before);
            result.server_cpu_ns = server_after.saturating_sub(server_before);
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
        .map_err(nats_error("connecting"))
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

pub(crate) fn nats_error<E>(what: &'static str) -> impl FnOnce(E) -> NatsBenchError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |source| NatsBenchError::Nats {
        what,
        source: Box::new(source),
    }
}

/// Subscribes `consumer` to `subject` and waits until the server has the
/// subscription, so that no message is published before it.
async fn subscribe(consumer: &Client, subject: &str) -> Result<Subscriber, NatsBenchError> {
    let subscriber = consumer
        .subscribe(subject.to_owned())
        .await
        .map_err(nats_error("subscribing"))?;
    consumer.flush().await.map_err(nats_error("flushing"))?;
    Ok(subscriber)
}

/// Handles items of `stream` until `messages` were handled successfully;
/// returns that count and when the last one was done.
fn spawn_consumer<S, F, Fut>(
    mut stream: S,
    messages: usize,
    mut handle: F,
) -> tokio::task::JoinHandle<(usize, Instant)>
where
    S: Stream + Unpin + Send + 'static,
    F: FnMut(S::Item) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        let mut handled = 0;
        while handled < messages {
            let Some(item) = stream.next().await else {
                break;
            };
            if handle(item).await {
                handled += 1;
            }
        }
        (handled, Instant::now())
    })
}

/// An [`NatsConfig::Untraced`] or [`NatsConfig::Headers`] round.
async fn untraced(
    config: NatsConfig,
    publisher: &Client,
    consumer: &Client,
    subject: &str,
    event: &Event,
    messages: usize,
) -> Result<NatsRound, NatsBenchError> {
    let subscriber = subscribe(consumer, subject).await?;
    let handle = spawn_consumer(subscriber, messages, |message| async move {
        decode(message.headers.as_ref(), &message.payload).is_ok()
    });
    let start = Instant::now();
    for _ in 0..messages {
        // One event per message, as the traced loop hands `publish` one:
        // a service builds a new event for every message either way.
        let event = event.clone();
        let (mut headers, payload) = encode_binary(&event).map_err(nats_error("encoding"))?;
        if config == NatsConfig::Headers {
            add_propagated_headers(&mut headers);
        }
        publisher
            .publish_with_headers(subject.to_owned(), headers, payload)
            .await
            .map_err(nats_error("publishing"))?;
    }
    finish(config, handle, start, messages).await
}

/// How many of the first `messages` messages are sampled when one in
/// `every` is (the first, then every `every`-th; none for 0).
pub fn sampled_of(messages: usize, every: usize) -> u64 {
    if every == 0 {
        return 0;
    }
    messages.div_ceil(every) as u64
}

/// The remote parent of message `i`: sampled when `i` is a multiple of
/// `every` (never for 0).
pub(crate) fn parent_of(i: usize, every: usize) -> opentelemetry::Context {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
    let n = i as u128 + 1;
    let flags = if every != 0 && i.is_multiple_of(every) {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(n),
        SpanId::from(n as u64),
        flags,
        true,
        Default::default(),
    ))
}

async fn traced(
    config: NatsConfig,
    publisher: &Client,
    consumer: &Client,
    subject: &str,
    event: &Event,
    messages: usize,
    sampled_every: usize,
) -> Result<NatsRound, NatsBenchError> {
    use opentelemetry::trace::FutureExt as _;
    let subscription =
        Subscription::from_subscriber(subscribe(consumer, subject).await?, consumer, None);
    let handle = spawn_consumer(subscription, messages, |delivery| async move {
        delivery
            .process(|_| async { Ok::<_, std::convert::Infallible>(()) })
            .await
            .is_ok()
    });
    let publisher = Publisher::new(publisher.clone());
    let start = Instant::now();
    for i in 0..messages {
        publisher
            .publish(subject.to_owned(), event.clone())
            .with_context(parent_of(i, sampled_every))
            .await
            .map_err(nats_error("publishing"))?;
    }
    finish(config, handle, start, messages).await
}

pub(crate) async fn finish(
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
        started: start,
        elapsed: end.duration_since(start),
        exported: None,
        client_cpu_ns: 0,
        server_cpu_ns: 0,
    })
}

/// Waits until the sink holds `total` spans; the time from `started`, or
/// `None` when they did not all arrive within [`ROUND_TIMEOUT`].
async fn exported_by(
    started: Instant,
    total: u64,
    spans_at_sink: impl Fn() -> u64,
) -> Option<Duration> {
    let deadline = Instant::now() + ROUND_TIMEOUT;
    while spans_at_sink() < total {
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Some(started.elapsed())
}

/// The report: per configuration the median throughput with its spread,
/// the ratio of traced to untraced (median of per-round ratios), and the
/// span check.
pub fn table(rounds: &[NatsRound], received: &SpanCounts) -> String {
    let of = |config: NatsConfig, rate: fn(&NatsRound) -> f64| -> Vec<f64> {
        rounds
            .iter()
            .filter(|r| r.config == config)
            .map(rate)
            .collect()
    };
    let ratios = |config: NatsConfig, rate: fn(&NatsRound) -> f64| -> Option<Spread> {
        let untraced = rounds.iter().filter(|r| r.config == NatsConfig::Untraced);
        let traced = rounds.iter().filter(|r| r.config == config);
        let per_round: Vec<f64> = untraced
            .zip(traced)
            .map(|(u, t)| rate(t) / rate(u).max(f64::EPSILON))
            .collect();
        Spread::of(&per_round)
    };
    let mut out = String::from(
        "| config | msgs/s handled (median) | spread | vs untraced | msgs/s incl. export (median) | vs untraced |\n|---|--:|--:|--:|--:|--:|\n",
    );
    for config in NatsConfig::ALL {
        let handled_ratio = ratios(config, NatsRound::throughput);
        let sustained_ratio = ratios(config, NatsRound::sustained);
        let (Some(handled), Some(sustained)) = (
            Spread::of(&of(config, NatsRound::throughput)),
            Spread::of(&of(config, NatsRound::sustained)),
        ) else {
            continue;
        };
        let ratio = |spread: &Option<Spread>| match config {
            NatsConfig::Untraced => "1.00×".to_owned(),
            _ => spread.as_ref().map_or_else(String::new, |r| {
                format!("{:.2}× ({:.2}…{:.2})", r.median, r.min, r.max)
            }),
        };
        out.push_str(&format!(
            "| {} | {:.0} | {:.0}–{:.0} | {} | {:.0} | {} |\n",
            config.label(),
            handled.median,
            handled.min,
            handled.max,
            ratio(&handled_ratio),
            sustained.median,
            ratio(&sustained_ratio),
        ));
    }
    out.push_str(&cpu_table(rounds));
    let expected = traced_messages(rounds);
    let verdict = if spans_match(rounds, received) {
        "every sampled message exported its PRODUCER and CONSUMER span"
    } else {
        "SPANS MISSING: the traced figures do not count"
    };
    out.push_str(&format!(
        "\nsink: {} PRODUCER and {} CONSUMER spans received ({} of other kinds), {expected} of each expected ({verdict})\n",
        received.producer,
        received.consumer,
        received.server + received.client + received.other,
    ));
    out
}

/// CPU per message, per process: the benchmark process (client: publisher,
/// consumer, SDK, exporter) and nats-server, medians of the rounds, and
/// the client's added CPU against untraced (median of per-round
/// differences with the untraced round of the same round).
pub fn cpu_table(rounds: &[NatsRound]) -> String {
    let mut out = String::from(
        "\n| config | client CPU µs/msg (median, min…max) | added client µs/msg vs untraced | nats-server CPU µs/msg |\n|---|--:|--:|--:|\n",
    );
    for config in NatsConfig::ALL {
        let mine: Vec<&NatsRound> = rounds.iter().filter(|r| r.config == config).collect();
        let client: Vec<f64> = mine.iter().map(|r| r.client_us()).collect();
        let server: Vec<f64> = mine.iter().map(|r| r.server_us()).collect();
        let added: Vec<f64> = rounds
            .iter()
            .filter(|r| r.config == NatsConfig::Untraced)
            .zip(mine.iter())
            .map(|(u, t)| t.client_us() - u.client_us())
            .collect();
        let (Some(client), Some(server), Some(added)) =
            (Spread::of(&client), Spread::of(&server), Spread::of(&added))
        else {
            continue;
        };
        out.push_str(&format!(
            "| {} | {:.2} ({:.2}…{:.2}) | {:+.2} ({:+.2}…{:+.2}) | {:.2} ({:.2}…{:.2}) |\n",
            config.label(),
            client.median,
            client.min,
            client.max,
            added.median,
            added.min,
            added.max,
            server.median,
            server.min,
            server.max,
        ));
    }
    out
}

/// Sampled messages handled in traced rounds: the PRODUCER spans, and the
/// CONSUMER spans, a run should export.
pub fn traced_messages(rounds: &[NatsRound]) -> u64 {
    rounds
        .iter()
        .filter_map(|r| Some(sampled_of(r.handled, r.config.sampled_every()?)))
        .sum()
}

/// Spans of every kind a run should export.
pub fn spans_expected(rounds: &[NatsRound]) -> u64 {
    2 * traced_messages(rounds)
}

/// Whether the sink got exactly one PRODUCER and one CONSUMER span per
/// sampled message, and nothing else.
pub fn spans_match(rounds: &[NatsRound], received: &SpanCounts) -> bool {
    let expected = traced_messages(rounds);
    received.producer == expected
        && received.consumer == expected
        && received.server + received.client + received.other == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(config: NatsConfig, per_sec: u64) -> NatsRound {
        NatsRound {
            config,
            handled: per_sec as usize,
            started: Instant::now(),
            elapsed: Duration::from_secs(1),
            exported: (config != NatsConfig::Untraced).then(|| Duration::from_secs(2)),
            client_cpu_ns: per_sec * 10_000,
            server_cpu_ns: per_sec * 3_000,
        }
    }

    #[test]
    fn cpu_is_per_message_and_added_against_untraced() {
        let mut untraced = round(NatsConfig::Untraced, 1000);
        untraced.client_cpu_ns = 10_000_000; // 10 µs/msg
        let mut propagated = round(NatsConfig::Propagated, 1000);
        propagated.client_cpu_ns = 10_800_000; // 10.8 µs/msg
        let out = cpu_table(&[untraced, propagated]);
        assert!(
            out.contains("| 10.80 (10.80…10.80) | +0.80 (+0.80…+0.80) | 3.00"),
            "{out}"
        );
        assert_eq!(sampled_of(1000, 0), 0, "propagation only samples nothing");
        use opentelemetry::trace::TraceContextExt;
        assert!(!(0..20).any(|i| parent_of(i, 0).span().span_context().is_sampled()));
    }

    #[test]
    fn table_reports_median_ratio_and_span_check() {
        let rounds = [
            round(NatsConfig::Untraced, 1000),
            round(NatsConfig::Traced, 900),
            round(NatsConfig::TracedTenth, 991),
            round(NatsConfig::Untraced, 1000),
            round(NatsConfig::Traced, 950),
            round(NatsConfig::TracedTenth, 995),
            round(NatsConfig::Untraced, 1000),
            round(NatsConfig::Traced, 980),
            round(NatsConfig::TracedTenth, 1000),
        ];
        assert_eq!(
            spans_expected(&rounds),
            2 * (900 + 950 + 980 + 100 + 100 + 100),
            "one in ten of the second traced config, the first included"
        );
        assert!(out_has_ratio(&rounds, "| 0.99× (0.99…1.00) |"));
        let n = traced_messages(&rounds);
        let exact = SpanCounts {
            producer: n,
            consumer: n,
            ..SpanCounts::default()
        };
        let out = table(&rounds, &exact);
        assert!(out.contains("| 0.95× (0.90…0.98) |"), "{out}");
        assert!(
            out.contains("(0.45…0.49) |"),
            "export doubles the time: {out}"
        );
        assert!(out.contains("every sampled message"), "{out}");
        let one_short = SpanCounts {
            consumer: n - 1,
            ..exact
        };
        assert!(table(&rounds, &one_short).contains("SPANS MISSING"));
        let kinds_swapped = SpanCounts {
            producer: 2 * n,
            consumer: 0,
            ..exact
        };
        assert!(table(&rounds, &kinds_swapped).contains("SPANS MISSING"));
    }

    fn out_has_ratio(rounds: &[NatsRound], ratio: &str) -> bool {
        let n = traced_messages(rounds);
        let exact = SpanCounts {
            producer: n,
            consumer: n,
            ..SpanCounts::default()
        };
        table(rounds, &exact).contains(ratio)
    }

    #[test]
    fn every_tenth_parent_is_sampled() {
        use opentelemetry::trace::TraceContextExt;
        let sampled: Vec<bool> = (0..21)
            .map(|i| {
                parent_of(i, SAMPLED_EVERY)
                    .span()
                    .span_context()
                    .is_sampled()
            })
            .collect();
        assert_eq!(sampled.iter().filter(|s| **s).count(), 3);
        assert!(sampled[0] && sampled[10] && sampled[20]);
        assert_eq!(sampled_of(21, SAMPLED_EVERY), 3);
        assert_eq!(sampled_of(20, SAMPLED_EVERY), 2);
        assert_eq!(sampled_of(7, 1), 7);
    }

    use bytes::Bytes;

    /// The untraced baseline's payload: encoded then decoded.
    fn round_trip(event: &Event) -> Option<Event> {
        let (headers, payload): (_, Bytes) = encode_binary(event).ok()?;
        decode(Some(&headers), &payload).ok()
    }

    #[test]
    fn the_baseline_decodes_what_it_encodes() {
        assert!(round_trip(&event(64)).is_some());
    }
}
