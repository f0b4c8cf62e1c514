//! Where the external programs and the built filter are.
//!
//! `cargo xtask test` sets the environment variables below; without them
//! the fixtures fall back to what `cargo xtask setup` and
//! `cargo xtask build-filter` leave in the workspace. A missing program is a
//! panic naming the variable, never a skipped test.

use std::path::{Path, PathBuf};

pub use crate::proxy_wasm_host::FILTER_WASM_ENV;

/// Absolute path of Envoy; default `<workspace>/.tools/bin/envoy`.
pub const ENVOY_ENV: &str = "MESHTRACE_ENVOY";
/// Absolute path of nats-server; default `<workspace>/.tools/bin/nats-server`.
pub const NATS_SERVER_ENV: &str = "MESHTRACE_NATS_SERVER";
/// Absolute path of the Python interpreter with the interop packages
/// (nats-py, cloudevents, opentelemetry-sdk); default
/// `<workspace>/.tools/venv/bin/python`.
pub const PYTHON_ENV: &str = "MESHTRACE_PYTHON";

/// The workspace root (the parent of the `tests/` package).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The Envoy binary (`$MESHTRACE_ENVOY`, else `.tools/bin/envoy`).
///
/// # Panics
///
/// If there is no file there: run `cargo xtask setup`.
pub fn envoy_binary() -> PathBuf {
    tool(ENVOY_ENV, ".tools/bin/envoy", "cargo xtask setup")
}

/// The nats-server binary (`$MESHTRACE_NATS_SERVER`, else
/// `.tools/bin/nats-server`).
///
/// # Panics
///
/// If there is no file there: run `cargo xtask setup`.
pub fn nats_server_binary() -> PathBuf {
    tool(
        NATS_SERVER_ENV,
        ".tools/bin/nats-server",
        "cargo xtask setup",
    )
}

/// The Python interpreter of the interop venv (`$MESHTRACE_PYTHON`, else
/// `.tools/venv/bin/python`).
///
/// # Panics
///
/// If there is no file there: run `cargo xtask setup`.
pub fn python_binary() -> PathBuf {
    tool(PYTHON_ENV, ".tools/venv/bin/python", "cargo xtask setup")
}

/// The built filter module (`$MESHTRACE_FILTER_WASM`, else
/// `target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm`).
///
/// # Panics
///
/// If there is no file there: run `cargo xtask build-filter`.
pub fn filter_wasm() -> PathBuf {
    let path = crate::proxy_wasm_host::filter_module_path();
    if !path.is_file() {
        panic!(
            "filter module not found at {} (from {FILTER_WASM_ENV} or the default): \
             run `cargo xtask build-filter` (or `cargo xtask test`)",
            path.display()
        );
    }
    path
}

fn tool(var: &str, default: &str, fix: &str) -> PathBuf {
    let (path, from) = match std::env::var_os(var) {
        Some(path) => (PathBuf::from(path), format!("${var}")),
        None => (
            workspace_root().join(default),
            format!("the default, {var} unset"),
        ),
    };
    if !path.is_file() {
        panic!(
            "{} not found at {} ({from}): run `{fix}` or set {var}",
            default.rsplit('/').next().unwrap_or(default),
            path.display()
        );
    }
    path
}
