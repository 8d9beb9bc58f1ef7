//! AMQP queues (`type = "amqp"`): a consumer task per queue, messages
//! acknowledged only once a checkpoint covers them.
//!
//! The broker keeps every message until it is acknowledged, so nothing is
//! written locally: after a crash the unacknowledged messages come again.
//! Those the last checkpoint covers (handed to the pipeline before it, not
//! yet acknowledged when the job stopped) are recorded in the checkpoint by
//! identity ([`Unacknowledged`]); a restored job skips them when they come
//! again marked redelivered, and processes everything else. RabbitMQ
//! requeues unacknowledged messages at their old places, so they come
//! before new ones: the first message not marked redelivered ends the
//! skipping.
//!
//! At most `prefetch` messages are unacknowledged at a time; when half of
//! that is waiting for a checkpoint, the job asks for one early, so a long
//! `checkpoint.interval` does not stall the queue.
//!
//! A lost connection stops the job (with the error): a restart resumes
//! from the last checkpoint with the rules above. Reconnecting in place
//! would need the same bookkeeping across channels; it is not done yet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use amqp::{binding, AmqpConsumer, ConsumerSettings, Delivery};
use dsl::plan::Program;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::batch::{Batcher, Item};
use super::{Committer, Feed};
use crate::checkpoint::{Checkpoint, SourceOffset, Unacknowledged};
use crate::config::{AmqpStream, Config};
use crate::driver::RunError;
use crate::job::JobError;
use crate::reject::RejectReason;

/// Set to `amqp-before-ack`, the job exits (status 137, as killed) once a
/// checkpoint is stored and before its messages are acknowledged: the one
/// crash point the recovery above exists for, too narrow to hit with a
/// kill from outside. For the crash tests.
pub const FAILPOINT_VARIABLE: &str = "EDDY_FAILPOINT";

/// Messages in one batch at most.
const MESSAGES_PER_BATCH: usize = 512;
/// How long a batch waits for its next message once it has one.
const FILL_WAIT: Duration = Duration::from_millis(5);
/// How long the consumer waits for a first message before it looks at
/// acknowledgement requests again.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// One AMQP stream of the job.
pub struct AmqpInput {
    pub stream: usize,
    pub name: String,
    pub settings: AmqpStream,
}

impl AmqpInput {
    /// The stream's channel name in checkpoints and dead-letter records.
    fn channel(&self) -> String {
        format!("amqp:{}", self.name)
    }
}

/// AMQP messages of a batch handed to the driver.
pub struct Handed {
    /// `amqp:<stream>`.
    pub channel: String,
    /// The delivery tag of the batch's last message.
    pub last_tag: u64,
    /// Every message of the batch, those skipped as already processed too.
    pub identities: Vec<u64>,
}

/// Identities of messages the restored checkpoint covers, as a multiset.
type Covered = Arc<Mutex<HashMap<u64, usize>>>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Connects a consumer per queue and starts it on the job's runtime.
pub async fn start(
    program: &Program,
    config: &Config,
    inputs: &[AmqpInput],
    restored: Option<&Checkpoint>,
    feeds: &mpsc::Sender<Feed>,
    messages_in: &Arc<AtomicU64>,
) -> Result<Vec<Box<dyn Committer>>, JobError> {
    let mut committers: Vec<Box<dyn Committer>> = Vec::new();
    for input in inputs {
        let channel = input.channel();
        let mut covered = HashMap::new();
        for identity in restored
            .into_iter()
            .flat_map(|c| &c.unacknowledged)
            .filter(|u| u.channel == channel)
            .flat_map(|u| &u.identities)
        {
            *covered.entry(*identity).or_insert(0) += 1;
        }
        if !covered.is_empty() {
            tracing::info!(
                "amqp stream `{}`: {} messages of the last checkpoint may come again; they are skipped",
                input.name,
                covered.values().sum::<usize>()
            );
        }
        let covered = Arc::new(Mutex::new(covered));
        let consumer = AmqpConsumer::open(&ConsumerSettings {
            url: input.settings.url.clone(),
            queue: input.settings.queue.clone(),
            prefetch: input.settings.prefetch,
        })
        .await?;
        let (acks, requests) = mpsc::channel(1);
        let feeder = Feeder {
            consumer,
            batcher: Batcher::new(
                program,
                input.stream,
                &channel,
                config.max_message_bytes.get(),
            )?,
            channel: channel.clone(),
            covered: covered.clone(),
            skipping: true,
            skipped: 0,
            number: 0,
            messages_in: messages_in.clone(),
        };
        tokio::spawn(feeder.run(feeds.clone(), requests));
        committers.push(Box::new(AmqpCommitter {
            channel,
            acks,
            covered,
            handed: Vec::new(),
            last_tag: 0,
            acknowledged: 0,
            prefetch: usize::from(input.settings.prefetch),
            crash_before_ack: std::env::var(FAILPOINT_VARIABLE)
                .is_ok_and(|point| point == "amqp-before-ack"),
        }));
    }
    Ok(committers)
}

/// A request to acknowledge every message up to a delivery tag.
type AckRequest = (u64, oneshot::Sender<Result<(), amqp::AmqpError>>);

/// Consumes one queue into batches for the driver.
struct Feeder {
    consumer: AmqpConsumer,
    batcher: Batcher,
    channel: String,
    covered: Covered,
    /// Until the first message not marked redelivered.
    skipping: bool,
    /// Messages skipped so far, for the log.
    skipped: usize,
    /// Messages read in this run: their numbers in dead-letter records.
    number: i64,
    messages_in: Arc<AtomicU64>,
}

impl Feeder {
    async fn run(mut self, feeds: mpsc::Sender<Feed>, mut acks: mpsc::Receiver<AckRequest>) {
        loop {
            let deliveries = match self.read(&mut acks).await {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    let _ = feeds
                        .send(Feed::Failed(format!(
                            "{}: {error}; restart eddy to resume from the last checkpoint",
                            self.channel
                        )))
                        .await;
                    return;
                }
            };
            if deliveries.is_empty() {
                if feeds.is_closed() {
                    return;
                }
                continue;
            }
            let feed = self.feed(deliveries);
            // Acknowledgements go on while the driver is busy: it may be
            // waiting for one (a checkpoint) before it takes this batch.
            let permit = loop {
                tokio::select! {
                    permit = feeds.reserve() => break permit,
                    Some(request) = acks.recv() => self.acknowledge(request).await,
                }
            };
            match permit {
                Ok(permit) => permit.send(feed),
                Err(_) => return,
            }
        }
    }

    /// A batch of deliveries, answering acknowledgement requests between
    /// them; empty if none came within the wait.
    async fn read(
        &mut self,
        acks: &mut mpsc::Receiver<AckRequest>,
    ) -> Result<Vec<Delivery>, amqp::AmqpError> {
        let mut deliveries = Vec::new();
        while deliveries.len() < MESSAGES_PER_BATCH {
            while let Ok(request) = acks.try_recv() {
                self.acknowledge(request).await;
            }
            let wait = if deliveries.is_empty() {
                IDLE_WAIT
            } else {
                FILL_WAIT
            };
            match self.consumer.next(wait).await? {
                Some(delivery) => deliveries.push(delivery),
                None => break,
            }
        }
        Ok(deliveries)
    }

    async fn acknowledge(&mut self, (tag, done): AckRequest) {
        let _ = done.send(self.consumer.ack_through(tag).await);
    }

    /// The driver's batch of `deliveries`, skipping those the restored
    /// checkpoint covers.
    fn feed(&mut self, deliveries: Vec<Delivery>) -> Feed {
        self.messages_in
            .fetch_add(deliveries.len() as u64, Ordering::Relaxed);
        let handed = Handed {
            channel: self.channel.clone(),
            last_tag: deliveries.last().map_or(0, |d| d.tag),
            identities: deliveries.iter().map(|d| d.identity).collect(),
        };
        let mut items = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            self.number += 1;
            if self.skip(&delivery) {
                continue;
            }
            let item = match binding::event_data(&delivery) {
                Ok(event) => Item::Event(event),
                Err(refused) => Item::Refused {
                    reason: RejectReason::BadEnvelope,
                    detail: refused.to_string(),
                    raw: delivery.payload,
                },
            };
            items.push((self.number, item));
        }
        match self.batcher.batch(items, None) {
            Ok(batch) => Feed::Batch {
                batch: Box::new(batch),
                deliveries: Some(handed),
            },
            Err(error) => Feed::Failed(format!("{}: {error}", self.channel)),
        }
    }

    /// Whether `delivery` was processed before the restart (see the module).
    fn skip(&mut self, delivery: &Delivery) -> bool {
        if !self.skipping {
            return false;
        }
        let mut covered = lock(&self.covered);
        let skip = delivery.redelivered && take_one(&mut covered, delivery.identity);
        self.skipped += usize::from(skip);
        // Redeliveries come first: a new message, or the last covered one
        // seen again, ends them.
        if !delivery.redelivered || covered.is_empty() {
            self.skipping = false;
            covered.clear();
            if self.skipped > 0 {
                tracing::info!(
                    "{}: skipped {} redelivered messages the last checkpoint covered",
                    self.channel,
                    self.skipped
                );
            }
        }
        skip
    }
}

/// Takes one `identity` out of the multiset `covered`, if it is there.
fn take_one(covered: &mut HashMap<u64, usize>, identity: u64) -> bool {
    let Some(count) = covered.get_mut(&identity) else {
        return false;
    };
    *count -= 1;
    if *count == 0 {
        covered.remove(&identity);
    }
    true
}

/// Acknowledges a queue's messages once a checkpoint covers them.
struct AmqpCommitter {
    channel: String,
    acks: mpsc::Sender<AckRequest>,
    /// Restored identities not seen again yet: still covered by the
    /// checkpoints to come.
    covered: Covered,
    /// Identities handed to the driver since the last acknowledgement.
    handed: Vec<u64>,
    last_tag: u64,
    acknowledged: u64,
    prefetch: usize,
    /// See [`FAILPOINT_VARIABLE`].
    crash_before_ack: bool,
}

impl Committer for AmqpCommitter {
    fn handed(&mut self, deliveries: &Handed) {
        if deliveries.channel == self.channel {
            self.handed.extend_from_slice(&deliveries.identities);
            self.last_tag = self.last_tag.max(deliveries.last_tag);
        }
    }

    fn unacknowledged(&self) -> Option<Unacknowledged> {
        let mut identities = self.handed.clone();
        for (identity, count) in lock(&self.covered).iter() {
            identities.extend(std::iter::repeat_n(*identity, *count));
        }
        Some(Unacknowledged {
            channel: self.channel.clone(),
            identities,
        })
    }

    fn wants_checkpoint(&self) -> bool {
        self.handed.len() >= self.prefetch / 2
    }

    fn commit(&mut self, runtime: &Handle, _positions: &[SourceOffset]) -> Result<(), RunError> {
        if self.last_tag <= self.acknowledged {
            return Ok(());
        }
        if self.crash_before_ack {
            tracing::error!(
                "{FAILPOINT_VARIABLE}: exiting before acknowledging {}",
                self.channel
            );
            std::process::exit(137);
        }
        let (done, answer) = oneshot::channel();
        let lost = || RunError::ReaderLost(format!("the consumer of {}", self.channel));
        runtime
            .block_on(self.acks.send((self.last_tag, done)))
            .map_err(|_| lost())?;
        runtime
            .block_on(answer)
            .map_err(|_| lost())?
            .map_err(|error| RunError::Connector(Box::new(error)))?;
        self.acknowledged = self.last_tag;
        self.handed.clear();
        Ok(())
    }
}
