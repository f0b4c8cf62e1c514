//! Reading a span's Envoy attributes in one host call per phase.
//!
//! Each `get_property` / `get_header_map_value` is a host call, and every
//! value it returns re-enters the VM to allocate the result; a sampled span
//! needs eleven of them. Envoy's Wasm host also offers CEL through foreign
//! functions: `expr_create` compiles an expression once (at configuration),
//! and `expr_evaluate` evaluates it against the current stream and returns
//! the result serialized. One list expression per phase therefore replaces
//! all of those calls.
//!
//! Envoy 1.40 serializes a list in the proxy-wasm pairs encoding (a `u32`
//! count, a `u32` key size and value size per pair, then each key and value
//! followed by a NUL), each element as a key in Envoy's native attribute
//! form (string bytes; an int64 as 8 little-endian bytes) with an empty
//! value. Earlier releases serialized it as a `google.protobuf.ListValue`
//! (Envoy's `serializeValue` in `source/extensions/common/wasm/context.cc`);
//! both are read.
//!
//! The expressions read the same attributes as the one-by-one path
//! (`request.*`, `source.address`, `response.*`, `xds.cluster_name`), each
//! guarded by `has()` so a missing one is an empty value, not an evaluation
//! error. A host without these functions (or an evaluation that fails) makes
//! the filter fall back to reading attributes one by one.
//! <https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes>
//! <https://github.com/google/cel-spec/blob/master/doc/langdef.md#macros>

/// Foreign function compiling an expression into a `u32` token.
pub const CREATE: &str = "expr_create";
/// Foreign function evaluating a token against the current stream.
pub const EVALUATE: &str = "expr_evaluate";
/// Foreign function releasing a token.
pub const DELETE: &str = "expr_delete";

/// Request-phase attributes, in [`RequestAttr`] order.
pub const REQUEST_EXPR: &str = "[\
    has(request.method) ? request.method : '', \
    has(request.path) ? request.path : '', \
    has(request.scheme) ? request.scheme : '', \
    has(request.host) ? request.host : '', \
    has(request.useragent) ? request.useragent : '', \
    has(request.id) ? request.id : '', \
    has(request.protocol) ? request.protocol : '', \
    has(source.address) ? source.address : '']";

/// Number of values [`REQUEST_EXPR`] yields.
pub const REQUEST_LEN: usize = 8;

/// Positions in [`REQUEST_EXPR`]'s result.
#[derive(Copy, Clone, Debug)]
pub enum RequestAttr {
    /// `:method`.
    Method = 0,
    /// `:path`.
    Path,
    /// `:scheme`.
    Scheme,
    /// `:authority`.
    Host,
    /// `user-agent`.
    UserAgent,
    /// `x-request-id`.
    RequestId,
    /// `HTTP/1.1`, `HTTP/2`, ...
    Protocol,
    /// Downstream peer `ip:port`.
    SourceAddress,
}

/// Log-phase attributes, in [`ResponseAttr`] order.
pub const RESPONSE_EXPR: &str = "[\
    has(response.code) ? response.code : 0, \
    has(response.flags) ? response.flags : 0, \
    has(xds.cluster_name) ? xds.cluster_name : '']";

/// Number of values [`RESPONSE_EXPR`] yields.
pub const RESPONSE_LEN: usize = 3;

/// Positions in [`RESPONSE_EXPR`]'s result.
#[derive(Copy, Clone, Debug)]
pub enum ResponseAttr {
    /// Status code; 0 when there was no response.
    Code = 0,
    /// Envoy's response flags bit vector.
    Flags,
    /// Upstream cluster name.
    Cluster,
}

/// One element of an evaluated list, borrowing the host's buffer.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub enum Value<'a> {
    /// `null_value`, or a kind this filter does not read.
    #[default]
    Null,
    /// An element of the pairs encoding, in Envoy's native attribute form:
    /// string bytes, or an int64 as 8 little-endian bytes. Which one it is
    /// follows from the expression.
    Native(&'a [u8]),
    /// `number_value` (CEL integers arrive as doubles).
    Number(f64),
    /// `string_value` (CEL strings and bytes).
    Str(&'a [u8]),
    /// `bool_value`.
    Bool(bool),
}

/// Why an `expr_evaluate` result could not be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListDecodeError {
    /// The buffer ends inside a field.
    #[error("list value truncated at byte {0}")]
    Truncated(usize),
    /// A wire type protobuf does not define (or a group).
    #[error("unsupported protobuf wire type {wire_type} at byte {at}")]
    WireType {
        /// The wire type found.
        wire_type: u8,
        /// Its offset.
        at: usize,
    },
    /// Bytes left after the last pair.
    #[error("unexpected bytes after the last pair, from byte {0}")]
    Trailing(usize),
    /// The list does not have the expected number of elements.
    #[error("expected {expected} values, found {found}")]
    Length {
        /// What the expression yields.
        expected: usize,
        /// What the buffer held.
        found: usize,
    },
}

// === impl Value ===

impl<'a> Value<'a> {
    /// A non-empty UTF-8 string, else `None`.
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Value::Str(bytes) | Value::Native(bytes) if !bytes.is_empty() => {
                std::str::from_utf8(bytes).ok()
            }
            _ => None,
        }
    }

    /// An integral number, else `None`.
    #[allow(clippy::cast_possible_truncation)]
    pub fn as_i64(self) -> Option<i64> {
        match self {
            // Exact for every integer CEL returns here (status codes, flag
            // bit vectors well under 2^53).
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => {
                Some(n as i64)
            }
            Value::Native(bytes) => Some(i64::from_le_bytes(bytes.try_into().ok()?)),
            _ => None,
        }
    }
}

/// Decodes an evaluated list of exactly `N` scalar values, in either
/// encoding, without allocating.
pub fn decode_list<const N: usize>(bytes: &[u8]) -> Result<[Value<'_>; N], ListDecodeError> {
    // A ListValue starts with the key byte 0x0a, so its first four bytes
    // never read as a count this small.
    match bytes.get(..4) {
        Some(count)
            if u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as usize == N =>
        {
            decode_pairs(bytes)
        }
        _ => decode_list_value(bytes),
    }
}

/// The proxy-wasm pairs encoding, keys as elements.
/// <https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1#header-map-pairs>
fn decode_pairs<const N: usize>(bytes: &[u8]) -> Result<[Value<'_>; N], ListDecodeError> {
    let u32_at = |at: usize| -> Result<usize, ListDecodeError> {
        let raw = bytes
            .get(at..at + 4)
            .ok_or(ListDecodeError::Truncated(at))?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
    };
    let mut out = [Value::Null; N];
    let mut data = 4 + 8 * N;
    for (i, slot) in out.iter_mut().enumerate() {
        let key_len = u32_at(4 + 8 * i)?;
        let value_len = u32_at(8 + 8 * i)?;
        let key_end = data
            .checked_add(key_len)
            .filter(|end| *end < bytes.len())
            .ok_or(ListDecodeError::Truncated(data))?;
        *slot = Value::Native(&bytes[data..key_end]);
        // Key NUL, value, value NUL.
        data = key_end
            .checked_add(value_len)
            .and_then(|end| end.checked_add(2))
            .filter(|end| *end <= bytes.len())
            .ok_or(ListDecodeError::Truncated(key_end))?;
    }
    if data != bytes.len() {
        return Err(ListDecodeError::Trailing(data));
    }
    Ok(out)
}

/// A serialized `google.protobuf.ListValue`.
/// <https://protobuf.dev/reference/protobuf/google.protobuf/#list-value>
fn decode_list_value<const N: usize>(bytes: &[u8]) -> Result<[Value<'_>; N], ListDecodeError> {
    let mut out = [Value::Null; N];
    let mut found = 0;
    let mut reader = Reader { bytes, pos: 0 };
    while !reader.done() {
        let (field, wire) = reader.key()?;
        match (field, wire) {
            // `repeated Value values = 1;`
            (1, 2) => {
                let element = reader.delimited()?;
                if found < N {
                    out[found] = decode_value(element)?;
                }
                found += 1;
            }
            _ => reader.skip(wire)?,
        }
    }
    if found != N {
        return Err(ListDecodeError::Length { expected: N, found });
    }
    Ok(out)
}

/// One `google.protobuf.Value`; the last kind field present wins, as
/// protobuf merges a oneof.
fn decode_value(bytes: &[u8]) -> Result<Value<'_>, ListDecodeError> {
    let mut value = Value::Null;
    let mut reader = Reader { bytes, pos: 0 };
    while !reader.done() {
        let (field, wire) = reader.key()?;
        value = match (field, wire) {
            (1, 0) => {
                reader.varint()?;
                Value::Null
            }
            (2, 1) => Value::Number(f64::from_bits(reader.fixed64()?)),
            (3, 2) => Value::Str(reader.delimited()?),
            (4, 0) => Value::Bool(reader.varint()? != 0),
            _ => {
                reader.skip(wire)?;
                Value::Null
            }
        };
    }
    Ok(value)
}

/// A cursor over protobuf wire format.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, ListDecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or(ListDecodeError::Truncated(self.pos))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ListDecodeError::Truncated(self.pos))
    }

    fn key(&mut self) -> Result<(u64, u8), ListDecodeError> {
        let key = self.varint()?;
        Ok((key >> 3, (key & 7) as u8))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ListDecodeError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(ListDecodeError::Truncated(self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn fixed64(&mut self) -> Result<u64, ListDecodeError> {
        let raw: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| ListDecodeError::Truncated(self.pos))?;
        Ok(u64::from_le_bytes(raw))
    }

    fn delimited(&mut self) -> Result<&'a [u8], ListDecodeError> {
        let len =
            usize::try_from(self.varint()?).map_err(|_| ListDecodeError::Truncated(self.pos))?;
        self.take(len)
    }

    fn skip(&mut self, wire: u8) -> Result<(), ListDecodeError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.take(8).map(drop),
            2 => self.delimited().map(drop),
            5 => self.take(4).map(drop),
            wire_type => Err(ListDecodeError::WireType {
                wire_type,
                at: self.pos,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_value(s: &str) -> Vec<u8> {
        let mut v = vec![0x1a, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn number_value(n: f64) -> Vec<u8> {
        let mut v = vec![0x11];
        v.extend_from_slice(&n.to_bits().to_le_bytes());
        v
    }

    fn list(values: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for value in values {
            out.push(0x0a);
            out.push(value.len() as u8);
            out.extend_from_slice(value);
        }
        out
    }

    /// Envoy 1.40's encoding: count, sizes, then NUL-terminated keys and
    /// (empty) values.
    fn pairs(keys: &[&[u8]]) -> Vec<u8> {
        let mut out = (keys.len() as u32).to_le_bytes().to_vec();
        for key in keys {
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        for key in keys {
            out.extend_from_slice(key);
            out.extend_from_slice(&[0, 0]);
        }
        out
    }

    #[test]
    fn decodes_envoy_1_40_pairs() {
        // As Envoy 1.40.0 returned RESPONSE_EXPR for a 200 from `backend`.
        let bytes = pairs(&[&200i64.to_le_bytes(), &0i64.to_le_bytes(), b"backend"]);
        let values = decode_list::<RESPONSE_LEN>(&bytes).unwrap();
        assert_eq!(values[ResponseAttr::Code as usize].as_i64(), Some(200));
        assert_eq!(values[ResponseAttr::Flags as usize].as_i64(), Some(0));
        assert_eq!(
            values[ResponseAttr::Cluster as usize].as_str(),
            Some("backend")
        );

        let bytes = pairs(&[
            b"GET",
            b"/orders/7",
            b"http",
            b"a:1",
            b"",
            b"id",
            b"HTTP/1.1",
            b"b:2",
        ]);
        let values = decode_list::<REQUEST_LEN>(&bytes).unwrap();
        assert_eq!(values[RequestAttr::Method as usize].as_str(), Some("GET"));
        assert_eq!(
            values[RequestAttr::UserAgent as usize].as_str(),
            None,
            "empty is absent"
        );
        assert_eq!(
            values[RequestAttr::SourceAddress as usize].as_str(),
            Some("b:2")
        );
    }

    #[test]
    fn rejects_malformed_pairs() {
        let good = pairs(&[b"a", b"bc", b"d"]);
        for cut in [5, 20, good.len() - 1] {
            assert!(
                decode_list::<3>(&good[..cut]).is_err(),
                "cut at {cut} of {}: an error, not a panic",
                good.len()
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            decode_list::<3>(&long),
            Err(ListDecodeError::Trailing(good.len()))
        );
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_list::<3>(&huge).is_err(), "a size past the end");
        assert_eq!(
            Value::Native(b"short").as_i64(),
            None,
            "an int64 is 8 bytes"
        );
    }

    #[test]
    fn decodes_strings_and_numbers_in_order() {
        let bytes = list(&[
            number_value(503.0),
            number_value(16.0),
            string_value("backend"),
        ]);
        let values = decode_list::<RESPONSE_LEN>(&bytes).unwrap();
        assert_eq!(values[ResponseAttr::Code as usize].as_i64(), Some(503));
        assert_eq!(values[ResponseAttr::Flags as usize].as_i64(), Some(16));
        assert_eq!(
            values[ResponseAttr::Cluster as usize].as_str(),
            Some("backend")
        );
    }

    #[test]
    fn empty_string_is_absent() {
        // proto3 serializes a set oneof member even when it is empty.
        let bytes = list(&[number_value(0.0), number_value(0.0), string_value("")]);
        let values = decode_list::<RESPONSE_LEN>(&bytes).unwrap();
        assert_eq!(values[2], Value::Str(b""));
        assert_eq!(values[2].as_str(), None);
        assert_eq!(values[0].as_i64(), Some(0));
    }

    #[test]
    fn an_empty_element_is_null() {
        let bytes = list(&[Vec::new(), number_value(1.0), string_value("x")]);
        let values = decode_list::<RESPONSE_LEN>(&bytes).unwrap();
        assert_eq!(values[0], Value::Null);
        assert_eq!(values[0].as_i64(), None);
    }

    #[test]
    fn rejects_wrong_lengths_and_truncation() {
        let two = list(&[number_value(1.0), number_value(2.0)]);
        assert_eq!(
            decode_list::<RESPONSE_LEN>(&two),
            Err(ListDecodeError::Length {
                expected: 3,
                found: 2
            }),
            "a list shorter than the expression is an error, not zeros"
        );
        let four = list(&[Vec::new(), Vec::new(), Vec::new(), Vec::new()]);
        assert!(
            matches!(
                decode_list::<RESPONSE_LEN>(&four),
                Err(ListDecodeError::Length { found: 4, .. })
            ),
            "a longer list is an error too"
        );
        let mut cut = list(&[string_value("abcdef")]);
        cut.truncate(cut.len() - 2);
        assert!(
            matches!(decode_list::<1>(&cut), Err(ListDecodeError::Truncated(_))),
            "a length past the end is truncation, not a panic"
        );
        assert!(
            matches!(
                decode_list::<1>(&[0x0b]),
                Err(ListDecodeError::WireType { .. })
            ),
            "groups are not part of ListValue"
        );
    }

    #[test]
    fn skips_unknown_fields_and_kinds() {
        // A struct_value (field 5) element and an unknown list field 9.
        let mut bytes = list(&[vec![0x2a, 0x00], vec![0x20, 0x01]]);
        bytes.extend_from_slice(&[0x48, 0x07]);
        let values = decode_list::<2>(&bytes).unwrap();
        assert_eq!(values, [Value::Null, Value::Bool(true)]);
    }

    #[test]
    fn non_integral_numbers_are_not_integers() {
        assert_eq!(Value::Number(1.5).as_i64(), None);
        assert_eq!(Value::Number(f64::NAN).as_i64(), None);
        assert_eq!(Value::Number(1e300).as_i64(), None);
        assert_eq!(Value::Str(b"200").as_i64(), None);
    }

    #[test]
    fn expressions_have_their_declared_lengths() {
        let count = |expr: &str| expr.matches("has(").count();
        assert_eq!(count(REQUEST_EXPR), REQUEST_LEN);
        assert_eq!(count(RESPONSE_EXPR), RESPONSE_LEN);
        assert_eq!(RequestAttr::SourceAddress as usize, REQUEST_LEN - 1);
        assert_eq!(ResponseAttr::Cluster as usize, RESPONSE_LEN - 1);
    }
}
