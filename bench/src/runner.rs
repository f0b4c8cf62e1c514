//! The round runner: for each round, for each variant, every configuration
//! in order (A B C A B C …), each on a freshly started Envoy.
//!
//! One run: start Envoy on core 0, warm up with `wrk`, measure closed-loop
//! throughput with `wrk` and Envoy's CPU time over it, then a fixed-rate
//! phase with `oha` at half the closed-loop throughput of the round's first
//! configuration (no tracing) for the same variant, again with CPU time;
//! then wait for the last export batch and compare the sink's span counts
//! with the requests Envoy received (`http.ingress.downstream_rq_total`:
//! a request the load generator abandons when its phase ends has no
//! response, so `downstream_rq_completed` misses it, but it still has its
//! spans).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meshtrace_harness::Protocol;
use meshtrace_harness::envoy::{EnvoyError, EnvoyOptions, EnvoyProcess};
use meshtrace_harness::otlp::{OtlpReceiver, SpanCounts};
use meshtrace_harness::ports::free_ports;

use crate::envoy_config::{self, FLUSH_INTERVAL_MS, Ports, STAT_PREFIX, TracerConfig, Variant};
use crate::load::{self, ClosedLoop, FixedRate, LoadError};
use crate::upstream::Upstream;

/// How long to wait after load for the last batch to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(6);
/// How long Envoy may take to become ready (V8 compiles the module).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a benchmark run needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The Envoy binary.
    pub envoy: PathBuf,
    /// The meshtrace module.
    pub module: PathBuf,
    /// `wrk`.
    pub wrk: PathBuf,
    /// `oha`.
    pub oha: PathBuf,
    /// Rounds of every configuration.
    pub rounds: u32,
    /// Length of each measured phase.
    pub duration: Duration,
    /// Warm-up before the closed-loop phase.
    pub warmup: Duration,
    /// Variants, in order.
    pub variants: Vec<Variant>,
    /// Configurations, in order; the first sets the fixed rate.
    pub tracers: Vec<TracerConfig>,
    /// OTLP protocol of both tracers.
    pub protocol: Protocol,
    /// Where Envoy configs and logs go.
    pub work_dir: PathBuf,
    /// Envoy's core.
    pub envoy_core: u32,
    /// The load generators' core.
    pub load_core: u32,
    /// Clock ticks per second of `/proc/<pid>/stat`.
    pub clock_ticks: u64,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Envoy failed.
    #[error(transparent)]
    Envoy(#[from] EnvoyError),
    /// A load generator failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A free port or the work directory could not be had.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// 1-based round.
    pub round: u32,
    /// The variant.
    pub variant: Variant,
    /// The configuration's name.
    pub tracer: &'static str,
    /// Closed-loop result.
    pub closed: ClosedLoop,
    /// Envoy CPU µs per request in the closed-loop phase.
    pub cpu_us_closed: f64,
    /// Envoy CPU seconds per wall second in the closed-loop phase.
    pub envoy_busy: f64,
    /// The fixed rate asked for.
    pub target_rate: u64,
    /// Fixed-rate result.
    pub fixed: FixedRate,
    /// Envoy CPU µs per request in the fixed-rate phase.
    pub cpu_us_fixed: f64,
    /// Requests Envoy received over the whole run, warm-up included
    /// (`downstream_rq_total`).
    pub served: u64,
    /// Requests the upstream served over the run.
    pub upstream_served: u64,
    /// SERVER spans expected at the sink.
    pub expected_server: u64,
    /// CLIENT spans expected at the sink.
    pub expected_client: u64,
    /// What the sink received over the run.
    pub spans: SpanCounts,
}

// === impl Measurement ===

impl Measurement {
    /// Whether the sink got exactly one span per request per expected kind.
    pub fn spans_match(&self) -> bool {
        self.spans.server == self.expected_server
            && self.spans.client == self.expected_client
            && self.spans.producer + self.spans.consumer + self.spans.other == 0
            && self.spans.rejected == 0
    }
}

/// The shared servers a plan runs against.
#[derive(Debug)]
pub struct Servers<'a> {
    /// The OTLP sink.
    pub sink: &'a OtlpReceiver,
    /// The fast upstream.
    pub upstream: &'a Upstream,
}

/// Runs every round; `progress` gets each measurement as it lands.
pub fn run(
    plan: &Plan,
    servers: &Servers<'_>,
    mut progress: impl FnMut(&Measurement),
) -> Result<Vec<Measurement>, RunError> {
    let mut all = Vec::new();
    for round in 1..=plan.rounds {
        for &variant in &plan.variants {
            let mut half_rate = None;
            for tracer in &plan.tracers {
                let m = run_one(plan, servers, round, variant, tracer, half_rate)?;
                half_rate.get_or_insert(m.target_rate);
                progress(&m);
                all.push(m);
            }
        }
    }
    Ok(all)
}

fn run_one(
    plan: &Plan,
    servers: &Servers<'_>,
    round: u32,
    variant: Variant,
    tracer: &TracerConfig,
    half_rate: Option<u64>,
) -> Result<Measurement, RunError> {
    let io = |what: String| move |source| RunError::Io { what, source };
    let [listener, admin] = free_ports::<2>().map_err(io("finding free ports".to_owned()))?;
    let ports = Ports {
        listener,
        admin,
        sink_http: servers.sink.http_port(),
        sink_grpc: servers.sink.grpc_port(),
        upstream: servers.upstream.port(),
    };
    let dir = plan
        .work_dir
        .join(format!("r{round}-{}-{}", variant.name(), tracer.name()));
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let yaml = envoy_config::render(variant, tracer, plan.protocol, &plan.module, &ports);
    std::fs::write(dir.join("envoy.yaml"), &yaml)
        .map_err(io(format!("writing into {}", dir.display())))?;

    let spans_before = servers.sink.counts();
    let upstream_before = servers.upstream.requests();
    let envoy = EnvoyProcess::start(
        &yaml,
        EnvoyOptions::default()
            .with_binary(&plan.envoy)
            .with_core(plan.envoy_core)
            .with_log_level("warn")
            .with_ready_timeout(READY_TIMEOUT),
    )?;
    let url = format!("http://127.0.0.1:{}/bench", ports.listener);
    let traceparent = if tracer.sampled_load() {
        load::TRACEPARENT_SAMPLED
    } else {
        load::TRACEPARENT_UNSAMPLED
    };

    load::closed_loop(&plan.wrk, plan.load_core, &url, traceparent, plan.warmup)?;

    let (closed, cpu_closed, wall) = measured(&envoy, || {
        load::closed_loop(&plan.wrk, plan.load_core, &url, traceparent, plan.duration)
    })?;
    let target_rate = half_rate.unwrap_or(((closed.rps / 2.0).round() as u64).max(1));
    let (fixed, cpu_fixed, _) = measured(&envoy, || {
        load::fixed_rate(
            &plan.oha,
            plan.load_core,
            &url,
            traceparent,
            target_rate,
            plan.duration,
        )
    })?;

    let served = envoy
        .stat(&format!("http.{STAT_PREFIX}.downstream_rq_total"))?
        .unwrap_or(0);
    let exports = tracer.exports_spans();
    let expected_server = if exports { served } else { 0 };
    let expected_client = if exports && variant == Variant::Upstream {
        served
    } else {
        0
    };
    let spans = drain(
        servers.sink,
        &spans_before,
        expected_server,
        expected_client,
    );
    drop(envoy);

    let ticks_to_us = 1e6 / plan.clock_ticks as f64;
    let per_request =
        |ticks: u64, requests: u64| ticks as f64 * ticks_to_us / requests.max(1) as f64;
    Ok(Measurement {
        round,
        variant,
        tracer: tracer.name(),
        closed,
        cpu_us_closed: per_request(cpu_closed, closed.requests),
        envoy_busy: cpu_closed as f64 / plan.clock_ticks as f64 / wall.as_secs_f64(),
        target_rate,
        fixed,
        cpu_us_fixed: per_request(cpu_fixed, fixed.requests),
        served,
        upstream_served: servers.upstream.requests() - upstream_before,
        expected_server,
        expected_client,
        spans,
    })
}

/// Runs `phase`, returning its result, Envoy's CPU ticks over it and the
/// wall time.
fn measured<T>(
    envoy: &EnvoyProcess,
    phase: impl FnOnce() -> Result<T, LoadError>,
) -> Result<(T, u64, Duration), RunError> {
    let ticks_before = envoy.cpu_ticks()?;
    let start = Instant::now();
    let result = phase()?;
    let wall = start.elapsed();
    let ticks = envoy.cpu_ticks()?.saturating_sub(ticks_before);
    Ok((result, ticks, wall))
}

/// Waits until the sink has the expected spans (or the drain timeout), then
/// one more flush interval, so that spans beyond them (or any, when none
/// are expected) would still arrive; returns what arrived since `before`.
fn drain(sink: &OtlpReceiver, before: &SpanCounts, server: u64, client: u64) -> SpanCounts {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let now = sink.counts().since(before);
        if (now.server >= server && now.client >= client) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(u64::from(FLUSH_INTERVAL_MS) + 300));
    sink.counts().since(before)
}

/// The work directory for Envoy configs and logs.
pub fn work_dir(base: &Path) -> PathBuf {
    base.join(format!("meshtrace-bench-{}", std::process::id()))
}
