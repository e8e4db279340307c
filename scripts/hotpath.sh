#!/bin/sh
# The hot path's cost in instructions: two troupe builds side by side under callgrind, on the
# in-process benchmarks that are all message passing (pingpong, threadring), one worker.
#
# Instruction counts, not time: callgrind counts the same on a busy machine as on an idle one,
# so two builds can be compared on a shared box. Each benchmark runs three times per build:
#   total        the whole process (start-up, the dynamic loader, set-up, the run, exit);
#   workers      only inside worker_main (the worker threads: every activation, every send,
#                the scheduler, idle spinning; not the loader, parsing or the main thread);
#   activations  only inside tr__actor_run (the run loop and what it calls: the receive
#                callbacks, their sends, the mailbox and the schedule calls).
# "per msg" divides by the messages the benchmark passes (2n for pingpong, n for threadring).
# Both function names exist in every build since the real engine was written; check a new
# build with `callgrind_annotate` if a rename is suspected (a zero count means not found).
#
# Build both the same way, e.g.:
#   python3 -m ziglang build -Doptimize=ReleaseFast -Dcpu=x86_64_v3 --prefix /tmp/new
# (valgrind may not decode the native build's newest instructions: -Dcpu=x86_64_v3 avoids it.)
#
# Usage: scripts/hotpath.sh BASE_TROUPE NEW_TROUPE
#   HOTPATH_PINGPONG_N    pingpong round trips (default 200000)
#   HOTPATH_THREADRING_N  threadring hops (default 1000000)
# Exit: 0, 1 if a run failed, 2 on bad usage.
set -u
if [ $# -ne 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
    echo "usage: $0 BASE_TROUPE NEW_TROUPE (two executable troupe binaries)" >&2
    exit 2
fi
command -v valgrind >/dev/null || { echo "hotpath: valgrind is not installed" >&2; exit 2; }
base=$1
new=$2
pp_n=${HOTPATH_PINGPONG_N:-200000}
tr_n=${HOTPATH_THREADRING_N:-1000000}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# irs BINARY BENCH N TOGGLE: the instructions callgrind collected (TOGGLE "" = everything).
irs() {
    out=$tmp/cg.out
    if [ -n "$4" ]; then
        set -- "$1" "$2" "$3" "--toggle-collect=$4"
    else
        set -- "$1" "$2" "$3" ""
    fi
    # shellcheck disable=SC2086 # $4 is one option or none
    if ! valgrind --tool=callgrind --callgrind-out-file="$out" $4 "$1" bench "$2" -n "$3" \
        --workers 1 >"$tmp/stdout" 2>"$tmp/stderr"; then
        echo "hotpath: $1 bench $2 failed:" >&2
        tail -5 "$tmp/stderr" >&2
        return 1
    fi
    sed -n 's/^summary: *//p; s/^totals: *//p' "$out" | head -1
}

printf '%-10s %-12s %15s %15s %9s %12s %12s\n' bench part base new change "base/msg" "new/msg"
status=0
for bench in pingpong threadring; do
    if [ "$bench" = pingpong ]; then n=$pp_n; msgs=$((2 * pp_n)); else n=$tr_n; msgs=$tr_n; fi
    for part in total workers activations; do
        case $part in
        total) fn="" ;;
        workers) fn=worker_main ;;
        activations) fn=tr__actor_run ;;
        esac
        b=$(irs "$base" "$bench" "$n" "$fn") || { status=1; continue; }
        w=$(irs "$new" "$bench" "$n" "$fn") || { status=1; continue; }
        awk -v bench="$bench" -v part="$part" -v b="$b" -v w="$w" -v m="$msgs" 'BEGIN {
            ch = b > 0 ? sprintf("%+.1f%%", 100 * (w - b) / b) : "n/a"
            printf "%-10s %-12s %15.0f %15.0f %9s %12.1f %12.1f\n", bench, part, b, w, ch,
                b / m, w / m
        }'
    done
done
exit $status
