//! The HTTP source end to end: `eddy run --config` with `type = "http"`
//! streams, fed by an independent client (Python's urllib) in every mode of
//! the CloudEvents HTTP binding and as JSON lines. The job's derived events
//! equal the file run's; every error status is provoked; a kill -9 after
//! `202` loses nothing. No server is needed: eddy is the server.

mod kafka_support;
mod mesh_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_support::EddyJob;

/// Bound on the job deriving every expected event.
const OUTPUT_WAIT: Duration = Duration::from_secs(90);

/// POSTs the streams of a JSON file (`{"stream": [lines]}`) to
/// `BASE/STREAM` in a mode, retrying `429` as told by `Retry-After`;
/// prints the count of each final status as JSON.
const PY_POST: &str = r#"
import json, sys, time, urllib.request, urllib.error

base, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
headers_extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
streams = json.load(open(path))
statuses = {}

def post(url, body, headers):
    headers = dict(headers, **headers_extra)
    for _ in range(200):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            if error.code == 429:
                time.sleep(float(error.headers.get("Retry-After", "1")))
                continue
            return error.code
    raise SystemExit("still 429 after 200 attempts")

def count(status):
    statuses[str(status)] = statuses.get(str(status), 0) + 1

def data_of(line):
    # The line as the CloudEvent's data, byte for byte when it is JSON; a
    # line that is not JSON cannot be embedded, so it goes as a string.
    try:
        json.loads(line)
        return line
    except ValueError:
        return json.dumps(line)

def envelope(stream, index, line):
    return ('{"specversion":"1.0","id":"%s-%d","source":"/test/%s","type":"test.%s",'
            '"datacontenttype":"application/json","data":%s}'
            % (stream, index, stream, stream, data_of(line)))

for stream, lines in streams.items():
    url = "%s/%s" % (base, stream)
    if mode == "binary":
        for index, line in enumerate(lines):
            count(post(url, line.encode(), {
                "ce-specversion": "1.0", "ce-id": "%s-%d" % (stream, index),
                "ce-source": "/test/" + stream, "ce-type": "test." + stream,
                "content-type": "application/json"}))
    elif mode == "structured":
        for index, line in enumerate(lines):
            count(post(url, envelope(stream, index, line).encode(),
                       {"content-type": "application/cloudevents+json; charset=utf-8"}))
    elif mode == "batch":
        for start in range(0, len(lines), 50):
            items = [envelope(stream, start + i, line) for i, line in enumerate(lines[start:start + 50])]
            count(post(url, ("[" + ",".join(items) + "]").encode(),
                       {"content-type": "application/cloudevents-batch+json"}))
    elif mode == "ndjson":
        for start in range(0, len(lines), 100):
            body = "\n".join(lines[start:start + 100]) + "\n"
            count(post(url, body.encode(), {"content-type": "application/x-ndjson"}))
    else:
        raise SystemExit("unknown mode " + mode)
print(json.dumps(statuses))
"#;

/// POSTs `inputs` to the job at `address` in `mode`: the count of each
/// final status.
fn post(
    dir: &Path,
    address: &str,
    mode: &str,
    inputs: &BTreeMap<&'static str, Vec<String>>,
    headers: &[(&str, &str)],
) -> BTreeMap<String, u64> {
    let path = dir.join(format!("{}.json", kafka_support::unique("post")));
    std::fs::write(&path, serde_json::to_vec(inputs).expect("JSON")).expect("write inputs");
    let headers: BTreeMap<&str, &str> = headers.iter().copied().collect();
    let out = kafka_support::python(
        PY_POST,
        &[
            &format!("http://{address}"),
            mode,
            path.to_str().expect("a UTF-8 path"),
            &serde_json::to_string(&headers).expect("JSON"),
        ],
    );
    serde_json::from_str(out.trim()).expect("the client's statuses")
}

/// The job's config: the fraud streams on one listener at `/STREAM`.
fn config(dir: &Path, checkpoint_interval: &str, extra: &str) -> std::path::PathBuf {
    let mut text = format!(
        "idle_partition_timeout = \"60s\"\n\
         [checkpoint]\ndir = \"checkpoints\"\ninterval = \"{checkpoint_interval}\"\n\
         [sinks.\"*\"]\ntype = \"file\"\npath = \"out.jsonl\"\n\
         [dead_letter]\ntype = \"file\"\npath = \"dead-letter.jsonl\"\n{extra}"
    );
    for stream in mesh_support::STREAMS {
        text.push_str(&format!(
            "[streams.{stream}]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\npath = \"/{stream}\"\nwal = \"wal/{stream}\"\n"
        ));
    }
    let path = dir.join("eddy.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The fraud pack POSTed in `mode` gives the file run's derived events,
/// and its broken lines are dead-lettered (with the file run's reasons
/// where the mode carries the line unchanged).
fn fraud_pack_in(mode: &str) {
    let case = mesh_support::FraudCase::new();
    let (dir, expected) = (case.dir(), &case.expected);
    let config = config(dir, "1s", "");
    let mut job = EddyJob::start(dir, &format!("http-{mode}"), &case.rules, &config);
    let address = mesh_support::listening_address(&mut job);
    let statuses = post(dir, &address, mode, &case.inputs, &[]);
    let accepted = statuses.get("202").copied().unwrap_or(0);
    assert!(accepted > 0, "{statuses:?}");
    assert!(
        statuses.keys().all(|s| s == "202" || s == "400"),
        "only 202, and 400 for a single broken event: {statuses:?}"
    );
    mesh_support::wait_for_output(&dir.join("out.jsonl"), expected, &mut job, OUTPUT_WAIT);
    let stderr = job.terminate();

    let got = kafka_support::before(
        &mesh_support::read_output(&dir.join("out.jsonl")),
        kafka_support::SENTINEL_CUTOFF,
    );
    kafka_support::assert_same_events(&got, expected, &format!("eddy's stderr:\n{stderr}"));
    let dead = mesh_support::read_dead_letters(&dir.join("dead-letter.jsonl"));
    assert_eq!(dead.len(), case.oracle.rejected.len(), "{dead:#?}");
    if mode == "binary" || mode == "ndjson" {
        assert_eq!(
            mesh_support::reasons_and_raw(&dead),
            mesh_support::reasons_and_raw(&case.oracle.rejected),
        );
    }
    assert!(
        dead.iter()
            .all(|r| r["source"].as_str().is_some_and(|s| s.starts_with("http:"))),
        "{dead:#?}"
    );
}

#[test]
fn the_fraud_pack_in_binary_mode_gives_the_file_run() {
    fraud_pack_in("binary");
}

#[test]
fn the_fraud_pack_in_structured_mode_gives_the_file_run() {
    fraud_pack_in("structured");
}

#[test]
fn the_fraud_pack_in_batches_gives_the_file_run() {
    fraud_pack_in("batch");
}

#[test]
fn the_fraud_pack_as_json_lines_gives_the_file_run() {
    fraud_pack_in("ndjson");
}

/// One request and its answer, through a raw socket (so any method,
/// header and body can be sent).
struct Answer {
    status: u16,
    head: String,
    body: String,
}

fn request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    // The server may answer (413) before reading the body: a failed write
    // of the rest is not the test's concern.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// A webhook receiver that accepts connections and never answers: the
/// job's sink then holds the driver, and input backs up.
fn silent_receiver() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    (listener, address)
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn every_answer_of_the_http_source_is_given_when_due() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let rules = dir.join("rules.eddy");
    std::fs::write(
        &rules,
        "stream auth ( ts timestamp, user_id string ) time ts lateness 0s\n\
         rule seen from auth emit seen { user_id }\n",
    )
    .expect("write rules");
    let (receiver, receiver_address) = silent_receiver();
    let config = dir.join("eddy.toml");
    std::fs::write(
        &config,
        format!(
            "channel_capacity = 1\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [checkpoint]\ndir = \"checkpoints\"\ninterval = \"1s\"\n\
             [streams.auth]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\npath = \"/auth\"\n\
             token_env = \"EDDY_TEST_TOKEN\"\nmax_request_bytes = 4096\nmax_backlog = 3\n\
             [sinks.\"*\"]\ntype = \"http\"\nurl = \"http://{receiver_address}/\"\n\
             timeout = \"120s\"\nmax_attempts = 1\nconcurrency = 1\n\
             [dead_letter]\ntype = \"file\"\npath = \"dead-letter.jsonl\"\n"
        ),
    )
    .expect("write config");
    let mut job = EddyJob::start_with_env(
        dir,
        "http-statuses",
        &rules,
        &config,
        &[("EDDY_TEST_TOKEN", "s3cret".into())],
    );
    let address = mesh_support::listening_address(&mut job);
    let auth = ("authorization", "Bearer s3cret");
    let event = |n: u32| {
        format!(
            r#"{{"ts":"2026-01-01T00:00:{:02}Z","user_id":"u{n}"}}"#,
            n % 60
        )
    };

    // The probes answer without the token.
    assert_eq!(request(&address, "GET", "/healthz", &[], b"").status, 200);
    let ready = Instant::now();
    while request(&address, "GET", "/readyz", &[], b"").status != 200 {
        assert!(ready.elapsed() < Duration::from_secs(30), "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let unauthorised = request(&address, "POST", "/auth", &[JSON], event(1).as_bytes());
    assert_eq!(unauthorised.status, 401);
    assert!(unauthorised.head.contains("www-authenticate: bearer"));
    let wrong = request(
        &address,
        "POST",
        "/auth",
        &[JSON, ("authorization", "Bearer nope")],
        event(1).as_bytes(),
    );
    assert_eq!(wrong.status, 401);
    let get = request(&address, "GET", "/auth", &[auth], b"");
    assert_eq!(get.status, 405);
    assert!(get.head.contains("allow: post"), "{}", get.head);
    assert_eq!(
        request(&address, "POST", "/nowhere", &[auth, JSON], b"{}").status,
        404
    );
    let large = vec![b' '; 5000];
    assert_eq!(
        request(&address, "POST", "/auth", &[auth, JSON], &large).status,
        413
    );
    assert_eq!(
        request(
            &address,
            "POST",
            "/auth",
            &[auth, ("content-type", "text/csv")],
            b"a,b"
        )
        .status,
        415
    );

    // A single malformed event: 400 with its reason.
    let no_type = request(
        &address,
        "POST",
        "/auth",
        &[
            auth,
            JSON,
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/t"),
        ],
        event(1).as_bytes(),
    );
    assert_eq!(no_type.status, 400, "{}", no_type.body);
    assert!(
        no_type.body.contains("bad_envelope") && no_type.body.contains("ce-type"),
        "{}",
        no_type.body
    );
    let missing = request(
        &address,
        "POST",
        "/auth",
        &[auth, JSON],
        br#"{"ts":"2026-01-01T00:00:00Z"}"#,
    );
    assert_eq!(missing.status, 400);
    assert!(missing.body.contains("missing_field"), "{}", missing.body);

    // What was refused goes to the dead-letter file (flushed at the next
    // checkpoint).
    let waited = Instant::now();
    loop {
        let dead = mesh_support::read_dead_letters(&dir.join("dead-letter.jsonl"));
        let reasons: Vec<&str> = dead.iter().filter_map(|r| r["reason"].as_str()).collect();
        if reasons.contains(&"bad_envelope") && reasons.contains(&"missing_field") {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "{dead:#?}\n{}",
            job.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A batch with good and bad events: the good ones accepted, counted.
    let batch = format!(
        "[{}, {{\"specversion\":\"1.0\",\"source\":\"/t\",\"type\":\"t\",\"data\":{{}}}}, {}]",
        ce(&event(2)),
        ce(&event(3))
    );
    let partly = request(
        &address,
        "POST",
        "/auth",
        &[auth, ("content-type", "application/cloudevents-batch+json")],
        batch.as_bytes(),
    );
    assert_eq!(partly.status, 202, "{}", partly.body);
    let counts: serde_json::Value = serde_json::from_str(&partly.body).expect("a JSON answer");
    assert_eq!(
        (counts["accepted"].as_u64(), counts["rejected"].as_u64()),
        (Some(2), Some(1))
    );

    // The webhook never answers, so the job stops reading: the backlog
    // fills and the source pushes back instead of queueing.
    let started = Instant::now();
    let mut pushed_back = None;
    for n in 10..200 {
        let answer = request(
            &address,
            "POST",
            "/auth",
            &[auth, JSON],
            event(n).as_bytes(),
        );
        if answer.status == 429 {
            pushed_back = Some(answer);
            break;
        }
        assert_eq!(answer.status, 202, "{}", answer.body);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    let pushed_back = pushed_back.expect("a 429 once the backlog is full");
    assert!(
        pushed_back.head.contains("retry-after: 1"),
        "{}",
        pushed_back.head
    );

    // Every answer is counted per status.
    let stderr = job.stderr();
    let metrics_address = stderr
        .lines()
        .find_map(|l| l.split("metrics, health and reload on http://").nth(1))
        .expect("the metrics endpoint's address")
        .trim()
        .to_string();
    let exposition = request(&metrics_address, "GET", "/metrics", &[], b"").body;
    for expected in [
        "eddy_http_requests_total{status=\"401\"} 2",
        "eddy_http_requests_total{status=\"405\"} 1",
        "eddy_http_requests_total{status=\"413\"} 1",
        "eddy_http_requests_total{status=\"429\"} 1",
    ] {
        assert!(
            exposition.contains(expected),
            "no `{expected}` in\n{exposition}"
        );
    }
    drop(receiver);
    let _ = job.kill_dash_nine();
}

/// A structured CloudEvent around `data`.
fn ce(data: &str) -> String {
    format!(r#"{{"specversion":"1.0","id":"x","source":"/t","type":"t","data":{data}}}"#)
}

/// Three runs over one write-ahead log: the first stops cleanly (its last
/// checkpoint covers the first half, and the log is truncated behind it);
/// the second answers `202` for the second half and is killed before any
/// checkpoint covers it (its interval is an hour); the third replays the
/// second half from the log and derives everything.
#[test]
fn a_kill_dash_nine_after_202_loses_nothing() {
    let case = mesh_support::FraudCase::new();
    let (dir, rules) = (case.dir(), &case.rules);
    let config = config(dir, "1h", "");
    let half = |first: bool| case.part(usize::from(!first), 2);

    let mut job = EddyJob::start(dir, "http-first-half", rules, &config);
    let address = mesh_support::listening_address(&mut job);
    post(dir, &address, "ndjson", &half(true), &[]);
    let first = job.terminate();

    let mut job = EddyJob::start(dir, "http-second-half", rules, &config);
    let address = mesh_support::listening_address(&mut job);
    let statuses = post(dir, &address, "ndjson", &half(false), &[]);
    assert_eq!(statuses.keys().collect::<Vec<_>>(), ["202"], "{statuses:?}");
    let second = job.kill_dash_nine();
    assert!(
        !second.contains("checkpoint of"),
        "no checkpoint after the first one of the run:\n{second}"
    );

    let mut job = EddyJob::start(dir, "http-after-kill", rules, &config);
    mesh_support::wait_for_output(
        &dir.join("out.jsonl"),
        &case.expected,
        &mut job,
        OUTPUT_WAIT,
    );
    let third = job.terminate();
    let context = format!("first run:\n{first}\nsecond:\n{second}\nthird:\n{third}");
    assert!(
        third.contains("replaying"),
        "the restarted job replays its write-ahead log:\n{context}"
    );
    let got = kafka_support::before(
        &mesh_support::read_output(&dir.join("out.jsonl")),
        kafka_support::SENTINEL_CUTOFF,
    );
    kafka_support::assert_same_events(&got, &case.expected, &context);
}
