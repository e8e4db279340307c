# node_helpers.sh — sourced by the shell tests that start real `troupe node` processes on
# loopback. Sets dir (a fresh temporary directory, removed at exit) and pids (the processes the
# test started, add to it: killed at exit); a node NAME logs to $dir/NAME.log.
dir=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
# fail MESSAGE: prints it after the script's name, then the last lines of every node's log, and
# exits 1.
fail() {
    echo "$(basename "$0"): $*"
    for log in "$dir"/*.log; do [ -f "$log" ] && tail -5 "$log"; done
    exit 1
}
# port NAME: waits (10 s at most) for NAME's node_ready line and prints its port.
port() {
    i=0
    while [ $i -lt 200 ]; do
        p=$(sed -n 's/.*event=node_ready .*port=\([0-9]*\).*/\1/p' "$dir/$1.log" 2>/dev/null)
        [ -n "$p" ] && { echo "$p"; return 0; }
        i=$((i + 1))
        sleep 0.05
    done
    return 1
}
