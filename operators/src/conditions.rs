//! A `where` condition as a chain of conjuncts, filtered one after the
//! other, with the rows each prefix of the chain keeps shared between the
//! rules of one pipeline: rules whose conditions start alike (`type ==
//! "transfer" and amount > 4000 and ...`) evaluate that start once per
//! batch, and each evaluates the rest only on the rows it kept.
//!
//! Filtering conjunct by conjunct keeps exactly the rows where the whole
//! conjunction is true (null counts as false at every step, as it does for
//! the whole), and later conjuncts see fewer rows.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use dsl::plan::{BinaryOp, Expr, ExprKind};
use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::expr::{filter_batch, lower, Leaves, PhysExpr};

/// The rows kept by each chain prefix over the batch last filtered; one per
/// pipeline (the operators of a pipeline run on one thread, so the lock is
/// never contended).
#[derive(Debug, Default)]
pub struct SharedConditions(Mutex<Kept>);

#[derive(Debug, Default)]
struct Kept {
    /// The batch the entries are about. Holding it keeps its buffers alive,
    /// so no other batch can have the same column pointers meanwhile.
    batch: Option<RecordBatch>,
    /// By prefix fingerprint.
    rows: FxHashMap<String, RecordBatch>,
}

impl SharedConditions {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn get(&self, batch: &RecordBatch, prefix: &str) -> Option<RecordBatch> {
        let kept = self.0.lock().ok()?;
        match &kept.batch {
            Some(current) if same_batch(current, batch) => kept.rows.get(prefix).cloned(),
            _ => None,
        }
    }

    fn put(&self, batch: &RecordBatch, prefix: &str, rows: &RecordBatch) {
        // A poisoned lock only loses the sharing, never a result.
        let Ok(mut kept) = self.0.lock() else {
            return;
        };
        if !kept.batch.as_ref().is_some_and(|c| same_batch(c, batch)) {
            kept.batch = Some(batch.clone());
            kept.rows.clear();
        }
        kept.rows.insert(prefix.to_string(), rows.clone());
    }
}

/// The same batch, not an equal one: the rules of a pipeline step are
/// handed clones of one batch.
fn same_batch(a: &RecordBatch, b: &RecordBatch) -> bool {
    a.num_rows() == b.num_rows()
        && a.num_columns() == b.num_columns()
        && a.columns()
            .iter()
            .zip(b.columns())
            .all(|(x, y)| Arc::ptr_eq(x, y))
}

/// A compiled `where` condition.
#[derive(Debug)]
pub struct ConditionChain {
    /// The conjuncts in text order, each with the fingerprint of the chain
    /// up to and including it.
    steps: Vec<(String, PhysExpr)>,
    shared: Arc<SharedConditions>,
}

impl ConditionChain {
    /// `None`: every event passes.
    pub fn new(
        condition: Option<&Expr>,
        schema: &Schema,
        leaves: &dyn Leaves,
        shared: Arc<SharedConditions>,
    ) -> Result<Self> {
        let mut conjuncts = Vec::new();
        if let Some(condition) = condition {
            flatten_and(condition, &mut conjuncts);
        }
        let mut prefix = String::new();
        let steps = conjuncts
            .into_iter()
            .map(|conjunct| {
                // The plan's expressions carry no spans, so equal
                // conditions print alike wherever they are written.
                prefix.push_str(&format!("{conjunct:?};"));
                Ok((prefix.clone(), lower(conjunct, schema, leaves)?))
            })
            .collect::<Result<_>>()?;
        Ok(ConditionChain { steps, shared })
    }

    /// The rows of `batch` for which the condition holds.
    pub fn filter(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut kept = batch.clone();
        for (prefix, conjunct) in &self.steps {
            if let Some(rows) = self.shared.get(batch, prefix) {
                kept = rows;
                continue;
            }
            kept = filter_batch(Some(conjunct), &kept)?;
            self.shared.put(batch, prefix, &kept);
        }
        Ok(kept)
    }
}

fn flatten_and<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match &expr.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => {
            flatten_and(left, out);
            flatten_and(right, out);
        }
        _ => out.push(expr),
    }
}
