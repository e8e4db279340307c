#!/usr/bin/env bash
# compare.sh — troupe against its peers (Erlang/OTP, CAF), in the same run, on this machine.
# Builds nothing of troupe: run `python3 -m ziglang build -Doptimize=ReleaseFast` first (the
# peers' runner builds its own programs).
#
# Usage: bench/compare.sh [--runner PATH | PATH] [BENCH...]
#   PATH   the peers' runner (default: bench/peers/run.sh, or $PEERS_RUNNER); any program
#          that takes benchmark names and prints `peer=... bench=... value=... unit=...`
#          lines will do. Skipped with a notice when absent, or when neither erl nor CAF is
#          installed.
#   BENCH  default: pingpong counting threadring skynet spawn_mem
# Env:  RUNS=3         run everything 3 times and print medians (default 1)
#       TROUPE=path    the troupe binary (default zig-out/bin/troupe)
#       TROUPE_ARGS    extra `troupe bench` options, e.g. "--workers 2"
#       PEERS_ARGS     extra options for the runner before the names, e.g. "-n 100000"
#       PEERS          restrict the peers ("erlang", "caf")
#       CONTEND=N      N CPU-bound busy processes run for the whole comparison, beside troupe
#                      and the peers alike (same priority, no pinning)
#       CPU_LIMIT=C    troupe and the peers run in a cgroup limited to C CPUs (CFS quota, as
#                      a Kubernetes CPU limit sets it; cgroup v1 "cpu" or v2); needs root
# Prints the raw lines on stderr as they come, then a table on stdout:
#   bench | unit | troupe | erlang | caf | ratio | beats best peer
# ratio > 1 means troupe wins: troupe/best peer for rates; for ms, us and bytes/actor (lower
# is better) best peer/troupe. Exit: 0 table printed, 2 usage or tool error.
set -u -o pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runner=${PEERS_RUNNER:-$root/bench/peers/run.sh}
if [ "${1:-}" = "--runner" ]; then
    [ $# -ge 2 ] || { echo "compare.sh: --runner wants a path" >&2; exit 2; }
    runner=$2
    shift 2
elif [ $# -gt 0 ] && [ -f "$1" ]; then
    runner=$1
    shift
fi
benches=${*:-pingpong counting threadring skynet spawn_mem}
troupe=${TROUPE:-$root/zig-out/bin/troupe}
runs=${RUNS:-1}
read -r -a troupe_args <<< "${TROUPE_ARGS:-}"
read -r -a peers_args <<< "${PEERS_ARGS:-}"

case $runs in ''|*[!0-9]*|0) echo "compare.sh: RUNS must be a positive number" >&2; exit 2 ;; esac
if [ ! -x "$troupe" ]; then
    echo "compare.sh: $troupe not found; build it: python3 -m ziglang build -Doptimize=ReleaseFast" >&2
    exit 2
fi

# Which peers can run here.
peers=""
if [ -z "$runner" ] || [ ! -x "$runner" ]; then
    echo "compare.sh: notice: no peers runner ('${runner}'); troupe only" >&2
else
    want=${PEERS:-erlang caf}
    case " $want " in *" erlang "*)
        if command -v erl >/dev/null && command -v erlc >/dev/null; then peers="erlang"
        else echo "compare.sh: notice: erl not installed; Erlang skipped" >&2; fi ;;
    esac
    case " $want " in *" caf "*)
        if command -v g++ >/dev/null && [ -e /usr/include/caf/all.hpp ]; then peers="$peers caf"
        else echo "compare.sh: notice: CAF (libcaf-dev, g++) not installed; CAF skipped" >&2; fi ;;
    esac
    [ -z "$peers" ] && echo "compare.sh: notice: no peer installed; troupe only" >&2
fi
# The peers know only these benchmark names.
peer_benches=""
for b in $benches; do
    case " pingpong counting threadring skynet spawn_mem remote " in
        *" $b "*) peer_benches="$peer_benches $b" ;;
    esac
done

out=$(mktemp) || exit 2
burners=()
cgroup=
cleanup() {
    for p in "${burners[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$cgroup" ]; then
        # everything still inside (this script, a daemon a peer started: epmd) moves out
        for p in $(cat "$cgroup/cgroup.procs" 2>/dev/null); do
            echo "$p" > "$(dirname "$cgroup")/cgroup.procs" 2>/dev/null
        done
        rmdir "$cgroup" 2>/dev/null || echo "compare.sh: notice: could not remove $cgroup" >&2
    fi
    rm -f "$out"
}
trap cleanup EXIT
contend=${CONTEND:-0}
case $contend in ''|*[!0-9]*) echo "compare.sh: CONTEND must be a number" >&2; exit 2 ;; esac
for ((i = 0; i < contend; i++)); do
    ( while :; do :; done ) &
    burners+=($!)
done
[ "$contend" -gt 0 ] && echo "# contention: $contend busy processes" >&2
if [ -n "${CPU_LIMIT:-}" ]; then
    case $CPU_LIMIT in ''|*[!0-9]*|0) echo "compare.sh: CPU_LIMIT must be a whole number of CPUs" >&2; exit 2 ;; esac
    # The busy processes above stay outside: only this script and what it starts move in.
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        cgroup=/sys/fs/cgroup/troupe-compare-$$
        mkdir "$cgroup" && echo "$((CPU_LIMIT * 100000)) 100000" > "$cgroup/cpu.max"
    else
        cgroup=/sys/fs/cgroup/cpu/troupe-compare-$$
        mkdir "$cgroup" && echo 100000 > "$cgroup/cpu.cfs_period_us" &&
            echo "$((CPU_LIMIT * 100000))" > "$cgroup/cpu.cfs_quota_us"
    fi || { echo "compare.sh: cannot create a cgroup with a CPU limit (root, cgroup cpu controller)" >&2; cgroup=; exit 2; }
    echo $$ > "$cgroup/cgroup.procs" || { echo "compare.sh: cannot enter $cgroup" >&2; exit 2; }
    echo "# cpu limit: $CPU_LIMIT CPU ($cgroup)" >&2
fi
echo "# load before: $(uptime)" >&2
for ((r = 1; r <= runs; r++)); do
    echo "# run $r of $runs" >&2
    # shellcheck disable=SC2086
    "$troupe" bench $benches "${troupe_args[@]}" | tee -a "$out" >&2 \
        || echo "compare.sh: notice: troupe bench exited non-zero (run $r)" >&2
    if [ -n "$peers" ] && [ -n "$peer_benches" ]; then
        # shellcheck disable=SC2086
        PEERS="${peers# }" "$runner" "${peers_args[@]}" $peer_benches 2>&1 | tee -a "$out" >&2
    fi
done
echo "# load after: $(uptime)" >&2

awk -v runs="$runs" '
function median(key,    n, i, j, t, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmt(key, u) {
    if (!(key in cnt)) return (key in err) ? "error" : "-"
    return sprintf(u == "ms" ? "%.1f" : "%.0f", median(key))
}
/^peer=/ {
    peer = ""; bench = ""; v = ""; u = ""
    for (i = 1; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "peer") peer = kv[2]; else if (kv[1] == "bench") bench = kv[2]
        else if (kv[1] == "value") v = kv[2]; else if (kv[1] == "unit") u = kv[2]
    }
    if (peer == "" || bench == "") next
    if (!(bench in seen)) { seen[bench] = 1; order[++nb] = bench }
    key = peer SUBSEP bench
    if (v !~ /^-?[0-9.]+$/) { err[key] = 1; next }
    unit[bench] = u
    val[key, ++cnt[key]] = v + 0
}
END {
    printf "%-22s %-13s %14s %14s %14s %7s  %s\n", "bench", "unit", "troupe", "erlang", "caf", "ratio", "beats best peer"
    for (k = 1; k <= nb; k++) {
        b = order[k]; u = unit[b]
        lower = (u == "ms" || u == "us" || u == "bytes/actor")
        best = ""
        for (p = 1; p <= 2; p++) {
            key = (p == 1 ? "erlang" : "caf") SUBSEP b
            if (!(key in cnt)) continue
            m = median(key)
            if (best == "" || (lower ? m < best : m > best)) best = m
        }
        tk = "troupe" SUBSEP b
        ratio = "-"; beats = "-"
        if (best != "" && (tk in cnt)) {
            t = median(tk)
            if (lower) r = (t > 0) ? best / t : 0; else r = (best > 0) ? t / best : 0
            ratio = sprintf("%.2f", r); beats = (r > 1) ? "yes" : "NO"
        } else if (best != "" && (tk in err)) {
            beats = "NO (troupe failed)"
        }
        printf "%-22s %-13s %14s %14s %14s %7s  %s\n", b, u, fmt(tk, u), fmt("erlang" SUBSEP b, u), fmt("caf" SUBSEP b, u), ratio, beats
    }
    printf "(medians of %d run%s; ratio > 1: troupe wins)\n", runs, (runs > 1 ? "s" : "")
}' "$out"
