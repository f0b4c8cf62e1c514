//! [`PluginHost`]: one VM with one plugin, driven the way Envoy drives an
//! HTTP filter, call by call.

use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow, bail};
use wasmtime::{Instance, Store, WasmParams, WasmResults};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::abi::{Action, LogLevel, Status};
use super::callouts::CalloutKind;
use super::clock::{VirtualClock, VirtualMonotonicClock};
use super::headers::HeaderMap;
use super::memory::GuestMemory;
use super::module::WasmModule;
use super::state::{HostState, HttpCallResponse, Stream};

/// Capacity of the captured stdout and stderr; writing more traps the guest.
const PIPE_CAPACITY: usize = 4 << 20;

/// Context id of the root context (Envoy numbers contexts from 1).
const ROOT_CONTEXT_ID: u32 = 1;

/// Which headers a stream receives.
#[derive(Clone, Copy)]
enum Phase {
    Request,
    Response,
}

/// An HTTP stream (one request/response exchange) in the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId(pub(super) u32);

// === impl StreamId ===

impl StreamId {
    /// The proxy-wasm context id of the stream.
    pub fn context_id(self) -> u32 {
        self.0
    }
}

/// A proxy-wasm VM running one plugin, with one root context, driven by the
/// test the way Envoy 1.40 drives an HTTP filter.
///
/// Each method that calls into the guest returns an error if the guest
/// traps; the VM is then failed (as Envoy marks it) and every later guest
/// call fails too.
pub struct PluginHost {
    pub(super) store: Store<HostState>,
    instance: Instance,
    next_context_id: u32,
    pub(super) failure: Option<String>,
    pub(super) stdout: MemoryOutputPipe,
    pub(super) stderr: MemoryOutputPipe,
}

// === impl PluginHost ===

impl PluginHost {
    /// Instantiates `module` with an empty VM configuration: `_initialize`,
    /// the root context, `proxy_on_vm_start`.
    pub fn new(module: &WasmModule) -> Result<Self> {
        Self::with_vm_configuration(module, &[])
    }

    /// Like [`PluginHost::new`] with the VM configuration buffer set.
    pub fn with_vm_configuration(module: &WasmModule, vm_configuration: &[u8]) -> Result<Self> {
        let clock = VirtualClock::new();
        let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(VirtualMonotonicClock(clock.clone()))
            .build_p1();
        let mut state = HostState::new(wasi, clock, ROOT_CONTEXT_ID);
        state.vm_configuration = vm_configuration.to_vec();
        let mut store = Store::new(module.engine(), state);
        let instance = module.instance_pre().instantiate(&mut store)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow!("the module exports no memory"))?;
        let allocate = ["proxy_on_memory_allocate", "malloc"]
            .into_iter()
            .find_map(|name| instance.get_typed_func::<u32, u32>(&mut store, name).ok());
        store.data_mut().guest = Some(GuestMemory::new(memory, allocate));

        let mut host = Self {
            store,
            instance,
            next_context_id: ROOT_CONTEXT_ID + 1,
            failure: None,
            stdout,
            stderr,
        };
        if host.has_export("_initialize") {
            host.call::<(), ()>(0, "_initialize", ())?;
        } else if host.has_export("_start") {
            host.call::<(), ()>(0, "_start", ())?;
        }
        host.call::<(u32, u32), ()>(
            ROOT_CONTEXT_ID,
            "proxy_on_context_create",
            (ROOT_CONTEXT_ID, 0),
        )?;
        let size = len_u32(vm_configuration.len())?;
        let started = host.call::<(u32, u32), u32>(
            ROOT_CONTEXT_ID,
            "proxy_on_vm_start",
            (ROOT_CONTEXT_ID, size),
        )?;
        if started == Some(0) {
            bail!(
                "proxy_on_vm_start returned false (Envoy fails the VM)\n{}",
                host.diagnostics()
            );
        }
        Ok(host)
    }

    /// Calls `proxy_on_configure` on the root context with `plugin_config`
    /// as the plugin configuration buffer; returns what it returned (a
    /// `false` makes Envoy reject the configuration; the VM stays usable).
    pub fn configure(&mut self, plugin_config: &[u8]) -> Result<bool> {
        let size = len_u32(plugin_config.len())?;
        self.store.data_mut().plugin_configuration = Some(plugin_config.to_vec());
        let accepted = self.call::<(u32, u32), u32>(
            ROOT_CONTEXT_ID,
            "proxy_on_configure",
            (ROOT_CONTEXT_ID, size),
        )?;
        Ok(accepted.is_none_or(|ok| ok != 0))
    }

    /// The root context's id.
    pub fn root_context_id(&self) -> u32 {
        ROOT_CONTEXT_ID
    }

    /// Registers an upstream cluster for `proxy_http_call` / `proxy_grpc_call`.
    pub fn add_cluster(&mut self, name: &str) {
        self.store.data_mut().callouts.add_cluster(name);
    }

    /// Sets a property every context sees (streams can override it), as
    /// raw bytes; use [`int_property`](super::int_property) for integers.
    pub fn set_property(&mut self, path: &[&str], value: impl Into<Vec<u8>>) {
        self.store
            .data_mut()
            .properties
            .insert(join_path(path), value.into());
    }

    /// Makes every header write (`proxy_replace_header_map_value`,
    /// `proxy_remove_header_map_value`, `proxy_add_header_map_value`)
    /// answer `BadArgument` while `refuse` is set, as Envoy answers for a
    /// map it no longer holds.
    pub fn refuse_header_writes(&mut self, refuse: bool) {
        self.store.data_mut().refuse_header_writes = refuse;
    }

    /// Sets what `proxy_get_log_level` returns (default: trace).
    pub fn set_log_level(&mut self, level: LogLevel) {
        self.store.data_mut().log_level = level;
    }

    /// Creates an HTTP stream context (`proxy_on_context_create`).
    pub fn create_http_stream(&mut self) -> Result<StreamId> {
        let id = self.next_context_id;
        self.next_context_id += 1;
        self.store.data_mut().streams.insert(id, Stream::default());
        self.call::<(u32, u32), ()>(id, "proxy_on_context_create", (id, ROOT_CONTEXT_ID))?;
        Ok(StreamId(id))
    }

    /// Sets a property only `s` sees; it wins over a global one.
    ///
    /// # Panics
    ///
    /// If the stream does not exist.
    pub fn set_stream_property(&mut self, s: StreamId, path: &[&str], value: impl Into<Vec<u8>>) {
        let stream = self
            .store
            .data_mut()
            .streams
            .get_mut(&s.0)
            .unwrap_or_else(|| panic!("no stream {s:?}"));
        stream.properties.insert(join_path(path), value.into());
    }

    /// Delivers request headers (`proxy_on_request_headers`). Like Envoy,
    /// the guest can use the map only during the call, or until it
    /// continues the stream if it returned `Pause`.
    pub fn on_request_headers(
        &mut self,
        s: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action> {
        self.deliver_headers(s, Phase::Request, headers, end_of_stream)
    }

    /// Delivers response headers (`proxy_on_response_headers`), with the
    /// same map lifetime as the request's.
    pub fn on_response_headers(
        &mut self,
        s: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action> {
        self.deliver_headers(s, Phase::Response, headers, end_of_stream)
    }

    fn deliver_headers(
        &mut self,
        s: StreamId,
        phase: Phase,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action> {
        let map = HeaderMap::from_pairs(headers);
        let count = len_u32(map.len())?;
        let stream = self.live_stream(s)?;
        let (export, live) = match phase {
            Phase::Request => {
                stream.request_headers = Some(map);
                ("proxy_on_request_headers", &mut stream.request_headers_live)
            }
            Phase::Response => {
                stream.response_headers = Some(map);
                (
                    "proxy_on_response_headers",
                    &mut stream.response_headers_live,
                )
            }
        };
        *live = true;
        let action = self
            .call::<(u32, u32, u32), u32>(s.0, export, (s.0, count, end_of_stream.into()))?
            .map_or(Action::Continue, Action::from_abi);
        if action == Action::Continue {
            let stream = self.live_stream(s)?;
            match phase {
                Phase::Request => stream.request_headers_live = false,
                Phase::Response => stream.response_headers_live = false,
            }
        }
        Ok(action)
    }

    /// Ends the stream in Envoy's order: the access log (`proxy_on_log`, in
    /// the log phase, where both header maps are readable again), then
    /// filter destruction (`proxy_on_done`, `proxy_on_delete`). The
    /// stream's maps stay readable by the test.
    pub fn finish_stream(&mut self, s: StreamId) -> Result<()> {
        self.live_stream(s)?;
        self.call_in_log_phase(s)?;
        self.call::<u32, u32>(s.0, "proxy_on_done", s.0)?;
        self.call::<u32, ()>(s.0, "proxy_on_delete", s.0)?;
        self.live_stream(s)?.deleted = true;
        Ok(())
    }

    fn call_in_log_phase(&mut self, s: StreamId) -> Result<()> {
        // `call` keeps the phase for the call and resets it afterwards.
        self.store.data_mut().log_phase = true;
        let result = self.call::<u32, ()>(s.0, "proxy_on_log", s.0);
        self.store.data_mut().log_phase = false;
        result.map(drop)
    }

    /// Fires the root context's tick (`proxy_on_tick`) now, as if its
    /// timer expired: the timer re-arms one period from now. Fails if no
    /// tick period is set: Envoy would never tick then.
    pub fn tick(&mut self) -> Result<()> {
        if self.tick_period().is_none() {
            bail!("tick() without a tick period: Envoy never calls proxy_on_tick then");
        }
        self.fire_tick()
    }

    fn fire_tick(&mut self) -> Result<()> {
        let state = self.store.data_mut();
        let now = state.clock.monotonic_nanos();
        state.tick_timer.fired(now);
        self.call::<u32, ()>(ROOT_CONTEXT_ID, "proxy_on_tick", ROOT_CONTEXT_ID)?;
        Ok(())
    }

    /// The root context's tick period, `None` if never set or set to 0.
    pub fn tick_period(&self) -> Option<Duration> {
        self.store.data().tick_timer.period()
    }

    /// Moves the host clock forward without firing ticks (use
    /// [`tick`](Self::tick) or [`advance_with_ticks`](Self::advance_with_ticks)).
    pub fn advance(&mut self, d: Duration) {
        self.store.data().clock.advance(d);
    }

    /// Moves the host clock forward by `d`, stopping at each moment the
    /// root's tick timer expires to fire `proxy_on_tick`, like Envoy's
    /// dispatcher would; returns how many ticks fired. A tick re-arms the
    /// timer with the period current then, so a period the guest changes
    /// applies after the pending tick (proxy-wasm-cpp-host's
    /// `setTickPeriod`).
    pub fn advance_with_ticks(&mut self, d: Duration) -> Result<u32> {
        let clock = self.store.data().clock.clone();
        let end = clock
            .monotonic_nanos()
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut ticks = 0;
        loop {
            let next = self.store.data().tick_timer.next().filter(|at| *at <= end);
            let Some(at) = next else { break };
            clock.advance(Duration::from_nanos(
                at.saturating_sub(clock.monotonic_nanos()),
            ));
            self.fire_tick()?;
            ticks += 1;
        }
        clock.advance(Duration::from_nanos(
            end.saturating_sub(clock.monotonic_nanos()),
        ));
        Ok(ticks)
    }

    /// How long until the root's tick timer expires, `None` when it is not
    /// running.
    pub fn next_tick_in(&self) -> Option<Duration> {
        let state = self.store.data();
        let now = state.clock.monotonic_nanos();
        let at = state.tick_timer.next()?;
        Some(Duration::from_nanos(at.saturating_sub(now)))
    }

    /// The host's wall clock (starts at 2026-01-01T00:00:00Z).
    pub fn now(&self) -> SystemTime {
        self.store.data().clock.now()
    }

    /// Steps the wall clock to `t` (either way), as an NTP step would;
    /// monotonic time and the tick timer do not move.
    pub fn set_time(&mut self, t: SystemTime) {
        self.store.data().clock.set_wall(t);
    }

    /// Answers an HTTP callout: `proxy_on_http_call_response(root, token,
    /// headers, body size, 0)` with headers and body readable during the
    /// call. Empty `headers` mean the call failed without a response (reset,
    /// timeout, no healthy upstream): like Envoy's `onHttpCallFailure`, the
    /// guest gets 0 headers, no response maps or body, and status
    /// `BrokenConnection`/`reset` from `proxy_get_status`.
    pub fn respond_http_call(
        &mut self,
        token: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.ensure_alive()?;
        let state = self.store.data_mut();
        if !state.callouts.claim(token, CalloutKind::Http) {
            bail!("no pending HTTP callout with token {token}");
        }
        let (count, size) = if headers.is_empty() {
            // Envoy's `onHttpCallFailure`.
            state.status = (Status::BrokenConnection as u32, "reset".to_string());
            (0, 0)
        } else {
            let headers = HeaderMap::from_pairs(headers);
            let counts = (len_u32(headers.len())?, len_u32(body.len())?);
            state.http_call_response = Some(HttpCallResponse {
                headers,
                body: body.to_vec(),
            });
            counts
        };
        self.call::<(u32, u32, u32, u32, u32), ()>(
            ROOT_CONTEXT_ID,
            "proxy_on_http_call_response",
            (ROOT_CONTEXT_ID, token, count, size, 0),
        )?;
        Ok(())
    }

    /// Answers a unary gRPC callout. Status 0 is success: `message` becomes
    /// the gRPC receive buffer for `proxy_on_grpc_receive(root, token,
    /// size)`. Any other status is a failure: `proxy_on_grpc_close(root,
    /// token, status)`, with `message` as the status message.
    pub fn respond_grpc_call(&mut self, token: u32, status: u32, message: &[u8]) -> Result<()> {
        self.ensure_alive()?;
        let state = self.store.data_mut();
        if !state.callouts.claim(token, CalloutKind::Grpc) {
            bail!("no pending gRPC callout with token {token}");
        }
        if status == 0 {
            state.grpc_receive_buffer = Some(message.to_vec());
            let size = len_u32(message.len())?;
            self.call::<(u32, u32, u32), ()>(
                ROOT_CONTEXT_ID,
                "proxy_on_grpc_receive",
                (ROOT_CONTEXT_ID, token, size),
            )?;
        } else {
            state.status = (status, String::from_utf8_lossy(message).into_owned());
            self.call::<(u32, u32, u32), ()>(
                ROOT_CONTEXT_ID,
                "proxy_on_grpc_close",
                (ROOT_CONTEXT_ID, token, status),
            )?;
        }
        Ok(())
    }

    fn has_export(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }

    fn ensure_alive(&self) -> Result<()> {
        match &self.failure {
            Some(reason) => bail!("the VM failed earlier:\n{reason}"),
            None => Ok(()),
        }
    }

    fn live_stream(&mut self, s: StreamId) -> Result<&mut Stream> {
        match self.store.data_mut().streams.get_mut(&s.0) {
            Some(stream) if !stream.deleted => Ok(stream),
            Some(_) => bail!("stream {s:?} is finished"),
            None => bail!("no stream {s:?}"),
        }
    }

    /// Calls export `name` on behalf of `context_id`; `Ok(None)` if the
    /// guest does not export it (Envoy skips missing callbacks).
    fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        context_id: u32,
        name: &str,
        params: P,
    ) -> Result<Option<R>> {
        self.ensure_alive()?;
        let Some(func) = self.instance.get_func(&mut self.store, name) else {
            self.store.data_mut().leave();
            return Ok(None);
        };
        let func = func
            .typed::<P, R>(&self.store)
            .map_err(|e| anyhow!("export {name} has an unexpected signature: {e}"))?;
        let log_phase = self.store.data().log_phase;
        self.store.data_mut().enter(context_id);
        self.store.data_mut().log_phase = log_phase;
        let result = func.call(&mut self.store, params);
        self.store.data_mut().leave();
        match result {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                // The error chain (wasm backtrace, trap), without the host's
                // Rust backtrace that `Debug` would add.
                let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
                let reason = format!(
                    "{name} (context {context_id}) trapped: {}\n{}",
                    chain.join("\ncaused by: "),
                    self.diagnostics()
                );
                self.failure = Some(reason.clone());
                Err(anyhow!(reason))
            }
        }
    }

    /// Guest stderr and error/critical logs, for failure messages.
    fn diagnostics(&self) -> String {
        let errors: Vec<String> = self
            .logs()
            .iter()
            .filter(|l| l.level >= LogLevel::Error)
            .map(|l| format!("  [{}] {}", l.level, l.message))
            .collect();
        format!(
            "guest stderr:\n{}\nguest error logs:\n{}",
            self.stderr(),
            errors.join("\n")
        )
    }
}

/// Joins property path parts with `\0`, as the SDK serializes them.
fn join_path(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

fn len_u32(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| anyhow!("{len} bytes do not fit a wasm32 size"))
}
