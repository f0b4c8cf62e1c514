//! The container engine the container suite runs on: a working Docker
//! (daemon reachable, `docker compose` present) when the machine has one,
//! else rootful podman from Debian, installed and configured here.
//!
//! Podman on these machines needs three settings (`../shared/containers.md`):
//! `runc` instead of `crun` (crun fails on the kernel's hybrid cgroup
//! layout), the `cgroupfs` manager and no default ulimits (the default
//! `nofile` fails at setrlimit), plus the file events logger (no journald).
//! They go in `.tools/containers.conf`, which the suite is given through
//! `CONTAINERS_CONF`; the machine's own `/etc/containers` is left alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;
use crate::workspace::Workspace;

/// Debian packages of the podman engine. netavark and aardvark-dns are only
/// recommended by Debian's podman, and without them podman falls back to
/// CNI networks, where containers cannot resolve each other by name.
/// iptables is only suggested by netavark, yet netavark runs it for every
/// network and published port: without it a container stays `Created`
/// ("netavark: No such file or directory").
const PODMAN_PACKAGES: [&str; 7] = [
    "podman",
    "runc",
    "podman-compose",
    "buildah",
    "netavark",
    "aardvark-dns",
    "iptables",
];

/// Where Debian's netavark and aardvark-dns put their binaries, and the
/// iptables netavark runs (it looks in `/usr/sbin`, which is not on every
/// user's `PATH`).
const NETAVARK: [&str; 3] = [
    "/usr/lib/podman/netavark",
    "/usr/lib/podman/aardvark-dns",
    "/usr/sbin/iptables",
];

/// The podman configuration written to `.tools/containers.conf`.
const CONTAINERS_CONF: &str = "\
# Written by `cargo xtask setup` (xtask/src/containers.rs).
[containers]
# The default nofile ulimit fails at setrlimit on these machines.
default_ulimits = []

[engine]
# crun fails on this kernel's hybrid cgroup layout.
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
# No journald.
events_logger = \"file\"

[network]
# Name resolution between containers (aardvark-dns); CNI has none here.
network_backend = \"netavark\"
";

/// The engine and its compose command, as the suite is told them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// `podman` or `docker`.
    pub program: String,
    /// The compose command line: `podman-compose`, or `docker compose`.
    pub compose: Vec<String>,
    /// `CONTAINERS_CONF` for podman.
    pub containers_conf: Option<PathBuf>,
    /// `podman --version` / `docker --version`, for setup's table.
    pub version: String,
}

// === impl Engine ===

impl Engine {
    /// The compose command as one string (`MESHTRACE_COMPOSE`).
    pub fn compose_line(&self) -> String {
        self.compose.join(" ")
    }

    /// Sets the engine's variables on `cmd` (the test processes).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env(ENV_ENGINE, &self.program)
            .env(ENV_COMPOSE, self.compose_line());
        if let Some(conf) = &self.containers_conf {
            cmd.env("CONTAINERS_CONF", conf);
        }
    }
}

/// The engine program (`podman` or `docker`) the container suite uses.
pub const ENV_ENGINE: &str = "MESHTRACE_CONTAINER_ENGINE";
/// Its compose command line (`podman-compose` or `docker compose`).
pub const ENV_COMPOSE: &str = "MESHTRACE_COMPOSE";

/// Finds or installs the engine. `MESHTRACE_CONTAINER_ENGINE=docker` or
/// `=podman` forces the choice.
pub fn ensure(ws: &Workspace) -> Result<Engine> {
    let forced = std::env::var(ENV_ENGINE).ok();
    match forced.as_deref() {
        Some("docker") => return docker().context("MESHTRACE_CONTAINER_ENGINE=docker"),
        Some("podman") | None => {}
        Some(other) => bail!("{ENV_ENGINE}={other}: the suite knows podman and docker"),
    }
    if forced.is_none()
        && let Ok(engine) = docker()
    {
        return Ok(engine);
    }
    podman(ws)
}

/// Docker, when its daemon answers and `docker compose` exists.
fn docker() -> Result<Engine> {
    cmd::output(Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]))
        .context("`docker info` (is the Docker daemon running?)")?;
    cmd::output(Command::new("docker").args(["compose", "version"]))
        .context("`docker compose version` (the compose plugin is needed)")?;
    let version = cmd::output(Command::new("docker").arg("--version"))?;
    Ok(Engine {
        program: "docker".to_owned(),
        compose: vec!["docker".to_owned(), "compose".to_owned()],
        containers_conf: None,
        version: version.trim().to_owned(),
    })
}

/// Podman: installed with apt-get when missing, configured, and checked
/// with `podman info`.
fn podman(ws: &Workspace) -> Result<Engine> {
    let mut missing: Vec<&str> = ["podman", "podman-compose", "runc"]
        .into_iter()
        .filter(|program| !on_path(program))
        .collect();
    for helper in NETAVARK {
        if !Path::new(helper).is_file() {
            missing.push(helper);
        }
    }
    if !missing.is_empty() {
        install_podman(&missing)?;
    }
    let conf = ws.tools_dir().join("containers.conf");
    write_if_changed(&conf, CONTAINERS_CONF)?;
    cmd::output(
        Command::new("podman")
            .args(["info", "--format", "{{.Host.OCIRuntime.Name}}"])
            .env("CONTAINERS_CONF", &conf),
    )
    .context("`podman info` with .tools/containers.conf")?;
    let version = cmd::output(Command::new("podman").arg("--version"))?;
    Ok(Engine {
        program: "podman".to_owned(),
        compose: vec!["podman-compose".to_owned()],
        containers_conf: Some(conf),
        version: version.trim().to_owned(),
    })
}

fn install_podman(missing: &[&str]) -> Result<()> {
    println!(
        "setup: {} missing; apt-get install {}",
        missing.join(", "),
        PODMAN_PACKAGES.join(" ")
    );
    if !on_path("apt-get") {
        bail!(
            "the container suite needs podman (or a running Docker); install {} \
             with your package manager",
            PODMAN_PACKAGES.join(", ")
        );
    }
    cmd::run(Command::new("apt-get").args(["update", "-qq"])).context("apt-get update")?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(PODMAN_PACKAGES)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("installing podman (apt-get needs root)")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn write_if_changed(path: &Path, contents: &str) -> Result<()> {
    if fs::read_to_string(path).is_ok_and(|now| now == contents) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conf_has_the_settings_podman_needs_here() {
        for line in [
            "default_ulimits = []",
            "runtime = \"runc\"",
            "cgroup_manager = \"cgroupfs\"",
            "events_logger = \"file\"",
            "network_backend = \"netavark\"",
        ] {
            assert!(CONTAINERS_CONF.contains(line), "missing {line}");
        }
    }

    #[test]
    fn the_engine_variables_reach_the_tests() {
        let engine = Engine {
            program: "podman".to_owned(),
            compose: vec!["podman-compose".to_owned()],
            containers_conf: Some(PathBuf::from("/w/.tools/containers.conf")),
            version: "podman version 4.3.1".to_owned(),
        };
        let mut cmd = Command::new("true");
        engine.apply(&mut cmd);
        let envs: Vec<(String, String)> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
            .collect();
        assert!(envs.contains(&(ENV_ENGINE.to_owned(), "podman".to_owned())));
        assert!(envs.contains(&(ENV_COMPOSE.to_owned(), "podman-compose".to_owned())));
        assert!(envs.contains(&(
            "CONTAINERS_CONF".to_owned(),
            "/w/.tools/containers.conf".to_owned()
        )));
    }
}
