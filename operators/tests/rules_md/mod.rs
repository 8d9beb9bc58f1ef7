//! The stream declarations and pattern rules of the examples in
//! docs/rules.md, shared by the tests that run those examples.

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

pub const ACCOUNT_TAKEOVER: &str = r#"
rule account_takeover
  severity high
  by user_id
  pattern
       f: auth where kind == "login_failed" {3,}
    -> s: auth where kind == "login_ok" and ip != f.ip
    -> t: payments where amount > 1000
  within 10m
  emit takeover {
    user_id,
    failures: count(f),
    first_failure: first(f.ts),
    new_ip: s.ip,
    amount: t.amount
  }
"#;

pub const UNSETTLED: &str = r#"
rule unsettled_payment
  by payment_id
  pattern p: payments -> not settlements
  within 30m
  emit unsettled { payment_id, amount: p.amount }
"#;
