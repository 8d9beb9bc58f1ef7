//! When a delivery is tried again, and after how long.

use std::time::Duration;

use rand::Rng;

/// Retries with exponential backoff and jitter, up to `max_attempts`
/// attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// The wait after the first failure (then doubled each time).
    pub first_backoff: Duration,
    /// No wait is longer, `Retry-After` included.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth another try (a connection error, a timeout, 408, 429, 5xx);
    /// `retry_after` as the receiver asked.
    Retryable {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Another 4xx (or 3xx): trying again would not help.
    Final {
        error: String,
    },
}

impl Attempt {
    /// The outcome of an answer with `status` (and its `Retry-After`).
    pub fn of_status(status: u16, retry_after: Option<&str>) -> Attempt {
        if (200..300).contains(&status) {
            return Attempt::Delivered;
        }
        let error = format!("HTTP {status}");
        if status == 408 || status == 429 || (500..600).contains(&status) {
            Attempt::Retryable {
                error,
                retry_after: retry_after.and_then(parse_retry_after),
            }
        } else {
            Attempt::Final { error }
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry), jittered
    /// between half and all of the exponential step; a receiver's
    /// `retry_after` wins, capped at `max_backoff`.
    pub fn wait(&self, next: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_backoff);
        }
        let doublings = next.saturating_sub(2).min(20);
        let step = self
            .first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let jitter = rng.random_range(0.5..=1.0);
        step.mul_f64(jitter)
    }
}

/// `Retry-After` in seconds. (The HTTP-date form is not honoured: the
/// backoff applies instead.)
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn only_transient_answers_are_retried() {
        assert_eq!(Attempt::of_status(202, None), Attempt::Delivered);
        for status in [408, 429, 500, 502, 503] {
            assert!(
                matches!(Attempt::of_status(status, None), Attempt::Retryable { .. }),
                "{status}"
            );
        }
        for status in [301, 400, 401, 404, 413] {
            assert!(
                matches!(Attempt::of_status(status, None), Attempt::Final { .. }),
                "{status}"
            );
        }
        assert_eq!(
            Attempt::of_status(429, Some("3")),
            Attempt::Retryable {
                error: "HTTP 429".into(),
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stays_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let mut rng = StdRng::seed_from_u64(7);
        for (next, full) in [(2, 100), (3, 200), (4, 400), (5, 800), (6, 1000), (9, 1000)] {
            let wait = policy.wait(next, None, &mut rng);
            let full = Duration::from_millis(full);
            assert!(wait >= full / 2 && wait <= full, "attempt {next}: {wait:?}");
        }
        let asked = policy.wait(2, Some(Duration::from_secs(5)), &mut rng);
        assert_eq!(asked, Duration::from_secs(1), "Retry-After is capped");
    }
}
