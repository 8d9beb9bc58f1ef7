//! The connector against a real RabbitMQ: `EDDY_AMQP_URL`, or
//! amqp://guest:guest@127.0.0.1:5672/%2F (`.ci/rabbitmq.sh` starts one
//! there). Without a broker the tests print why and pass, so `cargo test`
//! works anywhere; under CI (`CI=true`) or with `EDDY_REQUIRE_RABBITMQ=1`
//! they fail instead.
//!
//! Each test declares its own queues and exchanges (unique names, queues
//! expiring after 10 minutes unused, so a failed run leaves nothing behind
//! for long), and every loop is bounded in count and time.

#[path = "../../tests/ci_support/mod.rs"]
mod ci_support;

use std::collections::HashMap;
use std::future::Future;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqp::binding::{self, CloudEvent, STRUCTURED_CONTENT_TYPE};
use amqp::{
    AmqpConsumer, AmqpError, AmqpPublisher, ConsumerSettings, Delivery, OutgoingMessage,
    PublisherSettings,
};
use amqprs::channel::{
    Channel, ExchangeDeclareArguments, ExchangeDeleteArguments, QueueBindArguments,
    QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{FieldTable, FieldValue};
use serde_json::{json, Value};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
/// Every test finishes well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a delivery that must come may take.
const MUST_ARRIVE: Duration = Duration::from_secs(10);
/// How long to wait for a delivery that must not come.
const MUST_NOT_ARRIVE: Duration = Duration::from_millis(700);

/// The broker's URL, or `None` (after printing why) to skip.
fn broker() -> Option<String> {
    let url = std::env::var("EDDY_AMQP_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let target = amqp::url::parse(&url).expect("EDDY_AMQP_URL parses");
    let reachable = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if reachable {
        return Some(url);
    }
    assert!(
        !ci_support::server_required("EDDY_REQUIRE_RABBITMQ"),
        "no AMQP broker at {}, and CI or EDDY_REQUIRE_RABBITMQ requires one \
         (start one with .ci/rabbitmq.sh, or set EDDY_AMQP_URL)",
        target.redacted
    );
    eprintln!(
        "skipped: no AMQP broker at {} (start one with .ci/rabbitmq.sh)",
        target.redacted
    );
    None
}

macro_rules! require_rabbitmq {
    () => {
        match broker() {
            Some(url) => url,
            None => return,
        }
    };
}

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test finishes within its time bound");
}

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "eddy-test-{name}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

/// Declares the topology the connector itself never declares.
struct Admin {
    connection: Connection,
    channel: Channel,
}

impl Admin {
    async fn open(url: &str) -> Admin {
        let t = amqp::url::parse(url).unwrap();
        let args = OpenConnectionArguments::new(&t.host, t.port, &t.user, &t.password)
            .virtual_host(&t.vhost)
            .connection_name("eddy test admin")
            .finish();
        let connection = Connection::open(&args).await.expect("admin connects");
        let channel = connection.open_channel(None).await.unwrap();
        Admin {
            connection,
            channel,
        }
    }

    async fn queue(&self, name: &str) {
        let mut arguments = FieldTable::new();
        arguments.insert("x-expires".try_into().unwrap(), FieldValue::l(600_000));
        let args = QueueDeclareArguments::new(name)
            .arguments(arguments)
            .finish();
        self.channel.queue_declare(args).await.unwrap();
    }

    async fn exchange(&self, name: &str, kind: &str) {
        let args = ExchangeDeclareArguments::new(name, kind)
            .auto_delete(true)
            .finish();
        self.channel.exchange_declare(args).await.unwrap();
    }

    async fn bind(&self, queue: &str, exchange: &str, key: &str) {
        self.channel
            .queue_bind(QueueBindArguments::new(queue, exchange, key))
            .await
            .unwrap();
    }

    async fn delete_queue(&self, name: &str) {
        self.channel
            .queue_delete(QueueDeleteArguments::new(name))
            .await
            .unwrap();
    }

    async fn delete_exchange(&self, name: &str) {
        self.channel
            .exchange_delete(ExchangeDeleteArguments::new(name))
            .await
            .unwrap();
    }

    async fn close(self) {
        let _ = self.channel.close().await;
        let _ = self.connection.close().await;
    }
}

fn consumer_settings(url: &str, queue: &str, prefetch: u16) -> ConsumerSettings {
    ConsumerSettings {
        prefetch,
        ..ConsumerSettings::new(url, queue)
    }
}

async fn must_receive(consumer: &mut AmqpConsumer) -> Delivery {
    consumer
        .next(MUST_ARRIVE)
        .await
        .expect("next succeeds")
        .expect("a delivery arrives in time")
}

async fn must_receive_n(consumer: &mut AmqpConsumer, n: usize) -> Vec<Delivery> {
    let mut deliveries = Vec::with_capacity(n);
    for _ in 0..n {
        deliveries.push(must_receive(consumer).await);
    }
    deliveries
}

async fn assert_nothing_more(consumer: &mut AmqpConsumer) {
    let next = consumer.next(MUST_NOT_ARRIVE).await.expect("next succeeds");
    assert!(next.is_none(), "unexpected delivery: {next:?}");
}

/// Publishes plain messages to `queue` through the default exchange.
async fn publish_plain(url: &str, queue: &str, bodies: &[Vec<u8>]) {
    let mut publisher = AmqpPublisher::open(&PublisherSettings::new(url, ""))
        .await
        .unwrap();
    for body in bodies {
        publisher
            .publish(OutgoingMessage {
                routing_key: queue.to_string(),
                body: body.clone(),
                content_type: Some("application/json".into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    assert!(publisher.barrier().await.unwrap().is_empty());
    publisher.close().await;
}

fn header<'a>(d: &'a Delivery, name: &str) -> Option<&'a str> {
    d.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// (a) 1000 CloudEvents, alternately structured and binary, routed by a
/// template through a topic exchange, come back in order and decode to
/// their data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_round_trip_in_order() {
    let url = require_rabbitmq!();
    bounded(async {
        const EVENTS: usize = 1000;
        let admin = Admin::open(&url).await;
        let (exchange, queue) = (unique("events-x"), unique("events-q"));
        admin.exchange(&exchange, "topic").await;
        admin.queue(&queue).await;
        admin.bind(&queue, &exchange, "events.#").await;

        let template = "events.{type}.{subject}";
        binding::check_template(template).unwrap();
        let mut publisher = AmqpPublisher::open(&PublisherSettings::new(&url, &exchange))
            .await
            .unwrap();
        for i in 0..EVENTS {
            let id = format!("ev-{i}");
            let event_type = if i % 2 == 0 {
                "order.created"
            } else {
                "order.paid"
            };
            let subject = format!("s{}", i % 5);
            let attributes: Vec<(String, String)> = [
                ("specversion", "1.0"),
                ("id", id.as_str()),
                ("source", "/eddy/test"),
                ("type", event_type),
                ("subject", subject.as_str()),
                ("time", "2024-05-01T10:00:00Z"),
                ("tenant", "acme"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
            let data = serde_json::to_vec(&json!({ "i": i })).unwrap();
            let structured = serde_json::to_vec(&json!({
                "specversion": "1.0", "id": id, "source": "/eddy/test",
                "type": event_type, "subject": subject,
                "datacontenttype": "application/json", "data": { "i": i },
            }))
            .unwrap();
            let event = CloudEvent {
                id: &id,
                attributes: &attributes,
                data: &data,
                data_content_type: "application/json",
                structured: &structured,
            };
            let key = binding::routing_key(template, event_type, Some(&subject));
            let message = if i % 2 == 0 {
                binding::structured(&event, key)
            } else {
                binding::binary(&event, key)
            };
            publisher.publish(message).await.unwrap();
        }
        let refused = publisher.barrier().await.unwrap();
        assert!(refused.is_empty(), "refused: {refused:?}");
        assert_eq!(publisher.unconfirmed(), 0);
        publisher.close().await;

        // A prefetch below the count: the test must acknowledge to go on.
        let mut consumer = AmqpConsumer::open(&consumer_settings(&url, &queue, 200))
            .await
            .unwrap();
        let mut identities = HashMap::new();
        for i in 0..EVENTS {
            let d = must_receive(&mut consumer).await;
            let id = format!("ev-{i}");
            assert_eq!(d.message_id.as_deref(), Some(id.as_str()), "order");
            assert!(!d.redelivered);
            assert!(
                identities.insert(d.identity, i).is_none(),
                "identities differ"
            );
            let data: Value = serde_json::from_slice(&binding::event_data(&d).unwrap()).unwrap();
            assert_eq!(data, json!({ "i": i }));
            if i % 2 == 0 {
                assert_eq!(d.content_type.as_deref(), Some(STRUCTURED_CONTENT_TYPE));
                assert!(d.headers.is_empty());
                let whole: Value = serde_json::from_slice(&d.payload).unwrap();
                assert_eq!(whole["id"], json!(id));
            } else {
                assert_eq!(d.content_type.as_deref(), Some("application/json"));
                assert_eq!(header(&d, "cloudEvents:id"), Some(id.as_str()));
                assert_eq!(header(&d, "cloudEvents:type"), Some("order.paid"));
                assert_eq!(header(&d, "cloudEvents:source"), Some("/eddy/test"));
                assert_eq!(header(&d, "cloudEvents:specversion"), Some("1.0"));
                let subject = format!("s{}", i % 5);
                assert_eq!(header(&d, "cloudEvents:subject"), Some(subject.as_str()));
                assert_eq!(header(&d, "cloudEvents:time"), Some("2024-05-01T10:00:00Z"));
                assert_eq!(header(&d, "cloudEvents:tenant"), Some("acme"));
                assert_eq!(d.headers.len(), 7, "{:?}", d.headers);
            }
            if i % 100 == 99 {
                consumer.ack_through(d.tag).await.unwrap();
            }
        }
        assert_nothing_more(&mut consumer).await;
        consumer.close().await;

        // All acknowledged: nothing comes back.
        let mut again = AmqpConsumer::open(&consumer_settings(&url, &queue, 200))
            .await
            .unwrap();
        assert_nothing_more(&mut again).await;
        again.close().await;
        admin.delete_queue(&queue).await;
        admin.delete_exchange(&exchange).await;
        admin.close().await;
    })
    .await;
}

/// (b) Unacknowledged deliveries come back, redelivered and with the same
/// identities, after a close and reopen and after a reconnect;
/// acknowledged ones do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_deliveries_come_back() {
    let url = require_rabbitmq!();
    bounded(async {
        const N: usize = 20;
        let admin = Admin::open(&url).await;
        let queue = unique("acks");
        admin.queue(&queue).await;
        // No message ids; the last body repeats the first: identities are a
        // multiset.
        let bodies: Vec<Vec<u8>> = (0..N)
            .map(|i| format!("{{\"n\":{}}}", i % (N - 1)).into_bytes())
            .collect();
        publish_plain(&url, &queue, &bodies).await;

        let settings = consumer_settings(&url, &queue, 100);
        let mut consumer = AmqpConsumer::open(&settings).await.unwrap();
        let first = must_receive_n(&mut consumer, N).await;
        assert!(first.iter().all(|d| !d.redelivered));
        assert_eq!(first[0].identity, first[N - 1].identity);
        let mut identities: Vec<u64> = first.iter().map(|d| d.identity).collect();
        identities.sort_unstable();
        assert_nothing_more(&mut consumer).await;
        consumer.close().await;

        let sorted = |ds: &[Delivery]| {
            let mut ids: Vec<u64> = ds.iter().map(|d| d.identity).collect();
            ids.sort_unstable();
            ids
        };
        // Reopened: all back, redelivered.
        let mut consumer = AmqpConsumer::open(&settings).await.unwrap();
        let second = must_receive_n(&mut consumer, N).await;
        assert!(second.iter().all(|d| d.redelivered));
        assert_eq!(sorted(&second), identities);
        assert_nothing_more(&mut consumer).await;

        // Reconnected: all back again, tags restarted.
        consumer.reconnect().await.unwrap();
        let third = must_receive_n(&mut consumer, N).await;
        assert!(third.iter().all(|d| d.redelivered));
        assert_eq!(sorted(&third), identities);
        assert_eq!(third[0].tag, 1, "delivery tags restart on a new channel");
        assert_nothing_more(&mut consumer).await;

        // Acknowledged through the last: none come back.
        consumer.ack_through(third[N - 1].tag).await.unwrap();
        consumer.close().await;
        let mut consumer = AmqpConsumer::open(&settings).await.unwrap();
        assert_nothing_more(&mut consumer).await;
        consumer.close().await;
        admin.delete_queue(&queue).await;
        admin.close().await;
    })
    .await;
}

/// (c) Unroutable messages come back from `barrier` with the broker's
/// reason; routable ones are confirmed and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_messages_are_handed_back() {
    let url = require_rabbitmq!();
    bounded(async {
        let admin = Admin::open(&url).await;
        let (exchange, queue) = (unique("route-x"), unique("route-q"));
        admin.exchange(&exchange, "direct").await;
        admin.queue(&queue).await;
        admin.bind(&queue, &exchange, "routed").await;

        let mut publisher = AmqpPublisher::open(&PublisherSettings::new(&url, &exchange))
            .await
            .unwrap();
        let message = |key: &str, id: &str| OutgoingMessage {
            routing_key: key.into(),
            body: format!("{{\"id\":\"{id}\"}}").into_bytes(),
            content_type: Some("application/json".into()),
            message_id: Some(id.into()),
            headers: vec![("origin".into(), "eddy-test".into())],
        };
        for (key, id) in [
            ("routed", "ok-1"),
            ("nowhere", "lost-1"),
            ("routed", "ok-2"),
            ("nowhere", "lost-2"),
        ] {
            publisher.publish(message(key, id)).await.unwrap();
        }
        let refused = publisher.barrier().await.unwrap();
        let ids: Vec<_> = refused
            .iter()
            .map(|u| u.message.message_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, ["lost-1", "lost-2"]);
        for u in &refused {
            assert!(u.reason.contains("NO_ROUTE"), "{}", u.reason);
            assert_eq!(
                u.message,
                message("nowhere", u.message.message_id.as_deref().unwrap())
            );
        }
        assert!(
            publisher.barrier().await.unwrap().is_empty(),
            "handed back once"
        );
        publisher.close().await;

        let mut consumer = AmqpConsumer::open(&consumer_settings(&url, &queue, 10))
            .await
            .unwrap();
        let delivered = must_receive_n(&mut consumer, 2).await;
        let ids: Vec<_> = delivered
            .iter()
            .map(|d| d.message_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, ["ok-1", "ok-2"]);
        assert_eq!(header(&delivered[0], "origin"), Some("eddy-test"));
        assert_nothing_more(&mut consumer).await;
        consumer.close().await;
        admin.delete_queue(&queue).await;
        admin.delete_exchange(&exchange).await;
        admin.close().await;
    })
    .await;
}

/// (d) With prefetch 10 and no acknowledgement the broker sends 10, then
/// nothing; an acknowledgement makes room for more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_bounds_unacknowledged_deliveries() {
    let url = require_rabbitmq!();
    bounded(async {
        let admin = Admin::open(&url).await;
        let queue = unique("prefetch");
        admin.queue(&queue).await;
        let bodies: Vec<Vec<u8>> = (0..30)
            .map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect();
        publish_plain(&url, &queue, &bodies).await;

        let mut consumer = AmqpConsumer::open(&consumer_settings(&url, &queue, 10))
            .await
            .unwrap();
        let first = must_receive_n(&mut consumer, 10).await;
        assert_nothing_more(&mut consumer).await;
        consumer.ack_through(first[4].tag).await.unwrap();
        must_receive_n(&mut consumer, 5).await;
        assert_nothing_more(&mut consumer).await;
        consumer.close().await;
        admin.delete_queue(&queue).await;
        admin.close().await;
    })
    .await;
}

/// A missing queue is a clear error naming it; so is a missing exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_queue_and_exchange_are_named() {
    let url = require_rabbitmq!();
    bounded(async {
        let queue = unique("no-such-queue");
        let error = AmqpConsumer::open(&ConsumerSettings::new(&url, &queue))
            .await
            .err()
            .expect("opening fails");
        assert!(matches!(error, AmqpError::MissingQueue { .. }), "{error:?}");
        assert!(error.to_string().contains(&queue), "{error}");

        let exchange = unique("no-such-exchange");
        let error = AmqpPublisher::open(&PublisherSettings::new(&url, &exchange))
            .await
            .err()
            .expect("opening fails");
        assert!(
            matches!(error, AmqpError::MissingExchange { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(&exchange), "{error}");
    })
    .await;
}

/// Deleting the queue under a consumer: `next` reports a disconnection the
/// caller can recognise, and reconnecting names the missing queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_queue_disconnects_the_consumer() {
    let url = require_rabbitmq!();
    bounded(async {
        let admin = Admin::open(&url).await;
        let queue = unique("deleted");
        admin.queue(&queue).await;
        let mut consumer = AmqpConsumer::open(&consumer_settings(&url, &queue, 10))
            .await
            .unwrap();
        assert_nothing_more(&mut consumer).await;
        admin.delete_queue(&queue).await;
        let mut outcome = None;
        for _ in 0..20 {
            match consumer.next(Duration::from_millis(250)).await {
                Ok(None) => continue,
                other => {
                    outcome = Some(other);
                    break;
                }
            }
        }
        let error = outcome
            .expect("the consumer notices within 5 s")
            .expect_err("a disconnection");
        assert!(error.is_disconnected(), "{error:?}");
        let error = consumer.reconnect().await.expect_err("the queue is gone");
        assert!(matches!(error, AmqpError::MissingQueue { .. }), "{error:?}");
        // Still disconnected, recognisably.
        assert!(consumer
            .next(MUST_NOT_ARRIVE)
            .await
            .unwrap_err()
            .is_disconnected());
        admin.close().await;
    })
    .await;
}

/// A wrong password is a connection error that does not show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_a_connect_error() {
    let url = require_rabbitmq!();
    bounded(async {
        let t = amqp::url::parse(&url).unwrap();
        let bad = format!("amqp://{}:wrong-secret@{}:{}/%2F", t.user, t.host, t.port);
        let error = AmqpConsumer::open(&ConsumerSettings::new(&bad, "q"))
            .await
            .err()
            .expect("login fails");
        assert!(matches!(error, AmqpError::Connect { .. }), "{error:?}");
        assert!(!error.to_string().contains("wrong-secret"), "{error}");
    })
    .await;
}

/// No broker listening: a connection error, quickly (needs no broker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_a_connect_error() {
    bounded(async {
        let error = AmqpPublisher::open(&PublisherSettings::new(
            "amqp://guest:guest@127.0.0.1:1/%2F",
            "",
        ))
        .await
        .err()
        .expect("nothing listens on port 1");
        assert!(matches!(error, AmqpError::Connect { .. }), "{error:?}");
        assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    })
    .await;
}

/// The broker closes the consumer's connection (as on a broker restart or
/// an operator's action): `next` reports a disconnection, `reconnect`
/// recovers, and the unacknowledged delivery comes back redelivered with
/// the same identity. Needs `rabbitmqctl` on this machine (skipped, with a
/// note, otherwise or with a remote `EDDY_AMQP_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_is_recovered_by_reconnect() {
    let url = require_rabbitmq!();
    if std::env::var("EDDY_AMQP_URL").is_ok_and(|u| !u.trim().is_empty())
        || std::process::Command::new("rabbitmqctl")
            .arg("--help")
            .output()
            .is_err()
    {
        eprintln!("skipped: closing a connection needs rabbitmqctl next to the default broker");
        return;
    }
    bounded(async {
        let admin = Admin::open(&url).await;
        let queue = unique("dropped");
        admin.queue(&queue).await;
        publish_plain(&url, &queue, &[b"{\"n\":1}".to_vec()]).await;
        let mut consumer = AmqpConsumer::open(&consumer_settings(&url, &queue, 10))
            .await
            .unwrap();
        let before = must_receive(&mut consumer).await;

        // The connection's client-provided name holds the queue's, unique.
        let name = format!("eddy consumer of {queue}");
        let listing = rabbitmqctl(&["-q", "list_connections", "pid", "client_properties"]).await;
        let listing = String::from_utf8_lossy(&listing.stdout);
        let pid = listing
            .lines()
            .find(|line| line.contains(&format!("\"{name}\"")))
            .and_then(|line| line.split('\t').next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("connection `{name}` in:\n{listing}"));
        let closed = rabbitmqctl(&["-q", "close_connection", &pid, "eddy test"]).await;
        assert!(closed.status.success(), "{closed:?}");

        let mut error = None;
        for _ in 0..20 {
            match consumer.next(Duration::from_millis(250)).await {
                Ok(None) => continue,
                Ok(Some(d)) => panic!("unexpected delivery {d:?}"),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let error = error.expect("the consumer notices within 5 s");
        assert!(error.is_disconnected(), "{error:?}");
        assert!(error.to_string().contains("eddy test"), "{error}");
        consumer.reconnect().await.unwrap();
        let after = must_receive(&mut consumer).await;
        assert!(after.redelivered);
        assert_eq!(after.identity, before.identity);
        consumer.ack_through(after.tag).await.unwrap();
        consumer.close().await;
        admin.delete_queue(&queue).await;
        admin.close().await;
    })
    .await;
}

/// Runs rabbitmqctl (an Erlang VM start: seconds) off the runtime's workers.
async fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .arg("60")
            .arg("rabbitmqctl")
            .args(&args)
            .output()
            .expect("rabbitmqctl runs")
    })
    .await
    .unwrap()
}
