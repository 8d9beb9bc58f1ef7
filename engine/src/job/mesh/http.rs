//! HTTP streams (`type = "http"`): a listener per `listen` address, a
//! write-ahead log and a feeder thread per stream.
//!
//! The listener checks each event against the stream's schema so that its
//! answer says what was rejected and why; the feeder decodes the log again
//! (the decoder is the one authority), so an event the answer called
//! rejected is dead-lettered, once, with the same reason. Events found late
//! or early for the watermark are also dead-lettered, but the answer, given
//! before the pipeline saw them, counts them as accepted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dsl::plan::Program;
use http_source::{Check, HttpServer, Record, Route, ServerSettings, Wal, WalReader, WalWriter};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::batch::{Batcher, Item};
use super::{Committer, Feed};
use crate::checkpoint::{Checkpoint, SourceOffset};
use crate::config::{Config, HttpStream};
use crate::decode::validate::check_line;
use crate::driver::RunError;
use crate::job::JobError;
use crate::metrics::Metrics;
use crate::reject::RejectReason;

/// Records read from a log into one batch at most.
const RECORDS_PER_BATCH: usize = 1024;
/// How long a feeder waits for new records before it looks again.
const WAIT: Duration = Duration::from_millis(100);

/// One HTTP stream of the job.
pub struct HttpInput {
    pub stream: usize,
    pub name: String,
    pub settings: HttpStream,
}

impl HttpInput {
    /// Where checkpoints record how far its log was read.
    fn position_name(&self) -> String {
        format!("http:{}", self.name)
    }
}

/// The running listeners; dropping them stops nothing (the job's runtime
/// ends them).
pub struct HttpListeners {
    pub servers: Vec<HttpServer>,
}

/// Opens each stream's log, starts a feeder reading it from where
/// `restored` (the task's checkpoint) left off, then the listeners.
pub async fn start(
    program: &Program,
    config: &Config,
    inputs: &[HttpInput],
    restored: Option<&Checkpoint>,
    feeds: &mpsc::Sender<Feed>,
    metrics: &Arc<Metrics>,
    messages_in: &Arc<AtomicU64>,
) -> Result<(Vec<Box<dyn Committer>>, HttpListeners), JobError> {
    let mut committers: Vec<Box<dyn Committer>> = Vec::new();
    let mut listeners: BTreeMap<String, (Option<String>, Vec<Route>)> = BTreeMap::new();
    let max_message_bytes = config.max_message_bytes.get();
    for input in inputs {
        let (wal, writer) = Wal::open(&input.settings.wal)?;
        let position = restored
            .and_then(|c| c.offset_of(&input.position_name(), 0))
            .unwrap_or(0);
        let reader = wal.reader(u64::try_from(position).unwrap_or(0))?;
        if wal.end() > reader.position() {
            tracing::info!(
                "http stream `{}`: replaying {} events of its write-ahead log from {}",
                input.name,
                wal.end() - reader.position(),
                reader.position()
            );
        }
        let batcher = Batcher::new(
            program,
            input.stream,
            &input.position_name(),
            max_message_bytes,
        )?;
        spawn_feeder(reader, batcher, feeds.clone(), messages_in.clone())?;
        committers.push(Box::new(HttpCommitter {
            position: input.position_name(),
            writer: writer.clone(),
        }));
        let token = match &input.settings.token_env {
            Some(variable) => Some(token(variable)?),
            None => None,
        };
        let listener = listeners
            .entry(input.settings.listen.clone())
            .or_insert_with(|| (token.clone(), Vec::new()));
        if listener.0 != token {
            return Err(JobError::HttpListener(format!(
                "streams on {} must share one `token_env`",
                input.settings.listen
            )));
        }
        listener.1.push(Route {
            path: input.settings.path.clone(),
            wal: writer,
            check: check(program, input.stream, max_message_bytes),
            max_backlog: input.settings.max_backlog,
        });
    }
    let mut servers = Vec::new();
    for (listen, (token, routes)) in listeners {
        let max_request_bytes = inputs
            .iter()
            .filter(|i| i.settings.listen == listen)
            .map(|i| i.settings.max_request_bytes)
            .max()
            .unwrap_or(HttpStream::DEFAULT_MAX_REQUEST_BYTES);
        let paths: Vec<String> = routes.iter().map(|r| r.path.clone()).collect();
        let ready_metrics = metrics.clone();
        let answer_metrics = metrics.clone();
        let server = HttpServer::start(
            ServerSettings {
                listen: listen.clone(),
                token: token.clone(),
                max_request_bytes,
                answered: Some(Arc::new(move |status| answer_metrics.http_answer(status))),
            },
            routes,
            Arc::new(move || ready_metrics.is_ready()),
        )
        .await
        .map_err(|e| JobError::HttpListener(format!("cannot listen on {listen}: {e}")))?;
        tracing::info!(
            "http source: listening on {} at {}{}",
            server.address,
            paths.join(", "),
            if token.is_some() {
                " (bearer token required)"
            } else {
                ""
            }
        );
        if !server.address.ip().is_loopback() {
            tracing::warn!(
                "the http source listens on {}, not a loopback address: other machines can POST events{}",
                server.address,
                if token.is_some() { "" } else { " (set `token_env` to require a token)" }
            );
        }
        servers.push(server);
    }
    Ok((committers, HttpListeners { servers }))
}

/// The token in environment variable `variable`.
fn token(variable: &str) -> Result<String, JobError> {
    std::env::var(variable)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            JobError::HttpListener(format!(
                "`token_env` names ${variable}, which is not set (or empty)"
            ))
        })
}

/// The listener's check of stream `stream`'s events: their size and
/// schema, as the decoder will find them.
fn check(program: &Program, stream: usize, max_message_bytes: usize) -> Check {
    let plan = program.catalog.streams[stream].clone();
    Arc::new(move |events: &[Vec<u8>]| {
        events
            .iter()
            .map(|event| {
                if event.len() > max_message_bytes {
                    return Some((
                        RejectReason::Oversize.as_str().to_string(),
                        format!(
                            "event of {} bytes; the limit (max_message_bytes) is {max_message_bytes}",
                            event.len()
                        ),
                    ));
                }
                check_line(event, &plan.fields, &plan.time_field)
                    .err()
                    .map(|invalid| (invalid.reason.as_str().to_string(), invalid.detail))
            })
            .collect()
    })
}

/// Reads a stream's log into batches for the driver until the job ends.
fn spawn_feeder(
    mut reader: WalReader,
    mut batcher: Batcher,
    feeds: mpsc::Sender<Feed>,
    messages_in: Arc<AtomicU64>,
) -> Result<(), JobError> {
    let name = format!("eddy-{}", batcher.source());
    let feed = move || loop {
        let records = match reader.read(RECORDS_PER_BATCH, WAIT) {
            Ok(records) => records,
            Err(error) => {
                let _ = feeds.blocking_send(Feed::Failed(error.to_string()));
                return;
            }
        };
        if records.is_empty() {
            if feeds.is_closed() {
                return;
            }
            continue;
        }
        messages_in.fetch_add(records.len() as u64, Ordering::Relaxed);
        let next = records.last().map(|(n, _)| *n as i64 + 1);
        let items = records
            .into_iter()
            .map(|(number, record)| (number as i64, item(record)))
            .collect();
        let feed = match batcher.batch(items, next) {
            Ok(batch) => Feed::Batch {
                batch: Box::new(batch),
                deliveries: None,
            },
            Err(error) => Feed::Failed(error.to_string()),
        };
        if feeds.blocking_send(feed).is_err() {
            return;
        }
    };
    std::thread::Builder::new()
        .name(name)
        .spawn(feed)
        .map(|_| ())
        .map_err(|e| JobError::HttpListener(format!("cannot start a feeder thread: {e}")))
}

fn item(record: Record) -> Item {
    match record {
        Record::Event(bytes) => Item::Event(bytes),
        Record::Refused {
            reason,
            detail,
            raw,
        } => Item::Refused {
            reason: reason.parse().unwrap_or(RejectReason::BadEnvelope),
            detail,
            raw,
        },
    }
}

/// Truncates a stream's log behind each checkpoint.
struct HttpCommitter {
    position: String,
    writer: WalWriter,
}

impl Committer for HttpCommitter {
    fn commit(&mut self, _runtime: &Handle, positions: &[SourceOffset]) -> Result<(), RunError> {
        if let Some(covered) = positions.iter().find(|p| p.topic == self.position) {
            self.writer
                .truncate(u64::try_from(covered.next_offset).unwrap_or(0));
        }
        Ok(())
    }
}
