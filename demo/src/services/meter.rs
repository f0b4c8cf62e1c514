//! `meter`: consumes usage events on core NATS and records them; for each
//! it prints `recorded <trace id> <tokens>` on stdout, which the
//! orchestrator waits for.

use std::io::Write as _;
use std::time::Duration;

use futures_util::StreamExt as _;
use meshtrace::nats::Subscription;

use super::events::{USAGE_SUBJECT, total_tokens};
use super::{
    FlowError, RECORDED_PREFIX, Running, ServeConfig, ServeError, connect, current_trace_id,
};

/// How long recording pretends to take.
const WORK: Duration = Duration::from_millis(3);

/// Subscribes and returns the consume loop.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let client = connect(config).await?;
    let mut usage = Subscription::subscribe(&client, USAGE_SUBJECT)
        .await
        .map_err(|e| ServeError::Nats(format!("subscribe {USAGE_SUBJECT}: {e}")))?;
    client
        .flush()
        .await
        .map_err(|e| ServeError::Nats(format!("flush: {e}")))?;
    Ok(Box::pin(async move {
        let mut total = 0u64;
        while let Some(delivery) = usage.next().await {
            let outcome = delivery
                .process(|event| async move {
                    tokio::time::sleep(WORK).await;
                    let tokens = total_tokens(&event)?;
                    Ok::<_, FlowError>((current_trace_id(), tokens))
                })
                .await;
            match outcome {
                Ok((trace_id, tokens)) => {
                    total += tokens;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{RECORDED_PREFIX}{trace_id} {tokens} {total}");
                    let _ = out.flush();
                }
                Err(e) => eprintln!("meter: {e}"),
            }
        }
        Ok(())
    }))
}
