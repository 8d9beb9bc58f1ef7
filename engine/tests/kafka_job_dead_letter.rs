//! The streaming job against a real broker: poison messages in an input
//! topic (not JSON, wrong types, a missing field, 10 MB) go to the
//! dead-letter topic unchanged, with the reason and where they came from,
//! and the good events around them still give their derived events.
//! Produced and read back by Python's confluent-kafka. Skips without a
//! broker.

mod kafka_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_support::{EddyJob, Input, JobTopics, ReadBack};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Bound on the job producing every expected output.
const OUTPUT_WAIT: Duration = Duration::from_secs(90);
const STREAMS: &[&str] = &["auth", "payments"];

/// The poison, each with the reason eddy must give: a payment cut short, a
/// payment whose amount is text, one without an amount, and one over the
/// default `max_message_bytes` (1 MiB) that is otherwise a fine payment.
fn poison() -> Vec<(&'static str, String)> {
    let payment = r#""ts":"2026-01-01T00:00:30Z","payment_id":"poison","user_id":"g01""#;
    vec![
        ("malformed_json", format!(r#"{{{payment},"amount":12"#)),
        (
            "wrong_type",
            format!(r#"{{{payment},"amount":"lots","currency":"EUR"}}"#),
        ),
        (
            "missing_field",
            format!(r#"{{{payment},"currency":"EUR"}}"#),
        ),
        (
            "oversize",
            format!(
                r#"{{{payment},"amount":50000,"currency":"EUR","note":"{}"}}"#,
                "x".repeat(10 * 1024 * 1024)
            ),
        ),
    ]
}

#[tokio::test]
async fn poison_input_goes_to_the_dead_letter_topic() {
    let brokers = require_broker!();
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let topics = JobTopics::create(&brokers, "poison", STREAMS, 1).await;
    let rules = dir.join("rules.eddy");
    std::fs::write(&rules, kafka_support::user_keyed_rules()).expect("write rules");

    let mut rng = StdRng::seed_from_u64(0x0edd_0901);
    let mut clock = kafka_support::GENERATED_START_MS;
    let good: Vec<Input> = kafka_support::generated_events(&mut rng, 200, &mut clock)
        .iter()
        .map(|event| Input::generated(event, 1))
        .collect();
    let sentinels = Input::sentinels(STREAMS, 1);
    let oracle_input: Vec<Input> = good.iter().chain(&sentinels).cloned().collect();
    let oracle = kafka_support::oracle(dir, &rules, STREAMS, &oracle_input);
    let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);
    assert!(
        expected.values().any(|e| e.kind == "eddy.large_payment"),
        "the good events make large payments"
    );

    // The poison goes between good payments, spread over the topic; its
    // offsets in the (fresh, one-partition) payments topic are its
    // positions among the payments produced.
    let poison = poison();
    let mut inputs: Vec<Input> = Vec::new();
    let mut poison_offsets: BTreeMap<i64, (&str, &String)> = BTreeMap::new();
    let mut payments = 0i64;
    let spacing = good.len() / (poison.len() + 1);
    for (n, input) in good.iter().enumerate() {
        if n > 0 && n % spacing == 0 {
            if let Some((reason, line)) = poison.get(n / spacing - 1) {
                poison_offsets.insert(payments, (reason, line));
                payments += 1;
                inputs.push(Input {
                    stream: "payments",
                    partition: 0,
                    key: Some("g01".into()),
                    line: line.clone(),
                });
            }
        }
        if input.stream == "payments" {
            payments += 1;
        }
        inputs.push(input.clone());
    }
    assert_eq!(poison_offsets.len(), poison.len(), "all poison placed");
    inputs.extend(sentinels);
    topics.produce(&brokers, dir, &inputs);

    let group = kafka_support::unique("poison");
    let config = topics.config(&brokers, &group, &dir.join("checkpoints"), "binary");
    let mut job =
        kafka_support::start_until_derived(dir, "poison", &rules, &config, &expected, OUTPUT_WAIT);
    let dead = wait_for_dead_letters(&brokers, &topics, poison.len(), &mut job);
    let stderr = job.terminate();

    let payments_topic = &topics.inputs["payments"];
    let mut seen: BTreeMap<i64, &ReadBack> = BTreeMap::new();
    for message in &dead {
        let h = &message.headers;
        let context = || format!("{h:?}\n{stderr}");
        assert_eq!(
            h.get("eddy_source_topic"),
            Some(payments_topic),
            "{}",
            context()
        );
        assert_eq!(
            h.get("eddy_source_partition").map(String::as_str),
            Some("0")
        );
        let offset: i64 = h["eddy_source_offset"].parse().expect("a numeric offset");
        let Some((reason, line)) = poison_offsets.get(&offset) else {
            panic!(
                "a dead letter for offset {offset}, which is no poison: {}",
                context()
            );
        };
        assert_eq!(
            h.get("eddy_reason").map(String::as_str),
            Some(*reason),
            "{}",
            context()
        );
        assert!(
            h.get("eddy_detail").is_some_and(|d| !d.is_empty()),
            "{}",
            context()
        );
        assert!(
            message.value() == line.as_bytes(),
            "the {reason} message comes back unchanged ({} bytes, sent {})",
            message.value().len(),
            line.len()
        );
        assert_eq!(message.key.as_deref(), Some("g01"), "the key is kept");
        seen.insert(offset, message);
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        poison_offsets.keys().collect::<Vec<_>>(),
        "one dead letter per poison message\n{stderr}"
    );

    let messages = kafka_support::read_all(&brokers, &topics.sink, 1);
    let got = kafka_support::dedupe(messages.iter().map(kafka_support::Derived::from_message));
    let got = kafka_support::before(&got, kafka_support::SENTINEL_CUTOFF);
    kafka_support::assert_same_events(&got, &expected, &stderr);
}

/// Reads the dead-letter topic until it holds `count` messages, bounded
/// by [`OUTPUT_WAIT`].
fn wait_for_dead_letters(
    brokers: &str,
    topics: &JobTopics,
    count: usize,
    job: &mut EddyJob,
) -> Vec<ReadBack> {
    let started = Instant::now();
    loop {
        let dead = kafka_support::read_all(brokers, &topics.dead_letter, 1);
        if dead.len() >= count {
            return dead;
        }
        job.assert_running();
        assert!(
            started.elapsed() < OUTPUT_WAIT,
            "{} of {count} dead letters after {OUTPUT_WAIT:?}: {:?}\n{}",
            dead.len(),
            dead.iter().map(|d| &d.headers).collect::<Vec<_>>(),
            job.stderr()
        );
        std::thread::sleep(kafka_support::POLL * 4);
    }
}
