//! The B3 propagators `OTEL_PROPAGATORS` names, from
//! opentelemetry-propagator-b3.
//!
//! `b3` is the single header, `b3multi` the `X-B3-*` headers
//! (<https://opentelemetry.io/docs/specs/otel/context/api-propagators/#b3-requirements>;
//! <https://github.com/openzipkin/b3-propagation>). Both extract either
//! form, the single header first.

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_propagator_b3::{B3Encoding, Propagator};

/// The single header's name.
const B3_SINGLE_HEADER: &str = "b3";

/// `b3`: injects only the single `b3` header. opentelemetry-propagator-b3
/// 0.33's
/// single-header encoding also writes the `X-B3-*` headers (its
/// `B3Encoding::support(UnSpecified)` holds for every encoding), which
/// `OTEL_PROPAGATORS=b3` does not ask for; this keeps its extraction and
/// drops those writes.
#[derive(Debug)]
pub(crate) struct B3Single(Propagator);

/// Passes only the `b3` header to the wrapped injector.
struct SingleOnly<'a>(&'a mut dyn Injector);

/// `b3multi`: the `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled` (or
/// `X-B3-Flags`) headers.
pub(crate) fn multi() -> Propagator {
    Propagator::with_encoding(B3Encoding::MultipleHeader)
}

// === impl B3Single ===

impl B3Single {
    pub(crate) fn new() -> Self {
        Self(Propagator::with_encoding(B3Encoding::SingleHeader))
    }
}

impl TextMapPropagator for B3Single {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, &mut SingleOnly(injector));
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.0.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

impl Injector for SingleOnly<'_> {
    fn set(&mut self, key: &str, value: String) {
        if key == B3_SINGLE_HEADER {
            self.0.set(key, value);
        }
    }
}
