#!/usr/bin/env python3
"""A small Kafka client for trying eddy by hand (Python confluent-kafka,
which `.ci/broker.sh start` installs).

  python3 examples/kafka.py create TOPIC... [--partitions N]
  python3 examples/kafka.py produce TOPIC FILE.jsonl [--key FIELD]
  python3 examples/kafka.py consume TOPIC [--max N] [--timeout SECONDS]

`consume` prints one JSON object per message: the CloudEvent of a binary-mode
message rebuilt from its `ce_*` headers and value, a structured-mode message
as it is, and for any other message its headers and value.
"""

import argparse
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BROKERS = "127.0.0.1:9092"


def create(args):
    admin = AdminClient({"bootstrap.servers": args.brokers})
    wanted = [NewTopic(t, args.partitions, 1) for t in args.topics]
    for topic, future in admin.create_topics(wanted).items():
        try:
            future.result()
            print(f"created {topic} ({args.partitions} partitions)")
        except KafkaException as error:
            if "already exists" not in str(error).lower() and "TOPIC_ALREADY_EXISTS" not in str(error):
                raise
            print(f"{topic} exists")


def produce(args):
    producer = Producer({"bootstrap.servers": args.brokers})
    count = 0
    with open(args.file, "rb") as lines:
        for line in lines:
            line = line.rstrip(b"\n")
            if not line:
                continue
            key = None
            if args.key:
                try:
                    value = json.loads(line).get(args.key)
                    key = None if value is None else str(value).encode()
                except (ValueError, AttributeError):
                    key = None  # a broken line goes in unkeyed, as it is
            producer.produce(args.topic, line, key=key)
            producer.poll(0)
            count += 1
    producer.flush(30)
    print(f"produced {count} messages to {args.topic}")


def as_json(message):
    headers = {k: (v.decode() if v is not None else None) for k, v in (message.headers() or [])}
    value = message.value() or b""
    if "ce_id" in headers:
        event = {k[3:]: v for k, v in headers.items() if k.startswith("ce_")}
        event["data"] = json.loads(value)
        return event
    try:
        body = json.loads(value)
    except ValueError:
        body = value.decode(errors="replace")
    if headers.get("content-type", "").startswith("application/cloudevents+json"):
        return body
    return {"headers": headers, "value": body}


def consume(args):
    # Reads every partition from the start without joining a group: nothing
    # to wait for, nothing committed.
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "kafka-py",
        "enable.auto.commit": False,
    })
    metadata = consumer.list_topics(args.topic, timeout=10).topics[args.topic]
    if metadata.error is not None:
        sys.exit(f"topic {args.topic}: {metadata.error}")
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
    deadline = time.monotonic() + args.timeout
    seen = 0
    try:
        while seen < args.max and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                print(f"error: {message.error()}", file=sys.stderr)
                continue
            print(json.dumps(as_json(message)))
            seen += 1
    finally:
        consumer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=BROKERS)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("create")
    c.add_argument("topics", nargs="+")
    c.add_argument("--partitions", type=int, default=1)
    c.set_defaults(run=create)
    p = commands.add_parser("produce")
    p.add_argument("topic")
    p.add_argument("file")
    p.add_argument("--key")
    p.set_defaults(run=produce)
    r = commands.add_parser("consume")
    r.add_argument("topic")
    r.add_argument("--max", type=int, default=1_000_000)
    r.add_argument("--timeout", type=float, default=10.0)
    r.set_defaults(run=consume)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
