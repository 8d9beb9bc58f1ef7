//! `stream NAME ( field type[?], ... ) time FIELD lateness DURATION ahead DURATION`

use super::{PResult, Parser};
use crate::ast::{FieldDecl, StreamDecl, TypeExpr};
use crate::lexer::TokenKind;

impl Parser<'_> {
    pub(super) fn stream(&mut self) -> PResult<StreamDecl> {
        self.bump(); // `stream`
        let name = self.ident("a stream name")?;
        let fields = self.field_list()?;
        let mut decl = StreamDecl {
            name,
            fields,
            time: None,
            lateness: None,
            ahead: None,
        };
        loop {
            if self.at_kw("time") {
                self.bump();
                decl.time = Some(self.ident("the name of the event-time field")?);
            } else if self.at_kw("lateness") {
                self.bump();
                decl.lateness = Some(self.duration()?.value);
            } else if self.at_kw("ahead") {
                self.bump();
                decl.ahead = Some(self.duration()?.value);
            } else {
                break;
            }
        }
        if !matches!(self.peek_kind(), TokenKind::Eof)
            && !self.at_kw("rule")
            && !self.at_kw("stream")
        {
            return self.expected("`time`, `lateness`, `ahead`, or the next `stream` or `rule`");
        }
        Ok(decl)
    }

    /// `( name type, ... )`, shared by streams and nested records.
    fn field_list(&mut self) -> PResult<Vec<FieldDecl>> {
        self.expect(TokenKind::LParen, "`(` and the stream's fields")?;
        let mut fields = Vec::new();
        while self.peek_kind() != TokenKind::RParen {
            let name = self.ident("a field name")?;
            let ty = if self.peek_kind() == TokenKind::LParen {
                TypeExpr::Record(self.field_list()?)
            } else {
                TypeExpr::Named(self.ident("a type (string, int, float, bool, timestamp)")?)
            };
            let nullable = if self.peek_kind() == TokenKind::Question {
                self.bump();
                true
            } else {
                false
            };
            fields.push(FieldDecl { name, ty, nullable });
            match self.peek_kind() {
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::RParen => {}
                _ => return self.expected("`,` or `)` after a field"),
            }
        }
        self.bump(); // `)`
        Ok(fields)
    }
}
