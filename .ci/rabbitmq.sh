#!/usr/bin/env bash
# RabbitMQ for the AMQP connector's integration tests (engine/amqp): Debian's
# rabbitmq-server package (3.10 on bookworm, with its Erlang), listening on
# 127.0.0.1:5672 only; Erlang's port mapper (epmd) and the node's
# distribution port stay on loopback too. No management plugin.
#
#   .ci/rabbitmq.sh [start]   install if absent, start, wait until booted
#   .ci/rabbitmq.sh stop      stop the node (rabbitmqctl stop)
#   .ci/rabbitmq.sh status    exit 0 if something answers on the port
#
# Measured on the 2-core machine (Debian 12): the install (apt-get update +
# install of rabbitmq-server 3.10.8 and Erlang 25) took 17.6 s; a start, from
# launch to `rabbitmqctl await_startup` done, 6 s (first boot) to 8 s.
#
# The eddy job's tests (engine/tests/amqp_job.rs) publish and read with
# pika, installed here. The tests declare their own queues and exchanges and log in as
# guest/guest, which RabbitMQ allows from loopback only. The node's data is
# RabbitMQ's own (/var/lib/rabbitmq), so durable queues survive a restart;
# this script's log and pid file live in $EDDY_RABBITMQ_DIR (default
# /tmp/eddy-rabbitmq). Idempotent: `start` does nothing when the port
# already answers.
set -euo pipefail

HOST=127.0.0.1
PORT=5672
NAME=rabbitmq
STATE_DIR="${EDDY_RABBITMQ_DIR:-/tmp/eddy-rabbitmq}"
PYTHON="${PYTHON:-python3}"
# The tests' independent AMQP client (pure Python, installs in seconds).
PIKA_VERSION=1.3.2
# Erlang boots in a few seconds; a cold first boot (new database) is slower.
START_TIMEOUT_S="${START_TIMEOUT_S:-90}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

install() {
    command -v rabbitmq-server >/dev/null && return
    if ! command -v apt-get >/dev/null; then
        say "rabbitmq-server is needed (Debian's package)"
        return 1
    fi
    say "installing rabbitmq-server from Debian"
    local began=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
    say "installed in $((SECONDS - began)) s"
    # Where the package's scripts may start the service (no policy-rc.d),
    # that node runs with the default, all-interfaces configuration: stop it
    # before ours is written.
    if rabbitmqctl -q status >/dev/null 2>&1; then
        say "stopping the node the package started"
        rabbitmqctl -q stop >/dev/null 2>&1 || true
    fi
}

# The node name is pinned to localhost so neither the server nor rabbitmqctl
# depends on the machine's host name resolving. The env file is sourced by
# every RabbitMQ script (server and CLI alike), so both agree.
configure() {
    mkdir -p /etc/rabbitmq
    cat >/etc/rabbitmq/rabbitmq-env.conf <<'CONF'
# Written by eddy's .ci/rabbitmq.sh: a loopback-only test node.
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CONF
    cat >/etc/rabbitmq/rabbitmq.conf <<'CONF'
# Written by eddy's .ci/rabbitmq.sh: a loopback-only test node.
listeners.tcp.default = 127.0.0.1:5672
CONF
}

start() {
    install
    "$PYTHON" -c "import importlib.metadata as m; raise SystemExit(m.version('pika') != '$PIKA_VERSION')" 2>/dev/null \
        || pip_install "pika==$PIKA_VERSION"
    configure
    local began=$SECONDS
    # Foreground under start_daemon (setsid, log, pid of the wrapper's su).
    start_daemon rabbitmq-server
    if ! timeout "$START_TIMEOUT_S" rabbitmqctl -q await_startup >/dev/null; then
        say "did not finish booting within ${START_TIMEOUT_S}s; log: $LOG_FILE"
        return 1
    fi
    say "booted in $((SECONDS - began)) s"
}

stop() {
    if rabbitmqctl -q stop >/dev/null 2>&1; then
        say "stopped"
    fi
    # Also ends the wrapper if the node was gone already.
    stop_daemon
}

case "${1:-start}" in
    stop) stop ;;
    *) main "$@" ;;
esac
