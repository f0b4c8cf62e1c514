//! `meshtrace-bench-nats`: the NATS benchmark behind `cargo xtask bench
//! nats`. Starts nats-server (`$MESHTRACE_NATS_SERVER`, else
//! `.tools/bin/nats-server`) and the OTLP sink, installs the tracer
//! provider with `meshtrace::Builder` (OTLP/HTTP to the sink; batching from
//! the standard `OTEL_BSP_*` variables, which `cargo xtask bench nats` sets
//! to 1 s batches and a queue large enough that no span is dropped), runs
//! the rounds, checks the sink's span count and prints the table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use meshtrace::bootstrap::{ExporterKind, OtlpProtocol};
use meshtrace_bench::cpu;
use meshtrace_bench::nats::{self, NatsPlan};
use meshtrace_harness::nats::{NatsOptions, NatsServer};
use meshtrace_harness::otlp::{HTTP_TRACES_PATH, OtlpReceiver, Retention};

/// The name of the sink's threads (`comm` is at most 15 bytes).
const SINK_THREADS: &str = "otlp-sink";

const USAGE: &str = "\
usage: meshtrace-bench-nats [--rounds N] [--messages N] [--payload BYTES] [--configs LIST]
                            [--threads N] [--jetstream] [--processor KIND] [--out DIR]

Publish-and-consume throughput over a real nats-server, traced vs untraced,
interleaved (default 5 rounds of 20000 messages with 256 bytes of data).
--jetstream runs the rounds over JetStream (file storage, every publish's
ack awaited, a durable pull consumer acking each message) and writes
nats-jetstream.md instead of nats.md.
--threads N sets the client runtime's workers (default 2; 1 runs publisher
and consumer on one current-thread runtime). --configs LIST picks configurations (untraced,headers,propagated,tenth,all; the
default, in that order), e.g. one alone under a profiler. --processor
picks the SDK's span processor: `batch` (the default, what meshtrace::Builder
installs: the SDK's BatchSpanProcessor on its own thread) or `async-runtime`
(the SDK's experimental BatchSpanProcessor running on the client's Tokio
runtime; needs --threads 2 or more). Both read OTEL_BSP_*. --out DIR writes
nats.md there.
";

/// Which span processor exports the traced rounds' spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Processor {
    /// `meshtrace::Builder`'s: the SDK's `BatchSpanProcessor`, with its
    /// own thread.
    Batch,
    /// The SDK's experimental `BatchSpanProcessor` on the client runtime.
    AsyncRuntime,
}

struct Args {
    plan: NatsPlan,
    out: Option<PathBuf>,
    processor: Processor,
    /// Worker threads of the client's runtime (1: a current-thread runtime).
    threads: usize,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = None;
    let mut threads = 2;
    let mut processor = Processor::Batch;
    let mut plan = NatsPlan {
        rounds: 5,
        messages: 20_000,
        payload_bytes: 256,
        configs: nats::NatsConfig::ALL.to_vec(),
        jetstream: false,
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        if flag == "--jetstream" {
            plan.jetstream = true;
            continue;
        }
        let value = iter
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`{flag}` needs a positive integer, got `{value}`"))
        };
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value)),
            "--rounds" => plan.rounds = number()?,
            "--messages" => plan.messages = number()?,
            "--payload" => plan.payload_bytes = number()?,
            "--threads" => threads = number()?,
            "--processor" => {
                processor = match value.as_str() {
                    "batch" => Processor::Batch,
                    "async-runtime" => Processor::AsyncRuntime,
                    other => return Err(format!("unknown processor `{other}`")),
                };
            }
            "--configs" => {
                plan.configs = value
                    .split(',')
                    .map(|c| {
                        nats::NatsConfig::from_name(c)
                            .ok_or_else(|| format!("unknown config `{c}`"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if processor == Processor::AsyncRuntime && threads < 2 {
        // Its flush blocks the caller until the processor's task, on the
        // same runtime, has exported.
        return Err("`--processor async-runtime` needs `--threads` 2 or more".to_owned());
    }
    Ok(Args {
        plan,
        out,
        processor,
        threads,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("meshtrace-bench-nats: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(problem) => {
            eprintln!("meshtrace-bench-nats: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<bool, String> {
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("runtime: {e}"))?;
    // The sink runs on its own named threads, so their CPU is told apart
    // from the client's (publisher, consumer, SDK, exporter).
    let sink_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SINK_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("sink runtime: {e}"))?;
    let sink = OtlpReceiver::start_on(sink_runtime.handle(), Retention::CountOnly)
        .map_err(|e| format!("sink: {e}"))?;
    let server = NatsServer::start_with(NatsOptions::default().with_jetstream(args.plan.jetstream))
        .map_err(|e| format!("nats-server: {e}"))?;
    let endpoint = format!("http://127.0.0.1:{}{}", sink.http_port(), HTTP_TRACES_PATH);
    let builder = meshtrace::Builder::new()
        .with_service_name("meshtrace-bench-nats")
        // OTLP/HTTP: the sink counts those bodies in place, so it takes
        // little of the two cores the measured process runs on.
        .with_protocol(OtlpProtocol::HttpProtobuf)
        .with_endpoint(endpoint.clone());
    let builder = match args.processor {
        Processor::Batch => builder,
        Processor::AsyncRuntime => {
            // Spawns its task on the client runtime.
            let _entered = runtime.enter();
            builder
                .with_exporter(ExporterKind::None)
                .with_span_processor(async_runtime_processor(&endpoint)?)
        }
    };
    let telemetry = builder.init().map_err(|e| format!("telemetry: {e}"))?;

    let server_pid = server.pid();
    println!(
        "NATS publish-and-consume{}: {} interleaved rounds × {} messages, {} bytes of data, nats-server at {}",
        if args.plan.jetstream {
            " over JetStream"
        } else {
            ""
        },
        args.plan.rounds,
        args.plan.messages,
        args.plan.payload_bytes,
        server.url()
    );
    let rounds = runtime
        .block_on(nats::run(
            &server.url(),
            &args.plan,
            || sink.counts().spans(),
            || {
                if let Err(e) = telemetry.force_flush() {
                    eprintln!("meshtrace-bench-nats: warning: flush: {e}");
                }
            },
            || {
                let me = cpu::sample(None, Some(SINK_THREADS));
                let server = cpu::sample(Some(server_pid), None);
                (me.total.saturating_sub(me.named), server.total)
            },
        ))
        .map_err(|e| e.to_string())?;
    let expected = nats::spans_expected(&rounds);
    // The last batch may still be in flight to the sink.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sink.counts().spans() < expected && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let received = sink.counts();
    let table = nats::table(&rounds, &received);
    println!("\n{table}");
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(if args.plan.jetstream {
            "nats-jetstream.md"
        } else {
            "nats.md"
        });
        std::fs::write(&path, &table).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    drop(telemetry);
    Ok(nats::spans_match(&rounds, &received))
}

/// The SDK's experimental batch processor on the current Tokio runtime,
/// exporting OTLP/HTTP protobuf to `endpoint` with the `OTEL_BSP_*`
/// batching.
fn async_runtime_processor(
    endpoint: &str,
) -> Result<
    opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor<
        opentelemetry_sdk::runtime::Tokio,
    >,
    String,
> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("exporter: {e}"))?;
    Ok(
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_batch_config(opentelemetry_sdk::trace::BatchConfigBuilder::default().build())
        .build(),
    )
}
