//! Durations in the config file and the environment: an integer and a unit,
//! `"250ms"`, `"30s"`, `"5m"`, `"1h"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// What a duration must look like, for error messages.
pub const DURATION_HINT: &str = r#"a duration like "500ms", "30s", "5m" or "1h""#;

/// Parses `"250ms"`, `"30s"`, `"5m"` or `"1h"`; `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
}

/// Writes a duration back in the largest unit that divides it exactly.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// `#[serde(deserialize_with = "deserialize")]` for `Duration` fields.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(DURATION_HINT)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            parse_duration(text)
                .ok_or_else(|| E::custom(format_args!("expected {DURATION_HINT}, found {text:?}")))
        }
    }

    deserializer.deserialize_str(DurationVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_milliseconds_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "30",
            "s",
            "1.5s",
            "-1s",
            "10 days",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatting_picks_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }
}
