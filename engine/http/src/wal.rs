//! The write-ahead log of one HTTP stream: what was answered `202` is here,
//! synced, until a checkpoint covers it.
//!
//! Records are numbered from 0 for the life of the log (the number is the
//! stream's read position in checkpoints). They live in segment files named
//! by the number of their first record, `00000000000000000042.wal`; a
//! record is `length u32 | xxh3-64 of the payload u64 | payload`, little
//! endian. One writer thread appends: requests that arrive while it syncs
//! are written together and share the next sync (group commit), so the
//! cost of `fsync` is paid per batch of requests, not per request.
//!
//! [`WalWriter::truncate`] drops the segments a checkpoint covers wholly
//! (the current one is closed first if it is covered, so a quiet log
//! shrinks to one empty segment). After a crash, [`Wal::open`] cuts a torn
//! last record (written but not synced, so never acknowledged) and the
//! job's reader starts at the checkpoint's position.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Appends waiting for the writer at most; more are refused (`429`).
const QUEUED_APPENDS: usize = 256;
const HEADER_BYTES: usize = 4 + 8;
const SUFFIX: &str = ".wal";

const KIND_EVENT: u8 = 0;
const KIND_REFUSED: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write-ahead log {path} is corrupt at byte {offset} (not at its end, so not a torn write): {problem}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        problem: String,
    },
    #[error("the write-ahead log's writer has stopped")]
    Stopped,
    #[error("the write-ahead log has {0} appends waiting already")]
    Busy(usize),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An event, as the stream decodes it (its JSON object).
    Event(Vec<u8>),
    /// Something the request held that is not an event of the stream (a
    /// CloudEvent without its required attributes, ...): it goes to the
    /// dead-letter output with `reason`, through the log like the events,
    /// so it is dead-lettered exactly once.
    Refused {
        reason: String,
        detail: String,
        raw: Vec<u8>,
    },
}

impl Record {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_BYTES]);
        match self {
            Record::Event(bytes) => {
                out.push(KIND_EVENT);
                out.extend_from_slice(bytes);
            }
            Record::Refused {
                reason,
                detail,
                raw,
            } => {
                out.push(KIND_REFUSED);
                for part in [reason.as_bytes(), detail.as_bytes()] {
                    out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                    out.extend_from_slice(part);
                }
                out.extend_from_slice(raw);
            }
        }
        let payload = start + HEADER_BYTES;
        let length = (out.len() - payload) as u32;
        let checksum = xxhash_rust::xxh3::xxh3_64(&out[payload..]);
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
        out[start + 4..payload].copy_from_slice(&checksum.to_le_bytes());
    }

    fn decode(payload: &[u8]) -> Option<Record> {
        let (&kind, rest) = payload.split_first()?;
        match kind {
            KIND_EVENT => Some(Record::Event(rest.to_vec())),
            KIND_REFUSED => {
                let (reason, rest) = length_prefixed(rest)?;
                let (detail, raw) = length_prefixed(rest)?;
                Some(Record::Refused {
                    reason: String::from_utf8_lossy(reason).into_owned(),
                    detail: String::from_utf8_lossy(detail).into_owned(),
                    raw: raw.to_vec(),
                })
            }
            _ => None,
        }
    }
}

fn length_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let length = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let rest = &bytes[4..];
    Some((rest.get(..length)?, &rest[length..]))
}

/// What the writer and the readers of one log share.
struct Shared {
    dir: PathBuf,
    /// Records `0..durable` are synced.
    durable: AtomicU64,
    /// Records before this were handed to the job: with `durable`, the
    /// backlog that backpressure bounds.
    read: AtomicU64,
    /// Wakes a reader waiting for records.
    appended: (Mutex<()>, Condvar),
}

/// A log, opened.
pub struct Wal {
    shared: Arc<Shared>,
}

enum Op {
    Append(Vec<Record>, oneshot::Sender<Result<Range<u64>, WalError>>),
    Truncate(u64),
}

/// Appends to the log (from any task): a handle on its writer thread.
#[derive(Clone)]
pub struct WalWriter {
    ops: mpsc::Sender<Op>,
    shared: Arc<Shared>,
}

impl Wal {
    /// Opens (or creates) the log in `dir` and starts its writer thread. A
    /// torn record at the end of the last segment is cut off.
    pub fn open(dir: &Path) -> Result<(Wal, WalWriter), WalError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut segments = segments(dir)?;
        let (first, path) = match segments.pop_last() {
            Some(last) => last,
            None => {
                let path = segment_path(dir, 0);
                File::create(&path).map_err(io_error(&path))?;
                (0, path)
            }
        };
        let (count, end) = scan(&path, true)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.set_len(end).map_err(io_error(&path))?;
        let next = first + count;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            durable: AtomicU64::new(next),
            read: AtomicU64::new(next),
            appended: (Mutex::new(()), Condvar::new()),
        });
        let (ops, received) = mpsc::channel(QUEUED_APPENDS);
        let writer = Writer {
            shared: shared.clone(),
            current: Segment {
                first,
                path,
                file,
                bytes: end,
            },
            next,
        };
        std::thread::Builder::new()
            .name("eddy-wal".into())
            .spawn(move || writer.run(received))
            .map_err(io_error(dir))?;
        Ok((
            Wal {
                shared: shared.clone(),
            },
            WalWriter { ops, shared },
        ))
    }

    /// A reader from record `position` (a checkpoint's), or from the oldest
    /// record kept if the log no longer holds it.
    pub fn reader(&self, position: u64) -> Result<WalReader, WalError> {
        let oldest = segments(&self.shared.dir)?
            .keys()
            .next()
            .copied()
            .unwrap_or(0);
        let start = if position < oldest {
            tracing::warn!(
                "write-ahead log {}: record {position} is gone, reading from {oldest}",
                self.shared.dir.display()
            );
            oldest
        } else {
            position
        };
        self.shared.read.store(start, Ordering::Release);
        let mut reader = WalReader {
            shared: self.shared.clone(),
            file: None,
            next: start,
        };
        reader.seek(start)?;
        Ok(reader)
    }

    /// The number the next record appended will have.
    pub fn end(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }
}

impl WalWriter {
    /// Appends `records` and syncs them: their numbers once they are durable.
    pub async fn append(&self, records: Vec<Record>) -> Result<Range<u64>, WalError> {
        let (done, durable) = oneshot::channel();
        self.ops
            .try_send(Op::Append(records, done))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => WalError::Busy(QUEUED_APPENDS),
                mpsc::error::TrySendError::Closed(_) => WalError::Stopped,
            })?;
        durable.await.map_err(|_| WalError::Stopped)?
    }

    /// Records before `position` are covered by a checkpoint: the segments
    /// that hold only those are deleted.
    pub fn truncate(&self, position: u64) {
        // Best effort: a truncation missed now is done by the next one.
        let _ = self.ops.try_send(Op::Truncate(position));
    }

    /// Records appended but not yet handed to the job.
    pub fn backlog(&self) -> u64 {
        self.shared
            .durable
            .load(Ordering::Acquire)
            .saturating_sub(self.shared.read.load(Ordering::Acquire))
    }
}

/// An append waiting for its sync, and where its answer goes.
type Waiting = (Vec<Record>, oneshot::Sender<Result<Range<u64>, WalError>>);

fn count(waiting: &[Waiting]) -> u64 {
    waiting
        .iter()
        .map(|(records, _)| records.len() as u64)
        .sum()
}

struct Segment {
    first: u64,
    path: PathBuf,
    file: File,
    bytes: u64,
}

/// The writer thread's state.
struct Writer {
    shared: Arc<Shared>,
    current: Segment,
    next: u64,
}

impl Writer {
    fn run(mut self, mut ops: mpsc::Receiver<Op>) {
        let mut buffer = Vec::new();
        while let Some(op) = ops.blocking_recv() {
            // Group commit: everything queued meanwhile shares one sync, in
            // order (a truncation after appends sees them written).
            let mut queued = vec![op];
            while let Ok(op) = ops.try_recv() {
                queued.push(op);
            }
            let mut waiting = Vec::new();
            for op in queued {
                match op {
                    Op::Append(records, done) => waiting.push((records, done)),
                    Op::Truncate(position) => {
                        self.commit(std::mem::take(&mut waiting), &mut buffer);
                        if let Err(error) = self.truncate(position) {
                            tracing::warn!("{error}");
                        }
                    }
                }
            }
            self.commit(waiting, &mut buffer);
        }
    }

    /// Writes and syncs the records of `waiting`, then answers each.
    fn commit(&mut self, waiting: Vec<Waiting>, buffer: &mut Vec<u8>) {
        if waiting.is_empty() {
            return;
        }
        let result = self.write(&waiting, buffer);
        let mut start = self.next - if result.is_ok() { count(&waiting) } else { 0 };
        for (records, done) in waiting {
            let end = start + records.len() as u64;
            let _ = done.send(match &result {
                Ok(()) => Ok(start..end),
                Err(error) => Err(WalError::Io {
                    path: self.current.path.clone(),
                    source: std::io::Error::new(error.kind(), error.to_string()),
                }),
            });
            start = end;
        }
    }

    fn write(&mut self, waiting: &[Waiting], buffer: &mut Vec<u8>) -> std::io::Result<()> {
        if self.current.bytes >= SEGMENT_BYTES {
            self.roll()?;
        }
        buffer.clear();
        for (records, _) in waiting {
            for record in records {
                record.encode(buffer);
            }
        }
        let written = self
            .current
            .file
            .write_all(buffer)
            .and_then(|()| self.current.file.sync_data());
        if let Err(error) = written {
            // Nothing of this batch was acknowledged: cut it off again, so
            // the numbers of later records stay right.
            let _ = self.current.file.set_len(self.current.bytes);
            return Err(error);
        }
        self.current.bytes += buffer.len() as u64;
        self.next += count(waiting);
        self.shared.durable.store(self.next, Ordering::Release);
        let (lock, appended) = &self.shared.appended;
        let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
        appended.notify_all();
        Ok(())
    }

    /// Closes the current segment and starts the next at `self.next`.
    fn roll(&mut self) -> std::io::Result<()> {
        let path = segment_path(&self.shared.dir, self.next);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        // The new name must survive a crash before anything is acknowledged
        // in it.
        File::open(&self.shared.dir)?.sync_all()?;
        self.current = Segment {
            first: self.next,
            path,
            file,
            bytes: 0,
        };
        Ok(())
    }

    fn truncate(&mut self, position: u64) -> Result<(), WalError> {
        if self.current.bytes > 0 && self.next <= position {
            self.roll().map_err(io_error(&self.shared.dir))?;
        }
        let segments = segments(&self.shared.dir)?;
        let firsts: Vec<u64> = segments.keys().copied().collect();
        for (index, (first, path)) in segments.iter().enumerate() {
            let covered = firsts.get(index + 1).is_some_and(|&next| next <= position);
            if covered && *first != self.current.first {
                fs::remove_file(path).map_err(io_error(path))?;
            }
        }
        Ok(())
    }
}

/// Reads the log in order, from a position on (on the job's thread).
pub struct WalReader {
    shared: Arc<Shared>,
    file: Option<BufReader<File>>,
    /// The number of the next record to read.
    next: u64,
}

impl WalReader {
    /// The number of the next record to read.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Up to `max` records, waiting up to `wait` for the first: each with
    /// its number. Empty if none came within `wait`.
    pub fn read(&mut self, max: usize, wait: Duration) -> Result<Vec<(u64, Record)>, WalError> {
        if self.shared.durable.load(Ordering::Acquire) <= self.next {
            let (lock, appended) = &self.shared.appended;
            let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = appended
                .wait_timeout_while(guard, wait, |_| {
                    self.shared.durable.load(Ordering::Acquire) <= self.next
                })
                .unwrap_or_else(PoisonError::into_inner);
        }
        let durable = self.shared.durable.load(Ordering::Acquire);
        let mut records = Vec::new();
        while self.next < durable && records.len() < max {
            let record = match self.read_one()? {
                Some(record) => record,
                None => {
                    // The end of a segment: the next one starts here.
                    self.seek(self.next)?;
                    self.read_one()?
                        .ok_or_else(|| self.corrupt("missing record"))?
                }
            };
            records.push((self.next, record));
            self.next += 1;
        }
        self.shared.read.store(self.next, Ordering::Release);
        Ok(records)
    }

    /// Opens the segment holding record `position` and skips to it.
    fn seek(&mut self, position: u64) -> Result<(), WalError> {
        let segments = segments(&self.shared.dir)?;
        let Some((&first, path)) = segments.range(..=position).next_back() else {
            self.file = None;
            return Ok(());
        };
        let file = File::open(path).map_err(io_error(path))?;
        self.file = Some(BufReader::with_capacity(1 << 16, file));
        self.next = first;
        while self.next < position {
            self.read_one()?
                .ok_or_else(|| self.corrupt("fewer records than its name says"))?;
            self.next += 1;
        }
        Ok(())
    }

    /// The next record of the open segment; `None` at its end.
    fn read_one(&mut self) -> Result<Option<Record>, WalError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let path = segment_path(&self.shared.dir, self.next);
        match read_record(file).map_err(io_error(&path))? {
            Framed::End => Ok(None),
            Framed::Record(payload) => Record::decode(&payload)
                .map(Some)
                .ok_or_else(|| self.corrupt("unknown record kind")),
            Framed::Torn | Framed::BadChecksum => {
                Err(self.corrupt("a synced record fails its checksum"))
            }
        }
    }

    fn corrupt(&self, problem: &str) -> WalError {
        WalError::Corrupt {
            path: self.shared.dir.clone(),
            offset: self.next,
            problem: problem.to_string(),
        }
    }
}

enum Framed {
    Record(Vec<u8>),
    End,
    /// Fewer bytes than the header or the length says: a write cut short.
    Torn,
    BadChecksum,
}

fn read_record(reader: &mut impl Read) -> std::io::Result<Framed> {
    let mut header = [0u8; HEADER_BYTES];
    match read_full(reader, &mut header)? {
        0 => return Ok(Framed::End),
        n if n < HEADER_BYTES => return Ok(Framed::Torn),
        _ => {}
    }
    let length = u32::from_le_bytes(header[..4].try_into().unwrap_or_default()) as usize;
    let checksum = u64::from_le_bytes(header[4..].try_into().unwrap_or_default());
    let mut payload = vec![0; length];
    if read_full(reader, &mut payload)? < length {
        return Ok(Framed::Torn);
    }
    if xxhash_rust::xxh3::xxh3_64(&payload) != checksum {
        return Ok(Framed::BadChecksum);
    }
    Ok(Framed::Record(payload))
}

/// Reads until `buffer` is full or the input ends: the bytes read.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The records of segment `path` and where the last whole one ends. With
/// `last`, a torn or failing record ends the segment (a write the crash cut
/// short, never acknowledged); elsewhere it is corruption.
fn scan(path: &Path, last: bool) -> Result<(u64, u64), WalError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut reader = BufReader::new(file);
    let (mut count, mut end) = (0u64, 0u64);
    loop {
        match read_record(&mut reader).map_err(io_error(path))? {
            Framed::End => return Ok((count, end)),
            Framed::Record(payload) => {
                count += 1;
                end += (HEADER_BYTES + payload.len()) as u64;
            }
            Framed::Torn | Framed::BadChecksum if last => {
                tracing::warn!(
                    "write-ahead log {}: cut a torn record at byte {end} (never acknowledged)",
                    path.display()
                );
                return Ok((count, end));
            }
            Framed::Torn | Framed::BadChecksum => {
                return Err(WalError::Corrupt {
                    path: path.to_path_buf(),
                    offset: end,
                    problem: "a record fails its checksum".into(),
                })
            }
        }
    }
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}{SUFFIX}"))
}

/// The segments in `dir`, by the number of their first record.
fn segments(dir: &Path) -> Result<BTreeMap<u64, PathBuf>, WalError> {
    let mut segments = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse().ok());
        if let Some(first) = first {
            segments.insert(first, path);
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> Record {
        Record::Event(text.as_bytes().to_vec())
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    }

    fn read_all(reader: &mut WalReader) -> Vec<(u64, Record)> {
        reader.read(1000, Duration::from_millis(10)).expect("read")
    }

    #[test]
    fn records_come_back_in_order_with_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, writer) = Wal::open(dir.path()).unwrap();
        let refused = Record::Refused {
            reason: "bad_envelope".into(),
            detail: "no `ce-type`".into(),
            raw: b"{}".to_vec(),
        };
        let rt = runtime();
        assert_eq!(
            rt.block_on(writer.append(vec![event("a"), event("b")]))
                .unwrap(),
            0..2
        );
        assert_eq!(
            rt.block_on(writer.append(vec![refused.clone()])).unwrap(),
            2..3
        );
        let mut reader = wal.reader(1).unwrap();
        assert_eq!(read_all(&mut reader), vec![(1, event("b")), (2, refused)]);
        assert_eq!(writer.backlog(), 0);
    }

    #[test]
    fn a_reopened_log_goes_on_numbering_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (_wal, writer) = Wal::open(dir.path()).unwrap();
            runtime()
                .block_on(writer.append(vec![event("a"), event("b")]))
                .unwrap();
        }
        // A write the crash cut short: a header promising more bytes.
        let path = segment_path(dir.path(), 0);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        let (wal, writer) = Wal::open(dir.path()).unwrap();
        assert_eq!(wal.end(), 2);
        assert_eq!(
            runtime().block_on(writer.append(vec![event("c")])).unwrap(),
            2..3
        );
        let mut reader = wal.reader(0).unwrap();
        let numbers: Vec<u64> = read_all(&mut reader).iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [0, 1, 2]);
    }

    #[test]
    fn truncation_keeps_what_is_not_covered() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, writer) = Wal::open(dir.path()).unwrap();
        let rt = runtime();
        rt.block_on(writer.append(vec![event("a"), event("b")]))
            .unwrap();
        // Covers both: the segment is closed and deleted.
        writer.truncate(2);
        rt.block_on(writer.append(vec![event("c")])).unwrap();
        rt.block_on(writer.append(vec![event("d")])).unwrap();
        // Covers `c` only: its segment also holds `d`, so it stays.
        writer.truncate(3);
        rt.block_on(writer.append(vec![event("e")])).unwrap();
        let names: Vec<u64> = segments(dir.path()).unwrap().keys().copied().collect();
        assert_eq!(names, [2]);
        let mut reader = wal.reader(3).unwrap();
        assert_eq!(
            read_all(&mut reader),
            vec![(3, event("d")), (4, event("e"))]
        );
        drop(writer);
        let (wal, _writer) = Wal::open(dir.path()).unwrap();
        assert_eq!(wal.end(), 5, "numbering survives truncation");
    }

    #[test]
    fn a_reader_crosses_segments_and_waits_for_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, writer) = Wal::open(dir.path()).unwrap();
        let rt = runtime();
        let mut reader = wal.reader(0).unwrap();
        assert!(read_all(&mut reader).is_empty());
        rt.block_on(writer.append(vec![event("a")])).unwrap();
        writer.truncate(0);
        rt.block_on(writer.append(vec![event("b")])).unwrap();
        writer.truncate(2);
        rt.block_on(writer.append(vec![event("c")])).unwrap();
        assert_eq!(writer.backlog(), 3);
        let read = read_all(&mut reader);
        assert_eq!(read.len(), 3, "{read:?}");
        assert_eq!(read[2], (2, event("c")));
    }
}
