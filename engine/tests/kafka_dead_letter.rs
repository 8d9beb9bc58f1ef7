//! Rejected messages land in the dead-letter topic unchanged, with headers
//! naming the reason and the source position; read back by Python's
//! confluent-kafka. Skips without a broker.

mod kafka_support;

use engine::kafka::{KafkaDeadLetter, RejectedMessage};
use engine::reject::RejectReason;

#[tokio::test]
async fn a_rejected_message_keeps_its_bytes_and_says_why() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("dead-letter");
    kafka_support::create_topic(&brokers, &topic, 1).await;

    let kafka = kafka_support::kafka_config(&brokers, "unused");
    let mut dead_letter = KafkaDeadLetter::new(&kafka, &topic).unwrap();
    // Not UTF-8, not JSON: must come back byte for byte.
    let garbage: &[u8] = b"\xff\xfe{not json";
    dead_letter
        .send(
            &RejectedMessage {
                topic: "auth",
                partition: 1,
                offset: 41,
                timestamp: Some(1_767_225_600_000),
                key: Some(b"u7"),
                payload: garbage,
            },
            RejectReason::MalformedJson,
            "expected value at line 1 column 1",
        )
        .await
        .unwrap();
    dead_letter
        .send(
            &RejectedMessage {
                topic: "payments",
                partition: 0,
                offset: 3,
                timestamp: None,
                key: None,
                payload: br#"{"ts":1,"amount":"lots"}"#,
            },
            RejectReason::WrongType,
            "amount: expected a number",
        )
        .await
        .unwrap();
    assert_eq!(dead_letter.wait_for_acks().await.unwrap().len(), 2);
    assert_eq!(dead_letter.total(), 2);
    assert_eq!(dead_letter.counts()[&RejectReason::MalformedJson], 1);

    let messages = kafka_support::read_back(&brokers, &topic, 1, 2);
    assert_eq!(messages.len(), 2, "{messages:?}");
    let first = &messages[0];
    assert_eq!(first.value(), garbage);
    assert_eq!(first.key.as_deref(), Some("u7"));
    let h = &first.headers;
    assert_eq!(h["eddy_reason"], "malformed_json");
    assert_eq!(h["eddy_detail"], "expected value at line 1 column 1");
    assert_eq!(h["eddy_source_topic"], "auth");
    assert_eq!(h["eddy_source_partition"], "1");
    assert_eq!(h["eddy_source_offset"], "41");

    let second = &messages[1];
    assert_eq!(second.value(), br#"{"ts":1,"amount":"lots"}"#);
    assert_eq!(second.key, None);
    assert_eq!(second.headers["eddy_reason"], "wrong_type");
    assert_eq!(second.headers["eddy_source_topic"], "payments");
    assert_eq!(second.headers["eddy_source_offset"], "3");
}

#[tokio::test]
async fn a_ten_megabyte_message_lands_whole() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("dead-letter-big");
    kafka_support::create_topic(&brokers, &topic, 1).await;

    let kafka = kafka_support::kafka_config(&brokers, "unused");
    let mut dead_letter = KafkaDeadLetter::new(&kafka, &topic).unwrap();
    let big: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    dead_letter
        .send(
            &RejectedMessage {
                topic: "auth",
                partition: 0,
                offset: 9,
                timestamp: None,
                key: None,
                payload: &big,
            },
            RejectReason::Oversize,
            "10485760 bytes, the limit is 1048576",
        )
        .await
        .unwrap();
    dead_letter.wait_for_acks().await.unwrap();

    let messages = kafka_support::read_back(&brokers, &topic, 1, 1);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].headers["eddy_reason"], "oversize");
    assert!(!messages[0].headers.contains_key("eddy_truncated_from"));
    assert!(messages[0].value() == big, "the payload changed");
}
