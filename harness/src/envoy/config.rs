//! Envoy configs: the shipped ones under `envoy/`, rendered by literal
//! substitution, and `envoy --mode validate`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{ToolError, envoy_binary, workspace_root};

/// A shipped config could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read Envoy config {path}: {source}")]
pub struct TemplateError {
    /// The file.
    pub path: String,
    /// The I/O error.
    pub source: io::Error,
}

/// A substitution could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The text to replace is empty.
    #[error("cannot substitute an empty string (replacement {to:?})")]
    Empty {
        /// What it was to be replaced with.
        to: String,
    },
    /// The text to replace does not occur.
    #[error(
        "{from:?} does not occur in the Envoy config (wanted to replace it with {to:?}); \
         did the config change?"
    )]
    Missing {
        /// What was to be replaced.
        from: String,
        /// What it was to be replaced with.
        to: String,
    },
}

/// Envoy did not accept a config, or could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Envoy is not installed.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The config could not be written or Envoy not run.
    #[error("cannot run envoy --mode validate on {path}: {source}")]
    Run {
        /// The config file.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Envoy rejected it.
    #[error("envoy rejected {path} ({status}):\n{output}")]
    Rejected {
        /// The config file.
        path: String,
        /// Envoy's exit status.
        status: std::process::ExitStatus,
        /// Its stdout and stderr.
        output: String,
    },
}

/// `<workspace>/envoy/{name}`, where the shipped configs live.
pub fn config_path(name: &str) -> PathBuf {
    workspace_root().join("envoy").join(name)
}

/// Reads the shipped config `<workspace>/envoy/{name}`.
///
/// # Errors
///
/// [`TemplateError`] when it cannot be read.
pub fn config_template(name: &str) -> Result<String, TemplateError> {
    let path = config_path(name);
    std::fs::read_to_string(&path).map_err(|source| TemplateError {
        path: path.display().to_string(),
        source,
    })
}

/// Replaces every occurrence of each `from` with its `to`, in order.
///
/// Fails if a `from` does not occur (at the time it is applied), so a
/// config whose documented port or path changed breaks the caller loudly
/// instead of silently running the wrong thing. Replace longer strings
/// first when one `from` contains another (`:9901` before `:990`).
///
/// ```
/// use meshtrace_harness::envoy::render;
///
/// let yaml = render("port_value: 9901", &[("9901", "40123".to_string())]).unwrap();
/// assert_eq!(yaml, "port_value: 40123");
/// assert!(render("port_value: 9901", &[("10000", "1".to_string())]).is_err());
/// ```
///
/// # Errors
///
/// [`RenderError`] naming the substitution that could not be made.
pub fn render(template: &str, replacements: &[(&str, String)]) -> Result<String, RenderError> {
    let mut out = template.to_owned();
    for (from, to) in replacements {
        if from.is_empty() {
            return Err(RenderError::Empty { to: to.clone() });
        }
        if !out.contains(from) {
            return Err(RenderError::Missing {
                from: (*from).to_owned(),
                to: to.clone(),
            });
        }
        out = out.replace(from, to);
    }
    Ok(out)
}

/// `envoy --mode validate -c {config_path}`: Ok if Envoy accepts the
/// config.
///
/// # Errors
///
/// [`ValidateError`]: Envoy missing or not runnable, or the config
/// rejected (with Envoy's output).
pub fn validate(config_path: &Path) -> Result<(), ValidateError> {
    let path = config_path.display().to_string();
    let output = Command::new(envoy_binary()?)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--log-level",
            "warn",
        ])
        .arg("-c")
        .arg(config_path)
        .output()
        .map_err(|source| ValidateError::Run {
            path: path.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(ValidateError::Rejected {
        path,
        status: output.status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// [`validate`] for a config held in memory (e.g. a rendered one).
///
/// # Errors
///
/// As [`validate`].
pub fn validate_yaml(config_yaml: &str) -> Result<(), ValidateError> {
    let run = |source| ValidateError::Run {
        path: "a temp file".to_owned(),
        source,
    };
    let dir = tempfile::tempdir().map_err(run)?;
    let path = dir.path().join("envoy.yaml");
    std::fs::write(&path, config_yaml).map_err(run)?;
    validate(&path)
}
