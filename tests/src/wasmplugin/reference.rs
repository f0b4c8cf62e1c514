//! Image references as Istio parses an `oci://` URL: the text after the
//! scheme goes to go-containerregistry's `name.ParseReference`
//! (istio/istio `pkg/wasm/imagefetcher.go`, `PrepareFetch`), which tries a
//! tag reference, then a digest one (`pkg/name/ref.go`, `tag.go`,
//! `digest.go`, `repository.go`, `registry.go`, `check.go`).

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// The registry, when the first component names one (has a `.` or a
    /// `:`, or is `localhost`); else go-containerregistry uses Docker Hub.
    pub registry: Option<String>,
    /// The repository path.
    pub repository: String,
    /// The tag, if given (`latest` otherwise).
    pub tag: Option<String>,
    /// `sha256:<hex>`, if given.
    pub digest: Option<String>,
}

/// The reference is not one go-containerregistry parses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReferenceError(String);

/// `repositoryChars`.
const REPOSITORY_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-./";
/// `tagChars`.
const TAG_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Parses `s` as `ParseReference` does: a tag reference, else a digest one.
///
/// # Errors
///
/// [`ReferenceError`] saying why neither parses.
pub fn parse(s: &str) -> Result<ImageReference, ReferenceError> {
    match (tag_reference(s), digest_reference(s)) {
        (Ok(reference), _) | (_, Ok(reference)) => Ok(reference),
        (Err(tag), Err(digest)) => Err(ReferenceError(format!(
            "could not parse reference {s:?}: as a tag: {tag}; as a digest: {digest}"
        ))),
    }
}

/// `NewTag`: `[registry/]repository[:tag]`.
fn tag_reference(s: &str) -> Result<ImageReference, String> {
    let (base, tag) = match s.rsplit_once(':') {
        Some((base, tag)) if !tag.contains('/') => {
            if tag.is_empty() {
                return Err(format!("{s} must specify a tag name after the colon"));
            }
            check_element("tag", tag, TAG_CHARS, 1, 128)?;
            (base, Some(tag.to_owned()))
        }
        _ => (s, None),
    };
    let (registry, repository) = repository(base)?;
    Ok(ImageReference {
        registry,
        repository,
        tag,
        digest: None,
    })
}

/// `NewDigest`: `base@sha256:<64 hex>`, where `base` may carry a tag.
fn digest_reference(s: &str) -> Result<ImageReference, String> {
    let mut parts = s.split('@');
    let (Some(base), Some(digest), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "a digest must contain exactly one '@' separator: {s}"
        ));
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!("unsupported digest algorithm: {digest}"));
    };
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return Err(format!("invalid sha256 digest {hex:?}"));
    }
    let (registry, repository, tag) = match tag_reference(base) {
        Ok(reference) => (reference.registry, reference.repository, reference.tag),
        Err(_) => {
            let (registry, repository) = repository(base)?;
            (registry, repository, None)
        }
    };
    Ok(ImageReference {
        registry,
        repository,
        tag,
        digest: Some(digest.to_owned()),
    })
}

/// `NewRepository`: the registry is the first component when it has a
/// `.` or `:` or is `localhost`.
fn repository(name: &str) -> Result<(Option<String>, String), String> {
    if name.is_empty() {
        return Err("a repository name must be specified".to_owned());
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first == "localhost" || first.contains(['.', ':']) => {
            (Some(first), rest)
        }
        _ => (None, name),
    };
    check_element("repository", repository, REPOSITORY_CHARS, 1, 255)?;
    if let Some(registry) = registry {
        check_registry(registry)?;
    }
    Ok((registry.map(str::to_owned), repository.to_owned()))
}

/// `checkRegistry` wants a valid RFC 3986 authority; this checks the host
/// (a name or a bracketed IPv6 address) and a numeric port.
fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, after)) if v6.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') => {
                (v6, after.strip_prefix(':'))
            }
            _ => return Err(format!("bad registry {registry:?}")),
        }
    } else {
        match registry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b':');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!(
            "registries must be valid RFC 3986 URI authorities: {registry}"
        ))
    }
}

/// `checkElement`: a length in runes and an alphabet.
fn check_element(
    name: &str,
    element: &str,
    allowed: &str,
    min: usize,
    max: usize,
) -> Result<(), String> {
    let runes = element.chars().count();
    if runes < min || runes > max {
        return Err(format!(
            "{name} must be between {min} and {max} characters in length: {element}"
        ));
    }
    if let Some(bad) = element.chars().find(|c| !allowed.contains(*c)) {
        return Err(format!(
            "{name} {element:?} has {bad:?}, outside `{allowed}`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_containerregistry_parses() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let cases = [
            (
                "registry.example.com/meshtrace-filter:0.1.0",
                Some("registry.example.com"),
                "meshtrace-filter",
                Some("0.1.0"),
                None,
            ),
            (
                "localhost:5000/team/filter",
                Some("localhost:5000"),
                "team/filter",
                None,
                None,
            ),
            (
                "localhost/filter:v1",
                Some("localhost"),
                "filter",
                Some("v1"),
                None,
            ),
            ("filter", None, "filter", None, None),
            (
                "[::1]:5000/f:Tag_1.x",
                Some("[::1]:5000"),
                "f",
                Some("Tag_1.x"),
                None,
            ),
        ];
        for (input, registry, repository, tag, digest_part) in cases {
            let parsed = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed.registry.as_deref(), registry, "{input}");
            assert_eq!(parsed.repository, repository, "{input}");
            assert_eq!(parsed.tag.as_deref(), tag, "{input}");
            assert_eq!(parsed.digest.as_deref(), digest_part, "{input}");
        }
        let pinned = parse(&format!("r.example/f:1@{digest}")).expect("digest");
        assert_eq!(pinned.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(pinned.tag.as_deref(), Some("1"));
    }

    #[test]
    fn rejects_what_go_containerregistry_rejects() {
        let cases = [
            (
                "<registry>/meshtrace-filter:<version>",
                "placeholders left in",
            ),
            (
                "registry.example.com/Meshtrace:1",
                "upper case in the repository",
            ),
            ("registry.example.com/f:", "empty tag"),
            ("registry.example.com/f:a+b", "'+' in the tag"),
            ("registry.example.com/f@sha256:abc", "short digest"),
            ("registry.example.com/f@md5:abc", "another algorithm"),
            ("", "empty"),
        ];
        for (input, reason) in cases {
            assert!(parse(input).is_err(), "{reason}: {input:?} accepted");
        }
    }
}
