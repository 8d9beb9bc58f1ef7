#!/usr/bin/env python3
"""The throughput cost of repartitioning, as a ratio in one invocation.

Rule P (benches/rules/p.eddy, by user) over the same `eddy generate bench`
events on a topic of PARTITIONS partitions, run two ways, alternately,
ROUNDS times each:

  in-place    messages keyed by user and `key_field = "user"` declared: the
              job reads the topic in place (task group 0);
  re-keyed    messages without a key (spread over the partitions), nothing
              declared: the job forwards every event through its internal
              topic `<group>-repartition-auth-user` and runs P on that.

Each run starts a fresh consumer group on topics already holding every
event, and is timed from its first event into the rule's pipeline to its
last (`eddy_events_in_total` on the metrics endpoint, polled every 50 ms),
so the group join is not counted. Prints events/s per run and the ratio of
the medians.

  bash .ci/broker.sh start
  cargo build --release -p engine --bin eddy
  python3 benches/kafka_repartition.py [--eddy target/release/eddy]
      [--events 200000] [--partitions 2] [--rounds 3]
"""

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

BROKERS = "127.0.0.1:9092"
ROOT = Path(__file__).resolve().parent.parent
# Bound on one run: the job reading every event.
RUN_TIMEOUT_S = 600


def create(topics, partitions):
    admin = AdminClient({"bootstrap.servers": BROKERS})
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    for future in futures.values():
        future.result()


def produce(topic, lines, keyed):
    producer = Producer({"bootstrap.servers": BROKERS, "linger.ms": 20})
    for line in lines:
        key = None
        if keyed:
            # The field the rule groups by, as its text.
            key = line.split('"user":"', 1)[1].split('"', 1)[0]
        while True:
            try:
                producer.produce(topic, line.encode(), key=key)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)


def events_in(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return 0
    total = 0
    for line in text.splitlines():
        if line.startswith('eddy_events_in_total{stream="auth"}'):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def run(eddy, work, mode, topic, count, port):
    group = f"bench-{mode}-{uuid.uuid4().hex[:8]}"
    key_field = 'key_field = "user"\n' if mode == "in-place" else ""
    config = work / f"{group}.toml"
    config.write_text(
        f"""rules = ["{work / 'rules.eddy'}"]
idle_partition_timeout = "30s"
[kafka]
brokers = "{BROKERS}"
group_id = "{group}"
[kafka.client]
"session.timeout.ms" = "6000"
[checkpoint]
dir = "{work / group}"
interval = "5s"
[metrics]
listen = "127.0.0.1:{port}"
[streams.auth]
topic = "{topic}"
{key_field}
[sinks."*"]
type = "kafka"
topic = "{topic}-out"
[dead_letter]
type = "kafka"
topic = "{topic}-dead"
"""
    )
    log = open(work / f"{group}.log", "w")
    job = subprocess.Popen([eddy, "run", "--config", str(config)], stderr=log, stdout=log)
    first = None
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            n = events_in(port)
            now = time.monotonic()
            if n > 0 and first is None:
                first = (now, n)
            if n >= count:
                start, already = first
                # Events in before the first poll that saw any are not timed.
                return (count - already) / max(now - start, 1e-3)
            if job.poll() is not None:
                raise SystemExit(f"eddy exited {job.returncode}; see {log.name}")
            time.sleep(0.05)
        raise SystemExit(f"{mode}: not every event read in {RUN_TIMEOUT_S} s; see {log.name}")
    finally:
        job.send_signal(signal.SIGTERM)
        job.wait(60)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--eddy", default=str(ROOT / "target/release/eddy"))
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        data = work / "data"
        subprocess.run(
            [args.eddy, "generate", "bench", "--events", str(args.events), "--out", str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        rules = (ROOT / "benches/rules/stream.eddy").read_text()
        rules += (ROOT / "benches/rules/p.eddy").read_text()
        (work / "rules.eddy").write_text(rules)
        lines = (data / "auth.jsonl").read_text().splitlines()
        suffix = uuid.uuid4().hex[:8]
        topics = {}
        for mode in ("in-place", "re-keyed"):
            topic = f"bench-{mode}-{suffix}"
            create([topic, f"{topic}-out", f"{topic}-dead"], args.partitions)
            produce(topic, lines, keyed=(mode == "in-place"))
            topics[mode] = topic
        rates = {"in-place": [], "re-keyed": []}
        port = 19464
        for round_ in range(args.rounds):
            for mode in ("in-place", "re-keyed"):
                port += 1
                rate = run(args.eddy, work, mode, topics[mode], len(lines), port)
                rates[mode].append(rate)
                print(f"round {round_ + 1} {mode:9} {rate:12,.0f} events/s", flush=True)
        medians = {m: statistics.median(r) for m, r in rates.items()}
        print(
            f"{len(lines):,} events, {args.partitions} partitions: "
            f"re-keyed / in-place = {medians['re-keyed'] / medians['in-place']:.2f}"
        )


if __name__ == "__main__":
    os.umask(0o077)
    main()
