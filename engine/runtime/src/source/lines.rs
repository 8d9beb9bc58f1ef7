//! Splits a byte stream into numbered lines, a chunk at a time, without ever
//! buffering more than the line-size limit of one line.

use std::io::BufRead;
use std::ops::Range;

use super::SourceError;
use crate::reject::{RejectReason, Rejection};

/// The default limit on the size of one line (1 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// The default limit on the bytes of one chunk (16 MiB). Lines are counted
/// too (the batch size), but a count alone lets a chunk of wide lines grow to
/// batch size × line limit (8192 × 1 MiB); this keeps a chunk, and the
/// Arrow batch decoded from it, to about this size whatever the line width.
pub const DEFAULT_MAX_CHUNK_BYTES: usize = 16 << 20;

/// How much of an oversize line is kept for its dead-letter record.
pub const OVERSIZE_KEPT_BYTES: usize = 64 * 1024;

/// The UTF-8 byte-order mark, skipped at the start of an input.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Lines read in one go. `data` holds every accepted line followed by `\n`,
/// so that it can be handed to a JSON-lines decoder as it is.
#[derive(Debug, Default, Clone)]
pub struct Chunk {
    pub data: Vec<u8>,
    /// `(line number, byte range in data without the newline)`, in order.
    pub lines: Vec<(i64, Range<usize>)>,
    /// Lines over the size limit, already rejected with reason `oversize`.
    pub oversize: Vec<Rejection>,
}

impl Chunk {
    pub fn line_bytes(&self, index: usize) -> &[u8] {
        &self.data[self.lines[index].1.clone()]
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.oversize.is_empty()
    }

    /// Appends one record numbered `number` (a line number, or a message
    /// offset for sources that are not line based). The JSON decoder reads
    /// records separated by whitespace, so `bytes` may itself hold newlines.
    pub fn push_line(&mut self, number: i64, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.lines.push((number, start..self.data.len()));
        self.data.push(b'\n');
    }
}

/// The state of the line being read.
enum Current {
    /// Within the limit so far: the bytes are appended to the chunk's data,
    /// starting at this position.
    Normal { start: usize },
    /// Over the limit: only the first bytes are kept, the rest is skipped.
    Oversize { kept: Vec<u8>, total: usize },
}

/// Reads numbered (1-based) lines from `reader`. Blank lines are skipped but
/// counted, a trailing `\r` is dropped, and so is a UTF-8 byte-order mark
/// at the start of the input.
pub struct LineReader<R> {
    reader: R,
    name: String,
    max_line_bytes: usize,
    /// A chunk ends before the line that would take its data past this.
    max_chunk_bytes: usize,
    /// A line read but left out of the full chunk it would have overfilled:
    /// its number and bytes (with the newline), the start of the next chunk.
    carried: Option<(i64, Vec<u8>)>,
    /// The number of the line read next.
    next_number: i64,
    at_end: bool,
    /// Whether the last line read used up the reader's buffer: the next
    /// line may not have arrived yet.
    drained: bool,
    /// End a chunk early when the buffer is drained (see
    /// [`LineReader::hand_over_partial_chunks`]).
    hand_over_partial: bool,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R, name: impl Into<String>, max_line_bytes: usize) -> Self {
        LineReader {
            reader,
            name: name.into(),
            max_line_bytes: max_line_bytes.max(1),
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
            carried: None,
            next_number: 1,
            at_end: false,
            drained: false,
            hand_over_partial: false,
        }
    }

    /// For live input (stdin): a chunk also ends, with at least one line,
    /// when the lines read so far used up everything the reader had, instead
    /// of waiting for the next line, which may be a while. A pipe's reads
    /// return what is there, so under load chunks still fill up to what
    /// arrived; for a file this would only cut chunks at buffer refills.
    pub fn hand_over_partial_chunks(mut self, enabled: bool) -> Self {
        self.hand_over_partial = enabled;
        self
    }

    /// Bounds the data of a chunk to `bytes` (lines and their newlines;
    /// default [`DEFAULT_MAX_CHUNK_BYTES`]). A chunk always takes at least
    /// one line, so a single line longer than this is a chunk of its own.
    pub fn max_chunk_bytes(mut self, bytes: usize) -> Self {
        self.max_chunk_bytes = bytes.max(1);
        self
    }

    /// Up to `max_lines` lines (accepted or oversize) holding at most the
    /// chunk byte limit, or one line; `None` at the end of input.
    pub fn next_chunk(&mut self, max_lines: usize) -> Result<Option<Chunk>, SourceError> {
        let max_lines = max_lines.max(1);
        let mut chunk = Chunk::default();
        if let Some((number, bytes)) = self.carried.take() {
            chunk.lines.push((number, 0..bytes.len() - 1));
            chunk.data = bytes;
        }
        while !self.at_end
            && chunk.lines.len() + chunk.oversize.len() < max_lines
            && chunk.data.len() < self.max_chunk_bytes
        {
            let (data_before, lines_before) = (chunk.data.len(), chunk.lines.len());
            let had_lines = !chunk.is_empty();
            self.read_line_into(&mut chunk)?;
            if had_lines
                && chunk.lines.len() > lines_before
                && chunk.data.len() > self.max_chunk_bytes
            {
                // The line read overfills the chunk: it starts the next one.
                let bytes = chunk.data.split_off(data_before);
                if let Some((number, _)) = chunk.lines.pop() {
                    self.carried = Some((number, bytes));
                }
                break;
            }
            if self.hand_over_partial && self.drained && !chunk.is_empty() {
                break;
            }
        }
        Ok((!chunk.is_empty()).then_some(chunk))
    }

    /// Reads one line (or hits the end) and adds it to `chunk` unless blank.
    fn read_line_into(&mut self, chunk: &mut Chunk) -> Result<(), SourceError> {
        let number = self.next_number;
        let mut current = Current::Normal {
            start: chunk.data.len(),
        };
        // Each round consumes at least one byte or ends the line, so the loop
        // is bounded by the input size.
        loop {
            let buf = self.reader.fill_buf().map_err(|source| SourceError::Read {
                name: self.name.clone(),
                source,
            })?;
            if buf.is_empty() {
                self.at_end = true;
                break;
            }
            let (piece_len, found_newline) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            let piece = &buf[..piece_len];
            current = match current {
                Current::Normal { start } => {
                    if chunk.data.len() - start + piece.len() > self.max_line_bytes {
                        let mut kept = chunk.data.split_off(start);
                        let total = kept.len() + piece.len();
                        let room = OVERSIZE_KEPT_BYTES.saturating_sub(kept.len());
                        kept.extend_from_slice(&piece[..room.min(piece.len())]);
                        kept.truncate(OVERSIZE_KEPT_BYTES);
                        Current::Oversize { kept, total }
                    } else {
                        chunk.data.extend_from_slice(piece);
                        Current::Normal { start }
                    }
                }
                Current::Oversize { mut kept, total } => {
                    let room = OVERSIZE_KEPT_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&piece[..room.min(piece.len())]);
                    Current::Oversize {
                        kept,
                        total: total + piece.len(),
                    }
                }
            };
            let consumed = piece_len + usize::from(found_newline);
            self.drained = consumed == buf.len();
            self.reader.consume(consumed);
            if found_newline {
                break;
            }
        }
        self.next_number += 1;
        match current {
            Current::Normal { start } => {
                // Editors on Windows start UTF-8 files with a byte-order
                // mark, which is not JSON: drop it from the first line
                // (checked here, once the line is whole, since a pipe may
                // hand it over in pieces).
                if number == 1 && chunk.data[start..].starts_with(UTF8_BOM) {
                    chunk.data.drain(start..start + UTF8_BOM.len());
                }
                let mut end = chunk.data.len();
                if end > start && chunk.data[end - 1] == b'\r' {
                    end -= 1;
                }
                if chunk.data[start..end].iter().all(u8::is_ascii_whitespace) {
                    chunk.data.truncate(start);
                } else {
                    chunk.data.truncate(end);
                    chunk.data.push(b'\n');
                    chunk.lines.push((number, start..end));
                }
            }
            Current::Oversize { kept, total } => chunk.oversize.push(Rejection {
                line: number,
                reason: RejectReason::Oversize,
                detail: format!(
                    "line is {total} bytes, over the limit of {} bytes",
                    self.max_line_bytes
                ),
                raw: kept,
            }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;

    /// Hands out one piece per read, as a pipe does when a writer pauses.
    struct Pieces(Vec<&'static [u8]>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(piece);
            Ok(piece.len())
        }
    }

    fn chunk_sizes(partial: bool) -> Vec<usize> {
        let input = Pieces(vec![b"{\"a\":1}\n{\"a\":2}\n", b"{\"a\":3}\n"]);
        let mut reader =
            LineReader::new(BufReader::new(input), "-", 1024).hand_over_partial_chunks(partial);
        let mut sizes = Vec::new();
        while let Some(chunk) = reader.next_chunk(100).unwrap() {
            sizes.push(chunk.lines.len());
        }
        sizes
    }

    #[test]
    fn a_live_reader_hands_over_what_has_arrived() {
        assert_eq!(chunk_sizes(true), vec![2, 1]);
    }

    #[test]
    fn a_byte_order_mark_arriving_in_pieces_is_skipped() {
        // As stdin may hand it over: the mark split between two reads.
        let input = Pieces(vec![b"\xEF\xBB", b"\xBF{\"a\":1}\n\xEF\xBB\xBF{}\n"]);
        let mut reader = LineReader::new(BufReader::new(input), "-", 1024);
        let chunk = reader.next_chunk(100).unwrap().unwrap();
        assert_eq!(chunk.line_bytes(0), b"{\"a\":1}");
        // A mark further on is left for the decoder to reject.
        assert_eq!(chunk.line_bytes(1), b"\xEF\xBB\xBF{}");
    }

    #[test]
    fn chunks_of_wide_lines_stay_within_the_byte_limit() {
        // Lines of 1 to 600 bytes (fixed pattern), chunks of at most 1000
        // bytes: many lines fit a chunk by count, few by size.
        let lines: Vec<String> = (0..300)
            .map(|i| format!("{{\"i\":{i},\"p\":\"{}\"}}", "x".repeat((i * 37) % 590)))
            .collect();
        let text = lines.join("\n") + "\n";
        let mut reader =
            LineReader::new(std::io::Cursor::new(text), "t", 1024).max_chunk_bytes(1000);
        let mut seen = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = reader.next_chunk(10_000).unwrap() {
            chunks += 1;
            assert!(
                chunk.data.len() <= 1000,
                "chunk of {} bytes",
                chunk.data.len()
            );
            assert!(!chunk.lines.is_empty());
            for (index, (number, _)) in chunk.lines.iter().enumerate() {
                seen.push((*number, chunk.line_bytes(index).to_vec()));
            }
        }
        let expected: Vec<(i64, Vec<u8>)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as i64 + 1, l.clone().into_bytes()))
            .collect();
        assert_eq!(seen, expected, "every line once, in order");
        assert!(chunks > 50, "{chunks} chunks");
    }

    #[test]
    fn a_line_wider_than_the_chunk_limit_is_a_chunk_of_its_own() {
        let wide = format!("{{\"p\":\"{}\"}}", "x".repeat(500));
        let text = format!("{{}}\n{wide}\n{{}}\n");
        let mut reader =
            LineReader::new(std::io::Cursor::new(text), "t", 1024).max_chunk_bytes(100);
        let mut sizes = Vec::new();
        while let Some(chunk) = reader.next_chunk(10).unwrap() {
            sizes.push(chunk.lines.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        }
        assert_eq!(sizes, vec![vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn a_file_reader_fills_its_chunks() {
        assert_eq!(chunk_sizes(false), vec![3]);
    }
}
