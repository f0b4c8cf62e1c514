use super::*;
use std::borrow::Cow;

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
        assert_eq!(state.header(), *forwarded, "{reason}: forwarded value");
        assert_eq!(state.to_string(), *forwarded, "{reason}: Display");
        assert_eq!(state.len(), *len, "{reason}: member count");
        assert_eq!(state.members().count(), *len, "{reason}: members()");
    }
}

#[test]
fn accepts_keys_of_the_level_2_grammar() {
    // key = ( lcalpha / DIGIT ) 0*255( keychar ),
    // keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"
    // <https://www.w3.org/TR/trace-context-2/#key>
    let max = format!("a{}", "z".repeat(255));
    let long_tenant = format!("t{}@v", "1".repeat(253));
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
            "spec example, two systems",
        ),
        ("a0_-*/@=x".into(), "a0_-*/@=x", 1, "every key character"),
        (
            format!("{max}=v"),
            &format!("{max}=v"),
            1,
            "256-character key",
        ),
        (
            "1congo=x".into(),
            "1congo=x",
            1,
            "a key may start with a digit",
        ),
        ("foo@bar=x".into(), "foo@bar=x", 1, "tenant@system"),
        ("foo@=x".into(), "foo@=x", 1, "`@` last"),
        (
            format!("{long_tenant}=x"),
            &format!("{long_tenant}=x"),
            1,
            "a 255-character prefix before `@v` (Level 1 capped the tenant at 241)",
        ),
        (
            "t@1sys=x".into(),
            "t@1sys=x",
            1,
            "a digit after `@` (Level 1 forbade it)",
        ),
        ("t@s@u=x".into(), "t@s@u=x", 1, "two `@`"),
        (
            "fw529a3039@dt=x".into(),
            "fw529a3039@dt=x",
            1,
            "the spec's multi-tenant example",
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
        (format!("a{}=v", "z".repeat(256)), e0, "257-character key"),
        (
            format!("t{}@v=x", "1".repeat(254)),
            e0,
            "257 characters with `@`",
        ),
        ("@foo=x".into(), e0, "`@` first"),
        ("Congo=x".into(), e0, "uppercase key"),
        ("coNgo=x".into(), e0, "uppercase inside the key"),
        ("_congo=x".into(), e0, "key starting with `_`"),
        ("-congo=x".into(), e0, "key starting with `-`"),
        ("=x".into(), e0, "empty key"),
        ("con go=x".into(), e0, "space inside the key"),
        ("congo =x".into(), e0, "space before `=`"),
        ("con.go=x".into(), e0, "dot in the key"),
        ("t@Sys=x".into(), e0, "uppercase after `@`"),
        (
            "ok=1,bad key=2".into(),
            InvalidKey { index: 1 },
            "second member's key",
        ),
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
fn repeated_keys_keep_the_first_member() {
    // "Only one entry per key is allowed": the later entries go, never the
    // whole header.
    // <https://www.w3.org/TR/trace-context-2/#combined-header-value>
    assert_accepts(&[
        ("a=1,a=2".into(), "a=1", 1, "same key twice"),
        ("foo=1,foo=1".into(), "foo=1", 1, "same member twice"),
        ("a=1,b=2,a=1".into(), "a=1,b=2", 2, "same member later"),
        (
            "a=1, ,b=2,\tb=3,c=4".into(),
            "a=1,b=2,c=4",
            3,
            "across empty members and OWS",
        ),
        ("t@s=1,t@s=2".into(), "t@s=1", 1, "multi-tenant duplicate"),
        (
            "t@s=1,t@u=2,u@s=3,t=4".into(),
            "t@s=1,t@u=2,u@s=3,t=4",
            4,
            "keys that only share parts are distinct",
        ),
    ]);
    let state = validate_str("a=1,b=2,a=3,a=4").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.repeated(), 2);
    assert_eq!(state.as_str(), "a=1,b=2,a=3,a=4", "the input as received");
    assert!(
        matches!(
            validate_str("a=1,b=2").map(|s| s.header()),
            Ok(Cow::Borrowed(_))
        ),
        "no repeat, no copy"
    );
    let mut max = members(32);
    max.push_str(",k0=again");
    assert_eq!(
        validate_str(&max),
        Err(TraceStateError::TooManyMembers { count: 33 }),
        "the limit counts the members received"
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
        (NotUtf8 { offset: 7 }, "offset 7"),
    ];
    for (error, fragment) in cases {
        assert!(
            error.to_string().contains(fragment),
            "{error} should mention {fragment}"
        );
    }
}
