//! Plan builders and fake operators for the pipeline tests: an echo (one
//! derived event per input event, optionally recording its calls) and a
//! tumbling-window count, both with snapshots of their counters.

#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType, UInt64Type};
use arrow_array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use dsl::plan::*;
use operators::schema::stream_schema;
use operators::{
    derived::derived_id, DerivedBatch, DerivedMeta, Evidence, Locator, Operator, StateSize,
};

// ---------------------------------------------------------------- plans

pub fn input_stream(name: &str, lateness: Millis) -> StreamPlan {
    StreamPlan {
        name: name.into(),
        ahead: DEFAULT_AHEAD,
        fields: vec![
            Field {
                name: "ts".into(),
                ty: DataType::Timestamp,
                nullable: false,
            },
            Field {
                name: "v".into(),
                ty: DataType::Int,
                nullable: false,
            },
        ],
        time_field: "ts".into(),
        lateness,
        derived_from: None,
    }
}

pub fn derived_stream(name: &str, rule: usize) -> StreamPlan {
    StreamPlan {
        name: name.into(),
        fields: vec![Field {
            name: DERIVED_TIME_FIELD.into(),
            ty: DataType::Timestamp,
            nullable: false,
        }],
        time_field: DERIVED_TIME_FIELD.into(),
        lateness: 0,
        ahead: dsl::plan::DEFAULT_AHEAD,
        derived_from: Some(rule),
    }
}

pub fn rule(name: &str, kind: RuleKind, emit: &str) -> RulePlan {
    RulePlan {
        name: name.into(),
        severity: None,
        governance: Default::default(),
        kind,
        emit: EmitPlan {
            name: emit.into(),
            fields: vec![],
        },
        suppress: None,
    }
}

pub fn simple(stream: &str) -> RuleKind {
    RuleKind::Simple(SimplePlan {
        stream: stream.into(),
        filter: None,
    })
}

/// A pattern over `streams` (for a rule that reads several streams).
pub fn reads(streams: &[&str]) -> RuleKind {
    RuleKind::Pattern(PatternPlan {
        key: None,
        steps: streams
            .iter()
            .map(|s| StepPlan {
                name: s.to_string(),
                stream: s.to_string(),
                local: None,
                cross: None,
            })
            .collect(),
        root: PatternNode::Seq(vec![]),
        within: 1,
    })
}

// ---------------------------------------------------------------- fakes

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// (rule, stream, (time, offset) of each row)
    Batch(usize, String, Vec<(Millis, i64)>),
    Watermark(usize, Millis),
}

pub type Log = Arc<Mutex<Vec<Call>>>;

pub fn rows(batch: &RecordBatch, time_field: &str) -> Vec<(Millis, i64, u64)> {
    let times = batch
        .column_by_name(time_field)
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    let offsets = batch
        .column_by_name("__offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    let hashes = batch
        .column_by_name("__hash")
        .unwrap()
        .as_primitive::<UInt64Type>();
    (0..batch.num_rows())
        .map(|i| (times.value(i), offsets.value(i), hashes.value(i)))
        .collect()
}

/// Builds a derived batch of `rule` in the schema of its derived stream.
pub fn derived(
    rule: usize,
    name: &str,
    sequence: &mut i64,
    events: Vec<(Millis, Vec<Evidence>, u64)>,
) -> DerivedBatch {
    let schema = stream_schema(&derived_stream("x", rule));
    let times: Vec<Millis> = events.iter().map(|e| e.0).collect();
    let offsets: Vec<i64> = events
        .iter()
        .map(|_| {
            *sequence += 1;
            *sequence
        })
        .collect();
    let meta: Vec<DerivedMeta> = events
        .iter()
        .map(|(time, evidence, hash)| DerivedMeta {
            time: *time,
            key: None,
            id: derived_id(name, None, *time, &[*hash]),
            evidence: evidence.clone(),
            evidence_omitted: 0,
            window: None,
        })
        .collect();
    let hashes: Vec<u64> = meta
        .iter()
        .map(|m| xxhash_rust::xxh3::xxh3_64(m.id.as_bytes()))
        .collect();
    let ids: Vec<&str> = meta.iter().map(|m| m.id.as_str()).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(times)),
        Arc::new(Int64Array::from(offsets)),
        Arc::new(UInt64Array::from(hashes)),
        Arc::new(StringArray::from(ids)),
    ];
    DerivedBatch {
        rule,
        data: RecordBatch::try_new(schema, columns).unwrap(),
        meta,
    }
}

/// One derived event per input event, at the input event's time.
pub struct Echo {
    pub rule: usize,
    pub name: String,
    pub time_fields: BTreeMap<String, String>,
    pub sequence: i64,
    /// Where to record the calls, if anywhere.
    pub log: Option<Log>,
}

impl Operator for Echo {
    fn on_batch(
        &mut self,
        stream: &str,
        batch: &RecordBatch,
        out: &mut Vec<DerivedBatch>,
    ) -> operators::Result<()> {
        let rows = rows(batch, &self.time_fields[stream]);
        if let Some(log) = &self.log {
            log.lock().unwrap().push(Call::Batch(
                self.rule,
                stream.into(),
                rows.iter().map(|r| (r.0, r.1)).collect(),
            ));
        }
        let events = rows
            .iter()
            .map(|&(time, offset, hash)| {
                let evidence = vec![Evidence {
                    step: None,
                    stream: stream.into(),
                    at: Locator::Offset(offset),
                }];
                (time, evidence, hash)
            })
            .collect();
        out.push(derived(self.rule, &self.name, &mut self.sequence, events));
        Ok(())
    }

    fn on_watermark(
        &mut self,
        watermark: Millis,
        _out: &mut Vec<DerivedBatch>,
    ) -> operators::Result<()> {
        if let Some(log) = &self.log {
            log.lock()
                .unwrap()
                .push(Call::Watermark(self.rule, watermark));
        }
        Ok(())
    }

    fn snapshot(&mut self) -> operators::Result<Vec<u8>> {
        operators::state::StateWriter::new().finish(&self.sequence)
    }

    fn restore(&mut self, state: &[u8]) -> operators::Result<()> {
        (self.sequence, _) = operators::state::StateReader::open(state)?;
        Ok(())
    }

    fn state_size(&self) -> StateSize {
        StateSize::default()
    }
}

/// Counts events in tumbling windows of `size`, emitting one event per
/// window at its end once the watermark (or an event) passes it.
pub struct Tumbling {
    pub rule: usize,
    pub name: String,
    pub size: Millis,
    pub time_fields: BTreeMap<String, String>,
    pub open: BTreeMap<Millis, u64>,
    pub sequence: i64,
    pub last_time: Millis,
}

impl Tumbling {
    fn fire_before(&mut self, time: Millis, out: &mut Vec<DerivedBatch>) {
        let closing: Vec<Millis> = self
            .open
            .keys()
            .copied()
            .filter(|start| start + self.size <= time)
            .collect();
        let events = closing
            .iter()
            .map(|start| {
                let count = self.open.remove(start).unwrap();
                (start + self.size, vec![], count)
            })
            .collect::<Vec<_>>();
        if !events.is_empty() {
            out.push(derived(self.rule, &self.name, &mut self.sequence, events));
        }
    }
}

impl Operator for Tumbling {
    fn on_batch(
        &mut self,
        stream: &str,
        batch: &RecordBatch,
        out: &mut Vec<DerivedBatch>,
    ) -> operators::Result<()> {
        for (time, _, _) in rows(batch, &self.time_fields[stream]) {
            assert!(
                time >= self.last_time,
                "events reach the operator in time order"
            );
            self.last_time = time;
            self.fire_before(time, out);
            *self
                .open
                .entry(time.div_euclid(self.size) * self.size)
                .or_default() += 1;
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        watermark: Millis,
        out: &mut Vec<DerivedBatch>,
    ) -> operators::Result<()> {
        self.fire_before(watermark, out);
        Ok(())
    }

    fn snapshot(&mut self) -> operators::Result<Vec<u8>> {
        operators::state::StateWriter::new().finish(&(&self.open, self.sequence, self.last_time))
    }

    fn restore(&mut self, state: &[u8]) -> operators::Result<()> {
        ((self.open, self.sequence, self.last_time), _) =
            operators::state::StateReader::open(state)?;
        Ok(())
    }

    fn state_size(&self) -> StateSize {
        StateSize {
            entries: self.open.len(),
            keys: 0,
        }
    }
}

/// A batch of stream `a` or `b` (schema of `input_stream`): (time, offset).
pub fn batch(events: &[(Millis, i64)]) -> RecordBatch {
    let schema = stream_schema(&input_stream("a", 0));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(
            events.iter().map(|e| e.0).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(vec![0; events.len()])),
        Arc::new(Int64Array::from(
            events.iter().map(|e| e.1).collect::<Vec<_>>(),
        )),
        Arc::new(UInt64Array::from(
            events.iter().map(|e| e.1 as u64 * 7919).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}
