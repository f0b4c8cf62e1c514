//! The host calls the SDK's wrappers cannot make without panicking or
//! allocating per header.
//!
//! `proxy_wasm::hostcalls::get_map` deserializes every header into owned
//! `String`s and panics on a status other than `Ok`;
//! `hostcalls::get_map_value` panics on a value that is not UTF-8 (HTTP/1
//! allows obs-text bytes) and on unexpected statuses; `set_map_value`,
//! `remove_map_value` and `set_tick_period` panic on any status but `Ok`
//! (Envoy answers `BadArgument` for a header map it no longer holds). A
//! panic traps the VM, so these call the same ABI functions and return
//! every status: reads give `None`, writes the status as an error.
//! <https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1#header-map-pairs>

#![allow(unsafe_code)]

use std::ptr::null_mut;
use std::time::Duration;

use proxy_wasm::types::{MapType, Status};

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;

    fn proxy_get_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> Status;

    fn proxy_replace_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> Status;

    fn proxy_remove_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
    ) -> Status;

    fn proxy_set_tick_period_milliseconds(period: u32) -> Status;
}

fn ok(status: Status) -> Result<(), Status> {
    match status {
        Status::Ok => Ok(()),
        status => Err(status),
    }
}

/// Takes ownership of a buffer the host allocated in this module's memory
/// (through the SDK's `proxy_on_memory_allocate`).
fn owned(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: the host returned `data`, `size` from the guest allocator it
    // called for exactly `size` bytes, and hands the buffer over: this is
    // how the SDK's own wrappers take it (`Vec::from_raw_parts` with
    // capacity `size`).
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// The serialized pairs of header map `map` ([`crate::headers`] reads
/// them); `None` when the map is empty, missing or the call fails.
pub fn header_pairs(map: MapType) -> Option<Vec<u8>> {
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: both out-pointers are valid for writes for the call.
    match unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) } {
        Status::Ok => owned(data, size),
        _ => None,
    }
}

/// The (first) value of header `name` in `map`, as bytes; `None` when
/// absent or the call fails.
pub fn header_value(map: MapType, name: &str) -> Option<Vec<u8>> {
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: `name` is valid for reads of its length, both out-pointers
    // are valid for writes, for the call.
    match unsafe {
        proxy_get_header_map_value(map, name.as_ptr(), name.len(), &mut data, &mut size)
    } {
        Status::Ok => owned(data, size),
        _ => None,
    }
}

/// Sets header `name` of `map` to `value`, replacing every value it had.
pub fn replace_header(map: MapType, name: &str, value: &str) -> Result<(), Status> {
    // SAFETY: `name` and `value` are valid for reads of their lengths for
    // the call; the host copies them.
    ok(unsafe {
        proxy_replace_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len())
    })
}

/// Removes every value of header `name` from `map`.
pub fn remove_header(map: MapType, name: &str) -> Result<(), Status> {
    // SAFETY: `name` is valid for reads of its length for the call.
    ok(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
}

/// Sets the root context's tick period, in whole milliseconds (saturating).
pub fn set_tick_period(period: Duration) -> Result<(), Status> {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: no pointers are passed.
    ok(unsafe { proxy_set_tick_period_milliseconds(millis) })
}
