//! `cargo xtask demo`: the README's first command. Installs the tools
//! (setup), builds the filter, then runs the `meshtrace-demo` binary with
//! the tool paths: the revenue flow through Envoy and NATS, printed as one
//! trace, written as SVG under the target dir, checked hop by hop.
//!
//! The demo binary is built with the dev profile, like `cargo xtask test`
//! builds the test fixtures it reuses, so the two share one build.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::test::{ENV_ENVOY, ENV_FILTER_WASM, ENV_NATS_SERVER};
use crate::workspace::Workspace;
use crate::{cmd, filter, setup};

/// The demo's package and binary.
const PACKAGE: &str = "meshtrace-demo";

/// Where the SVG goes, under the target dir.
pub fn svg_path(ws: &Workspace) -> PathBuf {
    ws.target_dir().join("meshtrace-demo").join("trace.svg")
}

/// Runs setup, build-filter and the demo; `demo_args` go to the demo
/// (e.g. `--quick`).
pub fn run(ws: &Workspace, demo_args: &[String]) -> Result<()> {
    let tools = setup::run(ws)?;
    let module = filter::build(ws)?;
    println!("\n==> building and running the demo (cargo run -p {PACKAGE})\n");
    cmd::run(
        ws.cargo()
            .args([
                "run",
                "--quiet",
                "--package",
                PACKAGE,
                "--bin",
                PACKAGE,
                "--",
            ])
            .arg("--svg")
            .arg(svg_path(ws))
            .args(demo_args)
            .env(ENV_FILTER_WASM, &module)
            .env(ENV_ENVOY, &tools.envoy)
            .env(ENV_NATS_SERVER, &tools.nats_server),
    )
    .context("the demo failed (its output above names the broken hop)")
}
