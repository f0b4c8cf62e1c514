//! `cargo xtask build-filter`: builds the proxy-wasm module.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cmd;
use crate::exports::{UNUSED_CALLBACKS, drop_exports};
use crate::setup::WASM_TARGET;
use crate::wasm_opt;
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
    let built = fs::read(&module)
        .with_context(|| format!("cargo built the filter but {} is missing", module.display()))?;
    // Envoy enters the VM for every callback the module exports; the ones
    // the filter leaves at the SDK's defaults go (see `exports`).
    let (stripped, removed) = drop_exports(&built, &UNUSED_CALLBACKS)
        .with_context(|| format!("reading the exports of {}", module.display()))?;
    // A new file, not a write through cargo's hard link into deps/.
    let tmp = module.with_extension("wasm.tmp");
    fs::write(&tmp, &stripped).with_context(|| format!("writing {}", tmp.display()))?;
    let (wasm_opt, _) = wasm_opt::ensure()?;
    let optimized = module.with_extension("wasm.opt");
    wasm_opt::optimize(&wasm_opt, &tmp, &optimized)?;
    fs::rename(&optimized, &module).with_context(|| format!("replacing {}", module.display()))?;
    let _ = fs::remove_file(&tmp);
    let bytes = fs::metadata(&module)
        .with_context(|| format!("reading {}", module.display()))?
        .len();
    println!(
        "filter: {} ({bytes} bytes, {:.1} KiB; {} unused callback exports removed, {} -Oz from {} bytes)",
        module.display(),
        bytes as f64 / 1024.0,
        removed.len(),
        wasm_opt::WASM_OPT,
        stripped.len(),
    );
    Ok(module)
}
