//! A stream's history, read through DataFusion and handed over in event-time
//! order, in the pipeline's in-flight schema.
//!
//! Two readers, one shape of output:
//! - CSV and Parquet ([`columnar`]): a DataFusion listing table over the
//!   files; the time range is a filter on the scan (Parquet prunes row
//!   groups with it) and the plan sorts by event time. Each sorted batch is
//!   then checked and cast to the declared types ([`conform`]).
//! - JSON lines ([`json`]): DataFusion lists the files (globs), eddy's own
//!   line reader and decoder read them exactly as `eddy run` does (same
//!   rejections, same offsets and hashes, so the same derived-event ids),
//!   and DataFusion filters and sorts the decoded batches.
//!
//! Both sorts hold the selected events in memory: a backtest needs memory
//! in proportion to the events in its time range.

mod columnar;
mod conform;
mod json;

use std::sync::Arc;

use arrow_array::RecordBatch;
use datafusion::arrow::datatypes::{DataType as ArrowType, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::metrics::MetricValue;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use datafusion::prelude::{lit, Expr, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use dsl::plan::{Millis, StreamPlan};
use futures::StreamExt;

use super::time_range::TimeRange;
use super::BacktestError;
use crate::driver::{Origins, SourceBatch};
use crate::reject::SourcedRejection;
use arrow_schema::SchemaRef;
use conform::Conformer;
use operators::schema::stream_schema;

/// How the files of an input are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
    Parquet,
}

impl Format {
    /// `--format` values.
    pub const NAMES: &'static str = "json, csv, parquet";

    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "json" | "jsonl" | "ndjson" => Some(Format::JsonLines),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// By the extension of a path or glob (`data/*.parquet`).
    pub fn from_path(path: &str) -> Option<Format> {
        let extension = path.rsplit_once('.')?.1;
        match extension.to_ascii_lowercase().as_str() {
            "jsonl" | "json" | "ndjson" => Some(Format::JsonLines),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// One `--input STREAM=PATH` of a backtest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryInput {
    pub stream: String,
    /// A file, a folder or a glob.
    pub path: String,
    pub format: Format,
}

impl HistoryInput {
    /// Files listed for the input must end with this: the path's own
    /// extension, so that `data/` or `data/*` with `--format` read only files
    /// of the path's kind (empty: every file).
    fn file_extension(&self) -> String {
        match self.path.rsplit_once('.') {
            Some((_, ext)) if !ext.contains('/') && !ext.contains('*') => format!(".{ext}"),
            _ => String::new(),
        }
    }
}

/// What reading needs besides the input.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub range: TimeRange,
    pub batch_size: usize,
    pub max_line_bytes: usize,
}

/// The DataFusion session of a backtest: one partition, so the files of a
/// glob are read in path order and the plan's row numbers follow the files.
pub fn session(batch_size: usize) -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(1)
        .with_repartition_file_scans(false)
        .with_batch_size(batch_size);
    SessionContext::new_with_config(config)
}

/// What the scans skipped, from DataFusion's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Parquet row groups skipped by their statistics (the time range).
    pub row_groups_pruned: usize,
    /// Parquet row groups considered.
    pub row_groups_total: usize,
}

impl std::ops::AddAssign for ScanStats {
    fn add_assign(&mut self, other: ScanStats) {
        self.row_groups_pruned += other.row_groups_pruned;
        self.row_groups_total += other.row_groups_total;
    }
}

/// The history of one stream, in event-time order.
pub struct SortedSource {
    batches: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    /// `None` when the batches are in flight already (JSON lines).
    conformer: Option<Conformer>,
    stream: String,
    /// The stream's catalog index.
    index: usize,
    /// The input's path, as given.
    name: Arc<str>,
    /// The stream's in-flight schema.
    schema: SchemaRef,
    /// Rejections found before sorting (JSON lines), handed out first.
    early_rejections: Vec<SourcedRejection>,
}

impl SortedSource {
    /// Plans and starts the scan of `input`.
    pub async fn open(
        ctx: &SessionContext,
        index: usize,
        stream: &StreamPlan,
        input: &HistoryInput,
        options: &ReadOptions,
    ) -> Result<Self, BacktestError> {
        let scan_error = |source: DataFusionError| BacktestError::Scan {
            stream: input.stream.clone(),
            path: input.path.clone(),
            source,
        };
        let (frame, conformer, early_rejections) = match input.format {
            Format::JsonLines => {
                let files = json::list_files(ctx, &input.path, &input.file_extension())
                    .await
                    .map_err(scan_error)?;
                if files.is_empty() {
                    return Err(BacktestError::NoFiles(input.path.clone()));
                }
                let decoded = json::decode_files(stream, &files, options)?;
                let frame = json::sorted_frame(ctx, stream, decoded.batches, &options.range)
                    .map_err(scan_error)?;
                (frame, None, decoded.rejected)
            }
            Format::Csv | Format::Parquet => {
                let frame = columnar::sorted_frame(ctx, stream, input, &options.range)
                    .await
                    .map_err(scan_error)?;
                (frame, Some(Conformer::new(stream)), Vec::new())
            }
        };
        let plan = frame.create_physical_plan().await.map_err(scan_error)?;
        let batches = execute_stream(plan.clone(), ctx.task_ctx()).map_err(scan_error)?;
        Ok(SortedSource {
            batches,
            plan,
            conformer,
            stream: input.stream.clone(),
            index,
            name: Arc::from(input.path.as_str()),
            schema: stream_schema(stream),
            early_rejections,
        })
    }

    /// The next sorted batch; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<SourceBatch>, BacktestError> {
        let Some(batch) = self.batches.next().await else {
            return Ok(None);
        };
        let batch = batch.map_err(|source| BacktestError::Scan {
            stream: self.stream.clone(),
            path: self.name.to_string(),
            source,
        })?;
        let mut rejected = std::mem::take(&mut self.early_rejections);
        let events =
            match &self.conformer {
                None => batch,
                Some(conformer) => {
                    let conformed =
                        conformer
                            .conform(&batch)
                            .map_err(|source| BacktestError::Convert {
                                path: self.name.to_string(),
                                source,
                            })?;
                    rejected.extend(conformed.rejected.into_iter().map(|rejection| {
                        SourcedRejection {
                            source: self.name.clone(),
                            rejection,
                            record: None,
                        }
                    }));
                    conformed.events
                }
            };
        Ok(Some(SourceBatch {
            task: 0,
            stream: self.index,
            events,
            rejected,
            origins: Origins::Offsets {
                source: self.name.clone(),
            },
            consumed: Vec::new(),
            received: None,
        }))
    }

    /// A batch of no events carrying `rejected`.
    pub fn empty_batch(&self, rejected: Vec<SourcedRejection>) -> SourceBatch {
        SourceBatch {
            task: 0,
            stream: self.index,
            events: RecordBatch::new_empty(self.schema.clone()),
            rejected,
            origins: Origins::Offsets {
                source: self.name.clone(),
            },
            consumed: Vec::new(),
            received: None,
        }
    }

    /// Rejections not handed out with a batch (all of them when nothing
    /// was in the time range).
    pub fn take_rejections(&mut self) -> Vec<SourcedRejection> {
        std::mem::take(&mut self.early_rejections)
    }

    /// Row-group pruning of the scan so far.
    pub fn stats(&self) -> ScanStats {
        let mut stats = ScanStats::default();
        add_pruning(self.plan.as_ref(), &mut stats);
        stats
    }
}

/// Sums the Parquet row-group pruning metrics of `plan` and its children.
fn add_pruning(plan: &dyn ExecutionPlan, stats: &mut ScanStats) {
    if let Some(metrics) = plan.metrics() {
        if let Some(MetricValue::PruningMetrics {
            pruning_metrics, ..
        }) = metrics.sum_by_name("row_groups_pruned_statistics")
        {
            stats.row_groups_pruned += pruning_metrics.pruned();
            stats.row_groups_total += pruning_metrics.pruned() + pruning_metrics.matched();
        }
    }
    for child in plan.children() {
        add_pruning(child.as_ref(), stats);
    }
}

/// The Arrow type of event times in flight.
fn millis_type() -> ArrowType {
    ArrowType::Timestamp(TimeUnit::Millisecond, None)
}

fn millis_literal(time: Millis) -> Expr {
    lit(ScalarValue::TimestampMillisecond(Some(time), None))
}

/// `time` within `range`; `None` when the range is unbounded. With
/// `keep_unknown`, rows without a time pass too, to be rejected with a
/// reason rather than dropped without one.
fn range_filter(time: Expr, range: &TimeRange, keep_unknown: bool) -> Option<Expr> {
    let from = range
        .from
        .map(|from| time.clone().gt_eq(millis_literal(from)));
    let to = range.to.map(|to| time.clone().lt(millis_literal(to)));
    let within = match (from, to) {
        (Some(from), Some(to)) => from.and(to),
        (Some(bound), None) | (None, Some(bound)) => bound,
        (None, None) => return None,
    };
    Some(if keep_unknown {
        within.or(time.is_null())
    } else {
        within
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_extension_or_its_name() {
        assert_eq!(Format::from_path("data/*.parquet"), Some(Format::Parquet));
        assert_eq!(
            Format::from_path("a.b/events.NDJSON"),
            Some(Format::JsonLines)
        );
        assert_eq!(Format::from_path("events.csv"), Some(Format::Csv));
        assert_eq!(Format::from_path("events"), None);
        assert_eq!(Format::from_name("jsonl"), Some(Format::JsonLines));
        assert_eq!(Format::from_name("avro"), None);
    }

    #[test]
    fn listing_keeps_to_the_paths_extension() {
        let input = |path: &str| HistoryInput {
            stream: "s".into(),
            path: path.into(),
            format: Format::Csv,
        };
        assert_eq!(input("data/*.csv").file_extension(), ".csv");
        assert_eq!(input("data/").file_extension(), "");
        assert_eq!(input("data.v2/*").file_extension(), "");
    }
}
