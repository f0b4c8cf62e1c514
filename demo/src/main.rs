//! `meshtrace-demo`: runs the demo, or (`serve <service>`) one of its
//! services. See `meshtrace-demo --help`.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use meshtrace_demo::cli::{DEMO_USAGE, DemoCommand, interrupted, parse_demo, runtime};
use meshtrace_demo::{DemoOptions, services};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_demo(&args) {
        Ok(command) => command,
        Err(problem) => {
            eprintln!("meshtrace-demo: {problem}\n\n{DEMO_USAGE}");
            return ExitCode::from(2);
        }
    };
    if let DemoCommand::Help = command {
        print!("{DEMO_USAGE}");
        return ExitCode::SUCCESS;
    }
    let runtime = match runtime("meshtrace-demo") {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match command {
        DemoCommand::Help => ExitCode::SUCCESS,
        DemoCommand::Serve(config) => {
            let service = config.service;
            match runtime.block_on(services::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{service}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        DemoCommand::Run { quick, svg } => {
            let service_binary = match std::env::current_exe() {
                Ok(path) => path,
                Err(e) => {
                    eprintln!("meshtrace-demo: cannot find its own binary: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let options = DemoOptions {
                quick,
                svg,
                service_binary,
                color: std::io::stdout().is_terminal(),
            };
            // Dropping the run future (on a signal) drops every guard in
            // it: services, Envoys and nats-server are killed.
            let outcome = runtime.block_on(async {
                tokio::select! {
                    result = meshtrace_demo::run(&options) => Some(result),
                    () = interrupted() => None,
                }
            });
            match outcome {
                Some(Ok(_)) => ExitCode::SUCCESS,
                Some(Err(e)) => {
                    eprintln!("\nmeshtrace-demo: FAILED: {e}");
                    ExitCode::FAILURE
                }
                None => {
                    eprintln!("\nmeshtrace-demo: interrupted; every process it started is stopped");
                    ExitCode::from(130)
                }
            }
        }
    }
}
