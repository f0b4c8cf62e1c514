//! Lowercase hex, the only case Trace Context allows, decoded and encoded
//! without allocating or panicking.
//! <https://www.w3.org/TR/trace-context-2/#traceparent-header-field-values>

/// Lowercase hex digits of every byte value, so that encoding is one table
/// lookup per byte (see [`hex_pair`]). Built at compile time, where the
/// indexing below is checked by the compiler.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
        i += 1;
    }
    table
};

// === hex helpers ===

/// The value of one lowercase hex digit.
pub(super) const fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Decodes `2 * N` lowercase hex digits into `N` bytes; `None` if `hex` has
/// another length or any character is not a lowercase hex digit.
pub(crate) fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let &[hi, lo] = pair else { return None };
        *byte = (nibble(hi)? << 4) | nibble(lo)?;
    }
    Some(out)
}

/// Writes `bytes` as lowercase hex into `buf` (which must be twice as long)
/// and returns the written text.
pub(super) fn encode_hex<'a>(bytes: &[u8], buf: &'a mut [u8]) -> Option<&'a str> {
    if buf.len() != 2 * bytes.len() {
        return None;
    }
    push_hex(&mut buf.iter_mut(), bytes);
    core::str::from_utf8(buf).ok()
}

/// The two lowercase hex digits of `byte`. A `u8` always indexes a
/// 256-entry table, so the fallback is unreachable (and optimised out); it
/// only keeps the lookup free of panicking indexing.
pub(super) fn hex_pair(byte: u8) -> [u8; 2] {
    HEX_PAIRS
        .get(usize::from(byte))
        .copied()
        .unwrap_or([b'0'; 2])
}

/// Writes `byte` to the next slot of `out`; the caller sizes the buffer.
pub(crate) fn push(out: &mut core::slice::IterMut<'_, u8>, byte: u8) {
    if let Some(slot) = out.next() {
        *slot = byte;
    }
}

/// Writes `bytes` as lowercase hex to the next slots of `out`.
pub(crate) fn push_hex(out: &mut core::slice::IterMut<'_, u8>, bytes: &[u8]) {
    for &byte in bytes {
        let [hi, lo] = hex_pair(byte);
        push(out, hi);
        push(out, lo);
    }
}
