//! The watermark of one input stream.
//!
//! By default a stream's clock runs on its own events: the watermark trails
//! the newest admitted event time by the stream's lateness. A source that
//! knows better (Kafka, with several partitions and idle ones) can drive it
//! instead with [`SourceProgress`]: then the watermark trails the progress
//! the source reports.
//!
//! The one place the wall clock enters: an event stamped further ahead of
//! it than the stream's `ahead` is refused as `future`, so that a single
//! event from a wrong clock or an attacker cannot move the watermark years
//! ahead and make every later event late.

use dsl::plan::Millis;
use serde::{Deserialize, Serialize};

/// How far a source has come, as the source sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceProgress {
    /// Every event still to come is at or after this time, up to the
    /// lateness (for Kafka: the minimum over the active partitions of the
    /// newest event time seen on each).
    At(Millis),
    /// Nothing can be said yet (a partition has no event yet).
    Unknown,
    /// No data is flowing: the stream does not hold time back until the
    /// source reports progress again.
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Mode {
    /// The watermark follows the newest admitted event.
    OwnEvents,
    /// The source reports progress.
    Driven(SourceProgress),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamClock {
    lateness: Millis,
    /// How far ahead of the wall clock an event may be.
    ahead: Millis,
    newest: Option<Millis>,
    mode: Mode,
    /// The last watermark reported by a driving source, kept through idleness.
    driven_watermark: Millis,
    finished: bool,
    /// Set by a source whose input has been quiet for a while (processing
    /// time, so not part of a snapshot): the stream stops holding time back.
    idle: bool,
}

impl StreamClock {
    pub fn new(lateness: Millis, ahead: Millis) -> Self {
        StreamClock {
            lateness: lateness.max(0),
            ahead: ahead.max(0),
            newest: None,
            mode: Mode::OwnEvents,
            driven_watermark: Millis::MIN,
            finished: false,
            idle: false,
        }
    }

    /// No event of this stream earlier than this will be accepted.
    /// `Millis::MIN` before the first event, `Millis::MAX` once finished.
    pub fn watermark(&self) -> Millis {
        if self.finished {
            return Millis::MAX;
        }
        match self.mode {
            Mode::OwnEvents => match self.newest {
                Some(newest) => newest.saturating_sub(self.lateness),
                None => Millis::MIN,
            },
            Mode::Driven(_) => self.driven_watermark,
        }
    }

    /// The watermark this stream holds the pipeline's time back to; `None`
    /// while its source is idle.
    pub fn holds_back(&self) -> Option<Millis> {
        if self.idle && !self.finished {
            return None;
        }
        match self.mode {
            Mode::Driven(SourceProgress::Idle) if !self.finished => None,
            _ => Some(self.watermark()),
        }
    }

    /// The newest event time admitted, if any: what this clock would report
    /// as the progress of a source driving another clock (see [`Self::drive`]).
    pub fn progress(&self) -> SourceProgress {
        self.newest
            .map_or(SourceProgress::Unknown, SourceProgress::At)
    }

    /// Admits an event arriving when the wall clock reads `now`: late if
    /// earlier than the watermark, future if more than the stream's `ahead`
    /// after `now`; otherwise it is noted and on time. A future event is not
    /// noted, so it cannot move the watermark.
    pub fn admit(&mut self, time: Millis, now: Millis) -> Admission {
        if time < self.watermark() {
            return Admission::Late;
        }
        if time > self.future_limit(now) {
            return Admission::Future;
        }
        self.newest = Some(self.newest.map_or(time, |n| n.max(time)));
        Admission::OnTime
    }

    /// The latest event time admitted when the wall clock reads `now`.
    pub fn future_limit(&self, now: Millis) -> Millis {
        now.saturating_add(self.ahead)
    }

    /// From now on the source's reports move the watermark (it never moves back).
    pub fn drive(&mut self, progress: SourceProgress) {
        if let SourceProgress::At(time) = progress {
            self.driven_watermark = self
                .driven_watermark
                .max(time.saturating_sub(self.lateness));
        }
        self.mode = Mode::Driven(progress);
    }

    /// The stream has ended: it no longer holds time back.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The source of this stream is quiet (`true`) or has data again: while
    /// idle, the stream does not hold the pipeline's time back.
    pub fn set_idle(&mut self, idle: bool) {
        self.idle = idle;
    }

    /// The state for a snapshot. The lateness is not part of it: it comes
    /// from the program the clock is rebuilt from.
    pub fn save(&self) -> StreamClockState {
        StreamClockState {
            newest: self.newest,
            mode: self.mode,
            driven_watermark: self.driven_watermark,
            finished: self.finished,
        }
    }

    /// Replaces the state with a saved one.
    pub fn load(&mut self, state: StreamClockState) {
        self.newest = state.newest;
        self.mode = state.mode;
        self.driven_watermark = state.driven_watermark;
        self.finished = state.finished;
        self.idle = false;
    }
}

/// What [`StreamClock::admit`] made of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    OnTime,
    /// Earlier than the stream's watermark.
    Late,
    /// Further ahead of the wall clock than the stream allows.
    Future,
}

/// A [`StreamClock`]'s state in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamClockState {
    newest: Option<Millis>,
    mode: Mode,
    driven_watermark: Millis,
    finished: bool,
}
