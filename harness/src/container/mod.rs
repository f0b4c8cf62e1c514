//! The container engine the container suites drive: podman or Docker, with
//! its compose command, and a guard that removes everything a compose
//! project made (containers, networks, volumes), on success and on failure.
//!
//! `cargo xtask test` says which engine through `MESHTRACE_CONTAINER_ENGINE`
//! and `MESHTRACE_COMPOSE` (and `CONTAINERS_CONF` for podman's settings,
//! which child commands inherit). Without them the engine is podman with
//! `podman-compose` when podman is on `PATH`. Nothing here pulls an image:
//! every image is built locally; [`rootfs`] makes the contexts of images
//! for binaries this machine already has.

pub mod images;
pub mod rootfs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The engine program, `podman` or `docker`.
pub const ENGINE_ENV: &str = "MESHTRACE_CONTAINER_ENGINE";
/// The compose command line, `podman-compose` or `docker compose`.
pub const COMPOSE_ENV: &str = "MESHTRACE_COMPOSE";

/// A container command failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No engine was named and none is on `PATH`.
    #[error(
        "no container engine: set {ENGINE_ENV} (podman or docker) or run `cargo xtask setup`, which installs podman"
    )]
    NoEngine,
    /// The command could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The command exited non-zero.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of its stderr.
        stderr: String,
    },
}

/// The engine and its compose command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    program: String,
    compose: Vec<String>,
}

/// What a compose project left behind, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Containers (any state) of the project.
    pub containers: Vec<String>,
    /// Networks named after the project.
    pub networks: Vec<String>,
    /// Volumes named after the project.
    pub volumes: Vec<String>,
    /// Port forwards (netavark's `iptables -t nat` rules) still naming one
    /// of the project's networks: a stale one keeps a published host port
    /// pointing at a container that is gone. Podman only; empty when the
    /// rules cannot be read.
    pub port_forwards: Vec<String>,
}

/// A compose project that is brought down, with its volumes, and whose
/// remaining containers, networks and volumes are removed when dropped.
#[derive(Debug)]
pub struct ComposeProject {
    engine: Engine,
    name: String,
    files: Vec<PathBuf>,
    /// The directory compose runs in (relative paths in the files resolve
    /// against each file's own directory).
    dir: PathBuf,
}

// === impl Engine ===

impl Engine {
    /// The engine from the environment, else podman when it is on `PATH`.
    ///
    /// # Errors
    ///
    /// [`ContainerError::NoEngine`] when neither names one.
    pub fn from_env() -> Result<Self, ContainerError> {
        let program = match std::env::var(ENGINE_ENV) {
            Ok(program) if !program.is_empty() => program,
            _ if on_path("podman") => "podman".to_owned(),
            _ => return Err(ContainerError::NoEngine),
        };
        let compose = match std::env::var(COMPOSE_ENV) {
            Ok(line) if !line.trim().is_empty() => {
                line.split_whitespace().map(str::to_owned).collect()
            }
            _ if program == "docker" => vec!["docker".to_owned(), "compose".to_owned()],
            _ => vec!["podman-compose".to_owned()],
        };
        Ok(Self { program, compose })
    }

    /// An engine value for unit tests (runs nothing by itself).
    #[cfg(test)]
    pub(crate) fn for_tests(program: &str) -> Self {
        Self {
            program: program.to_owned(),
            compose: vec![format!("{program}-compose")],
        }
    }

    /// `podman` or `docker`.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// A command of the engine (`podman ARGS`).
    pub fn command(&self) -> Command {
        Command::new(&self.program)
    }

    /// Runs `podman ARGS` and returns its stdout.
    ///
    /// # Errors
    ///
    /// [`ContainerError`] when it cannot start or exits non-zero.
    pub fn run(&self, args: &[&str]) -> Result<String, ContainerError> {
        output(self.command().args(args))
    }

    /// Builds `dockerfile` with `context` as the build context and tags the
    /// image `tag`.
    ///
    /// # Errors
    ///
    /// [`ContainerError`] when the build fails.
    pub fn build(
        &self,
        tag: &str,
        dockerfile: &Path,
        context: &Path,
    ) -> Result<(), ContainerError> {
        output(
            self.command()
                .args(["build", "--quiet", "--tag", tag, "--file"])
                .arg(dockerfile)
                .arg(context),
        )
        .map(drop)
    }

    /// Whether an image tagged `tag` exists locally.
    pub fn has_image(&self, tag: &str) -> bool {
        self.command()
            .args(["image", "inspect", tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A compose project `name` over `files` (the first is the main file,
    /// the others override it), run from `dir`.
    pub fn compose_project(&self, name: &str, files: &[&Path], dir: &Path) -> ComposeProject {
        ComposeProject {
            engine: self.clone(),
            name: name.to_owned(),
            files: files.iter().map(|f| f.to_path_buf()).collect(),
            dir: dir.to_path_buf(),
        }
    }

    /// The `ps --filter` that selects compose project `project`'s
    /// containers.
    fn project_label(&self, project: &str) -> String {
        if self.program == "docker" {
            format!("label=com.docker.compose.project={project}")
        } else {
            format!("label=io.podman.compose.project={project}")
        }
    }

    /// What of compose project `project` still exists.
    ///
    /// # Errors
    ///
    /// [`ContainerError`] when listing fails.
    pub fn leftovers(&self, project: &str) -> Result<Leftovers, ContainerError> {
        let label = self.project_label(project);
        let containers =
            lines(&self.run(&["ps", "--all", "--filter", &label, "--format", "{{.Names}}"])?);
        let prefix = format!("{project}_");
        let named = |out: String| -> Vec<String> {
            lines(&out)
                .into_iter()
                .filter(|n| n == project || n.starts_with(&prefix))
                .collect()
        };
        let networks = named(self.run(&["network", "ls", "--format", "{{.Name}}"])?);
        let volumes = named(self.run(&["volume", "ls", "--format", "{{.Name}}"])?);
        let port_forwards = if self.program == "podman" {
            nat_rules_naming(&format!("dnat name: {prefix}"))
        } else {
            Vec::new()
        };
        Ok(Leftovers {
            containers,
            networks,
            volumes,
            port_forwards,
        })
    }
}

// === impl Leftovers ===

impl Leftovers {
    /// Nothing is left.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
            && self.port_forwards.is_empty()
    }
}

/// The `iptables -t nat -S` rules holding `needle` (netavark comments each
/// port forward with `dnat name: <network>`); none when iptables cannot be
/// run (`/usr/sbin` is not on every `PATH`, so it is tried there too).
pub fn nat_rules_naming(needle: &str) -> Vec<String> {
    ["iptables", "/usr/sbin/iptables"]
        .into_iter()
        .find_map(|program| {
            Command::new(program)
                .args(["-t", "nat", "-S"])
                .stdin(Stdio::null())
                .output()
                .ok()
                .filter(|out| out.status.success())
        })
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|line| line.contains(needle))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

// === impl ComposeProject ===

impl ComposeProject {
    /// The project name (`-p`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `compose -p NAME -f FILE... ARGS`.
    pub fn command(&self, args: &[&str]) -> Command {
        let (program, rest) = self
            .engine
            .compose
            .split_first()
            .map_or(("podman-compose", &[][..]), |(p, r)| (p.as_str(), r));
        let mut cmd = Command::new(program);
        cmd.args(rest)
            .current_dir(&self.dir)
            .args(["-p", &self.name]);
        for file in &self.files {
            cmd.arg("-f").arg(file);
        }
        cmd.args(args);
        cmd
    }

    /// Runs `compose ... ARGS` and returns its output.
    ///
    /// # Errors
    ///
    /// [`ContainerError`] when it cannot start or exits non-zero.
    pub fn run(&self, args: &[&str]) -> Result<String, ContainerError> {
        output(&mut self.command(args))
    }

    /// `up -d`.
    ///
    /// # Errors
    ///
    /// [`ContainerError`] when compose fails.
    pub fn up(&self) -> Result<String, ContainerError> {
        self.run(&["up", "-d"])
    }

    /// The end of every container's log and its state (for failure
    /// messages): one `logs` call per container, which every engine
    /// supports.
    pub fn logs(&self) -> String {
        let label = self.engine.project_label(&self.name);
        let names = match self.engine.run(&[
            "ps",
            "--all",
            "--filter",
            &label,
            "--format",
            "{{.Names}} {{.Status}}",
        ]) {
            Ok(out) => lines(&out),
            Err(e) => return format!("(no logs: {e})"),
        };
        let mut out = String::new();
        for line in names {
            let name = line.split_whitespace().next().unwrap_or_default();
            let log = self
                .engine
                .command()
                .args(["logs", "--tail", "25", name])
                .output()
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_else(|e| format!("(no log: {e})"));
            out.push_str(&format!("--- {line}\n{log}"));
        }
        out
    }

    /// `down -v`, then removes what is still there: containers by the
    /// project label, networks and volumes by the project's name prefix
    /// (podman-compose 1.0 leaves the network behind).
    ///
    /// # Errors
    ///
    /// [`ContainerError`] when listing or a removal fails.
    pub fn down(&self) -> Result<(), ContainerError> {
        let _ = output(&mut self.command(&["down", "-v", "--timeout", "2"]));
        let left = self.engine.leftovers(&self.name)?;
        for container in &left.containers {
            self.engine
                .run(&["rm", "--force", "--volumes", container])?;
        }
        for network in &left.networks {
            self.engine.run(&["network", "rm", "--force", network])?;
        }
        for volume in &left.volumes {
            self.engine.run(&["volume", "rm", "--force", volume])?;
        }
        Ok(())
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("compose project {}: cleanup failed: {e}", self.name);
        }
    }
}

fn output(cmd: &mut Command) -> Result<String, ContainerError> {
    let command = display(cmd);
    let out: Output =
        cmd.stdin(Stdio::null())
            .output()
            .map_err(|source| ContainerError::Spawn {
                command: command.clone(),
                source,
            })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        return Err(ContainerError::Failed {
            command,
            status: out.status,
            stderr: crate::process::tail(&format!("{stdout}{stderr}"), 30),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn display(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_commands_name_the_project_and_every_file() {
        let engine = Engine {
            program: "docker".to_owned(),
            compose: vec!["docker".to_owned(), "compose".to_owned()],
        };
        let project = engine.compose_project(
            "mt-1",
            &[Path::new("envoy/compose.yaml"), Path::new("x.yaml")],
            Path::new("/w"),
        );
        let cmd = project.command(&["up", "-d"]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(cmd.get_program(), "docker");
        assert_eq!(
            args,
            [
                "compose",
                "-p",
                "mt-1",
                "-f",
                "envoy/compose.yaml",
                "-f",
                "x.yaml",
                "up",
                "-d"
            ]
        );
        std::mem::forget(project);
    }

    #[test]
    fn lines_skip_blanks() {
        assert_eq!(lines("a\n\n b \n"), ["a", "b"]);
        assert!(Leftovers::default().is_empty());
    }
}
