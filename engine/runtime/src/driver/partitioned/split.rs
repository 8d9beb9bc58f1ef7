//! How the events of each input stream are split between workers: by a
//! hash of the partition key every stateful rule reading the stream
//! shares, so that each key's state lives on one worker.

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::ArrowError;
use arrow_select::take::take_record_batch;
use dsl::partitioning::{Obstacle, Partitioning, Split};
use dsl::plan::{KeyPlan, Program};
use operators::key::KeyExtractor;
use operators::schema::{stream_schema, OFFSET_COLUMN};
use operators::OperatorError;

/// Why a program cannot be split by key.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// See [`dsl::partitioning`]: the first obstacle, in rule order.
    #[error("{0}")]
    Unsplittable(Obstacle),
    #[error("cannot compute the partition key of stream `{stream}`: {source}")]
    Key {
        stream: String,
        #[source]
        source: OperatorError,
    },
    #[error("stream `{0}` has no `{OFFSET_COLUMN}` column")]
    NoOffsets(String),
    #[error("splitting a batch: {0}")]
    Arrow(#[from] ArrowError),
}

/// How one input stream is split.
enum StreamSplit {
    /// By a hash of the key part all its stateful rules share.
    ByKey(KeyExtractor),
    /// Only stateless rules read it: any split will do; by offset spreads
    /// the work.
    ByOffset { column: usize },
}

/// The split of every input stream of a program between `workers`.
pub struct Splitter {
    /// Per catalog stream; `None` for streams that are not inputs.
    streams: Vec<Option<StreamSplit>>,
    workers: usize,
}

impl Splitter {
    /// Refuses programs where some state would have to see events of two
    /// workers (see [`Partitioning`]). Chained rules are refused even when
    /// stateless: workers hand their derived events to the runner only.
    pub fn new(program: &Program, inputs: &[usize], workers: usize) -> Result<Self, SplitError> {
        let analysis = Partitioning::of(program);
        if let Some(obstacle) = analysis.obstacles.first() {
            return Err(SplitError::Unsplittable(obstacle.clone()));
        }
        let catalog = &program.catalog;
        let mut streams: Vec<Option<StreamSplit>> =
            (0..catalog.streams.len()).map(|_| None).collect();
        for &stream in inputs {
            let plan = &catalog.streams[stream];
            let schema = stream_schema(plan);
            let split = analysis.split_of(stream).unwrap_or(&Split::Any);
            streams[stream] = Some(match split {
                Split::ByKey(part) => {
                    let key = KeyPlan {
                        parts: vec![part.clone()],
                    };
                    StreamSplit::ByKey(KeyExtractor::new(&key, &plan.name, &schema).map_err(
                        |source| SplitError::Key {
                            stream: plan.name.clone(),
                            source,
                        },
                    )?)
                }
                Split::Any => StreamSplit::ByOffset {
                    column: schema
                        .index_of(OFFSET_COLUMN)
                        .map_err(|_| SplitError::NoOffsets(plan.name.clone()))?,
                },
            });
        }
        Ok(Splitter { streams, workers })
    }

    /// The rows of `batch` (of catalog stream `stream`) each worker takes,
    /// in row order: one batch per worker.
    pub fn split(
        &self,
        stream: usize,
        batch: &RecordBatch,
    ) -> Result<Vec<RecordBatch>, SplitError> {
        let name = || format!("#{stream}");
        let hashes: Vec<u64> = match self.streams.get(stream).and_then(Option::as_ref) {
            Some(StreamSplit::ByKey(key)) => {
                key.hashes(batch).map_err(|source| SplitError::Key {
                    stream: name(),
                    source,
                })?
            }
            Some(StreamSplit::ByOffset { column }) => batch
                .column(*column)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| SplitError::NoOffsets(name()))?
                .values()
                .iter()
                .map(|&offset| offset as u64)
                .collect(),
            None => return Err(SplitError::NoOffsets(name())),
        };
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); self.workers];
        for (row, hash) in hashes.into_iter().enumerate() {
            rows[(hash % self.workers as u64) as usize].push(row as u32);
        }
        rows.into_iter()
            .map(|rows| Ok(take_record_batch(batch, &UInt32Array::from(rows))?))
            .collect()
    }
}
