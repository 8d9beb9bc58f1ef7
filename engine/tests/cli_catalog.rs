//! `eddy catalog`: the AsyncAPI document of the fraud pack, and the
//! compatibility check of derived events against a previous document.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fraud_rules() -> PathBuf {
    repo_root().join("examples/fraud/rules.eddy")
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-cli-catalog-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs eddy in the repository root, where examples/eddy.toml's `rules`
/// path is relative to.
fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(repo_root())
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

fn fraud_catalog() -> String {
    stdout(&eddy(&["catalog", "--config", "examples/eddy.toml"]))
}

fn parse(yaml: &str) -> Value {
    serde_norway::from_str(yaml).expect("the catalog is YAML")
}

fn object<'a>(value: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not a mapping: {value}"))
}

/// The value a local `$ref` names, which must exist.
fn resolve<'a>(document: &'a Value, reference: &Value) -> &'a Value {
    let target = reference["$ref"].as_str().expect("a $ref");
    let pointer = target.strip_prefix('#').expect("a local $ref");
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("$ref {target} does not resolve"))
}

/// Every `$ref` anywhere in `value`.
fn all_refs(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("$ref") {
                out.push(value.clone());
            }
            map.values().for_each(|v| all_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| all_refs(v, out)),
        _ => {}
    }
}

fn id_like(id: &str, extra: &[char]) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(&c))
}

#[test]
fn the_fraud_catalog_has_the_structure_asyncapi_3_requires() {
    let doc = parse(&fraud_catalog());
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(doc["info"]["version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));

    for (id, channel) in object(&doc["channels"], "channels") {
        assert!(id_like(id, &[]), "channel id {id}");
        assert!(
            channel["address"].is_string(),
            "channel {id} has an address"
        );
        for (name, message) in object(&channel["messages"], "channel messages") {
            assert!(id_like(name, &[]), "message id {name}");
            let component = resolve(&doc, message);
            assert!(component["payload"].is_object(), "{name} has a payload");
        }
    }

    let operations = object(&doc["operations"], "operations");
    for (id, operation) in operations {
        assert!(id_like(id, &[]), "operation id {id}");
        let action = operation["action"].as_str().unwrap();
        assert!(
            ["send", "receive"].contains(&action),
            "{id}: action {action}"
        );
        let channel_ref = operation["channel"]["$ref"].as_str().unwrap();
        assert!(
            channel_ref.starts_with("#/channels/"),
            "{id}: {channel_ref}"
        );
        resolve(&doc, &operation["channel"]);
        let messages = operation["messages"].as_array().unwrap();
        assert!(!messages.is_empty());
        for message in messages {
            // An operation's messages are those of its channel.
            let target = message["$ref"].as_str().unwrap();
            assert!(
                target.starts_with(&format!("{channel_ref}/messages/")),
                "{id}: {target}"
            );
            resolve(&doc, message);
        }
    }

    for section in ["messages", "schemas"] {
        for name in object(&doc["components"][section], section).keys() {
            assert!(id_like(name, &['.']), "component key {name}");
        }
    }
    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    assert!(refs.len() > 30);
    for reference in &refs {
        resolve(&doc, reference);
    }

    // What it says about the fraud pack.
    let mut ids: Vec<(&str, &str)> = operations
        .iter()
        .map(|(id, op)| (id.as_str(), op["action"].as_str().unwrap()))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("receive_auth", "receive"),
            ("receive_payments", "receive"),
            ("receive_settlements", "receive"),
            ("send_large_payment", "send"),
            ("send_password_spray", "send"),
            ("send_takeover", "send"),
            ("send_takeover_escalation", "send"),
            ("send_unsettled", "send"),
        ]
    );
    assert_eq!(doc["channels"]["eddy-alerts"]["address"], "eddy-alerts");
    assert_eq!(
        resolve(&doc, &doc["operations"]["send_takeover"]["channel"])["address"],
        "eddy-alerts"
    );

    let schemas = &doc["components"]["schemas"];
    let auth = &schemas["auth"];
    let required: Vec<&str> = auth["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        ["ip", "kind", "ts", "user_id"],
        "country is optional"
    );
    assert_eq!(auth["properties"]["ts"]["oneOf"][0]["format"], "date-time");
    assert_eq!(auth["properties"]["ts"]["oneOf"][1]["type"], "integer");

    let takeover = &schemas["eddy.takeover"];
    assert_eq!(takeover["properties"]["type"]["const"], "eddy.takeover");
    assert_eq!(takeover["properties"]["severity"]["enum"][0], "high");
    assert_eq!(
        takeover["properties"]["source"]["enum"][0],
        "eddy/rules/account_takeover"
    );
    let data = resolve(&doc, &takeover["properties"]["data"]);
    let fields = object(&data["properties"], "takeover data");
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        names.len(),
        6,
        "user_id, failures, first_failure, new_ip, amount, evidence: {names:?}"
    );
    assert_eq!(
        fields["failures"]["type"],
        serde_json::json!(["integer", "null"])
    );
    assert_eq!(fields["first_failure"]["format"], "date-time");
    assert_eq!(
        fields["amount"]["type"],
        serde_json::json!(["number", "null"])
    );
    let window_of = |event: &str| {
        schemas[format!("eddy.{event}.data")]["required"]
            .as_array()
            .unwrap()
            .contains(&Value::from("window"))
    };
    assert!(window_of("password_spray"));
    assert!(!window_of("takeover"));

    // Kafka binary mode: attributes as ce_* headers, the data as the value.
    let message = &doc["components"]["messages"]["eddy.takeover"];
    assert_eq!(
        message["payload"]["$ref"],
        "#/components/schemas/eddy.takeover.data"
    );
    assert!(resolve(&doc, &message["headers"])["properties"]["ce_subject"].is_object());
}

#[test]
fn the_fraud_catalog_snapshot() {
    insta::assert_snapshot!("fraud_catalog", fraud_catalog());
}

#[test]
fn the_document_is_the_same_every_time_and_in_a_file() {
    let dir = scratch("out");
    let file = dir.join("catalog.yaml");
    let first = fraud_catalog();
    let out = eddy(&[
        "catalog",
        "--config",
        "examples/eddy.toml",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(stdout(&out).is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
    assert_eq!(fraud_catalog(), first);
}

#[test]
fn without_a_config_streams_are_topics_of_their_names_and_events_go_to_stdout() {
    let rules = fraud_rules();
    let doc = parse(&stdout(&eddy(&["catalog", rules.to_str().unwrap()])));
    assert_eq!(doc["channels"]["payments"]["address"], "payments");
    assert_eq!(doc["channels"]["stdout"]["address"], "stdout");
    let message = &doc["components"]["messages"]["eddy.large_payment"];
    assert_eq!(message["contentType"], "application/cloudevents+json");
    assert_eq!(
        message["payload"]["$ref"],
        "#/components/schemas/eddy.large_payment"
    );
}

/// The previous catalog of the fraud pack, without a config.
fn previous_catalog(dir: &Path) -> PathBuf {
    let path = dir.join("previous.yaml");
    let rules = fraud_rules();
    let out = eddy(&[
        "catalog",
        rules.to_str().unwrap(),
        "--out",
        path.to_str().unwrap(),
    ]);
    stdout(&out);
    path
}

/// The fraud rules with `edits` applied, in `dir`.
fn edited_rules(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(fraud_rules()).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    let path = dir.join("rules.eddy");
    std::fs::write(&path, text).unwrap();
    path
}

fn check(rules: &Path, previous: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "catalog",
        rules.to_str().unwrap(),
        "--check",
        previous.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    eddy(&args)
}

#[test]
fn the_check_passes_against_the_same_rules() {
    let dir = scratch("same");
    let previous = previous_catalog(&dir);
    let out = check(&fraud_rules(), &previous, &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    assert!(out.stdout.is_empty(), "--check alone writes no document");
    // The deployed catalog (Kafka binary mode) has the same event data.
    let out = eddy(&[
        "catalog",
        "--config",
        "examples/eddy.toml",
        "--against",
        previous.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
}

const BREAKING_EDITS: [(&str, &str); 2] = [
    // `amount` of takeover (and so of takeover_escalation) becomes an int.
    ("amount: t.amount", "amount: count(t)"),
    // `unsettled` loses `amount`.
    (
        "emit unsettled { payment_id, amount: p.amount }",
        "emit unsettled { payment_id }",
    ),
];

#[test]
fn a_removed_field_or_a_changed_type_fails_with_a_line_each() {
    let dir = scratch("breaking");
    let previous = previous_catalog(&dir);
    let rules = edited_rules(&dir, &BREAKING_EDITS);
    let out = check(&rules, &previous, &[]);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(
        lines[..3],
        [
            "error: breaking change: event `takeover`: field `amount` changed type from `number | null` to `integer | null`",
            "error: breaking change: event `takeover_escalation`: field `amount` changed type from `number | null` to `integer | null`",
            "error: breaking change: event `unsettled`: field `amount` was removed",
        ]
    );
    assert!(
        lines[3].starts_with("eddy: 3 breaking change(s)"),
        "{lines:?}"
    );
}

#[test]
fn a_removed_event_fails() {
    let dir = scratch("removed");
    let previous = previous_catalog(&dir);
    let rules = edited_rules(
        &dir,
        &[(
            "emit large_payment { payment_id, user_id, amount }",
            "emit big_payment { payment_id, user_id, amount }",
        )],
    );
    let out = check(&rules, &previous, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_lines(&out)[0],
        "error: breaking change: event `large_payment` was removed"
    );
    let out = check(&rules, &previous, &["--allow-breaking", "large_payment"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
}

#[test]
fn declared_breaking_changes_pass() {
    let dir = scratch("declared");
    let previous = previous_catalog(&dir);
    let rules = edited_rules(&dir, &BREAKING_EDITS);
    let out = check(
        &rules,
        &previous,
        &[
            "--allow-breaking",
            "takeover.amount",
            "--allow-breaking",
            "takeover_escalation",
            "--allow-breaking",
            "unsettled.amount",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let lines = stderr_lines(&out);
    assert!(lines[0].starts_with(
        "eddy: allowed breaking change (--allow-breaking takeover.amount): event `takeover`"
    ));
    // Declaring one field does not cover another of the same event.
    let out = check(&rules, &previous, &["--allow-breaking", "takeover.amount"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn added_events_pass_and_added_fields_must_be_declared() {
    let dir = scratch("added");
    let previous = previous_catalog(&dir);
    let new_rule = "\nrule euro_payment\n  from payments\n  where currency == \"EUR\"\n  emit euro_payment { payment_id }\n";
    let mut text = std::fs::read_to_string(fraud_rules()).unwrap();
    text.push_str(new_rule);
    let rules = dir.join("rules.eddy");
    std::fs::write(&rules, text).unwrap();
    let out = check(&rules, &previous, &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));

    // Every emitted field is always present: events already written lack a
    // new one, so it is a breaking change to declare.
    let rules = edited_rules(
        &dir,
        &[(
            "emit unsettled { payment_id, amount: p.amount }",
            "emit unsettled { payment_id, amount: p.amount, user_id: p.user_id }",
        )],
    );
    let out = check(&rules, &previous, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_lines(&out)[0],
        "error: breaking change: event `unsettled`: field `user_id` was added as required (events written before lack it)"
    );
    let out = check(
        &rules,
        &previous,
        &["--allow-breaking", "unsettled.user_id"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
}

#[test]
fn a_previous_file_that_is_not_a_catalog_exits_2() {
    let dir = scratch("bad-previous");
    let not_yaml = dir.join("broken.yaml");
    std::fs::write(&not_yaml, "channels: [\n").unwrap();
    let out = check(&fraud_rules(), &not_yaml, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_lines(&out)[0].contains("is not YAML"));

    let not_catalog = dir.join("other.yaml");
    std::fs::write(&not_catalog, "asyncapi: 3.0.0\n").unwrap();
    let out = check(&fraud_rules(), &not_catalog, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_lines(&out),
        [format!(
            "error: the previous catalog {} is not an eddy catalog: it has no `components`",
            not_catalog.display()
        )]
    );

    let out = check(&fraud_rules(), &dir.join("missing.yaml"), &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn out_may_name_the_previous_catalog_and_is_kept_when_the_check_fails() {
    let dir = scratch("in-place");
    let previous = previous_catalog(&dir);
    let before = std::fs::read_to_string(&previous).unwrap();
    let rules = edited_rules(&dir, &BREAKING_EDITS);
    let out = check(&rules, &previous, &["--out", previous.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&previous).unwrap(), before);

    let out = check(
        &rules,
        &previous,
        &[
            "--allow-breaking",
            "takeover",
            "--allow-breaking",
            "takeover_escalation",
            "--allow-breaking",
            "unsettled",
            "--out",
            previous.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let after = parse(&std::fs::read_to_string(&previous).unwrap());
    assert!(
        after["components"]["schemas"]["eddy.unsettled.data"]["properties"]["amount"].is_null()
    );
    // The new catalog is the next check's baseline: no change left.
    let out = check(&rules, &previous, &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
}

/// Each derived event's message names its rules' owners and
/// classifications, in the summary and as tags.
#[test]
fn owners_and_classifications_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.eddy");
    std::fs::write(
        &rules,
        "stream auth ( ts timestamp, user_id string ) time ts\n\
         rule watch owner \"fraud-ops\" classification restricted severity high\n  \
         from auth emit seen { user_id }\n",
    )
    .unwrap();
    let doc = parse(&stdout(&eddy(&["catalog", rules.to_str().unwrap()])));
    let message = &doc["components"]["messages"]["eddy.seen"];
    assert_eq!(
        message["summary"].as_str().unwrap_or_default(),
        "Emitted by rule `watch` (severity high, owner fraud-ops, restricted); \
         one CloudEvent per line."
    );
    let tags: Vec<&str> = message["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(tags, ["classification:restricted", "owner:fraud-ops"]);
}

#[test]
fn amqp_queues_and_exchanges_are_channels_with_their_bindings() {
    let doc = parse(&stdout(&eddy(&[
        "catalog",
        "--config",
        "examples/amqp.toml",
    ])));
    let queue = &doc["channels"]["eddy-auth"];
    assert_eq!(queue["address"], "eddy-auth");
    assert_eq!(queue["bindings"]["amqp"]["is"], "queue");
    assert_eq!(queue["bindings"]["amqp"]["queue"]["name"], "eddy-auth");
    let exchange = object(&doc["channels"], "channels")
        .values()
        .find(|c| c["bindings"]["amqp"]["is"] == "routingKey")
        .expect("the exchange's channel");
    assert_eq!(exchange["address"], "eddy.{type}");
    assert_eq!(
        exchange["bindings"]["amqp"]["exchange"]["name"],
        "amq.topic"
    );
    let send = &doc["operations"]["send_takeover"];
    assert_eq!(send["bindings"]["amqp"]["deliveryMode"], 2);
    assert_eq!(
        doc["operations"]["receive_auth"]["bindings"]["amqp"]["ack"],
        true
    );
    let message = &doc["components"]["messages"]["eddy.takeover"];
    assert!(
        message["summary"]
            .as_str()
            .unwrap()
            .contains("AMQP binary mode"),
        "{message}"
    );
}

#[test]
fn http_streams_are_channels_posted_to() {
    let doc = parse(&stdout(&eddy(&[
        "catalog",
        "--config",
        "examples/http.toml",
    ])));
    let channel = object(&doc["channels"], "channels")
        .values()
        .find(|c| c["address"] == "http://127.0.0.1:8080/auth")
        .expect("the auth endpoint's channel");
    assert!(channel["description"]
        .as_str()
        .unwrap()
        .contains("HTTP endpoint"));
    assert_eq!(
        doc["operations"]["receive_auth"]["bindings"]["http"]["method"],
        "POST"
    );
}
