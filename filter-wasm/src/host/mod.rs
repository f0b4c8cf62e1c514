//! The Envoy glue (`wasm32` only): everything that calls the proxy-wasm
//! host. The decisions it carries out live in the pure core
//! ([`crate::decision`], [`crate::export`]); these modules read headers and
//! properties, write headers, dispatch calls and count.
//!
//! - [`root`]: the root context: configuration, ticks, callout responses.
//! - [`http`]: the HTTP context: one request's span.
//! - [`export`]: flushing batches into export calls and settling them.
//! - [`vm`]: the state one VM shares between its contexts (neither context
//!   imports the other).
//! - [`abi`]: the raw header-map host calls the SDK does not wrap
//!   allocation-free.
//! - [`metrics`]: the `meshtrace.*` counters.

mod abi;
mod export;
mod http;
mod metrics;
pub(crate) mod root;
mod vm;
