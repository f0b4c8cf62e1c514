//! `llm-gateway`: the mesh's front for the LLM provider, behind its inbound
//! sidecar. `POST /v1/complete` turns the prompt into a chat request to
//! llm-provider, sent with `TracedClient` through its outbound sidecar (an
//! app CLIENT span, the sidecar's CLIENT span, the provider's SERVER span),
//! and answers the completion with the provider's token counts.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use meshtrace::{ServerTraceLayer, TracedClient};
use serde_json::{Value, json};

use super::llm_provider::MODEL;
use super::{FlowError, Running, ServeConfig, ServeError, json_response, listen};

/// The provider's authority on the outbound call (the sidecar routes every
/// call to its upstream cluster; the name shows in the CLIENT spans).
const PROVIDER_AUTHORITY: &str = "llm-provider";
/// How long the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the provider calls go, and the client that traces them.
#[derive(Clone)]
struct Provider {
    http: TracedClient,
    upstream: String,
}

/// Starts the HTTP server; `--upstream` is the outbound sidecar.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let provider = Provider {
        http: TracedClient::default(),
        upstream: config.upstream()?.trim_end_matches('/').to_owned(),
    };
    let app = Router::new()
        .route("/v1/complete", post(complete))
        .with_state(provider)
        .layer(ServerTraceLayer::new());
    let listener = listen(config).await?;
    Ok(Box::pin(async move {
        axum::serve(listener, app).await.map_err(ServeError::Http)
    }))
}

async fn complete(State(provider): State<Provider>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = request.get("prompt").and_then(Value::as_str).unwrap_or("");
    match chat(&provider, prompt).await {
        Ok(answer) => json_response(200, &completion_from(&answer)),
        Err(e) => json_response(502, &json!({"error": e.to_string()})),
    }
}

/// Sends the prompt to the provider as a chat completion request.
async fn chat(provider: &Provider, prompt: &str) -> Result<Value, FlowError> {
    let body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
    });
    let response = provider
        .http
        .post(format!("{}/v1/chat/completions", provider.upstream))
        .header(reqwest::header::HOST, PROVIDER_AUTHORITY)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .timeout(PROVIDER_TIMEOUT)
        .send()
        .await
        .map_err(|e| FlowError::Llm(format!("llm-provider: {e}")))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| FlowError::Llm(format!("llm-provider: reading the answer: {e}")))?;
    if !status.is_success() {
        return Err(FlowError::Llm(format!(
            "llm-provider: {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| FlowError::Llm(format!("llm-provider: answer is not JSON: {e}")))
}

/// The gateway's completion (what ensemble reads) from the provider's chat
/// completion.
fn completion_from(answer: &Value) -> Value {
    let text = answer
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .unwrap_or("");
    let usage = |field: &str| {
        answer
            .pointer(&format!("/usage/{field}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    json!({
        "model": answer.get("model").and_then(Value::as_str).unwrap_or(MODEL),
        "completion": text,
        "usage": {
            "prompt_tokens": usage("prompt_tokens"),
            "completion_tokens": usage("completion_tokens"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::llm_provider;

    #[test]
    fn the_completion_carries_the_providers_text_and_usage() {
        let answer = llm_provider::completion(&json!({
            "messages": [{"role": "user", "content": "score account acme"}],
        }));
        let out = completion_from(&answer);
        assert_eq!(out["completion"], "score: 0.87 (likely to renew)");
        assert_eq!(out["usage"]["prompt_tokens"], 3);
        assert_eq!(out["usage"]["completion_tokens"], 7);
    }
}
