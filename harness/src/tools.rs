//! Where the external programs and the built filter are.
//!
//! `cargo xtask test` sets the environment variables below; without them
//! the lookups fall back to what `cargo xtask setup` and
//! `cargo xtask build-filter` leave in the workspace. A missing program is
//! a [`ToolError`] naming the variable and the command that installs it;
//! the suites fail on it, they never skip.

use std::path::{Path, PathBuf};

/// Absolute path of Envoy; default `<workspace>/.tools/bin/envoy`.
pub const ENVOY_ENV: &str = "MESHTRACE_ENVOY";
/// Absolute path of nats-server; default `<workspace>/.tools/bin/nats-server`.
pub const NATS_SERVER_ENV: &str = "MESHTRACE_NATS_SERVER";
/// Absolute path of the Python interpreter with the interop packages
/// (nats-py, cloudevents, opentelemetry-sdk); default
/// `<workspace>/.tools/venv/bin/python`.
pub const PYTHON_ENV: &str = "MESHTRACE_PYTHON";
/// Absolute path of the built filter module; default
/// `<workspace>/target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm`.
pub const FILTER_WASM_ENV: &str = "MESHTRACE_FILTER_WASM";

/// Where `cargo xtask build-filter` leaves the module, from the root.
const FILTER_WASM_DEFAULT: &str = "target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm";

/// A program or file the harness needs is not where it looked.
#[derive(Debug, thiserror::Error)]
#[error("{what} not found at {path} ({from}): run `{fix}` or set {variable}")]
pub struct ToolError {
    /// What was looked for (`envoy`, `the filter module`, ...).
    pub what: &'static str,
    /// Where it was looked for.
    pub path: String,
    /// Whether the path came from the variable or the default.
    pub from: String,
    /// The variable that overrides the default.
    pub variable: &'static str,
    /// The command that puts it there.
    pub fix: &'static str,
}

/// The workspace root (the parent of the `harness/` package).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The Envoy binary (`$MESHTRACE_ENVOY`, else `.tools/bin/envoy`).
///
/// # Errors
///
/// [`ToolError`] when there is no file there: run `cargo xtask setup`.
pub fn envoy_binary() -> Result<PathBuf, ToolError> {
    tool("envoy", ENVOY_ENV, ".tools/bin/envoy", "cargo xtask setup")
}

/// The nats-server binary (`$MESHTRACE_NATS_SERVER`, else
/// `.tools/bin/nats-server`).
///
/// # Errors
///
/// [`ToolError`] when there is no file there: run `cargo xtask setup`.
pub fn nats_server_binary() -> Result<PathBuf, ToolError> {
    tool(
        "nats-server",
        NATS_SERVER_ENV,
        ".tools/bin/nats-server",
        "cargo xtask setup",
    )
}

/// The Python interpreter of the interop venv (`$MESHTRACE_PYTHON`, else
/// `.tools/venv/bin/python`).
///
/// # Errors
///
/// [`ToolError`] when there is no file there: run `cargo xtask setup`.
pub fn python_binary() -> Result<PathBuf, ToolError> {
    tool(
        "python",
        PYTHON_ENV,
        ".tools/venv/bin/python",
        "cargo xtask setup",
    )
}

/// Where the built filter module is expected (`$MESHTRACE_FILTER_WASM`,
/// else the `wasm-release` output), whether or not it is there.
pub fn filter_wasm_path() -> PathBuf {
    std::env::var_os(FILTER_WASM_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(FILTER_WASM_DEFAULT))
}

/// The built filter module ([`filter_wasm_path`]).
///
/// # Errors
///
/// [`ToolError`] when there is no file there: run
/// `cargo xtask build-filter`.
pub fn filter_wasm() -> Result<PathBuf, ToolError> {
    tool(
        "the filter module",
        FILTER_WASM_ENV,
        FILTER_WASM_DEFAULT,
        "cargo xtask build-filter",
    )
}

fn tool(
    what: &'static str,
    variable: &'static str,
    default: &str,
    fix: &'static str,
) -> Result<PathBuf, ToolError> {
    let (path, from) = match std::env::var_os(variable) {
        Some(path) => (PathBuf::from(path), format!("${variable}")),
        None => (
            workspace_root().join(default),
            format!("the default, {variable} unset"),
        ),
    };
    if path.is_file() {
        return Ok(path);
    }
    Err(ToolError {
        what,
        path: path.display().to_string(),
        from,
        variable,
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_variable_and_fix() {
        let err = tool(
            "widget",
            "MESHTRACE_TEST_NO_SUCH_VARIABLE",
            ".tools/bin/no-such-widget",
            "cargo xtask setup",
        )
        .expect_err("not installed");
        let text = err.to_string();
        for want in [
            "widget not found",
            "no-such-widget",
            "MESHTRACE_TEST_NO_SUCH_VARIABLE unset",
            "run `cargo xtask setup`",
        ] {
            assert!(text.contains(want), "{want:?} missing from {text:?}");
        }
    }

    #[test]
    fn the_workspace_root_holds_the_root_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("envoy").is_dir());
    }
}
