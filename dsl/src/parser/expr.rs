//! Expressions: a Pratt loop over binary operators.
//!
//! Binding powers, loosest first: `or`, `and`, prefix `not`, comparisons
//! (`==` `!=` `<` `<=` `>` `>=` `in` `not in` `is [not] null`), `+ -`,
//! `* / %`, prefix `-`.

use super::{PResult, Parser, CLAUSE_KEYWORDS, ITEM_KEYWORDS};
use crate::ast::{BinaryOp, Expr, ExprKind, Ident, UnaryOp};
use crate::codes;
use crate::lexer::{unescape, TokenKind};

const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const COMPARE: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const NEG: u8 = 7;

/// Words that cannot be a field name at the start of an operand.
const RESERVED: &[&str] = &["where", "and", "or", "in", "is"];

enum Infix {
    Binary(BinaryOp),
    In { negated: bool },
    Is,
}

impl Parser<'_> {
    pub(super) fn expr(&mut self) -> PResult<Expr> {
        if self.depth == 0 {
            self.operators = 0;
        }
        self.expr_bp(0)
    }

    /// `[where COND]` after a stream name; in a pattern step (`step`), `+`,
    /// `*` and `?` after the condition are quantifiers.
    pub(super) fn where_clause(&mut self, step: bool) -> PResult<Option<Expr>> {
        if !self.at_kw("where") {
            return Ok(None);
        }
        let keyword = self.bump();
        let next = self.peek().clone();
        if next.kind == TokenKind::Eof || self.at_clause_or_item() {
            let found = self.describe(&next);
            self.report(
                codes::UNEXPECTED_TOKEN,
                format!("expected a condition after `where`, found {found}"),
                keyword.span,
                "no condition follows",
                Some(
                    "write a condition, for example `where amount > 1000`, or remove `where`"
                        .into(),
                ),
            );
            return Err(super::Recover);
        }
        let cond = if step {
            self.step_condition()?
        } else {
            self.expr()?
        };
        Ok(Some(cond))
    }

    /// A step condition: `+`, `*` and `?` that cannot continue the
    /// expression are left for the quantifier.
    pub(super) fn step_condition(&mut self) -> PResult<Expr> {
        let outer = std::mem::replace(&mut self.in_step, true);
        self.operators = 0;
        let result = self.expr_bp(0);
        self.in_step = outer;
        result
    }

    fn nested_expr(&mut self) -> PResult<Expr> {
        let outer = std::mem::replace(&mut self.in_step, false);
        let result = self.expr_bp(0);
        self.in_step = outer;
        result
    }

    fn expr_bp(&mut self, min_bp: u8) -> PResult<Expr> {
        self.nested(|p| p.expr_bp_inner(min_bp))
    }

    fn expr_bp_inner(&mut self, min_bp: u8) -> PResult<Expr> {
        let mut lhs = self.prefix()?;
        while let Some((infix, bp, width)) = self.infix() {
            if bp <= min_bp {
                break;
            }
            self.count_operator()?;
            if self.peek_kind() == TokenKind::Assign {
                let span = self.peek().span.clone();
                self.report(
                    codes::ASSIGN_AS_COMPARE,
                    "expected `==` to compare values, found `=`".into(),
                    span,
                    "use `==` here",
                    Some(
                        "`=` only links key fields in `by a.x = b.y`; comparisons use `==`".into(),
                    ),
                );
            }
            for _ in 0..width {
                self.bump();
            }
            let start = lhs.span.start;
            lhs = match infix {
                Infix::Binary(op) => {
                    let right = self.expr_bp(bp)?;
                    Expr {
                        span: start..right.span.end,
                        kind: ExprKind::Binary {
                            op,
                            left: Box::new(lhs),
                            right: Box::new(right),
                        },
                    }
                }
                Infix::In { negated } => {
                    self.expect(TokenKind::LParen, "`(` and a list of values after `in`")?;
                    let list = self.comma_list(TokenKind::RParen)?;
                    let end = self.bump().span.end;
                    Expr {
                        span: start..end,
                        kind: ExprKind::InList {
                            expr: Box::new(lhs),
                            list,
                            negated,
                        },
                    }
                }
                Infix::Is => {
                    let negated = self.at_kw("not");
                    if negated {
                        self.bump();
                    }
                    if !self.at_kw("null") {
                        return self.expected("`null` after `is`");
                    }
                    let end = self.bump().span.end;
                    Expr {
                        span: start..end,
                        kind: ExprKind::IsNull {
                            expr: Box::new(lhs),
                            negated,
                        },
                    }
                }
            };
        }
        Ok(lhs)
    }

    /// The infix operator at the cursor, its binding power and its width
    /// in tokens.
    fn infix(&self) -> Option<(Infix, u8, usize)> {
        use BinaryOp::*;
        let tok = self.peek().clone();
        let binary = |op, bp| Some((Infix::Binary(op), bp, 1));
        match tok.kind {
            TokenKind::Ident => match self.text(&tok) {
                "or" => binary(Or, OR),
                "and" => binary(And, AND),
                "in" => Some((Infix::In { negated: false }, COMPARE, 1)),
                "not" if self.nth_is_kw(1, "in") => Some((Infix::In { negated: true }, COMPARE, 2)),
                "is" => Some((Infix::Is, COMPARE, 1)),
                _ => None,
            },
            TokenKind::EqEq => binary(Eq, COMPARE),
            TokenKind::Assign => binary(Eq, COMPARE),
            TokenKind::NotEq => binary(NotEq, COMPARE),
            TokenKind::Lt => binary(Lt, COMPARE),
            TokenKind::LtEq => binary(LtEq, COMPARE),
            TokenKind::Gt => binary(Gt, COMPARE),
            TokenKind::GtEq => binary(GtEq, COMPARE),
            TokenKind::Minus => binary(Sub, ADD),
            TokenKind::Slash => binary(Div, MUL),
            TokenKind::Percent => binary(Mod, MUL),
            TokenKind::Plus if self.operator_not_quantifier() => binary(Add, ADD),
            TokenKind::Star if self.operator_not_quantifier() => binary(Mul, MUL),
            _ => None,
        }
    }

    /// In a step condition, `+` and `*` are arithmetic only when an operand
    /// follows; otherwise they quantify the step (`b: auth where x > 1 +`).
    fn operator_not_quantifier(&self) -> bool {
        if !self.in_step {
            return true;
        }
        let next = self.nth(1);
        match next.kind {
            TokenKind::Int
            | TokenKind::Float
            | TokenKind::Str
            | TokenKind::LParen
            | TokenKind::Minus => true,
            TokenKind::Ident => {
                let word = self.text(next);
                !(CLAUSE_KEYWORDS.contains(&word) || ITEM_KEYWORDS.contains(&word))
            }
            _ => false,
        }
    }

    fn prefix(&mut self) -> PResult<Expr> {
        let tok = self.peek().clone();
        let span = tok.span.clone();
        let text = self.text(&tok);
        let literal = |kind| Expr {
            kind,
            span: span.clone(),
        };
        match tok.kind {
            TokenKind::Int => {
                self.bump();
                let value = text.parse::<i64>().unwrap_or_else(|_| {
                    self.report(
                        codes::NUMBER_OUT_OF_RANGE,
                        format!("number `{text}` is too large"),
                        span.clone(),
                        "does not fit in a 64-bit integer",
                        Some("integers range up to 9223372036854775807".into()),
                    );
                    0
                });
                Ok(literal(ExprKind::Int(value)))
            }
            TokenKind::Float => {
                self.bump();
                Ok(literal(ExprKind::Float(text.parse().unwrap_or(0.0))))
            }
            TokenKind::Str => {
                self.bump();
                let (value, bad) = unescape(text);
                for offset in bad {
                    let at = span.start + offset;
                    let end = (at + 1).min(span.end);
                    self.report(
                        codes::BAD_ESCAPE,
                        "unknown escape in string".into(),
                        at.saturating_sub(1)..end,
                        "unknown escape",
                        Some("escapes are \\\" \\\\ \\n \\t \\r".into()),
                    );
                }
                Ok(literal(ExprKind::String(value)))
            }
            TokenKind::LParen => {
                self.bump();
                let mut inner = self.nested_expr()?;
                let close = self.expect(TokenKind::RParen, "`)` to close the parenthesis")?;
                inner.span = span.start..close.span.end;
                Ok(inner)
            }
            TokenKind::Minus => {
                self.bump();
                let operand = self.expr_bp(NEG)?;
                Ok(Expr {
                    span: span.start..operand.span.end,
                    kind: ExprKind::Unary {
                        op: UnaryOp::Neg,
                        expr: Box::new(operand),
                    },
                })
            }
            TokenKind::Ident => match text {
                "true" | "false" => {
                    self.bump();
                    Ok(literal(ExprKind::Bool(text == "true")))
                }
                "null" => {
                    self.bump();
                    Ok(literal(ExprKind::Null))
                }
                "not" => {
                    self.bump();
                    let operand = self.expr_bp(NOT)?;
                    Ok(Expr {
                        span: span.start..operand.span.end,
                        kind: ExprKind::Unary {
                            op: UnaryOp::Not,
                            expr: Box::new(operand),
                        },
                    })
                }
                _ if RESERVED.contains(&text)
                    || CLAUSE_KEYWORDS.contains(&text)
                    || ITEM_KEYWORDS.contains(&text) =>
                {
                    self.expected("an expression")
                }
                _ => self.path_or_call(),
            },
            _ => self.expected("an expression"),
        }
    }

    fn path_or_call(&mut self) -> PResult<Expr> {
        let first = self.ident("a name")?;
        if self.peek_kind() == TokenKind::LParen {
            self.bump();
            let args = self.comma_list(TokenKind::RParen)?;
            let end = self.bump().span.end;
            return Ok(Expr {
                span: first.span.start..end,
                kind: ExprKind::Call { func: first, args },
            });
        }
        let mut path: Vec<Ident> = vec![first];
        while self.peek_kind() == TokenKind::Dot {
            self.bump();
            path.push(self.ident("a field name after `.`")?);
        }
        let span = path[0].span.start..path.last().map_or(0, |i| i.span.end);
        Ok(Expr {
            span,
            kind: ExprKind::Path(path),
        })
    }

    /// Comma-separated expressions up to (not including) `close`.
    fn comma_list(&mut self, close: TokenKind) -> PResult<Vec<Expr>> {
        let mut items = Vec::new();
        while self.peek_kind() != close {
            items.push(self.nested_expr()?);
            match self.peek_kind() {
                TokenKind::Comma => {
                    self.bump();
                }
                k if k == close => {}
                _ => return self.expected("`,` or `)`"),
            }
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::{BinaryOp, ExprKind};
    use crate::parser::parse;

    fn filter(cond: &str) -> ExprKind {
        let text = format!("rule r from s where {cond} emit e {{ x }}");
        let (file, diags) = parse(&text, 0);
        assert!(diags.is_empty(), "{diags:?}");
        file.rules[0]
            .from
            .as_ref()
            .unwrap()
            .filter
            .as_ref()
            .unwrap()
            .kind
            .clone()
    }

    #[test]
    fn and_binds_tighter_than_or() {
        match filter("a or b and c") {
            ExprKind::Binary { op, right, .. } => {
                assert_eq!(op, BinaryOp::Or);
                assert!(matches!(
                    right.kind,
                    ExprKind::Binary {
                        op: BinaryOp::And,
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn multiplication_binds_tighter_than_comparison() {
        match filter("a * 2 > b + 1") {
            ExprKind::Binary { op, left, right } => {
                assert_eq!(op, BinaryOp::Gt);
                assert!(matches!(
                    left.kind,
                    ExprKind::Binary {
                        op: BinaryOp::Mul,
                        ..
                    }
                ));
                assert!(matches!(
                    right.kind,
                    ExprKind::Binary {
                        op: BinaryOp::Add,
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn in_list_and_is_null() {
        assert!(matches!(
            filter("c in (\"a\", \"b\")"),
            ExprKind::InList { negated: false, .. }
        ));
        assert!(matches!(
            filter("c not in (1)"),
            ExprKind::InList { negated: true, .. }
        ));
        assert!(matches!(
            filter("c is not null"),
            ExprKind::IsNull { negated: true, .. }
        ));
    }
}
