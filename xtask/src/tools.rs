//! The external tools: reading their `--version` output and giving them
//! stable paths under `.tools/bin/`.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow};

use crate::cmd;

/// The version in `envoy --version` output:
/// `envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL` gives `1.40.0`.
pub fn parse_envoy_version(output: &str) -> Option<&str> {
    let (_, rest) = output.split_once("version:")?;
    let build = rest.split_whitespace().next()?;
    build.split('/').find(|part| looks_like_version(part))
}

/// The version in `nats-server --version` output:
/// `nats-server: v2.15.1` gives `2.15.1`.
pub fn parse_nats_server_version(output: &str) -> Option<&str> {
    let (_, rest) = output.trim().split_once("nats-server:")?;
    let version = rest.split_whitespace().next()?;
    let version = version.strip_prefix('v').unwrap_or(version);
    looks_like_version(version).then_some(version)
}

/// The version in `python --version` or `rustc --version` output:
/// `Python 3.11.7` gives `3.11.7`, `rustc 1.95.0 (hash date)` gives `1.95.0`.
pub fn parse_second_word_version(output: &str) -> Option<&str> {
    let version = output.split_whitespace().nth(1)?;
    looks_like_version(version).then_some(version)
}

/// Whether `rustup target list --installed` output lists `target`.
pub fn lists_target(output: &str, target: &str) -> bool {
    output.lines().any(|line| line.trim() == target)
}

/// `MAJOR.MINOR[.PATCH...]` with numeric parts, optionally followed by a
/// suffix on the last part (`1.40.0-dev`).
fn looks_like_version(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Runs `program --version` and reads the version out with `parse`.
pub fn version_of(
    program: &Path,
    parse: impl for<'a> Fn(&'a str) -> Option<&'a str>,
) -> Result<String> {
    let output = cmd::output(Command::new(program).arg("--version"))?;
    parse(&output).map(str::to_owned).ok_or_else(|| {
        anyhow!(
            "no version in `{} --version` output: {:?}",
            program.display(),
            output.trim()
        )
    })
}

/// Makes `link` a symlink to `target`, replacing whatever `link` was.
pub fn link(target: &Path, link: &Path) -> Result<()> {
    if fs::read_link(link).is_ok_and(|current| current == target) {
        return Ok(());
    }
    if fs::symlink_metadata(link).is_ok() {
        fs::remove_file(link).with_context(|| format!("removing old {}", link.display()))?;
    }
    if let Some(dir) = link.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} -> {}", link.display(), target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_envoy_version() {
        for (output, want) in [
            (
                "\nbin/envoy  version: 9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL\n\n",
                Some("1.40.0"),
            ),
            (
                "envoy  version: abc/1.41.0-dev/Modified/DEBUG/BoringSSL",
                Some("1.41.0-dev"),
            ),
            ("envoy  version: abc/Clean/RELEASE", None),
            ("Segmentation fault", None),
            ("", None),
        ] {
            assert_eq!(parse_envoy_version(output), want, "output {output:?}");
        }
    }

    #[test]
    fn reads_nats_server_version() {
        for (output, want) in [
            ("nats-server: v2.15.1\n", Some("2.15.1")),
            ("nats-server: 2.15.1", Some("2.15.1")),
            ("nats-server: vnext", None),
            ("command not found", None),
        ] {
            assert_eq!(parse_nats_server_version(output), want, "output {output:?}");
        }
    }

    #[test]
    fn reads_python_and_rustc_versions() {
        for (output, want) in [
            ("Python 3.11.7\n", Some("3.11.7")),
            ("rustc 1.95.0 (59807616e 2026-04-14)", Some("1.95.0")),
            ("Python\n", None),
            ("rustc nightly", None),
        ] {
            assert_eq!(parse_second_word_version(output), want, "output {output:?}");
        }
    }

    #[test]
    fn finds_target_in_rustup_list_only_as_a_whole_line() {
        let listed = "wasm32-wasip1\nx86_64-unknown-linux-gnu\n";
        assert!(lists_target(listed, "wasm32-wasip1"));
        assert!(!lists_target("wasm32-wasip1-threads\n", "wasm32-wasip1"));
        assert!(!lists_target("", "wasm32-wasip1"));
    }

    #[test]
    fn link_creates_and_replaces_symlinks() {
        let dir = std::env::temp_dir().join(format!("xtask-link-{}", std::process::id()));
        let (a, b, bin) = (dir.join("a"), dir.join("b"), dir.join("bin").join("tool"));
        fs::create_dir_all(&dir).expect("temp dir");
        fs::write(&a, "a").expect("write a");
        fs::write(&b, "b").expect("write b");

        link(&a, &bin).expect("first link");
        link(&a, &bin).expect("same link again");
        assert_eq!(fs::read_to_string(&bin).expect("read via link"), "a");
        link(&b, &bin).expect("relink");
        assert_eq!(fs::read_to_string(&bin).expect("read via link"), "b");

        fs::remove_dir_all(&dir).expect("clean up");
    }
}
