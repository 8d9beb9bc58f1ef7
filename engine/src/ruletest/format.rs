//! The test file format (`NAME.test.toml`) as serde reads it, and its
//! resolution into [`TestFile`]: paths made relative to the test file, every
//! problem reported with the file and line where it is.
//!
//! ```toml
//! rules = ["../rules.eddy"]            # for every case; a case may override
//!
//! [[case]]
//! name = "a large EUR payment is flagged"
//! only = ["large_payment"]             # compare only these rules' events
//! input.payments = """
//! {"ts":"2026-01-01T08:00:00Z","payment_id":"p1","user_id":"u1","amount":20000.0,"currency":"EUR"}
//! """
//! expect = [
//!   { type = "large_payment", data = { payment_id = "p1", amount = 20000.0 } },
//! ]
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::error::TestFileError;
use crate::config::Location;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default, rename = "case")]
    cases: Vec<Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    rules: Option<Vec<String>>,
    #[serde(default)]
    input: BTreeMap<String, Spanned<RawInput>>,
    #[serde(default)]
    only: Option<Vec<String>>,
    expect: RawExpect,
    #[serde(default)]
    rejected: Vec<String>,
}

/// Inline JSON lines, or `{ file = "PATH" }`. Read by hand for a message
/// that names both forms.
enum RawInput {
    Inline(String),
    File(String),
}

impl<'de> Deserialize<'de> for RawInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;
        impl<'de> Visitor<'de> for InputVisitor {
            type Value = RawInput;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"JSON lines as a string, or { file = "PATH" }"#)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawInput, E> {
                Ok(RawInput::Inline(value.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawInput, A::Error> {
                let mut file = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "file" || file.is_some() {
                        return Err(de::Error::custom(format!(
                            "unexpected key `{key}`: an input file is {{ file = \"PATH\" }}"
                        )));
                    }
                    file = Some(map.next_value::<String>()?);
                }
                file.map(RawInput::File)
                    .ok_or_else(|| de::Error::missing_field("file"))
            }
        }
        deserializer.deserialize_any(InputVisitor)
    }
}

/// `expect = "none"` or a list of events. Read by hand so that a wrong
/// value gets a message naming both accepted forms.
enum RawExpect {
    Nothing,
    Events(Vec<RawEvent>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: toml::Table,
    subject: Option<toml::Value>,
    time: Option<toml::Value>,
    severity: Option<toml::Value>,
    id: Option<toml::Value>,
}

impl<'de> Deserialize<'de> for RawExpect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectVisitor;
        impl<'de> Visitor<'de> for ExpectVisitor {
            type Value = RawExpect;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""none" or a list of events like { type = "NAME", data = { ... } }"#)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawExpect, E> {
                if value == "none" {
                    Ok(RawExpect::Nothing)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(value), &self))
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawExpect, A::Error> {
                Vec::<RawEvent>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(RawExpect::Events)
            }
        }
        deserializer.deserialize_any(ExpectVisitor)
    }
}

/// One test file, resolved.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub path: PathBuf,
    pub cases: Vec<TestCase>,
}

/// One case: rules, inputs, and what they must derive.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    /// Where the case starts in its file (1-based line).
    pub line: usize,
    pub rules: Vec<PathBuf>,
    pub inputs: Vec<CaseInput>,
    /// Compare only the derived events of these rules (all when `None`).
    pub only: Option<Vec<String>>,
    /// Derived events expected, in output order; empty for `expect = "none"`.
    pub expect: Vec<ExpectedEvent>,
    /// Reasons of the input lines expected in the dead-letter output, in order.
    pub rejected: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CaseInput {
    pub stream: String,
    /// The line of the `input.STREAM` key, for errors.
    pub line: usize,
    pub source: InputText,
}

#[derive(Debug, Clone)]
pub enum InputText {
    Inline(String),
    File(PathBuf),
}

/// An expected derived event: `type` (with or without `eddy.`) and the
/// fields to compare; whatever is not listed is not compared.
#[derive(Debug, Clone)]
pub struct ExpectedEvent {
    /// The emitted name, without `eddy.`.
    pub name: String,
    pub data: toml::Table,
    /// CloudEvent attributes to compare: `subject`, `time`, `severity`, `id`.
    pub attributes: Vec<(&'static str, toml::Value)>,
}

/// Reads and resolves the test file at `path`.
pub fn read(path: &Path) -> Result<TestFile, TestFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TestFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Resolves `text`, the content of the test file at `path`.
pub fn parse(path: &Path, text: &str) -> Result<TestFile, TestFileError> {
    let at = |offset: Option<usize>, message: String| TestFileError::Invalid {
        path: path.to_path_buf(),
        location: offset.map(|o| Location::of_offset(text, o)),
        message,
    };
    let document = toml::Deserializer::parse(text)
        .map_err(|e| at(e.span().map(|s| s.start), e.message().trim().to_string()))?;
    let raw: RawFile = serde_path_to_error::deserialize(document).map_err(|e| {
        let key = crate::config::dotted_key(e.path());
        let inner = e.into_inner();
        let message = inner.message().trim();
        let message = if key.is_empty() {
            message.to_string()
        } else {
            format!("{key}: {message}")
        };
        at(inner.span().map(|s| s.start), message)
    })?;
    if raw.cases.is_empty() {
        return Err(at(None, "no test cases (add a [[case]] table)".into()));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut cases = Vec::with_capacity(raw.cases.len());
    for spanned in raw.cases {
        let start = spanned.span().start;
        let line = Location::of_offset(text, start).line;
        let case = spanned.into_inner();
        let rules = case.rules.unwrap_or_else(|| raw.rules.clone());
        if rules.is_empty() {
            return Err(at(
                Some(start),
                format!(
                    "case `{}` names no rule files (set `rules = [\"../rules.eddy\"]` at the top \
                     or in the case)",
                    case.name
                ),
            ));
        }
        if cases.iter().any(|c: &TestCase| c.name == case.name) {
            return Err(at(
                Some(start),
                format!("two cases are named `{}`", case.name),
            ));
        }
        let inputs = case
            .input
            .into_iter()
            .map(|(stream, spanned)| {
                let span = spanned.span();
                let source = match spanned.into_inner() {
                    RawInput::Inline(text) => InputText::Inline(text),
                    RawInput::File(file) => InputText::File(dir.join(file)),
                };
                CaseInput {
                    stream,
                    line: Location::of_offset(text, span.start).line,
                    source,
                }
            })
            .collect();
        let expect = match case.expect {
            RawExpect::Nothing => Vec::new(),
            RawExpect::Events(events) => events.into_iter().map(expected_event).collect(),
        };
        cases.push(TestCase {
            name: case.name,
            line,
            rules: rules.iter().map(|r| dir.join(r)).collect(),
            inputs,
            only: case.only,
            expect,
            rejected: case.rejected,
        });
    }
    Ok(TestFile {
        path: path.to_path_buf(),
        cases,
    })
}

fn expected_event(raw: RawEvent) -> ExpectedEvent {
    let attributes = [
        ("subject", raw.subject),
        ("time", raw.time),
        ("severity", raw.severity),
        ("id", raw.id),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect();
    ExpectedEvent {
        name: raw
            .kind
            .strip_prefix("eddy.")
            .unwrap_or(&raw.kind)
            .to_string(),
        data: raw.data,
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<TestFile, TestFileError> {
        parse(Path::new("dir/tests/a.test.toml"), text)
    }

    #[test]
    fn reads_cases_with_inline_and_file_inputs() {
        let file = parse_text(
            r#"
rules = ["../rules.eddy"]

[[case]]
name = "one"
input.payments = '{"ts":1}'
input.auth = { file = "auth.jsonl" }
expect = [{ type = "eddy.large_payment", data = { amount = 1.5 }, subject = "u1" }]

[[case]]
name = "two"
expect = "none"
"#,
        )
        .unwrap();
        assert_eq!(file.cases.len(), 2);
        let one = &file.cases[0];
        assert_eq!(one.line, 4);
        assert_eq!(one.rules, vec![PathBuf::from("dir/tests/../rules.eddy")]);
        assert_eq!(one.inputs[0].stream, "auth");
        assert!(
            matches!(&one.inputs[0].source, InputText::File(p) if p == Path::new("dir/tests/auth.jsonl"))
        );
        assert_eq!(one.expect[0].name, "large_payment");
        assert_eq!(one.expect[0].attributes[0].0, "subject");
        assert!(file.cases[1].expect.is_empty());
    }

    #[test]
    fn problems_name_their_line() {
        let error =
            parse_text("rules = [\"r.eddy\"]\n[[case]]\nname = \"x\"\nexpect = \"nothing\"\n")
                .unwrap_err()
                .to_string();
        assert!(error.starts_with("dir/tests/a.test.toml:4:"), "{error}");
        assert!(error.contains("\"none\" or a list of events"), "{error}");

        let error = parse_text("[[case]]\nname = \"x\"\nexpect = \"none\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(":1:") && error.contains("names no rule files"),
            "{error}"
        );

        let error = parse_text("rules = [\"r.eddy\"]\n[[case]]\nname = \"x\"\nexpct = []\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `expct`"), "{error}");

        let error = parse_text(
            "rules = [\"r.eddy\"]\n[[case]]\nname = \"x\"\ninput.auth = 3\nexpect = \"none\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(":4:") && error.contains("{ file = \"PATH\" }"),
            "{error}"
        );
    }
}
