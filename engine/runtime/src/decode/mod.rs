//! JSON lines to Arrow: a chunk of lines becomes one `RecordBatch` in the
//! stream's in-flight schema (`operators::schema::stream_schema`), and every
//! line that cannot be decoded becomes a [`Rejection`] with its reason.
//!
//! Each line is checked with serde_json against the declared fields
//! ([`validate`]), because arrow-json coerces where eddy must reject
//! (`"12"` for an int, `1.5` truncated to an int). When every field is a
//! scalar, the same pass reads the values into Arrow builders ([`columns`]).
//! Otherwise (nested records) the valid lines are then decoded by
//! arrow-json in one go; should it still refuse the chunk, it is decoded
//! again line by line to isolate the offending lines.

mod columns;
pub mod members;
pub mod validate;

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, UInt64Array};
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::{ArrowError, SchemaRef};
use arrow_select::concat::concat_batches;
use dsl::plan::StreamPlan;
use operators::schema::{declared_schema, stream_schema};
use xxhash_rust::xxh3::xxh3_64;

use crate::reject::{RejectReason, Rejection};
use crate::source::Chunk;
use columns::ColumnBuilders;

/// Errors of decoding that are not about one bad line: these stop the run.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("stream `{stream}`: cannot build the JSON decoder: {source}")]
    Build {
        stream: String,
        #[source]
        source: ArrowError,
    },
    #[error("stream `{stream}`: cannot assemble a batch: {source}")]
    Assemble {
        stream: String,
        #[source]
        source: ArrowError,
    },
    #[error("stream `{stream}`: the JSON decoder returned {got} rows for {expected} lines")]
    RowCount {
        stream: String,
        expected: usize,
        got: usize,
    },
}

/// The result of decoding one chunk.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The accepted events in line order, in the stream's in-flight schema
    /// (declared fields, `__offset` = line number, `__hash` = xxh3-64 of the line).
    pub batch: RecordBatch,
    /// For each row of `batch`, the index of its line in the chunk.
    pub chunk_lines: Vec<usize>,
    /// The rejected lines (oversize ones included), in line order.
    pub rejects: Vec<Rejection>,
}

/// Decodes the JSON lines of one stream.
pub struct StreamDecoder {
    stream: StreamPlan,
    declared: SchemaRef,
    in_flight: SchemaRef,
    decoder: Decoder,
    /// Whether every field is a scalar, so one pass checks and reads a line.
    scalars_only: bool,
    /// The values of the line being read (reused).
    row: validate::Row,
}

impl StreamDecoder {
    pub fn new(stream: &StreamPlan) -> Result<Self, DecodeError> {
        let declared = declared_schema(stream);
        let decoder = build_decoder(stream, &declared)?;
        Ok(StreamDecoder {
            in_flight: stream_schema(stream),
            stream: stream.clone(),
            declared,
            decoder,
            scalars_only: ColumnBuilders::new(&stream.fields, 0).is_some(),
            row: validate::Row::default(),
        })
    }

    pub fn stream(&self) -> &StreamPlan {
        &self.stream
    }

    pub fn in_flight_schema(&self) -> &SchemaRef {
        &self.in_flight
    }

    pub fn decode(&mut self, chunk: &Chunk) -> Result<Decoded, DecodeError> {
        if self.scalars_only {
            return self.decode_in_one_pass(chunk);
        }
        let mut rejects = chunk.oversize.clone();
        let mut valid: Vec<usize> = Vec::with_capacity(chunk.lines.len());
        for index in 0..chunk.lines.len() {
            let line = chunk.line_bytes(index);
            match validate::check_line(line, &self.stream.fields, &self.stream.time_field) {
                Ok(()) => valid.push(index),
                Err(invalid) => rejects.push(rejection(chunk, index, invalid)),
            }
        }

        let input: std::borrow::Cow<'_, [u8]> = if valid.len() == chunk.lines.len() {
            chunk.data.as_slice().into()
        } else {
            let mut joined = Vec::with_capacity(chunk.data.len());
            for &index in &valid {
                joined.extend_from_slice(chunk.line_bytes(index));
                joined.push(b'\n');
            }
            joined.into()
        };
        let declared = match self.decode_bytes(&input) {
            Ok(batch) => batch,
            Err(_) => {
                // The checks above let through something arrow-json refuses:
                // find out which lines, one at a time.
                let (batch, kept, refused) = self.decode_line_by_line(chunk, &valid)?;
                valid = kept;
                rejects.extend(refused);
                batch
            }
        };
        if declared.num_rows() != valid.len() {
            return Err(DecodeError::RowCount {
                stream: self.stream.name.clone(),
                expected: valid.len(),
                got: declared.num_rows(),
            });
        }
        self.decoded(declared, chunk, valid, rejects)
    }

    /// Checks and reads each line in one serde_json pass.
    fn decode_in_one_pass(&mut self, chunk: &Chunk) -> Result<Decoded, DecodeError> {
        let assemble = |source| DecodeError::Assemble {
            stream: self.stream.name.clone(),
            source,
        };
        let mut builders = ColumnBuilders::new(&self.stream.fields, chunk.lines.len())
            .ok_or_else(|| assemble(ArrowError::NotYetImplemented("nested fields".into())))?;
        let mut rejects = chunk.oversize.clone();
        let mut valid: Vec<usize> = Vec::with_capacity(chunk.lines.len());
        for index in 0..chunk.lines.len() {
            let line = chunk.line_bytes(index);
            let (fields, time) = (&self.stream.fields, &self.stream.time_field);
            match validate::read_line(line, fields, time, &mut self.row) {
                Ok(()) => {
                    builders.append(&self.row);
                    valid.push(index);
                }
                Err(invalid) => rejects.push(rejection(chunk, index, invalid)),
            }
        }
        let declared = builders.finish(&self.declared).map_err(assemble)?;
        self.decoded(declared, chunk, valid, rejects)
    }

    /// Decodes newline-separated JSON objects into one batch of the declared schema.
    fn decode_bytes(&mut self, mut input: &[u8]) -> Result<RecordBatch, ArrowError> {
        let result = (|| {
            let mut batches = Vec::new();
            // Each round consumes bytes or flushes a full batch; a round that
            // does neither means the decoder is stuck, which is an error.
            while !input.is_empty() {
                let consumed = self.decoder.decode(input)?;
                input = &input[consumed..];
                let flushed = self.decoder.flush()?;
                let progressed = consumed > 0 || flushed.is_some();
                batches.extend(flushed);
                if !progressed {
                    return Err(ArrowError::JsonError(
                        "the JSON decoder made no progress".into(),
                    ));
                }
            }
            batches.extend(self.decoder.flush()?);
            concat_batches(&self.declared, &batches)
        })();
        if result.is_err() {
            // A decoder that failed may hold half a record: start afresh.
            if let Ok(fresh) = build_decoder(&self.stream, &self.declared) {
                self.decoder = fresh;
            }
        }
        result
    }

    /// The slow path: decodes each line alone.
    #[allow(clippy::type_complexity)]
    fn decode_line_by_line(
        &mut self,
        chunk: &Chunk,
        candidates: &[usize],
    ) -> Result<(RecordBatch, Vec<usize>, Vec<Rejection>), DecodeError> {
        let mut batches = Vec::with_capacity(candidates.len());
        let mut kept = Vec::with_capacity(candidates.len());
        let mut refused = Vec::new();
        let mut buffer = Vec::new();
        for &index in candidates {
            let line = chunk.line_bytes(index);
            buffer.clear();
            buffer.extend_from_slice(line);
            buffer.push(b'\n');
            match self.decode_bytes(&buffer) {
                Ok(batch) if batch.num_rows() == 1 => {
                    batches.push(batch);
                    kept.push(index);
                }
                Ok(batch) => refused.push(Rejection {
                    line: chunk.lines[index].0,
                    reason: RejectReason::MalformedJson,
                    detail: format!("expected one JSON object, found {}", batch.num_rows()),
                    raw: line.to_vec(),
                }),
                Err(error) => refused.push(Rejection {
                    line: chunk.lines[index].0,
                    reason: classify_arrow_error(&error),
                    detail: error.to_string(),
                    raw: line.to_vec(),
                }),
            }
        }
        let batch =
            concat_batches(&self.declared, &batches).map_err(|source| DecodeError::Assemble {
                stream: self.stream.name.clone(),
                source,
            })?;
        Ok((batch, kept, refused))
    }

    /// The result of a chunk: the accepted rows (`valid`, lines of `chunk`,
    /// decoded into `declared`) with their hidden columns, and the rejections.
    fn decoded(
        &self,
        declared: RecordBatch,
        chunk: &Chunk,
        valid: Vec<usize>,
        mut rejects: Vec<Rejection>,
    ) -> Result<Decoded, DecodeError> {
        let batch = self.with_hidden_columns(declared, chunk, &valid)?;
        rejects.sort_by_key(|r| r.line);
        Ok(Decoded {
            batch,
            chunk_lines: valid,
            rejects,
        })
    }

    /// Appends `__offset` (line number) and `__hash` (xxh3-64 of the line).
    fn with_hidden_columns(
        &self,
        declared: RecordBatch,
        chunk: &Chunk,
        rows: &[usize],
    ) -> Result<RecordBatch, DecodeError> {
        let offsets: Int64Array = rows
            .iter()
            .map(|&i| chunk.lines[i].0)
            .collect::<Vec<_>>()
            .into();
        let hashes: UInt64Array = rows
            .iter()
            .map(|&i| xxh3_64(chunk.line_bytes(i)))
            .collect::<Vec<_>>()
            .into();
        let mut columns: Vec<ArrayRef> = declared.columns().to_vec();
        columns.push(Arc::new(offsets));
        columns.push(Arc::new(hashes));
        RecordBatch::try_new(self.in_flight.clone(), columns).map_err(|source| {
            DecodeError::Assemble {
                stream: self.stream.name.clone(),
                source,
            }
        })
    }
}

/// The rejection of line `index` of `chunk`.
fn rejection(chunk: &Chunk, index: usize, invalid: validate::Invalid) -> Rejection {
    Rejection {
        line: chunk.lines[index].0,
        reason: invalid.reason,
        detail: invalid.detail,
        raw: chunk.line_bytes(index).to_vec(),
    }
}

fn build_decoder(stream: &StreamPlan, declared: &SchemaRef) -> Result<Decoder, DecodeError> {
    ReaderBuilder::new(declared.clone())
        .with_strict_mode(false)
        .with_batch_size(8192)
        .build_decoder()
        .map_err(|source| DecodeError::Build {
            stream: stream.name.clone(),
            source,
        })
}

/// Best-effort reason for a line arrow-json refused after our own checks passed.
fn classify_arrow_error(error: &ArrowError) -> RejectReason {
    let message = error.to_string();
    if message.contains("Timestamp") {
        RejectReason::BadTimestamp
    } else if message.contains("non-nullable") {
        RejectReason::MissingField
    } else {
        RejectReason::WrongType
    }
}
