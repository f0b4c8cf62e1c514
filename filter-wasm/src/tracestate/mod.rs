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
//! that fails validation is dropped whole, never repaired.
//! <https://www.w3.org/TR/trace-context-2/#tracestate-parsing>

use core::fmt;
use core::iter::FusedIterator;

/// At most this many non-empty list-members.
/// <https://www.w3.org/TR/trace-context-2/#list>
pub const MAX_MEMBERS: usize = 32;

/// Longest simple key, and longest multi-tenant key (`tenant@system`).
/// <https://www.w3.org/TR/trace-context-2/#key>
pub const MAX_KEY_LEN: usize = 256;

/// Longest `tenant-id` of a multi-tenant key.
/// <https://www.w3.org/TR/trace-context-2/#key>
const MAX_TENANT_LEN: usize = 241;

/// Longest `system-id` of a multi-tenant key.
/// <https://www.w3.org/TR/trace-context-2/#key>
const MAX_SYSTEM_LEN: usize = 14;

/// Longest value.
/// <https://www.w3.org/TR/trace-context-2/#value>
pub const MAX_VALUE_LEN: usize = 256;

/// A validated `tracestate` value, borrowed from the input.
/// <https://www.w3.org/TR/trace-context-2/#tracestate-header>
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TraceState<'a> {
    /// The validated input, surrounding OWS trimmed.
    value: &'a str,
    /// Number of non-empty list-members.
    len: usize,
}

/// The `(key, value)` pairs of a [`TraceState`], in header order (most
/// recently updated first), empty list-members skipped.
/// <https://www.w3.org/TR/trace-context-2/#list>
#[derive(Clone, Debug)]
pub struct Members<'a> {
    entries: Entries<'a>,
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
    /// A key is empty, too long, or has a character the grammar forbids
    /// (uppercase, space, a second `@`...).
    /// <https://www.w3.org/TR/trace-context-2/#key>
    #[error(
        "tracestate list-member {index} has an invalid key (lowercase simple key of at most 256 characters, or tenant@system)"
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
    /// A key appears twice.
    /// <https://www.w3.org/TR/trace-context-2/#tracestate-parsing>
    #[error("tracestate list-member {index} repeats the key of list-member {first}")]
    DuplicateKey {
        /// Index of the repeated list-member.
        index: usize,
        /// Index of the earlier list-member with the same key.
        first: usize,
    },
}

/// Validates a combined `tracestate` value without allocating.
///
/// List-members are separated by `,` with optional spaces and tabs around
/// them; empty members are allowed and not counted
/// (<https://www.w3.org/TR/trace-context-2/#list>). Each non-empty member
/// is `key=value` with no spaces around `=`; keys must be unique
/// (<https://www.w3.org/TR/trace-context-2/#key>,
/// <https://www.w3.org/TR/trace-context-2/#value>). Spaces and tabs before a
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
/// problem; the caller then drops the whole header.
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
        if let Some(first) = earlier.iter().position(|&(h, k)| h == hash && k == key) {
            return Err(TraceStateError::DuplicateKey { index, first });
        }
        len += 1;
    }
    Ok(TraceState { value, len })
}

// === impl TraceState ===

impl<'a> TraceState<'a> {
    /// The value to forward: the validated input with surrounding OWS
    /// trimmed.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.value.as_bytes()
    }

    /// The value to forward, as a string.
    pub fn as_str(&self) -> &'a str {
        self.value
    }

    /// Number of non-empty list-members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no list-members (the header was empty, OWS or
    /// commas only); such a header SHOULD NOT be sent.
    /// <https://www.w3.org/TR/trace-context-2/#list>
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `(key, value)` pairs, in header order.
    pub fn members(&self) -> Members<'a> {
        Members {
            entries: Entries::new(self.value),
        }
    }
}

impl fmt::Display for TraceState<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.value)
    }
}

// === impl Members ===

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // Validated members always split; an entry that did not would be
        // skipped rather than panic.
        self.entries
            .by_ref()
            .find_map(|member| split_at_byte(member, b'='))
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

/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`.
/// <https://www.w3.org/TR/trace-context-2/#key>
fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

/// `key = simple-key / multi-tenant-key`:
///
/// ```text
/// simple-key       = lcalpha 0*255( keychar )
/// multi-tenant-key = tenant-id "@" system-id
/// tenant-id        = ( lcalpha / DIGIT ) 0*240( keychar )
/// system-id        = lcalpha 0*13( keychar )
/// ```
/// <https://www.w3.org/TR/trace-context-2/#key>
fn is_valid_key(key: &str) -> bool {
    match split_at_byte(key, b'@') {
        None => {
            let bytes = key.as_bytes();
            bytes.len() <= MAX_KEY_LEN
                && bytes.first().is_some_and(u8::is_ascii_lowercase)
                && bytes.iter().copied().all(is_key_char)
        }
        Some((tenant, system)) => {
            let (tenant, system) = (tenant.as_bytes(), system.as_bytes());
            tenant.len() <= MAX_TENANT_LEN
                && tenant
                    .first()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && tenant.iter().copied().all(is_key_char)
                && system.len() <= MAX_SYSTEM_LEN
                && system.first().is_some_and(u8::is_ascii_lowercase)
                && system.iter().copied().all(is_key_char)
        }
    }
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
mod tests {
    use super::*;

    fn validate_str(s: &str) -> Result<TraceState<'_>, TraceStateError> {
        validate(s.as_bytes())
    }

    /// `n` list-members `k0=v0,k1=v1,...`.
    fn members(n: usize) -> String {
        (0..n)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Asserts each `(input, expected error, reason)` vector.
    fn assert_rejects(cases: &[(String, TraceStateError, &str)]) {
        for (input, expected, reason) in cases {
            assert_eq!(validate_str(input), Err(*expected), "{reason}: {input:?}");
        }
    }

    /// Asserts each `(input, forwarded value, member count, reason)` vector.
    fn assert_accepts(cases: &[(String, &str, usize, &str)]) {
        for (input, forwarded, len, reason) in cases {
            let state = validate_str(input).unwrap_or_else(|e| panic!("{reason}: {input:?}: {e}"));
            assert_eq!(state.as_str(), *forwarded, "{reason}: forwarded value");
            assert_eq!(state.as_bytes(), forwarded.as_bytes(), "{reason}: bytes");
            assert_eq!(state.len(), *len, "{reason}: member count");
            assert_eq!(state.members().count(), *len, "{reason}: members()");
        }
    }

    #[test]
    fn accepts_simple_and_multi_tenant_keys() {
        let simple_max = format!("a{}", "z".repeat(255));
        let tenant_max = format!("{}@{}", "1".repeat(241), "s".repeat(14));
        assert_accepts(&[
            (
                "congo=t61rcWkgMzE".into(),
                "congo=t61rcWkgMzE",
                1,
                "spec example",
            ),
            (
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                2,
                "two members",
            ),
            ("a0_-*/=x".into(), "a0_-*/=x", 1, "every key character"),
            (
                format!("{simple_max}=v"),
                &format!("{simple_max}=v"),
                1,
                "256-character simple key",
            ),
            (
                "fw529a3039@dt=x".into(),
                "fw529a3039@dt=x",
                1,
                "multi-tenant key",
            ),
            (
                "1tenant@sys=x".into(),
                "1tenant@sys=x",
                1,
                "tenant-id may start with a digit",
            ),
            (
                format!("{tenant_max}=v"),
                &format!("{tenant_max}=v"),
                1,
                "241-character tenant-id and 14-character system-id",
            ),
        ]);
    }

    #[test]
    fn accepts_values_across_the_allowed_range() {
        let printable: String = (0x21u8..=0x7e)
            .filter(|b| !matches!(b, b',' | b'='))
            .map(char::from)
            .collect();
        let max_value = "v".repeat(256);
        assert_accepts(&[
            (
                format!("k={printable}"),
                &format!("k={printable}"),
                1,
                "every nblk-chr",
            ),
            (
                format!("k={max_value}"),
                &format!("k={max_value}"),
                1,
                "256-character value",
            ),
            ("k=a b  c".into(), "k=a b  c", 1, "inner spaces"),
            (
                "k= leading".into(),
                "k= leading",
                1,
                "leading spaces are part of the value",
            ),
            ("k=x".into(), "k=x", 1, "one-character value"),
        ]);
    }

    #[test]
    fn accepts_ows_and_empty_members() {
        assert_accepts(&[
            (String::new(), "", 0, "empty header"),
            ("  \t ".into(), "", 0, "whitespace-only header"),
            (",,, ,\t,".into(), ",,, ,\t,", 0, "commas only"),
            (" a=1 ".into(), "a=1", 1, "OWS around the value is trimmed"),
            (
                "a=1 \t, \tb=2".into(),
                "a=1 \t, \tb=2",
                2,
                "OWS and tabs around commas",
            ),
            (
                "a=1,,b=2".into(),
                "a=1,,b=2",
                2,
                "empty member in the middle",
            ),
            (
                ",a=1, ,b=2,".into(),
                ",a=1, ,b=2,",
                2,
                "empty members at the ends",
            ),
            (
                "a=1 ,b=2".into(),
                "a=1 ,b=2",
                2,
                "a trailing space before `,` is OWS",
            ),
            (
                "a=1,b=2,".into(),
                "a=1,b=2,",
                2,
                "joined headers with an empty one",
            ),
        ]);
    }

    #[test]
    fn rejects_invalid_keys() {
        use TraceStateError::*;
        let e0 = InvalidKey { index: 0 };
        assert_rejects(&[
            (
                format!("a{}=v", "z".repeat(256)),
                e0,
                "257-character simple key",
            ),
            ("Congo=x".into(), e0, "uppercase key"),
            ("coNgo=x".into(), e0, "uppercase inside the key"),
            ("1congo=x".into(), e0, "simple key starting with a digit"),
            ("_congo=x".into(), e0, "key starting with `_`"),
            ("=x".into(), e0, "empty key"),
            ("con go=x".into(), e0, "space inside the key"),
            ("congo =x".into(), e0, "space before `=`"),
            ("con.go=x".into(), e0, "dot in the key"),
            (
                "ok=1,bad key=2".into(),
                InvalidKey { index: 1 },
                "second member's key",
            ),
            (
                format!("{}@s=v", "1".repeat(242)),
                e0,
                "242-character tenant-id",
            ),
            (
                format!("t@{}=v", "s".repeat(15)),
                e0,
                "15-character system-id",
            ),
            ("@sys=x".into(), e0, "empty tenant-id"),
            ("tenant@=x".into(), e0, "empty system-id"),
            (
                "tenant@1sys=x".into(),
                e0,
                "system-id starting with a digit",
            ),
            ("_t@sys=x".into(), e0, "tenant-id starting with `_`"),
            ("t@s@u=x".into(), e0, "two `@`"),
            ("Tenant@sys=x".into(), e0, "uppercase tenant-id"),
            ("tenant@Sys=x".into(), e0, "uppercase system-id"),
            ("cöngo=x".into(), e0, "non-ASCII key"),
        ]);
    }

    #[test]
    fn rejects_invalid_values() {
        use TraceStateError::*;
        let e0 = InvalidValue { index: 0 };
        assert_rejects(&[
            (format!("k={}", "v".repeat(257)), e0, "257-character value"),
            ("k=".into(), e0, "empty value"),
            ("k=   ".into(), e0, "value of spaces only"),
            ("k=a=b".into(), e0, "`=` in the value"),
            ("k=a\tb".into(), e0, "tab inside the value"),
            ("k=a\u{7f}".into(), e0, "DEL in the value"),
            ("k=a\u{1}b".into(), e0, "control character in the value"),
            ("k=caf\u{e9}".into(), e0, "non-ASCII value"),
            (
                "a=1,b=2=3".into(),
                InvalidValue { index: 1 },
                "second member's value",
            ),
        ]);
    }

    #[test]
    fn rejects_members_without_equals() {
        use TraceStateError::*;
        assert_rejects(&[
            ("congo".into(), MissingEquals { index: 0 }, "bare key"),
            (
                "k=a,b".into(),
                MissingEquals { index: 1 },
                "`,` in a value starts a new member",
            ),
            (
                "a=1,,b".into(),
                MissingEquals { index: 1 },
                "index skips empty members",
            ),
        ]);
    }

    #[test]
    fn limits_the_number_of_members() {
        use TraceStateError::*;
        let mut max = members(32);
        assert_accepts(&[(max.clone(), &max, 32, "32 members")]);
        max.push_str(",,  ,");
        assert_accepts(&[(max.clone(), &max, 32, "32 members and empty ones")]);
        assert_rejects(&[
            (members(33), TooManyMembers { count: 33 }, "33 members"),
            (members(40), TooManyMembers { count: 40 }, "40 members"),
            (
                format!("{},k32=bad=value,%%", members(32)),
                TooManyMembers { count: 34 },
                "the count wins over errors in members past the limit",
            ),
        ]);
    }

    #[test]
    fn rejects_duplicate_keys() {
        use TraceStateError::*;
        assert_rejects(&[
            (
                "a=1,a=2".into(),
                DuplicateKey { index: 1, first: 0 },
                "same key twice",
            ),
            (
                "a=1,b=2,a=1".into(),
                DuplicateKey { index: 2, first: 0 },
                "same member twice",
            ),
            (
                "a=1, ,b=2,\tb=3".into(),
                DuplicateKey { index: 2, first: 1 },
                "duplicates across empty members and OWS",
            ),
            (
                "t@s=1,t@s=2".into(),
                DuplicateKey { index: 1, first: 0 },
                "multi-tenant duplicate",
            ),
        ]);
        assert!(
            validate_str("t@s=1,t@u=2,u@s=3,t=4").is_ok(),
            "tenants and systems differ"
        );
    }

    #[test]
    fn rejects_non_utf8() {
        assert_eq!(
            validate(b"k=\xff"),
            Err(TraceStateError::NotUtf8 { offset: 2 }),
            "invalid UTF-8 byte"
        );
    }

    #[test]
    fn members_yields_keys_and_values_in_order() {
        let state = validate_str(" rojo=00f067aa0ba902b7 ,, \tcongo= t61 rcWkgMzE\t,t@s=x ")
            .unwrap_or_else(|e| panic!("{e}"));
        let members: Vec<_> = state.members().collect();
        assert_eq!(
            members,
            [
                ("rojo", "00f067aa0ba902b7"),
                ("congo", " t61 rcWkgMzE"),
                ("t@s", "x"),
            ]
        );
        assert_eq!(state.len(), 3);
        assert!(!state.is_empty());
        assert_eq!(state.to_string(), state.as_str());
        let empty = validate_str(" , ").unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.is_empty());
        assert_eq!(empty.members().next(), None);
    }

    #[test]
    fn errors_name_the_member_and_problem() {
        use TraceStateError::*;
        let cases: &[(TraceStateError, &str)] = &[
            (TooManyMembers { count: 33 }, "33 list-members"),
            (InvalidKey { index: 4 }, "list-member 4 has an invalid key"),
            (
                InvalidValue { index: 2 },
                "list-member 2 has an invalid value",
            ),
            (MissingEquals { index: 1 }, "list-member 1 has no `=`"),
            (
                DuplicateKey { index: 3, first: 0 },
                "list-member 3 repeats the key of list-member 0",
            ),
            (NotUtf8 { offset: 7 }, "offset 7"),
        ];
        for (error, fragment) in cases {
            assert!(
                error.to_string().contains(fragment),
                "{error} should mention {fragment}"
            );
        }
    }
}
