//! The response future of [`ServerTraceService`](super::ServerTraceService).
//!
//! Both variants poll the inner future inside the request's trace
//! [`Context`] (attached for the duration of each poll), so spans started in
//! the handler, and `tracing` spans bridged by `tracing-opentelemetry`, are
//! children of the request. Neither variant boxes the inner future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use opentelemetry::Context;
use pin_project_lite::pin_project;

use super::body::{ResponseBody, SpanGuard};
use super::semconv;

pin_project! {
    /// Resolves to the inner response with its body wrapped in
    /// [`ResponseBody`], which ends the SERVER span when it completes.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        // Unsampled parent: no span, only the extracted context made current.
        Passthrough {
            #[pin]
            inner: F,
            cx: Context,
        },
        // A SERVER span lives in `cx`; `span` ends it once the body is done.
        Traced {
            #[pin]
            inner: F,
            cx: Context,
            span: Option<SpanGuard>,
        },
    }
}

// === impl ResponseFuture ===

impl<F> ResponseFuture<F> {
    /// The fast path: no span, `cx` (the extracted, unsampled context) is
    /// current while `inner` is polled.
    pub(crate) fn passthrough(inner: F, cx: Context) -> Self {
        Self {
            kind: Kind::Passthrough { inner, cx },
        }
    }

    /// The traced path: `cx` holds the started SERVER span.
    pub(crate) fn traced(inner: F, cx: Context) -> Self {
        let span = Some(SpanGuard::new(cx.clone()));
        Self {
            kind: Kind::Traced { inner, cx, span },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough { inner, cx } => {
                let _attached = cx.clone().attach();
                let result = ready!(inner.poll(task));
                Poll::Ready(result.map(|response| response.map(ResponseBody::untraced)))
            }
            KindProj::Traced { inner, cx, span } => {
                let result = {
                    let _attached = cx.clone().attach();
                    ready!(inner.poll(task))
                };
                let Some(span) = span.take() else {
                    // Polled after completion: nothing left to record.
                    return Poll::Ready(
                        result.map(|response| response.map(ResponseBody::untraced)),
                    );
                };
                match result {
                    Ok(response) => {
                        span.record_status(response.status());
                        Poll::Ready(Ok(response.map(|body| ResponseBody::traced(body, span))))
                    }
                    Err(error) => {
                        span.record_error(error_type::<E>(), error.to_string());
                        Poll::Ready(Err(error))
                    }
                }
            }
        }
    }
}

/// `error.type` for an inner service error: its type name, or `_OTHER` when
/// the type is erased (a boxed error says nothing about its cause).
fn error_type<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    if name.starts_with("alloc::boxed::Box<dyn ") {
        semconv::ERROR_TYPE_OTHER
    } else {
        name
    }
}
