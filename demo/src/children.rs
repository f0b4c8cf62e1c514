//! The demo's service processes (`meshtrace-demo serve <service>`): started
//! with piped stdin/stdout, ready when they print `ready`, stopped by
//! closing their stdin (they flush spans and exit) and killed if they
//! linger, or when the guard drops (`kill_on_drop`), Ctrl-C and panics
//! included.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::services::{READY_LINE, ServeConfig, Service};

/// How much of a service's stderr an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// A service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The process could not be run.
    #[error("cannot run {binary} serve {service}: {source}")]
    Run {
        /// The service.
        service: Service,
        /// The binary.
        binary: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It exited or timed out before printing `ready`.
    #[error("{service} did not become ready ({reason}); its log {log}:\n{tail}")]
    NotReady {
        /// The service.
        service: Service,
        /// `exited` or `timed out after ...`.
        reason: String,
        /// Its stderr file.
        log: String,
        /// The end of it.
        tail: String,
    },
}

/// A running service process; killed on drop.
#[derive(Debug)]
pub struct ServiceProcess {
    service: Service,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    log: PathBuf,
}

// === impl ServiceProcess ===

impl ServiceProcess {
    /// Runs `binary serve <service> ...` with `env` set and `env_remove`
    /// unset, stderr to `<log_dir>/<service>.log`. Does not wait for it to
    /// be ready.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Run`] when the process cannot be started.
    pub fn spawn(
        binary: &Path,
        config: &ServeConfig,
        env: &[(String, String)],
        env_remove: &[&str],
        log_dir: &Path,
    ) -> Result<Self, SpawnError> {
        let service = config.service;
        let run_error = |source| SpawnError::Run {
            service,
            binary: binary.display().to_string(),
            source,
        };
        let log = log_dir.join(format!("{service}.log"));
        let stderr = std::fs::File::create(&log).map_err(run_error)?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve").arg(service.name());
        if let Some(nats) = &config.nats {
            cmd.args(["--nats", nats]);
        }
        if let Some(port) = config.port {
            cmd.args(["--port", &port.to_string()]);
        }
        if let Some(upstream) = &config.upstream {
            cmd.args(["--upstream", upstream]);
        }
        for var in env_remove {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .env("OTEL_SERVICE_NAME", service.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(run_error)?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::unbounded_channel();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(async move {
                let mut reader = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self {
            service,
            child,
            stdin,
            lines,
            log,
        })
    }

    /// Waits for the `ready` line.
    ///
    /// # Errors
    ///
    /// [`SpawnError::NotReady`] with its log when it exits or `timeout`
    /// passes first.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), SpawnError> {
        let reason = match tokio::time::timeout(timeout, self.wait_line(READY_LINE)).await {
            Ok(true) => return Ok(()),
            Ok(false) => "exited".to_owned(),
            Err(_) => format!("timed out after {timeout:?}"),
        };
        Err(SpawnError::NotReady {
            service: self.service,
            reason,
            log: self.log.display().to_string(),
            tail: self.log_tail(),
        })
    }

    async fn wait_line(&mut self, want: &str) -> bool {
        while let Some(line) = self.lines.recv().await {
            if line.trim() == want {
                return true;
            }
        }
        false
    }

    /// The next stdout line starting with `prefix` (the prefix removed),
    /// `None` if the process ends first.
    pub async fn next_line_with(&mut self, prefix: &str) -> Option<String> {
        while let Some(line) = self.lines.recv().await {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.to_owned());
            }
        }
        None
    }

    /// Which service this is.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The end of its stderr log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Closes its stdin (it flushes its spans and exits) and waits up to
    /// `grace`, then kills it.
    pub async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            // Already gone if this fails; kill_on_drop covers the rest.
            let _ = self.child.kill().await;
        }
    }
}
