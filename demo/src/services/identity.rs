//! `identity`: the gateway's `ext_authz` HTTP service. Envoy sends the
//! original method and `/introspect<original path>` with the allowed
//! headers (trace context included); a bearer token passes.

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::any;
use meshtrace::ServerTraceLayer;
use serde_json::json;

use super::{Running, ServeConfig, ServeError, json_response, listen};

/// Starts the HTTP server.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let app = Router::new()
        .route("/introspect/{*path}", any(introspect))
        .layer(ServerTraceLayer::new());
    let listener = listen(config).await?;
    Ok(Box::pin(async move {
        axum::serve(listener, app).await.map_err(ServeError::Http)
    }))
}

async fn introspect(headers: HeaderMap) -> Response {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|token| !token.is_empty());
    match bearer {
        Some(_) => json_response(200, &json!({"active": true})),
        None => json_response(401, &json!({"active": false, "error": "no bearer token"})),
    }
}
