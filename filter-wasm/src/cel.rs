//! Reading Envoy attributes that are not headers in one host call.
//!
//! A `get_property` costs about 4 µs in Envoy 1.40 (its attribute
//! wrappers, and a VM re-entry to allocate the result); Envoy's Wasm host
//! also offers CEL through foreign functions: `expr_create` compiles an
//! expression once (at configuration), and `expr_evaluate` (about 7 µs)
//! evaluates it against the current stream and returns the result
//! serialized. The opt-in connection attributes (three properties) are
//! therefore read with one list expression. Headers are cheaper still and
//! are read from the header map ([`crate::headers`]).
//!
//! Envoy 1.40 serializes a list in the proxy-wasm pairs encoding (a `u32`
//! count, a `u32` key size and value size per pair, then each key and value
//! followed by a NUL), each element as a key in Envoy's native attribute
//! form (string bytes; an int64 as 8 little-endian bytes) with an empty
//! value. Earlier releases serialized it as a `google.protobuf.ListValue`
//! (Envoy's `serializeValue` in `source/extensions/common/wasm/context.cc`);
//! both are read.
//!
//! Each element is guarded by `has()` so a missing attribute is an empty
//! value, not an evaluation error. A host without these functions (or an
//! evaluation that fails) makes the filter read the attributes one by one.
//! <https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes>
//! <https://github.com/google/cel-spec/blob/master/doc/langdef.md#macros>

use crate::headers::PairsError;

/// Foreign function compiling an expression into a `u32` token.
pub const CREATE: &str = "expr_create";
/// Foreign function evaluating a token against the current stream.
pub const EVALUATE: &str = "expr_evaluate";
/// Foreign function releasing a token.
pub const DELETE: &str = "expr_delete";

/// The opt-in connection attributes (`attributes.connection`), read in
/// the log phase, in [`ConnectionAttr`] order.
pub const CONNECTION_EXPR: &str = "[\
    has(request.protocol) ? request.protocol : '', \
    has(source.address) ? source.address : '', \
    has(xds.cluster_name) ? xds.cluster_name : '']";

/// Number of values [`CONNECTION_EXPR`] yields.
pub const CONNECTION_LEN: usize = 3;

/// Positions in [`CONNECTION_EXPR`]'s result.
#[derive(Copy, Clone, Debug)]
pub enum ConnectionAttr {
    /// `HTTP/1.1`, `HTTP/2`, ...
    Protocol = 0,
    /// Downstream peer `ip:port`.
    SourceAddress,
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
    let mut out = [Value::Null; N];
    let mut next = 0;
    let found = crate::headers::for_each_pair(bytes, |key, _| {
        if let Some(slot) = out.get_mut(next) {
            *slot = Value::Native(key);
        }
        next += 1;
    })
    .map_err(|e| match e {
        PairsError::Trailing(at) => ListDecodeError::Trailing(at),
        PairsError::Truncated(at) | PairsError::MissingNul(at) => ListDecodeError::Truncated(at),
    })?;
    if found != N {
        return Err(ListDecodeError::Length { expected: N, found });
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
        // As Envoy 1.40.0 returns a list with an int64 and strings.
        let bytes = pairs(&[b"HTTP/1.1", &503i64.to_le_bytes(), b"backend"]);
        let values = decode_list::<3>(&bytes).unwrap();
        assert_eq!(values[0].as_str(), Some("HTTP/1.1"));
        assert_eq!(values[1].as_i64(), Some(503));
        assert_eq!(values[2].as_str(), Some("backend"));

        let bytes = pairs(&[b"HTTP/2", b"", b"b:2"]);
        let values = decode_list::<CONNECTION_LEN>(&bytes).unwrap();
        assert_eq!(
            values[ConnectionAttr::Protocol as usize].as_str(),
            Some("HTTP/2")
        );
        assert_eq!(
            values[ConnectionAttr::SourceAddress as usize].as_str(),
            None,
            "empty is absent"
        );
        assert_eq!(
            values[ConnectionAttr::Cluster as usize].as_str(),
            Some("b:2")
        );
        assert!(
            decode_list::<2>(&bytes).is_err(),
            "a list longer than the expression is an error"
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
            number_value(0.0),
        ]);
        let values = decode_list::<4>(&bytes).unwrap();
        assert_eq!(values[0].as_i64(), Some(503));
        assert_eq!(values[1].as_i64(), Some(16));
        assert_eq!(values[2].as_str(), Some("backend"));
    }

    #[test]
    fn empty_string_is_absent() {
        // proto3 serializes a set oneof member even when it is empty.
        let bytes = list(&[
            number_value(0.0),
            number_value(0.0),
            string_value(""),
            number_value(0.0),
        ]);
        let values = decode_list::<4>(&bytes).unwrap();
        assert_eq!(values[2], Value::Str(b""));
        assert_eq!(values[2].as_str(), None);
        assert_eq!(values[0].as_i64(), Some(0));
    }

    #[test]
    fn an_empty_element_is_null() {
        let bytes = list(&[Vec::new(), number_value(1.0), string_value("x")]);
        let values = decode_list::<3>(&bytes).unwrap();
        assert_eq!(values[0], Value::Null);
        assert_eq!(values[0].as_i64(), None);
    }

    #[test]
    fn rejects_wrong_lengths_and_truncation() {
        let two = list(&[number_value(1.0), number_value(2.0)]);
        assert_eq!(
            decode_list::<3>(&two),
            Err(ListDecodeError::Length {
                expected: 3,
                found: 2
            }),
            "a list shorter than the expression is an error, not zeros"
        );
        let four = list(&[Vec::new(), Vec::new(), Vec::new(), Vec::new()]);
        assert!(
            matches!(
                decode_list::<3>(&four),
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
        assert_eq!(count(CONNECTION_EXPR), CONNECTION_LEN);
        assert_eq!(ConnectionAttr::Cluster as usize, CONNECTION_LEN - 1);
    }
}
