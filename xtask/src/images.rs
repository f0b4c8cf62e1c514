//! `cargo xtask images`: builds the images `envoy/compose.yaml` names on
//! this machine (nothing is pulled): Envoy and nats-server from the pinned
//! binaries setup installed, `meshtrace-demo:dev` from the demo's binaries,
//! then the filter it mounts. The image recipes are the harness's
//! (`harness/src/container/`), which the container suite also uses.

use anyhow::{Context, Result};

use crate::workspace::Workspace;
use crate::{cmd, filter, setup};

/// Runs setup, build-filter, builds the demo binaries, then the images.
pub fn run(ws: &Workspace) -> Result<()> {
    let tools = setup::run(ws)?;
    filter::build(ws)?;
    println!("\n==> building the demo binaries (cargo build -p meshtrace-demo --bins)");
    cmd::run(
        ws.cargo()
            .args(["build", "--package", "meshtrace-demo", "--bins"]),
    )?;
    let bin = ws.target_dir().join("debug");
    println!("\n==> building the images with {}", tools.engine.program);
    let mut images = ws.cargo();
    images
        .args([
            "run",
            "--quiet",
            "--package",
            "meshtrace-harness",
            "--bin",
            "meshtrace-images",
            "--",
        ])
        .arg("--envoy")
        .arg(&tools.envoy)
        .arg("--nats-server")
        .arg(&tools.nats_server)
        .arg("--demo")
        .arg(bin.join("meshtrace-demo"))
        .arg("--trace-viewer")
        .arg(bin.join("trace-viewer"));
    tools.engine.apply(&mut images);
    cmd::run(&mut images).context("building the images")?;
    println!(
        "\nimages: ready for `{} -f envoy/compose.yaml up -d`",
        tools.engine.compose_line()
    );
    Ok(())
}
