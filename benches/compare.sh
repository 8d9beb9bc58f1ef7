#!/usr/bin/env bash
# Side-by-side comparison of eddy and Varpulis (crates.io `varpulis-cli`) on
# the same generated workloads. See benches/README.md.
#
#   benches/compare.sh [--events N] [--users U] [--workloads "f p w"] [--install-only]
#
# For each workload (F filter, P pattern, W window) it runs eddy, then
# Varpulis, back to back on the same generated file, and prints wall time,
# events/s, peak memory and match counts of each, and the ratio of eddy's
# events/s to Varpulis's.
#
# Everything heavy lives outside the clone, in $EDDY_COMPARE_CACHE
# (default ~/.cache/eddy-compare): Varpulis's sources, its target dir and
# binary, the generated event files and the outputs of the last run.
# Environment: EDDY_BIN (an eddy binary to use instead of building one),
# VARPULIS_VERSION, INSTALL_TIMEOUT, BUILD_TIMEOUT, RUN_TIMEOUT (seconds).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${EDDY_COMPARE_CACHE:-$HOME/.cache/eddy-compare}"
VARPULIS_VERSION="${VARPULIS_VERSION:-0.11.0}"
EVENTS=1000000
USERS=10000
WORKLOADS="f p w"
INSTALL_ONLY=0
# Bounds, in seconds: the Varpulis build (a cold one is long on 2 cores),
# the eddy build, and each single engine run.
INSTALL_TIMEOUT="${INSTALL_TIMEOUT:-5400}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-3600}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"

while [ $# -gt 0 ]; do
    case "$1" in
        --events) EVENTS="$2"; shift 2 ;;
        --users) USERS="$2"; shift 2 ;;
        --workloads) WORKLOADS="$2"; shift 2 ;;
        --install-only) INSTALL_ONLY=1; shift ;;
        -h|--help) sed -n 2,18p "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

log() { echo "compare.sh: $*" >&2; }

VARPULIS_BIN="$CACHE/bin/varpulis"

# The published varpulis-cli 0.11.0 does not build as packaged: its
# `security-init` command `include_str!`s 13 demo files from the Varpulis
# repository (../../../../deploy, ../../../../examples relative to
# src/commands/) that are not in the crate. The crate is fetched through
# cargo, laid out as crates/varpulis-cli inside a small tree, and those
# files are created empty: they only feed that demo command.
install_varpulis() {
    if [ -x "$VARPULIS_BIN" ]; then
        return 0
    fi
    if command -v varpulis >/dev/null 2>&1; then
        VARPULIS_BIN="$(command -v varpulis)"
        return 0
    fi
    local fetch="$CACHE/fetch" tree="$CACHE/varpulis-tree"
    mkdir -p "$fetch/src" "$CACHE/bin"
    log "fetching varpulis-cli $VARPULIS_VERSION through cargo"
    cat >"$fetch/Cargo.toml" <<TOML
[package]
name = "fetch-varpulis"
version = "0.0.0"
edition = "2021"
[dependencies]
varpulis-cli = "=$VARPULIS_VERSION"
TOML
    echo 'fn main() {}' >"$fetch/src/main.rs"
    (cd "$fetch" && timeout 600 cargo fetch --quiet)
    local src
    src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/varpulis-cli-"$VARPULIS_VERSION" | head -n 1)"
    rm -rf "$tree"
    mkdir -p "$tree/crates"
    cp -r "$src" "$tree/crates/varpulis-cli"
    local asset
    grep -oh 'include_str!("[^"]*")' -r "$tree/crates/varpulis-cli/src/commands" \
        | sed 's/include_str!("\(.*\)")/\1/' | sort -u | while read -r asset; do
        asset="$tree/crates/varpulis-cli/src/commands/$asset"
        if [ ! -e "$asset" ]; then
            mkdir -p "$(dirname "$asset")"
            : >"$asset"
        fi
    done
    log "building varpulis (long on 2 cores; bounded to ${INSTALL_TIMEOUT}s)"
    CARGO_TARGET_DIR="$CACHE/target" timeout "$INSTALL_TIMEOUT" nice -n 10 \
        cargo install --locked --path "$tree/crates/varpulis-cli" --root "$CACHE" --bin varpulis
}

install_varpulis
if [ "$INSTALL_ONLY" = 1 ]; then
    log "varpulis at $VARPULIS_BIN"
    exit 0
fi

# ---------------------------------------------------------------- eddy ----

build_eddy() {
    if [ -n "${EDDY_BIN:-}" ]; then
        return 0
    fi
    log "building eddy (release; bounded to ${BUILD_TIMEOUT}s)"
    (cd "$REPO" && timeout "$BUILD_TIMEOUT" cargo build --quiet --release -p engine --bin eddy)
    EDDY_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/eddy"
}

build_eddy

# ------------------------------------------------------------ workload ----

# eddy's `eddy generate bench` writes the event time as "ts" (epoch ms).
# Varpulis takes an event's time only from an RFC 3339 "@timestamp" field
# (else it stamps the wall clock at parse time, and its event-time windows
# would not see the file's time), so the file both engines read carries
# both: eddy ignores the extra field, Varpulis ignores "ts".
DATA="$CACHE/data/bench-$EVENTS-$USERS"
INPUT="$DATA/auth.jsonl"
if [ ! -s "$INPUT" ]; then
    log "generating $EVENTS events over $USERS users into $DATA"
    mkdir -p "$DATA"
    timeout "$RUN_TIMEOUT" "$EDDY_BIN" generate bench --out "$DATA/raw" \
        --events "$EVENTS" --users "$USERS" >/dev/null
    timeout "$RUN_TIMEOUT" perl -MPOSIX=strftime -pe '
        s/^\{"ts":(\d+),/sprintf(q({"ts":%d,"@timestamp":"%s.%03dZ",), $1,
            strftime("%Y-%m-%dT%H:%M:%S", gmtime(int($1 \/ 1000))), $1 % 1000)/e
    ' "$DATA/raw/auth.jsonl" >"$INPUT.tmp"
    mv "$INPUT.tmp" "$INPUT"
    rm -rf "$DATA/raw"
fi

# ----------------------------------------------------------- measuring ----

# measure NAME CMD...: runs CMD bounded by RUN_TIMEOUT, its stdout and
# stderr to $OUT/NAME.log, and sets WALL (seconds), PEAK_KB (maximum
# resident set) and STATUS. GNU time when present, else a Python wrapper
# reading the child's rusage.
measure() {
    local name="$1" times="$OUT/$1.time"
    shift
    STATUS=0
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -o "$times" -f '%e %M' \
            timeout "$RUN_TIMEOUT" "$@" >"$OUT/$name.log" 2>&1 || STATUS=$?
    else
        python3 - "$times" "$RUN_TIMEOUT" "$@" >"$OUT/$name.log" 2>&1 <<'PY' || STATUS=$?
import resource, subprocess, sys, time
out, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
start = time.monotonic()
try:
    code = subprocess.run(cmd, timeout=limit).returncode
except subprocess.TimeoutExpired:
    code = 124
wall = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(out, "w").write(f"{wall:.2f} {peak}\n")
sys.exit(code)
PY
    fi
    # GNU time writes "Command exited with non-zero status N" first.
    WALL=0 PEAK_KB=0
    if [ -s "$times" ]; then
        read -r WALL PEAK_KB < <(tail -n 1 "$times") || true
    fi
}

count_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }

OUT="$CACHE/out"
rm -rf "$OUT"
mkdir -p "$OUT"
RULES="$REPO/benches/rules"

printf '%-3s %-9s %9s %12s %9s %9s  %s\n' \
    wl engine wall_s events_s peak_MiB matches status
RESULTS=()
for wl in $WORKLOADS; do
    # eddy, then Varpulis, on the same file, back to back.
    measure "eddy-$wl" "$EDDY_BIN" run "$RULES/stream.eddy" "$RULES/$wl.eddy" \
        --input "auth=$INPUT" --output "$OUT/eddy-$wl.jsonl" \
        --dead-letter "$OUT/eddy-$wl.dead.jsonl"
    eddy_status=$STATUS eddy_wall=$WALL eddy_peak=$PEAK_KB
    eddy_matches=$(count_lines "$OUT/eddy-$wl.jsonl")
    # eddy prints no count of events read: all but the rejected ones.
    eddy_rejected=$(count_lines "$OUT/eddy-$wl.dead.jsonl")
    eddy_events=$((EVENTS - eddy_rejected))
    eddy_rate=$(rate "$eddy_events" "$eddy_wall")

    NO_COLOR=1 measure "varpulis-$wl" "$VARPULIS_BIN" simulate --streaming -q -w 1 \
        -p "$REPO/benches/varpulis/$wl.vpl" -e "$INPUT"
    vp_status=$STATUS vp_wall=$WALL vp_peak=$PEAK_KB
    vp_matches=$(sed -n 's/.*Output events emitted: *\([0-9]*\).*/\1/p' "$OUT/varpulis-$wl.log" | tail -n 1)
    vp_events=$(sed -n 's/.*Events processed: *\([0-9]*\).*/\1/p' "$OUT/varpulis-$wl.log" | tail -n 1)
    vp_rate=$(rate "${vp_events:-0}" "$vp_wall")

    printf '%-3s %-9s %9s %12s %9s %9s  %s\n' \
        "$wl" eddy "$eddy_wall" "$eddy_rate" "$((${eddy_peak:-0} / 1024))" "$eddy_matches" \
        "exit $eddy_status, $eddy_events events"
    printf '%-3s %-9s %9s %12s %9s %9s  %s\n' \
        "$wl" varpulis "$vp_wall" "$vp_rate" "$((${vp_peak:-0} / 1024))" "${vp_matches:--}" \
        "exit $vp_status, ${vp_events:-?} events"
    RESULTS+=("$wl $(ratio "$eddy_rate" "$vp_rate")")
done

echo
echo "events/s ratio eddy/Varpulis ($EVENTS events, $USERS users):"
for line in "${RESULTS[@]}"; do
    echo "  $line"
done
echo "logs and outputs: $OUT"
