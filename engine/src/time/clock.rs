//! The watermark of one input stream.

use dsl::plan::Millis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamClock {
    lateness: Millis,
    newest: Option<Millis>,
    finished: bool,
}

impl StreamClock {
    pub fn new(lateness: Millis) -> Self {
        StreamClock {
            lateness: lateness.max(0),
            newest: None,
            finished: false,
        }
    }

    /// No event of this stream earlier than this will be accepted.
    /// `Millis::MIN` before the first event, `Millis::MAX` once finished.
    pub fn watermark(&self) -> Millis {
        if self.finished {
            return Millis::MAX;
        }
        match self.newest {
            Some(newest) => newest.saturating_sub(self.lateness),
            None => Millis::MIN,
        }
    }

    /// Admits an event arriving now: `false` if it is late (earlier than the
    /// watermark), otherwise moves the watermark forward and returns `true`.
    pub fn admit(&mut self, time: Millis) -> bool {
        if time < self.watermark() {
            return false;
        }
        self.newest = Some(self.newest.map_or(time, |n| n.max(time)));
        true
    }

    /// The stream has ended: it no longer holds time back.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}
