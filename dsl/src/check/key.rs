//! `by`: the partition key, resolved in every stream the rule reads.

use crate::ast::{ByClause, Ident, KeyDecl};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::plan::{DataType, KeyPart, KeyPlan, StreamPlan};

use super::catalog::{self, type_name};

/// A stream the rule reads; `None` when its schema is unknown (reported).
pub type Input<'a> = (&'a str, Option<&'a StreamPlan>);

pub fn resolve(
    file: usize,
    by: &ByClause,
    inputs: &[Input],
    diags: &mut Vec<Diagnostic>,
) -> Option<KeyPlan> {
    let mut parts: Vec<KeyPart> = Vec::new();
    let mut ok = true;
    for decl in &by.keys {
        match key_part(file, decl, inputs, diags) {
            Some(part) => {
                if parts.iter().any(|p| p.name == part.name) {
                    diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_KEY,
                            file,
                            decl.span.clone(),
                            format!("key `{}` appears twice in `by`", part.name),
                            "repeated key",
                        )
                        .with_help("list each key once"),
                    );
                    ok = false;
                } else {
                    parts.push(part);
                }
            }
            None => ok = false,
        }
    }
    ok.then_some(KeyPlan { parts })
}

fn key_part(
    file: usize,
    decl: &KeyDecl,
    inputs: &[Input],
    diags: &mut Vec<Diagnostic>,
) -> Option<KeyPart> {
    let before = diags.len();
    // Explicit `stream.path` links, for `by a.x = b.y`.
    let mut explicit: Vec<(&str, &[Ident])> = Vec::new();
    if decl.paths.len() > 1 {
        for path in &decl.paths {
            let head = &path[0];
            if !inputs.iter().any(|(name, _)| *name == head.name) {
                let read: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_STREAM,
                        file,
                        head.span.clone(),
                        format!("`{}` is not a stream this rule reads", head.name),
                        "expected a stream name",
                    )
                    .with_help(format!(
                        "in `by a.x = b.y` each side is `stream.field`; this rule reads: {}",
                        read.join(", ")
                    )),
                );
                continue;
            }
            if path.len() < 2 {
                diags.push(
                    Diagnostic::error(
                        codes::UNEXPECTED_TOKEN,
                        file,
                        head.span.clone(),
                        format!("expected `{}.field`, found only the stream name", head.name),
                        "which field of this stream?",
                    )
                    .with_help("each side of `=` in `by` is `stream.field`"),
                );
                continue;
            }
            explicit.push((&head.name, &path[1..]));
        }
    }
    if diags.len() > before {
        return None;
    }
    let default_path: &[Ident] = if decl.paths.len() > 1 {
        &decl.paths[0][1..]
    } else {
        &decl.paths[0]
    };
    let name = default_path.last()?.name.clone();
    let mut per_stream = Vec::new();
    let mut first_typed: Option<(&str, DataType)> = None;
    for (stream_name, plan) in inputs {
        let path = explicit
            .iter()
            .find(|(s, _)| s == stream_name)
            .map_or(default_path, |(_, p)| *p);
        let Some(plan) = plan else { continue };
        match catalog::resolve_path(file, plan, path) {
            Ok((names, ty)) => {
                match &first_typed {
                    Some((first_stream, first_ty)) if *first_ty != ty => {
                        diags.push(
                            Diagnostic::error(
                                codes::KEY_TYPE_MISMATCH,
                                file,
                                decl.span.clone(),
                                format!(
                                    "key `{name}` is {} in `{first_stream}` but {} in `{stream_name}`",
                                    type_name(first_ty),
                                    type_name(&ty)
                                ),
                                "key fields must have one type",
                            )
                            .with_help("key on fields of the same type in every stream"),
                        );
                    }
                    None => first_typed = Some((stream_name, ty)),
                    _ => {}
                }
                per_stream.push((stream_name.to_string(), names));
            }
            Err(_) if decl.paths.len() == 1 || !explicit.iter().any(|(s, _)| s == stream_name) => {
                let shown = path
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                let fields: Vec<&str> = plan.fields.iter().map(|f| f.name.as_str()).collect();
                let other = inputs
                    .iter()
                    .map(|(n, _)| *n)
                    .find(|n| n != stream_name)
                    .unwrap_or("a");
                diags.push(
                    Diagnostic::error(
                        codes::KEY_FIELD_MISSING,
                        file,
                        decl.span.clone(),
                        format!("key field `{shown}` is missing from stream `{stream_name}`"),
                        format!("`{stream_name}` has no field `{shown}`"),
                    )
                    .with_help(match crate::suggest::closest(&shown, fields.iter()) {
                        Some(close) if inputs.len() == 1 => format!("did you mean `{close}`? fields of `{stream_name}`: {}", fields.join(", ")),
                        _ if inputs.len() == 1 => format!("fields of `{stream_name}`: {}", fields.join(", ")),
                        _ => format!(
                            "if `{stream_name}` holds the key under another name, link them: `by {other}.{shown} = {stream_name}.<field>`; fields of `{stream_name}`: {}",
                            fields.join(", ")
                        ),
                    }),
                );
            }
            Err(d) => diags.push(d),
        }
    }
    if diags.len() > before {
        return None;
    }
    let ty = first_typed.map_or(DataType::Null, |(_, t)| t);
    if let DataType::Record(fields) = &ty {
        let example = fields.first().map_or("field", |f| f.name.as_str());
        diags.push(
            Diagnostic::error(
                codes::KEY_TYPE_MISMATCH,
                file,
                decl.span.clone(),
                format!("expected a key of a plain type, found record `{name}`"),
                "a record cannot be a key",
            )
            .with_help(format!(
                "key on one of its fields, like `by {name}.{example}`"
            )),
        );
        return None;
    }
    Some(KeyPart {
        name,
        ty,
        per_stream,
    })
}
