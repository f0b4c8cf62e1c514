//! The `tracestate` header: allocation-free validation, per W3C Trace
//! Context Level 2. <https://www.w3.org/TR/trace-context-2/#tracestate-header>
//!
//! ```text
//! list        = list-member 0*31( OWS "," OWS list-member )
//! list-member = (key "=" value) / OWS
//! ```
//!
//! The input is the combined value of every `tracestate` header: Envoy joins
//! repeated headers with `,`, which is the spec's own combining rule
//! (<https://www.w3.org/TR/trace-context-2/#combined-header-value>). A value
//! that fails validation is dropped whole, never repaired, with one
//! exception: a repeated key keeps its first list-member and loses the
//! later ones, since "only one entry per key is allowed" and the leftmost
//! is the most recent position
//! (<https://www.w3.org/TR/trace-context-2/#combined-header-value>,
//! <https://www.w3.org/TR/trace-context-2/#mutating-the-tracestate-field>).
//! <https://www.w3.org/TR/trace-context-2/#tracestate-parsing>

use std::borrow::Cow;

use core::fmt;
use core::iter::FusedIterator;

/// At most this many non-empty list-members.
/// <https://www.w3.org/TR/trace-context-2/#list>
pub const MAX_MEMBERS: usize = 32;

/// Longest key: `( lcalpha / DIGIT ) 0*255( keychar )`.
/// <https://www.w3.org/TR/trace-context-2/#key>
pub const MAX_KEY_LEN: usize = 256;

/// Longest value.
/// <https://www.w3.org/TR/trace-context-2/#value>
pub const MAX_VALUE_LEN: usize = 256;

/// A validated `tracestate` value, borrowed from the input.
/// <https://www.w3.org/TR/trace-context-2/#tracestate-header>
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TraceState<'a> {
    /// The validated input, surrounding OWS trimmed.
    value: &'a str,
    /// Number of list-members kept (non-empty, first of their key).
    len: usize,
    /// Bit `i` set: non-empty list-member `i` repeats an earlier key and
    /// is dropped.
    repeated: u32,
}

/// The `(key, value)` pairs of a [`TraceState`], in header order (most
/// recently updated first), empty and repeated list-members skipped.
/// <https://www.w3.org/TR/trace-context-2/#list>
#[derive(Clone, Debug)]
pub struct Members<'a> {
    entries: Entries<'a>,
    /// Index of the next non-empty list-member.
    index: usize,
    repeated: u32,
}

/// Why a `tracestate` value was rejected; the whole header is then dropped.
/// Member indexes count non-empty list-members from 0, in header order.
/// <https://www.w3.org/TR/trace-context-2/#tracestate-parsing>
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    /// The value is not UTF-8 (and so not the printable ASCII the grammar
    /// allows). <https://www.w3.org/TR/trace-context-2/#value>
    #[error("tracestate is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// More than 32 non-empty list-members.
    /// <https://www.w3.org/TR/trace-context-2/#list>
    #[error("tracestate has {count} list-members; at most 32 are allowed")]
    TooManyMembers {
        /// Number of non-empty list-members found.
        count: usize,
    },
    /// A list-member has no `=` between key and value.
    /// <https://www.w3.org/TR/trace-context-2/#list-member>
    #[error("tracestate list-member {index} has no `=` between key and value")]
    MissingEquals {
        /// Index of the list-member.
        index: usize,
    },
    /// A key is empty, longer than 256 characters, starts with something
    /// other than a lowercase letter or a digit, or has a character the
    /// grammar forbids (uppercase, space, `.`...).
    /// <https://www.w3.org/TR/trace-context-2/#key>
    #[error(
        "tracestate list-member {index} has an invalid key (1 to 256 of a-z 0-9 _ - * / @, starting with a-z or 0-9)"
    )]
    InvalidKey {
        /// Index of the list-member.
        index: usize,
    },
    /// A value is empty, longer than 256 characters, ends with a space, or
    /// has a character outside printable ASCII or an `=`.
    /// <https://www.w3.org/TR/trace-context-2/#value>
    #[error(
        "tracestate list-member {index} has an invalid value (1 to 256 printable ASCII characters, no `,` or `=`, not ending in a space)"
    )]
    InvalidValue {
        /// Index of the list-member.
        index: usize,
    },
}

/// Validates a combined `tracestate` value without allocating.
///
/// List-members are separated by `,` with optional spaces and tabs around
/// them; empty members are allowed and not counted
/// (<https://www.w3.org/TR/trace-context-2/#list>). Each non-empty member
/// is `key=value` with no spaces around `=`
/// (<https://www.w3.org/TR/trace-context-2/#key>,
/// <https://www.w3.org/TR/trace-context-2/#value>). A key that repeats an
/// earlier one is not an error: that later list-member is marked dropped
/// ([`TraceState::header`] leaves it out). Spaces and tabs before a
/// `,` or at the end are OWS, not part of a value; spaces after `=` are part
/// of the value, as the grammar allows.
///
/// An empty (or all-OWS, or all-comma) value is valid with no members:
/// "Vendors MUST accept empty tracestate headers but SHOULD avoid sending
/// them." <https://www.w3.org/TR/trace-context-2/#list>
///
/// # Errors
///
/// A [`TraceStateError`] naming the first offending list-member and the
/// problem; the caller then drops the whole header (and keeps the
/// `traceparent`).
pub fn validate(input: &[u8]) -> Result<TraceState<'_>, TraceStateError> {
    let value = core::str::from_utf8(input).map_err(|e| TraceStateError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let value = trim_ows(value);

    // The keys seen so far, with a hash of each, on the stack: at most 32
    // members, so checking each new key against the earlier ones needs no
    // set and no allocation, and the hashes skip most string comparisons.
    let mut keys: [(u64, &str); MAX_MEMBERS] = [(0, ""); MAX_MEMBERS];
    let mut len = 0;
    let mut repeated = 0u32;
    for (index, member) in non_empty(value).enumerate() {
        let Some(slot) = keys.get_mut(index) else {
            return Err(TraceStateError::TooManyMembers {
                count: non_empty(value).count(),
            });
        };
        let (key, val) =
            split_at_byte(member, b'=').ok_or(TraceStateError::MissingEquals { index })?;
        if !is_valid_key(key) {
            return Err(TraceStateError::InvalidKey { index });
        }
        if !is_valid_value(val) {
            return Err(TraceStateError::InvalidValue { index });
        }
        let hash = fnv1a(key);
        *slot = (hash, key);
        let earlier = keys.get(..index).unwrap_or_default();
        if earlier.iter().any(|&(h, k)| h == hash && k == key) {
            // `index` < 32 here (`keys` has 32 slots).
            repeated |= 1 << index;
        } else {
            len += 1;
        }
    }
    Ok(TraceState {
        value,
        len,
        repeated,
    })
}

// === impl TraceState ===

impl<'a> TraceState<'a> {
    /// The validated input with surrounding OWS trimmed, repeated keys
    /// included: what came in. [`header`](Self::header) is what goes out.
    pub fn as_str(&self) -> &'a str {
        self.value
    }

    /// The value to forward: the input as received (borrowed) when no key
    /// repeats, else its kept list-members joined with `,` (the only case
    /// that allocates).
    pub fn header(&self) -> Cow<'a, str> {
        if self.repeated == 0 {
            return Cow::Borrowed(self.value);
        }
        let mut out = String::with_capacity(self.value.len());
        for (key, value) in self.members() {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
        Cow::Owned(out)
    }

    /// Number of list-members kept: non-empty, and the first of their key.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of list-members dropped because their key came earlier.
    pub fn repeated(&self) -> usize {
        self.repeated.count_ones() as usize
    }

    /// Whether there are no list-members (the header was empty, OWS or
    /// commas only); such a header SHOULD NOT be sent.
    /// <https://www.w3.org/TR/trace-context-2/#list>
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The kept `(key, value)` pairs, in header order.
    pub fn members(&self) -> Members<'a> {
        Members {
            entries: Entries::new(self.value),
            index: 0,
            repeated: self.repeated,
        }
    }
}

impl fmt::Display for TraceState<'_> {
    /// The value to forward ([`header`](Self::header)).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

// === impl Members ===

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let member = self.entries.find(|member| !member.is_empty())?;
            let index = self.index;
            self.index += 1;
            if index < MAX_MEMBERS && self.repeated & (1 << index) != 0 {
                continue;
            }
            // Validated members always split; an entry that did not would
            // be skipped rather than panic.
            if let Some(pair) = split_at_byte(member, b'=') {
                return Some(pair);
            }
        }
    }
}

impl FusedIterator for Members<'_> {}

// === grammar helpers ===

/// The comma-separated entries of a `tracestate` value, OWS trimmed, empty
/// ones included. Scans bytes (every delimiter is ASCII), which is cheaper
/// than `str::split` on these short pieces.
#[derive(Clone, Debug)]
struct Entries<'a> {
    /// What is left to split; `None` once the last entry was returned.
    rest: Option<&'a str>,
}

impl<'a> Entries<'a> {
    fn new(value: &'a str) -> Self {
        Self { rest: Some(value) }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest.take()?;
        match split_at_byte(rest, b',') {
            Some((entry, tail)) => {
                self.rest = Some(tail);
                Some(trim_ows(entry))
            }
            None => Some(trim_ows(rest)),
        }
    }
}

impl FusedIterator for Entries<'_> {}

/// The non-empty list-members of `value`, OWS trimmed.
fn non_empty(value: &str) -> impl Iterator<Item = &str> {
    Entries::new(value).filter(|member| !member.is_empty())
}

/// Splits `s` around the first `sep` byte, which must be ASCII.
fn split_at_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == sep)?;
    // An ASCII byte is always a char boundary, so both halves exist.
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// 64-bit FNV-1a of `s`: a cheap filter before comparing keys for equality.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Trims OWS (`SP` / `HTAB`) from both ends.
/// <https://www.w3.org/TR/trace-context-2/#list>
fn trim_ows(s: &str) -> &str {
    let is_ows = |b: &u8| matches!(b, b' ' | b'\t');
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    s.get(start..end).unwrap_or_default()
}

/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
/// <https://www.w3.org/TR/trace-context-2/#key>
fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
}

/// `key = ( lcalpha / DIGIT ) 0*255( keychar )`: Level 2 folds Level 1's
/// `tenant@system` form into the one rule, so `@` may stand anywhere but
/// first, any number of times (`foo@bar`, `foo@`, a 254-character tenant
/// before `@v`).
/// <https://www.w3.org/TR/trace-context-2/#key>
fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() <= MAX_KEY_LEN
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.iter().copied().all(is_key_char)
}

/// `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`: printable ASCII except space,
/// `,` and `=`. <https://www.w3.org/TR/trace-context-2/#value>
fn is_nblk_chr(b: u8) -> bool {
    matches!(b, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e)
}

/// `value = 0*255(chr) nblk-chr`, `chr = %x20 / nblk-chr`.
/// <https://www.w3.org/TR/trace-context-2/#value>
fn is_valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() <= MAX_VALUE_LEN
        && bytes.last().copied().is_some_and(is_nblk_chr)
        && bytes.iter().all(|&b| b == b' ' || is_nblk_chr(b))
}

#[cfg(test)]
mod tests;
