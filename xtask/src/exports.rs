//! Removing the proxy-wasm callbacks the filter does not implement from the
//! module's exports.
//!
//! The Rust SDK exports every callback of the ABI (`proxy_on_request_body`,
//! `proxy_on_response_body`, trailers, the L4 callbacks...), each of which
//! only dispatches to a default that does nothing. Envoy enters the VM for
//! every callback the module exports and skips the ones it does not
//! (proxy-wasm cpp-host: `if (!wasm_->on_response_body_) return Continue`),
//! so each one left in costs a VM entry per request that has a body.
//! Removing an export changes nothing else: the code stays, the functions
//! are only no longer reachable from the host.
//! <https://webassembly.github.io/spec/core/binary/modules.html#export-section>

use thiserror::Error;

/// The SDK's callbacks `meshtrace-filter` leaves at their defaults
/// (`HttpContext` body and trailer callbacks, the L4 `StreamContext`
/// callbacks, queues and foreign-function callbacks). A callback the
/// filter starts implementing must leave this list.
pub const UNUSED_CALLBACKS: [&str; 11] = [
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
    "proxy_on_new_connection",
    "proxy_on_downstream_data",
    "proxy_on_upstream_data",
    "proxy_on_downstream_connection_close",
    "proxy_on_upstream_connection_close",
    "proxy_on_queue_ready",
    "proxy_on_foreign_function",
];

/// The export section's id.
const EXPORT_SECTION: u8 = 7;

/// Why a module could not be rewritten.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ExportsError {
    /// Not a WebAssembly binary (magic and version 1).
    #[error("not a WebAssembly module (bad header)")]
    Header,
    /// A section or an export entry runs past the end, or a LEB128 number
    /// is malformed.
    #[error("malformed module at byte {0}")]
    Malformed(usize),
}

fn read_u32(bytes: &[u8], at: &mut usize) -> Result<u32, ExportsError> {
    let start = *at;
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at).ok_or(ExportsError::Malformed(start))?;
        *at += 1;
        value |= u32::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or(ExportsError::Malformed(start))?;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ExportsError::Malformed(start))
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Result<&'a [u8], ExportsError> {
    let start = *at;
    let end = start
        .checked_add(len)
        .filter(|end| *end <= bytes.len())
        .ok_or(ExportsError::Malformed(start))?;
    *at = end;
    Ok(&bytes[start..end])
}

/// `module` without the exports named in `names`, and the names it
/// removed. Every other byte is copied as it is.
///
/// # Errors
///
/// [`ExportsError`] for a malformed module.
pub fn drop_exports(module: &[u8], names: &[&str]) -> Result<(Vec<u8>, Vec<String>), ExportsError> {
    if module.get(..8) != Some(b"\0asm\x01\0\0\0") {
        return Err(ExportsError::Header);
    }
    let mut out = module[..8].to_vec();
    let mut removed = Vec::new();
    let mut at = 8;
    while at < module.len() {
        let section_start = at;
        let id = module[at];
        at += 1;
        let size = read_u32(module, &mut at)? as usize;
        let body = take(module, &mut at, size)?;
        if id != EXPORT_SECTION {
            out.extend_from_slice(&module[section_start..at]);
            continue;
        }
        let mut pos = 0;
        let count = read_u32(body, &mut pos)?;
        let mut kept = Vec::new();
        let mut kept_count = 0u32;
        for _ in 0..count {
            let entry_start = pos;
            let name_len = read_u32(body, &mut pos)? as usize;
            let name = take(body, &mut pos, name_len)?;
            // kind, then the index.
            take(body, &mut pos, 1)?;
            read_u32(body, &mut pos)?;
            match std::str::from_utf8(name) {
                Ok(name) if names.contains(&name) => removed.push(name.to_owned()),
                _ => {
                    kept.extend_from_slice(&body[entry_start..pos]);
                    kept_count += 1;
                }
            }
        }
        if pos != body.len() {
            return Err(ExportsError::Malformed(section_start));
        }
        let mut section = Vec::with_capacity(kept.len() + 5);
        write_u32(&mut section, kept_count);
        section.extend_from_slice(&kept);
        out.push(EXPORT_SECTION);
        write_u32(&mut out, u32::try_from(section.len()).unwrap_or(u32::MAX));
        out.extend_from_slice(&section);
    }
    Ok((out, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module of a custom section and an export section with `exports`
    /// (all function exports of index 0).
    fn module(exports: &[&str]) -> Vec<u8> {
        let mut out = b"\0asm\x01\0\0\0".to_vec();
        // Custom section "n" with one byte of payload.
        out.extend_from_slice(&[0, 3, 1, b'n', 7]);
        let mut section = Vec::new();
        write_u32(&mut section, exports.len() as u32);
        for name in exports {
            write_u32(&mut section, name.len() as u32);
            section.extend_from_slice(name.as_bytes());
            section.extend_from_slice(&[0, 0]);
        }
        out.push(EXPORT_SECTION);
        write_u32(&mut out, section.len() as u32);
        out.extend_from_slice(&section);
        out
    }

    #[test]
    fn removes_only_the_named_exports_and_keeps_the_rest_verbatim() {
        let before = module(&["proxy_on_log", "proxy_on_response_body", "malloc"]);
        let (after, removed) = drop_exports(&before, &UNUSED_CALLBACKS).unwrap();
        assert_eq!(removed, vec!["proxy_on_response_body"]);
        assert_eq!(after, module(&["proxy_on_log", "malloc"]));
        let (again, removed) = drop_exports(&after, &UNUSED_CALLBACKS).unwrap();
        assert_eq!(again, after, "idempotent");
        assert!(removed.is_empty());
    }

    #[test]
    fn long_names_need_multi_byte_lengths() {
        let long = "x".repeat(200);
        let before = module(&[&long, "proxy_on_queue_ready"]);
        let (after, _) = drop_exports(&before, &UNUSED_CALLBACKS).unwrap();
        assert_eq!(after, module(&[&long]));
    }

    #[test]
    fn malformed_modules_are_errors() {
        assert_eq!(
            drop_exports(b"\0asm\x02\0\0\0", &[]),
            Err(ExportsError::Header)
        );
        let good = module(&["proxy_on_log"]);
        // Byte 13 ends the custom section: a shorter, valid module.
        for cut in (9..good.len()).filter(|cut| *cut != 13) {
            assert!(
                drop_exports(&good[..cut], &[]).is_err(),
                "cut at {cut} of {}",
                good.len()
            );
        }
    }
}
