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

/// The dead-letter file and the count of rejections per reason.
pub struct DeadLetterSink {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    counts: BTreeMap<RejectReason, u64>,
    buffer: Vec<u8>,
}

impl DeadLetterSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeadLetterSink {
            path: path.into(),
            writer: None,
            counts: BTreeMap::new(),
            buffer: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, stream: &str, source: &str, rejection: &Rejection) -> Result<(), SinkError> {
        *self.counts.entry(rejection.reason).or_default() += 1;
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(|e| SinkError::open(&self.path, e))?;
            self.writer = Some(BufWriter::new(file));
        }
        self.buffer.clear();
        encode(stream, source, rejection, &mut self.buffer);
        if let Some(writer) = self.writer.as_mut() {
            writer
                .write_all(&self.buffer)
                .map_err(|e| SinkError::write(&self.path, e))?;
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

    pub fn flush(&mut self) -> Result<(), SinkError> {
        if let Some(writer) = self.writer.as_mut() {
            writer.flush().map_err(|e| SinkError::write(&self.path, e))?;
        }
        Ok(())
    }
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
}
