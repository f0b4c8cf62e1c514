//! The one guard every child process of the tests, the demo and the
//! benchmarks runs under: spawned with its output in a log file (or piped
//! to the caller), polled through startup, measured through `/proc`, and
//! killed (SIGKILL) and reaped on drop, panics and early returns included.
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//!
//! use meshtrace_harness::process::{ChildProcess, Output};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut cmd = Command::new("sleep");
//! cmd.arg("60");
//! let child = ChildProcess::spawn("sleep", &mut cmd, Output::Log(dir.path().join("sleep.log")))?;
//! child.wait_until(Duration::from_secs(1), |_| true)?;
//! println!("pid {} uses {} KiB", child.pid(), child.rss_kib()?);
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many log lines an error quotes.
pub const LOG_TAIL_LINES: usize = 60;
/// How often [`ChildProcess::wait_until`] polls.
const POLL: Duration = Duration::from_millis(25);

/// Where a child's stdout and stderr go.
#[derive(Debug, Clone)]
pub enum Output {
    /// Both into this file (created or truncated).
    Log(PathBuf),
    /// stdout piped to the caller ([`ChildProcess::take_stdout`]), stderr
    /// into this file; stdin piped too ([`ChildProcess::take_stdin`]).
    Piped(PathBuf),
}

/// A child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Its log file could not be created.
    #[error("cannot create the log file {path} for {name}: {source}")]
    Log {
        /// The process's name.
        name: String,
        /// The log file.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The program could not be run.
    #[error("cannot run {program} ({name}): {source}")]
    Run {
        /// The process's name.
        name: String,
        /// The program.
        program: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// A started child did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// It exited first.
    #[error("{name} exited ({status}) before it was ready; log tail:\n{tail}")]
    Exited {
        /// The process's name.
        name: String,
        /// How it exited.
        status: ExitStatus,
        /// The end of its log.
        tail: String,
    },
    /// It was still not ready when the time was up.
    #[error("{name} not ready within {timeout:?}; log tail:\n{tail}")]
    TimedOut {
        /// The process's name.
        name: String,
        /// The limit.
        timeout: Duration,
        /// The end of its log.
        tail: String,
    },
}

/// `/proc/<pid>/...` could not be read or had not the expected field.
#[derive(Debug, thiserror::Error)]
#[error("reading {path} of {name}: {problem}")]
pub struct ProcError {
    /// The process's name.
    pub name: String,
    /// The file.
    pub path: String,
    /// What went wrong.
    pub problem: String,
}

/// A running child; killed and reaped on drop.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    pid: u32,
    child: Mutex<Child>,
    log: PathBuf,
}

// === impl ChildProcess ===

impl ChildProcess {
    /// Runs `cmd` (stdin from `/dev/null` unless `output` pipes it) with its
    /// output where `output` says. `name` is what errors call it.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the log file cannot be created or the program
    /// cannot be run.
    pub fn spawn(name: &str, cmd: &mut Command, output: Output) -> Result<Self, SpawnError> {
        let (log, piped) = match output {
            Output::Log(path) => (path, false),
            Output::Piped(path) => (path, true),
        };
        let log_error = |source| SpawnError::Log {
            name: name.to_owned(),
            path: log.display().to_string(),
            source,
        };
        let file = File::create(&log).map_err(log_error)?;
        if piped {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null())
                .stdout(file.try_clone().map_err(log_error)?);
        }
        cmd.stderr(file);
        let child = cmd.spawn().map_err(|source| SpawnError::Run {
            name: name.to_owned(),
            program: cmd.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        Ok(Self {
            name: name.to_owned(),
            pid: child.id(),
            child: Mutex::new(child),
            log,
        })
    }

    /// Polls `ready` until it says yes, the child exits, or `timeout`
    /// passes.
    ///
    /// # Errors
    ///
    /// [`StartupError`] with the tail of its log when it exits or is not
    /// ready in time.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&Self) -> bool,
    ) -> Result<(), StartupError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(StartupError::Exited {
                    name: self.name.clone(),
                    status,
                    tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            if ready(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartupError::TimedOut {
                    name: self.name.clone(),
                    timeout,
                    tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits up to `timeout` for the child to exit by itself; its status,
    /// `None` if it is still running.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Child> {
        // A test that panicked while holding the lock leaves a usable child.
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How it exited, `None` while it runs.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.lock().try_wait().ok().flatten()
    }

    /// Whether it is still running (it may have crashed).
    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Kills it (SIGKILL) and reaps it; a child that already exited is
    /// only reaped.
    pub fn kill(&self) {
        let mut child = self.lock();
        // Already exited if kill fails; wait reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Its stdin, once, when spawned with [`Output::Piped`]; dropping it
    /// closes the child's stdin.
    pub fn take_stdin(&self) -> Option<ChildStdin> {
        self.lock().stdin.take()
    }

    /// Its stdout, once, when spawned with [`Output::Piped`].
    pub fn take_stdout(&self) -> Option<ChildStdout> {
        self.lock().stdout.take()
    }

    /// What errors call it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The file its stderr (and, unless piped, its stdout) goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    /// User plus system CPU time of the whole process (every thread), in
    /// clock ticks, from `/proc/<pid>/stat`.
    ///
    /// # Errors
    ///
    /// [`ProcError`] when the process is gone or the file has no times.
    pub fn cpu_ticks(&self) -> Result<u64, ProcError> {
        let (path, stat) = self.proc_file("stat")?;
        parse_cpu_ticks(&stat).ok_or_else(|| self.proc_error(&path, "no utime/stime"))
    }

    /// Resident set size (`VmRSS` of `/proc/<pid>/status`), in KiB.
    ///
    /// # Errors
    ///
    /// [`ProcError`] when the process is gone or the file has no `VmRSS`.
    pub fn rss_kib(&self) -> Result<u64, ProcError> {
        let (path, status) = self.proc_file("status")?;
        parse_vm_rss_kib(&status).ok_or_else(|| self.proc_error(&path, "no VmRSS"))
    }

    fn proc_file(&self, file: &str) -> Result<(String, String), ProcError> {
        let path = format!("/proc/{}/{file}", self.pid);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(e) => Err(self.proc_error(&path, &format!("{e} (exited?)"))),
        }
    }

    fn proc_error(&self, path: &str, problem: &str) -> ProcError {
        ProcError {
            name: self.name.clone(),
            path: path.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A file's contents as (lossy) UTF-8, empty when it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
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

/// `VmRSS` from the text of `/proc/<pid>/status`, in KiB.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_in(dir: &tempfile::TempDir, name: &str) -> Output {
        Output::Log(dir.path().join(name))
    }

    #[test]
    fn reads_utime_plus_stime() {
        let stat =
            "4242 (envoy main) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(1290));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tenvoy\nVmPeak:\t  99 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss_kib(status), Some(51234));
        assert_eq!(parse_vm_rss_kib("Name:\tzombie\n"), None, "no VmRSS line");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn an_exit_before_ready_names_the_process_and_quotes_its_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo starting; echo broken config >&2; exit 3"]);
        let child = ChildProcess::spawn("broken", &mut cmd, log_in(&dir, "b.log")).expect("runs");
        let err = child
            .wait_until(Duration::from_secs(10), |_| false)
            .expect_err("it exits");
        let text = err.to_string();
        assert!(matches!(err, StartupError::Exited { .. }), "{text}");
        assert!(text.contains("broken exited"), "{text}");
        assert!(
            text.contains("starting") && text.contains("broken config"),
            "{text}"
        );
    }

    #[test]
    fn a_slow_start_times_out_and_drop_kills_the_child() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("sleep");
        cmd.arg("60");
        let child = ChildProcess::spawn("sleeper", &mut cmd, log_in(&dir, "s.log")).expect("runs");
        let err = child
            .wait_until(Duration::from_millis(100), |_| false)
            .expect_err("never ready");
        assert!(matches!(err, StartupError::TimedOut { .. }), "{err}");
        assert!(child.cpu_ticks().is_ok() && child.rss_kib().is_ok());
        let pid = child.pid();
        drop(child);
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty(),
            "pid {pid} still there after drop: {state}"
        );
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("/nonexistent/meshtrace-tool");
        let err = ChildProcess::spawn("tool", &mut cmd, log_in(&dir, "t.log")).expect_err("fails");
        assert!(
            err.to_string().contains("/nonexistent/meshtrace-tool"),
            "{err}"
        );
    }

    #[test]
    fn piped_children_take_stdin_and_stdout() {
        use std::io::{BufRead as _, BufReader, Write as _};

        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "read line; echo got $line"]);
        let child = ChildProcess::spawn("echo", &mut cmd, Output::Piped(dir.path().join("e.log")))
            .expect("runs");
        let mut stdin = child.take_stdin().expect("stdin piped");
        let stdout = child.take_stdout().expect("stdout piped");
        writeln!(stdin, "hello").expect("write");
        drop(stdin);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "got hello");
        assert!(
            child
                .wait_exit(Duration::from_secs(10))
                .is_some_and(|s| s.success())
        );
    }
}
