//! `cargo xtask build-filter`: builds the proxy-wasm module.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cmd;
use crate::setup::WASM_TARGET;
use crate::workspace::Workspace;

/// The filter's package.
const PACKAGE: &str = "meshtrace-filter";

/// The custom profile of the module (root `Cargo.toml`).
const PROFILE: &str = "wasm-release";

/// The module cargo writes.
const ARTIFACT: &str = "meshtrace_filter.wasm";

/// Builds the module and returns its absolute path.
pub fn build(ws: &Workspace) -> Result<PathBuf> {
    cmd::run(ws.cargo().args(["build", "--package", PACKAGE]).args([
        "--target",
        WASM_TARGET,
        "--profile",
        PROFILE,
    ]))
    .context("building the filter")?;
    let module = ws
        .target_dir()
        .join(WASM_TARGET)
        .join(PROFILE)
        .join(ARTIFACT);
    let bytes = fs::metadata(&module)
        .with_context(|| format!("cargo built the filter but {} is missing", module.display()))?
        .len();
    println!(
        "filter: {} ({bytes} bytes, {:.1} KiB)",
        module.display(),
        bytes as f64 / 1024.0
    );
    Ok(module)
}
