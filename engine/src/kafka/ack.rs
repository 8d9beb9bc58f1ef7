//! Delivery reports the runtime waits for before it commits offsets: a
//! message counts as written only once the broker has acknowledged it.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
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
pub struct PendingAcks {
    pending: Vec<(String, DeliveryFuture)>,
}

impl PendingAcks {
    pub fn new() -> Self {
        PendingAcks::default()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
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
