//! The progress line of a long backtest on stderr: events read, events per
//! second, the event time reached. Redrawn in place on a terminal, a line
//! per update otherwise (`--progress` into a log), a few times a second at
//! most so that it costs the run nothing.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use dsl::plan::Millis;

use crate::sink::json::rfc3339_millis;

/// Updates closer together than this are skipped.
const INTERVAL: Duration = Duration::from_millis(250);

pub struct ProgressLine {
    enabled: bool,
    terminal: bool,
    started: Instant,
    last_shown: Option<Instant>,
}

impl ProgressLine {
    /// Shown when stderr is a terminal or when `forced` (`--progress`).
    pub fn new(forced: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        ProgressLine {
            enabled: forced || terminal,
            terminal,
            started: Instant::now(),
            last_shown: None,
        }
    }

    /// Shows the progress if the last update is long enough ago.
    pub fn update(&mut self, events: u64, event_time: Option<Millis>) {
        let now = Instant::now();
        if !self.enabled || self.last_shown.is_some_and(|t| now - t < INTERVAL) {
            return;
        }
        self.last_shown = Some(now);
        self.show(events, event_time, now);
    }

    /// The last update, always shown (when enabled), and the end of the line.
    pub fn finish(&mut self, events: u64, event_time: Option<Millis>) {
        if self.enabled {
            self.show(events, event_time, Instant::now());
            if self.terminal {
                eprintln!();
            }
        }
    }

    fn show(&self, events: u64, event_time: Option<Millis>, now: Instant) {
        let text = line(events, now - self.started, event_time);
        let mut stderr = std::io::stderr().lock();
        // Progress is a courtesy: a closed stderr must not stop the run.
        let _ = if self.terminal {
            write!(stderr, "\r{text}\x1b[K")
        } else {
            writeln!(stderr, "{text}")
        };
        let _ = stderr.flush();
    }
}

/// `eddy: 120000 events, 48000 events/s, event time 2026-01-01T08:00:00.000Z`.
pub fn line(events: u64, elapsed: Duration, event_time: Option<Millis>) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        (events as f64 / seconds).round() as u64
    } else {
        0
    };
    let time = event_time.map_or_else(|| "-".to_string(), rfc3339_millis);
    format!("eddy: {events} events, {rate} events/s, event time {time}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_count_rate_and_time() {
        assert_eq!(
            line(1000, Duration::from_millis(500), Some(0)),
            "eddy: 1000 events, 2000 events/s, event time 1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            line(0, Duration::ZERO, None),
            "eddy: 0 events, 0 events/s, event time -"
        );
    }
}
