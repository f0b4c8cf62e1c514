//! Header maps with Envoy's semantics, and the proxy-wasm pairs encoding
//! (`u32` count, then `u32` key/value lengths, then each `key\0value\0`).

/// An ordered multimap of lowercase header names, like Envoy's
/// `HeaderMapImpl`: pseudo-headers stay ahead of regular ones, other
/// additions go at the end, lookups are by lowercase name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderMap {
    entries: Vec<(String, String)>,
}

// === impl HeaderMap ===

impl HeaderMap {
    /// A map holding `pairs` in the given order as a codec hands them to
    /// the filter chain: names lowercased, values without leading or
    /// trailing whitespace (HTTP/1 strips it as optional whitespace, HTTP/2
    /// and HTTP/3 reject it).
    pub(crate) fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let ows: &[char] = &[' ', '\t'];
        let entries = pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.as_ref().to_ascii_lowercase(),
                    v.as_ref().trim_matches(ows).to_string(),
                )
            })
            .collect();
        Self { entries }
    }

    /// Entries in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.entries
    }

    /// Number of entries (repeats counted), what Envoy passes as
    /// `num_headers`.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The first value of `key`: Envoy's `getHeaderMapValue` returns
    /// `entry[0]` when a header is repeated.
    pub(crate) fn first(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` joined with `,` (Envoy's
    /// `HeaderUtility::getAllOfHeaderAsString`, used by the
    /// `request.headers` attribute).
    pub(crate) fn joined(&self, key: &str) -> Option<String> {
        let key = key.to_ascii_lowercase();
        let values: Vec<&str> = self
            .entries
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// Appends a value (`addCopy`); pseudo-headers go after the existing
    /// pseudo-headers, ahead of regular ones.
    pub(crate) fn add(&mut self, key: &str, value: &str) {
        let key = key.to_ascii_lowercase();
        let at = if key.starts_with(':') {
            self.entries
                .iter()
                .take_while(|(k, _)| k.starts_with(':'))
                .count()
        } else {
            self.entries.len()
        };
        self.entries.insert(at, (key, value.to_string()));
    }

    /// Removes every value of `key`, then adds one (`setCopy`).
    pub(crate) fn replace(&mut self, key: &str, value: &str) {
        self.remove(key);
        self.add(key, value);
    }

    /// Removes every value of `key`; absent is fine.
    pub(crate) fn remove(&mut self, key: &str) {
        let key = key.to_ascii_lowercase();
        self.entries.retain(|(k, _)| *k != key);
    }

    /// Replaces the whole map (`setHeaderMapPairs`).
    pub(crate) fn set_all(&mut self, pairs: &[(String, String)]) {
        self.entries.clear();
        for (k, v) in pairs {
            self.add(k, v);
        }
    }

    /// Envoy's `byteSize()`: the sum of name and value lengths.
    pub(crate) fn byte_size(&self) -> usize {
        self.entries.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// Serializes pairs in the proxy-wasm layout.
pub fn serialize_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let data: usize = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + data);
    out.extend_from_slice(&len_u32(pairs.len()).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&len_u32(k.as_ref().len()).to_le_bytes());
        out.extend_from_slice(&len_u32(v.as_ref().len()).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("header data larger than 4 GiB")
}

/// Parses the proxy-wasm layout. Like proxy-wasm-cpp-host's
/// `PairsUtil::toPairs`, empty or malformed data yields no pairs.
pub(crate) fn deserialize_pairs(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    try_deserialize_pairs(bytes).unwrap_or_default()
}

fn try_deserialize_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let u32_at = |at: usize| -> Option<usize> {
        let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(raw) as usize)
    };
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = u32_at(0)?;
    let mut data = 4usize.checked_add(count.checked_mul(8)?)?;
    if data > bytes.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(count);
    for i in 0..count {
        let key_len = u32_at(4 + i * 8)?;
        let value_len = u32_at(8 + i * 8)?;
        let key = bytes.get(data..data.checked_add(key_len)?)?.to_vec();
        data += key_len;
        if bytes.get(data) != Some(&0) {
            return None;
        }
        data += 1;
        let value = bytes.get(data..data.checked_add(value_len)?)?.to_vec();
        data += value_len;
        if bytes.get(data) != Some(&0) {
            return None;
        }
        data += 1;
        pairs.push((key, value));
    }
    Some(pairs)
}

/// Pairs as strings (lossy UTF-8), names lowercased like Envoy's
/// `LowerCaseString` when it builds a header map from pairs.
pub(crate) fn string_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_the_sdk() {
        // The SDK's own fixture (`hostcalls.rs`, `SERIALIZED_MAP`), first two pairs.
        let bytes = serialize_pairs(&[(":method", "GET"), (":path", "/bytes/1")]);
        let mut want = vec![2, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0];
        want.extend_from_slice(b":method\0GET\0:path\0/bytes/1\0");
        assert_eq!(bytes, want);
        assert_eq!(
            serialize_pairs::<&str, &str>(&[]),
            vec![0, 0, 0, 0],
            "empty map"
        );
    }

    #[test]
    fn round_trips_and_rejects_malformed_data() {
        let pairs = vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), Vec::new())];
        let bytes = serialize_pairs(&pairs);
        assert_eq!(deserialize_pairs(&bytes), pairs);
        let cases: [(&[u8], &str); 4] = [
            (&bytes[..bytes.len() - 1], "missing final NUL"),
            (&[9, 0, 0, 0], "count larger than the data"),
            (
                &[1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, b'a', b'x', b'b', 0],
                "key not NUL-terminated",
            ),
            (&[1, 0], "truncated count"),
        ];
        for (bytes, reason) in cases {
            assert!(deserialize_pairs(bytes).is_empty(), "{reason}");
        }
        assert!(
            deserialize_pairs(&[]).is_empty(),
            "empty data is an empty map"
        );
    }

    #[test]
    fn first_value_wins_and_joined_values_use_commas() {
        let map = HeaderMap::from_pairs(&[("X-A", "1"), ("x-b", "2"), ("x-a", "3")]);
        assert_eq!(map.first("x-a"), Some("1"));
        assert_eq!(map.first("X-A"), Some("1"), "lookup is case-insensitive");
        assert_eq!(map.joined("x-a").as_deref(), Some("1,3"));
        assert_eq!(map.joined("x-b").as_deref(), Some("2"));
        assert_eq!(map.first("x-c"), None);
        assert_eq!(map.joined("x-c"), None);
    }

    #[test]
    fn delivered_values_lose_surrounding_whitespace() {
        let map = HeaderMap::from_pairs(&[("a", " x y \t"), ("b", "")]);
        assert_eq!(map.first("a"), Some("x y"));
        assert_eq!(map.first("b"), Some(""), "empty values stay");
    }

    #[test]
    fn replace_removes_every_value_then_appends() {
        let mut map = HeaderMap::from_pairs(&[("x-a", "1"), ("x-b", "2"), ("x-a", "3")]);
        map.replace("X-A", "new");
        assert_eq!(
            map.pairs(),
            &[
                ("x-b".to_string(), "2".to_string()),
                ("x-a".to_string(), "new".to_string())
            ]
        );
        map.remove("x-missing");
        map.remove("x-b");
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn pseudo_headers_stay_ahead_of_regular_headers() {
        let mut map = HeaderMap::from_pairs(&[(":method", "GET"), ("x-a", "1")]);
        map.add(":path", "/");
        map.add("x-b", "2");
        let keys: Vec<&str> = map.pairs().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, [":method", ":path", "x-a", "x-b"]);
        assert_eq!(
            map.byte_size(),
            ":method".len() + 3 + ":path".len() + 1 + 2 * 4
        );
    }
}
