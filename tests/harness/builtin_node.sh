#!/bin/sh
# The built-in services as loadable modules (zig-out/lib/troupe-cp.so, troupe-ap.so,
# troupe-stock.so): no module defines a tr_ symbol. On a 3-node loopback cluster n1 hosts the
# built-in cp (and stock), n2 and n3 start without it (--builtins) and load troupe-cp.so
# instead; a write through n2's loaded cp is read through n1's built-in cp and n3's loaded
# one, by request name (`troupe call H:P cp write`; `read` is stock's own when sent to
# "stock", the registers' through "proxy"). A module that takes a hosted built-in's name, and
# a bad --builtins list, are one-line errors, exit 2. `troupe sim --load troupe-cp.so
# --workload cp` holds, catches the planted stale-read bug, and prints the trace hash of the
# built-in `troupe sim --workload cp` for the same flags (one experiment, however the service
# got into the binary); the same for ap, whose module catches the no-anti-entropy bug.
# Stock's items are entities hosted on every node (each with --data): a reservation of item 2
# (first placed on n3, shard 2 of 3 nodes) goes through n1; n3 is killed with SIGKILL; the
# retry of that reservation id through n1 is answered, once n3's lease has lapsed and the item
# has moved, with the original answer (the ledger moved with the item), and the level shows
# one charge.
# Usage: builtin_node.sh TROUPE CP_MODULE AP_MODULE STOCK_MODULE
set -u
troupe=$1 module=$2 ap_module=$3
. "$(dirname "$0")/../node_helpers.sh"
for m in "$2" "$3" "$4"; do
    defined=$(nm -D --defined-only "$m" | awk '$3 ~ /^tr_/ { print $3 }')
    [ -z "$defined" ] || fail "$m carries its own copy of: $defined"
    nm -D --defined-only "$m" | grep -qw troupe_service_v1 || fail "$m: no troupe_service_v1"
done
printf 'builtin-node-test-secret-0123456789' >"$dir/secret"
export TROUPE_SECRET=
unset TROUPE_SECRET
common="--secret-file $dir/secret --replicas n1,n2,n3 --heartbeat-ms 100"


"$troupe" node --name n1 --listen 127.0.0.1:0 --data "$dir/n1" $common \
    --builtins echo,proxy,kv,cp,ap,stock 2>"$dir/n1.log" &
pids="$pids $!"
p1=$(port n1) || fail "n1 did not start"
for n in n2 n3; do
    "$troupe" node --name $n --listen 127.0.0.1:0 --seeds 127.0.0.1:$p1 --data "$dir/$n" \
        $common --builtins echo,proxy,kv,ap,stock --load "$module" 2>"$dir/$n.log" &
    pids="$pids $!"
    [ $n = n3 ] && n3=$!
done
p2=$(port n2) || fail "n2 did not start"
p3=$(port n3) || fail "n3 did not start"
grep -q "event=service_ready service=cp" "$dir/n2.log" || fail "n2 did not load cp"

# call PORT ARGS...: troupe call on that node, retried while the cluster forms.
call() {
    cp=$1
    shift
    i=0
    while [ $i -lt 50 ]; do
        out=$("$troupe" call 127.0.0.1:$cp --secret-file "$dir/secret" --timeout 2000 "$@" 2>&1)
        case $out in *'"ok":true'*) echo "$out"; return 0 ;; esac
        i=$((i + 1))
        sleep 0.2
    done
    echo "$out"
    return 1
}
out=$(call $p2 cp write '{"key": 7, "value": 42}') || fail "write through n2's loaded cp: $out"
out=$(call $p1 cp read '{"key": 7}') || fail "read through n1's built-in cp: $out"
[ "$out" = '{"ok":true,"value":42}' ] || fail "n1 read $out"
out=$(call $p3 cp read '{"key": 7}') || fail "read through n3's loaded cp: $out"
[ "$out" = '{"ok":true,"value":42}' ] || fail "n3 read $out"
# read is stock's own (1026) when sent to stock, the registers' through proxy
out=$(call $p1 stock read '{"item": 0}') || fail "stock read on n1: $out"
[ "$out" = '{"level":10,"ok":true}' ] || fail "stock read $out"
out=$(call $p1 proxy read '["cp@n3", {"key": 7}]') || fail "read through proxy: $out"
[ "$out" = '{"ok":true,"value":42}' ] || fail "proxy read $out"
# an item stays available, with its level and its ledger, when its node dies
reserve='{"item": 2, "qty": 3, "id": 4294967297}'
out=$(call $p1 stock reserve "$reserve") || fail "stock reserve on n1: $out"
[ "$out" = '{"level":7,"ok":true}' ] || fail "stock reserve $out"
kill -9 "$n3"
out=$(call $p1 stock reserve "$reserve") || fail "stock retry after n3's kill: $out"
[ "$out" = '{"level":7,"ok":true}' ] || fail "stock retry after the move $out"
out=$(call $p2 stock read '{"item": 2}') || fail "stock read on n2: $out"
[ "$out" = '{"level":7,"ok":true}' ] || fail "stock read after the move $out"

for args in "--load $module" "--builtins echo,nope" "--builtins cp,cp"; do
    out=$("$troupe" node --name n9 --listen 127.0.0.1:0 --secret-file "$dir/secret" $args 2>&1)
    [ $? -eq 2 ] || fail "$args: not exit 2: $out"
    [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "$args: not one line: $out"
done
out=$("$troupe" sim --load "$module" --workload cp --seeds 1..2 --duration 10s 2>&1)
[ $? -eq 0 ] || fail "troupe sim --load cp did not hold: $out"
out=$("$troupe" sim --load "$module" --workload cp --seeds 1..2 --duration 10s --bug stale-read 2>&1)
[ $? -eq 1 ] || fail "troupe sim --load cp missed the planted stale read: $out"
for w in "cp $module" "ap $ap_module"; do
    set -- $w
    for args in "--seed 1 --duration 10s" "--seed 2 --duration 10s --nemesis partition,crash"; do
        builtin=$("$troupe" sim --workload $1 $args 2>&1 | sed -n 's/^trace-hash: //p')
        loaded=$("$troupe" sim --load "$2" --workload $1 $args 2>&1 | sed -n 's/^trace-hash: //p')
        [ -n "$builtin" ] && [ "$builtin" = "$loaded" ] ||
            fail "$args: built-in $1 trace-hash '$builtin', loaded '$loaded'"
    done
done
out=$("$troupe" sim --load "$ap_module" --workload ap --duration 5s --bug no-anti-entropy 2>&1)
[ $? -eq 1 ] || fail "troupe sim --load ap missed the planted no-anti-entropy: $out"
echo "builtin_node.sh: ok"
