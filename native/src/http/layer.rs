//! [`ServerTraceLayer`]: the tower layer and its options.
//!
//! The layer depends on the service it builds and not the other way round:
//! [`ServerTraceService`] holds only the options the layer sets, so the
//! constructor that takes a layer, [`ServerTraceService::new`], lives here.

use tower_layer::Layer;

use super::service::{Options, ServerTraceService};

/// A tower [`Layer`] that traces every request of an `http` service with a
/// SERVER span; see the [module docs](super) for what is recorded.
///
/// Options are consuming `with_*` builders; the layer is `Copy`, so cloning
/// it per connection or per route costs nothing.
///
/// ```
/// use meshtrace::http::ServerTraceLayer;
///
/// let layer = ServerTraceLayer::new()
///     .with_url_scheme("https")
///     .with_unsampled_fast_path(true);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTraceLayer {
    options: Options,
}

// === impl ServerTraceLayer ===

impl ServerTraceLayer {
    /// The default layer: `url.scheme` `http` unless the request URI says
    /// otherwise, and the unsampled fast path on.
    pub const fn new() -> Self {
        Self {
            options: Options::DEFAULT,
        }
    }

    /// Sets the `url.scheme` recorded when the request URI carries none
    /// (HTTP/1 origin-form requests never do). Default: `http`, as behind a
    /// sidecar that terminates TLS.
    pub const fn with_url_scheme(mut self, scheme: &'static str) -> Self {
        self.options.url_scheme = scheme;
        self
    }

    /// Whether a request whose incoming parent is valid and not sampled
    /// skips the span entirely (default: `true`). This matches the SDK's
    /// default parent-based sampler; turn it off when the tracer provider
    /// uses a sampler that may record children of unsampled parents.
    pub const fn with_unsampled_fast_path(mut self, enabled: bool) -> Self {
        self.options.unsampled_fast_path = enabled;
        self
    }
}

impl Default for ServerTraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ServerTraceLayer {
    type Service = ServerTraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerTraceService::new(inner, *self)
    }
}

// === impl ServerTraceService ===

impl<S> ServerTraceService<S> {
    /// Wraps `inner` with the options of `config`, as the layer does.
    pub fn new(inner: S, config: ServerTraceLayer) -> Self {
        Self::with_options(inner, config.options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_the_service_options() {
        let layer = ServerTraceLayer::new()
            .with_url_scheme("https")
            .with_unsampled_fast_path(false);
        let want = Options {
            url_scheme: "https",
            unsampled_fast_path: false,
        };
        assert_eq!(layer.options, want);
        assert_eq!(
            format!("{:?}", layer.layer(())),
            format!("{:?}", ServerTraceService::with_options((), want)),
            "the layer hands its options to the service it builds"
        );
        assert_eq!(ServerTraceLayer::default().options, Options::DEFAULT);
    }
}
