//! The demo's service processes (`meshtrace-demo serve <service>`), each
//! under the harness's process guard: started with piped stdin/stdout,
//! ready when they print `ready`, stopped by closing their stdin (they
//! flush spans and exit) and killed if they linger, or when the guard
//! drops, Ctrl-C and panics included.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command};
use std::time::Duration;

use meshtrace_harness::process::{ChildProcess, Output, SpawnError as ProcessSpawnError};
use tokio::sync::mpsc;

use crate::services::{READY_LINE, ServeConfig, Service};

/// How much of a service's stderr an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// A service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The process could not be run.
    #[error("{service}: {source}")]
    Run {
        /// The service.
        service: Service,
        /// What failed.
        source: ProcessSpawnError,
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
    process: ChildProcess,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
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
        let log: PathBuf = log_dir.join(format!("{service}.log"));
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
            .env("OTEL_SERVICE_NAME", service.name());
        let process = ChildProcess::spawn(service.name(), &mut cmd, Output::Piped(log))
            .map_err(|source| SpawnError::Run { service, source })?;
        let stdin = process.take_stdin();
        let (tx, lines) = mpsc::unbounded_channel();
        if let Some(stdout) = process.take_stdout() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self {
            service,
            process,
            stdin,
            lines,
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
            log: self.process.log_path().display().to_string(),
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
        self.process.log_tail(LOG_TAIL_LINES)
    }

    /// Closes its stdin (it flushes its spans and exits) and waits up to
    /// `grace`; the guard kills it if it is still running.
    pub async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        // The wait polls: off the runtime's worker threads.
        let _ = tokio::task::spawn_blocking(move || {
            self.process.wait_exit(grace);
        })
        .await;
    }
}
