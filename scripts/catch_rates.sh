#!/bin/sh
# catch_rates.sh — every planted bug of troupe sim's workloads, each over a sweep of seeds
# with its workload's default nemesis (no recipes), as a Markdown table of catch rates: the
# share of seeds whose run was judged violated. Also the correct workloads over the same
# seeds, which must hold in every one.
#
#   sh scripts/catch_rates.sh [SEEDS] [TROUPE]     defaults: 1..100, zig-out/bin/troupe
#
# A bug's sweep exits 1 when any seed is violated; the table counts the seeds.
set -eu
seeds=${1:-1..100}
troupe=${2:-zig-out/bin/troupe}
[ -x "$troupe" ] || { echo "catch_rates.sh: no $troupe (build it first)" >&2; exit 2; }
jobs=$(nproc 2>/dev/null || echo 1)

# The workloads' bugs: the names each workload's --bug accepts (workload:bug, or workload
# alone for the correct run).
pairs="cp cp:stale-read cp:no-write-back ap ap:no-anti-entropy stock stock:oversell
stock:double-charge stock:unsaved-charge lin-kv lin-kv:stale-leader-read lin-kv:early-commit
lock lock:trust-node-down entity entity:no-fencing pubsub pubsub:publish-early
pubsub:volatile-outbox pubsub:no-dedup pubsub:topics-unbounded counter counter:merge-sum counter:no-gossip set
set:remove-drops-context broadcast broadcast:no-retry broadcast:no-dedup shop shop:naive-order
shop:publish-before-commit shop:volatile-idempotency shop:refund-not-idempotent"
echo "| workload | --bug | seeds | violated | unknown | held | rate |"
echo "|---|---|---:|---:|---:|---:|---:|"
for p in $pairs; do
    w=${p%%:*}
    b=${p#*:}
    [ "$b" = "$p" ] && b=
    set -- sim --workload "$w" --seeds "$seeds"
    [ -n "$b" ] && set -- "$@" --bug "$b"
    case "$w" in cp | ap | both | stock) set -- "$@" --jobs "$jobs" ;; esac
    out=$("$troupe" "$@" 2>&1 || true)
    line=$(printf '%s\n' "$out" | grep -E "^seeds [0-9]+\.\.[0-9]+: [0-9]+ runs" | tail -1)
    if [ -z "$line" ]; then
        echo "| $w | ${b:-none} | — | — | — | — | error: $(printf '%s\n' "$out" | tail -1) |"
        continue
    fi
    runs=$(echo "$line" | sed -E 's/.*: ([0-9]+) runs.*/\1/')
    held=$(echo "$line" | sed -E 's/.* ([0-9]+) held.*/\1/')
    bad=$(echo "$line" | sed -E 's/.* ([0-9]+) violated.*/\1/')
    unk=$(echo "$line" | sed -E 's/.* ([0-9]+) unknown.*/\1/')
    echo "| $w | ${b:-none} | $runs | $bad | $unk | $held | $((100 * bad / runs))% |"
done
