#!/usr/bin/env bash
# A local S3-protocol server for the checkpoint-in-a-bucket tests: moto's
# server mode, from PyPI. Chosen over s3s-fs for fidelity where eddy
# depends on it: moto enforces conditional puts (If-None-Match: * answers
# 412 when the key exists), which is how eddy fences a zombie instance.
# Storage is in memory: a restart forgets every bucket.
#
#   .ci/s3.sh [start]   install if absent, start on 127.0.0.1:9000, wait
#   .ci/s3.sh stop      stop the server this script started
#   .ci/s3.sh status    exit 0 if something answers on the port
#
# The tests create their buckets; any credentials are accepted. The log and
# pid file live in $EDDY_S3_DIR (default /tmp/eddy-s3).
set -euo pipefail

HOST=127.0.0.1
PORT=9000
NAME=moto
STATE_DIR="${EDDY_S3_DIR:-/tmp/eddy-s3}"
PYTHON="${PYTHON:-python3}"
MOTO_VERSION=5.1.22
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

start() {
    "$PYTHON" -c "import importlib.metadata as m; raise SystemExit(m.version('moto') != '$MOTO_VERSION')" 2>/dev/null \
        || pip_install "moto[server]==$MOTO_VERSION"
    start_daemon "$PYTHON" -m moto.server -H "$HOST" -p "$PORT"
}

main "$@"
