//! Delivery reports the runtime waits for before it commits offsets: a
//! message counts as written only once the broker has acknowledged it.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use super::error::KafkaConnectorError;

/// Where the broker put an acknowledged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// Messages handed to a producer whose delivery report has not been awaited.
#[derive(Default)]
struct PendingAcks {
    pending: Vec<(String, DeliveryFuture)>,
}

impl PendingAcks {
    pub fn new() -> Self {
        PendingAcks::default()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn push(&mut self, topic: &str, delivery: DeliveryFuture) {
        self.pending.push((topic.to_string(), delivery));
    }

    /// Waits for every pending report, in send order. The first failure is
    /// returned after all have been awaited, so none is left dangling; on
    /// failure the caller must not commit the offsets of this interval.
    pub async fn wait_all(&mut self) -> Result<Vec<Delivered>, KafkaConnectorError> {
        let mut delivered = Vec::with_capacity(self.pending.len());
        let mut first_error = None;
        for (topic, delivery) in self.pending.drain(..) {
            match wait_one(&topic, delivery).await {
                Ok(d) => delivered.push(d),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(delivered), Err)
    }
}

/// How long a send waits for room in a full producer queue.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// A producer to one topic that keeps the delivery report of every message
/// it sends, so that whoever commits source offsets can wait for them.
/// The Kafka sink and the dead-letter producer are both built on it.
pub struct AckedProducer {
    producer: FutureProducer,
    topic: String,
    queue_timeout: Duration,
    pending: PendingAcks,
}

/// One message for [`AckedProducer::send`].
pub struct Outgoing<'a> {
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    pub headers: OwnedHeaders,
    pub timestamp: Option<i64>,
    /// `None`: the producer's partitioner picks one from the key.
    pub partition: Option<i32>,
}

impl AckedProducer {
    pub fn new(producer: FutureProducer, topic: &str) -> Self {
        AckedProducer {
            producer,
            topic: topic.to_string(),
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            pending: PendingAcks::new(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Messages sent whose delivery has not been awaited yet.
    pub fn unacknowledged(&self) -> usize {
        self.pending.len()
    }

    /// Enqueues one message; its delivery report joins the pending ones.
    pub async fn send(&mut self, message: Outgoing<'_>) -> Result<(), KafkaConnectorError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .payload(message.payload)
            .headers(message.headers);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        if let Some(timestamp) = message.timestamp {
            record = record.timestamp(timestamp);
        }
        if let Some(partition) = message.partition {
            record = record.partition(partition);
        }
        let delivery = enqueue(&self.producer, record, self.queue_timeout).await?;
        self.pending.push(&self.topic, delivery);
        Ok(())
    }

    /// Waits until the broker has acknowledged every message sent so far.
    /// An error means some message may not be written: do not commit.
    pub async fn wait_for_acks(&mut self) -> Result<Vec<Delivered>, KafkaConnectorError> {
        self.pending.wait_all().await
    }

    /// The end offset of every partition of the topic.
    pub fn end_offsets(
        &self,
        timeout: Duration,
    ) -> Result<Vec<crate::checkpoint::SourceOffset>, KafkaConnectorError> {
        super::written::end_offsets(self.producer.client(), &self.topic, timeout)
    }

    /// Sends what librdkafka still holds, waiting at most `timeout`
    /// (at shutdown, after [`AckedProducer::wait_for_acks`]).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaConnectorError> {
        self.producer
            .flush(timeout)
            .map_err(|source| KafkaConnectorError::Produce {
                topic: self.topic.clone(),
                source,
            })
    }
}

/// Waits for one delivery report.
pub async fn wait_one(
    topic: &str,
    delivery: DeliveryFuture,
) -> Result<Delivered, KafkaConnectorError> {
    match delivery.await {
        Ok(Ok(delivery)) => Ok(Delivered {
            partition: delivery.partition,
            offset: delivery.offset,
        }),
        Ok(Err((source, _message))) => Err(KafkaConnectorError::Delivery {
            topic: topic.to_string(),
            source,
        }),
        Err(_canceled) => Err(KafkaConnectorError::DeliveryCanceled {
            topic: topic.to_string(),
        }),
    }
}

/// Hands `record` to the producer, retrying while its queue is full (the
/// broker is slower than eddy: this is where a slow sink slows the
/// pipeline down) for at most `queue_timeout`.
pub async fn enqueue(
    producer: &FutureProducer,
    mut record: FutureRecord<'_, [u8], [u8]>,
    queue_timeout: Duration,
) -> Result<DeliveryFuture, KafkaConnectorError> {
    const RETRY_PAUSE: Duration = Duration::from_millis(5);
    let started = Instant::now();
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                if started.elapsed() >= queue_timeout {
                    return Err(KafkaConnectorError::QueueFull {
                        topic: returned.topic.to_string(),
                        waited_ms: started.elapsed().as_millis(),
                    });
                }
                record = returned;
                producer.poll(Timeout::After(Duration::ZERO));
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err((source, returned)) => {
                return Err(KafkaConnectorError::Produce {
                    topic: returned.topic.to_string(),
                    source,
                })
            }
        }
    }
}
