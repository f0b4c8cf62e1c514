//! Compiling a proxy-wasm module once and linking it against the host.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};
use meshtrace_harness::tools::{FILTER_WASM_ENV, filter_wasm_path};
use wasmtime::{Engine, InstancePre, Linker, Module};

use super::imports;
use super::state::HostState;

/// ABI version exports the host accepts (proxy-wasm-cpp-host checks for one).
const ABI_VERSIONS: [&str; 2] = ["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"];

/// A compiled proxy-wasm module, linked and ready to instantiate many times.
pub struct WasmModule {
    engine: Engine,
    module: Module,
    pre: InstancePre<HostState>,
}

// === impl WasmModule ===

impl WasmModule {
    /// Reads and compiles a `.wasm` (or `.wat`) file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        Self::from_wat_or_bytes(&bytes).with_context(|| format!("load {}", path.display()))
    }

    /// Compiles a module from binary wasm or WAT text and links it: WASI
    /// preview1, the proxy-wasm imports, and traps for any other import.
    pub fn from_wat_or_bytes(bytes: impl AsRef<[u8]>) -> Result<Self> {
        let engine = Engine::default();
        let module = Module::new(&engine, bytes)
            .map_err(anyhow::Error::from)
            .context("compile")?;
        if !module.exports().any(|e| ABI_VERSIONS.contains(&e.name())) {
            bail!("not a proxy-wasm 0.2 module: it exports none of {ABI_VERSIONS:?}");
        }
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut HostState| &mut s.wasi)?;
        imports::add_to_linker(&mut linker)?;
        linker.define_unknown_imports_as_traps(&module)?;
        let pre = linker.instantiate_pre(&module)?;
        Ok(Self {
            engine,
            module,
            pre,
        })
    }

    /// The wasmtime engine it was compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The compiled module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    pub(crate) fn instance_pre(&self) -> &InstancePre<HostState> {
        &self.pre
    }
}

/// Where the filter module is: `$MESHTRACE_FILTER_WASM`, else
/// `<workspace>/target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm`.
pub fn filter_module_path() -> PathBuf {
    filter_wasm_path()
}

/// The real filter module, compiled once per process.
///
/// # Panics
///
/// If the module is missing or does not compile; build it with
/// `cargo xtask build-filter` (or point `MESHTRACE_FILTER_WASM` at it).
pub fn filter_module() -> &'static WasmModule {
    static MODULE: OnceLock<WasmModule> = OnceLock::new();
    MODULE.get_or_init(|| {
        let path = filter_module_path();
        if !path.exists() {
            panic!(
                "filter module not found at {}: run `cargo xtask build-filter` first \
                 (or set {FILTER_WASM_ENV} to a built meshtrace_filter.wasm)",
                path.display()
            );
        }
        WasmModule::load(&path).unwrap_or_else(|e| panic!("cannot load the filter module: {e:#}"))
    })
}
