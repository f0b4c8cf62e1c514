//! `cargo xtask test`: the project's test command. Runs each step in order,
//! timing it, and stops at the first that fails.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::workspace::Workspace;
use crate::{cmd, filter, setup};

/// Absolute path of the built filter module, for the test processes.
pub const ENV_FILTER_WASM: &str = "MESHTRACE_FILTER_WASM";
/// Absolute path of Envoy (`.tools/bin/envoy`).
pub const ENV_ENVOY: &str = "MESHTRACE_ENVOY";
/// Absolute path of nats-server (`.tools/bin/nats-server`).
pub const ENV_NATS_SERVER: &str = "MESHTRACE_NATS_SERVER";
/// Absolute path of the venv's Python, with the interop packages.
pub const ENV_PYTHON: &str = "MESHTRACE_PYTHON";

/// How many steps [`run`] has, for the `[n/N]` counter.
const STEPS: usize = 7;

/// Runs every step; `cargo_test_args` go to `cargo test --workspace`.
pub fn run(ws: &Workspace, cargo_test_args: &[String]) -> Result<()> {
    let mut steps = Steps::default();
    let tools = steps.run("setup", || setup::run(ws))?;
    let module = steps.run("build-filter", || filter::build(ws))?;
    steps.run("fmt", || {
        cmd::run(ws.cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    steps.run("clippy (host)", || {
        cmd::run(
            ws.cargo()
                .args(["clippy", "--workspace", "--all-targets"])
                .args(["--", "-D", "warnings"]),
        )
    })?;
    steps.run("clippy (wasm32-wasip1)", || {
        cmd::run(
            ws.cargo()
                .args(["clippy", "--package", "meshtrace-filter", "--all-targets"])
                .args(["--target", setup::WASM_TARGET, "--", "-D", "warnings"]),
        )
    })?;
    steps.run("doc", || {
        cmd::run(
            ws.cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )
    })?;
    steps.run("cargo test", || {
        let mut test = ws.cargo();
        test.args(["test", "--workspace"])
            .args(cargo_test_args)
            .env(ENV_FILTER_WASM, &module)
            .env(ENV_ENVOY, &tools.envoy)
            .env(ENV_NATS_SERVER, &tools.nats_server)
            .env(ENV_PYTHON, &tools.python);
        tools.engine.apply(&mut test);
        cmd::run(&mut test)
    })?;
    steps.print_times();
    println!("xtask test: all {STEPS} steps ok");
    Ok(())
}

/// The steps run so far and how long each took.
#[derive(Default)]
struct Steps {
    done: Vec<(&'static str, Duration)>,
}

// === impl Steps ===

impl Steps {
    /// Runs one step, announcing it and timing it; on failure prints the
    /// times so far and names the step in the error.
    fn run<T>(&mut self, name: &'static str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("\n==> [{}/{STEPS}] {name}", self.done.len() + 1);
        let start = Instant::now();
        let result = step();
        let took = start.elapsed();
        self.done.push((name, took));
        match result {
            Ok(value) => {
                println!("==> {name}: ok in {}", seconds(took));
                Ok(value)
            }
            Err(err) => {
                self.print_times();
                Err(err).with_context(|| format!("step `{name}` failed after {}", seconds(took)))
            }
        }
    }

    fn print_times(&self) {
        println!("\nxtask test: step times");
        for (name, took) in &self.done {
            println!("  {name:<24} {:>8}", seconds(*took));
        }
        let total: Duration = self.done.iter().map(|(_, took)| *took).sum();
        println!("  {:<24} {:>8}", "total", seconds(total));
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
