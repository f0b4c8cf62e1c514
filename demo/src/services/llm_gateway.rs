//! `llm-gateway`: a fake LLM behind its inbound sidecar. `POST
//! /v1/complete` answers a canned completion with token counts derived
//! from the prompt, after a short pretend inference.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::response::Response;
use axum::routing::post;
use meshtrace::ServerTraceLayer;
use serde_json::{Value, json};

use super::{Running, ServeConfig, ServeError, json_response, listen};

/// The model name in completions.
const MODEL: &str = "demo-llm-1";
/// How long the pretend inference takes.
const INFERENCE: Duration = Duration::from_millis(25);

/// Starts the HTTP server.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let app = Router::new()
        .route("/v1/complete", post(complete))
        .layer(ServerTraceLayer::new());
    let listener = listen(config).await?;
    Ok(Box::pin(async move {
        axum::serve(listener, app).await.map_err(ServeError::Http)
    }))
}

async fn complete(body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = request.get("prompt").and_then(Value::as_str).unwrap_or("");
    tokio::time::sleep(INFERENCE).await;
    let prompt_tokens = prompt.split_whitespace().count().max(1) as u64;
    json_response(
        200,
        &json!({
            "model": MODEL,
            "completion": "score: 0.87 (likely to renew)",
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 7},
        }),
    )
}
