use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::{HeaderMap, Message, Subscriber};
use futures_util::StreamExt as _;

use super::*;
use crate::ports::free_port;

/// How long a test waits for one message.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

async fn next_message(subscriber: &mut Subscriber) -> Message {
    tokio::time::timeout(RECEIVE_TIMEOUT, subscriber.next())
        .await
        .unwrap_or_else(|_| panic!("no message within {RECEIVE_TIMEOUT:?}"))
        .expect("the subscription ended before a message came")
}

/// Publishes one message with a `traceparent` header to `url` and returns
/// what the subscriber got.
async fn round_trip(url: &str, subject: &str) -> Message {
    let client = async_nats::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let mut subscriber = client.subscribe(subject.to_owned()).await.unwrap();
    // The SUB must reach the server before the PUB.
    client.flush().await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    client
        .publish_with_headers(subject.to_owned(), headers, "hello".into())
        .await
        .unwrap();
    next_message(&mut subscriber).await
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1)).is_ok()
}

#[tokio::test]
async fn publishes_and_receives_a_message_with_headers() {
    let server = NatsServer::start().unwrap();
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    assert_ne!(server.port(), server.monitor_port());

    let message = round_trip(&server.url(), "orders.created").await;

    assert_eq!(message.subject.as_str(), "orders.created");
    assert_eq!(&message.payload[..], b"hello");
    let traceparent = message
        .headers
        .as_ref()
        .and_then(|h| h.get("traceparent"))
        .map(|v| v.as_str());
    assert_eq!(
        traceparent,
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        "headers: {:?}",
        message.headers
    );
}

#[tokio::test]
async fn jetstream_publish_is_acked_with_sequence_one() {
    let server = NatsServer::start().unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client);
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("cannot create a stream: {e}; log:\n{}", server.log()));

    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let ack = js
        .publish_with_headers("events.order", headers, "created".into())
        .await
        .unwrap()
        .await
        .unwrap();

    assert_eq!(ack.stream, "EVENTS");
    assert_eq!(ack.sequence, 1);
    assert!(!ack.duplicate);
    let stored = stream.get_raw_message(1).await.unwrap();
    assert_eq!(&stored.payload[..], b"created");
    assert_eq!(
        stored.headers.get("traceparent").map(|v| v.as_str()),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        "JetStream keeps the headers"
    );
    assert!(
        server.store_dir().join("jetstream").is_dir(),
        "the store is in the temp dir"
    );
}

#[tokio::test]
async fn two_servers_run_side_by_side() {
    let a = NatsServer::start().unwrap();
    let b = NatsServer::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.monitor_port(), b.monitor_port());
    assert_ne!(a.pid(), b.pid());

    for server in [&a, &b] {
        let message = round_trip(&server.url(), "ping").await;
        assert_eq!(&message.payload[..], b"hello", "via {}", server.url());
    }
    let id_a = async_nats::connect(a.url()).await.unwrap().server_info();
    let id_b = async_nats::connect(b.url()).await.unwrap().server_info();
    assert_ne!(id_a.server_id, id_b.server_id, "two distinct servers");
}

#[test]
fn server_is_gone_after_drop() {
    let server = NatsServer::start().unwrap();
    let (port, monitor, pid, dir) = (
        server.port(),
        server.monitor_port(),
        server.pid(),
        server.store_dir(),
    );
    assert!(accepts(port), "a live server accepts");
    assert!(server.is_running());
    assert!(server.log().contains("Server is ready"), "{}", server.log());

    drop(server);

    assert!(
        !accepts(port),
        "client port {port} still accepts after drop"
    );
    assert!(!accepts(monitor), "monitor port {monitor} still accepts");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists"
    );
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[tokio::test]
async fn options_set_max_payload_port_and_core_only() {
    let port = free_port().expect("free port");
    let server = NatsServer::start_with(
        NatsOptions::default()
            .with_jetstream(false)
            .with_port(port)
            .with_max_payload(4096),
    )
    .unwrap();
    assert_eq!(server.port(), port);

    let client = async_nats::connect(server.url()).await.unwrap();
    let info = client.server_info();
    assert_eq!(info.max_payload, 4096);
    assert!(!info.jetstream, "JetStream is off");
    assert!(
        client.publish("big", vec![0u8; 8192].into()).await.is_err(),
        "a payload over max_payload is refused"
    );
}

#[test]
fn bad_flag_fails_with_the_servers_message() {
    let error = NatsServer::start_with(NatsOptions::default().with_arg("--no-such-flag"))
        .expect_err("nats-server refuses an unknown flag");
    let message = format!("{error:#}");
    assert!(message.contains("exited"), "{message}");
    assert!(message.contains("no-such-flag"), "{message}");
}
