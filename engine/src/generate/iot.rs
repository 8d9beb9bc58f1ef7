//! Sample data for the IoT and operations pack: periodic sensor readings and
//! service requests, with an overheating device, silent devices and an
//! error burst planted in them.

use super::recorder::{Delivery, Recorder, TimeFormat, EPOCH_2026};
use super::rng::Rng;
use crate::json_fields;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const SITES: &[&str] = &["plant-a", "plant-b", "warehouse"];
const SERVICES: &[&str] = &["api", "billing", "search"];
const PATHS: &[&str] = &["/v1/orders", "/v1/users", "/export/csv", "/v1/search"];

pub fn generate(rng: &mut Rng, out: &mut Recorder, events: usize) {
    let start = EPOCH_2026 + 12 * HOUR;
    let span = HOUR;
    let devices = 12usize;
    let on_time = Delivery::OnTime { jitter: 20_000 };

    // Readings every minute per device, with planted anomalies:
    // device 3 overheats for 8 minutes, device 4 for 2 minutes only,
    // device 5 is silent for 15 minutes, device 6 for 8 minutes only.
    for d in 0..devices {
        let id = format!("dev-{d:02}");
        let site = SITES[d % SITES.len()];
        let mut ts = start + rng.range(0, MINUTE);
        while ts < start + span {
            let minute = (ts - start) / MINUTE;
            let silent =
                (d == 5 && (20..35).contains(&minute)) || (d == 6 && (40..48).contains(&minute));
            if !silent {
                let hot = (d == 3 && (10..18).contains(&minute))
                    || (d == 4 && (30..32).contains(&minute));
                let temperature = if hot {
                    rng.money(91.0, 99.0)
                } else {
                    rng.money(20.0, 70.0)
                };
                let mut fields = json_fields! { "device_id" => id.as_str(), "site" => site, "temperature" => temperature };
                if rng.chance(0.8) {
                    fields.insert("battery".into(), rng.range(5, 100).into());
                }
                out.event(
                    rng,
                    "readings",
                    ts,
                    TimeFormat::EpochMillis,
                    fields,
                    on_time,
                );
            }
            ts += MINUTE + rng.range(-2_000, 2_000);
        }
    }

    let requests = events.saturating_sub(devices * 60);
    for _ in 0..requests {
        let ts = start + rng.range(0, span);
        let service = *rng.pick(SERVICES);
        let status = *rng.pick(&[200, 200, 200, 200, 201, 404, 500]);
        let latency = if rng.chance(0.03) {
            rng.money(2_000.0, 9_000.0)
        } else {
            rng.money(3.0, 400.0)
        };
        request(rng, out, ts, service, status, latency);
    }
    // An error burst in billing: 14 errors in 40 seconds.
    for k in 0..14 {
        let latency = rng.money(500.0, 3_000.0);
        request(
            rng,
            out,
            start + 25 * MINUTE + 5_000 + k * 3_000,
            "billing",
            503,
            latency,
        );
    }

    // Broken input.
    out.raw("requests", start + 10 * MINUTE, r#"{"ts": "2026-01-01T12:10:00Z", "service": "api", "status": "ok", "latency_ms": 12.5, "path": "/v1/users"}"#.into());
    out.raw(
        "readings",
        start + 11 * MINUTE,
        r#"{"ts": "2026-01-01T12:11:00Z", "device_id": "dev-01", "site": "plant-b"}"#.into(),
    );
}

fn request(rng: &mut Rng, out: &mut Recorder, ts: i64, service: &str, status: i64, latency: f64) {
    let path = *rng.pick(PATHS);
    let fields = json_fields! {
        "service" => service, "status" => status, "latency_ms" => latency, "path" => path
    };
    out.event(
        rng,
        "requests",
        ts,
        TimeFormat::Rfc3339,
        fields,
        Delivery::OnTime { jitter: 2_000 },
    );
}
