//! The soak's input: JSON lines of the fraud pack's streams, made on the
//! fly with event times that follow the wall clock (sped up, ending at
//! now), over a bounded key space, with a share of hostile lines mixed in:
//! malformed, mistyped, incomplete and duplicate-key lines, events far in
//! the future and late ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dsl::plan::Millis;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Event time as the soak's sources stamp it: `origin` at the start, then
/// `speedup` times as fast as the wall clock, so that it reaches the wall
/// clock when the soak ends (never later: a `future` event is a flaw the
/// soak adds on purpose, not its normal input).
#[derive(Debug, Clone, Copy)]
pub struct EventClock {
    started: Instant,
    origin: Millis,
    speedup: f64,
}

impl EventClock {
    pub fn new(wall_now: Millis, run_for: std::time::Duration, speedup: f64) -> Self {
        let span = (run_for.as_millis() as f64 * speedup) as Millis;
        EventClock {
            started: Instant::now(),
            origin: wall_now - span,
            speedup,
        }
    }

    /// The event time of an event made now.
    pub fn now(&self) -> Millis {
        self.origin + (self.started.elapsed().as_millis() as f64 * self.speedup) as Millis
    }
}

/// What one generated line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    MalformedJson,
    WrongType,
    MissingField,
    DuplicateField,
    /// Stamped a month past the wall clock.
    Future,
    /// A minute behind the stream, past its 5 s lateness.
    Late,
}

/// The shares of each flaw, out of 1000 lines: 5% bad lines, plus some far
/// future and late events.
const FLAWS_PER_MILLE: [(Flaw, u32); 6] = [
    (Flaw::MalformedJson, 13),
    (Flaw::WrongType, 13),
    (Flaw::MissingField, 12),
    (Flaw::DuplicateField, 12),
    (Flaw::Future, 2),
    (Flaw::Late, 5),
];

/// Users (and IPs) the events are spread over: the key space is bounded,
/// so the rules' state must level off.
const USERS: u64 = 5_000;

/// Makes the lines of one of the fraud pack's streams.
pub struct LineGenerator {
    stream: FraudStream,
    rng: StdRng,
    clock: EventClock,
    /// Payment ids issued so far, shared by the payments generator (which
    /// counts them) and the settlements generator (which settles recent ones).
    payments: Arc<AtomicU64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FraudStream {
    Auth,
    Payments,
    Settlements,
}

impl FraudStream {
    pub const ALL: [FraudStream; 3] = [
        FraudStream::Auth,
        FraudStream::Payments,
        FraudStream::Settlements,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FraudStream::Auth => "auth",
            FraudStream::Payments => "payments",
            FraudStream::Settlements => "settlements",
        }
    }
}

impl LineGenerator {
    pub fn new(
        stream: FraudStream,
        seed: u64,
        clock: EventClock,
        payments: Arc<AtomicU64>,
    ) -> Self {
        LineGenerator {
            stream,
            rng: StdRng::seed_from_u64(seed ^ stream as u64),
            clock,
            payments,
        }
    }

    /// The next line (without a newline) and what is wrong with it.
    pub fn line(&mut self) -> (String, Flaw) {
        let flaw = self.flaw();
        // Out of order within the stream's 5 s lateness.
        let mut time = self.clock.now() - self.rng.random_range(0..2_000);
        match flaw {
            Flaw::Future => time = wall_clock_ms() + 30 * 86_400_000,
            Flaw::Late => time -= 60_000,
            _ => {}
        }
        let ts = chrono::DateTime::from_timestamp_millis(time)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        let mut fields = self.fields();
        match flaw {
            Flaw::MissingField => {
                fields.remove(0);
            }
            Flaw::WrongType => fields[0].1 = "[1,2]".to_string(),
            Flaw::DuplicateField => {
                let first = fields[0].clone();
                fields.push((first.0, "\"twice\"".to_string()));
            }
            _ => {}
        }
        let mut line = format!("{{\"ts\":\"{ts}\"");
        for (name, value) in &fields {
            line.push_str(&format!(",\"{name}\":{value}"));
        }
        line.push('}');
        if flaw == Flaw::MalformedJson {
            line.truncate(line.len() / 2);
        }
        (line, flaw)
    }

    fn flaw(&mut self) -> Flaw {
        let mut draw = self.rng.random_range(0..1000u32);
        for (flaw, share) in FLAWS_PER_MILLE {
            if draw < share {
                return flaw;
            }
            draw -= share;
        }
        Flaw::None
    }

    /// The stream's fields other than `ts`, as JSON text; the first is a
    /// required one.
    fn fields(&mut self) -> Vec<(&'static str, String)> {
        let user = self.rng.random_range(0..USERS);
        let quoted = |s: String| format!("\"{s}\"");
        match self.stream {
            FraudStream::Auth => {
                let failed = self.rng.random_bool(0.3);
                // Mostly the user's own address, sometimes another.
                let ip = if self.rng.random_bool(0.9) {
                    user
                } else {
                    self.rng.random_range(0..USERS)
                };
                vec![
                    ("user_id", quoted(format!("u{user}"))),
                    (
                        "kind",
                        quoted(if failed { "login_failed" } else { "login_ok" }.into()),
                    ),
                    (
                        "ip",
                        quoted(format!("10.{}.{}.{}", ip >> 16, (ip >> 8) & 255, ip & 255)),
                    ),
                    (
                        "country",
                        quoted(["FR", "DE", "US", "ES"][user as usize % 4].into()),
                    ),
                ]
            }
            FraudStream::Payments => {
                let id = self.payments.fetch_add(1, Ordering::Relaxed);
                let amount = if self.rng.random_bool(0.02) {
                    self.rng.random_range(10_000.0..50_000.0)
                } else {
                    self.rng.random_range(1.0..2_000.0)
                };
                vec![
                    ("payment_id", quoted(format!("p{id}"))),
                    ("user_id", quoted(format!("u{user}"))),
                    ("amount", format!("{amount:.2}")),
                    (
                        "currency",
                        quoted(["EUR", "USD", "GBP"][id as usize % 3].into()),
                    ),
                ]
            }
            FraudStream::Settlements => {
                // Settles one of the recent payments; some are never settled.
                let issued = self.payments.load(Ordering::Relaxed).max(1);
                let id = issued - 1 - self.rng.random_range(0..issued.min(500));
                vec![
                    ("payment_id", quoted(format!("p{id}"))),
                    ("status", quoted("settled".into())),
                ]
            }
        }
    }
}

/// The wall clock in epoch milliseconds.
pub fn wall_clock_ms() -> Millis {
    runtime::time::admission::wall_clock_now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_line_in_twenty_is_bad_and_some_are_untimely() {
        let clock = EventClock::new(wall_clock_ms(), std::time::Duration::from_secs(60), 1.0);
        let mut generator =
            LineGenerator::new(FraudStream::Payments, 7, clock, Arc::new(AtomicU64::new(0)));
        let flaws: Vec<Flaw> = (0..20_000).map(|_| generator.line().1).collect();
        let count = |wanted: &[Flaw]| flaws.iter().filter(|f| wanted.contains(f)).count();
        let bad = count(&[
            Flaw::MalformedJson,
            Flaw::WrongType,
            Flaw::MissingField,
            Flaw::DuplicateField,
        ]);
        assert!((800..1200).contains(&bad), "{bad} bad lines of 20000");
        assert!(count(&[Flaw::Future]) > 10);
        assert!(count(&[Flaw::Late]) > 50);
    }

    #[test]
    fn good_lines_are_json_objects_and_bad_ones_are_what_they_say() {
        let clock = EventClock::new(wall_clock_ms(), std::time::Duration::from_secs(60), 1.0);
        let mut generator =
            LineGenerator::new(FraudStream::Auth, 3, clock, Arc::new(AtomicU64::new(0)));
        for _ in 0..2_000 {
            let (line, flaw) = generator.line();
            let parsed = serde_json::from_str::<serde_json::Value>(&line);
            assert_eq!(parsed.is_err(), flaw == Flaw::MalformedJson, "{line}");
        }
    }
}
