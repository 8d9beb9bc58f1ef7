//! Errors of the command line, with the exit code each maps to.

use std::path::PathBuf;

use super::exit;
use crate::runner::RunError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read rule file {path}: {source}")]
    ReadRules {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the rules have errors")]
    RuleErrors,
    #[error("no rule files given (`eddy run RULES... --input STREAM=PATH`)")]
    NoRules,
    #[error("invalid --input `{0}`: expected STREAM=PATH (PATH `-` is stdin)")]
    InputSyntax(String),
    #[error("--input names an unknown stream `{name}`{}", did_you_mean(.suggestion))]
    UnknownStream {
        name: String,
        suggestion: Option<String>,
    },
    #[error("--input names `{0}`, which is derived by a rule, not read from outside")]
    DerivedInput(String),
    #[error("stream `{0}` is given more than one --input")]
    DuplicateInput(String),
    #[error("only one --input can read stdin (`-`)")]
    StdinTwice,
    #[error("stream `{0}` is read by a rule but has no --input (add --input {0}=PATH)")]
    MissingInput(String),
    #[error("--batch-size must be at least 1")]
    BatchSize,
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("no rule files: give them on the command line or as `rules` in {}", .0.display())]
    NoRulesInConfig(PathBuf),
    #[error(
        "a config that reads files sends every derived event to one place (stdout or one \
         file) and dead letters to a file; use Kafka streams for other sinks"
    )]
    FileRunSinks,
    #[error("cannot listen on {address} (`metrics.listen`): {source}")]
    MetricsListen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Job(#[from] crate::job::JobError),
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    #[error(transparent)]
    Backtest(#[from] crate::backtest::BacktestError),
    #[error(transparent)]
    Soak(#[from] crate::soak::SoakError),
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::RuleErrors => exit::RULE_ERRORS,
            CliError::Run(RunError::Pipeline(crate::pipeline::PipelineError::Build { .. })) => {
                exit::RULE_ERRORS
            }
            CliError::Backtest(crate::backtest::BacktestError::Pipeline(
                crate::pipeline::PipelineError::Build { .. },
            )) => exit::RULE_ERRORS,
            _ => exit::USAGE_OR_IO,
        }
    }

    /// The message with its chain of causes.
    pub fn report(&self) -> String {
        crate::error_chain::with_causes(self)
    }
}
