//! `ensemble`: pulls scoring jobs from JetStream; per job, inside its
//! CONSUMER span, calls llm-gateway over HTTP through its outbound sidecar
//! (`TracedClient`: a CLIENT span, context injected) and publishes the
//! usage on core NATS. A failed call is nak'ed for redelivery.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt as _;
use meshtrace::TracedClient;
use meshtrace::nats::{HandlerError, JetStreamDelivery, Publisher};
use serde_json::{Value, json};

use super::events::{JOBS_CONSUMER, USAGE_SUBJECT, json_data, usage_event};
use super::pipeline::ensure_jobs_stream;
use super::{FlowError, Running, ServeConfig, ServeError, connect};

/// The `host` the outbound sidecar sees (the peer's name in a mesh).
const LLM_AUTHORITY: &str = "llm-gateway";
/// Bound on one LLM call.
const LLM_TIMEOUT: Duration = Duration::from_secs(5);
/// Redelivery delay after a failed call.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Creates the consumer and returns the pull loop.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let upstream = config.upstream()?.trim_end_matches('/').to_owned();
    let client = connect(config).await?;
    let js = jetstream::new(client.clone());
    let stream = ensure_jobs_stream(&js).await?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            JOBS_CONSUMER,
            pull::Config {
                durable_name: Some(JOBS_CONSUMER.to_owned()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ServeError::Nats(format!("consumer {JOBS_CONSUMER}: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| ServeError::Nats(format!("pull {JOBS_CONSUMER}: {e}")))?;
    let publisher = Publisher::new(client);
    let http = TracedClient::default();
    Ok(Box::pin(async move {
        while let Some(message) = messages.next().await {
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    eprintln!("ensemble: pull: {e}");
                    continue;
                }
            };
            let (publisher, http, upstream) = (publisher.clone(), http.clone(), upstream.clone());
            let outcome = JetStreamDelivery::new(message)
                .process(|job| async move {
                    let completion = complete(&http, &upstream, &job).await.map_err(|error| {
                        HandlerError::Retry {
                            error,
                            delay: Some(RETRY_DELAY),
                        }
                    })?;
                    let usage = usage_event(&job, &completion).map_err(HandlerError::Reject)?;
                    publisher
                        .publish(USAGE_SUBJECT, usage)
                        .await
                        .map_err(|e| HandlerError::Retry {
                            error: FlowError::from(e),
                            delay: Some(RETRY_DELAY),
                        })
                })
                .await;
            if let Err(e) = outcome {
                eprintln!("ensemble: {e}");
            }
        }
        Ok(())
    }))
}

/// Asks llm-gateway to score the job.
async fn complete(
    http: &TracedClient,
    upstream: &str,
    job: &cloudevents::Event,
) -> Result<Value, FlowError> {
    let data = json_data(job)?;
    let body = json!({"model": "demo-llm-1", "prompt": data.get("prompt").cloned().unwrap_or(Value::Null)});
    let response = http
        .post(format!("{upstream}/v1/complete"))
        .header(reqwest::header::HOST, LLM_AUTHORITY)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .timeout(LLM_TIMEOUT)
        .send()
        .await
        .map_err(|e| FlowError::Llm(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| FlowError::Llm(format!("reading the answer: {e}")))?;
    if !status.is_success() {
        return Err(FlowError::Llm(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| FlowError::Llm(format!("answer is not JSON: {e}")))
}
