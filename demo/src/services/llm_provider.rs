//! `llm-provider`: the stand-in for the LLM vendor llm-gateway fronts,
//! outside the mesh (no sidecar of its own). `POST /v1/chat/completions`
//! answers an OpenAI-shaped chat completion with token usage derived from
//! the messages, after a short pretend inference. Its SERVER span is the
//! last HTTP hop of the flow: llm-gateway → its outbound sidecar → here.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::response::Response;
use axum::routing::post;
use meshtrace::ServerTraceLayer;
use serde_json::{Value, json};

use super::{Running, ServeConfig, ServeError, json_response, listen};

/// The model the provider serves.
pub const MODEL: &str = "demo-llm-1";
/// How long the pretend inference takes.
const INFERENCE: Duration = Duration::from_millis(20);

/// Starts the HTTP server.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .layer(ServerTraceLayer::new());
    let listener = listen(config).await?;
    Ok(Box::pin(async move {
        axum::serve(listener, app).await.map_err(ServeError::Http)
    }))
}

async fn chat(body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    tokio::time::sleep(INFERENCE).await;
    json_response(200, &completion(&request))
}

/// The completion for a chat request: prompt tokens are the words of the
/// messages' contents (at least 1).
pub fn completion(request: &Value) -> Value {
    let prompt_tokens = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |messages| {
            messages
                .iter()
                .filter_map(|m| m.get("content").and_then(Value::as_str))
                .map(|c| c.split_whitespace().count())
                .sum::<usize>()
        })
        .max(1) as u64;
    let completion_tokens = 7;
    json!({
        "object": "chat.completion",
        "model": request.get("model").and_then(Value::as_str).unwrap_or(MODEL),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "score: 0.87 (likely to renew)"},
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_the_words_of_the_messages() {
        let answer = completion(&json!({
            "model": "m",
            "messages": [{"role": "user", "content": "score account acme"}],
        }));
        assert_eq!(answer["model"], "m");
        assert_eq!(answer["usage"]["prompt_tokens"], 3);
        assert_eq!(answer["usage"]["total_tokens"], 10);
        assert_eq!(completion(&Value::Null)["usage"]["prompt_tokens"], 1);
    }
}
