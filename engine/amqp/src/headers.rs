//! AMQP application headers as plain `(name, value)` strings: what the
//! CloudEvents binding and the caller need, without amqprs's field types.

use amqprs::{FieldTable, FieldValue, LongStr, ShortStr};

use crate::error::AmqpError;

/// AMQP 0-9-1 short strings (names, routing keys, message ids, content
/// types) are at most 255 bytes.
pub const SHORT_STR_MAX: usize = 255;

/// Renders a received header table, sorted by name so that equal tables
/// render (and hash, see [`crate::identity`]) equally. String values are
/// taken as they are; other types (numbers, booleans, timestamps, nested
/// tables) in amqprs's display form.
pub fn render(table: Option<&FieldTable>) -> Vec<(String, String)> {
    let Some(table) = table else {
        return Vec::new();
    };
    let mut headers: Vec<(String, String)> = table
        .as_ref()
        .iter()
        .map(|(name, value)| {
            let value = match value {
                FieldValue::S(s) => s.as_ref().clone(),
                other => other.to_string(),
            };
            (name.as_ref().clone(), value)
        })
        .collect();
    headers.sort();
    headers
}

/// Builds the table for an outgoing message: every value a long string.
pub fn table(headers: &[(String, String)]) -> Result<FieldTable, AmqpError> {
    let mut table = FieldTable::new();
    for (name, value) in headers {
        let key = short(name, "header name")?;
        let value: LongStr = value
            .as_str()
            .try_into()
            .map_err(|_| AmqpError::Unpublishable(format!("header `{name}` is over 4 GiB")))?;
        table.insert(key, FieldValue::S(value));
    }
    Ok(table)
}

/// `value` as an AMQP short string, or why it cannot be one.
pub fn short(value: &str, what: &str) -> Result<ShortStr, AmqpError> {
    if value.len() > SHORT_STR_MAX {
        return Err(AmqpError::Unpublishable(format!(
            "the {what} is {} bytes, AMQP allows {SHORT_STR_MAX}: `{}…`",
            value.len(),
            value.chars().take(40).collect::<String>()
        )));
    }
    value
        .try_into()
        .map_err(|_| AmqpError::Unpublishable(format!("the {what} is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted() {
        let headers = vec![
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ];
        let table = table(&headers).unwrap();
        assert_eq!(
            render(Some(&table)),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert!(render(None).is_empty());
    }

    #[test]
    fn non_string_values_are_displayed() {
        let mut t = FieldTable::new();
        t.insert("n".try_into().unwrap(), FieldValue::l(-7));
        t.insert("t".try_into().unwrap(), FieldValue::t(true));
        assert_eq!(
            render(Some(&t)),
            vec![("n".into(), "-7".into()), ("t".into(), "true".into())]
        );
    }

    #[test]
    fn long_names_are_refused() {
        let name = "x".repeat(256);
        let err = table(&[(name, "v".into())]).unwrap_err();
        assert!(err.to_string().contains("256 bytes"), "{err}");
    }
}
