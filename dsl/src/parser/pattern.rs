//! Patterns: `a | b` (loosest), `a -> b`, then `not X`, `( ... )`,
//! `all(a, b)` and steps, each optionally quantified.

use super::{PResult, Parser};
use crate::ast::{Pattern, PatternKind, Quantifier, Spanned, StepDecl};
use crate::codes;
use crate::lexer::TokenKind;
use crate::suggest;

impl Parser<'_> {
    pub(super) fn pattern(&mut self) -> PResult<Pattern> {
        self.nested(Self::alternation)
    }

    fn alternation(&mut self) -> PResult<Pattern> {
        let first = self.sequence()?;
        if self.peek_kind() != TokenKind::Pipe {
            return Ok(first);
        }
        let mut alternatives = vec![first];
        while self.peek_kind() == TokenKind::Pipe {
            self.bump();
            alternatives.push(self.sequence()?);
        }
        Ok(Self::combine(alternatives, PatternKind::Alt))
    }

    fn sequence(&mut self) -> PResult<Pattern> {
        let mut terms = vec![self.term()?];
        loop {
            if self.peek_kind() == TokenKind::Arrow {
                self.bump();
            } else if self.forgotten_arrow() {
                // `a: x  b: y`: a forgotten arrow; report it and read on.
                let tok = self.peek().clone();
                let found = self.describe(&tok);
                self.report(
                    codes::UNEXPECTED_TOKEN,
                    format!("expected `->` between pattern steps, found {found}"),
                    tok.span,
                    "a new step starts here",
                    Some("steps follow each other with `->`: `a: auth -> b: payments`".into()),
                );
            } else {
                break;
            }
            terms.push(self.term()?);
        }
        if terms.len() == 1 {
            return Ok(terms.pop().expect("one term"));
        }
        Ok(Self::combine(terms, PatternKind::Seq))
    }

    /// After a pattern term only `->`, `|`, `)`, `,` or a clause may come;
    /// a word that is not (nearly) a clause keyword starts another step.
    fn forgotten_arrow(&self) -> bool {
        let tok = self.peek();
        if tok.kind != TokenKind::Ident || self.at_clause_or_item() {
            return false;
        }
        let word = self.text(tok);
        self.nth(1).kind == TokenKind::Colon
            || (word != "where" && suggest::closest(word, super::CLAUSE_KEYWORDS).is_none())
    }

    fn combine(parts: Vec<Pattern>, make: fn(Vec<Pattern>) -> PatternKind) -> Pattern {
        let start = parts.first().map_or(0, |p| p.span.start);
        let end = parts.last().map_or(start, |p| p.span.end);
        Pattern {
            kind: make(parts),
            span: start..end,
        }
    }

    fn term(&mut self) -> PResult<Pattern> {
        let node = if self.at_kw("not") {
            let keyword = self.bump().span;
            let inner = self.primary()?;
            Pattern {
                span: keyword.start..inner.span.end,
                kind: PatternKind::Not(Box::new(inner), keyword),
            }
        } else {
            self.primary()?
        };
        match self.quantifier()? {
            Some(quantifier) => Ok(Pattern {
                span: node.span.start..quantifier.span.end,
                kind: PatternKind::Repeat {
                    inner: Box::new(node),
                    quantifier,
                },
            }),
            None => Ok(node),
        }
    }

    fn primary(&mut self) -> PResult<Pattern> {
        match self.peek_kind() {
            TokenKind::LParen => {
                let open = self.bump().span;
                let inner = self.pattern()?;
                let close = self.expect(TokenKind::RParen, "`)` to close the group")?;
                Ok(Pattern {
                    span: open.start..close.span.end,
                    kind: PatternKind::Group(Box::new(inner)),
                })
            }
            TokenKind::Ident if self.at_kw("all") && self.nth(1).kind == TokenKind::LParen => {
                let start = self.bump().span.start;
                self.bump();
                let mut members = Vec::new();
                while self.peek_kind() != TokenKind::RParen {
                    members.push(self.pattern()?);
                    match self.peek_kind() {
                        TokenKind::Comma => {
                            self.bump();
                        }
                        TokenKind::RParen => {}
                        _ => return self.expected("`,` or `)` in `all(...)`"),
                    }
                }
                let end = self.bump().span.end;
                Ok(Pattern {
                    span: start..end,
                    kind: PatternKind::All(members),
                })
            }
            TokenKind::Ident if !self.at_clause_or_item() => self.step(),
            _ => self.expected_with_help(
                "a pattern step",
                Some("a step is `name: stream where condition`, for example `f: auth where kind == \"login_failed\"`".into()),
            ),
        }
    }

    fn step(&mut self) -> PResult<Pattern> {
        let name = if self.nth(1).kind == TokenKind::Colon {
            let name = self.ident("a step name")?;
            self.bump();
            Some(name)
        } else {
            None
        };
        if self.at_kw("not") {
            let tok = self.peek().clone();
            let step = name.as_ref().map_or("n", |n| n.name.as_str());
            self.report(
                codes::UNEXPECTED_TOKEN,
                "expected a stream name, found `not`".into(),
                tok.span,
                "`not` goes before the step name",
                Some(format!("write `not {step}: STREAM`")),
            );
            return Err(super::Recover);
        }
        let stream = self.ident("a stream name")?;
        let start = name.as_ref().map_or(stream.span.start, |n| n.span.start);
        let mut end = stream.span.end;
        let filter = self.where_clause(true)?;
        if let Some(cond) = &filter {
            end = cond.span.end;
        }
        Ok(Pattern {
            span: start..end,
            kind: PatternKind::Step(StepDecl {
                name,
                stream,
                filter,
            }),
        })
    }

    fn quantifier(&mut self) -> PResult<Option<Spanned<Quantifier>>> {
        let tok = self.peek().clone();
        let simple = |min, max| Quantifier { min, max };
        let value = match tok.kind {
            TokenKind::Question => simple(0, Some(1)),
            TokenKind::Plus => simple(1, None),
            TokenKind::Star => simple(0, None),
            TokenKind::LBrace => return self.braced_quantifier().map(Some),
            _ => return Ok(None),
        };
        self.bump();
        Ok(Some(Spanned {
            value,
            span: tok.span,
        }))
    }

    /// `{n}`, `{n,}` or `{n,m}`; the checker validates the bounds.
    fn braced_quantifier(&mut self) -> PResult<Spanned<Quantifier>> {
        let start = self.bump().span.start;
        let min = self.count()?;
        let max = if self.peek_kind() == TokenKind::Comma {
            self.bump();
            if self.peek_kind() == TokenKind::RBrace {
                None
            } else {
                Some(self.count()?)
            }
        } else {
            Some(min)
        };
        let end = self
            .expect(TokenKind::RBrace, "`}` to close the quantifier")?
            .span
            .end;
        Ok(Spanned {
            value: Quantifier { min, max },
            span: start..end,
        })
    }

    fn count(&mut self) -> PResult<u32> {
        if self.peek_kind() != TokenKind::Int {
            return self.expected_with_help(
                "a repeat count",
                Some("quantifiers are `{n}`, `{n,}` or `{n,m}` with whole numbers".into()),
            );
        }
        let tok = self.bump();
        match self.text(&tok).parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => {
                self.report(
                    codes::BAD_QUANTIFIER,
                    "repeat count is too large".into(),
                    tok.span,
                    "at most 4294967295",
                    None,
                );
                Ok(u32::MAX)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::PatternKind;
    use crate::parser::parse;

    fn pattern(text: &str) -> PatternKind {
        let src = format!("rule r pattern {text} within 1m emit e {{ x }}");
        let (file, diags) = parse(&src, 0);
        assert!(diags.is_empty(), "{diags:?}");
        file.rules[0].pattern.as_ref().unwrap().pattern.kind.clone()
    }

    #[test]
    fn plus_after_condition_is_a_quantifier() {
        match pattern("b: auth where x > 1 + -> c: auth") {
            PatternKind::Seq(parts) => assert!(matches!(parts[0].kind, PatternKind::Repeat { .. })),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plus_between_operands_is_addition() {
        match pattern("b: auth where x > 1 + y") {
            PatternKind::Step(step) => assert!(step.filter.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn braces_after_condition_are_a_quantifier() {
        assert!(matches!(
            pattern("f: auth where kind == \"x\" {3,}"),
            PatternKind::Repeat { .. }
        ));
    }

    #[test]
    fn alternation_is_loosest() {
        match pattern("a -> b | c") {
            PatternKind::Alt(parts) => assert!(matches!(parts[0].kind, PatternKind::Seq(_))),
            other => panic!("{other:?}"),
        }
    }
}
