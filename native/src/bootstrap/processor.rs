//! [`SharedProcessor`]: a span processor given to
//! [`Builder::with_span_processor`](super::Builder::with_span_processor),
//! held so the builder stays `Clone`.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

/// A user's span processor, installed on the tracer provider beside the
/// exporter's. Every call is forwarded to it.
///
/// A clone of the builder shares the processor rather than copying it (a
/// processor is not `Clone`). The provider hands each processor its
/// resource once, through `&mut`; that reaches the user's processor when
/// this handle is its only owner, which it is unless a clone of the
/// builder outlives [`init`](super::Builder::init).
#[derive(Debug, Clone)]
pub(crate) struct SharedProcessor(Arc<dyn SpanProcessor>);

// === impl SharedProcessor ===

impl SharedProcessor {
    pub(crate) fn new(processor: impl SpanProcessor + 'static) -> Self {
        Self(Arc::new(processor))
    }
}

impl SpanProcessor for SharedProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.0.shutdown()
    }

    fn set_resource(&mut self, resource: &Resource) {
        match Arc::get_mut(&mut self.0) {
            Some(processor) => processor.set_resource(resource),
            None => eprintln!(
                "meshtrace: warning: a span processor is shared with a clone of the Builder, \
                 so it does not receive the resource; drop the clone before init()"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// Records the names of the spans it saw end and the `service.name`
    /// of the resource it was given.
    #[derive(Debug, Default)]
    struct Recording {
        ended: Arc<Mutex<Vec<String>>>,
        service: Arc<Mutex<Option<String>>>,
    }

    impl SpanProcessor for Recording {
        fn on_start(&self, _: &mut Span, _: &Context) {}

        fn on_end(&self, span: SpanData) {
            if let Ok(mut ended) = self.ended.lock() {
                ended.push(span.name.into_owned());
            }
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }

        fn set_resource(&mut self, resource: &Resource) {
            let name = resource
                .get(&opentelemetry::Key::from_static_str("service.name"))
                .map(|v| v.as_str().into_owned());
            if let Ok(mut service) = self.service.lock() {
                *service = name;
            }
        }
    }

    fn provider_with(processor: SharedProcessor) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_attributes([KeyValue::new("service.name", "checkout")])
                    .build(),
            )
            .with_span_processor(processor)
            .build()
    }

    #[test]
    fn forwards_every_span_and_the_resource() {
        let recording = Recording::default();
        let (ended, service) = (recording.ended.clone(), recording.service.clone());
        let provider = provider_with(SharedProcessor::new(recording));
        let tracer = provider.tracer("test");
        tracer.in_span("one", |_| {});
        tracer.in_span("two", |_| {});
        assert_eq!(*ended.lock().expect("not poisoned"), ["one", "two"]);
        assert_eq!(
            service.lock().expect("not poisoned").as_deref(),
            Some("checkout"),
            "the sole owner gets the resource"
        );
    }

    #[test]
    fn a_shared_handle_still_sees_spans_but_not_the_resource() {
        let recording = Recording::default();
        let (ended, service) = (recording.ended.clone(), recording.service.clone());
        let handle = SharedProcessor::new(recording);
        let _clone = handle.clone();
        let provider = provider_with(handle);
        provider.tracer("test").in_span("one", |_| {});
        assert_eq!(*ended.lock().expect("not poisoned"), ["one"]);
        assert_eq!(
            *service.lock().expect("not poisoned"),
            None,
            "a clone is alive: no &mut access"
        );
    }
}
