//! The tracer every span of this crate is recorded with.

use opentelemetry::InstrumentationScope;
use opentelemetry::global::{self, BoxedTracer};

/// The instrumentation scope name of every span this crate records.
pub const SCOPE_NAME: &str = "meshtrace";

/// A tracer from the current global provider, scoped `meshtrace` with the
/// crate version.
pub(crate) fn tracer() -> BoxedTracer {
    global::tracer_with_scope(
        InstrumentationScope::builder(SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    )
}
