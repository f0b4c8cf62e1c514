//! Envoy configs for tests: the checked-in ones under `envoy/`, rendered by
//! literal substitution, and `envoy --mode validate`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::tools::{envoy_binary, workspace_root};

/// `<workspace>/envoy/{name}`, where the shipped configs live.
pub fn config_path(name: &str) -> PathBuf {
    workspace_root().join("envoy").join(name)
}

/// Reads the shipped config `<workspace>/envoy/{name}`.
pub fn config_template(name: &str) -> Result<String> {
    let path = config_path(name);
    std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read Envoy config {}", path.display()))
}

/// Replaces every occurrence of each `from` with its `to`, in order.
///
/// Fails if a `from` does not occur (at the time it is applied), so a
/// config whose documented port or path changed breaks the test loudly
/// instead of silently testing the wrong thing. Replace longer strings
/// first when one `from` contains another (`:9901` before `:990`).
///
/// ```
/// use meshtrace_tests::envoy::render;
///
/// let yaml = render("port_value: 9901", &[("9901", "40123".to_string())]).unwrap();
/// assert_eq!(yaml, "port_value: 40123");
/// assert!(render("port_value: 9901", &[("10000", "1".to_string())]).is_err());
/// ```
pub fn render(template: &str, replacements: &[(&str, String)]) -> Result<String> {
    let mut out = template.to_owned();
    for (from, to) in replacements {
        if from.is_empty() {
            bail!("cannot substitute an empty string (replacement {to:?})");
        }
        if !out.contains(from) {
            bail!(
                "{from:?} does not occur in the Envoy config (wanted to replace it with {to:?}); \
                 did the config change?"
            );
        }
        out = out.replace(from, to);
    }
    Ok(out)
}

/// `envoy --mode validate -c {config_path}`: Ok if Envoy accepts the
/// config, else an error with Envoy's output.
///
/// # Panics
///
/// If the Envoy binary is missing (run `cargo xtask setup`).
pub fn validate(config_path: &Path) -> Result<()> {
    let output = Command::new(envoy_binary())
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
        .context("cannot run envoy --mode validate")?;
    if output.status.success() {
        return Ok(());
    }
    bail!(
        "envoy rejected {} ({}):\n{}{}",
        config_path.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// [`validate`] for a config held in memory (e.g. a rendered one).
///
/// # Panics
///
/// If the Envoy binary is missing (run `cargo xtask setup`).
pub fn validate_yaml(config_yaml: &str) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temp dir for the config")?;
    let path = dir.path().join("envoy.yaml");
    std::fs::write(&path, config_yaml).context("cannot write the config")?;
    validate(&path)
}
