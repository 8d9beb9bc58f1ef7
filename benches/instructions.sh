#!/usr/bin/env bash
# Instruction counts per benchmark workload, by valgrind's callgrind. The
# same binary on the same input executes the same instructions whatever
# else the machine is doing, so an optimisation shows its gain as a number
# that does not swing with the load (seconds on this shared machine swing
# by 25%). Counts cover every thread of `eddy run` (reading, decoding, the
# pipeline, writing), start-up included.
#
#   benches/instructions.sh [EDDY] [EVENTS] [WORKLOADS]
#   benches/instructions.sh target/release/eddy 100000 "f p w"
#
# Compare two builds by running it on each: the input is generated with a
# fixed seed, so both count the same events.
set -euo pipefail
cd "$(dirname "$0")/.."

eddy="${1:-target/release/eddy}"
events="${2:-100000}"
workloads="${3:-f p w}"
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian's package)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$eddy" generate bench --out "$work" --events "$events" --seed 42 >/dev/null
input="$work/auth.jsonl"
[[ -f "$input" ]] || { echo "eddy generate wrote no $input" >&2; exit 1; }

printf '%-9s %16s %12s %8s\n' workload instructions "per event" "x F"
base=""
for workload in $workloads; do
    out="$work/$workload.callgrind"
    # Exit status 3 means some input was dead-lettered, as the workload's
    # file intends; anything else is a failure.
    status=0
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$eddy" run benches/rules/stream.eddy "benches/rules/$workload.eddy" \
        --input "auth=$input" --output "$work/$workload.jsonl" \
        --dead-letter "$work/$workload.dead-letter.jsonl" \
        >/dev/null 2>"$work/$workload.log" || status=$?
    if [[ $status -ne 0 && $status -ne 3 ]]; then
        echo "eddy run failed on workload $workload (status $status):" >&2
        cat "$work/$workload.log" >&2
        exit 1
    fi
    total="$(awk '/^(summary|totals):/ { print $2; exit }' "$out")"
    [[ -n "$base" ]] || base="$total"
    awk -v w="$workload" -v t="$total" -v n="$events" -v b="$base" \
        'BEGIN { printf "%-9s %16d %12.0f %8.2f\n", w, t, t / n, t / b }'
done
