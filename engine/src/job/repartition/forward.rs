//! The upstream side of a repartition topic: a task of the input topics
//! forwards each accepted event of a re-keyed stream, unchanged, to the
//! partition of its key, and keeps every downstream partition told how far
//! its input partition has come (markers), so that downstream watermarks
//! move even where none of its events go.
//!
//! Forwarded records are durable before the checkpoint that covers their
//! input is stored: [`Forwarder::flush`] runs at every barrier and before a
//! partition is handed back. After a crash the input is read again from the
//! checkpoint and forwarded again; downstream skips what it already took
//! (see [`super::merge`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dsl::plan::{Millis, Program};
use rdkafka::producer::FutureProducer;

use super::record::{headers, UpstreamProgress};
use crate::config::KafkaConfig;
use crate::kafka::{AckedProducer, KafkaConnectorError, Outgoing, SourceMessage};

use super::super::layout::JobLayout;

/// A marker goes out at most this often per input partition while its
/// progress moves...
const MARKER_SPACING: Duration = Duration::from_millis(100);
/// ...and at least this often while it does not: a downstream task that
/// restarts past the last marker learns where its upstreams are.
const MARKER_REPEAT: Duration = Duration::from_secs(1);

/// One internal topic a stream is forwarded to.
struct Destination {
    out: AckedProducer,
    key: Option<Vec<String>>,
    partitions: i32,
}

/// What the downstream tasks were last told about one input partition.
struct Upstream {
    progress: UpstreamProgress,
    told: Option<(UpstreamProgress, Instant)>,
}

/// The forwarding of every re-keyed stream of this instance's input tasks.
pub struct Forwarder {
    /// Per stream (catalog index): where its events go.
    destinations: BTreeMap<usize, Vec<Destination>>,
    /// Per stream: how far ahead of the wall clock an event may be (a
    /// later one is refused downstream, so it must not move progress).
    ahead: BTreeMap<usize, Millis>,
    upstreams: BTreeMap<(usize, i32), Upstream>,
}

impl Forwarder {
    /// A forwarder for the routes of `layout`; `None` if nothing is re-keyed.
    pub fn open(
        kafka: &KafkaConfig,
        program: &Program,
        layout: &JobLayout,
    ) -> Result<Option<Self>, KafkaConnectorError> {
        if layout.routes().next().is_none() {
            return Ok(None);
        }
        let producer: FutureProducer =
            crate::kafka::client::producer(kafka)
                .create()
                .map_err(|source| KafkaConnectorError::Create {
                    role: "repartition producer",
                    source,
                })?;
        let mut destinations: BTreeMap<usize, Vec<Destination>> = BTreeMap::new();
        for (_, route) in layout.routes() {
            destinations
                .entry(route.stream)
                .or_default()
                .push(Destination {
                    out: AckedProducer::new(producer.clone(), &route.topic),
                    key: route.key.clone(),
                    partitions: route.partitions,
                });
        }
        let ahead = destinations
            .keys()
            .map(|&s| (s, program.catalog.streams[s].ahead))
            .collect();
        Ok(Some(Forwarder {
            destinations,
            ahead,
            upstreams: BTreeMap::new(),
        }))
    }

    /// Whether events of stream `stream` are forwarded.
    pub fn forwards(&self, stream: usize) -> bool {
        self.destinations.contains_key(&stream)
    }

    /// Forwards accepted events of stream `stream` read from input
    /// partition `from`, in input order, each with its event time.
    pub async fn forward(
        &mut self,
        stream: usize,
        from: i32,
        events: &[(&SourceMessage, Millis)],
        now: Millis,
    ) -> Result<(), KafkaConnectorError> {
        let Some(destinations) = self.destinations.get_mut(&stream) else {
            return Ok(());
        };
        let future_limit = now.saturating_add(self.ahead.get(&stream).copied().unwrap_or(0));
        let upstream = self.upstreams.entry((stream, from)).or_insert(Upstream {
            progress: UpstreamProgress {
                from,
                newest: None,
                idle: false,
            },
            told: None,
        });
        upstream.progress.idle = false;
        let keyed = destinations.iter().any(|d| d.key.is_some());
        for &(message, time) in events {
            if time <= future_limit {
                upstream.progress.newest = upstream.progress.newest.max(Some(time));
            }
            // Parsed once for all the keys the stream is forwarded by.
            let event = keyed
                .then(|| serde_json::from_slice::<serde_json::Value>(&message.payload).ok())
                .flatten();
            for destination in destinations.iter_mut() {
                let key = key_text(event.as_ref(), destination.key.as_deref());
                destination
                    .out
                    .send(Outgoing {
                        key: Some(key.as_bytes()),
                        payload: &message.payload,
                        headers: headers(
                            &upstream.progress,
                            Some(message.offset),
                            message.timestamp,
                        ),
                        timestamp: message.timestamp,
                        partition: Some(partition_of(&key, destination.partitions)),
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// Input partition `from` of stream `stream` has been quiet for the
    /// idle timeout (or has data again).
    pub fn set_idle(&mut self, stream: usize, from: i32, idle: bool) {
        if let Some(upstream) = self.upstreams.get_mut(&(stream, from)) {
            upstream.progress.idle = idle;
        } else if self.forwards(stream) {
            self.upstreams.insert(
                (stream, from),
                Upstream {
                    progress: UpstreamProgress {
                        from,
                        newest: None,
                        idle,
                    },
                    told: None,
                },
            );
        }
    }

    /// Input partition `from` is no longer this instance's.
    pub fn revoke(&mut self, from: i32) {
        self.upstreams.retain(|(_, f), _| *f != from);
    }

    /// Sends the markers that are due: to every partition of every topic
    /// of a stream whose progress moved, or was not told for a while.
    pub async fn markers(&mut self, now: Instant) -> Result<(), KafkaConnectorError> {
        for (&(stream, _), upstream) in &mut self.upstreams {
            let due = match upstream.told {
                None => true,
                Some((told, at)) => {
                    let since = now.saturating_duration_since(at);
                    (told != upstream.progress && since >= MARKER_SPACING) || since >= MARKER_REPEAT
                }
            };
            if !due {
                continue;
            }
            let Some(destinations) = self.destinations.get_mut(&stream) else {
                continue;
            };
            for destination in destinations.iter_mut() {
                for partition in 0..destination.partitions {
                    destination
                        .out
                        .send(Outgoing {
                            key: None,
                            payload: &[],
                            headers: headers(&upstream.progress, None, None),
                            timestamp: None,
                            partition: Some(partition),
                        })
                        .await?;
                }
            }
            upstream.told = Some((upstream.progress, now));
        }
        Ok(())
    }

    /// Waits until the broker has every record forwarded so far.
    pub async fn flush(&mut self) -> Result<(), KafkaConnectorError> {
        for destination in self.destinations.values_mut().flatten() {
            destination.out.wait_for_acks().await?;
        }
        Ok(())
    }
}

/// The text of the key at `path` of a JSON event: a string as it is,
/// another value as JSON, nothing (no path, a missing field, not JSON) as
/// the empty key. Events with equal keys get equal texts, so they meet.
pub fn key_text(event: Option<&serde_json::Value>, path: Option<&[String]>) -> String {
    let (Some(event), Some(path)) = (event, path) else {
        return String::new();
    };
    let mut value = event;
    for part in path {
        match value.get(part) {
            Some(inner) => value = inner,
            None => return String::new(),
        }
    }
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The partition of key `key` among `partitions`: the same on every
/// instance and every run (xxh3, not the process's random hasher).
pub fn partition_of(key: &str, partitions: i32) -> i32 {
    let partitions = u64::try_from(partitions.max(1)).unwrap_or(1);
    let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
    i32::try_from(hash % partitions).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_at_their_path_and_spread_stably() {
        let path = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        let event: serde_json::Value =
            serde_json::from_str(r#"{"user_id":"u1","device":{"os":"linux"},"n":5,"none":null}"#)
                .unwrap();
        let event = Some(&event);
        assert_eq!(key_text(event, Some(&path("user_id"))), "u1");
        assert_eq!(key_text(event, Some(&path("device.os"))), "linux");
        assert_eq!(key_text(event, Some(&path("n"))), "5");
        assert_eq!(key_text(event, Some(&path("none"))), "");
        assert_eq!(key_text(event, Some(&path("missing"))), "");
        assert_eq!(key_text(event, None), "");
        assert_eq!(key_text(None, Some(&path("user_id"))), "");
        // Fixed values: a change would move keys between partitions of
        // topics that already hold data.
        let spread: Vec<i32> = ["u1", "u2", "u3", "u4", ""]
            .iter()
            .map(|k| partition_of(k, 4))
            .collect();
        assert_eq!(spread, SPREAD);
        assert!((0..100).all(|i| partition_of(&format!("k{i}"), 1) == 0));
    }

    const SPREAD: [i32; 5] = [1, 2, 1, 3, 2];
}
