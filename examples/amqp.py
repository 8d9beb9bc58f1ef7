#!/usr/bin/env python3
"""A small RabbitMQ client for trying eddy by hand (Python pika, which
`.ci/rabbitmq.sh start` installs).

  python3 examples/amqp.py setup                 # the queues of examples/amqp.toml
  python3 examples/amqp.py publish QUEUE FILE.jsonl
  python3 examples/amqp.py alerts [--max N]      # what eddy published (eddy-alerts queue)

`setup` declares eddy-auth, eddy-payments, eddy-settlements and eddy-alerts,
the last bound to amq.topic under `eddy.#` (the sink's routing keys are
`eddy.{type}`). `alerts` prints one CloudEvent per message, rebuilt from the
`cloudEvents:*` headers and the body in binary mode.
"""

import argparse
import json

import pika

URL = "amqp://guest:guest@127.0.0.1:5672/%2f"
INPUTS = ["eddy-auth", "eddy-payments", "eddy-settlements"]


def connect(args):
    return pika.BlockingConnection(pika.URLParameters(args.url))


def setup(args):
    connection = connect(args)
    channel = connection.channel()
    for queue in INPUTS + ["eddy-alerts"]:
        channel.queue_declare(queue=queue, durable=True)
        print(f"queue {queue}")
    channel.queue_bind(queue="eddy-alerts", exchange="amq.topic", routing_key="eddy.#")
    connection.close()


def publish(args):
    connection = connect(args)
    channel = connection.channel()
    channel.confirm_delivery()
    count = 0
    with open(args.file, "rb") as lines:
        for line in lines:
            line = line.rstrip(b"\n")
            if line:
                channel.basic_publish(
                    exchange="",
                    routing_key=args.queue,
                    body=line,
                    properties=pika.BasicProperties(content_type="application/json", delivery_mode=2),
                )
                count += 1
    connection.close()
    print(f"published {count} messages to {args.queue}")


def alerts(args):
    connection = connect(args)
    channel = connection.channel()
    taken = 0
    while args.max is None or taken < args.max:
        method, properties, body = channel.basic_get(queue="eddy-alerts", auto_ack=True)
        if method is None:
            break
        headers = properties.headers or {}
        event = {k[len("cloudEvents:"):]: v for k, v in headers.items() if k.startswith("cloudEvents:")}
        if event:
            event["data"] = json.loads(body)
        else:
            event = json.loads(body)
        print(json.dumps(event))
        taken += 1
    connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=URL)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup").set_defaults(run=setup)
    p = commands.add_parser("publish")
    p.add_argument("queue")
    p.add_argument("file")
    p.set_defaults(run=publish)
    a = commands.add_parser("alerts")
    a.add_argument("--max", type=int)
    a.set_defaults(run=alerts)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
