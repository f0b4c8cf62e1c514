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
//! use meshtrace_tests::nats::{NatsOptions, NatsServer};
//!
//! # async fn run() -> anyhow::Result<()> {
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

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tempfile::TempDir;

use crate::http_client::HttpClient;
use crate::tools::nats_server_binary;

/// How many lines of log (and of stderr) an error message quotes.
const LOG_TAIL_LINES: usize = 60;
/// How often startup is checked.
const POLL: Duration = Duration::from_millis(25);
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
    child: Mutex<Child>,
    pid: u32,
    port: u16,
    monitor_port: u16,
    dir: TempDir,
}

/// How a started server came out of startup.
enum Startup {
    Ready,
    Exited(ExitStatus),
    TimedOut,
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
    ///
    /// # Panics
    ///
    /// If the nats-server binary is missing (run `cargo xtask setup`).
    pub fn start() -> Result<Self> {
        Self::start_with(NatsOptions::default())
    }

    /// Starts a server with `opts` and waits until it is healthy.
    ///
    /// # Errors
    ///
    /// If the temp dir cannot be set up or the server cannot be run; with
    /// the tail of the server's log if it exits or is not healthy within
    /// [`NatsOptions::ready_timeout`].
    ///
    /// # Panics
    ///
    /// If the nats-server binary is missing (run `cargo xtask setup`).
    pub fn start_with(opts: NatsOptions) -> Result<Self> {
        let mut server = Self::spawn(&opts)?;
        match server.wait_startup(&opts) {
            Startup::Ready => Ok(server),
            Startup::Exited(status) => bail!(
                "nats-server exited ({status}) before becoming ready; log tail:\n{}",
                server.log_tail()
            ),
            Startup::TimedOut => bail!(
                "nats-server not healthy within {:?}; log tail:\n{}",
                opts.ready_timeout,
                server.log_tail()
            ),
        }
    }

    fn spawn(opts: &NatsOptions) -> Result<Self> {
        let binary = nats_server_binary();
        let dir = tempfile::Builder::new()
            .prefix("meshtrace-nats-")
            .tempdir()
            .context("cannot create a temp dir for nats-server")?;
        let ports_dir = dir.path().join(PORTS_DIR);
        std::fs::create_dir(&ports_dir).context("cannot create the ports file dir")?;
        let stderr = File::create(dir.path().join(STDERR_FILE))
            .context("cannot create the nats-server stderr file")?;
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
                .context("cannot write the nats-server config")?;
            cmd.arg("-c").arg(config);
        }
        cmd.args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().context("cannot share the stderr file")?)
            .stderr(stderr);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        Ok(Self {
            pid: child.id(),
            child: Mutex::new(child),
            port: 0,
            monitor_port: 0,
            dir,
        })
    }

    /// Polls until the server exits, is healthy, or the deadline passes;
    /// records the ports once it is healthy.
    fn wait_startup(&mut self, opts: &NatsOptions) -> Startup {
        let deadline = Instant::now() + opts.ready_timeout;
        // JetStream health (stream and consumer state) is checked by plain
        // `/healthz` too; `js-enabled-only` just asks that it is running.
        let health = if opts.jetstream {
            "/healthz?js-enabled-only=true"
        } else {
            "/healthz"
        };
        let probe = HttpClient::new().with_timeout(Duration::from_secs(1));
        loop {
            if let Ok(Some(status)) = self.lock_child().try_wait() {
                return Startup::Exited(status);
            }
            if let Some(ports) = self.read_ports() {
                let healthy = probe
                    .get_blocking(ports.monitor, health, &[])
                    .is_ok_and(|r| r.status == 200);
                let accepts = healthy
                    && TcpStream::connect_timeout(
                        &SocketAddr::from((Ipv4Addr::LOCALHOST, ports.client)),
                        Duration::from_secs(1),
                    )
                    .is_ok();
                if accepts {
                    self.port = ports.client;
                    self.monitor_port = ports.monitor;
                    return Startup::Ready;
                }
            }
            if Instant::now() >= deadline {
                return Startup::TimedOut;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The ports from `<binary name>_<pid>.ports`, once the server has
    /// written all of it.
    fn read_ports(&self) -> Option<Ports> {
        let suffix = format!("_{}.ports", self.pid);
        let file = std::fs::read_dir(self.dir.path().join(PORTS_DIR))
            .ok()?
            .filter_map(|entry| entry.ok())
            .find(|entry| entry.file_name().to_string_lossy().ends_with(&suffix))?;
        parse_ports(&std::fs::read(file.path()).ok()?)
    }

    fn lock_child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
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
        self.pid
    }

    /// Whether the process is still running (it may have crashed).
    pub fn is_running(&self) -> bool {
        matches!(self.lock_child().try_wait(), Ok(None))
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
        let stderr = read_lossy(&self.dir.path().join(STDERR_FILE));
        if !stderr.trim().is_empty() {
            if !log.is_empty() && !log.ends_with('\n') {
                log.push('\n');
            }
            log.push_str("--- stdout/stderr ---\n");
            log.push_str(&stderr);
        }
        log
    }

    /// The tail of the server's log and the head of its stderr (a bad
    /// flag's message comes first, before the usage text).
    fn log_tail(&self) -> String {
        let log = read_lossy(&self.log_path());
        let lines: Vec<&str> = log.lines().collect();
        let mut tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        let stderr = read_lossy(&self.dir.path().join(STDERR_FILE));
        if !stderr.trim().is_empty() {
            let head: Vec<&str> = stderr.lines().take(LOG_TAIL_LINES).collect();
            tail.push_str("\n--- stdout/stderr (head) ---\n");
            tail.push_str(&head.join("\n"));
        }
        tail
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let mut child = self.lock_child();
        // Already exited if kill fails; wait reaps it either way. The temp
        // dir goes after this, once nothing writes to it any more.
        let _ = child.kill();
        let _ = child.wait();
    }
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

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
