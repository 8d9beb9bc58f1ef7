//! `eddy run [RULES...] --config eddy.toml`: the streaming job on Kafka,
//! until SIGTERM or SIGINT; then it drains, checkpoints, commits and exits 0.
//! A config that binds every input stream to a file runs those files to
//! their end instead, like `eddy run --input`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use dsl::plan::Program;

use super::outcome::{default_dead_letter, exit_code, report};
use super::{exit, rules, CliError};
use crate::checkpoint::RuleSet;
use crate::config::{Config, DeadLetterTarget, LogFormat, SinkTarget, StreamSource};
use crate::job::{self, Control, JobRules};
use crate::metrics::{server, Metrics};
use crate::runner::{InputSpec, OutputTarget, RunConfig};
use crate::source::InputLocation;

/// The log filter when `EDDY_LOG` is not set.
const DEFAULT_LOG: &str = "info";

pub fn execute(config_path: &Path, rule_paths: &[PathBuf]) -> Result<u8, CliError> {
    let config = Config::load(config_path)?;
    let mut paths = rule_paths.to_vec();
    paths.extend(config.rules.iter().cloned());
    if paths.is_empty() {
        return Err(CliError::NoRulesInConfig(config_path.to_path_buf()));
    }
    let sources = rules::load(&paths)?;
    let Some(program) = rules::compile_and_report(&sources).program else {
        return Err(CliError::RuleErrors);
    };
    config.check_against(&program)?;
    if let Some(inputs) = file_inputs(&program, &config) {
        return run_files(&program, &config, inputs);
    }
    let rule_set = RuleSet::of(&sources);

    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let metrics = Arc::new(Metrics::new());
    // One pending reload is enough: it reads the files as they are then.
    let (reload, reloads) = mpsc::channel(1);
    if let Some(listen) = &config.metrics.listen {
        let listener =
            runtime
                .block_on(server::bind(listen))
                .map_err(|source| CliError::MetricsListen {
                    address: listen.clone(),
                    source,
                })?;
        // From the environment only: a config file is often shared or committed.
        let token = server::token_from_env();
        if let Some(address) = server::local_address(&listener) {
            tracing::info!("metrics, health and reload on http://{address}");
            server::warn_if_exposed(address, token.is_some());
        }
        runtime.spawn(server::serve(
            listener,
            metrics.clone(),
            Some(reload),
            token,
        ));
    }
    let rules = JobRules {
        files: paths,
        program,
        rules: rule_set,
    };
    let control = Control {
        shutdown: shutdown_signal(),
        reloads,
        metrics,
    };
    let summary = runtime.block_on(job::run(rules, &config, control))?;
    eprintln!(
        "eddy: stopped after {} messages, {} derived events, {} rejected, {} checkpoints",
        summary.messages_in,
        summary.events_out,
        summary.rejected.values().sum::<u64>(),
        summary.checkpoints
    );
    Ok(exit::OK)
}

/// The inputs, when the config binds every stream the rules read to a file.
fn file_inputs(program: &Program, config: &Config) -> Option<Vec<InputSpec>> {
    let mut inputs = Vec::new();
    for (_, stream) in program.input_streams() {
        match config.streams.get(&stream.name) {
            Some(StreamSource::File(file)) => inputs.push(InputSpec {
                stream: stream.name.clone(),
                location: InputLocation::File(file.path.clone()),
            }),
            _ => return None,
        }
    }
    (!inputs.is_empty()).then_some(inputs)
}

/// Runs file inputs to their end: every derived event goes to one sink,
/// stdout or a file, and rejected lines to the `[dead_letter]` file.
fn run_files(program: &Program, config: &Config, inputs: Vec<InputSpec>) -> Result<u8, CliError> {
    let mut targets: Vec<&SinkTarget> = program
        .rules
        .iter()
        .filter_map(|r| config.sink_for(&r.emit.name))
        .collect();
    targets.dedup();
    let output = match targets.as_slice() {
        [] | [SinkTarget::Stdout] => OutputTarget::Stdout,
        [SinkTarget::File { path }] => OutputTarget::File(path.clone()),
        _ => return Err(CliError::FileRunSinks),
    };
    let dead_letter = match &config.dead_letter {
        Some(DeadLetterTarget::File { path }) => path.clone(),
        None => default_dead_letter(&output),
        Some(DeadLetterTarget::Kafka { .. }) => return Err(CliError::FileRunSinks),
    };
    let mut run_config = RunConfig::new(inputs, output, dead_letter);
    run_config.channel_capacity = config.channel_capacity.get();
    run_config.max_chunk_bytes = config.max_chunk_bytes.get();
    let summary = crate::runner::run(program, &run_config)?;
    report(&summary);
    Ok(exit_code(&summary))
}

/// Log lines on stderr, filtered by `EDDY_LOG` (e.g. `debug`, `eddy=debug`),
/// as text or one JSON object per line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDDY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Fails only if a subscriber is already set, which is then kept.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Completes at the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            // Without a SIGTERM handler, SIGINT still stops the job.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
