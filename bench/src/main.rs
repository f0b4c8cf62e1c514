//! `meshtrace-bench envoy ...`: runs the Envoy benchmark and prints the
//! table; see `--help`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use meshtrace_bench::envoy_config::{TracerConfig, Variant};
use meshtrace_bench::report;
use meshtrace_bench::runner::{self, Measurement, Plan, Servers};
use meshtrace_bench::svg;
use meshtrace_bench::upstream::Upstream;
use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::{OtlpReceiver, Retention};

const USAGE: &str = "\
usage: meshtrace-bench envoy --envoy PATH --module PATH --wrk PATH --oha PATH [options]

options:
  --rounds N          interleaved rounds of every configuration (default 3, at least 1)
  --duration S        seconds of each measured phase (default 10)
  --warmup S          seconds of warm-up before measuring (default 2)
  --variants LIST     direct,upstream (default both)
  --configs LIST      none,native,meshtrace (default); profiling adds
                      meshtrace-unsampled, meshtrace-noexport, meshtrace-alt
                      (the first listed sets the fixed rate: list `none` first)
  --alt-module PATH   the module of meshtrace-alt (e.g. an opt-level 3 build)
  --protocol P        http/protobuf (default) or grpc, for both tracers
  --out DIR           write envoy.md, envoy.svg and envoy.json there
";

/// The parsed command line.
struct Args {
    plan: Plan,
    out: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err("no benchmark named".to_owned());
    };
    if command != "envoy" {
        return Err(format!("unknown benchmark `{command}`"));
    }
    let mut value_of = std::collections::HashMap::new();
    let mut iter = rest.iter();
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        if value_of.insert(flag.as_str(), value.as_str()).is_some() {
            return Err(format!("`{flag}` given twice"));
        }
    }
    let known = [
        "--envoy",
        "--module",
        "--wrk",
        "--oha",
        "--rounds",
        "--duration",
        "--warmup",
        "--variants",
        "--configs",
        "--alt-module",
        "--protocol",
        "--out",
    ];
    if let Some(unknown) = value_of.keys().find(|k| !known.contains(k)) {
        return Err(format!("unknown option `{unknown}`"));
    }
    let path = |flag: &str| {
        value_of
            .get(flag)
            .map(PathBuf::from)
            .ok_or_else(|| format!("`{flag}` is required"))
    };
    let number = |flag: &str, default: u64| -> Result<u64, String> {
        value_of.get(flag).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("`{flag}` takes a whole number, got `{v}`"))
        })
    };
    let alt_module = value_of.get("--alt-module").map(PathBuf::from);
    let variants = value_of
        .get("--variants")
        .unwrap_or(&"direct,upstream")
        .split(',')
        .map(|v| Variant::parse(v).ok_or_else(|| format!("unknown variant `{v}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let tracers = value_of
        .get("--configs")
        .unwrap_or(&"none,native,meshtrace")
        .split(',')
        .map(|c| {
            TracerConfig::parse(c, alt_module.as_deref())
                .ok_or_else(|| format!("unknown config `{c}` (meshtrace-alt needs --alt-module)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let protocol = value_of
        .get("--protocol")
        .map_or(Ok(Protocol::HttpProtobuf), |p| {
            Protocol::parse(p).ok_or_else(|| format!("unknown protocol `{p}`"))
        })?;
    let rounds = number("--rounds", 3)?;
    if rounds == 0 {
        return Err("`--rounds` must be at least 1".to_owned());
    }
    let plan = Plan {
        envoy: path("--envoy")?,
        module: path("--module")?,
        wrk: path("--wrk")?,
        oha: path("--oha")?,
        rounds: u32::try_from(rounds).map_err(|_| "`--rounds` is too large".to_owned())?,
        duration: Duration::from_secs(number("--duration", 10)?.max(1)),
        warmup: Duration::from_secs(number("--warmup", 2)?.max(1)),
        variants,
        tracers,
        protocol,
        work_dir: runner::work_dir(&std::env::temp_dir()),
        envoy_core: 0,
        load_core: 1,
        clock_ticks: clock_ticks(),
    };
    Ok(Args {
        plan,
        out: value_of.get("--out").map(PathBuf::from),
    })
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Pins every thread of this process (the sink and upstream runtime is
/// started after this, so its threads inherit it) to `core`.
fn pin_self(core: u32) {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-c",
            "-p",
            &core.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("meshtrace-bench: warning: could not pin itself to core {core}");
    }
}

/// The CPU model and the machine's logical CPU count, from
/// `/proc/cpuinfo` (not `available_parallelism`: by the time this runs the
/// harness has pinned itself to one core).
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{cpu}, {cores} cores")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn progress(m: &Measurement) {
    eprintln!(
        "  round {} {:<8} {:<20} {:>8.0} req/s {:>6.1} µs/req (busy {:>3.0} %) | {:>6.0}/{:<6} req/s {:>6.1} µs/req p50 {:.2} ms p99 {:.2} ms | spans S {}/{} C {}/{} {}",
        m.round,
        m.variant.name(),
        m.tracer,
        m.closed.rps,
        m.cpu_us_closed,
        m.envoy_busy * 100.0,
        m.fixed.rps,
        m.target_rate,
        m.cpu_us_fixed,
        m.fixed.p50 * 1e3,
        m.fixed.p99 * 1e3,
        m.spans.server,
        m.expected_server,
        m.spans.client,
        m.expected_client,
        if m.spans_match() { "ok" } else { "MISMATCH" },
    );
}

fn json(m: &Measurement) -> serde_json::Value {
    serde_json::json!({
        "round": m.round,
        "variant": m.variant.name(),
        "config": m.tracer,
        "closed_loop": { "requests": m.closed.requests, "rps": m.closed.rps, "errors": m.closed.errors,
                         "envoy_cpu_us_per_request": m.cpu_us_closed, "envoy_busy": m.envoy_busy },
        "fixed_rate": { "target_rps": m.target_rate, "requests": m.fixed.requests, "rps": m.fixed.rps,
                        "p50_s": m.fixed.p50, "p99_s": m.fixed.p99, "errors": m.fixed.errors,
                        "envoy_cpu_us_per_request": m.cpu_us_fixed },
        "envoy_requests": m.served,
        "upstream_requests": m.upstream_served,
        "spans": { "server": m.spans.server, "client": m.spans.client, "other": m.spans.other,
                   "exports": m.spans.exports, "rejected": m.spans.rejected,
                   "expected_server": m.expected_server, "expected_client": m.expected_client,
                   "match": m.spans_match() },
    })
}

fn module_size(module: &Path) -> String {
    std::fs::metadata(module).map_or_else(
        |_| "unknown".to_owned(),
        |m| format!("{} bytes ({:.1} KiB)", m.len(), m.len() as f64 / 1024.0),
    )
}

fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let plan = &args.plan;
    pin_self(plan.load_core);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let sink = OtlpReceiver::start_on(runtime.handle(), Retention::CountOnly)?;
    let upstream = Upstream::start(runtime.handle())?;
    let load_before = load_average();
    let header = format!(
        "{}; Envoy on core {}, load on core {}; {} round(s) × {} s per phase; OTLP {}; module {}",
        machine(),
        plan.envoy_core,
        plan.load_core,
        plan.rounds,
        plan.duration.as_secs(),
        plan.protocol.as_str(),
        module_size(&plan.module),
    );
    eprintln!("meshtrace-bench: {header}\nmeshtrace-bench: load average before: {load_before}");
    let measurements = runner::run(
        plan,
        &Servers {
            sink: &sink,
            upstream: &upstream,
        },
        progress,
    )?;
    let load_after = load_average();
    let rows = report::rows(&measurements);
    let table = report::table(&rows);
    let verdict = report::verdict(&rows);
    println!("\n{table}\n{verdict}");
    println!("load average before: {load_before}, after: {load_after}");
    let ok = rows.iter().all(|r| r.spans_ok);
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out)?;
        let subtitle = format!(
            "{}; load avg before {load_before}, after {load_after}",
            machine()
        );
        std::fs::write(out.join("envoy.svg"), svg::chart(&rows, &subtitle))?;
        std::fs::write(
            out.join("envoy.md"),
            format!(
                "<!-- written by meshtrace-bench -->\n{header}\n\nload average before: {load_before}, after: {load_after}\n\n{table}\n{verdict}"
            ),
        )?;
        let raw: Vec<serde_json::Value> = measurements.iter().map(json).collect();
        std::fs::write(out.join("envoy.json"), serde_json::to_string_pretty(&raw)?)?;
        println!("wrote {}/envoy.{{md,svg,json}}", out.display());
    }
    let _ = std::fs::remove_dir_all(&plan.work_dir);
    Ok(ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let parsed = match parse(&args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            eprintln!("meshtrace-bench: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(parsed) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "meshtrace-bench: the sink did not get one span per request per kind (see the table)"
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("meshtrace-bench: error: {err}");
            ExitCode::FAILURE
        }
    }
}
