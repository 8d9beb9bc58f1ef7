//! Checks one JSON line against a stream's declared fields and says why it
//! is unusable. This is stricter than arrow-json, which would turn `"12"`
//! into the int 12, truncate `1.5` into an int, and accept timestamps in
//! non-RFC 3339 shapes; eddy rejects all of those.
//!
//! The check walks the line with serde_json against the schema without
//! building a value, so it costs about one pass of a JSON parser per line.
//!
//! It is also stricter than serde_json and arrow-json, which both accept an
//! object naming a key twice (the last value wins) and skip the strings of
//! unknown fields without checking their UTF-8. Two readers of the same
//! line (eddy and whatever else reads the feed) could then see different
//! events, which an attacker can use (`{"amount":5,"amount":50000}`): a
//! duplicate key anywhere in the line, even in an unknown field, rejects it
//! as `duplicate_field`, and a line that is not UTF-8 is `malformed_json`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use dsl::plan::{DataType, Field, TIME_RANGE};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::reject::RejectReason;

/// A line that cannot be decoded: the reason and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub reason: RejectReason,
    pub detail: String,
}

impl Invalid {
    fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Invalid {
            reason,
            detail: detail.into(),
        }
    }
}

/// Checks `line` against `fields`. `time_field` must be present even if it
/// was declared nullable: an event without a time cannot be placed.
pub fn check_line(line: &[u8], fields: &[Field], time_field: &str) -> Result<(), Invalid> {
    walk_line(line, fields, time_field, None)
}

/// Checks `line` as [`check_line`] does and, if it is valid, leaves the
/// values of its top-level fields in `row` (see [`Row`]).
pub fn read_line(
    line: &[u8],
    fields: &[Field],
    time_field: &str,
    row: &mut Row,
) -> Result<(), Invalid> {
    row.clear(fields.len());
    let cell = RefCell::new(std::mem::take(row));
    let result = walk_line(line, fields, time_field, Some(&cell));
    *row = cell.into_inner();
    result
}

fn walk_line(
    line: &[u8],
    fields: &[Field],
    time_field: &str,
    row: Option<&RefCell<Row>>,
) -> Result<(), Invalid> {
    // JSON text is UTF-8 (RFC 8259 §8.1). serde_json checks the strings it
    // reads, but skips those of unknown fields unchecked: check the whole
    // line first (cheap next to parsing it).
    if let Err(e) = std::str::from_utf8(line) {
        return Err(Invalid::new(
            RejectReason::MalformedJson,
            format!("not valid JSON: invalid UTF-8 at byte {}", e.valid_up_to()),
        ));
    }
    // The first problem found; the parse is then abandoned with a
    // placeholder serde error.
    let found: RefCell<Option<Invalid>> = RefCell::new(None);
    let seed = ObjectSeed {
        fields,
        prefix: "",
        time_field: Some(time_field),
        found: &found,
        row,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (result, found.into_inner()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(invalid)) => {
            // Reported as malformed when the rest of the line is not JSON
            // either: syntax problems come first.
            match serde_json::from_slice::<IgnoredAny>(line) {
                Ok(_) => Err(invalid),
                Err(e) => Err(malformed(&e)),
            }
        }
        (Err(e), None) => Err(malformed(&e)),
    }
}

/// The top-level values of one line, as [`read_line`] found them: one
/// cell per declared field, strings in one buffer.
#[derive(Debug, Default)]
pub struct Row {
    pub cells: Vec<Cell>,
    /// The text of the [`Cell::Str`] values.
    pub text: String,
}

impl Row {
    fn clear(&mut self, fields: usize) {
        self.cells.clear();
        self.cells.resize(fields, Cell::Null);
        self.text.clear();
    }

    /// The text of a [`Cell::Str`].
    pub fn str(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }
}

/// One field's value: absent and null alike are [`Cell::Null`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// `text[start..end]`.
    Str(usize, usize),
    /// Epoch milliseconds.
    Time(i64),
}

fn malformed(error: &serde_json::Error) -> Invalid {
    Invalid::new(
        RejectReason::MalformedJson,
        format!("not valid JSON: {error}"),
    )
}

/// Records `invalid` and returns the error that stops the parse.
fn stop<E: de::Error>(found: &RefCell<Option<Invalid>>, invalid: Invalid) -> E {
    found.borrow_mut().get_or_insert(invalid);
    E::custom("invalid event")
}

/// An object with the given fields (the event itself or a nested record).
struct ObjectSeed<'a> {
    fields: &'a [Field],
    /// `device.` for the fields of record `device`; empty at the top.
    prefix: &'a str,
    /// At the top level: the event-time field, required whatever its declaration.
    time_field: Option<&'a str>,
    found: &'a RefCell<Option<Invalid>>,
    /// Where the values of the fields go (the top level of a read line).
    row: Option<&'a RefCell<Row>>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = vec![false; self.fields.len()];
        // The unknown keys met so far, to find them named twice too.
        let mut unknown = HashSet::new();
        // Bounded by the object's length.
        while let Some(key) = map.next_key_seed(KeySeed {
            fields: self.fields,
            unknown: &unknown,
        })? {
            match key {
                Key::Duplicate(name) => {
                    return Err(stop(self.found, duplicate(self.prefix, &name)));
                }
                Key::Declared(i) if seen[i] => {
                    let name = &self.fields[i].name;
                    return Err(stop(self.found, duplicate(self.prefix, name)));
                }
                Key::Declared(i) => {
                    seen[i] = true;
                    let field = &self.fields[i];
                    map.next_value_seed(ValueSeed {
                        field,
                        prefix: self.prefix,
                        required: !field.nullable || self.time_field == Some(field.name.as_str()),
                        found: self.found,
                        slot: self.row.map(|row| (row, i)),
                    })?;
                }
                Key::Unknown(name) => {
                    map.next_value_seed(Skip {
                        parent: self.prefix,
                        key: &name,
                        found: self.found,
                    })?;
                    unknown.insert(name);
                }
            }
        }
        if let Some(time) = self.time_field {
            if !self
                .fields
                .iter()
                .zip(&seen)
                .any(|(f, s)| *s && f.name == time)
            {
                return Err(stop(
                    self.found,
                    Invalid::new(
                        RejectReason::MissingField,
                        format!("the event-time field `{time}` is missing"),
                    ),
                ));
            }
        }
        if let Some(field) = self
            .fields
            .iter()
            .zip(&seen)
            .find(|(f, s)| !**s && !f.nullable)
            .map(|(f, _)| f)
        {
            return Err(stop(
                self.found,
                Invalid::new(
                    RejectReason::MissingField,
                    format!("required field `{}{}` is missing", self.prefix, field.name),
                ),
            ));
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_an_object("a boolean".into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        Err(self.not_an_object(format!("the number {v}")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        Err(self.not_an_object(format!("the number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        Err(self.not_an_object(format!("the number {v}")))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_an_object("a string".into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_an_object("null".into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_an_object("an array".into()))
    }
}

impl ObjectSeed<'_> {
    /// Only reached for the top level: nested records are checked by [`ValueSeed`].
    fn not_an_object<E: de::Error>(&self, found: String) -> E {
        stop(
            self.found,
            Invalid::new(
                RejectReason::WrongType,
                format!("expected a JSON object, found {found}"),
            ),
        )
    }
}

/// A key of an object, as [`KeySeed`] finds it.
enum Key {
    /// The declared field of this index.
    Declared(usize),
    /// A key not declared, met for the first time in this object.
    Unknown(String),
    /// A key not declared, met before in this object.
    Duplicate(String),
}

/// A key of an object: the declared field it names, if any. Keys compare
/// after unescaping, as every JSON reader sees them (`"\u0061"` is `"a"`).
struct KeySeed<'a> {
    fields: &'a [Field],
    /// The undeclared keys of the object so far.
    unknown: &'a HashSet<String>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        if let Some(i) = self.fields.iter().position(|f| f.name == key) {
            Ok(Key::Declared(i))
        } else if self.unknown.contains(key) {
            Ok(Key::Duplicate(key.to_string()))
        } else {
            Ok(Key::Unknown(key.to_string()))
        }
    }
}

/// The rejection of an object that names `key` twice.
fn duplicate(prefix: &str, key: &str) -> Invalid {
    Invalid::new(
        RejectReason::DuplicateField,
        format!("field `{prefix}{key}` appears twice in one object"),
    )
}

/// A value that is not read (an unknown field, or one declared `null`),
/// walked all the same to find duplicate keys in its objects.
#[derive(Clone, Copy)]
struct Skip<'a> {
    /// The path of the value, for messages: `x.` and `y` for `x.y` (only
    /// put together when needed, as most values are not objects).
    parent: &'a str,
    key: &'a str,
    found: &'a RefCell<Option<Invalid>>,
}

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Bounded by the array's length.
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let prefix = format!("{}{}.", self.parent, self.key);
        let mut keys = HashSet::new();
        // Bounded by the object's length.
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(key.as_str()) {
                return Err(stop(self.found, duplicate(&prefix, &key)));
            }
            map.next_value_seed(Skip {
                parent: &prefix,
                key: &key,
                found: self.found,
            })?;
            keys.insert(key);
        }
        Ok(())
    }
}

/// The value of one declared field.
struct ValueSeed<'a> {
    field: &'a Field,
    prefix: &'a str,
    /// Null is refused (non-nullable, or the event-time field).
    required: bool,
    found: &'a RefCell<Option<Invalid>>,
    /// Where the value goes: the row and the field's index.
    slot: Option<(&'a RefCell<Row>, usize)>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    /// Records the field's value.
    fn keep(&self, cell: Cell) {
        if let Some((row, index)) = self.slot {
            if let Some(slot) = row.borrow_mut().cells.get_mut(index) {
                *slot = cell;
            }
        }
    }

    fn keep_str(&self, text: &str) {
        if let Some((row, index)) = self.slot {
            let mut row = row.borrow_mut();
            let start = row.text.len();
            row.text.push_str(text);
            let end = row.text.len();
            if let Some(slot) = row.cells.get_mut(index) {
                *slot = Cell::Str(start, end);
            }
        }
    }

    fn path(&self) -> String {
        format!("{}{}", self.prefix, self.field.name)
    }

    /// Refuses a value of the wrong kind, described by `found`.
    fn refuse<E: de::Error>(&self, found: String) -> E {
        let invalid = match self.field.ty {
            DataType::Timestamp => Invalid::new(
                RejectReason::BadTimestamp,
                format!(
                    "field `{}`: expected an RFC 3339 string or integer epoch milliseconds, found {found}",
                    self.path()
                ),
            ),
            ref ty => Invalid::new(
                RejectReason::WrongType,
                format!("field `{}`: expected {}, found {found}", self.path(), type_name(ty)),
            ),
        };
        stop(self.found, invalid)
    }

    /// A timestamp read: kept if RFC 3339 can write it (the years 0000 to
    /// 9999, [`TIME_RANGE`]), as every time eddy writes must be.
    fn time<E: de::Error>(&self, millis: i64) -> Result<(), E> {
        if !TIME_RANGE.contains(&millis) {
            return Err(stop(
                self.found,
                Invalid::new(
                    RejectReason::BadTimestamp,
                    format!(
                        "field `{}`: {millis} ms is outside the years 0000 to 9999",
                        self.path()
                    ),
                ),
            ));
        }
        self.keep(Cell::Time(millis));
        Ok(())
    }

    /// An integer: `exact` when it fits an i64, `approx` as a float.
    fn integer<E: de::Error>(
        &self,
        exact: Option<i64>,
        approx: f64,
        shown: impl fmt::Display,
    ) -> Result<(), E> {
        match (&self.field.ty, exact) {
            (DataType::Int, Some(v)) => self.keep(Cell::Int(v)),
            (DataType::Timestamp, Some(v)) => return self.time(v),
            (DataType::Float, _) => self.keep(Cell::Float(approx)),
            (DataType::Null, _) => {}
            _ => return Err(self.refuse(format!("the number {shown}"))),
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(type_name(&self.field.ty))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.required {
            return Err(stop(
                self.found,
                Invalid::new(
                    RejectReason::MissingField,
                    format!("required field `{}` is null", self.path()),
                ),
            ));
        }
        self.keep(Cell::Null);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.field.ty {
            DataType::Bool => {
                self.keep(Cell::Bool(v));
                Ok(())
            }
            DataType::Null => Ok(()),
            _ => Err(self.refuse(format!("the boolean {v}"))),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.integer(Some(v), v as f64, v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.integer(i64::try_from(v).ok(), v as f64, v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match self.field.ty {
            DataType::Float => {
                self.keep(Cell::Float(v));
                Ok(())
            }
            DataType::Null => Ok(()),
            _ => Err(self.refuse(format!("the number {v}"))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.field.ty {
            DataType::String => {
                self.keep_str(v);
                Ok(())
            }
            DataType::Null => Ok(()),
            DataType::Timestamp => match chrono::DateTime::parse_from_rfc3339(v) {
                Ok(time) => self.time(time.timestamp_millis()),
                Err(e) => Err(stop(
                    self.found,
                    Invalid::new(
                        RejectReason::BadTimestamp,
                        format!(
                            "field `{}`: {v:?} is not an RFC 3339 timestamp ({e})",
                            self.path()
                        ),
                    ),
                )),
            },
            _ => Err(self.refuse("a string".into())),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        match &self.field.ty {
            DataType::Record(fields) => {
                let prefix = format!("{}.", self.path());
                ObjectSeed {
                    fields,
                    prefix: &prefix,
                    time_field: None,
                    found: self.found,
                    row: None,
                }
                .visit_map(map)
            }
            DataType::Null => Skip {
                parent: self.prefix,
                key: &self.field.name,
                found: self.found,
            }
            .visit_map(map),
            _ => Err(self.refuse("an object".into())),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        match self.field.ty {
            DataType::Null => Skip {
                parent: self.prefix,
                key: &self.field.name,
                found: self.found,
            }
            .visit_seq(seq),
            _ => Err(self.refuse("an array".into())),
        }
    }
}

pub fn type_name(ty: &DataType) -> &'static str {
    match ty {
        DataType::String => "a string",
        DataType::Int => "an integer",
        DataType::Float => "a number",
        DataType::Bool => "a boolean",
        DataType::Timestamp => "a timestamp",
        DataType::Record(_) => "an object",
        DataType::Null => "null",
    }
}
