//! The parent's side: runs the scenario child and reads what it printed.

use std::collections::BTreeMap;
use std::process::Command;

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::{OtlpReceiver, ReceivedSpan};

use crate::child::{CHILD, CHILD_TEST};

/// What a child printed.
#[derive(Debug)]
pub(crate) struct ChildRun {
    /// Everything the child printed on stdout.
    pub(crate) stdout: String,
    /// Everything the child printed on stderr (warnings among it).
    pub(crate) stderr: String,
}

// === impl ChildRun ===

impl ChildRun {
    /// The headers the child's propagator injected.
    pub(crate) fn injected(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("CHILD inject "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// A `CHILD key=value` line's value.
    pub(crate) fn value(&self, key: &str) -> Option<&str> {
        let prefix = format!("CHILD {key}=");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    /// How long dropping the guard took, in milliseconds.
    pub(crate) fn drop_ms(&self) -> u128 {
        self.value("drop_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("the child printed no drop time: {self:#?}"))
    }
}

/// Runs the scenario child with `vars` (and no inherited `OTEL_*`
/// variable); panics with its output if it failed.
pub(crate) fn run_child(vars: &[(&str, String)]) -> ChildRun {
    let exe =
        std::env::current_exe().unwrap_or_else(|e| panic!("cannot find the test binary: {e}"));
    let mut command = Command::new(exe);
    command.args([
        "--exact",
        CHILD_TEST,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command.env(CHILD, "1");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run the child: {e}"));
    let run = ChildRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "the child failed ({}): {run:#?}",
        output.status
    );
    run
}

/// `vars` plus the endpoint of `receiver` for `protocol`.
pub(crate) fn to_receiver(
    receiver: &OtlpReceiver,
    protocol: Protocol,
    vars: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let (name, endpoint) = match protocol {
        Protocol::HttpProtobuf => (
            "http/protobuf",
            format!("http://127.0.0.1:{}", receiver.http_port()),
        ),
        Protocol::Grpc => ("grpc", format!("http://127.0.0.1:{}", receiver.grpc_port())),
    };
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", name.to_owned()),
    ];
    all.extend(vars.iter().map(|(k, v)| (*k, (*v).to_owned())));
    all
}

/// The names of `spans`, sorted.
pub(crate) fn names(spans: &[ReceivedSpan]) -> Vec<String> {
    let mut names: Vec<_> = spans.iter().map(|s| s.span.name.clone()).collect();
    names.sort();
    names
}

/// The spans a default child makes: `work-0`, `work-1`, `parent`,
/// `bridged`.
pub(crate) const DEFAULT_SPANS: usize = 4;
