//! binaryen's `wasm-opt`, which `build-filter` runs over the module:
//! `-Oz` takes the filter from about 209 KB to about 164 KB (measured
//! 2026-12-08 with binaryen 108), which keeps it under the 200 KiB target.
//! Setup installs Debian's `binaryen` when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The optimiser's program name.
pub const WASM_OPT: &str = "wasm-opt";

/// Debian's package that ships it.
const PACKAGE: &str = "binaryen";

/// The Wasm features rustc's `wasm32-wasip1` output may use; the module
/// carries no `target_features` section once stripped, so they are named.
const FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// `wasm-opt` on `PATH`, installed with apt-get when missing; returns its
/// path and version line.
///
/// # Errors
///
/// When it is missing and cannot be installed.
pub fn ensure() -> Result<(PathBuf, String)> {
    if find().is_none() {
        println!("setup: {WASM_OPT} missing; apt-get install {PACKAGE}");
        if find_program("apt-get").is_none() {
            bail!(
                "building the filter needs {WASM_OPT}: install binaryen with your package manager"
            );
        }
        cmd::run(Command::new("apt-get").args(["update", "-qq"])).context("apt-get update")?;
        cmd::run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", PACKAGE])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
        .context("installing binaryen (apt-get needs root)")?;
    }
    let path = find().with_context(|| format!("{WASM_OPT} is still not on PATH"))?;
    let version = cmd::output(Command::new(&path).arg("--version"))?;
    Ok((path, version.trim().to_owned()))
}

/// Optimises `input` for size into `output`.
///
/// # Errors
///
/// When `wasm-opt` fails (its output is in the error).
pub fn optimize(wasm_opt: &Path, input: &Path, output: &Path) -> Result<()> {
    cmd::run(
        Command::new(wasm_opt)
            .arg("-Oz")
            .args(FEATURES)
            .arg(input)
            .arg("-o")
            .arg(output),
    )
    .with_context(|| format!("{WASM_OPT} -Oz {}", input.display()))
}

fn find() -> Option<PathBuf> {
    find_program(WASM_OPT)
}

fn find_program(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}
