//! `emit NAME { a, b: expr }` and the derived stream it defines.

use crate::ast::{EmitDecl, ExprKind as AstExpr};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::plan::{DataType, EmitField, EmitPlan, Field, DERIVED_TIME_FIELD};

use super::catalog::type_name;
use super::expr::ExprChecker;

pub fn check_emit(checker: &mut ExprChecker, emit: &EmitDecl) -> Option<EmitPlan> {
    let file = checker.file;
    let mut fields: Vec<EmitField> = Vec::new();
    let mut ok = true;
    for decl in &emit.fields {
        let name = match (&decl.name, &decl.expr.kind) {
            (Some(name), _) => Some((name.name.clone(), name.span.clone())),
            (None, AstExpr::Path(path)) if path.len() == 1 => {
                Some((path[0].name.clone(), path[0].span.clone()))
            }
            (None, AstExpr::Path(path)) => {
                let last = path.last().map_or("x", |i| i.name.as_str());
                let text = path
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                checker.diags.push(
                    Diagnostic::error(
                        codes::EMIT_NEEDS_NAME,
                        file,
                        decl.expr.span.clone(),
                        format!("expected a name for the emitted field `{text}`"),
                        "needs a name",
                    )
                    .with_help(format!("write `{last}: {text}`")),
                );
                None
            }
            (None, _) => {
                checker.diags.push(
                    Diagnostic::error(
                        codes::EMIT_NEEDS_NAME,
                        file,
                        decl.expr.span.clone(),
                        "expected a name for this emitted value",
                        "needs a name",
                    )
                    .with_help("write `name: expression`, for example `attempts: count()`"),
                );
                None
            }
        };
        let expr = checker.check(&decl.expr);
        let (Some((name, span)), Some(expr)) = (name, expr) else {
            ok = false;
            continue;
        };
        if name == DERIVED_TIME_FIELD || name.starts_with("__") {
            checker.diags.push(
                Diagnostic::error(
                    codes::RESERVED_NAME,
                    file,
                    span,
                    format!("`{name}` cannot be an emitted field name"),
                    "reserved name",
                )
                .with_help(if name == DERIVED_TIME_FIELD {
                    "every derived event gets a `time` field (when the match completed); name this field differently"
                } else {
                    "names starting with `__` are reserved for the engine"
                }),
            );
            ok = false;
            continue;
        }
        if fields.iter().any(|f| f.name == name) {
            checker.diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_EMIT_FIELD,
                    file,
                    span,
                    format!("field `{name}` is emitted twice"),
                    "second field with this name",
                )
                .with_help("give each emitted field its own name"),
            );
            ok = false;
            continue;
        }
        fields.push(EmitField { name, expr });
    }
    ok.then(|| EmitPlan {
        name: emit.name.name.clone(),
        fields,
    })
}

/// The fields of the stream an emit defines: the emitted fields (nullable,
/// since an aggregate over nothing or a null input gives null) and `time`.
pub fn derived_fields(emit: &EmitPlan) -> Vec<Field> {
    let mut fields: Vec<Field> = emit
        .fields
        .iter()
        .map(|f| Field {
            name: f.name.clone(),
            ty: f.expr.ty.clone(),
            nullable: true,
        })
        .collect();
    fields.push(Field {
        name: DERIVED_TIME_FIELD.into(),
        ty: DataType::Timestamp,
        nullable: false,
    });
    fields
}

/// "a int, b string" for messages about derived streams.
pub fn describe_fields(fields: &[Field]) -> String {
    fields
        .iter()
        .filter(|f| f.name != DERIVED_TIME_FIELD)
        .map(|f| format!("{} {}", f.name, type_name(&f.ty)))
        .collect::<Vec<_>>()
        .join(", ")
}
