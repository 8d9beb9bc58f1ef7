//! Sample data for the fraud pack: logins, payments and settlements of a few
//! dozen users, with account takeovers (and near misses), large payments,
//! unsettled payments and a password spray planted in ordinary traffic.

use super::recorder::{Delivery, Recorder, TimeFormat, EPOCH_2026};
use super::rng::Rng;
use crate::json_fields;

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
const COUNTRIES: &[&str] = &["DE", "FR", "NL", "ES", "US"];
const ON_TIME: Delivery = Delivery::OnTime { jitter: 3_000 };

struct Fraud<'a> {
    rng: &'a mut Rng,
    out: &'a mut Recorder,
    next_payment: usize,
}

impl Fraud<'_> {
    fn auth(&mut self, ts: i64, user: &str, kind: &str, ip: &str, delivery: Delivery) {
        let mut fields = json_fields! { "user_id" => user, "kind" => kind, "ip" => ip };
        // `country` is optional: sometimes absent, sometimes null.
        match self.rng.below(10) {
            0 => {}
            1 => {
                fields.insert("country".into(), serde_json::Value::Null);
            }
            _ => {
                fields.insert("country".into(), (*self.rng.pick(COUNTRIES)).into());
            }
        }
        self.out
            .event(self.rng, "auth", ts, TimeFormat::Rfc3339, fields, delivery);
    }

    /// Records a payment and, unless `settle` is None, its settlement.
    fn payment(&mut self, ts: i64, user: &str, amount: f64, currency: &str, settle: Option<i64>) {
        self.next_payment += 1;
        let id = format!("p{:05}", self.next_payment);
        let fields = json_fields! {
            "payment_id" => id.as_str(), "user_id" => user, "amount" => amount, "currency" => currency
        };
        // Payments carry epoch milliseconds: the language accepts both forms.
        self.out.event(
            self.rng,
            "payments",
            ts,
            TimeFormat::EpochMillis,
            fields,
            ON_TIME,
        );
        if let Some(after) = settle {
            let fields = json_fields! { "payment_id" => id.as_str(), "status" => "settled" };
            self.out.event(
                self.rng,
                "settlements",
                ts + after,
                TimeFormat::Rfc3339,
                fields,
                ON_TIME,
            );
        }
    }

    fn ordinary_payment(&mut self, ts: i64, user: &str) {
        let amount = self.rng.money(5.0, 900.0);
        let currency = *self.rng.pick(&["EUR", "EUR", "USD", "GBP"]);
        let settle = (!self.rng.chance(0.04)).then(|| self.rng.range(MINUTE, 20 * MINUTE));
        self.payment(ts, user, amount, currency, settle);
    }

    /// `failures` failed logins from one address, a success from another,
    /// then a payment `pay_after` later (none if `None`).
    fn takeover(&mut self, t0: i64, user: &str, failures: usize, pay_after: Option<i64>) {
        let bad_ip = format!("198.51.100.{}", self.rng.range(1, 250));
        for k in 0..failures {
            self.auth(
                t0 + k as i64 * 15_000,
                user,
                "login_failed",
                &bad_ip,
                ON_TIME,
            );
        }
        let new_ip = format!("192.0.2.{}", self.rng.range(1, 250));
        let login = t0 + failures as i64 * 15_000 + 30_000;
        self.auth(login, user, "login_ok", &new_ip, ON_TIME);
        if let Some(after) = pay_after {
            let amount = self.rng.money(1_500.0, 5_000.0);
            self.payment(login + after, user, amount, "EUR", Some(2 * MINUTE));
        }
    }
}

pub fn generate(rng: &mut Rng, out: &mut Recorder, events: usize) {
    let start = EPOCH_2026 + 8 * HOUR;
    let span = 2 * HOUR;
    let users: Vec<String> = (1..=60).map(|u| format!("u{u:03}")).collect();
    let home_ip: Vec<String> = (1..=60).map(|u| format!("203.0.113.{u}")).collect();
    let mut g = Fraud {
        rng,
        out,
        next_payment: 0,
    };

    let background = events.saturating_sub(200);
    for _ in 0..background {
        let ts = start + g.rng.range(0, span);
        let u = g.rng.below(users.len() as u64) as usize;
        match g.rng.below(100) {
            0..=49 => g.auth(ts, &users[u], "login_ok", &home_ip[u], ON_TIME),
            50..=57 => g.auth(ts, &users[u], "login_failed", &home_ip[u], ON_TIME),
            58..=59 => {
                let amount = g.rng.money(10_001.0, 60_000.0);
                let currency = *g.rng.pick(&["EUR", "USD", "GBP", "CHF"]);
                let settle = Some(g.rng.range(MINUTE, 10 * MINUTE));
                g.payment(ts, &users[u], amount, currency, settle);
            }
            _ => g.ordinary_payment(ts, &users[u]),
        }
    }

    // Planted incidents, spread over the span.
    for k in 0..4 {
        let t0 = start + (k * 25 + 5) * MINUTE;
        let failures = 3 + k as usize;
        let user = &users[10 + k as usize];
        g.takeover(t0, user, failures, Some(4 * MINUTE));
    }
    // Near misses: no payment, a payment too late, only two failures.
    g.takeover(start + 20 * MINUTE, &users[30], 4, None);
    g.takeover(start + 50 * MINUTE, &users[31], 3, Some(15 * MINUTE));
    g.takeover(start + 80 * MINUTE, &users[32], 2, Some(3 * MINUTE));

    // A password spray: one address, 25 accounts, three minutes.
    let spray_ip = "198.51.100.66";
    for k in 0..25 {
        let ts = start + 70 * MINUTE + k * 7_000;
        g.auth(ts, &users[k as usize], "login_failed", spray_ip, ON_TIME);
    }

    // Late events: far beyond the 5 s lateness.
    for k in 0..3 {
        let ts = start + (30 + k * 20) * MINUTE;
        g.auth(
            ts,
            &users[k as usize],
            "login_ok",
            &home_ip[k as usize],
            Delivery::Late { delay: 60_000 },
        );
    }

    // Broken input, which must reach the dead-letter output.
    let t = start + 45 * MINUTE;
    g.out.raw(
        "payments",
        t,
        r#"{"ts": 1767256200000, "payment_id": "px1", "user_id": "#.into(),
    );
    g.out.raw(
        "payments",
        t + 1,
        r#"{"ts": 1767256200000, "payment_id": "px2", "user_id": "u001", "currency": "EUR"}"#
            .into(),
    );
    g.out.raw("payments", t + 2, r#"{"ts": 1767256200000, "payment_id": "px3", "user_id": "u001", "amount": "lots", "currency": "EUR"}"#.into());
    g.out.raw(
        "auth",
        t + 3,
        r#"{"ts": "yesterday", "user_id": "u001", "kind": "login_ok", "ip": "203.0.113.1"}"#.into(),
    );
    g.out.raw("settlements", t + 4, "not json at all".into());
}
