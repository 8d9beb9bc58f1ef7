//! eddy's rule language: rule text to syntax tree to checked plan.
//!
//! No I/O and no runtime: `compile` takes source texts and returns either a
//! [`plan::Program`] or every diagnostic it found.
//!
//! The pipeline: [`lexer`] (logos) → `parser` (recursive descent, Pratt
//! loop for expressions, error recovery) → [`ast`] → `check` (names, types,
//! steps, keys, lowering) → [`plan`]. Error codes are listed in [`codes`].

pub mod ast;
pub mod codes;
pub mod diagnostic;
pub mod lexer;
pub mod limits;
pub mod partitioning;
pub mod plan;

mod check;
mod parser;
mod render;
mod suggest;

pub use diagnostic::{Diagnostic, Label, Severity, Span};

/// One rule file's text and the name to show in diagnostics.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Parses and checks a rule set made of several files (streams declared in
/// one file are visible in all). Returns the program when there is no error,
/// and every diagnostic found (errors and warnings) either way, in source order.
pub fn compile(sources: &[Source]) -> (Option<plan::Program>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let trees: Vec<(usize, ast::File)> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            let (tree, parse_diags) = parser::parse(&source.text, i);
            diags.extend(parse_diags);
            (i, tree)
        })
        .collect();
    let refs: Vec<(usize, &ast::File)> = trees.iter().map(|(i, t)| (*i, t)).collect();
    let program = check::check(&refs, &mut diags);
    diags.sort_by_key(|d| (d.file, d.primary_span().map_or(0, |s| s.start)));
    let diags = cap_per_file(diags);
    let has_error = diags.iter().any(|d| d.severity == Severity::Error);
    (if has_error { None } else { program }, diags)
}

/// Keeps the first [`limits::MAX_DIAGNOSTICS_PER_FILE`] diagnostics of each
/// file (sorted by file, then position) and replaces the rest by one error
/// saying how many there were: garbage input would otherwise give one error
/// every few characters, and nobody reads past the first screens.
fn cap_per_file(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len().min(256));
    let mut file = None;
    let mut shown = 0;
    let mut hidden = 0usize;
    let mut first_hidden: Option<Diagnostic> = None;
    let flush = |out: &mut Vec<Diagnostic>, first: Option<Diagnostic>, hidden: usize| {
        if let Some(first) = first {
            let span = first.primary_span().cloned().unwrap_or(0..0);
            out.push(
                Diagnostic::error(
                    codes::TOO_MANY_ERRORS,
                    first.file,
                    span,
                    format!("... and {hidden} more diagnostics in this file, not shown",),
                    "the first one not shown",
                )
                .with_help(format!(
                    "eddy check shows the first {} per file; fix these and check again",
                    limits::MAX_DIAGNOSTICS_PER_FILE
                )),
            );
        }
    };
    for d in diags {
        if file != Some(d.file) {
            flush(&mut out, first_hidden.take(), hidden);
            file = Some(d.file);
            shown = 0;
            hidden = 0;
        }
        if shown < limits::MAX_DIAGNOSTICS_PER_FILE {
            shown += 1;
            out.push(d);
        } else {
            hidden += 1;
            first_hidden.get_or_insert(d);
        }
    }
    flush(&mut out, first_hidden, hidden);
    out
}

/// Renders a diagnostic as plain text, rustc style: `error[E0101]: message`,
/// `--> file:line:col`, the source line with a caret underline and the
/// label, then `= help: ...`. No colour, so it is stable in snapshots.
pub fn render(diagnostic: &Diagnostic, sources: &[Source]) -> String {
    render::render(diagnostic, sources)
}
