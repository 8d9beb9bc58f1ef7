//! Partition keys (`by k1, k2`): evaluated a batch at a time, one
//! [`Key`] per row.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_row::{RowConverter, SortField};
use arrow_schema::Schema;
use datafusion_common::ScalarValue;
use dsl::plan::KeyPlan;
use rustc_hash::{FxHashMap, FxHasher};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{OperatorError, Result};
use crate::expr::{cast_to, evaluate, field_path, PhysExpr};
use crate::schema::arrow_type;

/// The key of one event: its typed components, in `KeyPlan::parts` order.
///
/// Cheap to clone (shared), hashable, and totally ordered (component by
/// component), so it can key `HashMap`s and `BTreeMap`s alike. Components
/// have the Arrow type of their `KeyPart::ty` whatever stream they came
/// from, so `by auth.user_id = payments.owner` gives equal keys for equal
/// values.
#[derive(Clone)]
pub struct Key(Arc<KeyInner>);

struct KeyInner {
    parts: Parts,
    /// Built when first asked for: only derived events show it, and a key
    /// lives in the state of every open candidate and window.
    display: OnceLock<String>,
    /// A hash of the components, computed once: keys are hashed on every
    /// map lookup of every event.
    hash: u64,
}

/// The components. Most keys have one, kept inline: a key is made for
/// every distinct key of every batch, and kept per candidate.
enum Parts {
    One(ScalarValue),
    Many(Vec<ScalarValue>),
}

impl Key {
    /// A key from its components (none of them null).
    pub fn new(parts: Vec<ScalarValue>) -> Self {
        match <[ScalarValue; 1]>::try_from(parts) {
            Ok([one]) => Self::single(one),
            Err(parts) => Self::with_parts(Parts::Many(parts)),
        }
    }

    /// A key of one component (not null).
    pub fn single(part: ScalarValue) -> Self {
        Self::with_parts(Parts::One(part))
    }

    fn with_parts(parts: Parts) -> Self {
        // Fx rather than SipHash: this hash only places keys in maps, and
        // new keys are made for every batch. The slice is hashed, so a key
        // hashes alike however its parts are kept.
        let mut hasher = FxHasher::default();
        parts.as_slice().hash(&mut hasher);
        let hash = hasher.finish();
        Key(Arc::new(KeyInner {
            parts,
            display: OnceLock::new(),
            hash,
        }))
    }

    /// The components, typed: what `ExprKind::Key(i)` reads.
    pub fn parts(&self) -> &[ScalarValue] {
        self.0.parts.as_slice()
    }

    /// Components joined with `,`: the CloudEvent subject and
    /// `DerivedMeta::key`.
    pub fn display(&self) -> &str {
        self.0.display.get_or_init(|| {
            let parts = self.parts().iter().map(display_part);
            parts.collect::<Vec<_>>().join(",")
        })
    }
}

impl Parts {
    fn as_slice(&self) -> &[ScalarValue] {
        match self {
            Parts::One(part) => std::slice::from_ref(part),
            Parts::Many(parts) => parts,
        }
    }
}

fn display_part(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        // Milliseconds, as in the input JSON, rather than a formatted date.
        ScalarValue::TimestampMillisecond(Some(ms), _) => ms.to_string(),
        other => other.to_string(),
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.display())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash && self.parts() == other.parts())
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        for (a, b) in self.parts().iter().zip(other.parts()) {
            // Components of one key plan share their types, so
            // `partial_cmp` only fails on NaN or a mismatch; fall back to
            // the text so the order stays total.
            let ord = a
                .partial_cmp(b)
                .unwrap_or_else(|| display_part(a).cmp(&display_part(b)));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        self.parts().len().cmp(&other.parts().len())
    }
}

/// A [`KeyPlan`] compiled for one input stream.
#[derive(Debug)]
pub struct KeyExtractor {
    parts: Vec<PhysExpr>,
    /// Encodes a row's components as bytes, to find repeated keys in a
    /// batch without building their `ScalarValue`s again.
    rows: RowConverter,
}

impl KeyExtractor {
    /// Compiles the key for batches of `stream` in `schema`
    /// (`schema::stream_schema` of the stream).
    pub fn new(plan: &KeyPlan, stream: &str, schema: &Schema) -> Result<Self> {
        let parts = plan
            .parts
            .iter()
            .map(|part| {
                let path = part.path_in(stream).ok_or_else(|| {
                    OperatorError::Plan(format!("key `{}` has no field in `{stream}`", part.name))
                })?;
                cast_to(field_path(path, schema)?, &arrow_type(&part.ty), schema)
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = RowConverter::new(
            plan.parts
                .iter()
                .map(|part| SortField::new(arrow_type(&part.ty)))
                .collect(),
        )?;
        Ok(Self { parts, rows })
    }

    /// The key columns of `batch`, one array per key part.
    pub fn columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.parts
            .iter()
            .map(|p| evaluate(p.as_ref(), batch))
            .collect()
    }

    /// A hash of each row's key, equal for equal keys whatever stream they
    /// came from (the components are cast to the key's types first): it
    /// places the events of one key together, say on one worker.
    pub fn hashes(&self, batch: &RecordBatch) -> Result<Vec<u64>> {
        let columns = self.columns(batch)?;
        let encoded = self.rows.convert_columns(&columns)?;
        Ok((0..batch.num_rows())
            .map(|row| xxh3_64(encoded.row(row).data()))
            .collect())
    }

    /// One key per row; `None` where a component is null (such events have
    /// no key and take part in no keyed state). Rows of a batch with equal
    /// keys share one [`Key`].
    pub fn keys(&self, batch: &RecordBatch) -> Result<Vec<Option<Key>>> {
        let columns = self.columns(batch)?;
        let encoded = self.rows.convert_columns(&columns)?;
        let mut seen: FxHashMap<&[u8], Key> = FxHashMap::default();
        let mut out = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            if columns.iter().any(|c| c.is_null(row)) {
                out.push(None);
                continue;
            }
            let bytes = encoded.row(row).data();
            let key = match seen.get(bytes) {
                Some(key) => key.clone(),
                None => {
                    let key = match columns.as_slice() {
                        [one] => Key::single(ScalarValue::try_from_array(one, row)?),
                        many => Key::new(
                            many.iter()
                                .map(|c| ScalarValue::try_from_array(c, row))
                                .collect::<Result<Vec<_>, _>>()?,
                        ),
                    };
                    seen.insert(bytes, key.clone());
                    key
                }
            };
            out.push(Some(key));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType as ArrowType, Field};
    use dsl::plan::{DataType, KeyPart};

    #[test]
    fn keys_per_row_with_nulls_and_display() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user", ArrowType::Utf8, true),
            Field::new("n", ArrowType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("a")])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap();
        let plan = KeyPlan {
            parts: vec![
                KeyPart {
                    name: "user".into(),
                    ty: DataType::String,
                    per_stream: vec![("s".into(), vec!["user".into()])],
                },
                KeyPart {
                    name: "n".into(),
                    ty: DataType::Int,
                    per_stream: vec![("s".into(), vec!["n".into()])],
                },
            ],
        };
        let keys = KeyExtractor::new(&plan, "s", &schema)
            .unwrap()
            .keys(&batch)
            .unwrap();
        assert_eq!(keys[0].as_ref().unwrap().display(), "a,1");
        assert!(keys[1].is_none());
        assert_eq!(
            keys[2].as_ref().unwrap().parts()[1],
            ScalarValue::Int64(Some(3))
        );
        assert!(keys[0] < keys[2]);
    }

    #[test]
    fn missing_stream_is_a_plan_error() {
        let schema = Schema::new(vec![Field::new("user", ArrowType::Utf8, true)]);
        let plan = KeyPlan {
            parts: vec![KeyPart {
                name: "user".into(),
                ty: DataType::String,
                per_stream: vec![],
            }],
        };
        assert!(matches!(
            KeyExtractor::new(&plan, "s", &schema),
            Err(OperatorError::Plan(_))
        ));
    }
}
