//! A guard that runs a real nats-server (core NATS plus JetStream) on
//! loopback and kills it on drop.
//!
//! Each server gets its own temp dir holding the JetStream store
//! (`--store_dir`), the server's log (`-l`), its stdout/stderr (where
//! nats-server reports a bad flag or config before its logger starts) and
//! its ports file. Ports are chosen by the server itself (`-p -1`,
//! `-m -1`) and read back from the file `--ports_file_dir` makes it write,
//! so there is no window in which another process could take a port picked
//! for it (see [`crate::ports`]); [`NatsOptions::with_port`] pins the
//! client port instead, e.g. to restart a server where clients expect it.
//! Startup ends when the monitoring endpoint's `/healthz` answers 200 and
//! the client port accepts a connection.
//!
//! Modelled on the `nats-server` helper crate of nats.rs.
//!
//! ```no_run
//! use meshtrace_harness::nats::{NatsOptions, NatsServer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = NatsServer::start()?;
//! let client = async_nats::connect(server.url()).await?;
//! client.publish("orders.created", "hello".into()).await?;
//!
//! let small = NatsServer::start_with(NatsOptions::default().with_max_payload(1024))?;
//! println!("{} and {}", server.url(), small.url());
//! # Ok(())
//! # }
//! ```

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::http_client::HttpClient;
use crate::process::{
    ChildProcess, LOG_TAIL_LINES, Output, SpawnError, StartupError, read_lossy, tail,
};
use crate::tools::{ToolError, nats_server_binary};

/// The server's own log (`-l`), in the guard's temp dir.
const LOG_FILE: &str = "nats-server.log";
/// The server's stdout and stderr, in the guard's temp dir.
const STDERR_FILE: &str = "nats-server.stderr";
/// The directory `--ports_file_dir` points at, in the guard's temp dir.
const PORTS_DIR: &str = "ports";
/// The JetStream store (`--store_dir`), in the guard's temp dir.
const STORE_DIR: &str = "jetstream";
/// The config file written when an option has no command-line flag.
const CONFIG_FILE: &str = "nats-server.conf";

/// nats-server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// nats-server is not installed.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// Its temp dir or config file could not be written.
    #[error("cannot prepare nats-server's files: {0}")]
    Files(#[source] std::io::Error),
    /// The process could not be run.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// It exited or was not healthy in time (the message holds the tail of
    /// its log and the head of its stderr).
    #[error("{source}{stderr}")]
    Startup {
        /// What happened.
        source: StartupError,
        /// The head of its stdout/stderr (a bad flag's message comes
        /// first, before the usage text), if it wrote any.
        stderr: String,
    },
}

/// How to run nats-server.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// Run JetStream (`-js`, store in the temp dir). Default `true`.
    pub jetstream: bool,
    /// The client port; `None` (the default) lets the server pick a free
    /// one.
    pub port: Option<u16>,
    /// `max_payload` in bytes (config file only; the server default is
    /// 1 MiB). Default `None`.
    pub max_payload: Option<u32>,
    /// How long the server may take to become healthy. Default 10 s.
    pub ready_timeout: Duration,
    /// More command-line arguments, appended last (e.g. `-DV`).
    pub extra_args: Vec<String>,
}

/// A running nats-server on `127.0.0.1`; killed (SIGKILL) and its temp dir
/// removed on drop.
#[derive(Debug)]
pub struct NatsServer {
    process: ChildProcess,
    port: u16,
    monitor_port: u16,
    // Dropped after `process`: nothing writes into it any more.
    dir: TempDir,
}

/// The ports nats-server reported in its ports file.
struct Ports {
    client: u16,
    monitor: u16,
}

// === impl NatsOptions ===

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            jetstream: true,
            port: None,
            max_payload: None,
            ready_timeout: Duration::from_secs(10),
            extra_args: Vec::new(),
        }
    }
}

impl NatsOptions {
    /// Turns JetStream on or off.
    pub fn with_jetstream(mut self, jetstream: bool) -> Self {
        self.jetstream = jetstream;
        self
    }

    /// Pins the client port (instead of letting the server pick one).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets `max_payload` in bytes.
    pub fn with_max_payload(mut self, bytes: u32) -> Self {
        self.max_payload = Some(bytes);
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

// === impl NatsServer ===

impl NatsServer {
    /// Starts core NATS plus JetStream with [`NatsOptions::default`].
    ///
    /// # Errors
    ///
    /// As [`NatsServer::start_with`].
    pub fn start() -> Result<Self, NatsError> {
        Self::start_with(NatsOptions::default())
    }

    /// Starts a server with `opts` and waits until it is healthy: the
    /// monitoring endpoint's `/healthz` answers 200 and the client port
    /// accepts a connection.
    ///
    /// # Errors
    ///
    /// [`NatsError`]: nats-server missing, its files not writable, or (with
    /// the tail of its log) it exits or is not healthy within
    /// [`NatsOptions::ready_timeout`].
    pub fn start_with(opts: NatsOptions) -> Result<Self, NatsError> {
        let mut server = Self::spawn(&opts)?;
        // JetStream health (stream and consumer state) is checked by plain
        // `/healthz` too; `js-enabled-only` just asks that it is running.
        let health = if opts.jetstream {
            "/healthz?js-enabled-only=true"
        } else {
            "/healthz"
        };
        let probe = HttpClient::new().with_timeout(Duration::from_secs(1));
        let mut found = None;
        let started = server.process.wait_until(opts.ready_timeout, |process| {
            found = read_ports(&server.dir, process.pid()).filter(|ports| {
                let healthy = probe
                    .get_blocking(ports.monitor, health, &[])
                    .is_ok_and(|r| r.status == 200);
                healthy
                    && TcpStream::connect_timeout(
                        &SocketAddr::from((Ipv4Addr::LOCALHOST, ports.client)),
                        Duration::from_secs(1),
                    )
                    .is_ok()
            });
            found.is_some()
        });
        if let Err(source) = started {
            return Err(NatsError::Startup {
                source,
                stderr: server.stderr_head(),
            });
        }
        if let Some(ports) = found {
            server.port = ports.client;
            server.monitor_port = ports.monitor;
        }
        Ok(server)
    }

    fn spawn(opts: &NatsOptions) -> Result<Self, NatsError> {
        let binary = nats_server_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("meshtrace-nats-")
            .tempdir()
            .map_err(NatsError::Files)?;
        let ports_dir = dir.path().join(PORTS_DIR);
        std::fs::create_dir(&ports_dir).map_err(NatsError::Files)?;
        let port = opts.port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let mut cmd = Command::new(&binary);
        cmd.args(["-a", "127.0.0.1", "-p", &port, "-m", "-1"])
            .arg("-l")
            .arg(dir.path().join(LOG_FILE))
            .arg("--ports_file_dir")
            .arg(&ports_dir);
        if opts.jetstream {
            cmd.arg("-js")
                .arg("--store_dir")
                .arg(dir.path().join(STORE_DIR));
        }
        if let Some(max_payload) = opts.max_payload {
            // No flag for it: a config file, which the flags above override.
            let config = dir.path().join(CONFIG_FILE);
            std::fs::write(&config, format!("max_payload: {max_payload}\n"))
                .map_err(NatsError::Files)?;
            cmd.arg("-c").arg(config);
        }
        cmd.args(&opts.extra_args);
        let process = ChildProcess::spawn(
            "nats-server",
            &mut cmd,
            Output::Log(dir.path().join(STDERR_FILE)),
        )?;
        Ok(Self {
            process,
            port: 0,
            monitor_port: 0,
            dir,
        })
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP monitoring port on `127.0.0.1` (`/varz`, `/connz`,
    /// `/jsz`, `/healthz`).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the process is still running (it may have crashed).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// The JetStream store directory (inside the temp dir, so removed on
    /// drop).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join(STORE_DIR)
    }

    /// The file the server logs to (`-l`).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(LOG_FILE)
    }

    /// Everything the server logged so far, followed by anything it wrote
    /// to stdout or stderr (errors before its logger starts).
    pub fn log(&self) -> String {
        let mut log = read_lossy(&self.log_path());
        let stderr = self.process.log();
        if !stderr.trim().is_empty() {
            if !log.is_empty() && !log.ends_with('\n') {
                log.push('\n');
            }
            log.push_str("--- stdout/stderr ---\n");
            log.push_str(&stderr);
        }
        log
    }

    /// The tail of the server's own log and the head of its stderr, for
    /// startup errors (the process guard quotes the stderr file's tail).
    fn stderr_head(&self) -> String {
        let mut text = String::new();
        let log = tail(&read_lossy(&self.log_path()), LOG_TAIL_LINES);
        if !log.is_empty() {
            text.push_str("\n--- nats-server.log (tail) ---\n");
            text.push_str(&log);
        }
        let stderr = self.process.log();
        if !stderr.trim().is_empty() {
            let head: Vec<&str> = stderr.lines().take(LOG_TAIL_LINES).collect();
            text.push_str("\n--- stdout/stderr (head) ---\n");
            text.push_str(&head.join("\n"));
        }
        text
    }
}

/// The ports from `<binary name>_<pid>.ports` in the guard's dir, once the
/// server has written all of it.
fn read_ports(dir: &TempDir, pid: u32) -> Option<Ports> {
    let suffix = format!("_{pid}.ports");
    let file = std::fs::read_dir(dir.path().join(PORTS_DIR))
        .ok()?
        .filter_map(|entry| entry.ok())
        .find(|entry| entry.file_name().to_string_lossy().ends_with(&suffix))?;
    parse_ports(&std::fs::read(file.path()).ok()?)
}

/// Parses a ports file, `{"nats":["nats://127.0.0.1:4222"],
/// "monitoring":["http://127.0.0.1:8222"]}`; `None` if it is incomplete.
fn parse_ports(json: &[u8]) -> Option<Ports> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let port = |key: &str| -> Option<u16> {
        let url = value.get(key)?.get(0)?.as_str()?;
        url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
    };
    Some(Ports {
        client: port("nats")?,
        monitor: port("monitoring")?,
    })
}
