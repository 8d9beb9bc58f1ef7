//! Rejected input lines, one JSON object per line:
//! `{"stream":…,"source":<path>,"line":N,"reason":…,"detail":…,"raw":…}`.
//! The file is created on the first rejection, so a clean run leaves none.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::SinkError;
use crate::reject::{RejectReason, Rejection};

/// How much of a rejected line is kept in its record.
pub const RAW_KEPT_BYTES: usize = 64 * 1024;

#[derive(Serialize)]
struct Record<'a> {
    stream: &'a str,
    source: &'a str,
    line: i64,
    reason: &'a str,
    detail: &'a str,
    raw: &'a str,
}

/// Appends the dead-letter record of `rejection` (and a newline) to `out`.
pub fn encode(stream: &str, source: &str, rejection: &Rejection, out: &mut Vec<u8>) {
    let raw_bytes = &rejection.raw[..rejection.raw.len().min(RAW_KEPT_BYTES)];
    let raw = String::from_utf8_lossy(raw_bytes);
    let record = Record {
        stream,
        source,
        line: rejection.line,
        reason: rejection.reason.as_str(),
        detail: &rejection.detail,
        raw: &raw,
    };
    // Serialising plain strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &record);
    out.push(b'\n');
}

/// Encoded records of one stream kept in memory up to this size, then
/// spilled to a part file next to the dead-letter file.
const SPOOL_BYTES: usize = 16 << 20;

/// The records of one stream, in the order they were written.
#[derive(Default)]
struct Spool {
    buffer: Vec<u8>,
    spill: Option<(PathBuf, BufWriter<File>)>,
}

/// The dead-letter file and the count of rejections per reason.
///
/// Records are grouped by stream (in the order the streams were given) and
/// keep their order within a stream, so the file does not depend on how the
/// inputs were interleaved or cut into chunks. They are spooled per stream
/// and the file is written by [`DeadLetterSink::finish`], only if something
/// was rejected.
pub struct DeadLetterSink {
    path: PathBuf,
    spool_bytes: usize,
    spools: Vec<Spool>,
    counts: BTreeMap<RejectReason, u64>,
}

impl DeadLetterSink {
    /// `streams`: how many streams records may come from.
    pub fn new(path: impl Into<PathBuf>, streams: usize) -> Self {
        DeadLetterSink {
            path: path.into(),
            spool_bytes: SPOOL_BYTES,
            spools: (0..streams).map(|_| Spool::default()).collect(),
            counts: BTreeMap::new(),
        }
    }

    /// Spills a stream's records to a part file once they reach `bytes`.
    pub fn with_spool_bytes(mut self, bytes: usize) -> Self {
        self.spool_bytes = bytes;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds the record of `rejection`, read from stream number `index`
    /// (named `stream`) of `source`.
    pub fn write(
        &mut self,
        index: usize,
        stream: &str,
        source: &str,
        rejection: &Rejection,
    ) -> Result<(), SinkError> {
        *self.counts.entry(rejection.reason).or_default() += 1;
        if index >= self.spools.len() {
            self.spools.resize_with(index + 1, Spool::default);
        }
        let spool = &mut self.spools[index];
        encode(stream, source, rejection, &mut spool.buffer);
        if spool.buffer.len() >= self.spool_bytes {
            if spool.spill.is_none() {
                let part = part_path(&self.path, index);
                let file = File::create(&part).map_err(|e| SinkError::open(&part, e))?;
                spool.spill = Some((part, BufWriter::new(file)));
            }
            if let Some((part, writer)) = spool.spill.as_mut() {
                writer
                    .write_all(&spool.buffer)
                    .map_err(|e| SinkError::write(part, e))?;
            }
            spool.buffer.clear();
        }
        Ok(())
    }

    /// Rejections so far, per reason, in a stable order.
    pub fn counts(&self) -> &BTreeMap<RejectReason, u64> {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Writes the dead-letter file (if anything was rejected) and removes
    /// the part files.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        if self.total() == 0 {
            return Ok(());
        }
        let file = File::create(&self.path).map_err(|e| SinkError::open(&self.path, e))?;
        let mut out = BufWriter::new(file);
        for spool in &mut self.spools {
            if let Some((part, mut writer)) = spool.spill.take() {
                writer.flush().map_err(|e| SinkError::write(&part, e))?;
                drop(writer);
                let mut reader = File::open(&part).map_err(|e| SinkError::open(&part, e))?;
                std::io::copy(&mut reader, &mut out)
                    .map_err(|e| SinkError::write(&self.path, e))?;
                // A leftover part file is untidy, not wrong.
                let _ = std::fs::remove_file(&part);
            }
            out.write_all(&spool.buffer)
                .map_err(|e| SinkError::write(&self.path, e))?;
            spool.buffer.clear();
        }
        out.flush().map_err(|e| SinkError::write(&self.path, e))
    }
}

fn part_path(path: &Path, index: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".part{index}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_names_stream_source_line_and_reason() {
        let rejection = Rejection {
            line: 7,
            reason: RejectReason::Late,
            detail: "too late".into(),
            raw: br#"{"ts":1}"#.to_vec(),
        };
        let mut out = Vec::new();
        encode("auth", "data/auth.jsonl", &rejection, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"stream\":\"auth\",\"source\":\"data/auth.jsonl\",\"line\":7,\"reason\":\"late\",\"detail\":\"too late\",\"raw\":\"{\\\"ts\\\":1}\"}\n"
        );
    }

    #[test]
    fn raw_lines_are_cut_to_64_kib() {
        let rejection = Rejection {
            line: 1,
            reason: RejectReason::Oversize,
            detail: String::new(),
            raw: vec![b'x'; RAW_KEPT_BYTES + 10],
        };
        let mut out = Vec::new();
        encode("s", "-", &rejection, &mut out);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["raw"].as_str().unwrap().len(), RAW_KEPT_BYTES);
    }

    #[test]
    fn records_are_grouped_by_stream_in_order_and_spilled_parts_are_joined() {
        let dir = std::env::temp_dir().join(format!("eddy-dead-letter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dl.jsonl");
        let mut sink = DeadLetterSink::new(&path, 2).with_spool_bytes(150);
        let rejection = |line| Rejection {
            line,
            reason: RejectReason::MalformedJson,
            detail: "bad".into(),
            raw: b"{".to_vec(),
        };
        for line in 1..=5 {
            sink.write(1, "b", "b.jsonl", &rejection(line)).unwrap();
            sink.write(0, "a", "a.jsonl", &rejection(line * 10))
                .unwrap();
        }
        assert!(!path.exists(), "written at the end only");
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let order: Vec<(String, i64)> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["stream"].as_str().unwrap().to_string(),
                    v["line"].as_i64().unwrap(),
                )
            })
            .collect();
        let expected: Vec<(String, i64)> = (1..=5)
            .map(|l| ("a".to_string(), l * 10))
            .chain((1..=5).map(|l| ("b".to_string(), l)))
            .collect();
        assert_eq!(order, expected);
        assert_eq!(sink.counts()[&RejectReason::MalformedJson], 10);
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "part files are removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_rejected_writes_no_file() {
        let path = std::env::temp_dir().join(format!(
            "eddy-dead-letter-none-{}.jsonl",
            std::process::id()
        ));
        let mut sink = DeadLetterSink::new(&path, 1);
        sink.finish().unwrap();
        assert!(!path.exists());
    }
}
