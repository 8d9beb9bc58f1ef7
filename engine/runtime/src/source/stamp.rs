//! Events whose time is their transport's (a Kafka message timestamp): the
//! time is written into the event's time field before decoding, so the
//! decoder checks the rest of the event exactly as it would any other.

use dsl::plan::Millis;
use serde::de::IgnoredAny;

use crate::decode::members::top_level_members;
use crate::sink::json::write_str;

/// `payload`, a JSON object, with `"field": time` in place of its top-level
/// members named `field` (appended when it has none). Every other member is
/// copied byte for byte, so a key the payload names twice is still a
/// `duplicate_field` rejection and invalid UTF-8 still `malformed_json`.
/// `None` when the payload is not a JSON object in UTF-8: it is then
/// decoded, and rejected, as it is. (Invalid UTF-8 inside the replaced
/// member must not be dropped with it: the message would look clean here
/// and be refused by every other reader.)
pub fn with_time_field(payload: &[u8], field: &str, time: Millis) -> Option<Vec<u8>> {
    let text = payload.trim_ascii();
    std::str::from_utf8(text).ok()?;
    // The member scanner trusts its input to be JSON.
    serde_json::from_slice::<IgnoredAny>(text).ok()?;
    let members = top_level_members(text)?;
    let mut out = Vec::with_capacity(text.len() + field.len() + 24);
    out.push(b'{');
    for (key, value) in members {
        if serde_json::from_slice::<String>(key).is_ok_and(|key| key == field) {
            continue;
        }
        out.extend_from_slice(key);
        out.push(b':');
        out.extend_from_slice(value);
        out.push(b',');
    }
    write_str(&mut out, field);
    out.push(b':');
    out.extend_from_slice(time.to_string().as_bytes());
    out.push(b'}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(payload: &str) -> Option<String> {
        with_time_field(payload.as_bytes(), "ts", 5).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn the_time_is_appended_or_replaces_the_field() {
        assert_eq!(
            stamped(r#" {"a":1} "#).as_deref(),
            Some(r#"{"a":1,"ts":5}"#)
        );
        assert_eq!(stamped("{}").as_deref(), Some(r#"{"ts":5}"#));
        assert_eq!(
            stamped(r#"{"ts":"x", "a" : 1.50, "t\u0073":2}"#).as_deref(),
            Some(r#"{"a":1.50,"ts":5}"#),
            "every member named ts goes, escaped or not; the others keep their text"
        );
    }

    #[test]
    fn other_duplicate_keys_are_kept_for_the_decoder_to_refuse() {
        assert_eq!(
            stamped(r#"{"amount":5,"amount":50000}"#).as_deref(),
            Some(r#"{"amount":5,"amount":50000,"ts":5}"#)
        );
    }

    #[test]
    fn what_is_not_an_object_is_left_alone() {
        assert_eq!(stamped("[1]"), None);
        assert_eq!(stamped(r#"{"a":"#), None);
        assert_eq!(stamped(""), None);
    }

    /// Found by the `messages` fuzz target: invalid UTF-8 in the time field
    /// vanished with it, and a payload every other reader refuses went in.
    #[test]
    fn invalid_utf8_anywhere_leaves_the_payload_for_the_decoder_to_refuse() {
        assert_eq!(with_time_field(b"{\"a\":1,\"ts\":\"\xd4\"}", "ts", 5), None);
        assert_eq!(with_time_field(b"{\"a\":\"\xff\"}", "ts", 5), None);
    }
}
