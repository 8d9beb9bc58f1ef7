//! `eddy catalog RULES... [--config eddy.toml] [--out FILE]`: the streams
//! the rules read and the derived events they emit, as an AsyncAPI 3.0
//! document; with `--check PREVIOUS.yaml`, the derived events compared with
//! a previous document (exit 1 on an undeclared breaking change).

use std::io::Write;
use std::path::{Path, PathBuf};

use dsl::plan::Program;

use super::{exit, rules, CliError};
use crate::catalog::{self, Allowances, CatalogError, Document, Header};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// Rule files; with --config, in addition to its `rules`.
    #[arg(required_unless_present = "config")]
    pub rules: Vec<PathBuf>,
    /// The deployment config (see examples/eddy.toml): the Kafka topics of
    /// the streams and the sinks of the derived events. Without it, each
    /// stream is the topic of its name and derived events go to stdout.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Write the document to FILE (default: stdout, or nowhere with --check).
    /// With --check, it is written only if the check passes, so FILE may be
    /// the previous catalog.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Compare the derived events with a previous catalog: exit 1, with a
    /// line per problem, when an event or a field of its data was removed,
    /// a field changed type, or a required field was added.
    #[arg(long, visible_alias = "against", value_name = "PREVIOUS")]
    pub check: Option<PathBuf>,
    /// Declare an intended breaking change: of event EVENT (its removal
    /// included), or of its field FIELD only. Repeatable.
    #[arg(long, value_name = "EVENT[.FIELD]", requires = "check")]
    pub allow_breaking: Vec<String>,
    /// `info.title` of the document.
    #[arg(long, default_value = "eddy events")]
    pub title: String,
    /// `info.version` of the document.
    #[arg(long, value_name = "VERSION", default_value = "1.0.0")]
    pub catalog_version: String,
}

/// What can stop `eddy catalog`: the usual command-line errors, or the
/// catalog's own (reported here, as `CliError` does not know them).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Cli(#[from] CliError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl From<crate::config::ConfigError> for Failure {
    fn from(error: crate::config::ConfigError) -> Self {
        Failure::Cli(error.into())
    }
}

pub fn execute(args: &CatalogArgs) -> Result<u8, CliError> {
    match run(args) {
        Ok(code) => Ok(code),
        Err(Failure::Cli(error)) => Err(error),
        Err(Failure::Catalog(error)) => {
            eprintln!("error: {}", crate::error_chain::with_causes(&error));
            Ok(exit::USAGE_OR_IO)
        }
    }
}

fn run(args: &CatalogArgs) -> Result<u8, Failure> {
    let (program, config) = load(args)?;
    let header = Header {
        title: args.title.clone(),
        version: args.catalog_version.clone(),
    };
    let document = catalog::document(&program, &config, &header);
    let yaml = catalog::to_yaml(&document)?;
    // Checked before anything is written: `--out` may name the previous file.
    if let Some(previous) = &args.check {
        let code = check(previous, &document, &Allowances::new(&args.allow_breaking))?;
        if code != exit::OK {
            return Ok(code);
        }
    }
    match (&args.out, &args.check) {
        (Some(path), _) => std::fs::write(path, &yaml).map_err(|source| CatalogError::Write {
            path: path.clone(),
            source,
        })?,
        (None, None) => std::io::stdout()
            .lock()
            .write_all(yaml.as_bytes())
            .map_err(|source| CatalogError::Write {
                path: PathBuf::from("<stdout>"),
                source,
            })?,
        (None, Some(_)) => {}
    }
    Ok(exit::OK)
}

/// The checked program and the config (a default one without `--config`).
fn load(args: &CatalogArgs) -> Result<(Program, Config), Failure> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let mut paths = args.rules.clone();
    paths.extend(config.rules.iter().cloned());
    if paths.is_empty() {
        let config_path = args.config.clone().unwrap_or_default();
        return Err(CliError::NoRulesInConfig(config_path).into());
    }
    let sources = rules::load(&paths)?;
    let Some(program) = rules::compile_and_report(&sources).program else {
        return Err(CliError::RuleErrors.into());
    };
    // Without a config nothing is routed, so there is nothing to refuse.
    if args.config.is_some() {
        config.check_against(&program)?;
    }
    Ok((program, config))
}

/// Reports every breaking change on stderr, a line each; 1 if any is not
/// declared. Reads `previous` before anything is written.
fn check(previous: &Path, document: &Document, allowances: &Allowances) -> Result<u8, Failure> {
    let before = catalog::read_previous(previous)?;
    let now = catalog::current_shapes(document)?;
    let changes = catalog::compat::breaking_changes(&before, &now);
    let mut refused = 0;
    for change in &changes {
        match allowances.allowing(change) {
            Some(declared) => {
                eprintln!("eddy: allowed breaking change (--allow-breaking {declared}): {change}")
            }
            None => {
                eprintln!("error: breaking change: {change}");
                refused += 1;
            }
        }
    }
    for unused in allowances.unused(&changes) {
        eprintln!("eddy: note: --allow-breaking {unused} matches no change");
    }
    if refused > 0 {
        eprintln!(
            "eddy: {refused} breaking change(s) against {}; if intended, declare each with \
             --allow-breaking EVENT or EVENT.FIELD",
            previous.display()
        );
        return Ok(exit::RULE_ERRORS);
    }
    let declared = changes.len();
    eprintln!(
        "eddy: the derived events are compatible with {} ({} event(s) before, {} now, \
         {declared} declared breaking change(s))",
        previous.display(),
        before.len(),
        now.len()
    );
    Ok(exit::OK)
}
