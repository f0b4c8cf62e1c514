//! `trace-viewer`: a local OTLP receiver that prints each trace as a
//! waterfall and writes it as SVG. See `trace-viewer --help`.

use std::process::ExitCode;

use meshtrace_demo::cli::{VIEWER_USAGE, ViewerCommand, interrupted, parse_viewer, runtime};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_viewer(&args) {
        Ok(ViewerCommand::Run(args)) => args,
        Ok(ViewerCommand::Help) => {
            print!("{VIEWER_USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("trace-viewer: {problem}\n\n{VIEWER_USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime("trace-viewer") {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = meshtrace_demo::viewer::run(args) => Some(result),
            () = interrupted() => None,
        }
    });
    match outcome {
        Some(Err(e)) => {
            eprintln!("trace-viewer: {e}");
            ExitCode::FAILURE
        }
        Some(Ok(())) | None => ExitCode::SUCCESS,
    }
}
