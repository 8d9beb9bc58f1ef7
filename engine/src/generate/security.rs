//! Sample data for the security pack: logins with nested device records and
//! role changes, with brute force, a spray, impossible travel and a
//! privilege escalation after a login from a new country planted in them.

use serde_json::{json, Value};

use super::recorder::{Delivery, Recorder, TimeFormat, EPOCH_2026};
use super::rng::Rng;
use crate::json_fields;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const ON_TIME: Delivery = Delivery::OnTime { jitter: 5_000 };
const OSES: &[&str] = &["linux", "macos", "windows", "ios", "android"];

struct Security<'a> {
    rng: &'a mut Rng,
    out: &'a mut Recorder,
}

impl Security<'_> {
    fn login(&mut self, ts: i64, user: &str, outcome: &str, ip: &str, country: &str) {
        let os = *self.rng.pick(OSES);
        let device: Value = if self.rng.chance(0.3) {
            json!({ "os": os })
        } else {
            json!({ "os": os, "agent": format!("{os}-client/{}", self.rng.range(1, 9)) })
        };
        let mut fields = json_fields! {
            "user_id" => user, "outcome" => outcome, "ip" => ip, "country" => country
        };
        fields.insert("device".into(), device);
        self.out
            .event(self.rng, "logins", ts, TimeFormat::Rfc3339, fields, ON_TIME);
    }

    fn privilege(&mut self, ts: i64, user: &str, action: &str, role: &str) {
        let actor = format!("admin{}", self.rng.range(1, 4));
        let fields = json_fields! {
            "user_id" => user, "action" => action, "role" => role, "actor" => actor.as_str()
        };
        self.out.event(
            self.rng,
            "privileges",
            ts,
            TimeFormat::Rfc3339,
            fields,
            ON_TIME,
        );
    }
}

pub fn generate(rng: &mut Rng, out: &mut Recorder, events: usize) {
    let start = EPOCH_2026 + 6 * HOUR;
    let span = 3 * HOUR;
    let users: Vec<String> = (1..=80).map(|u| format!("e{u:03}")).collect();
    let home: Vec<&str> = (0..80).map(|u| ["DE", "FR", "IT", "PL"][u % 4]).collect();
    let ip = |u: usize| format!("203.0.113.{}", u + 1);
    let mut g = Security { rng, out };

    for _ in 0..events.saturating_sub(150) {
        let ts = start + g.rng.range(0, span);
        let u = g.rng.below(users.len() as u64) as usize;
        match g.rng.below(100) {
            0..=74 => g.login(ts, &users[u], "success", &ip(u), home[u]),
            75..=94 => g.login(ts, &users[u], "failure", &ip(u), home[u]),
            _ => {
                let role = *g.rng.pick(&["viewer", "editor", "analyst"]);
                let action = *g.rng.pick(&["grant_role", "revoke_role"]);
                g.privilege(ts, &users[u], action, role);
            }
        }
    }

    // Brute force: 6 and 8 failures then a success; and 3 (not enough).
    for (k, failures) in [(0, 6), (1, 8), (2, 3)] {
        let u = 40 + k;
        let t0 = start + (20 + 40 * k as i64) * MINUTE;
        for f in 0..failures {
            let attacker = format!("198.51.100.{}", 10 + f % 3);
            g.login(t0 + f * 20_000, &users[u], "failure", &attacker, "RU");
        }
        g.login(
            t0 + failures * 20_000 + 10_000,
            &users[u],
            "success",
            &ip(u),
            home[u],
        );
    }

    // A spray from one address.
    for k in 0..30 {
        let ts = start + 100 * MINUTE + k * 8_000;
        g.login(ts, &users[k as usize], "failure", "198.51.100.99", "NL");
    }

    // Impossible travel, then an admin grant to the same account.
    let u = 60;
    let t0 = start + 130 * MINUTE;
    g.login(t0, &users[u], "success", &ip(u), home[u]);
    g.login(t0 + 25 * MINUTE, &users[u], "success", "192.0.2.77", "BR");
    g.privilege(t0 + 40 * MINUTE, &users[u], "grant_role", "Admin");
    // A new country without an escalation, and a grant with no new country.
    g.login(t0 + 10 * MINUTE, &users[61], "success", &ip(61), home[61]);
    g.login(t0 + 12 * MINUTE, &users[61], "success", "192.0.2.78", "JP");
    g.privilege(t0 + 30 * MINUTE, &users[62], "grant_role", "admin");

    // Broken input.
    let t = start + 90 * MINUTE;
    g.out.raw("logins", t, r#"{"ts": "2026-01-01T07:30:00Z", "user_id": "e001", "outcome": "success", "ip": "203.0.113.1", "country": "DE"}"#.into());
    g.out.raw("logins", t + 1, r#"{"ts": "2026-01-01T07:30:00Z", "user_id": 17, "outcome": "success", "ip": "203.0.113.1", "country": "DE", "device": {"os": "linux"}}"#.into());
    g.out.raw(
        "privileges",
        t + 2,
        r#"{"ts": "2026-01-01T07:30:00Z", "user_id": "e001", "action": "grant_role""#.into(),
    );
}
