//! `meshtrace-images`: builds the images `envoy/compose.yaml` names on this
//! machine, from the binaries it is given (what `cargo xtask images` runs).
//!
//! ```text
//! meshtrace-images --envoy PATH --nats-server PATH --demo PATH --trace-viewer PATH
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use meshtrace_harness::container::Engine;
use meshtrace_harness::container::images::{self, Sources};

const USAGE: &str =
    "usage: meshtrace-images --envoy PATH --nats-server PATH --demo PATH --trace-viewer PATH";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut paths: [Option<PathBuf>; 4] = Default::default();
    let flags = ["--envoy", "--nats-server", "--demo", "--trace-viewer"];
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (Some(slot), Some(value)) = (flags.iter().position(|f| f == flag), it.next()) else {
            eprintln!("meshtrace-images: unexpected `{flag}`\n{USAGE}");
            return ExitCode::from(2);
        };
        paths[slot] = Some(PathBuf::from(value));
    }
    let [
        Some(envoy),
        Some(nats_server),
        Some(demo),
        Some(trace_viewer),
    ] = paths
    else {
        eprintln!("meshtrace-images: every path is needed\n{USAGE}");
        return ExitCode::from(2);
    };
    let engine = match Engine::from_env() {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("meshtrace-images: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sources = Sources {
        envoy: &envoy,
        nats_server: &nats_server,
        demo: &demo,
        trace_viewer: &trace_viewer,
    };
    match images::build_all(&engine, sources) {
        Ok(()) => {
            for image in [images::ENVOY, images::NATS_SERVER, images::DEMO] {
                println!(
                    "meshtrace-images: built {}",
                    images::stored_name(&engine, image)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("meshtrace-images: {e}");
            ExitCode::FAILURE
        }
    }
}
