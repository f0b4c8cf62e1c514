//! The proxy-wasm root context: configuration, the per-VM span batch, ticks
//! and export calls.
//!
//! Export calls are always dispatched from here (a tick), never from a
//! stream: Envoy attaches a callout to the root context, but the SDK routes
//! its response to the context that dispatched it, and a finished stream is
//! gone before the collector answers. A stream that fills a batch therefore
//! asks for an immediate tick instead of exporting itself.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType};

use crate::cel;
use crate::config::{Config, Direction};
use crate::export::batch::Batcher;
use crate::export::otlp::RequestEncoder;
use crate::export::target::{ExportTarget, FailureLog};
use crate::ids::IdGenerator;
use crate::properties::{self, path};
use crate::rate_limit::SampledLimiter;
use crate::sampler::Sampler;
use crate::span::SpanKind;

use super::abi;
use super::export;
use super::http::HttpTracer;
use super::metrics::Metrics;
use super::vm::{ConnectionAttributes, RouteSettings, SharedState, VmState, now_nanos};

/// Scope name on exported spans.
const SCOPE_NAME: &str = env!("CARGO_PKG_NAME");
/// Scope version on exported spans.
const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The root context of one VM.
pub struct TracingRoot {
    state: Option<SharedState>,
}

fn create_expr(expr: &str) -> Option<u32> {
    match hostcalls::call_foreign_function(cel::CREATE, Some(expr.as_bytes())) {
        Ok(Some(token)) => match <[u8; 4]>::try_from(token.as_slice()) {
            Ok(raw) => Some(u32::from_le_bytes(raw)),
            Err(_) => {
                warn!(
                    "meshtrace: {} returned {} bytes, not a token",
                    cel::CREATE,
                    token.len()
                );
                None
            }
        },
        Ok(None) => None,
        Err(status) => {
            info!(
                "meshtrace: the host's {} is unavailable ({status:?}); span attributes are read one by one",
                cel::CREATE
            );
            None
        }
    }
}

fn delete_expr(token: u32) {
    let _ = hostcalls::call_foreign_function(cel::DELETE, Some(&token.to_le_bytes()));
}

// === impl TracingRoot ===

impl TracingRoot {
    /// A root context awaiting configuration.
    pub fn new() -> Self {
        Self { state: None }
    }

    fn build_state(config: &Config) -> VmState {
        let service_name = config
            .service_name
            .clone()
            .or_else(|| {
                hostcalls::get_property(path::NODE_CLUSTER.to_vec())
                    .ok()
                    .flatten()
                    .and_then(properties::string)
            })
            .unwrap_or_else(|| "unknown_service:envoy".to_owned());
        VmState {
            kind: match config.direction {
                Direction::Inbound => SpanKind::Server,
                Direction::Outbound => SpanKind::Client,
            },
            spawn_upstream_span: config.spawn_upstream_span,
            capture_query: config.attributes.url_query,
            traceresponse: config.traceresponse,
            propagators: config.propagators,
            sampled_limiter: config
                .trust
                .max_sampled_per_second
                .map(|rate| SampledLimiter::new(rate, now_nanos())),
            trust: config.trust.policy.clone(),
            routes: config.routes.clone(),
            route_overrides: config
                .route_overrides
                .iter()
                .map(|(name, o)| {
                    let settings = RouteSettings {
                        tracing: o.tracing,
                        sampler: o.sampler_ratio.map(Sampler::ratio),
                    };
                    (name.clone(), settings)
                })
                .collect(),
            sampler: Sampler::ratio(config.sampler.ratio),
            ids: IdGenerator::from_entropy(now_nanos()),
            batcher: Batcher::new(&config.batch),
            metrics: Metrics::define(),
            flush_requested: false,
            connection: ConnectionAttributes::Off,
            encoder: RequestEncoder::new(
                &service_name,
                &config.resource,
                SCOPE_NAME,
                SCOPE_VERSION,
            ),
            target: ExportTarget::new(&config.collector, &config.collector_authority()),
            flush_interval: Duration::from_millis(u64::from(config.batch.flush_interval_ms)),
            failures: FailureLog::default(),
        }
    }

    fn flush(&self) {
        let Some(state) = &self.state else { return };
        let Ok(mut vm) = state.try_borrow_mut() else {
            return;
        };
        export::flush(&mut vm);
    }

    fn finish_call(&self, token: u32, outcome: Result<(), String>) {
        let Some(state) = &self.state else { return };
        let Ok(mut vm) = state.try_borrow_mut() else {
            return;
        };
        export::finish_call(&mut vm, token, outcome);
    }
}

impl Default for TracingRoot {
    fn default() -> Self {
        Self::new()
    }
}

impl Context for TracingRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        _body_size: usize,
        _num_trailers: usize,
    ) {
        // Envoy reports a failed call (reset, timeout, no endpoint) as a
        // response without headers.
        let status = if num_headers == 0 {
            None
        } else {
            hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
                .ok()
                .flatten()
        };
        let outcome = match status.as_deref() {
            Some(s) if s.starts_with('2') && s.len() == 3 => Ok(()),
            Some(s) => Err(format!("collector answered HTTP {s}")),
            None => Err("no response (connection failure, reset or timeout)".to_owned()),
        };
        self.finish_call(token_id, outcome);
    }

    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, _response_size: usize) {
        let outcome = match status_code {
            0 => Ok(()),
            code => Err(format!("gRPC status {code}")),
        };
        self.finish_call(token_id, outcome);
    }

    fn on_done(&mut self) -> bool {
        // The VM is going away: send what is queued.
        self.flush();
        true
    }
}

impl RootContext for TracingRoot {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => Vec::new(),
            Err(status) => {
                error!("meshtrace: cannot read the plugin configuration: {status:?}");
                return false;
            }
        };
        let config = match Config::from_json(&bytes) {
            Ok(config) => config,
            Err(e) => {
                error!("meshtrace: {e}");
                return false;
            }
        };
        // A reconfiguration sends what the previous configuration queued.
        self.flush();
        if let Some(ConnectionAttributes::Cel(old)) = self
            .state
            .as_ref()
            .and_then(|s| Some(s.try_borrow().ok()?.connection))
        {
            delete_expr(old);
        }
        let mut state = Self::build_state(&config);
        if config.attributes.connection {
            state.connection = create_expr(cel::CONNECTION_EXPR)
                .map_or(ConnectionAttributes::OneByOne, ConnectionAttributes::Cel);
        }
        if let Err(status) = abi::set_tick_period(state.flush_interval) {
            error!("meshtrace: cannot set the flush tick: {status:?}");
            return false;
        }
        info!(
            "meshtrace: configured: direction={:?} spawn_upstream_span={} traceresponse={} propagators={:?} trust.incoming={} trust.max_sampled_per_second={:?} collector={} protocol={:?} batch.max_spans={} connection_attributes={}",
            config.direction,
            config.spawn_upstream_span,
            config.traceresponse.name(),
            config.propagators,
            config.trust.policy.incoming.name(),
            config.trust.max_sampled_per_second,
            config.collector.cluster,
            config.collector.protocol,
            config.batch.max_spans,
            match state.connection {
                ConnectionAttributes::Off => "off",
                ConnectionAttributes::Cel(_) => "cel",
                ConnectionAttributes::OneByOne => "one-by-one",
            }
        );
        self.state = Some(Rc::new(RefCell::new(state)));
        true
    }

    fn on_tick(&mut self) {
        self.flush();
        let Some(state) = &self.state else { return };
        let Ok(mut vm) = state.try_borrow_mut() else {
            return;
        };
        // Back to the configured period after an immediate tick; if the
        // host refuses, the next tick tries again.
        if vm.flush_requested && abi::set_tick_period(vm.flush_interval).is_ok() {
            vm.flush_requested = false;
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HttpTracer::new(self.state.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
