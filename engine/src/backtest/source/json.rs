//! JSON-lines history: DataFusion lists the files (a glob), eddy's line
//! reader and decoder read them as `eddy run` does, and DataFusion filters
//! the decoded events to the time range and sorts them.
//!
//! Decoding with eddy's own decoder keeps the two commands in agreement:
//! the same lines are rejected for the same reasons, and an event's offset
//! (its line) and hash (of its raw line) are the same, so are the ids of the
//! derived events. DataFusion's JSON reader would fail the whole scan on one
//! malformed line.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{ident, SessionContext};
use dsl::plan::StreamPlan;
use futures::TryStreamExt;
use operators::schema::{stream_schema, OFFSET_COLUMN};

use super::{range_filter, ReadOptions};
use crate::backtest::time_range::TimeRange;
use crate::backtest::BacktestError;
use crate::decode::StreamDecoder;
use crate::reject::SourcedRejection;
use crate::runner::RunError;
use crate::source::{InputLocation, LineReader};

/// The files `path` (a file, a folder or a glob) names, in path order.
/// A plain file keeps its path as given, which dead-letter records show,
/// as `eddy run`'s do.
pub(super) async fn list_files(
    ctx: &SessionContext,
    path: &str,
    extension: &str,
) -> Result<Vec<PathBuf>, DataFusionError> {
    if std::path::Path::new(path).is_file() {
        return Ok(vec![PathBuf::from(path)]);
    }
    let url = ListingTableUrl::parse(path)?;
    let state = ctx.state();
    let store = state.runtime_env().object_store(&url)?;
    let mut files: Vec<String> = url
        .list_all_files(&state, store.as_ref(), extension)
        .await?
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await?;
    files.sort();
    // Local object-store paths are absolute paths without the leading `/`.
    Ok(files
        .into_iter()
        .map(|location| PathBuf::from(format!("/{location}")))
        .collect())
}

/// Every decoded event of the files, and their rejected lines.
pub(super) struct Decoded {
    pub batches: Vec<RecordBatch>,
    pub rejected: Vec<SourcedRejection>,
}

/// Reads and decodes `files` one after the other. Offsets go on counting
/// across files (the second file's first line follows the first file's
/// last), so that every event of the input has its own; rejected lines keep
/// their file's own line number, next to that file's name.
pub(super) fn decode_files(
    stream: &StreamPlan,
    files: &[PathBuf],
    options: &ReadOptions,
) -> Result<Decoded, BacktestError> {
    let mut decoder = StreamDecoder::new(stream).map_err(RunError::from)?;
    let mut decoded = Decoded {
        batches: Vec::new(),
        rejected: Vec::new(),
    };
    let mut lines_before: i64 = 0;
    for file in files {
        let location = InputLocation::File(file.clone());
        let name = location.display_name();
        let mut reader = LineReader::new(
            location.open().map_err(RunError::from)?,
            name.clone(),
            options.max_line_bytes,
        );
        let mut last_line = 0;
        // Each round consumes a chunk of the finite file.
        while let Some(chunk) = reader
            .next_chunk(options.batch_size)
            .map_err(RunError::from)?
        {
            let numbers = chunk.lines.iter().map(|(n, _)| *n);
            let oversize = chunk.oversize.iter().map(|r| r.line);
            last_line = numbers.chain(oversize).fold(last_line, i64::max);
            let batch = decoder.decode(&chunk).map_err(RunError::from)?;
            decoded
                .rejected
                // A rejection names its own file and line in it, as `eddy
                // run` names them; only offsets count across files.
                .extend(batch.rejects.into_iter().map(|rejection| SourcedRejection {
                    source: Arc::from(name.as_str()),
                    rejection,
                    record: None,
                }));
            if batch.batch.num_rows() > 0 {
                decoded
                    .batches
                    .push(shift_offsets(&batch.batch, lines_before, &name)?);
            }
        }
        lines_before += last_line;
    }
    Ok(decoded)
}

/// `batch` with `shift` added to its offsets.
fn shift_offsets(
    batch: &RecordBatch,
    shift: i64,
    file: &str,
) -> Result<RecordBatch, BacktestError> {
    if shift == 0 {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let index = schema
        .index_of(OFFSET_COLUMN)
        .map_err(|source| BacktestError::Convert {
            path: file.to_string(),
            source,
        })?;
    let shifted: Int64Array = batch
        .column(index)
        .as_primitive::<Int64Type>()
        .iter()
        .map(|offset| offset.map(|o| o + shift))
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = Arc::new(shifted);
    RecordBatch::try_new(schema, columns).map_err(|source| BacktestError::Convert {
        path: file.to_string(),
        source,
    })
}

/// The decoded events within `range`, sorted by (event time, offset).
pub(super) fn sorted_frame(
    ctx: &SessionContext,
    stream: &StreamPlan,
    batches: Vec<RecordBatch>,
    range: &TimeRange,
) -> Result<DataFrame, DataFusionError> {
    let table = MemTable::try_new(stream_schema(stream), vec![batches])?;
    let mut frame = ctx.read_table(Arc::new(table))?;
    if let Some(filter) = range_filter(ident(&stream.time_field), range, false) {
        frame = frame.filter(filter)?;
    }
    frame.sort(vec![
        ident(&stream.time_field).sort(true, true),
        ident(OFFSET_COLUMN).sort(true, false),
    ])
}
