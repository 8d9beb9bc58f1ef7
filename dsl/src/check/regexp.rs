//! `matches(s, "pattern")`: the pattern is compiled at `eddy check` the way
//! the run compiles it (DataFusion's `regexp_like` calls `regex::Regex::new`),
//! so a pattern the run would refuse at its first event is refused here, on
//! the string literal.

use crate::codes;
use crate::diagnostic::{Diagnostic, Span};
use crate::limits::REGEX_SIZE_LIMIT;

/// The error for `pattern`, written as the string literal at `literal`
/// (quotes included), or `None` when the run would compile it.
pub fn check(file: usize, literal: &Span, pattern: &str) -> Option<Diagnostic> {
    if let Err(err) = regex_syntax::ParserBuilder::new().build().parse(pattern) {
        let (message, at) = describe(&err);
        let span = at
            .and_then(|r| inside_literal(literal, pattern, r))
            .unwrap_or_else(|| literal.clone());
        return Some(
            Diagnostic::error(
                codes::BAD_REGEX,
                file,
                span,
                format!("invalid regular expression: {message}"),
                message,
            )
            .with_help(
                "`matches` takes a regular expression in Rust `regex` syntax; \
                 escape a literal `(`, `[`, `{`, `.`, `+`, `*`, `?` or `\\` with a backslash \
                 (written `\\\\` inside the quotes)",
            ),
        );
    }
    match regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(_) => None,
        Err(regex::Error::CompiledTooBig(limit)) => Some(
            Diagnostic::error(
                codes::REGEX_TOO_LARGE,
                file,
                literal.clone(),
                format!("this regular expression compiles to more than the limit of {limit} bytes"),
                "too large once compiled",
            )
            .with_help(
                "counted repetitions multiply (`\\w{100}` is 100 copies of a Unicode class); \
                 use smaller counts, `+` or `*`, or ASCII classes like `[a-z]`",
            ),
        ),
        // The parse above accepted it, so this is a case it does not see.
        Err(other) => Some(Diagnostic::error(
            codes::BAD_REGEX,
            file,
            literal.clone(),
            format!("invalid regular expression: {other}"),
            "invalid regular expression",
        )),
    }
}

/// The error's own words (without the pattern echo that `Display` adds) and
/// its byte range in the pattern.
fn describe(err: &regex_syntax::Error) -> (String, Option<std::ops::Range<usize>>) {
    match err {
        regex_syntax::Error::Parse(e) => (
            e.kind().to_string(),
            Some(e.span().start.offset..e.span().end.offset),
        ),
        regex_syntax::Error::Translate(e) => (
            e.kind().to_string(),
            Some(e.span().start.offset..e.span().end.offset),
        ),
        other => (other.to_string(), None),
    }
}

/// `range` of the pattern as a span of the source, when the literal has no
/// escapes (then its text between the quotes is the pattern byte for byte).
fn inside_literal(literal: &Span, pattern: &str, range: std::ops::Range<usize>) -> Option<Span> {
    if literal.len() != pattern.len() + 2 {
        return None;
    }
    let start = literal.start + 1 + range.start.min(pattern.len());
    // Point at least at one character (an error at the end is at the
    // closing quote).
    let end = (literal.start + 1 + range.end.min(pattern.len())).max(start + 1);
    Some(start..end.min(literal.end))
}
