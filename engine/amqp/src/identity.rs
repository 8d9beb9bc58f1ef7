//! A message's identity across redeliveries: the broker's delivery tags
//! restart with every channel, so deduplicating what a reconnect redelivers
//! needs something carried by the message itself.

use xxhash_rust::xxh3::Xxh3;

/// The CloudEvents attributes that identify an event (`id` is unique per
/// `source`), under either header prefix the binding accepts.
const CE_ID: [&str; 2] = ["cloudEvents:id", "cloudEvents_id"];
const CE_SOURCE: [&str; 2] = ["cloudEvents:source", "cloudEvents_source"];

/// xxh3 of, in order of preference:
/// 1. the AMQP `message_id` property, when set;
/// 2. the binary CloudEvent's `id` and `source` headers, when both are set;
/// 3. the body and all headers.
///
/// Each case hashes a distinct tag first, and every piece with its length,
/// so the cases cannot collide by construction. In case 3 two
/// byte-identical messages share an identity: the caller must count
/// identities (a multiset), not merely remember them.
pub fn identity(message_id: Option<&str>, headers: &[(String, String)], body: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    let mut piece = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    let header = |names: &[&str; 2]| {
        headers
            .iter()
            .find(|(name, _)| names.contains(&name.as_str()))
            .map(|(_, value)| value.as_str())
    };
    if let Some(id) = message_id {
        piece(b"message-id");
        piece(id.as_bytes());
    } else if let (Some(id), Some(source)) = (header(&CE_ID), header(&CE_SOURCE)) {
        piece(b"cloudevent");
        piece(id.as_bytes());
        piece(source.as_bytes());
    } else {
        piece(b"content");
        piece(body);
        for (name, value) in headers {
            piece(name.as_bytes());
            piece(value.as_bytes());
        }
    }
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn message_id_wins_over_everything() {
        let a = identity(Some("m1"), &h(&[("x", "1")]), b"a");
        let b = identity(Some("m1"), &h(&[("cloudEvents:id", "e")]), b"b");
        assert_eq!(a, b);
        assert_ne!(a, identity(Some("m2"), &[], b"a"));
    }

    #[test]
    fn cloudevent_id_and_source_under_either_prefix() {
        let colon = identity(
            None,
            &h(&[("cloudEvents:id", "e1"), ("cloudEvents:source", "/s")]),
            b"body 1",
        );
        let underscore = identity(
            None,
            &h(&[("cloudEvents_id", "e1"), ("cloudEvents_source", "/s")]),
            b"body 2",
        );
        assert_eq!(colon, underscore);
        let other_source = identity(
            None,
            &h(&[("cloudEvents:id", "e1"), ("cloudEvents:source", "/t")]),
            b"body 1",
        );
        assert_ne!(colon, other_source);
    }

    #[test]
    fn otherwise_body_and_headers() {
        let a = identity(None, &h(&[("k", "v")]), b"{}");
        assert_eq!(a, identity(None, &h(&[("k", "v")]), b"{}"));
        assert_ne!(a, identity(None, &h(&[("k", "w")]), b"{}"));
        assert_ne!(a, identity(None, &h(&[("k", "v")]), b"{ }"));
        // Lengths keep the pieces apart: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            identity(None, &h(&[("ab", "c")]), b""),
            identity(None, &h(&[("a", "bc")]), b"")
        );
        // An id alone (no source) does not identify a CloudEvent.
        assert_ne!(
            identity(None, &h(&[("cloudEvents:id", "e1")]), b"x"),
            identity(None, &h(&[("cloudEvents:id", "e1")]), b"y")
        );
    }
}
