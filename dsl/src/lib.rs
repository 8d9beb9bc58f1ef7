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
    let has_error = diags.iter().any(|d| d.severity == Severity::Error);
    (if has_error { None } else { program }, diags)
}

/// Renders a diagnostic as plain text, rustc style: `error[E0101]: message`,
/// `--> file:line:col`, the source line with a caret underline and the
/// label, then `= help: ...`. No colour, so it is stable in snapshots.
pub fn render(diagnostic: &Diagnostic, sources: &[Source]) -> String {
    render::render(diagnostic, sources)
}
