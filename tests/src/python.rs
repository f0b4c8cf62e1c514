//! The Python NATS peer: `tests/python/nats_peer.py`, a client built only
//! from PyPI packages (nats-py, cloudevents, opentelemetry-sdk), run as a
//! child process for the interop suite.
//!
//! [`PythonPeer::publish`] runs `nats_peer.py publish` to completion: it
//! sends CloudEvents from a real OTel PRODUCER span (tracestate `py=1`) in
//! one of four [`Mode`]s and reports what it sent as [`Published`].
//! [`PythonPeer::consume`] starts `nats_peer.py consume`, returns once its
//! subscription is registered with the server, and [`Consumer::wait`]
//! collects what the Python libraries made of each message as
//! [`Consumed`]: the context extracted with OTel's propagator, the event
//! decoded by the `cloudevents` SDK, the CONSUMER span started under it.
//!
//! Everything here blocks (child processes, no async runtime); from async
//! code, call it through `tokio::task::spawn_blocking`.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use meshtrace_harness::nats::NatsServer;
//! use meshtrace_tests::python::{Mode, PythonPeer};
//!
//! # fn run() -> anyhow::Result<()> {
//! let server = NatsServer::start()?;
//! let consumer = PythonPeer::consume(&server.url(), "orders", 1, Duration::from_secs(10))?;
//! let sent = PythonPeer::publish(&server.url(), "orders", Mode::Capitalised)?;
//! let received = consumer.wait()?;
//! assert_eq!(received[0].trace_id, sent.trace_id);
//! assert_eq!(received[0].parent_span_id.as_deref(), Some(sent.span_id.as_str()));
//! # Ok(())
//! # }
//! ```

#[cfg(test)]
mod tests;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use meshtrace_harness::process::{ChildProcess, Output};
use meshtrace_harness::tools::{python_binary, workspace_root};
use serde_json::Value;
use tempfile::TempDir;

/// The script, relative to the workspace root.
pub const SCRIPT: &str = "tests/python/nats_peer.py";
/// How long the peer may take to start, connect and subscribe (Python
/// imports on a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a run may take beyond its own timeout before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// How `nats_peer.py publish` puts the event and its trace context on the
/// wire (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// CloudEvents binary mode (`ce-*` headers from the SDK's HTTP
    /// binding), plus `traceparent`/`tracestate` headers.
    Binary,
    /// CloudEvents structured mode (`content-type:
    /// application/cloudevents+json`, the event as JSON), plus
    /// `traceparent`/`tracestate` headers.
    Structured,
    /// [`Mode::Binary`], but the trace headers written `Traceparent` and
    /// `Tracestate`, as Go's `http.Header` carrier canonicalises them.
    Capitalised,
    /// evalops/cerebro's `internal/events/jetstream.go`: its own JSON event
    /// with a top-level `traceparent`, only a `Nats-Msg-Id` header, no
    /// trace headers.
    Cerebro,
}

/// Options of `nats_peer.py publish` beyond the mode.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// How many events, each from its own span (`--count`). Default 1.
    pub count: usize,
    /// Publish through JetStream, adding this stream on the subject first
    /// (`--stream`). Default `None`: core NATS.
    pub stream: Option<String>,
}

/// Options of `nats_peer.py consume` beyond subject and count.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// How many messages to wait for (`--count`). Default 1.
    pub count: usize,
    /// How long to wait for all of them, from `ready` (`--timeout`).
    /// Default 10 s.
    pub timeout: Duration,
    /// Subscribe in this queue group (`--queue`). Default `None`.
    pub queue: Option<String>,
    /// Extract with OTel's `DefaultGetter` (exact, case-sensitive header
    /// names) instead of the peer's case-insensitive getter
    /// (`--case-sensitive`). Default `false`.
    pub case_sensitive: bool,
}

/// One event `nats_peer.py publish` sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The producer span's trace id (32 lowercase hex digits).
    pub trace_id: String,
    /// The producer span's id (16 lowercase hex digits).
    pub span_id: String,
    /// The `traceparent` sent (header, or JSON member in cerebro mode);
    /// also the event's `traceparent` extension.
    pub traceparent: String,
    /// The `tracestate` header sent (`py=1`), empty in cerebro mode.
    pub tracestate: String,
    /// The CloudEvent's `id`.
    pub event_id: String,
    /// The NATS headers sent, names as written (sorted by name: the JSON
    /// object's order is not kept).
    pub headers: Vec<(String, String)>,
}

/// What `nats_peer.py consume` made of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumed {
    /// The NATS subject it arrived on.
    pub nats_subject: String,
    /// The NATS headers as nats-py parsed them, names as received (sorted
    /// by name).
    pub headers: Vec<(String, String)>,
    /// `binary` (some `ce-` header) or `structured`.
    pub mode: String,
    /// The consumer span's trace id: the publisher's when a context was
    /// extracted.
    pub trace_id: String,
    /// The consumer span's own id.
    pub span_id: String,
    /// The extracted remote span id, `None` if no valid context was found.
    pub parent_span_id: Option<String>,
    /// Where the parent came from: `headers` (the OTel propagator on the
    /// NATS headers), `event` (the event's `traceparent` extension, when
    /// the headers had none), or `None`.
    pub context_from: Option<String>,
    /// Whether the consumer span is sampled (parent-based: the extracted
    /// flag).
    pub sampled: bool,
    /// The extracted tracestate as a header value, empty if none.
    pub tracestate: String,
    /// The CloudEvent's `id`, `None` if it did not decode.
    pub event_id: Option<String>,
    /// The CloudEvent's `type`.
    pub event_type: Option<String>,
    /// The CloudEvent's `source`.
    pub event_source: Option<String>,
    /// The event's `traceparent` extension (the creation context).
    pub ce_traceparent: Option<String>,
    /// The event's `tracestate` extension.
    pub ce_tracestate: Option<String>,
    /// The event's data as the SDK decoded it (JSON object, string, or
    /// `null`; binary data is in `data_base64` of the raw line).
    pub data: Value,
    /// Members the SDK rejected for their names (cerebro's
    /// `schema_version`, `tenant_id`) and the peer dropped before decoding.
    pub dropped_attributes: Vec<String>,
    /// Why the SDK could not decode the event, if it could not.
    pub decode_error: Option<String>,
}

/// Runs `nats_peer.py` (see the [module docs](self)).
#[derive(Debug)]
pub struct PythonPeer;

/// A running `nats_peer.py consume`, subscribed; killed on drop.
#[derive(Debug)]
pub struct Consumer {
    process: Process,
    deadline: Instant,
}

/// The script under the harness's process guard, its stdout lines
/// arriving on a channel, its stderr in a file; killed on drop.
#[derive(Debug)]
struct Process {
    process: ChildProcess,
    lines: Receiver<String>,
    // Holds the stderr file; dropped after `process`.
    _dir: TempDir,
}

// === impl Mode ===

impl Mode {
    /// The `--mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Binary => "binary",
            Mode::Structured => "structured",
            Mode::Capitalised => "capitalised",
            Mode::Cerebro => "cerebro",
        }
    }
}

// === impl PublishOptions ===

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            count: 1,
            stream: None,
        }
    }
}

impl PublishOptions {
    /// Sets how many events to publish.
    pub fn with_count(mut self, count: usize) -> Self {
        self.count = count;
        self
    }

    /// Publishes through JetStream into `stream`.
    pub fn with_stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = Some(stream.into());
        self
    }
}

// === impl ConsumeOptions ===

impl Default for ConsumeOptions {
    fn default() -> Self {
        Self {
            count: 1,
            timeout: Duration::from_secs(10),
            queue: None,
            case_sensitive: false,
        }
    }
}

impl ConsumeOptions {
    /// Sets how many messages to wait for.
    pub fn with_count(mut self, count: usize) -> Self {
        self.count = count;
        self
    }

    /// Sets how long to wait for all of them.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Subscribes in a queue group.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Extracts with OTel's case-sensitive `DefaultGetter`.
    pub fn with_case_sensitive(mut self, case_sensitive: bool) -> Self {
        self.case_sensitive = case_sensitive;
        self
    }
}

// === impl PythonPeer ===

impl PythonPeer {
    /// The script's path.
    pub fn script() -> PathBuf {
        workspace_root().join(SCRIPT)
    }

    /// Publishes one event to `subject` on `url` and returns what was
    /// sent.
    ///
    /// # Errors
    ///
    /// If the script fails (its stderr is in the message), takes over
    /// 30 s, or prints something that is not one [`Published`].
    pub fn publish(url: &str, subject: &str, mode: Mode) -> Result<Published> {
        let mut published = Self::publish_with(url, subject, mode, &PublishOptions::default())?;
        match (published.pop(), published.is_empty()) {
            (Some(one), true) => Ok(one),
            _ => bail!("nats_peer.py publish printed other than one event"),
        }
    }

    /// Publishes `opts.count` events, each from its own span.
    ///
    /// # Errors
    ///
    /// As [`PythonPeer::publish`].
    pub fn publish_with(
        url: &str,
        subject: &str,
        mode: Mode,
        opts: &PublishOptions,
    ) -> Result<Vec<Published>> {
        let count = opts.count.to_string();
        let mut args = vec![
            "publish",
            "--url",
            url,
            "--subject",
            subject,
            "--mode",
            mode.as_str(),
            "--count",
            &count,
        ];
        if let Some(stream) = &opts.stream {
            args.extend(["--stream", stream.as_str()]);
        }
        let mut process = Process::spawn(&args)?;
        let lines = process.finish(Instant::now() + GRACE)?;
        lines.iter().map(|line| Published::parse(line)).collect()
    }

    /// Starts a consumer of `count` messages on `subject` and returns once
    /// it is subscribed; it gives up `timeout` after that.
    ///
    /// # Errors
    ///
    /// As [`PythonPeer::consume_with`].
    pub fn consume(url: &str, subject: &str, count: usize, timeout: Duration) -> Result<Consumer> {
        let opts = ConsumeOptions::default()
            .with_count(count)
            .with_timeout(timeout);
        Self::consume_with(url, subject, &opts)
    }

    /// Starts a consumer with `opts` and returns once it is subscribed
    /// (the script printed `{"ready": true}` after a flush).
    ///
    /// # Errors
    ///
    /// If the script cannot be run, exits or prints something else first,
    /// or is not ready within 30 s; the message holds its stderr.
    pub fn consume_with(url: &str, subject: &str, opts: &ConsumeOptions) -> Result<Consumer> {
        let count = opts.count.to_string();
        let timeout = opts.timeout.as_secs_f64().to_string();
        let mut args = vec![
            "consume",
            "--url",
            url,
            "--subject",
            subject,
            "--count",
            &count,
            "--timeout",
            &timeout,
        ];
        if let Some(queue) = &opts.queue {
            args.extend(["--queue", queue.as_str()]);
        }
        if opts.case_sensitive {
            args.push("--case-sensitive");
        }
        let mut process = Process::spawn(&args)?;
        let line = match process.next_line(Instant::now() + READY_TIMEOUT) {
            Ok(Some(line)) => line,
            Ok(None) => return Err(process.failure("exited before it was ready")),
            Err(_) => return Err(process.failure("not ready within 30 s")),
        };
        let ready = serde_json::from_str::<Value>(&line)
            .is_ok_and(|v| v.get("ready") == Some(&Value::Bool(true)));
        if !ready {
            return Err(process.failure(&format!("printed {line:?} instead of ready")));
        }
        Ok(Consumer {
            process,
            deadline: Instant::now() + opts.timeout + GRACE,
        })
    }
}

// === impl Consumer ===

impl Consumer {
    /// Waits for the script to receive every message and exit, and
    /// returns what it made of them, in arrival order.
    ///
    /// # Errors
    ///
    /// If the script exits non-zero (e.g. its timeout passed: the message
    /// holds its stderr), runs past its timeout plus 30 s, or prints a line
    /// that is not a [`Consumed`].
    pub fn wait(mut self) -> Result<Vec<Consumed>> {
        let lines = self.process.finish(self.deadline)?;
        lines.iter().map(|line| Consumed::parse(line)).collect()
    }
}

// === impl Published ===

impl Published {
    /// Parses one line of `nats_peer.py publish`.
    ///
    /// # Errors
    ///
    /// If it is not JSON or a field is missing or malformed (named in the
    /// message).
    pub fn parse(line: &str) -> Result<Self> {
        let v = json_line(line)?;
        Ok(Self {
            trace_id: hex_field(&v, "trace_id", 32)?,
            span_id: hex_field(&v, "span_id", 16)?,
            traceparent: str_field(&v, "traceparent")?,
            tracestate: str_field(&v, "tracestate")?,
            event_id: str_field(&v, "event_id")?,
            headers: headers_field(&v, "headers")?,
        })
    }

    /// The value of the header sent with exactly this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

// === impl Consumed ===

impl Consumed {
    /// Parses one line of `nats_peer.py consume` (after `ready`).
    ///
    /// # Errors
    ///
    /// If it is not JSON or a field is missing or malformed (named in the
    /// message).
    pub fn parse(line: &str) -> Result<Self> {
        let v = json_line(line)?;
        let parent_span_id = match opt_str_field(&v, "parent_span_id")? {
            Some(_) => Some(hex_field(&v, "parent_span_id", 16)?),
            None => None,
        };
        let dropped = v
            .get("dropped_attributes")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("field dropped_attributes: not an array in {line}"))?
            .iter()
            .map(|name| name.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| anyhow!("field dropped_attributes: not all strings in {line}"))?;
        Ok(Self {
            nats_subject: str_field(&v, "nats_subject")?,
            headers: headers_field(&v, "headers")?,
            mode: str_field(&v, "mode")?,
            trace_id: hex_field(&v, "trace_id", 32)?,
            span_id: hex_field(&v, "span_id", 16)?,
            parent_span_id,
            context_from: opt_str_field(&v, "context_from")?,
            sampled: v
                .get("sampled")
                .and_then(Value::as_bool)
                .ok_or_else(|| anyhow!("field sampled: missing or not a boolean in {line}"))?,
            tracestate: str_field(&v, "tracestate")?,
            event_id: opt_str_field(&v, "event_id")?,
            event_type: opt_str_field(&v, "event_type")?,
            event_source: opt_str_field(&v, "event_source")?,
            ce_traceparent: opt_str_field(&v, "ce_traceparent")?,
            ce_tracestate: opt_str_field(&v, "ce_tracestate")?,
            data: v
                .get("data")
                .cloned()
                .ok_or_else(|| anyhow!("field data: missing in {line}"))?,
            dropped_attributes: dropped,
            decode_error: opt_str_field(&v, "decode_error")?,
        })
    }

    /// The value of the header received with exactly this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

// === impl Process ===

impl Process {
    /// Runs the script with `args`, stdin closed, stdout piped, stderr in a
    /// log file, and without the caller's `OTEL_*` variables (the peer's
    /// SDK would read them: a developer's `OTEL_TRACES_SAMPLER` must not
    /// change it).
    fn spawn(args: &[&str]) -> Result<Self> {
        let python = python_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("meshtrace-python-")
            .tempdir()
            .context("cannot create a temp dir for nats_peer.py")?;
        let mut command = Command::new(&python);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTEL_") {
                command.env_remove(name);
            }
        }
        command.arg(PythonPeer::script()).args(args);
        let process = ChildProcess::spawn(
            "nats_peer.py",
            &mut command,
            Output::Piped(dir.path().join("stderr.log")),
        )?;
        // The script reads nothing: its stdin is closed at once.
        drop(process.take_stdin());
        let stdout = process.take_stdout().context("no stdout pipe")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            process,
            lines,
            _dir: dir,
        })
    }

    /// The next stdout line; `None` once stdout is closed; an error at the
    /// deadline.
    fn next_line(&mut self, deadline: Instant) -> Result<Option<String>> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Ok(Some(line)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => bail!("deadline passed"),
        }
    }

    /// Every remaining stdout line, once the script exited zero by the
    /// deadline.
    fn finish(&mut self, deadline: Instant) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            match self.next_line(deadline) {
                Ok(Some(line)) => lines.push(line),
                Ok(None) => break,
                Err(_) => return Err(self.failure("still running at its deadline; killed")),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.process.wait_exit(left) {
            Some(status) if status.success() => Ok(lines),
            Some(status) => Err(self.failure(&format!("failed ({status})"))),
            None => Err(self.failure("closed stdout but did not exit; killed")),
        }
    }

    /// An error saying what went wrong, with the script's stderr (killed
    /// first if it is still running).
    fn failure(&mut self, what: &str) -> anyhow::Error {
        self.process.kill();
        anyhow!(
            "nats_peer.py {what}; stderr:\n{}",
            self.process.log().trim_end()
        )
    }
}

// === JSON fields ===

fn json_line(line: &str) -> Result<Value> {
    let v: Value =
        serde_json::from_str(line).with_context(|| format!("not a JSON line: {line:?}"))?;
    if !v.is_object() {
        bail!("not a JSON object: {line:?}");
    }
    Ok(v)
}

fn str_field(v: &Value, name: &str) -> Result<String> {
    opt_str_field(v, name)?.ok_or_else(|| anyhow!("field {name}: null in {v}"))
}

fn opt_str_field(v: &Value, name: &str) -> Result<Option<String>> {
    match v.get(name) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Ok(None),
        Some(other) => bail!("field {name}: not a string but {other} in {v}"),
        None => bail!("field {name}: missing in {v}"),
    }
}

/// A string field of `len` lowercase hex digits.
fn hex_field(v: &Value, name: &str, len: usize) -> Result<String> {
    let s = str_field(v, name)?;
    let hex = s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if s.len() != len || !hex {
        bail!("field {name}: {s:?} is not {len} lowercase hex digits");
    }
    Ok(s)
}

fn headers_field(v: &Value, name: &str) -> Result<Vec<(String, String)>> {
    let map = v
        .get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("field {name}: missing or not an object in {v}"))?;
    map.iter()
        .map(|(key, value)| match value.as_str() {
            Some(value) => Ok((key.clone(), value.to_owned())),
            None => bail!("field {name}: header {key} is not a string"),
        })
        .collect()
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}
