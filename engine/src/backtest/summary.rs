//! The end-of-run summary of a backtest: derived events per rule with their
//! first and last match time, the busiest keys per rule, and what was read
//! and how fast, as a plain aligned text table.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use dsl::plan::{Millis, Program};

use super::source::ScanStats;
use super::time_range::TimeRange;
use crate::pipeline::OutputEvent;
use crate::runner::RunSummary;
use crate::sink::json::rfc3339_millis;

/// Derived events of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleTally {
    pub name: String,
    pub derived: u64,
    /// Event time of the first and last derived event.
    pub first: Option<Millis>,
    pub last: Option<Millis>,
    /// Derived events per partition key (rules with `by`).
    pub keys: HashMap<String, u64>,
}

/// What a backtest did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rules: Vec<RuleTally>,
    /// Events read (`events_in`: handed to the rules; rejected rows are
    /// counted in `rejected`), derived events, the dead-letter file.
    pub run: RunSummary,
    pub range: TimeRange,
    pub scan: ScanStats,
    pub wall: Duration,
}

impl Summary {
    pub fn new(program: &Program, range: TimeRange) -> Self {
        Summary {
            rules: program
                .rules
                .iter()
                .map(|rule| RuleTally {
                    name: rule.name.clone(),
                    ..RuleTally::default()
                })
                .collect(),
            range,
            ..Summary::default()
        }
    }

    /// Counts one derived event.
    pub fn record(&mut self, event: &OutputEvent) {
        self.run.events_out += 1;
        let Some(tally) = self.rules.get_mut(event.rule) else {
            return;
        };
        let time = event.meta.time;
        tally.derived += 1;
        tally.first = Some(tally.first.map_or(time, |t| t.min(time)));
        tally.last = Some(tally.last.map_or(time, |t| t.max(time)));
        if let Some(key) = &event.meta.key {
            *tally.keys.entry(key.clone()).or_default() += 1;
        }
    }

    /// Rows read from the inputs: events handed to the rules and rejected rows.
    pub fn events_read(&self) -> u64 {
        self.run.events_in + self.run.rejected_total()
    }

    pub fn events_per_second(&self) -> u64 {
        let seconds = self.wall.as_secs_f64();
        if seconds > 0.0 {
            (self.events_read() as f64 / seconds).round() as u64
        } else {
            0
        }
    }

    /// The summary table, with the `top` busiest keys of each rule.
    pub fn render(&self, top: usize) -> String {
        let mut out = String::new();
        let time = |t: Option<Millis>| t.map_or_else(|| "-".to_string(), rfc3339_millis);
        let rules: Vec<Vec<String>> = self
            .rules
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.derived.to_string(),
                    time(r.first),
                    time(r.last),
                ]
            })
            .collect();
        out.push_str(&table(
            &["rule", "derived", "first match", "last match"],
            &[false, true, false, false],
            &rules,
        ));

        let keys: Vec<Vec<String>> = self
            .rules
            .iter()
            .flat_map(|r| {
                top_keys(&r.keys, top)
                    .into_iter()
                    .map(|(key, count)| vec![r.name.clone(), key.to_string(), count.to_string()])
            })
            .collect();
        if top > 0 && !keys.is_empty() {
            out.push('\n');
            out.push_str(&table(
                &["rule", &format!("top {top} keys"), "derived"],
                &[false, false, true],
                &keys,
            ));
        }

        out.push('\n');
        let mut totals = vec![
            vec!["events read".to_string(), self.events_read().to_string()],
            vec![
                "events processed".to_string(),
                self.run.events_in.to_string(),
            ],
            vec!["events rejected".to_string(), self.rejected_text()],
            vec![
                "derived events".to_string(),
                self.run.events_out.to_string(),
            ],
        ];
        if !self.range.is_unbounded() {
            totals.push(vec!["time range".to_string(), self.range_text()]);
        }
        if self.scan.row_groups_total > 0 {
            totals.push(vec![
                "row groups pruned".to_string(),
                format!(
                    "{} of {}",
                    self.scan.row_groups_pruned, self.scan.row_groups_total
                ),
            ]);
        }
        totals.push(vec![
            "wall time".to_string(),
            format!("{:.3} s", self.wall.as_secs_f64()),
        ]);
        totals.push(vec![
            "events/s".to_string(),
            self.events_per_second().to_string(),
        ]);
        out.push_str(&table(&[], &[false, false], &totals));
        out
    }

    /// `3 (missing_field 1, wrong_type 2)`.
    fn rejected_text(&self) -> String {
        let total = self.run.rejected_total();
        if total == 0 {
            return "0".to_string();
        }
        let reasons: Vec<String> = self
            .run
            .rejected
            .iter()
            .map(|(reason, count)| format!("{reason} {count}"))
            .collect();
        format!("{total} ({})", reasons.join(", "))
    }

    fn range_text(&self) -> String {
        let end = |t: Option<Millis>| t.map_or_else(|| "…".to_string(), rfc3339_millis);
        format!("[{}, {})", end(self.range.from), end(self.range.to))
    }
}

/// The `n` keys with the most derived events (ties by key, for a stable table).
pub fn top_keys(keys: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut sorted: Vec<(&str, u64)> = keys.iter().map(|(k, c)| (k.as_str(), *c)).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    sorted.truncate(n);
    sorted
}

/// Columns padded to their widest cell, two spaces apart; `numeric` columns
/// align right. No header line when `header` is empty.
pub fn table(header: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    let columns = numeric.len();
    let mut widths = vec![0; columns];
    let header_row: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let all_rows = std::iter::once(&header_row)
        .filter(|h| !h.is_empty())
        .chain(rows);
    for row in all_rows.clone() {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in all_rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            if numeric[i] {
                let _ = write!(line, "{}{cell}", " ".repeat(pad));
            } else {
                let _ = write!(line, "{cell}{}", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::RejectReason;

    #[test]
    fn a_table_aligns_text_left_and_numbers_right() {
        let rows = vec![
            vec![
                "large_payment".to_string(),
                "7".to_string(),
                "x".to_string(),
            ],
            vec!["r".to_string(), "1234".to_string(), "-".to_string()],
        ];
        let text = table(&["rule", "derived", "first"], &[false, true, false], &rows);
        assert_eq!(
            text,
            "rule           derived  first\n\
             large_payment        7  x\n\
             r                 1234  -\n"
        );
    }

    #[test]
    fn top_keys_are_the_busiest_with_ties_by_name() {
        let keys: HashMap<String, u64> = [("b", 2), ("a", 2), ("c", 5), ("d", 1)]
            .into_iter()
            .map(|(k, c)| (k.to_string(), c))
            .collect();
        assert_eq!(top_keys(&keys, 3), vec![("c", 5), ("a", 2), ("b", 2)]);
        assert_eq!(top_keys(&keys, 0), vec![]);
    }

    #[test]
    fn the_summary_shows_rules_keys_and_totals() {
        let mut keys = HashMap::new();
        keys.insert("u1".to_string(), 2);
        let summary = Summary {
            rules: vec![
                RuleTally {
                    name: "takeover".into(),
                    derived: 2,
                    first: Some(0),
                    last: Some(60_000),
                    keys,
                },
                RuleTally {
                    name: "quiet".into(),
                    ..RuleTally::default()
                },
            ],
            run: RunSummary {
                events_in: 10,
                events_out: 2,
                rejected: [(RejectReason::WrongType, 1)].into_iter().collect(),
                dead_letter: None,
            },
            range: TimeRange {
                from: Some(0),
                to: None,
            },
            scan: ScanStats {
                row_groups_pruned: 1,
                row_groups_total: 2,
            },
            wall: Duration::from_millis(500),
        };
        assert_eq!(
            summary.render(5),
            "rule      derived  first match               last match\n\
             takeover        2  1970-01-01T00:00:00.000Z  1970-01-01T00:01:00.000Z\n\
             quiet           0  -                         -\n\
             \n\
             rule      top 5 keys  derived\n\
             takeover  u1                2\n\
             \n\
             events read        11\n\
             events processed   10\n\
             events rejected    1 (wrong_type 1)\n\
             derived events     2\n\
             time range         [1970-01-01T00:00:00.000Z, …)\n\
             row groups pruned  1 of 2\n\
             wall time          0.500 s\n\
             events/s           22\n"
        );
    }
}
