//! Streaming latency: the data file is fed to `eddy run --input auth=-` at
//! a fixed rate, a few lines per write, while derived events are read from
//! its stdout as they come. A derived event's latency runs from the write
//! of the line that completed it (the last line of its evidence) to the
//! moment it is read.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::child::{expect_success, wait_with_usage, ChildUsage, MemoryWatch};
use super::BenchError;

/// How the input is paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Events per second.
    pub rate: u64,
    /// Lines per write; a write every `lines_per_write / rate` seconds.
    pub lines_per_write: usize,
}

/// What one streaming run measured.
#[derive(Debug)]
pub struct LatencyRun {
    pub events: u64,
    pub derived: u64,
    /// Nanoseconds from the completing line's write to the derived event's read.
    pub histogram: Histogram<u64>,
    /// Events per second actually written (the writer may fall behind).
    pub achieved_rate: f64,
    pub usage: ChildUsage,
}

/// The longest latency the histogram holds exactly (longer ones saturate).
const HISTOGRAM_MAX_NANOS: u64 = 3_600 * 1_000_000_000;

/// Runs `command` (an `eddy run` reading stdin and writing derived events to
/// stdout) with the lines of `data` written to it as `pace` says.
pub fn measure(
    label: &str,
    mut command: Command,
    data: &Path,
    pace: Pace,
    stderr_path: &Path,
) -> Result<LatencyRun, BenchError> {
    let text = std::fs::read(data).map_err(|e| BenchError::io("read", data, e))?;
    let writes = Writes::split(text, pace.lines_per_write.max(1));
    let stderr =
        std::fs::File::create(stderr_path).map_err(|e| BenchError::io("create", stderr_path, e))?;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(BenchError::Spawn)?;
    let memory = MemoryWatch::start(&child);
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(BenchError::Spawn(std::io::Error::other(
            "no pipes to the child",
        )));
    };

    let base = Instant::now();
    let writes = Arc::new(writes);
    let writer = {
        let writes = Arc::clone(&writes);
        thread::Builder::new()
            .name("eddy-bench-feed".into())
            .spawn(move || feed(stdin, &writes, pace, base))
            .map_err(BenchError::Spawn)?
    };

    let mut histogram = Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_NANOS, 3)?;
    let mut derived = 0u64;
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| BenchError::io("read the output of", Path::new(label), e))?;
        if read == 0 {
            break;
        }
        let received = base.elapsed().as_nanos() as u64;
        let completing = completing_line(&line)?;
        let sent = writes.sent_at(completing);
        histogram.saturating_record(received.saturating_sub(sent).max(1));
        derived += 1;
    }
    let span = writer.join().map_err(|_| BenchError::FeedLost)??;
    let usage = wait_with_usage(&child, memory).map_err(BenchError::Wait)?;
    expect_success(label, usage, stderr_path)?;
    Ok(LatencyRun {
        events: writes.lines,
        derived,
        histogram,
        achieved_rate: writes.lines as f64 / span.as_secs_f64().max(f64::MIN_POSITIVE),
        usage,
    })
}

/// The input cut into the pieces written at once, with when each was sent.
struct Writes {
    text: Vec<u8>,
    /// End offset in `text` of each write.
    ends: Vec<usize>,
    lines_per_write: usize,
    lines: u64,
    /// Per write: nanoseconds after the base instant, set just before the
    /// write (so a full pipe's wait counts as latency, as it would live).
    sent: Vec<AtomicU64>,
}

impl Writes {
    fn split(text: Vec<u8>, lines_per_write: usize) -> Self {
        let mut ends = Vec::new();
        let mut lines = 0u64;
        let mut in_write = 0;
        for (i, _) in text.iter().enumerate().filter(|(_, &b)| b == b'\n') {
            lines += 1;
            in_write += 1;
            if in_write == lines_per_write {
                ends.push(i + 1);
                in_write = 0;
            }
        }
        if ends.last().copied().unwrap_or(0) < text.len() {
            ends.push(text.len());
        }
        let sent = (0..ends.len()).map(|_| AtomicU64::new(0)).collect();
        Writes {
            text,
            ends,
            lines_per_write,
            lines,
            sent,
        }
    }

    /// When the write holding line `number` (1-based) was sent.
    fn sent_at(&self, number: u64) -> u64 {
        let write = (number.saturating_sub(1) / self.lines_per_write as u64) as usize;
        self.sent
            .get(write.min(self.sent.len().saturating_sub(1)))
            .map_or(0, |at| at.load(Ordering::Acquire))
    }
}

/// Writes every piece on schedule, then closes stdin (the end of input);
/// returns the time from the first write to the last.
fn feed(
    mut stdin: ChildStdin,
    writes: &Writes,
    pace: Pace,
    base: Instant,
) -> Result<Duration, BenchError> {
    let interval = pace.lines_per_write as f64 / pace.rate.max(1) as f64;
    let mut start = 0;
    let mut first = None;
    for (i, &end) in writes.ends.iter().enumerate() {
        // Each write has its own deadline from the start, so a late wake-up
        // is caught up rather than carried forward.
        let due = Duration::from_secs_f64(interval * i as f64);
        let now = base.elapsed();
        if due > now {
            thread::sleep(due - now);
        }
        let at = base.elapsed();
        first.get_or_insert(at);
        writes.sent[i].store(at.as_nanos() as u64, Ordering::Release);
        stdin
            .write_all(&writes.text[start..end])
            .map_err(|e| BenchError::io("write to", Path::new("eddy run's stdin"), e))?;
        start = end;
    }
    drop(stdin);
    Ok(base.elapsed() - first.unwrap_or_default())
}

/// The line number of the last evidence event of a derived event (a
/// CloudEvent with `data.evidence[].offset`).
fn completing_line(line: &[u8]) -> Result<u64, BenchError> {
    let bad = |detail: &str| BenchError::BadOutput {
        detail: detail.to_string(),
        line: String::from_utf8_lossy(line).chars().take(200).collect(),
    };
    let event: serde_json::Value =
        serde_json::from_slice(line).map_err(|_| bad("not a JSON object"))?;
    event["data"]["evidence"]
        .as_array()
        .ok_or_else(|| bad("no data.evidence"))?
        .iter()
        .filter_map(|e| e["offset"].as_u64())
        .max()
        .ok_or_else(|| bad("no evidence offset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_event_is_completed_by_its_last_evidence_line() {
        let line = br#"{"data":{"evidence":[{"step":"f","offset":3},{"step":"t","offset":17}]}}"#;
        assert_eq!(completing_line(line).unwrap(), 17);
        assert!(completing_line(b"{\"data\":{}}").is_err());
    }

    #[test]
    fn lines_are_grouped_into_writes() {
        let writes = Writes::split(b"a\nb\nc\nd\ne\n".to_vec(), 2);
        assert_eq!(writes.ends, vec![4, 8, 10]);
        assert_eq!(writes.lines, 5);
        writes.sent[1].store(7, Ordering::Release);
        assert_eq!(writes.sent_at(3), 7);
        assert_eq!(writes.sent_at(4), 7);
    }
}
