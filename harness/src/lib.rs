//! `meshtrace-harness`: what the tests, the demo and the benchmarks share
//! to run meshtrace against real parts.
//!
//! - [`process`]: the one guard every child process runs under (startup
//!   poll, log tail, `/proc` CPU and RSS, kill on drop).
//! - [`container`]: podman or Docker, compose projects removed on drop.
//! - [`envoy`]: the Envoy launcher (optionally pinned to a core), config
//!   rendering and `--mode validate`, and [`envoy::shipped`], the shipped
//!   configs put on loopback.
//! - [`nats`]: a nats-server (core plus JetStream) on loopback.
//! - [`otlp`]: an OTLP/HTTP + OTLP/gRPC receiver that decodes every export
//!   or only counts spans per kind, with fault modes.
//! - [`filter_config`]: the filter's JSON configuration, built with typed
//!   methods.
//! - [`ports`], [`tools`], [`Protocol`], and the HTTP plumbing the
//!   receiver and the fixtures use ([`http_server`], [`http_client`],
//!   [`runtime`]).
//!
//! It holds no wasmtime and no test assertions: a missing tool, a port
//! that cannot be bound, a process that does not start all come back as
//! errors naming what failed. The wasmtime proxy-wasm host and the suites
//! are in `meshtrace-tests`.
//!
//! ```no_run
//! use meshtrace_harness::nats::NatsServer;
//! use meshtrace_harness::otlp::OtlpReceiver;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let receiver = OtlpReceiver::start().await?;
//! let nats = NatsServer::start()?;
//! println!("OTLP/HTTP on {}, NATS on {}", receiver.http_port(), nats.url());
//! # Ok(())
//! # }
//! ```

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod container;
pub mod envoy;
pub mod filter_config;
pub mod http_client;
pub mod http_server;
pub mod nats;
pub mod otlp;
pub mod ports;
pub mod process;
mod protocol;
pub mod runtime;
pub mod tools;

pub use protocol::Protocol;
