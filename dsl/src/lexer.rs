//! Turns rule text into tokens with byte spans. Keywords are lexed as
//! identifiers: the parser knows which words are keywords where, so a field
//! may be called `kind` or `time`.

use logos::Logos;

use crate::codes;
use crate::diagnostic::{Diagnostic, Label, Severity, Span};

#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip r"//[^\n]*")]
pub enum TokenKind {
    #[regex("[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex("[0-9]+", priority = 3)]
    Int,
    #[regex(r"[0-9]+\.[0-9]+")]
    Float,
    /// A number glued to a word: `5m`, and also `5x` (bad unit, reported by
    /// the parser so the message can list the units).
    #[regex("[0-9]+[A-Za-z_][A-Za-z0-9_]*")]
    Duration,
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str,
    #[regex(r#""([^"\\\n]|\\[^\n])*"#)]
    UnterminatedStr,
    #[token("/*")]
    BlockCommentStart,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("->")]
    Arrow,
    #[token("|")]
    Pipe,
    #[token("?")]
    Question,
    #[token("+")]
    Plus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("-")]
    Minus,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    LtEq,
    #[token(">")]
    Gt,
    #[token(">=")]
    GtEq,
    #[token("=")]
    Assign,
    /// Only produced by the parser at the end of the tokens.
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Lexes a whole file. Lexing errors become diagnostics and the offending
/// text is skipped (an unterminated string is kept as a string token), so the
/// parser always gets a token list ending with `Eof`.
pub fn lex(text: &str, file: usize, diags: &mut Vec<Diagnostic>) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut lexer = TokenKind::lexer(text);
    while let Some(result) = lexer.next() {
        let span = lexer.span();
        match result {
            Ok(TokenKind::BlockCommentStart) => match lexer.remainder().find("*/") {
                Some(end) => lexer.bump(end + 2),
                None => {
                    diags.push(error(
                        codes::UNTERMINATED_COMMENT,
                        "unterminated block comment".into(),
                        file,
                        span,
                        "this `/*` is never closed with `*/`",
                    ));
                    lexer.bump(lexer.remainder().len());
                }
            },
            Ok(TokenKind::UnterminatedStr) => {
                diags.push(error(
                    codes::UNTERMINATED_STRING,
                    "unterminated string".into(),
                    file,
                    span.clone(),
                    "this string has no closing `\"` on its line",
                ));
                tokens.push(Token {
                    kind: TokenKind::Str,
                    span,
                });
            }
            Ok(kind) => tokens.push(Token { kind, span }),
            Err(()) => {
                let found = text[span.clone()].chars().next().unwrap_or(' ');
                let mut d = error(
                    codes::INVALID_CHARACTER,
                    format!("unexpected character `{}`", found.escape_debug()),
                    file,
                    span,
                    "no token starts with this character",
                );
                d.help = match found {
                    '!' => Some("`!=` means not equal; to negate a condition write `not`".into()),
                    '&' => Some("write `and` to combine conditions".into()),
                    '\'' => Some("strings use double quotes: \"text\"".into()),
                    '#' => Some("comments start with `//`".into()),
                    _ => None,
                };
                diags.push(d);
            }
        }
    }
    let end = text.len();
    tokens.push(Token {
        kind: TokenKind::Eof,
        span: end..end,
    });
    tokens
}

fn error(code: &'static str, message: String, file: usize, span: Span, label: &str) -> Diagnostic {
    Diagnostic {
        code,
        severity: Severity::Error,
        message,
        file,
        labels: vec![Label {
            span,
            message: label.into(),
        }],
        help: None,
    }
}

/// Decodes the text of a string token (with its quotes), reporting unknown
/// escapes as the offset of the backslash within the token.
pub fn unescape(raw: &str) -> (String, Vec<usize>) {
    let inner = raw.strip_prefix('"').unwrap_or(raw);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut bad = Vec::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, '"')) => out.push('"'),
            Some((_, other)) => {
                bad.push(i + 1);
                out.push(other);
            }
            None => bad.push(i + 1),
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut diags = Vec::new();
        lex(text, 0, &mut diags)
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn durations_are_one_token() {
        use TokenKind::*;
        assert_eq!(kinds("250ms 5m 10"), vec![Duration, Duration, Int, Eof]);
    }

    #[test]
    fn comments_are_skipped() {
        use TokenKind::*;
        assert_eq!(kinds("a // x\n /* y \n z */ b"), vec![Ident, Ident, Eof]);
    }

    #[test]
    fn unterminated_string_is_reported_and_kept() {
        let mut diags = Vec::new();
        let toks = lex("\"abc\nx", 0, &mut diags);
        assert_eq!(toks[0].kind, TokenKind::Str);
        assert_eq!(diags[0].code, codes::UNTERMINATED_STRING);
    }

    #[test]
    fn arrow_and_minus() {
        use TokenKind::*;
        assert_eq!(
            kinds("a->b - c"),
            vec![Ident, Arrow, Ident, Minus, Ident, Eof]
        );
    }

    #[test]
    fn unescape_handles_quotes() {
        assert_eq!(unescape(r#""a\"b\n""#), ("a\"b\n".to_string(), vec![]));
        assert_eq!(unescape(r#""a\qb""#).1, vec![2]);
    }
}
