//! `--from` / `--to`: the half-open range `[from, to)` of event times a
//! backtest replays.

use dsl::plan::Millis;

use super::BacktestError;

/// Event times `[from, to)`; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

impl TimeRange {
    /// Parses both ends (RFC 3339 or integer epoch milliseconds) and checks
    /// that the range is not empty.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, BacktestError> {
        let range = TimeRange {
            from: from.map(parse_time).transpose()?,
            to: to.map(parse_time).transpose()?,
        };
        if let (Some(from), Some(to)) = (range.from, range.to) {
            if from >= to {
                return Err(BacktestError::EmptyRange {
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
        }
        Ok(range)
    }

    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// `2026-01-01T08:00:00Z` (any RFC 3339 offset) or `1767254400000`, the
/// same two shapes eddy accepts for timestamps in events.
pub fn parse_time(text: &str) -> Result<Millis, BacktestError> {
    let text = text.trim();
    if let Ok(millis) = text.parse::<i64>() {
        return Ok(millis);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|source| BacktestError::BadTime {
            text: text.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_of_time_parse_to_epoch_millis() {
        // 2026-01-01T08:00:00Z is 1767254400 s after the epoch.
        assert_eq!(
            parse_time("2026-01-01T08:00:00Z").unwrap(),
            1_767_254_400_000
        );
        assert_eq!(
            parse_time("2026-01-01T09:00:00.5+01:00").unwrap(),
            1_767_254_400_500
        );
        assert_eq!(parse_time("1767254400000").unwrap(), 1_767_254_400_000);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn an_empty_range_is_refused() {
        assert!(TimeRange::parse(Some("2000"), Some("1000")).is_err());
        assert!(TimeRange::parse(Some("1000"), Some("1000")).is_err());
        let range = TimeRange::parse(Some("1000"), None).unwrap();
        assert_eq!(range.from, Some(1000));
        assert!(!range.is_unbounded());
    }
}
