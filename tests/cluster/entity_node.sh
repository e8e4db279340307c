#!/bin/sh
# Entities on a real 3-node loopback cluster (docs/entities.md): three `troupe node`
# processes load troupe-entity.so (registers as entities, type "reg", lease 2 s). A write of
# entity 5 goes through n1; entity 5's shard is first placed on n3 (shard 5 mod 3 nodes), which
# is then killed with SIGKILL; a read through n1 is refused (no owner with a lease) until n3's
# lease has lapsed and the shard has moved, then answered with the value written before the
# kill (the entity's durable state, loaded from the surviving stores). Prints how long the
# move took.
# Also: the module defines no tr_ symbol, and `troupe sim --load troupe-entity.so --workload
# entity` prints the built-in run's trace hash.
# Usage: entity_node.sh TROUPE ENTITY_MODULE
set -u
troupe=$1 module=$2
. "$(dirname "$0")/../node_helpers.sh"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
defined=$(nm -D --defined-only "$module" | awk '$3 ~ /^tr_/ { print $3 }')
[ -z "$defined" ] || fail "$module carries its own copy of: $defined"
for args in "--seed 1 --duration 10s" "--seed 2 --duration 10s --nodes 3 --bug no-fencing"; do
    builtin=$("$troupe" sim --workload entity $args 2>&1 | sed -n 's/^trace-hash: //p')
    loaded=$("$troupe" sim --load "$module" --workload entity $args 2>&1 |
        sed -n 's/^trace-hash: //p')
    [ -n "$builtin" ] && [ "$builtin" = "$loaded" ] ||
        fail "$args: built-in entity trace-hash '$builtin', loaded '$loaded'"
done
printf 'entity-node-test-secret-0123456789' >"$dir/secret"
unset TROUPE_SECRET
common="--secret-file $dir/secret --replicas n1,n2,n3 --heartbeat-ms 100 --builtins echo"

"$troupe" node --name n1 --listen 127.0.0.1:0 --data "$dir/n1" $common --load "$module" \
    2>"$dir/n1.log" &
pids="$pids $!"
p1=$(port n1) || fail "n1 did not start"
for n in n2 n3; do
    "$troupe" node --name $n --listen 127.0.0.1:0 --seeds 127.0.0.1:$p1 --data "$dir/$n" $common \
        --load "$module" 2>"$dir/$n.log" &
    pid=$!
    pids="$pids $pid"
    [ $n = n3 ] && n3=$pid
done
port n2 >/dev/null || fail "n2 did not start"
port n3 >/dev/null || fail "n3 did not start"

# call PORT TYPE BODY WANT TRIES: troupe call reg on that node until it answers WANT.
call() {
    i=0
    while [ $i -lt "$5" ]; do
        out=$("$troupe" call 127.0.0.1:$1 --secret-file "$dir/secret" --timeout 1000 \
            reg "$2" "$3" 2>&1)
        [ "$out" = "$4" ] && return 0
        i=$((i + 1))
        sleep 0.2
    done
    echo "$out"
    return 1
}
# 257 write [id, value], 256 read [id]: the answer [code, value], 0 ok
out=$(call $p1 257 '[5, 42]' '[0,null]' 75) || fail "write through n1: $out"
out=$(call $p1 256 '[5]' '[0,42]' 5) || fail "read through n1: $out"
kill -9 "$n3"
killed=$(now_ms)
out=$(call $p1 256 '[5]' '[0,42]' 75) || fail "read through n1 after n3's kill: $out"
took=$(($(now_ms) - killed))
echo "entity_node.sh: ok (entity 5 served again $took ms after its owner's kill -9)"
