//! `rule NAME` and its clauses, in any order, each at most once.

use super::{PResult, Parser, CLAUSE_KEYWORDS, SOFT_CLAUSE_KEYWORDS};
use crate::ast::{
    ByClause, EmitDecl, EmitFieldDecl, FromClause, KeyDecl, PatternClause, RuleDecl, Spanned,
    WindowDecl,
};
use crate::codes;
use crate::lexer::TokenKind;
use crate::suggest;

impl Parser<'_> {
    pub(super) fn rule(&mut self) -> RuleDecl {
        let keyword = self.bump();
        let mut rule = RuleDecl {
            head: keyword.span.clone(),
            ..RuleDecl::default()
        };
        match self.ident("a rule name") {
            Ok(name) => {
                rule.head = keyword.span.start..name.span.end;
                rule.name = Some(name);
            }
            Err(_) => self.skip_to_clause(),
        }
        loop {
            let tok = self.peek().clone();
            let word = if tok.kind == TokenKind::Ident {
                self.text(&tok)
            } else {
                ""
            };
            if tok.kind == TokenKind::Eof || word == "rule" || word == "stream" {
                rule.end = Some((self.describe(&tok), self.span_of(&tok)));
                break;
            }
            let Some(clause) = CLAUSE_KEYWORDS
                .iter()
                .chain(SOFT_CLAUSE_KEYWORDS)
                .find(|k| **k == word)
            else {
                self.unknown_clause();
                continue;
            };
            rule.written.push(clause);
            if self.clause_already_present(&rule, word) {
                self.report(
                    codes::DUPLICATE_CLAUSE,
                    format!("`{word}` appears twice in this rule"),
                    tok.span.clone(),
                    &format!("second `{word}`"),
                    Some(format!("a rule has at most one `{word}` clause")),
                );
                // Parse it anyway to find the errors inside, then drop it.
                let mut scratch = RuleDecl::default();
                if self.clause(&mut scratch, word).is_err() {
                    self.skip_to_clause();
                }
                continue;
            }
            if self.clause(&mut rule, word).is_err() {
                self.skip_to_clause();
            }
        }
        rule
    }

    fn unknown_clause(&mut self) {
        let tok = self.peek().clone();
        let found = self.describe(&tok);
        let mut help =
            "clauses are: severity, owner, classification, from, by, pattern, within, window, \
             having, emit, suppress"
                .to_string();
        if tok.kind == TokenKind::Ident {
            let text = self.text(&tok);
            let mut words = CLAUSE_KEYWORDS.to_vec();
            words.extend(SOFT_CLAUSE_KEYWORDS);
            words.push("where");
            if let Some(s) = suggest::closest(text, words.iter()) {
                help = format!("did you mean `{s}`?");
            } else if text == "where" {
                help = "`where` goes right after `from STREAM` or after a pattern step's stream"
                    .into();
            }
        } else if tok.kind == TokenKind::Assign || tok.kind == TokenKind::EqEq {
            help = "comparisons belong in a `where` or `having` condition".into();
        }
        self.report(
            codes::UNKNOWN_CLAUSE,
            format!("expected a clause keyword, found {found}"),
            self.span_of(&tok),
            "expected `from`, `by`, `pattern`, `within`, `emit`, ...",
            Some(help),
        );
        self.bump();
        self.skip_to_clause();
    }

    fn clause_already_present(&self, rule: &RuleDecl, word: &str) -> bool {
        match word {
            "severity" => rule.severity.is_some(),
            "owner" => rule.owner.is_some(),
            "classification" => rule.classification.is_some(),
            "from" => rule.from.is_some(),
            "by" => rule.by.is_some(),
            "pattern" => rule.pattern.is_some(),
            "within" => rule.within.is_some(),
            "window" => rule.window.is_some(),
            "having" => rule.having.is_some(),
            "emit" => rule.emit.is_some(),
            "suppress" => rule.suppress.is_some(),
            _ => false,
        }
    }

    fn clause(&mut self, rule: &mut RuleDecl, word: &str) -> PResult<()> {
        let keyword = self.bump().span;
        match word {
            "severity" => {
                rule.severity = Some(self.ident("a severity (low, medium, high or critical)")?)
            }
            "owner" => {
                rule.owner = Some(self.string("the owning team in quotes, like \"fraud-ops\"")?)
            }
            "classification" => {
                rule.classification =
                    Some(self.ident("a classification (public, internal or restricted)")?)
            }
            "from" => {
                let stream = self.ident("a stream name after `from`")?;
                let filter = self.where_clause(false)?;
                rule.from = Some(FromClause {
                    keyword,
                    stream,
                    filter,
                });
            }
            "by" => {
                let mut keys = vec![self.key()?];
                while self.peek_kind() == TokenKind::Comma {
                    self.bump();
                    keys.push(self.key()?);
                }
                rule.by = Some(ByClause { keyword, keys });
            }
            "pattern" => {
                let pattern = self.pattern()?;
                let next = self.peek().clone();
                rule.pattern = Some(PatternClause {
                    keyword,
                    pattern,
                    next: (self.describe(&next), self.span_of(&next)),
                });
            }
            "within" => rule.within = Some(self.duration()?),
            "window" => {
                let start = keyword.start;
                let value = if self.at_kw("session") {
                    self.bump();
                    WindowDecl::Session(self.duration()?.value)
                } else {
                    let size = self.duration()?.value;
                    if self.at_kw("every") {
                        self.bump();
                        WindowDecl::Hopping(size, self.duration()?.value)
                    } else {
                        WindowDecl::Tumbling(size)
                    }
                };
                let end = self.tokens[self.pos.saturating_sub(1)].span.end;
                rule.window = Some(Spanned {
                    value,
                    span: start..end.max(start),
                });
            }
            "having" => {
                let expr = self.expr()?;
                rule.having = Some(Spanned {
                    span: keyword,
                    value: expr,
                });
            }
            "emit" => rule.emit = Some(self.emit(keyword)?),
            "suppress" => rule.suppress = Some(self.duration()?),
            _ => {}
        }
        Ok(())
    }

    /// `path` or `path = path [= path ...]`.
    fn key(&mut self) -> PResult<KeyDecl> {
        let mut paths = vec![self.path("a key field")?];
        while self.peek_kind() == TokenKind::Assign || self.peek_kind() == TokenKind::EqEq {
            self.bump();
            paths.push(self.path("a `stream.field` after `=`")?);
        }
        let start = paths[0][0].span.start;
        let end = paths
            .last()
            .and_then(|p| p.last())
            .map_or(start, |i| i.span.end);
        Ok(KeyDecl {
            paths,
            span: start..end,
        })
    }

    fn path(&mut self, what: &str) -> PResult<Vec<crate::ast::Ident>> {
        let mut path = vec![self.ident(what)?];
        while self.peek_kind() == TokenKind::Dot {
            self.bump();
            path.push(self.ident("a field name after `.`")?);
        }
        Ok(path)
    }

    fn emit(&mut self, keyword: crate::diagnostic::Span) -> PResult<EmitDecl> {
        let name = self.ident("the name of the derived event after `emit`")?;
        self.expect_with_help(
            TokenKind::LBrace,
            "`{` after the emit name",
            "emit lists its fields in braces: `emit NAME { field, name: expr }`",
        )?;
        let mut fields = Vec::new();
        while !matches!(self.peek_kind(), TokenKind::RBrace | TokenKind::Eof) {
            if self.at_clause_or_item() && self.nth(1).kind != TokenKind::Colon {
                break;
            }
            match self.emit_field() {
                Ok(field) => fields.push(field),
                Err(_) => self.skip_emit_field(),
            }
            match self.peek_kind() {
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::RBrace => {}
                _ => {
                    let _ = self.expected::<()>("`,` or `}` after an emitted field");
                    self.skip_emit_field();
                    if self.peek_kind() == TokenKind::Comma {
                        self.bump();
                    }
                }
            }
        }
        self.expect(TokenKind::RBrace, "`}` to close the emit")?;
        Ok(EmitDecl {
            keyword,
            name,
            fields,
        })
    }

    fn emit_field(&mut self) -> PResult<EmitFieldDecl> {
        let name = if self.peek_kind() == TokenKind::Ident && self.nth(1).kind == TokenKind::Colon {
            let name = self.ident("a field name")?;
            self.bump(); // `:`
            Some(name)
        } else {
            None
        };
        let expr = self.expr()?;
        Ok(EmitFieldDecl { name, expr })
    }

    /// Skips to the `,` or `}` that ends the current emitted field.
    fn skip_emit_field(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek_kind() {
                TokenKind::Eof => return,
                TokenKind::LParen | TokenKind::LBrace => depth += 1,
                TokenKind::RParen => depth = depth.saturating_sub(1),
                TokenKind::RBrace if depth == 0 => return,
                TokenKind::RBrace => depth -= 1,
                TokenKind::Comma if depth == 0 => return,
                TokenKind::Ident
                    if depth == 0
                        && self.at_clause_or_item()
                        && self.nth(1).kind != TokenKind::Colon =>
                {
                    return
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn expect_with_help(&mut self, kind: TokenKind, what: &str, help: &str) -> PResult<()> {
        if self.peek_kind() == kind {
            self.bump();
            Ok(())
        } else {
            self.expected_with_help(what, Some(help.into()))
        }
    }
}
