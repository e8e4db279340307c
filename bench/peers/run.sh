#!/usr/bin/env bash
# run.sh — the benchmarks of `troupe bench` on the peer runtimes, Erlang/OTP and CAF, so
# that bench/compare.sh can put their figures beside troupe's from one run on one machine.
#
# Usage: bench/peers/run.sh [-n N] [BENCH...]
#   BENCH  pingpong counting threadring skynet spawn_mem remote (default: all)
#   -n N   the size of every benchmark, as `troupe bench -n N` (skynet: a power of ten;
#          remote: N sequential, 25 N pipelined round trips); default: the standard sizes
# Env:  PEERS=erlang|caf|"erlang caf"  which peers run (default both)
#       PEERS_BUILD=DIR                where the programs are built (default
#                                      ${TMPDIR:-/tmp}/troupe-bench-peers); rebuilt when
#                                      their source is newer
# Needs: erl and erlc (Debian: erlang-base erlang-dev) for Erlang; g++ and libcaf-dev
# (CAF 0.17) for CAF. A peer that is not installed is skipped with a notice on stderr.
#
# Prints one line per figure on stdout, as `troupe bench` does:
#   peer=<erlang|caf> bench=<name> value=<number> unit=<unit>
# and `value=error` for a benchmark that failed its own check or did not run.
# Exit: 0 every benchmark ran and passed its checks, 1 one did not, 2 usage error.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${PEERS_BUILD:-${TMPDIR:-/tmp}/troupe-bench-peers}
all="pingpong counting threadring skynet spawn_mem remote"

n=0
if [ "${1:-}" = "-n" ]; then
    case ${2:-} in
        '' | *[!0-9]*) echo "run.sh: -n wants a positive number" >&2; exit 2 ;;
    esac
    n=$2
    shift 2
fi
benches=${*:-$all}
for b in $benches; do
    case " $all " in
        *" $b "*) ;;
        *) echo "run.sh: unknown benchmark '$b' (one of: $all)" >&2; exit 2 ;;
    esac
done

status=0
failed() { # peer bench why
    echo "run.sh: $1 $2: $3" >&2
    echo "peer=$1 bench=$2 value=error unit=-"
    status=1
}

# ---- building ------------------------------------------------------------------------------

build_erlang() {
    command -v erl >/dev/null && command -v erlc >/dev/null || return 1
    mkdir -p "$build/erlang" || return 1
    local beam=$build/erlang/peers.beam
    if [ ! -e "$beam" ] || [ "$here/erlang/peers.erl" -nt "$beam" ]; then
        erlc -o "$build/erlang" "$here/erlang/peers.erl" >&2 || return 1
    fi
}

build_caf() {
    command -v g++ >/dev/null && [ -e /usr/include/caf/all.hpp ] || return 1
    mkdir -p "$build/caf" || return 1
    local bin=$build/caf/peers_caf
    if [ ! -x "$bin" ] || [ "$here/caf/peers.cpp" -nt "$bin" ]; then
        g++ -std=c++17 -O2 -o "$bin" "$here/caf/peers.cpp" -lcaf_io -lcaf_core -lpthread >&2 \
            || return 1
    fi
}

# ---- running -------------------------------------------------------------------------------

# Erlang: one VM per benchmark. remote runs two distributed nodes on 127.0.0.1 (epmd is
# started by the first), each with 2 schedulers.
run_erlang() { # bench
    local erl=(erl -noshell +P 2000000 -pa "$build/erlang")
    if [ "$1" != remote ]; then
        "${erl[@]}" -run peers main "$1" "$n" || failed erlang "$1" "exit status $?"
        return
    fi
    local cookie=troupe_peers_$$ echo_node=troupe_peers_echo_$$@127.0.0.1
    "${erl[@]}" +S 2 -name "$echo_node" -setcookie "$cookie" &
    local echo_pid=$!
    "${erl[@]}" +S 2 -name "troupe_peers_ping_$$@127.0.0.1" -setcookie "$cookie" \
        -run peers main remote "$n" "$echo_node" || failed erlang remote "exit status $?"
    # The benchmark halts the echo node when it is done; this is for a run that failed.
    kill "$echo_pid" 2>/dev/null
    wait "$echo_pid" 2>/dev/null
}

# CAF: one process per benchmark; remote publishes an echo actor in a second process
# (CAF's io middleman, BASP over TCP), each process with 2 worker threads.
run_caf() { # bench
    local bin=$build/caf/peers_caf
    if [ "$1" != remote ]; then
        "$bin" "$1" "$n" || failed caf "$1" "exit status $?"
        return
    fi
    local port_file
    port_file=$(mktemp) && rm -f "$port_file" || { failed caf remote "mktemp"; return; }
    "$bin" remote-echo "$port_file" &
    local echo_pid=$! tries=0
    while [ ! -s "$port_file" ] && [ $tries -lt 200 ] && kill -0 "$echo_pid" 2>/dev/null; do
        sleep 0.05
        tries=$((tries + 1))
    done
    if [ -s "$port_file" ]; then
        "$bin" remote "$(cat "$port_file")" "$n" || failed caf remote "exit status $?"
    else
        failed caf remote "the echo process published no port"
    fi
    kill "$echo_pid" 2>/dev/null
    wait "$echo_pid" 2>/dev/null
    rm -f "$port_file"
}

for peer in ${PEERS:-erlang caf}; do
    case $peer in
        erlang | caf) ;;
        *) echo "run.sh: unknown peer '$peer' (erlang, caf)" >&2; exit 2 ;;
    esac
    if ! "build_$peer"; then
        echo "run.sh: notice: $peer is not installed or does not build; skipped" >&2
        continue
    fi
    for b in $benches; do
        "run_$peer" "$b"
    done
done
exit $status
