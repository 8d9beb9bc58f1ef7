//! Hand-written recursive-descent parser. It reports every error it finds
//! and returns a partial tree: a failed clause is skipped up to the next
//! clause keyword, a failed item up to the next `rule` or `stream`.

mod expr;
mod pattern;
mod rule;
mod stream;

use crate::ast::{Duration, File, Ident, Spanned};
use crate::codes;
use crate::diagnostic::{Diagnostic, Label, Severity, Span};
use crate::lexer::{self, Token, TokenKind};
use crate::limits;
use crate::suggest;

/// Words that start a rule clause.
pub const CLAUSE_KEYWORDS: &[&str] = &[
    "severity", "from", "by", "pattern", "within", "window", "having", "emit", "suppress",
];

/// Words that start a rule clause where a clause may start, but are also
/// common field names (`payments.owner`): they end no expression or emit
/// early, as the words above do.
pub const SOFT_CLAUSE_KEYWORDS: &[&str] = &["owner", "classification"];

/// Words that start a top-level item.
pub const ITEM_KEYWORDS: &[&str] = &["rule", "stream"];

/// Marks a parse failure that was already reported; the caller skips ahead.
#[derive(Debug)]
pub struct Recover;

pub type PResult<T> = Result<T, Recover>;

/// Parses one file. Always returns a tree, possibly partial.
pub fn parse(text: &str, file: usize) -> (File, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let tokens = lexer::lex(text, file, &mut diags);
    let mut parser = Parser {
        src: text,
        tokens,
        pos: 0,
        file,
        lex_errors: diags.len(),
        diags,
        in_step: false,
        depth: 0,
        operators: 0,
    };
    let tree = parser.file();
    (tree, parser.diags)
}

pub struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    file: usize,
    /// How many of `diags` came from the lexer.
    lex_errors: usize,
    diags: Vec<Diagnostic>,
    /// Inside a pattern step's condition, where `+`, `*` and `?` after a
    /// complete expression are quantifiers.
    in_step: bool,
    /// Current nesting of expressions and pattern groups, and operators in
    /// the current expression: both bounded so that the parser and the
    /// checker (both recursive) never exhaust the stack.
    depth: usize,
    operators: usize,
}

/// Deepest nesting of parentheses, groups and prefix operators.
const MAX_DEPTH: usize = 64;
/// Most binary operators in one expression.
const MAX_OPERATORS: usize = 512;

impl<'a> Parser<'a> {
    fn file(&mut self) -> File {
        let mut file = File::default();
        loop {
            let tok = self.peek().clone();
            match tok.kind {
                TokenKind::Eof => break,
                TokenKind::Ident if self.text(&tok) == "stream" => {
                    let name_tok = self.nth(1).clone();
                    if let Ok(s) = self.stream() {
                        file.streams.push(s);
                    } else {
                        if name_tok.kind == TokenKind::Ident {
                            file.broken_streams.push(self.text(&name_tok).to_string());
                        }
                        self.skip_to_item();
                    }
                }
                TokenKind::Ident if self.text(&tok) == "rule" => {
                    let errors_before = self.diags.len();
                    let start = tok.span.start;
                    let mut rule = self.rule();
                    let end = self.peek().span.start;
                    rule.had_errors =
                        self.diags.len() > errors_before || self.lex_error_within(start..end);
                    file.rules.push(rule);
                }
                _ => {
                    let found = self.describe(&tok);
                    let mut help = String::from("a rule file holds `stream NAME (...)` declarations and `rule NAME ...` rules");
                    if tok.kind == TokenKind::Ident {
                        if let Some(s) = suggest::closest(self.text(&tok), ITEM_KEYWORDS) {
                            help = format!("did you mean `{s}`?");
                        }
                    }
                    self.report(
                        codes::UNKNOWN_ITEM,
                        format!("expected `stream` or `rule`, found {found}"),
                        self.span_of(&tok),
                        "not the start of a stream or rule",
                        Some(help),
                    );
                    self.bump();
                    self.skip_to_item();
                }
            }
        }
        file
    }

    /// Whether the lexer reported an error between these offsets (its
    /// diagnostics come first, before any parse error).
    fn lex_error_within(&self, range: Span) -> bool {
        self.diags[..self.lex_errors]
            .iter()
            .filter_map(|d| d.primary_span())
            .any(|s| s.start >= range.start && s.start <= range.end)
    }

    /// Runs `f` one nesting level deeper, failing past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            let tok = self.peek().clone();
            self.report(
                codes::TOO_DEEP,
                format!("expression nested more than {MAX_DEPTH} levels deep"),
                self.span_of(&tok),
                "too deep",
                Some("split the condition, or remove redundant parentheses".into()),
            );
            return Err(Recover);
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Counts a binary operator, failing past [`MAX_OPERATORS`].
    fn count_operator(&mut self) -> PResult<()> {
        self.operators += 1;
        if self.operators == MAX_OPERATORS + 1 {
            let tok = self.peek().clone();
            self.report(
                codes::TOO_DEEP,
                format!("expression has more than {MAX_OPERATORS} operators"),
                self.span_of(&tok),
                "too long",
                Some("use `in (...)` for long lists of alternatives, or split the rule".into()),
            );
        }
        if self.operators > MAX_OPERATORS {
            return Err(Recover);
        }
        Ok(())
    }

    // ----- token access -----

    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn nth(&self, n: usize) -> &Token {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)]
    }

    fn peek_kind(&self) -> TokenKind {
        self.peek().kind
    }

    fn bump(&mut self) -> Token {
        let tok = self.peek().clone();
        if tok.kind != TokenKind::Eof {
            self.pos += 1;
        }
        tok
    }

    fn text(&self, tok: &Token) -> &'a str {
        self.src.get(tok.span.clone()).unwrap_or("")
    }

    fn at_kw(&self, kw: &str) -> bool {
        let tok = self.peek();
        tok.kind == TokenKind::Ident && self.text(tok) == kw
    }

    fn nth_is_kw(&self, n: usize, kw: &str) -> bool {
        let tok = self.nth(n);
        tok.kind == TokenKind::Ident && self.text(tok) == kw
    }

    fn at_clause_or_item(&self) -> bool {
        let tok = self.peek();
        tok.kind == TokenKind::Ident && {
            let t = self.text(tok);
            CLAUSE_KEYWORDS.contains(&t) || ITEM_KEYWORDS.contains(&t)
        }
    }

    /// The span to point at for a token; end of file points at the last
    /// character of the text, so a diagnostic never lands past the end.
    fn span_of(&self, tok: &Token) -> Span {
        if tok.kind != TokenKind::Eof {
            return tok.span.clone();
        }
        let trimmed = self.src.trim_end();
        match trimmed.char_indices().next_back() {
            Some((i, c)) => i..i + c.len_utf8(),
            None => 0..0,
        }
    }

    /// How a token reads in "found X".
    fn describe(&self, tok: &Token) -> String {
        let text = self.text(tok);
        match tok.kind {
            TokenKind::Eof => "end of file".into(),
            TokenKind::Str | TokenKind::UnterminatedStr => "a string".into(),
            TokenKind::Int | TokenKind::Float => format!("number `{text}`"),
            TokenKind::Duration => format!("duration `{text}`"),
            _ => format!("`{text}`"),
        }
    }

    // ----- errors and recovery -----

    fn report(
        &mut self,
        code: &'static str,
        message: String,
        span: Span,
        label: &str,
        help: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            code,
            severity: Severity::Error,
            message,
            file: self.file,
            labels: vec![Label {
                span,
                message: label.into(),
            }],
            help,
        });
    }

    /// Reports "expected WHAT, found <next token>" and fails.
    fn expected<T>(&mut self, what: &str) -> PResult<T> {
        self.expected_with_help(what, None)
    }

    fn expected_with_help<T>(&mut self, what: &str, help: Option<String>) -> PResult<T> {
        let tok = self.peek().clone();
        let found = self.describe(&tok);
        let label = if tok.kind == TokenKind::Eof {
            "the file ends here".to_string()
        } else {
            format!("expected {what}")
        };
        self.report(
            codes::UNEXPECTED_TOKEN,
            format!("expected {what}, found {found}"),
            self.span_of(&tok),
            &label,
            help,
        );
        Err(Recover)
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> PResult<Token> {
        if self.peek_kind() == kind {
            Ok(self.bump())
        } else {
            self.expected(what)
        }
    }

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        if self.peek_kind() == TokenKind::Ident {
            let tok = self.bump();
            Ok(Ident {
                name: self.text(&tok).to_string(),
                span: tok.span,
            })
        } else {
            self.expected(what)
        }
    }

    /// A string literal, unescaped (see `lexer::unescape`; a bad escape is
    /// kept as written: it is reported where strings are values).
    fn string(&mut self, what: &str) -> PResult<Spanned<String>> {
        if self.peek_kind() == TokenKind::Str {
            let tok = self.bump();
            let (value, _) = crate::lexer::unescape(self.text(&tok));
            Ok(Spanned {
                value,
                span: tok.span,
            })
        } else {
            self.expected(what)
        }
    }

    fn skip_to_item(&mut self) {
        while self.peek_kind() != TokenKind::Eof && !ITEM_KEYWORDS.iter().any(|k| self.at_kw(k)) {
            self.bump();
        }
    }

    fn skip_to_clause(&mut self) {
        while self.peek_kind() != TokenKind::Eof && !self.at_clause_or_item() {
            self.bump();
        }
    }

    // ----- shared pieces -----

    /// A duration such as `5m`. A bad unit or a missing unit is reported and
    /// read as 1 ms, so that the rule does not also get "missing clause".
    fn duration(&mut self) -> PResult<Spanned<Duration>> {
        let tok = self.peek().clone();
        match tok.kind {
            TokenKind::Duration => {
                self.bump();
                let text = self.text(&tok);
                let millis = self.duration_value(text, tok.span.clone()).unwrap_or(1);
                Ok(Spanned {
                    value: Duration { millis },
                    span: tok.span,
                })
            }
            TokenKind::Int => {
                self.bump();
                let text = self.text(&tok);
                self.report(
                    codes::BAD_DURATION,
                    format!("expected a duration, found number `{text}`"),
                    tok.span.clone(),
                    "this number has no unit",
                    Some(format!("durations need a unit: `{text}ms`, `{text}s`, `{text}m`, `{text}h` or `{text}d`")),
                );
                Ok(Spanned {
                    value: Duration { millis: 1 },
                    span: tok.span,
                })
            }
            _ => self.expected_with_help(
                "a duration",
                Some("write a number and a unit: `250ms`, `30s`, `5m`, `2h` or `1d`".into()),
            ),
        }
    }

    fn duration_value(&mut self, text: &str, span: Span) -> Option<i64> {
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(digits_end);
        let per_unit: i64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                let hint = suggest::duration_unit(unit)
                    .map(|u| format!("did you mean `{digits}{u}`? units are ms, s, m, h and d"))
                    .unwrap_or_else(|| "units are ms, s, m, h and d".into());
                self.report(
                    codes::BAD_DURATION,
                    format!("unknown duration unit `{unit}`"),
                    span,
                    "not a duration unit",
                    Some(hint),
                );
                return None;
            }
        };
        let value = digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per_unit));
        match value {
            None => self.report(
                codes::BAD_DURATION,
                format!("duration `{text}` is too long"),
                span,
                "out of range",
                None,
            ),
            Some(millis) if millis > limits::MAX_DURATION => self.report(
                codes::DURATION_TOO_LONG,
                format!("duration `{text}` is longer than 36500d (100 years)"),
                span,
                "too long",
                Some("event times and the times eddy derives from them must stay within the years 0000 to 9999".into()),
            ),
            Some(_) => {}
        }
        value.filter(|&millis| millis <= limits::MAX_DURATION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stream_and_a_rule() {
        let (file, diags) = parse(
            "stream a (ts timestamp, x int) time ts\nrule r from a where x > 1 emit r2 { x }",
            0,
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(file.streams.len(), 1);
        assert_eq!(file.rules.len(), 1);
        assert!(file.rules[0].emit.is_some());
    }

    #[test]
    fn reports_errors_in_two_rules() {
        let (file, diags) = parse("rule a from x where emit e { }\nrule b frm y emit e {}", 0);
        assert_eq!(file.rules.len(), 2);
        assert_eq!(diags.len(), 2, "{diags:?}");
    }
}
