//! eddy's stateful operators over Arrow record batches. No I/O, no async.
//!
//! - [`expr`] lowers checked rule expressions to DataFusion physical
//!   expressions, evaluated a batch at a time.
//! - [`filter`] (simple rules), [`pattern`] (the automaton), [`window`]
//!   (windowed aggregation): one operator per rule kind, each behind
//!   [`operator::Operator`].
//! - [`emit`] shapes matches into derived events; [`suppress`] drops repeats.
//! - [`state`] turns operator state into bytes for checkpoints and back.

pub mod aggregate;
pub mod conditions;
pub mod derived;
pub mod emit;
pub mod error;
pub mod expr;
pub mod filter;
pub mod key;
pub mod limits;
pub mod operator;
pub mod pattern;
pub mod schema;
pub mod state;
pub mod suppress;
pub mod window;

pub use derived::{DerivedBatch, DerivedMeta, Evidence, Locator};
pub use error::{OperatorError, Result};
pub use limits::{LimitHits, Limits};
pub use operator::{Operator, StateSize};

use std::sync::Arc;

use conditions::SharedConditions;
use dsl::plan::{Catalog, RuleKind, RulePlan};

/// Compiles rule `index` of a program into its operator.
pub fn build(index: usize, rule: &RulePlan, catalog: &Catalog) -> Result<Box<dyn Operator>> {
    build_sharing(index, rule, catalog, &SharedConditions::new())
}

/// As [`build`]; the operators built with one `shared` evaluate the
/// conditions they share once per batch (see [`conditions`]).
pub fn build_sharing(
    index: usize,
    rule: &RulePlan,
    catalog: &Catalog,
    shared: &Arc<SharedConditions>,
) -> Result<Box<dyn Operator>> {
    Ok(match &rule.kind {
        RuleKind::Simple(_) => Box::new(filter::FilterOperator::sharing(
            index,
            rule,
            catalog,
            shared.clone(),
        )?),
        RuleKind::Pattern(_) => Box::new(pattern::PatternOperator::new(index, rule, catalog)?),
        RuleKind::Window(_) => Box::new(window::WindowOperator::new(index, rule, catalog)?),
    })
}
