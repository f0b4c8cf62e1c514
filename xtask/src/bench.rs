//! `cargo xtask bench <target>`: benchmarks that need the real tools.
//!
//! `bench envoy` runs setup, builds the filter and the `meshtrace-bench`
//! crate, installs the load generators (`wrk` from Debian's packages,
//! `oha` from crates.io into `.tools/`) if they are missing, and runs the
//! harness, which prints one table and writes `docs/bench/envoy.{md,svg,json}`.
//!
//! `bench nats` runs setup, builds `meshtrace-bench-nats` and runs it
//! against the pinned nats-server with 1-second export batches and a span
//! queue no round can fill, and writes `docs/bench/nats.md`
//! (`docs/bench/nats-jetstream.md` with `--jetstream`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::test::ENV_NATS_SERVER;
use crate::workspace::Workspace;
use crate::{cmd, filter, setup, tools};

/// The harness package and binary.
const BENCH_PACKAGE: &str = "meshtrace-bench";

/// The pinned `oha` (fixed-rate load with latency percentiles).
const OHA_VERSION: &str = "1.16.0";

/// Where the command writes its table and chart, from the root.
const OUT_DIR: &str = "docs/bench";

/// The module size target of the filter.
const MODULE_SIZE_TARGET: u64 = 200 * 1024;

/// The NATS harness binary.
const NATS_BINARY: &str = "meshtrace-bench-nats";

/// The export batching of `bench nats`, as the standard `OTEL_BSP_*`
/// variables: 1-second batches (as the Envoy benchmark's sink sees) and a
/// queue larger than the spans of one round, so that no span is dropped.
const NATS_BSP_ENV: [(&str, &str); 3] = [
    ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "1048576"),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
];

/// A benchmark, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Bench {
    /// Envoy: no tracing vs the native OpenTelemetry tracer vs meshtrace.
    Envoy(EnvoyOptions),
    /// NATS: publish-and-consume throughput, traced vs untraced.
    Nats(NatsOptions),
}

/// Options of `bench nats`; `None` leaves the harness default.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NatsOptions {
    /// Interleaved rounds.
    pub rounds: Option<u32>,
    /// Messages per round.
    pub messages: Option<u32>,
    /// Over JetStream instead of core NATS (`--jetstream`; writes
    /// `docs/bench/nats-jetstream.md`).
    pub jetstream: bool,
}

/// Options of `bench envoy`; `None` leaves the harness default.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvoyOptions {
    /// Interleaved rounds.
    pub rounds: Option<u32>,
    /// Seconds of each measured phase.
    pub duration: Option<u32>,
}

/// Parses the arguments after `bench`.
pub fn parse(args: &[String]) -> Result<Bench, String> {
    let Some((target, rest)) = args.split_first() else {
        return Err("`bench` needs a target: `bench envoy`".to_owned());
    };
    match target.as_str() {
        "envoy" => {
            let [rounds, duration] = parse_numbers("envoy", rest, ["--rounds", "--duration"])?;
            Ok(Bench::Envoy(EnvoyOptions { rounds, duration }))
        }
        "nats" => {
            let jetstream = rest.iter().filter(|a| *a == "--jetstream").count();
            if jetstream > 1 {
                return Err("`--jetstream` given twice".to_owned());
            }
            let rest: Vec<String> = rest
                .iter()
                .filter(|a| *a != "--jetstream")
                .cloned()
                .collect();
            let [rounds, messages] = parse_numbers("nats", &rest, ["--rounds", "--messages"])?;
            Ok(Bench::Nats(NatsOptions {
                rounds,
                messages,
                jetstream: jetstream == 1,
            }))
        }
        other => Err(format!("unknown benchmark `{other}` (known: envoy, nats)")),
    }
}

/// Parses `--flag N` pairs of `bench <target>`: each of `flags` at most
/// once, each value a positive whole number.
fn parse_numbers<const N: usize>(
    target: &str,
    args: &[String],
    flags: [&str; N],
) -> Result<[Option<u32>; N], String> {
    let mut values = [None; N];
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let Some(slot) = flags
            .iter()
            .position(|known| known == flag)
            .map(|i| &mut values[i])
        else {
            return Err(format!("`bench {target}` does not take `{flag}`"));
        };
        let value = iter
            .next()
            .ok_or_else(|| format!("`{flag}` needs a number"))?;
        let number: u32 = value
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{flag}` takes a positive whole number, got `{value}`"))?;
        if slot.replace(number).is_some() {
            return Err(format!("`{flag}` given twice"));
        }
    }
    Ok(values)
}

/// Runs `bench`.
pub fn run(ws: &Workspace, bench: &Bench) -> Result<()> {
    match bench {
        Bench::Envoy(options) => run_envoy(ws, options),
        Bench::Nats(options) => run_nats(ws, options),
    }
}

/// Builds binary `bin` of the harness package in release mode and returns
/// its path.
fn build_harness(ws: &Workspace, bin: &str) -> Result<PathBuf> {
    cmd::run(ws.cargo().args([
        "build",
        "--release",
        "--package",
        BENCH_PACKAGE,
        "--bin",
        bin,
    ]))
    .with_context(|| format!("building {bin}"))?;
    Ok(ws.target_dir().join("release").join(bin))
}

fn run_nats(ws: &Workspace, options: &NatsOptions) -> Result<()> {
    let tools = setup::run(ws)?;
    let harness = build_harness(ws, NATS_BINARY)?;
    let mut run = ws.command(&harness);
    run.env(ENV_NATS_SERVER, &tools.nats_server)
        .envs(NATS_BSP_ENV)
        .args(["--out", OUT_DIR]);
    if let Some(rounds) = options.rounds {
        run.args(["--rounds", &rounds.to_string()]);
    }
    if let Some(messages) = options.messages {
        run.args(["--messages", &messages.to_string()]);
    }
    if options.jetstream {
        run.arg("--jetstream");
    }
    cmd::run(&mut run).context("the NATS benchmark")
}

fn run_envoy(ws: &Workspace, options: &EnvoyOptions) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        bail!(
            "`bench envoy` pins Envoy and the load to two different cores; this machine has {cores}"
        );
    }
    let tools = setup::run(ws)?;
    let module = filter::build(ws)?;
    let size = std::fs::metadata(&module)
        .with_context(|| format!("reading {}", module.display()))?
        .len();
    println!(
        "bench: module {size} bytes ({:.1} KiB), {} the 200 KiB target",
        size as f64 / 1024.0,
        if size <= MODULE_SIZE_TARGET {
            "under"
        } else {
            "OVER"
        }
    );
    let wrk = ensure_wrk()?;
    let oha = ensure_oha(ws)?;
    let harness = build_harness(ws, BENCH_PACKAGE)?;

    let mut run = ws.command(&harness);
    run.arg("envoy")
        .arg("--envoy")
        .arg(&tools.envoy)
        .arg("--module")
        .arg(&module)
        .arg("--wrk")
        .arg(&wrk)
        .arg("--oha")
        .arg(&oha)
        .arg("--out")
        // The harness runs in the workspace root.
        .arg(OUT_DIR);
    if let Some(rounds) = options.rounds {
        run.args(["--rounds", &rounds.to_string()]);
    }
    if let Some(duration) = options.duration {
        run.args(["--duration", &duration.to_string()]);
    }
    cmd::run(&mut run).context("the Envoy benchmark")
}

/// `wrk` on `PATH`, else installed with `apt-get` (Debian's `wrk`).
fn ensure_wrk() -> Result<PathBuf> {
    if let Some(found) = on_path("wrk") {
        return Ok(found);
    }
    println!("bench: installing wrk (apt-get install wrk)");
    let install = || {
        cmd::run(
            Command::new("apt-get")
                .args(["install", "--yes", "--no-install-recommends", "wrk"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        cmd::run(Command::new("apt-get").arg("update")).context("apt-get update")?;
        install().context("installing wrk with apt-get (needs root and Debian's package lists)")?;
    }
    on_path("wrk").context("apt-get installed wrk, but it is not on PATH")
}

/// `.tools/bin/oha` at the pinned version, else `cargo install`ed there,
/// with the system OpenSSL (`native-tls`) instead of its default rustls,
/// whose aws-lc build is the slowest part of the install; the benchmark
/// itself is plain HTTP.
fn ensure_oha(ws: &Workspace) -> Result<PathBuf> {
    let oha = ws.bin_dir().join("oha");
    let current = tools::version_of(&oha, tools::parse_second_word_version).ok();
    if current.as_deref() == Some(OHA_VERSION) {
        return Ok(oha);
    }
    println!(
        "bench: installing oha {OHA_VERSION} into {}",
        ws.tools_dir().display()
    );
    cmd::run(
        ws.cargo()
            .args(["install", "oha", "--version", OHA_VERSION])
            .args([
                "--locked",
                "--no-default-features",
                "--features",
                "native-tls",
            ])
            .arg("--root")
            .arg(ws.tools_dir()),
    )
    .with_context(|| format!("installing oha {OHA_VERSION} with cargo install"))?;
    Ok(oha)
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
