//! The Prometheus text exposition format (version 0.0.4) of [`Metrics`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::{lock, Metrics};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// All metrics, in a stable order.
pub fn render(metrics: &Metrics) -> String {
    let mut out = String::new();
    labelled(
        &mut out,
        "eddy_events_in_total",
        "counter",
        "Input events decoded, per stream.",
        "stream",
        &metrics.events_in.snapshot(),
    );
    labelled(
        &mut out,
        "eddy_rejected_total",
        "counter",
        "Input messages sent to the dead-letter output, per reason.",
        "reason",
        &metrics.rejected.snapshot(),
    );
    labelled(
        &mut out,
        "eddy_late_events_total",
        "counter",
        "Events older than their stream's watermark on arrival, per stream.",
        "stream",
        &metrics.late.snapshot(),
    );
    labelled(
        &mut out,
        "eddy_derived_events_total",
        "counter",
        "Derived events emitted, per rule.",
        "rule",
        &metrics.derived.snapshot(),
    );
    labelled(
        &mut out,
        "eddy_open_state_entries",
        "gauge",
        "Open pattern candidates or windows, per rule.",
        "rule",
        &lock(&metrics.open_state).clone(),
    );
    labelled(
        &mut out,
        "eddy_watermark_lag_seconds",
        "gauge",
        "Processing time minus the stream's event-time watermark.",
        "stream",
        &lock(&metrics.watermark_lag_seconds).clone(),
    );
    labelled(
        &mut out,
        "eddy_consumer_lag_messages",
        "gauge",
        "Messages of the assigned partitions not read yet, per topic.",
        "topic",
        &lock(&metrics.consumer_lag).clone(),
    );
    labelled(
        &mut out,
        "eddy_reloads_total",
        "counter",
        "Rule reloads, per outcome (applied, refused).",
        "outcome",
        &metrics.reloads.snapshot(),
    );
    labelled(
        &mut out,
        "eddy_http_requests_total",
        "counter",
        "Requests to the HTTP source, per status of the answer (202 accepted, 429 pushed back, ...).",
        "status",
        &metrics.http_answers.snapshot(),
    );
    header(
        &mut out,
        "eddy_limit_hits_total",
        "counter",
        "Times a state limit bit (a candidate evicted or refused, a window refused), per rule.",
    );
    for ((rule, limit), count) in lock(&metrics.limit_hits).iter() {
        let _ = writeln!(
            out,
            "eddy_limit_hits_total{{rule=\"{}\",limit=\"{limit}\"}} {count}",
            escape(rule)
        );
    }
    single(
        &mut out,
        "eddy_state_bytes",
        "gauge",
        "Operator state at the last checkpoint.",
        metrics.state_bytes.load(Ordering::Relaxed) as f64,
    );
    single(
        &mut out,
        "eddy_checkpoints_total",
        "counter",
        "Checkpoints stored.",
        metrics.checkpoints.load(Ordering::Relaxed) as f64,
    );
    single(
        &mut out,
        "eddy_checkpoint_duration_seconds",
        "gauge",
        "How long the last checkpoint took, acknowledgements included.",
        *lock(&metrics.checkpoint_seconds),
    );
    single(
        &mut out,
        "eddy_checkpoint_size_bytes",
        "gauge",
        "Size of the last checkpoint's operator state.",
        metrics.checkpoint_bytes.load(Ordering::Relaxed) as f64,
    );
    single(
        &mut out,
        "eddy_assigned_partitions",
        "gauge",
        "Partition numbers this instance runs.",
        metrics.partitions.load(Ordering::Relaxed) as f64,
    );
    single(
        &mut out,
        "eddy_ready",
        "gauge",
        "1 when assigned partitions are restored and consuming.",
        f64::from(u8::from(metrics.is_ready())),
    );
    let (quantiles, count) = metrics.latency_quantiles();
    header(
        &mut out,
        "eddy_latency_seconds",
        "summary",
        "From reading a message to emitting the derived events it completed.",
    );
    for (q, seconds) in quantiles {
        let _ = writeln!(out, "eddy_latency_seconds{{quantile=\"{q}\"}} {seconds}");
    }
    let _ = writeln!(out, "eddy_latency_seconds_count {count}");
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn labelled<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    label: &str,
    values: &BTreeMap<String, V>,
) {
    header(out, name, kind, help);
    for (value, count) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {count}", escape(value));
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::reject::RejectReason;

    #[test]
    fn renders_counters_gauges_and_the_latency_summary() {
        let metrics = Metrics::new();
        metrics.events_in("auth", 3);
        metrics.events_in("auth", 2);
        metrics.rejected(RejectReason::MalformedJson);
        metrics.derived("weird\"rule");
        metrics.latency(Duration::from_micros(250), 1);
        metrics.checkpoint(Duration::from_millis(12), 4096);
        let text = render(&metrics);
        assert!(text.contains(
            "# TYPE eddy_events_in_total counter\neddy_events_in_total{stream=\"auth\"} 5\n"
        ));
        assert!(text.contains("eddy_rejected_total{reason=\"malformed_json\"} 1\n"));
        assert!(text.contains("eddy_derived_events_total{rule=\"weird\\\"rule\"} 1\n"));
        assert!(text.contains("eddy_checkpoint_size_bytes 4096\n"));
        assert!(text.contains("eddy_latency_seconds_count 1\n"));
        let p99 = text
            .lines()
            .find_map(|l| l.strip_prefix("eddy_latency_seconds{quantile=\"0.99\"} "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap();
        assert!((0.000249..0.000252).contains(&p99), "{p99}");
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
