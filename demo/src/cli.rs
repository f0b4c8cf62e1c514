//! Command lines of `meshtrace-demo` and `trace-viewer` (hand-parsed, like
//! xtask: a few flags do not need a parser crate).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::services::{ServeConfig, Service};

/// `meshtrace-demo --help`.
pub const DEMO_USAGE: &str = "\
usage: meshtrace-demo [--quick] [--svg PATH]
       meshtrace-demo serve <service> --nats URL [--port N] [--listen ADDR] [--upstream URL]

Runs the revenue flow (tap → pipeline → ensemble → llm-gateway →
llm-provider, then meter) through Envoy and NATS, prints its trace as a
waterfall, writes it as SVG and checks every hop. Needs envoy,
nats-server and the filter module (`cargo xtask demo` provides them; or
MESHTRACE_ENVOY, MESHTRACE_NATS_SERVER, MESHTRACE_FILTER_WASM).

  --quick       shorter waits; no SVG unless --svg is given
  --svg PATH    write the waterfall SVG here (default: a temp file)

With OTEL_EXPORTER_OTLP_ENDPOINT set (http://host:port, OTLP/HTTP, or
OTLP/gRPC with OTEL_EXPORTER_OTLP_PROTOCOL=grpc), services and Envoys
export there instead of to the embedded receiver.

`serve` runs one service (the demo starts each this way; --listen 0.0.0.0
in a container, default 127.0.0.1):
identity, tap, pipeline, ensemble, llm-gateway, llm-provider, meter.
";

/// `trace-viewer --help`.
pub const VIEWER_USAGE: &str = "\
usage: trace-viewer [--listen ADDR] [--http-port N] [--grpc-port N] [--svg-dir DIR]
                    [--json-dir DIR] [--idle-ms N]

A local OTLP trace receiver: point OTEL_EXPORTER_OTLP_ENDPOINT (or an
Envoy collector cluster) at it; each trace is printed as a waterfall once
no span of it arrived for --idle-ms, and written as SVG into --svg-dir.

  --listen ADDR   address of both ports (default 127.0.0.1; 0.0.0.0 in a
                  container, where the other containers export to it)
  --http-port N   OTLP/HTTP port (default 4318)
  --grpc-port N   OTLP/gRPC port (default 4317)
  --svg-dir DIR   where to write <trace id>.svg (default: none written)
  --json-dir DIR  where to write <trace id>.json, the trace's spans as
                  JSON, one object per line (default: none written)
  --idle-ms N     quiet time before a trace is drawn (default 1500)
";

/// A `meshtrace-demo` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoCommand {
    /// Run the demo.
    Run {
        /// `--quick`.
        quick: bool,
        /// `--svg PATH`.
        svg: Option<PathBuf>,
    },
    /// Run one service.
    Serve(ServeConfig),
    /// Print the usage.
    Help,
}

/// A `trace-viewer` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewerCommand {
    /// Run the viewer.
    Run(ViewerArgs),
    /// Print the usage.
    Help,
}

/// `trace-viewer` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerArgs {
    /// The address both ports listen on.
    pub listen: std::net::IpAddr,
    /// OTLP/HTTP port.
    pub http_port: u16,
    /// OTLP/gRPC port.
    pub grpc_port: u16,
    /// Where SVGs go.
    pub svg_dir: Option<PathBuf>,
    /// Where the traces' spans go as JSON lines.
    pub json_dir: Option<PathBuf>,
    /// Quiet time before a trace is drawn.
    pub idle: Duration,
}

/// A command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// An unknown flag or argument.
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
    /// A flag without its value.
    #[error("`{0}` needs a value")]
    MissingValue(String),
    /// A value that does not parse.
    #[error("`{flag}`: invalid value `{value}`")]
    Invalid {
        /// The flag.
        flag: String,
        /// The value.
        value: String,
    },
    /// `serve` without a known service.
    #[error(
        "`serve` needs one of identity, tap, pipeline, ensemble, llm-gateway, llm-provider, meter; got {0:?}"
    )]
    Service(Option<String>),
}

/// Parses `meshtrace-demo`'s arguments.
///
/// # Errors
///
/// The two-worker runtime both binaries run on; on failure prints why,
/// prefixed with `program`, and returns the exit code.
///
/// # Errors
///
/// [`ExitCode::FAILURE`] when the runtime cannot be built.
pub fn runtime(program: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("{program}: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// [`CliError`] naming the bad argument.
pub fn parse_demo(args: &[String]) -> Result<DemoCommand, CliError> {
    let mut it = args.iter();
    if args.first().map(String::as_str) == Some("serve") {
        it.next();
        let name = it.next();
        let service = name
            .and_then(|n| Service::from_name(n))
            .ok_or_else(|| CliError::Service(name.cloned()))?;
        let mut config = ServeConfig {
            service,
            nats: None,
            port: None,
            listen: None,
            upstream: None,
        };
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--nats" => config.nats = Some(value(&mut it, flag)?.to_owned()),
                "--port" => config.port = Some(number(value(&mut it, flag)?, flag)?),
                "--listen" => config.listen = Some(number(value(&mut it, flag)?, flag)?),
                "--upstream" => config.upstream = Some(value(&mut it, flag)?.to_owned()),
                other => return Err(CliError::Unexpected(other.to_owned())),
            }
        }
        return Ok(DemoCommand::Serve(config));
    }
    let (mut quick, mut svg) = (false, None);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => quick = true,
            "--svg" => svg = Some(PathBuf::from(value(&mut it, flag)?)),
            "-h" | "--help" | "help" => return Ok(DemoCommand::Help),
            other => return Err(CliError::Unexpected(other.to_owned())),
        }
    }
    Ok(DemoCommand::Run { quick, svg })
}

/// Parses `trace-viewer`'s arguments.
///
/// # Errors
///
/// [`CliError`] naming the bad argument.
pub fn parse_viewer(args: &[String]) -> Result<ViewerCommand, CliError> {
    let mut out = ViewerArgs {
        listen: std::net::IpAddr::from([127, 0, 0, 1]),
        http_port: 4318,
        grpc_port: 4317,
        svg_dir: None,
        json_dir: None,
        idle: Duration::from_millis(1500),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--http-port" => out.http_port = number(value(&mut it, flag)?, flag)?,
            "--grpc-port" => out.grpc_port = number(value(&mut it, flag)?, flag)?,
            "--listen" => out.listen = number(value(&mut it, flag)?, flag)?,
            "--svg-dir" => out.svg_dir = Some(PathBuf::from(value(&mut it, flag)?)),
            "--json-dir" => out.json_dir = Some(PathBuf::from(value(&mut it, flag)?)),
            "--idle-ms" => out.idle = Duration::from_millis(number(value(&mut it, flag)?, flag)?),
            "-h" | "--help" => return Ok(ViewerCommand::Help),
            other => return Err(CliError::Unexpected(other.to_owned())),
        }
    }
    Ok(ViewerCommand::Run(out))
}

fn value<'a>(it: &mut std::slice::Iter<'a, String>, flag: &str) -> Result<&'a str, CliError> {
    it.next()
        .map(String::as_str)
        .ok_or_else(|| CliError::MissingValue(flag.to_owned()))
}

fn number<T: std::str::FromStr>(value: &str, flag: &str) -> Result<T, CliError> {
    value.parse().map_err(|_| CliError::Invalid {
        flag: flag.to_owned(),
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_demo_runs() {
        assert_eq!(
            parse_demo(&args("")),
            Ok(DemoCommand::Run {
                quick: false,
                svg: None
            })
        );
        assert_eq!(
            parse_demo(&args("--quick --svg /tmp/t.svg")),
            Ok(DemoCommand::Run {
                quick: true,
                svg: Some("/tmp/t.svg".into())
            })
        );
        assert_eq!(parse_demo(&args("--help")), Ok(DemoCommand::Help));
    }

    #[test]
    fn parses_serve() {
        assert_eq!(
            parse_demo(&args(
                "serve ensemble --nats nats://127.0.0.1:1 --upstream http://127.0.0.1:2"
            )),
            Ok(DemoCommand::Serve(ServeConfig {
                service: Service::Ensemble,
                nats: Some("nats://127.0.0.1:1".into()),
                port: None,
                listen: None,
                upstream: Some("http://127.0.0.1:2".into()),
            }))
        );
    }

    #[test]
    fn rejects_bad_command_lines() {
        for (line, reason) in [
            ("--svg", "no path"),
            ("--fast", "unknown flag"),
            ("serve", "no service"),
            ("serve billing", "unknown service"),
            ("serve tap --port http", "port not a number"),
            ("serve tap --port 70000", "port out of range"),
        ] {
            assert!(parse_demo(&args(line)).is_err(), "{reason}: `{line}`");
        }
    }

    #[test]
    fn parses_viewer_flags() {
        let Ok(ViewerCommand::Run(v)) =
            parse_viewer(&args("--http-port 14318 --svg-dir out --idle-ms 200"))
        else {
            panic!("parses");
        };
        assert_eq!((v.http_port, v.grpc_port), (14318, 4317));
        assert_eq!(v.svg_dir, Some("out".into()));
        assert_eq!(v.idle, Duration::from_millis(200));
        assert_eq!(v.listen.to_string(), "127.0.0.1");
        assert_eq!(v.json_dir, None);
        assert!(parse_viewer(&args("--grpc-port")).is_err());
        let Ok(ViewerCommand::Run(v)) = parse_viewer(&args("--listen 0.0.0.0 --json-dir /out"))
        else {
            panic!("parses");
        };
        assert_eq!(v.listen.to_string(), "0.0.0.0");
        assert_eq!(v.json_dir, Some("/out".into()));
        assert!(parse_viewer(&args("--listen nowhere")).is_err());
    }
}
