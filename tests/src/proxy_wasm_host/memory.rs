//! All access to guest memory: bounds-checked reads and writes of the guest's
//! exported `memory`, and returning host-owned bytes by calling the guest's
//! `proxy_on_memory_allocate` (the guest then owns and frees them).

use wasmtime::{Caller, Memory, TypedFunc};

use super::abi::{HostResult, Status};

/// Store data that holds the guest's memory (the host's `HostState`):
/// this module works on any such store, so it does not import the state
/// that holds it.
pub(crate) trait HoldsGuest: 'static {
    /// The guest's memory, once the module is instantiated.
    fn guest_memory(&self) -> Option<&GuestMemory>;
}

/// The guest exports host functions need, resolved once after instantiation.
#[derive(Clone)]
pub(crate) struct GuestMemory {
    memory: Memory,
    allocate: Option<TypedFunc<u32, u32>>,
}

// === impl GuestMemory ===

impl GuestMemory {
    /// `memory` and, when exported, `proxy_on_memory_allocate` (or the
    /// `malloc` fallback Envoy also accepts).
    pub(crate) fn new(memory: Memory, allocate: Option<TypedFunc<u32, u32>>) -> Self {
        Self { memory, allocate }
    }
}

fn guest<T: HoldsGuest>(caller: &Caller<'_, T>) -> Result<GuestMemory, Status> {
    caller
        .data()
        .guest_memory()
        .cloned()
        .ok_or(Status::InvalidMemoryAccess)
}

/// Copies `len` bytes at `ptr` out of the guest; a null pointer with length 0
/// reads as empty (the SDK passes `null` for absent optional data).
pub(crate) fn read<T: HoldsGuest>(
    caller: &Caller<'_, T>,
    ptr: u32,
    len: u32,
) -> Result<Vec<u8>, Status> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let guest = guest(caller)?;
    let start = ptr as usize;
    let end = start
        .checked_add(len as usize)
        .ok_or(Status::InvalidMemoryAccess)?;
    guest
        .memory
        .data(caller)
        .get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or(Status::InvalidMemoryAccess)
}

/// Reads a UTF-8 string (lossily: Envoy passes bytes through unchecked).
pub(crate) fn read_string<T: HoldsGuest>(
    caller: &Caller<'_, T>,
    ptr: u32,
    len: u32,
) -> Result<String, Status> {
    read(caller, ptr, len).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes raw bytes at `ptr`.
pub(crate) fn write<T: HoldsGuest>(
    caller: &mut Caller<'_, T>,
    ptr: u32,
    bytes: &[u8],
) -> Result<(), Status> {
    let guest = guest(caller)?;
    let start = ptr as usize;
    let end = start
        .checked_add(bytes.len())
        .ok_or(Status::InvalidMemoryAccess)?;
    let target = guest
        .memory
        .data_mut(caller)
        .get_mut(start..end)
        .ok_or(Status::InvalidMemoryAccess)?;
    target.copy_from_slice(bytes);
    Ok(())
}

/// Writes a little-endian `u32` (also a wasm32 pointer or `usize`).
pub(crate) fn write_u32<T: HoldsGuest>(
    caller: &mut Caller<'_, T>,
    ptr: u32,
    value: u32,
) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Writes a little-endian `u64`.
pub(crate) fn write_u64<T: HoldsGuest>(
    caller: &mut Caller<'_, T>,
    ptr: u32,
    value: u64,
) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Returns bytes to the guest the way proxy-wasm-cpp-host does: allocate
/// with the guest's allocator, copy, then store pointer and size. Empty data
/// is returned as a null pointer and size 0 (no allocation), which the SDK
/// reads as "no value".
pub(crate) fn return_bytes<T: HoldsGuest>(
    caller: &mut Caller<'_, T>,
    bytes: &[u8],
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let size = u32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let mut pointer = 0;
    if size > 0 {
        let allocate = guest(caller)?.allocate.ok_or(Status::InvalidMemoryAccess)?;
        pointer = allocate.call(&mut *caller, size)?;
        if pointer == 0 {
            return Err(Status::InvalidMemoryAccess.into());
        }
        write(caller, pointer, bytes)?;
    }
    write_u32(caller, ptr_ptr, pointer)?;
    write_u32(caller, size_ptr, size)?;
    Ok(())
}
