//! One launcher for every Envoy the tests, the demo and the benchmarks
//! run: a [`ChildProcess`] on a rendered config, ready once admin `/ready`
//! answers `LIVE`, read through its admin `/stats` and `/proc`, killed on
//! drop. Plus config rendering and validation ([`render`], [`validate`])
//! and the substitutions that put the shipped configs on loopback
//! ([`shipped`]).
//!
//! Each Envoy runs with `--disable-hot-restart` (no shared memory, no
//! domain socket), so any number coexist, and `--admin-address-path`, so
//! the launcher learns the admin address even when the config binds admin
//! to port 0. Its stdout and stderr go to a log file in its temp dir. The
//! benchmarks pin it to one core ([`EnvoyOptions::with_core`]) and read its
//! CPU time ([`EnvoyProcess::cpu_ticks`]).
//!
//! ```no_run
//! use meshtrace_harness::envoy::{EnvoyOptions, EnvoyProcess, config_template, render};
//! use meshtrace_harness::ports::free_ports;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let [admin, listener] = free_ports::<2>()?;
//! let yaml = render(
//!     &config_template("inbound.yaml")?,
//!     &[("9901", admin.to_string()), ("10000", listener.to_string())],
//! )?;
//! let envoy = EnvoyProcess::start(&yaml, EnvoyOptions::default())?;
//! println!("{:?} RSS {} KiB", envoy.stat("server.live")?, envoy.rss_kib()?);
//! # Ok(())
//! # }
//! ```

mod admin;
pub mod compose;
mod config;
pub mod shipped;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use config::{
    RenderError, TemplateError, ValidateError, config_path, config_template, render, validate,
    validate_yaml,
};

use crate::http_client::{HttpClient, HttpResponse};
use crate::process::{ChildProcess, LOG_TAIL_LINES, Output, ProcError, SpawnError, StartupError};
use crate::tools::{ToolError, envoy_binary};

/// How often [`EnvoyProcess::wait_for_stat`] looks again.
const POLL: Duration = Duration::from_millis(50);

/// How to run Envoy.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    /// `--concurrency` (worker threads). Default 1.
    pub concurrency: u32,
    /// `--log-level`. Default `info`.
    pub log_level: String,
    /// `--component-log-level`, e.g. `wasm:debug`. Default none.
    pub component_log_level: Option<String>,
    /// How long Envoy may take to answer `LIVE` on `/ready`. Default 20 s.
    pub ready_timeout: Duration,
    /// Pin the process to this core (`taskset -c`). Default none.
    pub core: Option<u32>,
    /// The Envoy binary. Default [`envoy_binary`] (`$MESHTRACE_ENVOY`, else
    /// `.tools/bin/envoy`).
    pub binary: Option<PathBuf>,
    /// More command-line arguments, appended last.
    pub extra_args: Vec<String>,
}

/// Envoy could not be started or read.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    /// Envoy is not installed.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// Its temp dir or config file could not be written.
    #[error("cannot prepare Envoy's files: {0}")]
    Files(#[source] std::io::Error),
    /// The process could not be run.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// It exited or was not live in time.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// It was expected to refuse its config and did not.
    #[error("envoy {outcome}, expected it to refuse its config; log:\n{log}")]
    NotRefused {
        /// What it did instead.
        outcome: String,
        /// Its whole log.
        log: String,
    },
    /// An admin request failed or its answer did not parse.
    #[error("envoy admin {path}: {problem}; log tail:\n{tail}")]
    Admin {
        /// The admin path.
        path: String,
        /// What went wrong.
        problem: String,
        /// The end of Envoy's log.
        tail: String,
    },
    /// `/proc` could not be read.
    #[error(transparent)]
    Proc(#[from] ProcError),
}

/// A running Envoy; killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct EnvoyProcess {
    process: ChildProcess,
    admin: SocketAddr,
    admin_client: HttpClient,
    // Dropped after `process`: nothing writes into it any more.
    dir: TempDir,
}

// === impl EnvoyOptions ===

impl Default for EnvoyOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            log_level: "info".into(),
            component_log_level: None,
            ready_timeout: Duration::from_secs(20),
            core: None,
            binary: None,
            extra_args: Vec::new(),
        }
    }
}

impl EnvoyOptions {
    /// Sets `--concurrency`.
    pub fn with_concurrency(mut self, concurrency: u32) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets `--log-level`.
    pub fn with_log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = level.into();
        self
    }

    /// Sets `--component-log-level` (e.g. `wasm:debug`).
    pub fn with_component_log_level(mut self, levels: impl Into<String>) -> Self {
        self.component_log_level = Some(levels.into());
        self
    }

    /// Sets the startup deadline.
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Pins Envoy to `core` with `taskset -c`.
    pub fn with_core(mut self, core: u32) -> Self {
        self.core = Some(core);
        self
    }

    /// Runs this Envoy binary instead of the installed one.
    pub fn with_binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = Some(binary.into());
        self
    }

    /// Appends a command-line argument.
    pub fn with_arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }
}

// === impl EnvoyProcess ===

impl EnvoyProcess {
    /// Writes `config_yaml` to a temp file, runs Envoy on it and waits until
    /// admin `/ready` answers `LIVE`. The config must have an `admin`
    /// listener (any port, 0 included).
    ///
    /// # Errors
    ///
    /// [`EnvoyError`]: Envoy missing or not runnable, or (with the tail of
    /// its log) exited or not live within [`EnvoyOptions::ready_timeout`].
    pub fn start(config_yaml: &str, opts: EnvoyOptions) -> Result<Self, EnvoyError> {
        let mut envoy = Self::spawn(config_yaml, &opts)?;
        let address_file = envoy.dir.path().join("admin-address");
        let probe = HttpClient::new().with_timeout(Duration::from_secs(1));
        let mut admin = None;
        envoy.process.wait_until(opts.ready_timeout, |_| {
            admin = live_admin(&address_file, &probe);
            admin.is_some()
        })?;
        if let Some(admin) = admin {
            envoy.admin = admin;
        }
        Ok(envoy)
    }

    /// Runs Envoy on a config expected to be refused and returns its log
    /// once it exits non-zero.
    ///
    /// # Errors
    ///
    /// [`EnvoyError::NotRefused`] when it becomes live, exits zero, or is
    /// still running after [`EnvoyOptions::ready_timeout`] (its log is in
    /// the error); as [`EnvoyProcess::start`] when it cannot be run.
    pub fn start_expect_failure(
        config_yaml: &str,
        opts: EnvoyOptions,
    ) -> Result<String, EnvoyError> {
        let envoy = Self::spawn(config_yaml, &opts)?;
        let address_file = envoy.dir.path().join("admin-address");
        let probe = HttpClient::new().with_timeout(Duration::from_secs(1));
        let outcome = match envoy.process.wait_until(opts.ready_timeout, |_| {
            live_admin(&address_file, &probe).is_some()
        }) {
            Err(StartupError::Exited { status, .. }) if !status.success() => {
                return Ok(envoy.log());
            }
            Err(StartupError::Exited { status, .. }) => format!("exited with {status}"),
            Err(StartupError::TimedOut { timeout, .. }) => {
                format!("neither failed nor became live within {timeout:?}")
            }
            Ok(()) => "started although it should have failed".to_owned(),
        };
        Err(EnvoyError::NotRefused {
            outcome,
            log: envoy.log(),
        })
    }

    fn spawn(config_yaml: &str, opts: &EnvoyOptions) -> Result<Self, EnvoyError> {
        let binary = match &opts.binary {
            Some(binary) => binary.clone(),
            None => envoy_binary()?,
        };
        let dir = tempfile::Builder::new()
            .prefix("meshtrace-envoy-")
            .tempdir()
            .map_err(EnvoyError::Files)?;
        let config = dir.path().join("envoy.yaml");
        std::fs::write(&config, config_yaml).map_err(EnvoyError::Files)?;
        let mut cmd = match opts.core {
            Some(core) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(core.to_string()).arg(&binary);
                taskset
            }
            None => Command::new(&binary),
        };
        cmd.arg("-c")
            .arg(&config)
            .args(["--concurrency", &opts.concurrency.to_string()])
            .args(["--log-level", &opts.log_level])
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(dir.path().join("admin-address"));
        if let Some(levels) = &opts.component_log_level {
            cmd.args(["--component-log-level", levels]);
        }
        cmd.args(&opts.extra_args);
        let process =
            ChildProcess::spawn("envoy", &mut cmd, Output::Log(dir.path().join("envoy.log")))?;
        Ok(Self {
            process,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_client: HttpClient::new().with_timeout(Duration::from_secs(5)),
            dir,
        })
    }

    /// The admin port on `127.0.0.1`.
    pub fn admin_port(&self) -> u16 {
        self.admin.port()
    }

    /// The process id (of `taskset`'s exec'd Envoy when pinned: taskset
    /// execs, so it is the same process).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the process is still running (it may have crashed).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// The config file Envoy runs on.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("envoy.yaml")
    }

    /// The file Envoy's stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Resident set size, in KiB.
    ///
    /// # Errors
    ///
    /// [`EnvoyError::Proc`] when the process is gone.
    pub fn rss_kib(&self) -> Result<u64, EnvoyError> {
        Ok(self.process.rss_kib()?)
    }

    /// User plus system CPU time of the whole process, in clock ticks.
    ///
    /// # Errors
    ///
    /// [`EnvoyError::Proc`] when the process is gone.
    pub fn cpu_ticks(&self) -> Result<u64, EnvoyError> {
        Ok(self.process.cpu_ticks()?)
    }

    /// `GET` an admin path (e.g. `/clusters`, `/stats/prometheus`).
    ///
    /// # Errors
    ///
    /// [`EnvoyError::Admin`] when admin does not answer.
    pub fn admin_get(&self, path: &str) -> Result<HttpResponse, EnvoyError> {
        self.admin_client
            .get_blocking(self.admin_port(), path, &[])
            .map_err(|e| self.admin_error(path, format!("{e:#}")))
    }

    fn admin_error(&self, path: &str, problem: String) -> EnvoyError {
        EnvoyError::Admin {
            path: path.to_owned(),
            problem,
            tail: self.process.log_tail(LOG_TAIL_LINES),
        }
    }

    /// Every counter and gauge, from `/stats?format=json`.
    ///
    /// # Errors
    ///
    /// [`EnvoyError::Admin`] when admin does not answer or the answer does
    /// not parse (the log tail is in the error).
    pub fn stats(&self) -> Result<HashMap<String, u64>, EnvoyError> {
        const PATH: &str = "/stats?format=json";
        let response = self.admin_get(PATH)?;
        admin::parse_stats_json(&response.body).map_err(|problem| self.admin_error(PATH, problem))
    }

    /// One counter or gauge, `None` if Envoy has no stat of that name.
    ///
    /// # Errors
    ///
    /// As [`EnvoyProcess::stats`].
    pub fn stat(&self, name: &str) -> Result<Option<u64>, EnvoyError> {
        Ok(self.stats()?.remove(name))
    }

    /// Polls until stat `name` is at least `min` or `timeout` passes;
    /// returns its last value (0 if absent).
    ///
    /// # Errors
    ///
    /// As [`EnvoyProcess::stats`].
    pub fn wait_for_stat(
        &self,
        name: &str,
        min: u64,
        timeout: Duration,
    ) -> Result<u64, EnvoyError> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.stat(name)?.unwrap_or(0);
            if value >= min || Instant::now() >= deadline {
                return Ok(value);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The admin address from `--admin-address-path`'s file, once admin
/// `/ready` answers `LIVE` there.
fn live_admin(address_file: &Path, probe: &HttpClient) -> Option<SocketAddr> {
    let admin = std::fs::read_to_string(address_file)
        .ok()?
        .trim()
        .parse::<SocketAddr>()
        .ok()?;
    let live = probe
        .get_blocking(admin.port(), "/ready", &[])
        .is_ok_and(|r| r.status == 200 && r.text().trim() == "LIVE");
    live.then_some(admin)
}
