//! Diagnostics are plain data: a stable code, a message, labelled spans and
//! a hint. Rendering them is the caller's business (see `render`).

use std::ops::Range;

/// Byte offsets into one source file.
pub type Span = Range<usize>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable, documented code, for example `E0101`.
    pub code: &'static str,
    pub severity: Severity,
    /// "expected X, found Y" where that form fits.
    pub message: String,
    /// Index into the sources handed to `compile`.
    pub file: usize,
    /// The primary label first.
    pub labels: Vec<Label>,
    /// A hint: a did-you-mean, the fields of the stream, the expected type.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with its primary label.
    pub fn error(
        code: &'static str,
        file: usize,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            file,
            labels: vec![Label {
                span,
                message: label.into(),
            }],
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// The primary label's span, if any.
    pub fn primary_span(&self) -> Option<&Span> {
        self.labels.first().map(|l| &l.span)
    }
}
