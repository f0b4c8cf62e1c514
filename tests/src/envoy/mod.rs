//! A guard that runs a real Envoy on a test config and kills it on drop,
//! plus config rendering and validation.
//!
//! Each Envoy runs with `--disable-hot-restart` (no shared memory, no
//! domain socket), so any number coexist, and `--admin-address-path`, so the
//! guard learns the admin address even when the config binds admin to
//! port 0. Its stdout and stderr go to a log file in the guard's temp dir.
//!
//! ```no_run
//! use meshtrace_tests::envoy::{EnvoyOptions, EnvoyProcess, config_template, render};
//! use meshtrace_tests::ports::free_port;
//!
//! # fn main() -> anyhow::Result<()> {
//! let yaml = render(
//!     &config_template("inbound.yaml")?,
//!     &[("9901", free_port().to_string()), ("10000", free_port().to_string())],
//! )?;
//! let envoy = EnvoyProcess::start(&yaml, EnvoyOptions::default())?;
//! println!("{:?} RSS {} KiB", envoy.stat("server.live"), envoy.rss_kib());
//! # Ok(())
//! # }
//! ```

mod admin;
mod config;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tempfile::TempDir;

pub use config::{config_path, config_template, render, validate, validate_yaml};

use crate::http_client::{HttpClient, HttpResponse};
use crate::tools::envoy_binary;

/// How many log lines an error or panic message quotes.
const LOG_TAIL_LINES: usize = 60;
/// How often startup is checked.
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
    /// More command-line arguments, appended last.
    pub extra_args: Vec<String>,
}

/// A running Envoy; killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct EnvoyProcess {
    child: Mutex<Child>,
    pid: u32,
    admin: SocketAddr,
    admin_client: HttpClient,
    dir: TempDir,
}

/// How a started Envoy came out of startup.
enum Startup {
    Live(SocketAddr),
    Exited(ExitStatus),
    TimedOut,
}

// === impl EnvoyOptions ===

impl Default for EnvoyOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            log_level: "info".into(),
            component_log_level: None,
            ready_timeout: Duration::from_secs(20),
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
    /// Fails with the tail of Envoy's log if it exits or is not live within
    /// [`EnvoyOptions::ready_timeout`].
    ///
    /// # Panics
    ///
    /// If the Envoy binary is missing (run `cargo xtask setup`).
    pub fn start(config_yaml: &str, opts: EnvoyOptions) -> Result<Self> {
        let (mut process, deadline) = Self::spawn(config_yaml, &opts)?;
        match process.wait_startup(deadline) {
            Startup::Live(admin) => {
                process.admin = admin;
                Ok(process)
            }
            Startup::Exited(status) => bail!(
                "envoy exited ({status}) before becoming ready; log tail:\n{}",
                process.log_tail()
            ),
            Startup::TimedOut => bail!(
                "envoy not LIVE on admin /ready within {:?}; log tail:\n{}",
                opts.ready_timeout,
                process.log_tail()
            ),
        }
    }

    /// Runs Envoy on a config expected to be refused and returns its log
    /// once it exits non-zero.
    ///
    /// # Panics
    ///
    /// If Envoy becomes live, exits zero, or is still running after
    /// [`EnvoyOptions::ready_timeout`] (the log is in the message); or if
    /// the binary is missing.
    pub fn start_expect_failure(config_yaml: &str, opts: EnvoyOptions) -> String {
        let (process, deadline) =
            Self::spawn(config_yaml, &opts).unwrap_or_else(|e| panic!("cannot run envoy: {e:#}"));
        match process.wait_startup(deadline) {
            Startup::Exited(status) if !status.success() => process.log(),
            Startup::Exited(status) => {
                panic!(
                    "envoy exited with {status}, expected a failure; log:\n{}",
                    process.log()
                )
            }
            Startup::Live(_) => {
                panic!(
                    "envoy started although it should have failed; log:\n{}",
                    process.log()
                )
            }
            Startup::TimedOut => panic!(
                "envoy neither failed nor became live within {:?}; log:\n{}",
                opts.ready_timeout,
                process.log()
            ),
        }
    }

    fn spawn(config_yaml: &str, opts: &EnvoyOptions) -> Result<(Self, Instant)> {
        let binary = envoy_binary();
        let dir = tempfile::Builder::new()
            .prefix("meshtrace-envoy-")
            .tempdir()
            .context("cannot create a temp dir for Envoy")?;
        let config = dir.path().join("envoy.yaml");
        std::fs::write(&config, config_yaml).context("cannot write the Envoy config")?;
        let log = File::create(dir.path().join("envoy.log")).context("cannot create the log")?;
        let mut cmd = Command::new(&binary);
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
        cmd.args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cannot share the log file")?)
            .stderr(log);
        let deadline = Instant::now() + opts.ready_timeout;
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        let process = Self {
            pid: child.id(),
            child: Mutex::new(child),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_client: HttpClient::new().with_timeout(Duration::from_secs(5)),
            dir,
        };
        Ok((process, deadline))
    }

    /// Polls until Envoy exits, answers `LIVE`, or `deadline` passes.
    fn wait_startup(&self, deadline: Instant) -> Startup {
        let address_file = self.dir.path().join("admin-address");
        let probe = HttpClient::new().with_timeout(Duration::from_secs(1));
        loop {
            if let Ok(Some(status)) = self.lock_child().try_wait() {
                return Startup::Exited(status);
            }
            let admin = std::fs::read_to_string(&address_file)
                .ok()
                .and_then(|a| a.trim().parse::<SocketAddr>().ok());
            if let Some(admin) = admin {
                let live = probe
                    .get_blocking(admin.port(), "/ready", &[])
                    .is_ok_and(|r| r.status == 200 && r.text().trim() == "LIVE");
                if live {
                    return Startup::Live(admin);
                }
            }
            if Instant::now() >= deadline {
                return Startup::TimedOut;
            }
            std::thread::sleep(POLL);
        }
    }

    fn lock_child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The admin port on `127.0.0.1`.
    pub fn admin_port(&self) -> u16 {
        self.admin.port()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process is still running (it may have crashed).
    pub fn is_running(&self) -> bool {
        matches!(self.lock_child().try_wait(), Ok(None))
    }

    /// The config file Envoy runs on.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("envoy.yaml")
    }

    /// The file Envoy's stdout and stderr go to.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("envoy.log")
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    fn log_tail(&self) -> String {
        admin::tail(&self.log(), LOG_TAIL_LINES)
    }

    /// Resident set size from `/proc/<pid>/status` (`VmRSS`), in KiB.
    ///
    /// # Panics
    ///
    /// If the process is gone or the file has no `VmRSS`.
    pub fn rss_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {path} (envoy gone?): {e}"));
        admin::parse_vm_rss_kib(&status).unwrap_or_else(|| panic!("no VmRSS in {path}"))
    }

    /// `GET` an admin path (e.g. `/clusters`, `/stats/prometheus`).
    pub fn admin_get(&self, path: &str) -> Result<HttpResponse> {
        self.admin_client
            .get_blocking(self.admin_port(), path, &[])
            .with_context(|| format!("envoy admin GET {path}"))
    }

    /// Every counter and gauge, from `/stats?format=json`.
    ///
    /// # Panics
    ///
    /// If admin does not answer or the answer does not parse (the log tail
    /// is in the message).
    pub fn stats(&self) -> HashMap<String, u64> {
        let parsed = self
            .admin_get("/stats?format=json")
            .and_then(|r| admin::parse_stats_json(&r.body));
        parsed.unwrap_or_else(|e| panic!("{e:#}; envoy log tail:\n{}", self.log_tail()))
    }

    /// One counter or gauge, `None` if Envoy has no stat of that name.
    ///
    /// # Panics
    ///
    /// As [`EnvoyProcess::stats`].
    pub fn stat(&self, name: &str) -> Option<u64> {
        self.stats().remove(name)
    }

    /// Polls until stat `name` is at least `min` or `timeout` passes;
    /// returns its last value (0 if absent).
    ///
    /// # Panics
    ///
    /// As [`EnvoyProcess::stats`].
    pub fn wait_for_stat(&self, name: &str, min: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.stat(name).unwrap_or(0);
            if value >= min || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        let mut child = self.lock_child();
        // Already exited if kill fails; wait reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
