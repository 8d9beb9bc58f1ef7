//! The stream declarations of the examples in docs/rules.md, shared by the
//! tests that run those examples.

pub const STREAMS: &str = r#"
stream auth (
    ts       timestamp,
    user_id  string,
    kind     string,
    ip       string,
    country  string?
) time ts lateness 5s

stream payments (
    ts          timestamp,
    payment_id  string,
    user_id     string,
    amount      float,
    currency    string
) time ts lateness 5s

stream settlements (
    ts          timestamp,
    payment_id  string,
    status      string
) time ts lateness 5s
"#;
