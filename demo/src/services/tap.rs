//! `tap`: `POST /events` publishes the body as a CloudEvent on core NATS,
//! inside the request's SERVER span, and answers 202 with the trace id.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use cloudevents::AttributesReader as _;
use meshtrace::ServerTraceLayer;
use meshtrace::nats::Publisher;
use serde_json::json;

use super::events::{TAP_SUBJECT, tap_event};
use super::{
    FlowError, Running, ServeConfig, ServeError, connect, current_trace_id, json_response, listen,
};

/// Connects to NATS and starts the HTTP server.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let publisher = Arc::new(Publisher::new(connect(config).await?));
    let app = Router::new()
        .route("/events", post(capture))
        .with_state(publisher)
        .layer(ServerTraceLayer::new());
    let listener = listen(config).await?;
    Ok(Box::pin(async move {
        axum::serve(listener, app).await.map_err(ServeError::Http)
    }))
}

async fn capture(State(publisher): State<Arc<Publisher>>, body: Bytes) -> Response {
    let trace_id = current_trace_id();
    let published = async {
        let event = tap_event(&body)?;
        let id = event.id().to_owned();
        publisher.publish(TAP_SUBJECT, event).await?;
        Ok::<_, FlowError>(id)
    };
    match published.await {
        Ok(id) => json_response(202, &json!({"event": id, "trace_id": trace_id})),
        Err(e) => json_response(502, &json!({"error": e.to_string(), "trace_id": trace_id})),
    }
}
