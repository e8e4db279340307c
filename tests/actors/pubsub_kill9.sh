#!/bin/sh
# The durable outbox on two real nodes (troupe node --builtins echo,pubsub): n2 stays up with
# its subscriber; each round starts n1 on its data directory, checks that every event of the
# earlier rounds reached n2's subscriber exactly once (the event of the last round is
# published by the outbox n1 restarts with), then sends "write-exit" [i]: n1 commits
# "state/<i>" and its event and exits with status 137 as soon as the commit is durable, before
# the outbox publishes. Usage: pubsub_kill9.sh TROUPE [ROUNDS [BUG]]: with BUG (a planted
# bug of the pubsub service, given to n1) the run must fail; a planted one must be caught.
set -u
troupe=$1 rounds=${2:-100} bug=${3:-}
. "$(dirname "$0")/../node_helpers.sh"
printf 'pubsub-kill9-test-secret-0123456789' >"$dir/secret"
unset TROUPE_SECRET
common="--secret-file $dir/secret --replicas n1,n2 --builtins echo,pubsub --heartbeat-ms 100 \
--down-ms 1000"

# start NAME [SEEDS]: starts a node on a free port with its own data directory.
start() {
    seeds=${2:+--seeds 127.0.0.1:$2}
    : >"$dir/$1.log"
    bugarg=
    [ "$1" = n1 ] && [ -n "$bug" ] && bugarg="--bug $bug"
    "$troupe" node --name "$1" --listen 127.0.0.1:0 $seeds --data "$dir/$1.data" $common \
        $bugarg 2>"$dir/$1.log" &
    eval "pid_$1=$!"
    pids="$pids $!"
}
# call PORT ACTOR TYPE JSON [TIMEOUT_MS]
call() {
    "$troupe" call 127.0.0.1:$1 "$2" "$3" "$4" --secret-file "$dir/secret" --timeout "${5:-2000}" \
        2>&1
}
# until_tally N: waits (10 s at most) until n2's subscriber is subscribed and has ids 1..N
# exactly once each.
until_tally() {
    i=0
    while [ $i -lt 100 ]; do
        out=$(call "$p2" pubsub-sub tally "[$1]")
        [ "$out" = "[$1,0,0,1]" ] && return 0
        case $out in \[*,*,[1-9]*,*\]) return 1 ;; esac # an event handed over twice: stop
        i=$((i + 1))
        sleep 0.1
    done
    return 1
}

start n2
p2=$(port n2) || fail "n2 did not start"
r=1
while [ $r -le "$rounds" ]; do
    start n1 "$p2"
    p1=$(port n1) || fail "round $r: n1 did not start"
    until_tally $((r - 1)) || fail "round $r: events 1..$((r - 1)) at n2: $out (want [$((r - 1)),0,0,1])"
    [ -n "${PUBSUB_KILL9_TRACE:-}" ] && echo "round $r tallied $(date +%s.%N)"
    out=$(call "$p1" pubsub-pub write-exit "[$r]" 300) # no answer: n1 exits
    wait "$pid_n1"
    st=$?
    [ "$st" = 137 ] || fail "round $r: n1 ended with status $st, not 137 (call: $out)"
    r=$((r + 1))
done
start n1 "$p2"
port n1 >/dev/null || fail "n1 did not restart"
until_tally "$rounds" || fail "after the last restart: $out (want [$rounds,0,0,1])"
echo "pubsub_kill9.sh: ok ($rounds rounds of exit 137 between commit and publish; n2's subscriber got every event exactly once)"
