//! Bearer tokens, compared so that the time taken does not tell how much of
//! a guess was right. Shared by the HTTP source and the job's metrics
//! endpoint.

/// Whether an `Authorization` header value is `Bearer TOKEN`.
pub fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    authorization
        .and_then(|value| value.trim().strip_prefix("Bearer "))
        .is_some_and(|given| same_in_constant_time(given.trim().as_bytes(), token.as_bytes()))
}

/// Compares without stopping at the first difference (the length may show).
pub fn same_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_whole_or_not_at_all() {
        assert!(same_in_constant_time(b"abc", b"abc"));
        assert!(!same_in_constant_time(b"abc", b"abd"));
        assert!(!same_in_constant_time(b"abc", b"abcd"));
        assert!(!same_in_constant_time(b"", b"a"));
        assert!(bearer_matches(Some("Bearer abc"), "abc"));
        assert!(!bearer_matches(Some("Basic abc"), "abc"));
        assert!(!bearer_matches(None, "abc"));
    }
}
