//! `trace-viewer`: the harness's OTLP receiver (`meshtrace-harness`) behind
//! loopback relays on fixed ports (4318 HTTP, 4317 gRPC by default), and a
//! loop that draws each trace once it has been quiet for a moment.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use meshtrace_harness::otlp::OtlpReceiver;
use tokio::net::{TcpListener, TcpStream};

use crate::cli::ViewerArgs;
use crate::record::SpanRecord;
use crate::tree::TraceTree;
use crate::{svg, waterfall};

/// How often the viewer looks for new spans.
const POLL: Duration = Duration::from_millis(200);

/// The viewer could not start or write.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// The receiver behind the relays could not be started.
    #[error("cannot start the OTLP receiver: {0}")]
    Receiver(std::io::Error),
    /// A port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port} ({what}): {source}")]
    Bind {
        /// The port.
        port: u16,
        /// `OTLP/HTTP` or `OTLP/gRPC`.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An SVG could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Decides when a trace is drawn: once no span of it arrived for `idle`,
/// and again if more arrive later.
#[derive(Debug)]
pub struct Watcher {
    idle: Duration,
    seen: HashMap<String, (usize, Instant)>,
    drawn: HashMap<String, usize>,
}

// === impl Watcher ===

impl Watcher {
    /// A watcher with this quiet time.
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            seen: HashMap::new(),
            drawn: HashMap::new(),
        }
    }

    /// The traces to draw now, earliest first.
    pub fn due(&mut self, spans: &[SpanRecord], now: Instant) -> Vec<String> {
        let mut counts: HashMap<&str, (usize, u64)> = HashMap::new();
        for span in spans {
            let entry = counts.entry(&span.trace_id).or_insert((0, u64::MAX));
            entry.0 += 1;
            entry.1 = entry.1.min(span.start_unix_nanos);
        }
        let mut due = Vec::new();
        for (trace, (count, start)) in counts {
            let entry = self.seen.entry(trace.to_owned()).or_insert((0, now));
            if entry.0 != count {
                *entry = (count, now);
            }
            let quiet = now.duration_since(entry.1) >= self.idle;
            if quiet && self.drawn.get(trace) != Some(&count) {
                self.drawn.insert(trace.to_owned(), count);
                due.push((start, trace.to_owned()));
            }
        }
        due.sort();
        due.into_iter().map(|(_, trace)| trace).collect()
    }
}

/// Runs the viewer until the process is stopped.
///
/// # Errors
///
/// [`ViewerError`] when a port cannot be bound or an SVG written.
pub async fn run(args: ViewerArgs) -> Result<(), ViewerError> {
    let receiver = OtlpReceiver::start().await.map_err(ViewerError::Receiver)?;
    relay(
        args.listen,
        args.http_port,
        receiver.http_port(),
        "OTLP/HTTP",
    )
    .await?;
    relay(
        args.listen,
        args.grpc_port,
        receiver.grpc_port(),
        "OTLP/gRPC",
    )
    .await?;
    println!(
        "trace-viewer: OTLP/HTTP on http://{}:{} (/v1/traces), OTLP/gRPC on {}:{}",
        args.listen, args.http_port, args.listen, args.grpc_port
    );
    println!(
        "  e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{}; each trace is drawn {} ms after its last span",
        args.http_port,
        args.idle.as_millis()
    );
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut watcher = Watcher::new(args.idle);
    loop {
        tokio::time::sleep(POLL).await;
        let spans = SpanRecord::all_from(&receiver.spans());
        for trace in watcher.due(&spans, Instant::now()) {
            let Some(tree) = TraceTree::of(&trace, &spans) else {
                continue;
            };
            println!();
            print!("{}", waterfall::render(&tree, color));
            if let Some(dir) = &args.svg_dir {
                let path: PathBuf = dir.join(format!("{trace}.svg"));
                let write = |source| ViewerError::Write {
                    path: path.display().to_string(),
                    source,
                };
                std::fs::create_dir_all(dir).map_err(write)?;
                std::fs::write(&path, svg::render(&tree)).map_err(write)?;
                println!("  svg: {}", path.display());
            }
            if let Some(dir) = &args.json_dir {
                write_json(dir, &trace, &spans)?;
            }
        }
    }
}

/// Writes trace `trace`'s spans as `<trace>.json` in `dir`, one JSON
/// object per line ([`SpanRecord::to_json`]), through a temporary file so
/// a reader never sees half a trace.
fn write_json(dir: &std::path::Path, trace: &str, spans: &[SpanRecord]) -> Result<(), ViewerError> {
    let path = dir.join(format!("{trace}.json"));
    let write = |source| ViewerError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut text = String::new();
    for span in spans.iter().filter(|s| s.trace_id == trace) {
        text.push_str(&span.to_json().to_string());
        text.push('\n');
    }
    std::fs::create_dir_all(dir).map_err(write)?;
    let partial = dir.join(format!(".{trace}.json.partial"));
    std::fs::write(&partial, text).map_err(write)?;
    std::fs::rename(&partial, &path).map_err(write)
}

/// Accepts on `listen:port` and pipes each connection to `target` on
/// loopback, where the receiver is.
async fn relay(
    listen: std::net::IpAddr,
    port: u16,
    target: u16,
    what: &'static str,
) -> Result<(), ViewerError> {
    let listener = TcpListener::bind((listen, port))
        .await
        .map_err(|source| ViewerError::Bind { port, what, source })?;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;
    use crate::record::testing::span;

    #[test]
    fn draws_a_trace_once_it_is_quiet_and_again_when_it_grows() {
        let idle = Duration::from_millis(100);
        let mut watcher = Watcher::new(idle);
        let t0 = Instant::now();
        let mut spans = vec![span("a", "", "s", "GET", Kind::Server, 0, 1)];
        assert!(watcher.due(&spans, t0).is_empty(), "just arrived");
        assert_eq!(
            watcher.due(&spans, t0 + idle),
            ["t".repeat(32)],
            "quiet long enough"
        );
        assert!(watcher.due(&spans, t0 + idle * 3).is_empty(), "drawn once");
        spans.push(span("b", "a", "s", "late", Kind::Client, 1, 2));
        assert!(
            watcher.due(&spans, t0 + idle * 4).is_empty(),
            "grew: wait again"
        );
        assert_eq!(
            watcher.due(&spans, t0 + idle * 5).len(),
            1,
            "redrawn with the late span"
        );
    }
}
