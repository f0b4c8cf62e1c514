//! The response body wrapper that ends the SERVER span when the body
//! completes: at end of stream, on a body error, or when it is dropped.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;

use super::semconv;

/// Owns a started span (inside its [`Context`]) and ends it on drop.
#[derive(Debug)]
pub(crate) struct SpanGuard {
    cx: Context,
}

// === impl SpanGuard ===

impl SpanGuard {
    /// Takes ownership of the span in `cx`.
    pub(crate) fn new(cx: Context) -> Self {
        Self { cx }
    }

    /// Records the response status; a 5xx is an error.
    pub(crate) fn record_status(&self, status: http::StatusCode) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            semconv::HTTP_RESPONSE_STATUS_CODE,
            i64::from(status.as_u16()),
        ));
        if status.is_server_error() {
            span.set_attribute(KeyValue::new(
                semconv::ERROR_TYPE,
                status.as_u16().to_string(),
            ));
            span.set_status(Status::error(""));
        }
    }

    /// Records an error class (a type name or `_OTHER`) and marks the span
    /// as failed.
    pub(crate) fn record_error(&self, error_type: &'static str, description: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        span.set_status(Status::error(description));
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}

pin_project! {
    /// A response body that ends the request's SERVER span when it
    /// completes (end of stream, error or drop). Untraced requests carry no
    /// span and pass frames through untouched.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        span: Option<SpanGuard>,
    }
}

// === impl ResponseBody ===

impl<B> ResponseBody<B> {
    /// A body with no span to end.
    pub(crate) fn untraced(inner: B) -> Self {
        Self { inner, span: None }
    }

    /// A body that ends `span` when it completes.
    pub(crate) fn traced(inner: B, span: SpanGuard) -> Self {
        Self {
            inner,
            span: Some(span),
        }
    }

    /// Whether this body still has a span to end.
    pub fn is_traced(&self) -> bool {
        self.span.is_some()
    }
}

impl<B: Body> Body for ResponseBody<B>
where
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            None => drop(this.span.take()),
            Some(Err(error)) => {
                if let Some(span) = this.span.take() {
                    span.record_error(std::any::type_name::<B::Error>(), error.to_string());
                }
            }
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::Waker;

    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;

    /// A body yielding scripted frames.
    struct Scripted(VecDeque<Result<Frame<&'static [u8]>, &'static str>>);

    impl Body for Scripted {
        type Data = &'static [u8];
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    fn traced(
        frames: Vec<Result<Frame<&'static [u8]>, &'static str>>,
    ) -> (
        ResponseBody<Scripted>,
        InMemorySpanExporter,
        SdkTracerProvider,
    ) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let span = provider.tracer("test").start("GET");
        let guard = SpanGuard::new(Context::new().with_span(span));
        (
            ResponseBody::traced(Scripted(frames.into()), guard),
            exporter,
            provider,
        )
    }

    fn poll(
        body: &mut ResponseBody<Scripted>,
    ) -> Option<Result<Frame<&'static [u8]>, &'static str>> {
        let mut cx = TaskContext::from_waker(Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => panic!("scripted bodies are always ready"),
        }
    }

    fn ended(exporter: &InMemorySpanExporter) -> usize {
        exporter.get_finished_spans().map_or(0, |s| s.len())
    }

    #[test]
    fn ends_the_span_at_end_of_stream() {
        let (mut body, exporter, _provider) = traced(vec![Ok(Frame::data(b"ok"))]);
        assert!(poll(&mut body).is_some());
        assert_eq!(ended(&exporter), 0, "a data frame does not end the span");
        assert!(poll(&mut body).is_none());
        assert_eq!(ended(&exporter), 1, "end of stream ends the span");
        assert!(!body.is_traced());
        drop(body);
        assert_eq!(
            ended(&exporter),
            1,
            "dropping afterwards does not end it twice"
        );
    }

    #[test]
    fn ends_the_span_with_an_error_on_a_body_error() {
        let (mut body, exporter, _provider) = traced(vec![Err("reset")]);
        assert!(matches!(poll(&mut body), Some(Err("reset"))));
        let spans = exporter.get_finished_spans().unwrap_or_default();
        assert_eq!(spans.len(), 1, "a body error ends the span");
        assert!(matches!(spans[0].status, Status::Error { .. }), "{spans:?}");
        assert!(
            spans[0]
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == semconv::ERROR_TYPE),
            "error.type recorded: {spans:?}"
        );
    }

    #[test]
    fn ends_the_span_when_dropped_early() {
        let (body, exporter, _provider) = traced(vec![Ok(Frame::data(b"never read"))]);
        drop(body);
        assert_eq!(ended(&exporter), 1, "drop ends the span");
    }

    #[test]
    fn untraced_bodies_pass_frames_through() {
        let mut body = ResponseBody::untraced(Scripted(vec![Ok(Frame::data(&b"x"[..]))].into()));
        assert!(!body.is_traced());
        assert!(poll(&mut body).is_some());
        assert!(poll(&mut body).is_none());
    }
}
