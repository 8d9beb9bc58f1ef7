//! What ops see of a running job: `/metrics` scraped and parsed, `/healthz`
//! and `/readyz`, and a reload of the rules under traffic: a rule file
//! change is applied without a restart, a pattern half matched before it
//! still fires after it, a new rule starts working, and a rule set with
//! errors is refused (SIGHUP, `POST /reload`) while the running one goes on.

mod kafka_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_support::*;

/// The samples of a Prometheus text exposition: `name{labels}` to value.
/// Panics on a line that is neither a comment nor a sample.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a number in {line:?}"));
            (series.to_string(), value)
        })
        .collect()
}

/// One HTTP request to the job's endpoint: (status code, body).
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the endpoint answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

/// Scrapes until `series` reaches `at_least` (bounded by [`WAIT`]).
fn wait_for_metric(
    port: u16,
    job: &mut EddyJob,
    series: &str,
    at_least: f64,
) -> BTreeMap<String, f64> {
    let started = Instant::now();
    loop {
        job.assert_running();
        let (status, body) = http(port, "GET", "/metrics");
        assert_eq!(status, 200);
        let metrics = parse_metrics(&body);
        if metrics.get(series).is_some_and(|v| *v >= at_least) {
            return metrics;
        }
        assert!(
            started.elapsed() < WAIT,
            "{series} did not reach {at_least}; last scrape:\n{body}\n{}",
            job.stderr()
        );
        std::thread::sleep(POLL);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn auth(ts: &str, user: &str, kind: &str, ip: &str) -> Input {
    Input {
        stream: "auth",
        partition: 0,
        key: Some(user.into()),
        line: format!(r#"{{"ts":"{ts}","user_id":"{user}","kind":"{kind}","ip":"{ip}"}}"#),
    }
}

fn payment(ts: &str, id: &str, user: &str, amount: f64) -> Input {
    Input {
        stream: "payments",
        partition: 0,
        key: Some(user.into()),
        line: format!(
            r#"{{"ts":"{ts}","payment_id":"{id}","user_id":"{user}","amount":{amount},"currency":"EUR"}}"#
        ),
    }
}

const NEW_RULE: &str = "\nrule big_euro from payments where currency == \"EUR\" and amount > 3000 emit big_euro { payment_id }\n";
const BROKEN_RULE: &str =
    "\nrule broken from payments where amout > 1 emit broken { payment_id }\n";

/// The fraud pack's streams with `account_takeover` and `large_payment`.
fn takeover_rules() -> String {
    fraud_rules_subset(
        &["auth", "payments", "account_takeover", "large_payment"],
        "",
    )
}

/// Three failed logins and a login from elsewhere by `<prefix>-u1` (the
/// payment that completes the takeover comes later), and a small payment.
fn first_half_of_a_takeover(prefix: &str) -> [Input; 5] {
    let user = format!("{prefix}-u1");
    [
        auth("2026-01-01T08:00:00Z", &user, "login_failed", "10.0.0.1"),
        auth("2026-01-01T08:00:10Z", &user, "login_failed", "10.0.0.1"),
        auth("2026-01-01T08:00:20Z", &user, "login_failed", "10.0.0.1"),
        auth("2026-01-01T08:00:30Z", &user, "login_ok", "192.0.2.9"),
        payment(
            "2026-01-01T08:00:31Z",
            &format!("{prefix}-p0"),
            &format!("{prefix}-u2"),
            20.0,
        ),
    ]
}

fn write_rules(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_a_reload_under_traffic() {
    let brokers = require_broker!();
    let dir = tempfile::tempdir().unwrap();
    let topics = JobTopics::create(&brokers, "ops", &["auth", "payments"], 1).await;
    let rules_path = dir.path().join("rules.eddy");
    let rules = takeover_rules();
    write_rules(&rules_path, &rules);
    let port = free_port();
    let mut config = topics
        .config(
            &brokers,
            &unique("ops-group"),
            &dir.path().join("checkpoints"),
            "binary",
        )
        .toml();
    config.push_str(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    let config_path = dir.path().join("eddy.toml");
    std::fs::write(&config_path, config).unwrap();

    let mut job = EddyJob::start(dir.path(), "ops", &rules_path, &config_path);
    job.wait_for_log("metrics, health and reload on", 1, WAIT);
    assert_eq!(http(port, "GET", "/healthz").0, 200);
    job.wait_for_log("assigned", 1, WAIT);

    // The first half of a takeover: three failures and a login from elsewhere.
    let first_half = first_half_of_a_takeover("ops");
    topics.produce(&brokers, dir.path(), &first_half);
    wait_for_metric(port, &mut job, "eddy_events_in_total{stream=\"auth\"}", 4.0);
    // The gauges (open state, lag) are refreshed every second, after the
    // counters: wait for them too rather than race the first refresh.
    let metrics = wait_for_metric(
        port,
        &mut job,
        "eddy_open_state_entries{rule=\"account_takeover\"}",
        0.0,
    );
    assert_eq!(
        http(port, "GET", "/readyz").0,
        200,
        "assigned, restored, consuming"
    );
    assert_eq!(metrics["eddy_assigned_partitions"], 1.0);
    assert_eq!(metrics["eddy_ready"], 1.0);
    for series in [
        "eddy_checkpoints_total",
        "eddy_state_bytes",
        "eddy_latency_seconds_count",
        "eddy_open_state_entries{rule=\"account_takeover\"}",
    ] {
        assert!(metrics.contains_key(series), "no {series} in {metrics:?}");
    }

    // A rule set with errors is refused, by SIGHUP and by POST /reload ...
    let mark = job.log_mark();
    write_rules(&rules_path, &format!("{rules}{BROKEN_RULE}"));
    job.wait_for_log_since(mark, "refused, the running rules go on", 1, WAIT);
    assert_eq!(http(port, "POST", "/reload").0, 202);
    job.wait_for_log_since(mark, "reload (POST /reload) refused", 1, WAIT);
    wait_for_metric(
        port,
        &mut job,
        "eddy_reloads_total{outcome=\"refused\"}",
        2.0,
    );

    // ... and a good one applied while events keep coming.
    let during = [payment("2026-01-01T08:00:40Z", "ops-p1", "ops-u3", 15.0)];
    topics.produce(&brokers, dir.path(), &during);
    let mark = job.log_mark();
    write_rules(&rules_path, &format!("{rules}{NEW_RULE}"));
    job.wait_for_log_since(mark, "reloaded the rules", 1, WAIT);
    let stderr = job.stderr();
    assert!(
        stderr.contains("kept large_payment, account_takeover")
            && stderr.contains("added big_euro"),
        "{stderr}"
    );
    wait_for_metric(
        port,
        &mut job,
        "eddy_reloads_total{outcome=\"applied\"}",
        1.0,
    );

    // The second half: the payment completes the takeover begun before the
    // reload, and the new rule sees it too. Sentinels move time past both.
    let mut second_half = vec![payment("2026-01-01T08:01:00Z", "ops-p2", "ops-u1", 12000.0)];
    second_half.extend(Input::sentinels(&["auth", "payments"], 1));
    topics.produce(&brokers, dir.path(), &second_half);
    let started = Instant::now();
    let kinds = loop {
        let kinds: Vec<(String, Option<String>)> = read_all(&brokers, &topics.sink, 1)
            .iter()
            .map(Derived::from_message)
            .map(|d| (d.kind, d.subject))
            .collect();
        if kinds.len() >= 3 || started.elapsed() > WAIT {
            break kinds;
        }
        job.assert_running();
        std::thread::sleep(POLL);
    };
    let has = |kind: &str, subject: Option<&str>| {
        kinds
            .iter()
            .any(|(k, s)| k == kind && s.as_deref() == subject)
    };
    assert!(
        has("eddy.takeover", Some("ops-u1")),
        "{kinds:?}\n{}",
        job.stderr()
    );
    assert!(has("eddy.big_euro", None), "{kinds:?}");
    assert!(has("eddy.large_payment", None), "{kinds:?}");
    let metrics = wait_for_metric(
        port,
        &mut job,
        "eddy_derived_events_total{rule=\"account_takeover\"}",
        1.0,
    );
    assert!(metrics["eddy_latency_seconds_count"] >= 1.0);
    job.terminate();
}

/// Reverting a rule change and restarting is no trap: the checkpoint of
/// the reloaded rules carries its rule files, so the restart with the
/// reverted file does what a reload does. A takeover half matched before
/// all this still fires after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_reverting_a_reload_carries_the_state_over() {
    let brokers = require_broker!();
    let dir = tempfile::tempdir().unwrap();
    let topics = JobTopics::create(&brokers, "revert", &["auth", "payments"], 1).await;
    let rules_path = dir.path().join("rules.eddy");
    let rules = takeover_rules();
    write_rules(&rules_path, &rules);
    let config = topics
        .config(
            &brokers,
            &unique("revert-group"),
            &dir.path().join("checkpoints"),
            "binary",
        )
        .toml();
    let config_path = dir.path().join("eddy.toml");
    std::fs::write(&config_path, config).unwrap();

    let mut job = EddyJob::start(dir.path(), "revert-1", &rules_path, &config_path);
    job.wait_for_log("assigned", 1, WAIT);
    let first_half = first_half_of_a_takeover("rv");
    topics.produce(&brokers, dir.path(), &first_half);
    // The rules change; the reload checkpoints the new rule set at once.
    let mark = job.log_mark();
    write_rules(&rules_path, &format!("{rules}{NEW_RULE}"));
    job.wait_for_log_since(mark, "reloaded the rules", 1, WAIT);
    job.terminate();

    // Reverted: the newest checkpoint is of the rules with big_euro.
    write_rules(&rules_path, &rules);
    let mut job = EddyJob::start(dir.path(), "revert-2", &rules_path, &config_path);
    job.wait_for_log("was written by other rules", 1, WAIT);
    job.wait_for_log(
        "rule account_takeover: unchanged, its state restored",
        1,
        WAIT,
    );
    job.wait_for_log("rule big_euro: removed, its state dropped", 1, WAIT);

    let mut second_half = vec![payment("2026-01-01T08:01:00Z", "rv-p2", "rv-u1", 12000.0)];
    second_half.extend(Input::sentinels(&["auth", "payments"], 1));
    topics.produce(&brokers, dir.path(), &second_half);
    let started = Instant::now();
    let takeover = loop {
        let found = read_all(&brokers, &topics.sink, 1)
            .iter()
            .map(Derived::from_message)
            .any(|d| d.kind == "eddy.takeover" && d.subject.as_deref() == Some("rv-u1"));
        if found || started.elapsed() > WAIT {
            break found;
        }
        job.assert_running();
        std::thread::sleep(POLL);
    };
    assert!(
        takeover,
        "the takeover begun before the restart fired:\n{}",
        job.stderr()
    );
    job.terminate();
}
