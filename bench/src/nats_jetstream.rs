//! The JetStream rounds of `bench nats --jetstream`: the same five
//! configurations over a file-storage stream, each message published with
//! its acknowledgement awaited (as `JetStreamPublisher::publish` does, and
//! as pipeline → ensemble in the demo's flow publishes), then pulled by a
//! durable consumer and acked one by one. Untraced uses the bare
//! `async_nats::jetstream` context and the same binding; traced uses
//! `JetStreamPublisher` and `JetStreamDelivery::process`.

use std::time::Instant;

use async_nats::jetstream::{self, consumer::pull, stream};
use cloudevents::Event;
use futures_util::StreamExt as _;
use meshtrace::nats::{HandlerError, JetStreamDelivery, JetStreamPublisher, decode, encode_binary};

use crate::nats::{
    NatsBenchError, NatsConfig, NatsRound, add_propagated_headers, finish, nats_error, parent_of,
};

/// One JetStream round of `config`: stream and consumer made for it,
/// removed after it.
///
/// # Errors
///
/// [`NatsBenchError`] when JetStream fails or messages are lost.
pub async fn round(
    config: NatsConfig,
    client: &async_nats::Client,
    name: &str,
    event: &Event,
    messages: usize,
) -> Result<NatsRound, NatsBenchError> {
    let js = jetstream::new(client.clone());
    let subject = format!("{name}.jobs");
    let stream = js
        .create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(nats_error("creating the stream"))?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("bench".to_owned()),
            ..Default::default()
        })
        .await
        .map_err(nats_error("creating the consumer"))?;
    let pulled = consumer.messages().await.map_err(nats_error("pulling"))?;
    let traced = config.sampled_every();
    let handle = tokio::spawn(async move {
        let mut pulled = pulled;
        let mut handled = 0;
        while handled < messages {
            let Some(Ok(message)) = pulled.next().await else {
                break;
            };
            let ok = match traced {
                None => {
                    let decoded = decode(message.headers.as_ref(), &message.payload).is_ok();
                    decoded && message.ack().await.is_ok()
                }
                Some(_) => JetStreamDelivery::new(message)
                    .process(|_| async { Ok::<_, HandlerError<std::convert::Infallible>>(()) })
                    .await
                    .is_ok(),
            };
            if ok {
                handled += 1;
            }
        }
        (handled, Instant::now())
    });
    let start = Instant::now();
    match traced {
        None => {
            for _ in 0..messages {
                let (mut headers, payload) =
                    encode_binary(&event.clone()).map_err(nats_error("encoding"))?;
                if config == NatsConfig::Headers {
                    add_propagated_headers(&mut headers);
                }
                js.publish_with_headers(subject.clone(), headers, payload)
                    .await
                    .map_err(nats_error("publishing"))?
                    .await
                    .map_err(nats_error("awaiting the ack"))?;
            }
        }
        Some(every) => {
            use opentelemetry::trace::FutureExt as _;
            let publisher = JetStreamPublisher::new(js.clone());
            for i in 0..messages {
                publisher
                    .publish(subject.clone(), event.clone())
                    .with_context(parent_of(i, every))
                    .await
                    .map_err(nats_error("publishing"))?;
            }
        }
    }
    let result = finish(config, handle, start, messages).await;
    let _ = js.delete_stream(name).await;
    result
}
