use arrow_schema::ArrowError;
use datafusion_common::DataFusionError;

/// Errors of the operators crate.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("expression evaluation: {0}")]
    DataFusion(#[from] DataFusionError),
    /// The plan asks for something this crate cannot compile (a checker bug).
    #[error("cannot compile the plan: {0}")]
    Plan(String),
    /// A batch did not have the shape the operator was compiled for.
    #[error("unexpected input: {0}")]
    Input(String),
    /// A state snapshot could not be written or read back.
    #[error("operator state: {0}")]
    State(String),
}

pub type Result<T, E = OperatorError> = std::result::Result<T, E>;
