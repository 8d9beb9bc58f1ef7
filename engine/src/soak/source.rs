//! A live input at a fixed rate: each generated line is decoded as a file's
//! would be, and handed to the driver when it is due, not before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::generator::LineGenerator;
use crate::decode::StreamDecoder;
use crate::driver::{RunError, Source, SourceEvent};
use crate::source::reader::decode_chunk;
use crate::source::Chunk;

/// The most lines in one batch: a driver that fell behind catches up in
/// batches of this size rather than one huge one.
const MAX_BATCH: u64 = 4096;

pub struct GeneratedSource {
    stream: usize,
    name: Arc<str>,
    decoder: StreamDecoder,
    generator: LineGenerator,
    /// Lines per second.
    rate: f64,
    started: Instant,
    ends: Instant,
    /// Lines made so far; the next one's number is this plus one.
    made: u64,
}

impl GeneratedSource {
    pub fn new(
        stream: usize,
        decoder: StreamDecoder,
        generator: LineGenerator,
        rate: f64,
        run_for: Duration,
    ) -> Self {
        let started = Instant::now();
        GeneratedSource {
            stream,
            name: Arc::from(format!("soak:{}", decoder.stream().name)),
            decoder,
            generator,
            rate,
            started,
            ends: started + run_for,
            made: 0,
        }
    }

    /// Lines due by now that are not made yet.
    fn due(&self) -> u64 {
        let due = (self.started.elapsed().as_secs_f64() * self.rate) as u64;
        due.saturating_sub(self.made).min(MAX_BATCH)
    }

    fn batch(&mut self, lines: u64) -> Result<SourceEvent, RunError> {
        let mut chunk = Chunk::default();
        for _ in 0..lines {
            self.made += 1;
            let (line, _) = self.generator.line();
            chunk.push_line(self.made as i64, line.as_bytes());
        }
        let batch = decode_chunk(self.stream, &self.name, &mut self.decoder, chunk)?;
        Ok(SourceEvent::Batch(Box::new(batch)))
    }
}

impl Source for GeneratedSource {
    fn stream(&self) -> Option<usize> {
        Some(self.stream)
    }

    fn next(&mut self) -> Result<SourceEvent, RunError> {
        loop {
            if Instant::now() >= self.ends {
                return Ok(SourceEvent::End);
            }
            let due = self.due();
            if due > 0 {
                return self.batch(due);
            }
            // The next line is due in 1/rate s; wait a little longer so
            // that batches are not single lines at high rates.
            let wait = Duration::from_secs_f64((1.0 / self.rate).max(0.005));
            std::thread::sleep(wait.min(self.ends.saturating_duration_since(Instant::now())));
        }
    }

    fn try_next(&mut self) -> Result<Option<SourceEvent>, RunError> {
        if Instant::now() >= self.ends {
            return Ok(Some(SourceEvent::End));
        }
        match self.due() {
            0 => Ok(None),
            due => self.batch(due).map(Some),
        }
    }
}
