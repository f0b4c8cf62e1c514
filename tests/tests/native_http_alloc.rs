//! Proves the server layer's unsampled fast path adds no allocation of its
//! own: a request whose incoming parent is not sampled allocates, through
//! the layer, exactly what the bare service allocates plus what the global
//! propagator's `extract` allocates (with the SDK's W3C propagator: the
//! `Vec` it splits `traceparent` into and the `Arc` of the extracted
//! context). No span, no boxed future, no attributes, no body state.
//!
//! Its own test binary: the counting `#[global_allocator]` and the global
//! provider are process-wide.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use http::{Request, Response};
use meshtrace::http::{ServerTraceLayer, ServerTraceService};
use meshtrace_tests::alloc_counter::{CountingAllocator, allocations};
use opentelemetry::global;
use opentelemetry::propagation::Extractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower_service::Service;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The bare service: answers at once, allocating nothing.
#[derive(Clone, Copy)]
struct Bare;

impl Service<Request<()>> for Bare {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

/// Reads an `http::HeaderMap` as the layer does (the same lookups as
/// `opentelemetry_http::HeaderExtractor`).
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

fn request(traceparent: &str) -> Request<()> {
    Request::builder()
        .uri("/orders/1")
        .header(meshtrace::TRACEPARENT, traceparent)
        .body(())
        .unwrap_or_else(|e| panic!("bad test request: {e}"))
}

/// Calls `service` with `req` and polls the response to completion, then
/// drops it (which ends any span).
fn serve<S>(service: &mut S, req: Request<()>)
where
    S: Service<Request<()>>,
{
    let future = pin!(service.call(req));
    let mut task = TaskContext::from_waker(Waker::noop());
    assert!(
        future.poll(&mut task).is_ready(),
        "the bare service is ready at once"
    );
}

#[test]
fn unsampled_fast_path_adds_no_allocation_beyond_extraction() {
    let provider = SdkTracerProvider::builder().build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());

    let mut bare = Bare;
    let mut layered = ServerTraceService::new(Bare, ServerTraceLayer::new());
    let extract_from = request(UNSAMPLED);
    let mut requests: Vec<_> = (0..8).map(|_| request(UNSAMPLED)).collect();
    let mut sampled_requests: Vec<_> = (0..2).map(|_| request(SAMPLED)).collect();

    // Warm up the thread-local context stack and the globals' lazy state.
    for _ in 0..2 {
        serve(
            &mut layered,
            requests.pop().unwrap_or_else(|| request(UNSAMPLED)),
        );
        serve(
            &mut bare,
            requests.pop().unwrap_or_else(|| request(UNSAMPLED)),
        );
    }

    let bare_allocs =
        allocations(|| serve(&mut bare, requests.pop().unwrap_or_else(|| unreachable!())));
    let extract_allocs = allocations(|| {
        let cx = global::get_text_map_propagator(|p| p.extract(&Headers(extract_from.headers())));
        drop(cx);
    });
    let layered_allocs = allocations(|| {
        serve(
            &mut layered,
            requests.pop().unwrap_or_else(|| unreachable!()),
        )
    });
    let sampled_allocs = allocations(|| {
        serve(
            &mut layered,
            sampled_requests.pop().unwrap_or_else(|| unreachable!()),
        );
    });

    println!(
        "allocations per request: bare {bare_allocs}, layered unsampled {layered_allocs} \
         (propagator extract alone: {extract_allocs}), layered sampled {sampled_allocs}"
    );
    assert_eq!(bare_allocs, 0, "the bare service allocates nothing");
    assert_eq!(
        layered_allocs,
        bare_allocs + extract_allocs,
        "the unsampled path allocates only what extraction does"
    );
    assert!(
        extract_allocs <= 2,
        "W3C extraction: one Vec for the split, one Arc for the context ({extract_allocs})"
    );
    assert!(
        sampled_allocs > layered_allocs,
        "the sampled path does record a span ({sampled_allocs} allocations)"
    );
    let _ = provider.shutdown();
}
