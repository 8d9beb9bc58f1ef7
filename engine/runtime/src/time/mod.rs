//! Event time: per-stream watermarks with late-event detection, and the
//! reorder buffer that releases events in one global event-time order.
//!
//! A stream's watermark is the newest event time seen minus the stream's
//! lateness. An event earlier than its stream's watermark when it arrives is
//! late. The global watermark is the minimum over the input streams (a
//! finished stream counts as the end of time); events earlier than it are
//! released, in (time, stream declaration index, offset) order. An event
//! further ahead of the wall clock than its stream's `ahead` is refused as
//! future and moves nothing.

pub mod admission;
pub mod clock;
pub mod reorder;

pub use admission::{Untimely, UntimelyEvent};
pub use clock::{Admission, SourceProgress, StreamClock, StreamClockState};
pub use reorder::{ReorderBuffer, ReorderState, Run};
