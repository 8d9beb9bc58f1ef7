# Shared by the scripts that install and start the servers the integration
# tests need (broker.sh, s3.sh): each sets HOST, PORT, NAME, STATE_DIR and
# PYTHON, then sources this file.

PID_FILE="$STATE_DIR/$NAME.pid"
LOG_FILE="$STATE_DIR/$NAME.log"
START_TIMEOUT_S="${START_TIMEOUT_S:-30}"

say() {
    echo "$NAME: $*" >&2
}

port_answers() {
    timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

# A fresh Debian may lack Python's pip (or Python itself).
ensure_pip() {
    if command -v "$PYTHON" >/dev/null && "$PYTHON" -m pip --version >/dev/null 2>&1; then
        return
    fi
    if ! command -v apt-get >/dev/null; then
        say "$PYTHON with pip is needed"
        return 1
    fi
    say "installing python3 and pip from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq python3 python3-pip >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null; }
}

# pip_install PACKAGE...: into $PYTHON.
pip_install() {
    ensure_pip
    say "installing $*"
    # Debian's system Python refuses pip installs without the flag (PEP 668).
    "$PYTHON" -m pip install --quiet "$@" 2>/dev/null \
        || "$PYTHON" -m pip install --quiet --break-system-packages "$@"
}

our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# start_daemon COMMAND...: runs COMMAND detached, logging to $LOG_FILE, and
# waits until $HOST:$PORT answers.
start_daemon() {
    mkdir -p "$STATE_DIR"
    # setsid: the server outlives this script and ignores its terminal's signals.
    setsid "$@" >"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until port_answers; do
        if ! our_pid >/dev/null; then
            say "exited during start-up; its log:"
            cat "$LOG_FILE" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            say "did not answer on $HOST:$PORT within ${START_TIMEOUT_S}s; log: $LOG_FILE"
            return 1
        fi
        sleep 0.2
    done
    say "answers on $HOST:$PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

stop_daemon() {
    local pid
    if ! pid="$(our_pid)"; then
        say "no server started by this script is running"
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
    say "stopped (pid $pid)"
}

# main start|stop|status, with `start` calling the script's own `start`.
main() {
    case "${1:-start}" in
        start)
            if port_answers; then
                say "something already answers on $HOST:$PORT"
                return 0
            fi
            start
            ;;
        stop) stop_daemon ;;
        status) port_answers ;;
        *)
            echo "usage: $0 [start|stop|status]" >&2
            return 2
            ;;
    esac
}
