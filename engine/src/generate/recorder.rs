//! Collects generated events per stream and writes them as JSON lines in
//! *arrival* order: slightly out of event-time order (within the stream's
//! lateness), with a few late and malformed lines mixed in on purpose, so
//! the sample data exercises reordering and the dead-letter output.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::rng::Rng;

/// 2026-01-01T00:00:00Z in epoch milliseconds: where sample data starts.
pub const EPOCH_2026: i64 = 1_767_225_600_000;

/// How timestamps are written: the language accepts both.
#[derive(Clone, Copy)]
pub enum TimeFormat {
    Rfc3339,
    EpochMillis,
}

pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .expect("sample timestamps are in range")
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Line {
    arrival: i64,
    order: usize,
    text: String,
}

#[derive(Default)]
pub struct Recorder {
    streams: BTreeMap<String, Vec<Line>>,
    count: usize,
}

/// How an event is delivered.
#[derive(Clone, Copy)]
pub enum Delivery {
    /// Arrives up to `jitter` ms after its event time (within lateness).
    OnTime { jitter: i64 },
    /// Arrives `delay` ms after its event time: beyond the lateness, so late.
    Late { delay: i64 },
}

impl Recorder {
    /// Records one event; its time goes in field `ts`, written in `format`.
    pub fn event(
        &mut self,
        rng: &mut Rng,
        stream: &str,
        ts: i64,
        format: TimeFormat,
        fields: Map<String, Value>,
        delivery: Delivery,
    ) {
        let mut object = Map::new();
        object.insert(
            "ts".to_string(),
            match format {
                TimeFormat::Rfc3339 => Value::String(rfc3339(ts)),
                TimeFormat::EpochMillis => Value::from(ts),
            },
        );
        object.extend(fields);
        let arrival = match delivery {
            Delivery::OnTime { jitter } if jitter > 0 => ts + rng.range(0, jitter),
            Delivery::OnTime { .. } => ts,
            Delivery::Late { delay } => ts + delay,
        };
        self.raw(stream, arrival, Value::Object(object).to_string());
    }

    /// Records a line as it is (used for deliberately broken input).
    pub fn raw(&mut self, stream: &str, arrival: i64, text: String) {
        self.count += 1;
        let order = self.count;
        self.streams
            .entry(stream.to_string())
            .or_default()
            .push(Line {
                arrival,
                order,
                text,
            });
    }

    /// Writes `<dir>/<stream>.jsonl` for every stream, in arrival order.
    pub fn write(mut self, dir: &Path) -> io::Result<Vec<(String, usize)>> {
        fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for (stream, lines) in &mut self.streams {
            lines.sort_by_key(|l| (l.arrival, l.order));
            let mut text = String::new();
            for line in lines.iter() {
                text.push_str(&line.text);
                text.push('\n');
            }
            fs::write(dir.join(format!("{stream}.jsonl")), text)?;
            written.push((stream.clone(), lines.len()));
        }
        Ok(written)
    }
}

/// Builds a JSON object from `key => value` pairs.
#[macro_export]
macro_rules! json_fields {
    ($($key:literal => $value:expr),* $(,)?) => {{
        let mut map = serde_json::Map::new();
        $(map.insert($key.to_string(), serde_json::Value::from($value));)*
        map
    }};
}
