//! Route templates (`routes`): the low-cardinality `http.route` of a
//! request and the span name `{method} {http.route}`, per the HTTP
//! semantic conventions, from a configured list matched against the path.
//! <https://opentelemetry.io/docs/specs/semconv/http/http-spans/#name>
//! <https://opentelemetry.io/docs/specs/semconv/registry/attributes/http/#http-route>
//!
//! A template is a path whose segments are literal or a `{name}`
//! parameter, which matches any one non-empty segment: `/orders/{id}`
//! matches `/orders/7` but not `/orders` or `/orders/7/items`. The query
//! is not part of the match, nor is a trailing `/`. The first template that
//! matches wins.

/// One configured template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTemplate {
    text: String,
}

/// Why a `routes` entry is not a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// It does not start with `/`.
    #[error("must start with '/'")]
    NotAbsolute,
    /// A `{` or `}` that is not a whole `{name}` segment.
    #[error("a parameter must be a whole segment, `{{name}}`")]
    BadParameter,
}

// === impl RouteTemplate ===

impl RouteTemplate {
    /// Parses `/orders/{id}`.
    ///
    /// # Errors
    ///
    /// [`RouteError`] for a template that is not absolute or has a
    /// parameter that is not a whole segment.
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        if !text.starts_with('/') {
            return Err(RouteError::NotAbsolute);
        }
        for segment in text.split('/') {
            let inner = segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|name| !name.is_empty());
            let well_formed = match inner {
                Some(name) => !name.contains(['{', '}']),
                None => !segment.contains(['{', '}']),
            };
            if !well_formed {
                return Err(RouteError::BadParameter);
            }
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    /// The template as configured (the `http.route` value).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` (query allowed) matches.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let mut want = trimmed(&self.text).split('/');
        let mut got = trimmed(path).split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if is_param(w) => {
                    if g.is_empty() {
                        return false;
                    }
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }
}

/// The first of `templates` that matches `path`.
pub fn route_of<'t>(templates: &'t [RouteTemplate], path: &str) -> Option<&'t str> {
    templates
        .iter()
        .find(|t| t.matches(path))
        .map(RouteTemplate::as_str)
}

fn is_param(segment: &str) -> bool {
    segment.len() > 2 && segment.starts_with('{') && segment.ends_with('}')
}

/// `path` without one trailing `/` (the root stays `/`).
fn trimmed(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(rest) if !rest.is_empty() => rest,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(list: &[&str]) -> Vec<RouteTemplate> {
        list.iter()
            .map(|t| RouteTemplate::parse(t).unwrap())
            .collect()
    }

    #[test]
    fn paths_match_literal_and_parameter_segments() {
        let t = templates(&["/v1/complete", "/orders/{id}", "/orders/{id}/items", "/"]);
        for (path, want) in [
            ("/v1/complete", Some("/v1/complete")),
            ("/v1/complete?stream=true", Some("/v1/complete")),
            ("/v1/complete/", Some("/v1/complete")),
            ("/orders/7", Some("/orders/{id}")),
            ("/orders/7/items", Some("/orders/{id}/items")),
            ("/orders", None),
            ("/orders//items", None),
            ("/v1/completely", None),
            ("/", Some("/")),
            ("/other", None),
        ] {
            assert_eq!(route_of(&t, path), want, "{path}");
        }
    }

    #[test]
    fn the_first_match_wins() {
        let t = templates(&["/orders/{id}", "/orders/new"]);
        assert_eq!(route_of(&t, "/orders/new"), Some("/orders/{id}"));
    }

    #[test]
    fn bad_templates_are_refused() {
        assert_eq!(RouteTemplate::parse("orders"), Err(RouteError::NotAbsolute));
        assert_eq!(
            RouteTemplate::parse("/orders/{id"),
            Err(RouteError::BadParameter)
        );
        assert_eq!(
            RouteTemplate::parse("/orders/x{id}"),
            Err(RouteError::BadParameter)
        );
        assert_eq!(
            RouteTemplate::parse("/orders/{}"),
            Err(RouteError::BadParameter)
        );
        assert_eq!(
            RouteTemplate::parse("/a/{{b}}"),
            Err(RouteError::BadParameter)
        );
        assert!(RouteTemplate::parse("/orders/{id}/items").is_ok());
    }
}
