//! Declared streams become `StreamPlan`s; field paths are resolved against
//! them.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::ast::{self, FieldDecl, TypeExpr};
use crate::codes;
use crate::diagnostic::{Diagnostic, Span};
use crate::plan::{DataType, Field, StreamPlan, DEFAULT_AHEAD};
use crate::suggest;

const TYPE_NAMES: &[&str] = &["string", "int", "float", "bool", "timestamp"];

/// What a stream name refers to while rules are being checked.
pub enum Lookup<'a> {
    Found(&'a StreamPlan),
    /// A stream that exists but whose schema is unknown because of an
    /// earlier error (already reported): say nothing more.
    Broken,
    Unknown,
}

/// Every stream visible to the rules, and where declared streams were written.
#[derive(Default)]
pub struct StreamEnv {
    pub declared: Vec<StreamPlan>,
    pub derived: Vec<StreamPlan>,
    /// Declared in a stream that did not parse, or emitted by a rule that
    /// did not check.
    pub broken: HashSet<String>,
    /// Names emitted by some rule (known before any rule is checked).
    pub emitted: BTreeSet<String>,
}

impl StreamEnv {
    pub fn lookup(&self, name: &str) -> Lookup<'_> {
        if let Some(s) = self
            .declared
            .iter()
            .chain(&self.derived)
            .find(|s| s.name == name)
        {
            return Lookup::Found(s);
        }
        if self.broken.contains(name) || self.emitted.contains(name) {
            return Lookup::Broken;
        }
        Lookup::Unknown
    }

    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.declared.iter().map(|s| s.name.as_str()).collect();
        names.extend(self.emitted.iter().map(String::as_str));
        names
    }

    /// Reports an unknown stream with a did-you-mean.
    pub fn unknown_stream(&self, file: usize, name: &ast::Ident) -> Diagnostic {
        let names = self.names();
        let help = match suggest::closest(&name.name, names.iter()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if names.is_empty() => {
                "no streams are declared; declare one with `stream NAME (...) time FIELD`".into()
            }
            None => {
                let mut sorted = names.clone();
                sorted.sort_unstable();
                format!("known streams: {}", sorted.join(", "))
            }
        };
        Diagnostic::error(
            codes::UNKNOWN_STREAM,
            file,
            name.span.clone(),
            format!("unknown stream `{}`", name.name),
            "no stream has this name",
        )
        .with_help(help)
    }
}

/// Checks the declared streams of all files, in order.
pub fn declare_streams(files: &[(usize, &ast::File)], diags: &mut Vec<Diagnostic>) -> StreamEnv {
    let mut env = StreamEnv::default();
    let mut seen: HashMap<String, Span> = HashMap::new();
    for (file, tree) in files {
        env.broken.extend(tree.broken_streams.iter().cloned());
        for decl in &tree.streams {
            if let Some(first) = seen.get(&decl.name.name) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        *file,
                        decl.name.span.clone(),
                        format!("stream `{}` is declared twice", decl.name.name),
                        "declared again here",
                    )
                    .with_help("give each stream its own name")
                    .with_secondary_in_same_file(*file, first),
                );
                continue;
            }
            seen.insert(decl.name.name.clone(), decl.name.span.clone());
            match stream_plan(*file, decl, diags) {
                Some(plan) => env.declared.push(plan),
                None => {
                    env.broken.insert(decl.name.name.clone());
                }
            }
        }
    }
    env
}

trait SecondaryLabel {
    fn with_secondary_in_same_file(self, file: usize, span: &Span) -> Self;
}

impl SecondaryLabel for Diagnostic {
    /// Labels the first declaration (only when it is in the same file,
    /// since a diagnostic's labels all point into one file).
    fn with_secondary_in_same_file(self, file: usize, span: &Span) -> Self {
        if self.file == file {
            self.with_label(span.clone(), "first declared here")
        } else {
            self
        }
    }
}

fn stream_plan(
    file: usize,
    decl: &ast::StreamDecl,
    diags: &mut Vec<Diagnostic>,
) -> Option<StreamPlan> {
    let before = diags.len();
    let fields = fields(file, &decl.fields, diags);
    let time_field = match &decl.time {
        None => {
            diags.push(
                Diagnostic::error(
                    codes::BAD_TIME_FIELD,
                    file,
                    decl.name.span.clone(),
                    format!("stream `{}` has no `time` field", decl.name.name),
                    "missing `time FIELD` after the field list",
                )
                .with_help("name the event-time field after the fields: `) time ts lateness 5s`"),
            );
            None
        }
        Some(time) => match fields.iter().find(|f| f.name == time.name) {
            Some(f) if f.ty == DataType::Timestamp => Some(time.name.clone()),
            Some(f) => {
                diags.push(
                    Diagnostic::error(
                        codes::TIME_FIELD_TYPE,
                        file,
                        time.span.clone(),
                        format!(
                            "expected a timestamp field for `time`, found {} field `{}`",
                            type_name(&f.ty),
                            f.name
                        ),
                        "not a timestamp",
                    )
                    .with_help(format!("declare it as `{} timestamp`", f.name)),
                );
                None
            }
            None => {
                diags.push(unknown_field(file, time, &decl.name.name, &fields));
                None
            }
        },
    };
    if diags.len() > before {
        return None;
    }
    Some(StreamPlan {
        name: decl.name.name.clone(),
        fields,
        time_field: time_field?,
        lateness: decl.lateness.map_or(0, |d| d.millis),
        ahead: decl.ahead.map_or(DEFAULT_AHEAD, |d| d.millis),
        derived_from: None,
    })
}

fn fields(file: usize, decls: &[FieldDecl], diags: &mut Vec<Diagnostic>) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    for decl in decls {
        if decl.name.name.starts_with("__") {
            diags.push(
                Diagnostic::error(
                    codes::RESERVED_NAME,
                    file,
                    decl.name.span.clone(),
                    format!("field name `{}` is reserved", decl.name.name),
                    "names starting with `__` are reserved for the engine",
                )
                .with_help("rename the field; if the JSON key starts with `__`, it cannot be read by rules"),
            );
        }
        if out.iter().any(|f| f.name == decl.name.name) {
            diags.push(Diagnostic::error(
                codes::DUPLICATE_FIELD,
                file,
                decl.name.span.clone(),
                format!("field `{}` is declared twice", decl.name.name),
                "declared again here",
            ));
            continue;
        }
        let ty = match &decl.ty {
            TypeExpr::Record(inner) => DataType::Record(fields(file, inner, diags)),
            TypeExpr::Named(name) => match name.name.as_str() {
                "string" => DataType::String,
                "int" => DataType::Int,
                "float" => DataType::Float,
                "bool" => DataType::Bool,
                "timestamp" => DataType::Timestamp,
                other => {
                    let help = suggest::did_you_mean(other, TYPE_NAMES)
                        .map(|d| format!("{d} types are string, int, float, bool, timestamp, or `( field type, ... )`"))
                        .unwrap_or_else(|| "types are string, int, float, bool, timestamp, or `( field type, ... )` for a record".into());
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_TYPE,
                            file,
                            name.span.clone(),
                            format!("unknown type `{other}`"),
                            "not a type",
                        )
                        .with_help(help),
                    );
                    DataType::Null
                }
            },
        };
        out.push(Field {
            name: decl.name.name.clone(),
            ty,
            nullable: decl.nullable,
        });
    }
    out
}

/// "unknown field `amout` in stream `payments`" with a did-you-mean and the
/// stream's fields.
pub fn unknown_field(file: usize, name: &ast::Ident, owner: &str, fields: &[Field]) -> Diagnostic {
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let list = format!("fields of `{owner}`: {}", names.join(", "));
    let help = match suggest::closest(&name.name, names.iter()) {
        Some(s) => format!("did you mean `{s}`? {list}"),
        None => list,
    };
    Diagnostic::error(
        codes::UNKNOWN_FIELD,
        file,
        name.span.clone(),
        format!("unknown field `{}` in stream `{owner}`", name.name),
        format!("not a field of `{owner}`"),
    )
    .with_help(help)
}

/// Resolves `a.b.c` against a stream's fields; reports what is wrong.
pub fn resolve_path(
    file: usize,
    stream: &StreamPlan,
    path: &[ast::Ident],
) -> Result<(Vec<String>, DataType), Diagnostic> {
    let mut fields: &[Field] = &stream.fields;
    let mut owner = stream.name.clone();
    let mut names = Vec::with_capacity(path.len());
    let mut found: Option<&Field> = None;
    for (i, segment) in path.iter().enumerate() {
        if let Some(prev) = found {
            match &prev.ty {
                DataType::Record(inner) => fields = inner,
                other => {
                    return Err(Diagnostic::error(
                        codes::UNKNOWN_FIELD,
                        file,
                        segment.span.clone(),
                        format!(
                            "`{}` is a {}, not a record with fields",
                            names.join("."),
                            type_name(other)
                        ),
                        "no fields to read here",
                    ));
                }
            }
        }
        let Some(field) = fields.iter().find(|f| f.name == segment.name) else {
            let mut d = unknown_field(file, segment, &owner, fields);
            if i > 0 {
                d.message = format!(
                    "unknown field `{}` in record `{}` of stream `{}`",
                    segment.name, owner, stream.name
                );
                d.labels[0].message = format!("not a field of `{owner}`");
            }
            return Err(d);
        };
        names.push(field.name.clone());
        owner = names.join(".");
        found = Some(field);
    }
    Ok((names, found.map_or(DataType::Null, |f| f.ty.clone())))
}

pub fn field_exists(stream: &StreamPlan, name: &str) -> bool {
    stream.fields.iter().any(|f| f.name == name)
}

pub fn type_name(ty: &DataType) -> String {
    match ty {
        DataType::String => "string".into(),
        DataType::Int => "int".into(),
        DataType::Float => "float".into(),
        DataType::Bool => "bool".into(),
        DataType::Timestamp => "timestamp".into(),
        DataType::Record(_) => "record".into(),
        DataType::Null => "null".into(),
    }
}
