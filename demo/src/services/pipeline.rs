//! `pipeline`: consumes tap events on core NATS and publishes a scoring
//! job on JetStream, inside the CONSUMER span of each delivery.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::StreamExt as _;
use meshtrace::nats::{JetStreamPublisher, Subscription};

use super::events::{JOBS_STREAM, JOBS_STREAM_SUBJECTS, JOBS_SUBJECT, TAP_SUBJECT, job_event};
use super::{FlowError, Running, ServeConfig, ServeError, connect};

/// How long turning an event into a job pretends to take.
const WORK: Duration = Duration::from_millis(5);

/// Creates the stream, subscribes and returns the consume loop.
pub(super) async fn start(config: &ServeConfig) -> Result<Running, ServeError> {
    let client = connect(config).await?;
    let js = jetstream::new(client.clone());
    ensure_jobs_stream(&js).await?;
    let publisher = JetStreamPublisher::new(js);
    let mut events = Subscription::subscribe(&client, TAP_SUBJECT)
        .await
        .map_err(|e| ServeError::Nats(format!("subscribe {TAP_SUBJECT}: {e}")))?;
    client
        .flush()
        .await
        .map_err(|e| ServeError::Nats(format!("flush: {e}")))?;
    Ok(Box::pin(async move {
        while let Some(delivery) = events.next().await {
            let publisher = publisher.clone();
            let outcome = delivery
                .process(|event| async move {
                    tokio::time::sleep(WORK).await;
                    let job = job_event(&event)?;
                    publisher.publish(JOBS_SUBJECT, job).await?;
                    Ok::<_, FlowError>(())
                })
                .await;
            if let Err(e) = outcome {
                eprintln!("pipeline: {e}");
            }
        }
        Ok(())
    }))
}

/// Creates stream `JOBS` (`jobs.>`) unless it exists (pipeline and
/// ensemble both call it, whichever starts first).
pub(super) async fn ensure_jobs_stream(
    js: &jetstream::Context,
) -> Result<jetstream::stream::Stream, ServeError> {
    js.get_or_create_stream(stream::Config {
        name: JOBS_STREAM.to_owned(),
        subjects: vec![JOBS_STREAM_SUBJECTS.to_owned()],
        ..Default::default()
    })
    .await
    .map_err(|e| ServeError::Nats(format!("stream {JOBS_STREAM}: {e}")))
}
