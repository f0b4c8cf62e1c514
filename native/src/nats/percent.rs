//! Percent-encoding of `ce-*` header values, CloudEvents NATS binding
//! §3.1.3.2 (NATS Header Values):
//! <https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/nats-protocol-binding.md#3132-nats-header-values>.

/// Percent-encodes per binding §3.1.3.2: space, `"`, `%` and every
/// character outside U+0021..=U+007E, as the `%XY` (upper-case hex) of each
/// of its UTF-8 bytes.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\u{21}'..='\u{7e}') && c != '"' && c != '%' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes a `ce-*` header value per binding §3.1.3.2: first unescape a
/// double-quoted string (RFC 7230 §3.2.6), then one round of
/// percent-decoding (either hex case); the bytes must be UTF-8 (overlong
/// forms such as `%C0%A0` are rejected).
pub fn percent_decode(value: &str) -> Result<String, &'static str> {
    let unquoted;
    let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.push(chars.next().ok_or("quoted string ends in a backslash")?),
                    '"' => return Err("unescaped double quote inside a quoted string"),
                    c => out.push(c),
                }
            }
            unquoted = out;
            unquoted.as_str()
        }
        None => value,
    };
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or("`%` not followed by two hex digits")?;
            let (Some(hi), Some(lo)) = (hex_value(hex[0]), hex_value(hex[1])) else {
                return Err("`%` not followed by two hex digits");
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-decoded bytes are not valid UTF-8")
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_binding_example_and_reserved_characters() {
        let cases = [
            (
                "Euro \u{20ac} \u{1f600}",
                "Euro%20%E2%82%AC%20%F0%9F%98%80",
                "binding §3.1.3.2 example",
            ),
            ("a%b\"c", "a%25b%22c", "percent and double quote"),
            ("tab\there\u{7f}", "tab%09here%7F", "controls and DEL"),
            (
                "plain/ASCII-~!",
                "plain/ASCII-~!",
                "printable ASCII untouched",
            ),
        ];
        for (input, want, reason) in cases {
            assert_eq!(percent_encode(input), want, "{reason}");
            assert_eq!(
                percent_decode(want).as_deref(),
                Ok(input),
                "{reason}: round trip"
            );
        }
    }

    #[test]
    fn percent_decode_accepts_quoted_lowercase_and_unneeded_escapes() {
        let cases = [
            ("Euro%20%e2%82%ac", "Euro €", "lower-case hex"),
            ("%41bc", "Abc", "unnecessary escape"),
            ("\"a \\\"b\\\" c\"", "a \"b\" c", "RFC 7230 quoted string"),
            ("\"100%25\"", "100%", "quoted then percent-decoded once"),
            ("%2541", "%41", "a single round of decoding"),
        ];
        for (input, want, reason) in cases {
            assert_eq!(percent_decode(input).as_deref(), Ok(want), "{reason}");
        }
    }

    #[test]
    fn rejects_invalid_header_values() {
        let cases = [
            ("50%", "truncated escape"),
            ("%4", "one hex digit"),
            ("%zz", "non-hex digits"),
            ("%C0%A0", "overlong UTF-8 (binding §3.1.3.2 example)"),
            ("%FF", "invalid UTF-8 byte"),
            ("\"ends\\\"", "quoted string ending in a backslash"),
            ("\"a\"b\"", "bare double quote inside a quoted string"),
        ];
        for (input, reason) in cases {
            assert!(percent_decode(input).is_err(), "{reason}: {input}");
        }
    }
}
