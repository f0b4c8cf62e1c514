//! One Envoy process pinned to one core: started on a rendered config,
//! ready once its admin `/ready` answers, measured through
//! `/proc/<pid>/stat` and its admin `/stats`, killed on drop.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Envoy may take to become ready (V8 compiles the module).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why Envoy could not be run or read.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    /// Writing the config or starting the process failed.
    #[error("starting `{command}`: {source}")]
    Start {
        /// The command line.
        command: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Envoy exited or never answered `/ready`.
    #[error("Envoy did not become ready within {timeout:?} (log: {log})")]
    NotReady {
        /// The limit.
        timeout: Duration,
        /// Its log file.
        log: String,
    },
    /// Reading `/proc/<pid>/stat` failed or it had no CPU times.
    #[error("reading the CPU time of Envoy (pid {pid}): {problem}")]
    Cpu {
        /// Envoy's pid.
        pid: u32,
        /// What went wrong.
        problem: String,
    },
    /// An admin request failed.
    #[error("Envoy admin `{path}`: {problem}")]
    Admin {
        /// The admin path.
        path: String,
        /// What went wrong.
        problem: String,
    },
}

/// A running Envoy; killed on drop.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    admin_port: u16,
    log: PathBuf,
}

// === impl Envoy ===

impl Envoy {
    /// Writes `yaml` into `dir` and starts `binary` on it, pinned with
    /// `taskset -c <core>`, `--concurrency 1`; waits until it is ready.
    pub fn start(
        binary: &Path,
        core: u32,
        yaml: &str,
        dir: &Path,
        admin_port: u16,
    ) -> Result<Self, EnvoyError> {
        let config = dir.join("envoy.yaml");
        let log = dir.join("envoy.log");
        let io_err = |command: String| move |source| EnvoyError::Start { command, source };
        fs::write(&config, yaml).map_err(io_err(format!("writing {}", config.display())))?;
        let log_file =
            fs::File::create(&log).map_err(io_err(format!("creating {}", log.display())))?;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c")
            .arg(core.to_string())
            .arg(binary)
            .arg("--config-path")
            .arg(&config)
            .args(["--concurrency", "1", "--disable-hot-restart"])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = cmd
            .spawn()
            .map_err(io_err(format!("taskset -c {core} {}", binary.display())))?;
        let mut envoy = Self {
            child,
            admin_port,
            log,
        };
        envoy.wait_ready()?;
        Ok(envoy)
    }

    fn wait_ready(&mut self) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            if let Ok((200, _)) = admin_get(self.admin_port, "/ready") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(EnvoyError::NotReady {
            timeout: READY_TIMEOUT,
            log: self.log.display().to_string(),
        })
    }

    /// Envoy's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU time of the whole process (every thread), in
    /// clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64, EnvoyError> {
        let pid = self.pid();
        let stat =
            fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| EnvoyError::Cpu {
                pid,
                problem: e.to_string(),
            })?;
        parse_cpu_ticks(&stat).ok_or_else(|| EnvoyError::Cpu {
            pid,
            problem: format!("no utime/stime in {stat:?}"),
        })
    }

    /// The value of counter `name` in admin `/stats`.
    pub fn counter(&self, name: &str) -> Result<u64, EnvoyError> {
        let path = format!("/stats?filter=^{}$", name.replace('.', "\\."));
        let (status, body) = admin_get(self.admin_port, &path)?;
        if status != 200 {
            return Err(EnvoyError::Admin {
                path,
                problem: format!("status {status}"),
            });
        }
        Ok(parse_counter(&body, name).unwrap_or(0))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime (field 14) plus stime (field 15) of a `/proc/<pid>/stat` line.
/// Fields are counted after the `)` closing the command name, which may
/// itself hold spaces.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The value of `name` in admin `/stats` text (`name: value` lines).
pub fn parse_counter(stats: &str, name: &str) -> Option<u64> {
    stats.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().parse().ok())?
    })
}

/// A blocking `GET` on the admin port: status and body.
pub fn admin_get(port: u16, path: &str) -> Result<(u16, String), EnvoyError> {
    let fail = |problem: String| EnvoyError::Admin {
        path: path.to_owned(),
        problem,
    };
    let mut stream =
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| fail(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| fail(e.to_string()))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("no header end".to_owned()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| fail(format!("bad status line in {head:?}")))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_plus_stime() {
        let stat =
            "4242 (envoy main) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(1290));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_a_counter_by_exact_name() {
        let stats = "http.ingress.downstream_rq_completed: 1200\nhttp.ingress.downstream_rq_completed_x: 3\n";
        assert_eq!(
            parse_counter(stats, "http.ingress.downstream_rq_completed"),
            Some(1200)
        );
        assert_eq!(parse_counter(stats, "missing"), None);
    }
}
