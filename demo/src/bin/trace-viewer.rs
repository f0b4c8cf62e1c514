//! `trace-viewer`: a local OTLP receiver that prints each trace as a
//! waterfall and writes it as SVG. See `trace-viewer --help`.

use std::process::ExitCode;

use meshtrace_demo::cli::{VIEWER_USAGE, ViewerCommand, parse_viewer};

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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("trace-viewer: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = meshtrace_demo::viewer::run(args) => Some(result),
            _ = tokio::signal::ctrl_c() => None,
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
