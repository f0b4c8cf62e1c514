use super::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn parse(s: &str) -> Result<TraceParent, TraceParentError> {
    TraceParent::parse(s.as_bytes())
}

fn format(tp: &TraceParent) -> String {
    let mut buf = [0u8; TRACEPARENT_LEN];
    tp.format(&mut buf).to_owned()
}

/// Asserts each `(input, expected error, reason)` vector.
fn assert_rejects(cases: &[(&str, TraceParentError, &str)]) {
    for &(input, expected, reason) in cases {
        assert_eq!(parse(input), Err(expected), "{reason}: {input:?}");
    }
}

#[test]
fn accepts_valid_headers() {
    let cases: &[(&str, &str, &str, u8, &str)] = &[
        (VALID, TRACE_ID, PARENT_ID, 0x01, "spec example, sampled"),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            TRACE_ID,
            PARENT_ID,
            0x00,
            "not sampled",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
            TRACE_ID,
            PARENT_ID,
            0x03,
            "sampled and random",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
            TRACE_ID,
            PARENT_ID,
            0x09,
            "version 00 keeps unknown flags as received",
        ),
        (
            "00-00000000000000000000000000000001-0000000000000001-01",
            "00000000000000000000000000000001",
            "0000000000000001",
            0x01,
            "smallest non-zero ids",
        ),
        (
            "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff",
            "ffffffffffffffffffffffffffffffff",
            "ffffffffffffffff",
            0xff,
            "all-ones ids and flags",
        ),
    ];
    for &(input, trace_id, parent_id, flags, reason) in cases {
        let tp = parse(input).unwrap_or_else(|e| panic!("{reason}: {input:?}: {e}"));
        assert_eq!(tp.trace_id.to_string(), trace_id, "{reason}");
        assert_eq!(tp.parent_id.to_string(), parent_id, "{reason}");
        assert_eq!(tp.flags.to_u8(), flags, "{reason}");
    }
}

#[test]
fn parses_later_versions_by_their_first_55_characters() {
    let cases: &[(&str, u8, &str)] = &[
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            0x01,
            "later version with exactly 55 characters",
        ),
        (
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
            0x01,
            "later version with extra fields after a dash",
        ),
        (
            "fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-",
            0x03,
            "highest valid version, trailing dash",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-xyz",
            0x03,
            "later version keeps only the known flags",
        ),
        (
            "02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-08",
            0x00,
            "unknown-only flags become zero",
        ),
    ];
    for &(input, flags, reason) in cases {
        let tp = parse(input).unwrap_or_else(|e| panic!("{reason}: {input:?}: {e}"));
        assert_eq!(tp.trace_id.to_string(), TRACE_ID, "{reason}");
        assert_eq!(tp.parent_id.to_string(), PARENT_ID, "{reason}");
        assert_eq!(tp.flags.to_u8(), flags, "{reason}");
    }
}

#[test]
fn rejects_invalid_versions() {
    use TraceParentError::*;
    assert_rejects(&[
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            UnsupportedVersion,
            "version ff is always invalid",
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            UnsupportedVersion,
            "version ff is invalid even with the later-version layout",
        ),
        (
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Version,
            "uppercase version",
        ),
        (
            "FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Version,
            "uppercase ff is not even a version",
        ),
        (
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Version,
            "non-hex version",
        ),
        (
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Version,
            "one-digit version",
        ),
        (
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Version,
            "leading whitespace is not trimmed",
        ),
    ]);
}

#[test]
fn rejects_wrong_lengths() {
    use TraceParentError::*;
    assert_rejects(&[
        ("", Length { len: 0 }, "empty value"),
        ("0", Length { len: 1 }, "one character"),
        ("00", Length { len: 2 }, "version only"),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            Length { len: 54 },
            "version 00 with a one-digit flags field",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            Length { len: 54 },
            "version 00 with a 31-digit trace-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            Length { len: 54 },
            "version 00 with a 15-digit parent-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            Length { len: 56 },
            "version 00 with a trailing dash",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            Length { len: 61 },
            "version 00 with extra fields",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            Length { len: 56 },
            "trailing whitespace is not trimmed",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            Length { len: 54 },
            "later version shorter than 55 characters",
        ),
    ]);
}

#[test]
fn rejects_uppercase_in_any_field() {
    use TraceParentError::*;
    assert_rejects(&[
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            TraceId,
            "uppercase trace-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473A-00f067aa0ba902b7-01",
            TraceId,
            "one uppercase digit in the trace-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            ParentId,
            "uppercase parent-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            Flags,
            "uppercase flags",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A-x",
            Flags,
            "uppercase flags in a later version",
        ),
    ]);
}

#[test]
fn rejects_non_hex_characters() {
    use TraceParentError::*;
    assert_rejects(&[
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            TraceId,
            "non-hex trace-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e 736-00f067aa0ba902b7-01",
            TraceId,
            "space inside the trace-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
            TraceId,
            "a two-byte UTF-8 character in place of two hex digits",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
            ParentId,
            "non-hex parent-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            Flags,
            "non-hex flags",
        ),
        (
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            TraceId,
            "sign character in the trace-id",
        ),
    ]);
}

#[test]
fn rejects_all_zero_ids() {
    use TraceParentError::*;
    assert_rejects(&[
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ZeroTraceId,
            "all-zero trace-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            ZeroParentId,
            "all-zero parent-id",
        ),
        (
            "01-00000000000000000000000000000000-00f067aa0ba902b7-01-x",
            ZeroTraceId,
            "all-zero trace-id in a later version",
        ),
    ]);
}

#[test]
fn rejects_wrong_separators() {
    use TraceParentError::*;
    assert_rejects(&[
        (
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Separator { at: 2 },
            "underscore after the version",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            Separator { at: 35 },
            "underscore after the trace-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
            Separator { at: 52 },
            "underscore after the parent-id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e47361-0f067aa0ba902b7-01",
            Separator { at: 35 },
            "trace-id one digit too long",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x",
            TrailingData,
            "later version with a dot after the flags",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-012",
            TrailingData,
            "later version with three flag digits",
        ),
    ]);
}

#[test]
fn rejects_joined_duplicate_headers() {
    use TraceParentError::*;
    assert_rejects(&[
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Length { len: 111 },
            "two version-00 headers joined by Envoy",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            TrailingData,
            "two later-version headers joined by Envoy",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            TrailingData,
            "later version joined with version 00",
        ),
    ]);
}

#[test]
fn round_trips_version_00() {
    for input in [
        VALID,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-0123456789abcdef0123456789abcdef-fedcba9876543210-03",
        "00-ffffffffffffffffffffffffffffffff-0000000000000001-ff",
    ] {
        let tp = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(format(&tp), input);
        assert_eq!(tp.to_string(), input, "Display matches format");
    }
}

#[test]
fn formats_later_versions_as_00_with_known_flags() {
    let tp = parse("7f-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-more")
        .unwrap_or_else(|e| panic!("{e}"));
    let propagated = TraceParent {
        flags: tp.flags.known(),
        ..tp
    };
    assert_eq!(
        format(&propagated),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
    );
}

#[test]
fn formats_ids_as_lowercase_hex() {
    let tp = TraceParent {
        trace_id: super::TraceId::from_bytes([0xab; 16]),
        parent_id: SpanId::from_bytes([0x0c; 8]),
        flags: TraceFlags::RANDOM.with_sampled(true),
    };
    assert_eq!(
        format(&tp),
        "00-abababababababababababababababab-0c0c0c0c0c0c0c0c-03"
    );
    assert_eq!(tp.trace_id.to_string(), "abababababababababababababababab");
    assert_eq!(tp.parent_id.to_string(), "0c0c0c0c0c0c0c0c");
    assert_eq!(
        format!("{:?}", tp.trace_id),
        "TraceId(abababababababababababababababab)"
    );
    assert_eq!(format!("{:?}", tp.parent_id), "SpanId(0c0c0c0c0c0c0c0c)");
}

#[test]
fn ids_round_trip_bytes_and_reject_zero() {
    let bytes = *b"0123456789abcdef";
    assert_eq!(super::TraceId::from_bytes(bytes).to_bytes(), bytes);
    assert_eq!(SpanId::from_bytes([7; 8]).to_bytes(), [7; 8]);
    assert!(!super::TraceId::INVALID.is_valid());
    assert!(!SpanId::INVALID.is_valid());
    assert!(super::TraceId::from_bytes(bytes).is_valid());
    assert!(SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1]).is_valid());
}

#[test]
fn flags_set_and_mask_bits() {
    let cases: &[(TraceFlags, u8, bool, bool, &str)] = &[
        (
            TraceFlags::default(),
            0x00,
            false,
            false,
            "default is empty",
        ),
        (TraceFlags::SAMPLED, 0x01, true, false, "sampled"),
        (TraceFlags::RANDOM, 0x02, false, true, "random"),
        (
            TraceFlags::RANDOM.with_sampled(true),
            0x03,
            true,
            true,
            "random, sampled",
        ),
        (
            TraceFlags::from_u8(0xff).with_sampled(false),
            0xfe,
            false,
            true,
            "unsampling keeps other bits",
        ),
        (
            TraceFlags::from_u8(0xff).known(),
            0x03,
            true,
            true,
            "known drops unknown bits",
        ),
        (
            TraceFlags::from_u8(0xfc).known(),
            0x00,
            false,
            false,
            "unknown-only becomes zero",
        ),
    ];
    for &(flags, bits, sampled, random, reason) in cases {
        assert_eq!(flags.to_u8(), bits, "{reason}");
        assert_eq!(flags.is_sampled(), sampled, "{reason}");
        assert_eq!(flags.is_random(), random, "{reason}");
    }
}

#[test]
fn errors_name_the_problem() {
    let cases: &[(TraceParentError, &str)] = &[
        (TraceParentError::Length { len: 54 }, "54 characters"),
        (TraceParentError::Separator { at: 35 }, "offset 35"),
        (TraceParentError::UnsupportedVersion, "version ff"),
        (TraceParentError::ZeroParentId, "parent-id is all zeros"),
    ];
    for (error, fragment) in cases {
        assert!(
            error.to_string().contains(fragment),
            "{error} should mention {fragment}"
        );
    }
}
